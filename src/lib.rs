//! `websocket-extensions-rs`: the napi-rs binding of a drop-in replacement
//! for the npm package `websocket-extensions`.
//!
//! The protocol and every rule live in the `websocket-extensions-core`
//! crate (`core/`), which knows nothing of Node and is tested by `cargo
//! test`: the container's state (`container.rs`), a thread's deflate
//! sessions (`deflate/sessions.rs`), the numbers that cross (`wire.rs`).
//! This crate converts values and holds each JavaScript thread's state
//! (`state.rs`). See `docs/ARCHITECTURE.md`.

pub mod deflate_binding;
mod state;

// Codec state is a few hundred KiB per connection. Allocated from Node's
// malloc heap, between Node's own small blocks, glibc cannot give it back
// after a burst of connections closes. jemalloc keeps it in arenas of its
// own, and its background thread returns freed pages to the system within
// about 100 ms (the burst figures of bench/results.md show what is kept).
// Per target (Cargo.toml picks the crate's features to match): Linux with
// glibc has the background thread; musl and macOS have jemalloc without it
// (tikv-jemalloc-sys has none on musl; jemalloc builds none for Mach-O), so
// freed pages go back as the allocator is next used; Windows (jemalloc does
// not build with MSVC) and wasm (no jemalloc at all) use the system allocator.
#[cfg(not(any(target_os = "windows", target_family = "wasm")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// jemalloc's options, read at start-up; the form tikv-jemallocator documents.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8] = b"background_thread:true,dirty_decay_ms:100,muzzy_decay_ms:0\0";
#[cfg(not(any(
    all(target_os = "linux", target_env = "gnu"),
    target_os = "windows",
    target_family = "wasm"
)))]
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8] = b"dirty_decay_ms:100,muzzy_decay_ms:0\0";

use napi::bindgen_prelude::*;
use napi_derive::napi;
use websocket_extensions_core::container::{Container, Negotiation};
use websocket_extensions_core::parser;
use websocket_extensions_core::pipeline::Direction;
use websocket_extensions_core::wire;

/// Registers the environment cleanup hook that frees this thread's state
/// (src/state.rs) as the addon is loaded.
#[napi(module_exports)]
pub fn init(_exports: Object, env: Env) -> Result<()> {
    state::watch(&env)
}

/// The numbers that cross between lib/ and the binding (failure codes,
/// directions, the packing of actions, codec results), by name, from
/// core/src/wire.rs: lib/wire.js reads them once.
#[napi(
    catch_unwind,
    js_name = "wireConstants",
    ts_return_type = "Record<string, number>"
)]
pub fn wire_constants(env: &Env) -> Result<Object<'_>> {
    let mut constants = Object::new(env)?;
    for &(name, value) in wire::CONSTANTS {
        constants.set(name, value)?;
    }
    Ok(constants)
}

/// Parses a header into JSON (`[{"name", "params"}]`) for `JSON.parse`, or
/// ERROR_INVALID_HEADER.
#[napi(catch_unwind, js_name = "parseHeaderJson")]
pub fn parse_header_json(header: String) -> Either<String, i32> {
    match parser::parse_header(&header) {
        Ok(offers) => Either::A(parser::offers_to_json(&offers)),
        Err(_) => Either::B(wire::ERROR_INVALID_HEADER),
    }
}

/// Whether a header matches the grammar, for a container with nothing to
/// negotiate: no offers are built.
#[napi(catch_unwind, js_name = "isValidHeader")]
pub fn is_valid_header(header: String) -> bool {
    parser::parse_header(&header).is_ok()
}

/// `serializeParams` once JavaScript has walked the params object: `flags`
/// says per key whether it is `true` (its value is then ignored); other
/// values are texts, quoted when `quoted`.
#[napi(catch_unwind, js_name = "serializeParams")]
pub fn serialize_params(
    name: String,
    keys: Vec<String>,
    values: Vec<Either<bool, String>>,
    quoted: Vec<bool>,
) -> String {
    let values: Vec<parser::SerialValue> = values
        .into_iter()
        .zip(quoted)
        .map(|(v, quoted)| match v {
            Either::A(_) => parser::SerialValue::Flag,
            Either::B(text) if quoted => parser::SerialValue::Text(text),
            Either::B(text) => parser::SerialValue::Raw(text),
        })
        .collect();
    parser::serialize_params(&name, keys.iter().map(String::as_str).zip(values.iter()))
}

fn direction(dir: u32) -> Result<Direction> {
    Direction::from_index(dir).ok_or_else(|| Error::from_reason("not a direction"))
}

/// Runs `f` on container `id`.
fn with_container<T>(id: u32, f: impl FnOnce(&mut Container) -> T) -> Result<T> {
    state::with(|s| match s.containers.get_mut(id) {
        Some(container) => Ok(f(container)),
        None => Err(Error::from_reason("no such container")),
    })
}

fn insert(container: Container) -> Result<u32> {
    state::with(|s| Ok(s.containers.insert(container)))
}

/// Makes a container with its first extension registered (`name`, RSV bits
/// with bit 0 for RSV1) and returns its number.
#[napi(catch_unwind, js_name = "containerNewWith")]
pub fn container_new_with(name: String, rsv: u32) -> Result<u32> {
    insert(Container::with_first(name, rsv))
}

/// Frees a container: it closed, or its JavaScript object was collected.
#[napi(catch_unwind, js_name = "containerFree")]
pub fn container_free(id: u32) -> Result<()> {
    // Taken out, then dropped with the state no longer borrowed.
    let container = state::with(|s| Ok(s.containers.take(id)))?;
    drop(container);
    Ok(())
}

/// Registers an extension whose fields JavaScript has checked. Returns its
/// index, or ERROR_NAME_TAKEN.
#[napi(catch_unwind, js_name = "containerAdd")]
pub fn container_add(id: u32, name: String, rsv: u32) -> Result<i32> {
    with_container(id, |c| match c.add(name, rsv) {
        Ok(index) => i32::try_from(index).unwrap_or(i32::MAX),
        Err(_) => wire::ERROR_NAME_TAKEN,
    })
}

/// The client's offers grouped by registered extension, as JSON
/// `[[index, [params, ...]], ...]`, or ERROR_INVALID_HEADER.
#[napi(catch_unwind, js_name = "containerPlanResponse")]
pub fn container_plan_response(id: u32, header: String) -> Result<Either<String, i32>> {
    with_container(id, |c| match c.plan_response(&header) {
        Ok(plan) => Either::A(plan),
        Err(_) => Either::B(wire::ERROR_INVALID_HEADER),
    })
}

/// The registered index of the extension with this name, or -1.
#[napi(catch_unwind, js_name = "containerIndexOf")]
pub fn container_index_of(id: u32, name: String) -> Result<i32> {
    with_container(id, |c| {
        c.index_of(&name)
            .map_or(-1, |i| i32::try_from(i).unwrap_or(-1))
    })
}

/// The RSV conflict of extension `index` (see RSV_CONFLICT_HOLDER_SHIFT),
/// or 0.
#[napi(catch_unwind, js_name = "containerConflict")]
pub fn container_conflict(id: u32, index: u32) -> Result<u32> {
    with_container(id, |c| c.conflict(index as usize))
}

/// Takes the extension's RSV bits if free and returns 0; otherwise the
/// conflict.
#[napi(catch_unwind, js_name = "containerReserve")]
pub fn container_reserve(id: u32, index: u32) -> Result<u32> {
    with_container(id, |c| c.reserve(index as usize))
}

/// Gives back the bits `containerReserve` just took.
#[napi(catch_unwind, js_name = "containerUnreserve")]
pub fn container_unreserve(id: u32, index: u32) -> Result<()> {
    with_container(id, |c| c.unreserve(index as usize))
}

/// Keeps the configuration of this package's deflate extension `ext` for
/// the one-call handshake; returns its number (freed by
/// `containerConfigFree` when the extension object is collected).
#[napi(catch_unwind, js_name = "containerConfigNew")]
pub fn container_config_new(ext: &deflate_binding::DeflateExtension) -> Result<u32> {
    let config = deflate_binding::config_of(ext);
    state::with(|s| Ok(s.configs.insert(config)))
}

/// Frees a configuration whose extension object was collected.
#[napi(catch_unwind, js_name = "containerConfigFree")]
pub fn container_config_free(config: u32) -> Result<()> {
    state::with(|s| {
        s.configs.remove(config);
        Ok(())
    })
}

fn config_error() -> Error {
    Error::from_reason("no such permessage-deflate configuration")
}

/// The first negotiation of a server whose only extension (`name`, `rsv`)
/// is this package's deflate, in one call that makes no state (see
/// `Container::respond_deflate`): on success sets `accepted[0]` to the
/// accepted parameters packed in one number, for `containerNewAccepted`,
/// and returns the response; otherwise ERROR_INVALID_HEADER or
/// NEGOTIATED_NOTHING.
#[napi(catch_unwind, js_name = "containerRespondDeflate")]
pub fn container_respond_deflate(
    name: String,
    rsv: u32,
    mut accepted: Array,
    header: String,
    config: u32,
) -> Result<Either<i32, String>> {
    let answer = state::with(|s| {
        let config = s.configs.get(config).ok_or_else(config_error)?;
        Ok(Container::respond_deflate(name, rsv, &header, config))
    })?;
    match answer {
        Negotiation::Accepted(packed, line) => {
            accepted.set(0, packed)?;
            Ok(Either::B(line))
        }
        other => Ok(Either::A(
            other.code().unwrap_or(wire::ERROR_INVALID_HEADER),
        )),
    }
}

/// The state `containerRespondDeflate` deferred, from the parameters
/// it packed. Returns the container's number.
#[napi(catch_unwind, js_name = "containerNewAccepted")]
pub fn container_new_accepted(
    name: String,
    rsv: u32,
    accepted: u32,
    config: u32,
    max_length: Option<f64>,
) -> Result<u32> {
    let max_len = deflate_binding::max_len(max_length);
    state::with(|s| {
        let config = s.configs.get(config).ok_or_else(config_error)?;
        let container = Container::accepted(name, rsv, accepted, config, max_len)
            .ok_or_else(|| Error::from_reason("not a packed set of accepted parameters"))?;
        Ok(s.containers.insert(container))
    })
}

/// Moves the session a one-call handshake holds into the session table,
/// for its first message; returns its number.
#[napi(catch_unwind, js_name = "containerTakeSession")]
pub fn container_take_session(id: u32) -> Result<u32> {
    state::with(|s| {
        let session = s
            .containers
            .get_mut(id)
            .and_then(Container::take_session)
            .ok_or_else(|| Error::from_reason("permessage-deflate session is not active"))?;
        Ok(s.sessions.insert(session))
    })
}

/// Sets up the pipeline with the given extensions in pipeline order and
/// returns the RSV bits message frames may carry (bit 0 for RSV1).
#[napi(catch_unwind, js_name = "containerSetPipeline")]
pub fn container_set_pipeline(id: u32, active: Vec<u32>) -> Result<u32> {
    let active: Vec<usize> = active.into_iter().map(|i| i as usize).collect();
    with_container(id, |c| c.set_pipeline(&active))
}

/// A message enters the pipeline: SUBMIT_REFUSED when the direction is
/// stopped, otherwise the first action when `take`, else the status (see
/// core/src/wire.rs: every answer below is an action, or the status alone).
#[napi(catch_unwind, js_name = "containerSubmit")]
pub fn container_submit(id: u32, dir: u32, slot: u32, take: bool) -> Result<f64> {
    let dir = direction(dir)?;
    with_container(id, |c| c.submit(dir, slot, take))
}

/// Takes over a message that JavaScript passed through the cells before
/// `cell` while the direction was idle; returns the status. A message the
/// core cannot take is dropped by a DROP action, which the caller's next
/// call takes.
#[napi(catch_unwind, js_name = "containerAdopt")]
pub fn container_adopt(id: u32, dir: u32, slot: u32, cell: u32) -> Result<f64> {
    let dir = direction(dir)?;
    with_container(id, |c| {
        c.adopt(dir, slot, cell as usize);
        wire::none(c.status())
    })
}

/// The answer to a close of a pipeline with no native state (never made,
/// or closed and freed): the closed action with `ticket`.
#[napi(catch_unwind, js_name = "containerCloseWithoutState")]
pub fn container_close_without_state(ticket: u32) -> f64 {
    Container::close_without_state(ticket)
}

/// A session called back. Returns the next action when `take`.
#[napi(catch_unwind, js_name = "containerComplete")]
pub fn container_complete(
    id: u32,
    cell: u32,
    dir: u32,
    slot: u32,
    error: bool,
    take: bool,
) -> Result<f64> {
    let dir = direction(dir)?;
    with_container(id, |c| c.complete(cell as usize, dir, slot, error, take))
}

/// The next action, or the status when there is none.
#[napi(catch_unwind, js_name = "containerNext")]
pub fn container_next(id: u32) -> Result<f64> {
    with_container(id, Container::next_action)
}

/// Stops both directions and asks every session to close once drained; the
/// closed action will carry `ticket`. The first action when `take`.
#[napi(catch_unwind, js_name = "containerClose")]
pub fn container_close(id: u32, ticket: u32, take: bool) -> Result<f64> {
    with_container(id, |c| c.close(ticket, take))
}
