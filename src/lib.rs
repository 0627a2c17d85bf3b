//! `websocket-extensions-rs`: the napi-rs binding of a drop-in replacement
//! for the npm package `websocket-extensions`.
//!
//! The protocol lives in the `websocket-extensions-core` crate (`core/`),
//! which knows nothing of Node and is tested by `cargo test`. This crate
//! converts values, keeps each JavaScript thread's native state in tables
//! named by number, packs the pipeline's actions, and negotiates a deflate-only
//! server handshake in one call. See `docs/ARCHITECTURE.md`.

pub mod deflate_binding;
mod table;

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
use std::cell::RefCell;
use table::Table;
use websocket_extensions_core::deflate::session::Session;
use websocket_extensions_core::deflate::{server_choose, Accepted, DeflateConfig};
use websocket_extensions_core::parser;
use websocket_extensions_core::pipeline::{Action, Direction, Pipeline};
use websocket_extensions_core::registry::{
    response_plan_json, ExtensionInfo, Registry, RsvConflict,
};

// Failures cross as numbers. A native function that can fail in a way the
// contract words (docs/SPEC.md) returns its result or a failure code, never a
// thrown native error, a text or a null; lib/errors.js turns every code into
// the original's Error, class and text, in one table. The codes are exported
// and read once there. The per-message codec does the same with its CODEC_*
// codes (src/deflate_binding.rs). A native function throws only for a broken
// invariant (an unknown number, a panic caught at the boundary).

/// Failure: the header does not match the grammar (SyntaxError).
#[napi]
pub const ERROR_INVALID_HEADER: i32 = -1;
/// Failure: an extension with this name is registered already (TypeError).
#[napi]
pub const ERROR_NAME_TAKEN: i32 = -2;
/// An RSV conflict crosses as `bit | holder << 2` (bit 1 to 3, the holder's
/// registration index); 0 is no conflict. lib/errors.js words it.
#[napi]
pub const RSV_CONFLICT_HOLDER_SHIFT: u32 = 2;

fn conflict_code(conflict: Option<RsvConflict>) -> u32 {
    conflict.map_or(0, |c| {
        u32::from(c.bit) | (c.holder as u32) << RSV_CONFLICT_HOLDER_SHIFT
    })
}

/// Parses a header into JSON (`[{"name", "params"}]`) for `JSON.parse`, or
/// ERROR_INVALID_HEADER.
#[napi(catch_unwind, js_name = "parseHeaderJson")]
pub fn parse_header_json(header: String) -> Either<String, i32> {
    match parser::parse_header(&header) {
        Ok(offers) => Either::A(parser::offers_to_json(&offers)),
        Err(_) => Either::B(ERROR_INVALID_HEADER),
    }
}

/// Whether a header matches the grammar, for a container with nothing to
/// negotiate: no offers are built.
#[napi(catch_unwind, js_name = "isValidHeader")]
pub fn is_valid_header(header: String) -> bool {
    parser::parse_header(&header).is_ok()
}

/// `serializeParams` once JavaScript has walked the params object: `values`
/// holds, per key, `T` for `true`, `S` + text for a string and `R` + text for
/// anything printed as is.
#[napi(catch_unwind, js_name = "serializeParams")]
pub fn serialize_params(name: String, keys: Vec<String>, values: Vec<String>) -> String {
    let values: Vec<parser::SerialValue> = values
        .into_iter()
        .map(|v| {
            let text = v.get(1..).unwrap_or_default().to_owned();
            match v.as_bytes().first() {
                Some(b'T') => parser::SerialValue::Flag,
                Some(b'S') => parser::SerialValue::Text(text),
                _ => parser::SerialValue::Raw(text),
            }
        })
        .collect();
    parser::serialize_params(&name, keys.iter().map(String::as_str).zip(values.iter()))
}

// Actions cross to JavaScript packed in one double, so that taking one costs
// a single call with no object made: bits 0-2 kind, bit 3 direction, bit 4
// "more actions are queued", bits 5-20 cell, and the slot (or close ticket)
// from bit 21 up. These constants are exported; lib/pipeline/ reads them once
// at load.

/// Action kind: call a session's process method.
#[napi]
pub const ACTION_CALL: u32 = 1;
/// Action kind: prefix a failed message's error with the session's name.
#[napi]
pub const ACTION_PREFIX: u32 = 2;
/// Action kind: hand a message to the caller's callback.
#[napi]
pub const ACTION_DELIVER: u32 = 3;
/// Action kind: hand an error to the caller's callback.
#[napi]
pub const ACTION_DELIVER_ERROR: u32 = 4;
/// Action kind: forget a message (its direction stopped).
#[napi]
pub const ACTION_DROP: u32 = 5;
/// Action kind: close a session.
#[napi]
pub const ACTION_CLOSE_SESSION: u32 = 6;
/// Action kind: call a close callback.
#[napi]
pub const ACTION_CLOSED: u32 = 7;
/// Mask of the kind bits.
#[napi]
pub const ACTION_KIND_MASK: u32 = 7;
/// Shift of the direction bit.
#[napi]
pub const ACTION_DIR_SHIFT: u32 = 3;
/// Flag: more actions are queued.
#[napi]
pub const ACTION_MORE: u32 = 16;
/// Shift of the cell's 16 bits.
#[napi]
pub const ACTION_CELL_SHIFT: u32 = 5;
/// The slot is the packed value divided by this (2^21).
#[napi]
pub const ACTION_SLOT_UNIT: u32 = 2_097_152;
/// Returned by containerSubmit when the direction is stopped.
const REFUSED: f64 = -1.0;

fn pack(action: Action, more: bool) -> f64 {
    let (kind, dir, cell, slot) = match action {
        Action::Call { cell, dir, slot } => (ACTION_CALL, dir, cell, slot),
        Action::Prefix { cell, slot } => (ACTION_PREFIX, Direction::Outgoing, cell, slot),
        Action::Deliver { dir, slot, error } => (
            if error {
                ACTION_DELIVER_ERROR
            } else {
                ACTION_DELIVER
            },
            dir,
            0,
            slot,
        ),
        Action::Drop { dir, slot } => (ACTION_DROP, dir, 0, slot),
        Action::CloseSession { cell } => (ACTION_CLOSE_SESSION, Direction::Outgoing, cell, 0),
        Action::Closed { ticket } => (ACTION_CLOSED, Direction::Outgoing, 0, ticket),
    };
    let low = kind
        | (dir as u32) << ACTION_DIR_SHIFT
        | if more { ACTION_MORE } else { 0 }
        | ((cell & 0xffff) as u32) << ACTION_CELL_SHIFT;
    f64::from(low) + f64::from(ACTION_SLOT_UNIT) * f64::from(slot)
}

fn direction(dir: u32) -> Result<Direction> {
    Direction::from_index(dir).ok_or_else(|| Error::from_reason("direction must be 0 or 1"))
}

/// One container's native state: registered extensions, RSV bits, and the
/// pipeline. The JavaScript class `Extensions` (lib/extensions.js) and its
/// `Pipeline` (lib/pipeline/) hold it by number and keep the JavaScript
/// objects (extensions, sessions, messages) it names by index.
#[derive(Default)]
struct Container {
    registry: Registry,
    pipeline: Pipeline,
    /// The deflate session of cell 0 negotiated by `containerRespondDeflate`,
    /// kept here until its first message (`containerTakeSession`): a
    /// connection closed before any message never puts it in the session
    /// table, and its close needs no call into JavaScript.
    held: Option<Session>,
}

impl Container {
    fn take(&mut self, take: bool) -> f64 {
        if !take {
            return 0.0;
        }
        loop {
            match self.pipeline.next_action() {
                // A session still held here closes here: JavaScript never
                // had it.
                Some(Action::CloseSession { cell: 0 }) if self.held.is_some() => {
                    if let Some(mut session) = self.held.take() {
                        session.close();
                    }
                }
                Some(action) => return pack(action, self.pipeline.has_actions()),
                None => return 0.0,
            }
        }
    }
}

thread_local! {
    // The containers of this JavaScript thread, by number (see table.rs).
    static CONTAINERS: RefCell<Table<Container>> = RefCell::new(Table::default());
}

/// Runs `f` on container `id`. No JavaScript runs meanwhile, so the borrow
/// never spans a call into JavaScript.
fn with_container<T>(id: u32, f: impl FnOnce(&mut Container) -> Result<T>) -> Result<T> {
    CONTAINERS.with(|table| match table.borrow_mut().get_mut(id) {
        Some(container) => f(container),
        None => Err(Error::from_reason("no such container")),
    })
}

/// Makes a container with its first extension registered (see `containerAdd`;
/// the first name cannot be taken) and returns its number.
#[napi(catch_unwind, js_name = "containerNewWith")]
pub fn container_new_with(name: String, rsv: u32) -> Result<u32> {
    let container = new_container(name, rsv)?;
    Ok(CONTAINERS.with(|table| table.borrow_mut().insert(container)))
}

fn new_container(name: String, rsv: u32) -> Result<Container> {
    let mut container = Container::default();
    let rsv = [rsv & 1 != 0, rsv & 2 != 0, rsv & 4 != 0];
    container
        .registry
        .add(ExtensionInfo { name, rsv })
        .map_err(|_| Error::from_reason("the first name was taken"))?;
    Ok(container)
}

/// Frees a container whose JavaScript object was collected.
#[napi(catch_unwind, js_name = "containerFree")]
pub fn container_free(id: u32) {
    CONTAINERS.with(|table| table.borrow_mut().remove(id));
}

/// Registers an extension whose fields JavaScript has checked: its name and
/// RSV bits (bit 0 for RSV1). Returns its index, or ERROR_NAME_TAKEN.
#[napi(catch_unwind, js_name = "containerAdd")]
pub fn container_add(id: u32, name: String, rsv: u32) -> Result<i32> {
    with_container(id, |container| {
        let rsv = [rsv & 1 != 0, rsv & 2 != 0, rsv & 4 != 0];
        Ok(match container.registry.add(ExtensionInfo { name, rsv }) {
            Ok(index) => i32::try_from(index).unwrap_or(i32::MAX),
            Err(_) => ERROR_NAME_TAKEN,
        })
    })
}

/// The client's offers grouped by registered extension, as JSON
/// `[[index, [params, ...]], ...]`, or ERROR_INVALID_HEADER.
#[napi(catch_unwind, js_name = "containerPlanResponse")]
pub fn container_plan_response(id: u32, header: String) -> Result<Either<String, i32>> {
    with_container(id, |container| {
        Ok(match parser::parse_header(&header) {
            Ok(offers) => Either::A(response_plan_json(
                &container.registry.offers_by_extension(&offers),
            )),
            Err(_) => Either::B(ERROR_INVALID_HEADER),
        })
    })
}

/// The registered index of the extension with this name, or -1.
#[napi(catch_unwind, js_name = "containerIndexOf")]
pub fn container_index_of(id: u32, name: String) -> Result<i32> {
    with_container(id, |container| {
        Ok(container
            .registry
            .index_of(&name)
            .map_or(-1, |i| i32::try_from(i).unwrap_or(-1)))
    })
}

/// The conflict of a server response whose extension uses a bit already
/// taken (`bit | holder << RSV_CONFLICT_HOLDER_SHIFT`), or 0 when its bits
/// are free.
#[napi(catch_unwind, js_name = "containerConflict")]
pub fn container_conflict(id: u32, index: u32) -> Result<u32> {
    with_container(id, |container| {
        Ok(conflict_code(container.registry.conflict(index as usize)))
    })
}

/// Takes the extension's RSV bits if they are free and returns 0; otherwise
/// takes nothing and returns the conflict, as `containerConflict` does.
#[napi(catch_unwind, js_name = "containerReserve")]
pub fn container_reserve(id: u32, index: u32) -> Result<u32> {
    with_container(id, |container| {
        let conflict = container.registry.conflict(index as usize);
        if conflict.is_none() {
            container.registry.reserve(index as usize);
        }
        Ok(conflict_code(conflict))
    })
}

/// Gives back the bits `containerReserve` just took, when the extension's
/// session did not come about after all.
#[napi(catch_unwind, js_name = "containerUnreserve")]
pub fn container_unreserve(id: u32, index: u32) -> Result<()> {
    with_container(id, |container| {
        container.registry.unreserve(index as usize);
        Ok(())
    })
}

thread_local! {
    // The configurations of this thread's deflate extensions that server
    // containers negotiate with in one call, by number: a number crosses for
    // less than a native object does.
    static CONFIGS: RefCell<Table<DeflateConfig>> = RefCell::new(Table::default());
}

/// Keeps the configuration of this package's deflate extension `ext` for
/// `containerRespondDeflate` and returns its number. JavaScript asks once per
/// extension object and frees it (`containerConfigFree`) when that object is
/// collected.
#[napi(catch_unwind, js_name = "containerConfigNew")]
pub fn container_config_new(ext: &deflate_binding::DeflateExtension) -> u32 {
    CONFIGS.with(|configs| configs.borrow_mut().insert(deflate_binding::config_of(ext)))
}

/// Frees a configuration whose extension object was collected.
#[napi(catch_unwind, js_name = "containerConfigFree")]
pub fn container_config_free(config: u32) {
    CONFIGS.with(|configs| configs.borrow_mut().remove(config));
}

/// The server's side of a negotiation in one call, for a container whose
/// only registered extension (index 0) is this package's deflate, with the
/// configuration numbered `config` (`containerConfigNew`):
/// parses the client's offers, takes the extension's RSV bits, makes the
/// session for the first acceptable offer, serializes its response and sets
/// up the pipeline, as `generateResponse` does one step at a time. Returns
/// ERROR_INVALID_HEADER, 0 when nothing was negotiated (the pipeline is then
/// empty), or the response; the message frames may then carry the
/// extension's RSV bits. The container keeps the session until its first
/// message (`containerTakeSession`).
#[napi(catch_unwind, js_name = "containerRespondDeflate")]
pub fn container_respond_deflate(
    id: u32,
    header: String,
    config: u32,
    max_length: Option<f64>,
) -> Result<Either<i32, String>> {
    with_container(id, |container| {
        respond_deflate(container, &header, config, max_length)
    })
}

/// What a server container whose only registered extension is this
/// package's deflate accepts from `header`: ERROR_INVALID_HEADER, 0 when
/// nothing can be negotiated, or the index of the extension, the parameters
/// accepted with configuration `config`, and the response line.
fn accept_deflate(
    registry: &Registry,
    header: &str,
    config: u32,
) -> Result<Either<i32, (usize, Accepted, String)>> {
    let Ok(offers) = parser::parse_header(header) else {
        return Ok(Either::A(ERROR_INVALID_HEADER));
    };
    let Some((index, mine)) = registry.offers_by_extension(&offers).into_iter().next() else {
        return Ok(Either::A(0));
    };
    if registry.conflict(index).is_some() {
        return Ok(Either::A(0));
    }
    let params: Vec<parser::Params> = mine.iter().map(|o| o.params.clone()).collect();
    let Some(name) = registry.name(index) else {
        return Ok(Either::A(0));
    };
    let accepted = with_config(config, |config| server_choose(config, &params))?;
    let Some(accepted) = accepted else {
        return Ok(Either::A(0));
    };
    let response = parser::serialize_parsed(name, &accepted.response());
    Ok(Either::B((index, accepted, response)))
}

/// Runs `f` with the configuration numbered `config` (`containerConfigNew`).
fn with_config<T>(config: u32, f: impl FnOnce(&DeflateConfig) -> T) -> Result<T> {
    CONFIGS.with(|configs| {
        let configs = configs.borrow();
        let config = configs
            .get(config)
            .ok_or_else(|| Error::from_reason("no such permessage-deflate configuration"))?;
        Ok(f(config))
    })
}

/// Takes extension `index`'s RSV bits and holds a server session with the
/// parameters `accepted` (configuration `config`) for the first message.
fn hold_deflate(
    container: &mut Container,
    index: usize,
    accepted: Accepted,
    config: u32,
    max_length: Option<f64>,
) -> Result<()> {
    let session = with_config(config, |config| {
        deflate_binding::server_session(config, accepted, max_length)
    })?;
    container.registry.reserve(index);
    container.pipeline = Pipeline::new(1);
    container.held = Some(session);
    Ok(())
}

fn respond_deflate(
    container: &mut Container,
    header: &str,
    config: u32,
    max_length: Option<f64>,
) -> Result<Either<i32, String>> {
    container.pipeline = Pipeline::new(0);
    container.held = None;
    match accept_deflate(&container.registry, header, config)? {
        Either::A(code) => Ok(Either::A(code)),
        Either::B((index, accepted, response)) => {
            hold_deflate(container, index, accepted, config, max_length)?;
            Ok(Either::B(response))
        }
    }
}

/// The server's side of a first negotiation without making any state, for a
/// container whose only extension (`name`, `rsv`) is this package's deflate
/// with configuration `config`: answers as `containerRespondDeflate` would
/// on a new container, and on success sets `accepted[0]` (an array) to the accepted
/// parameters packed in one number. The container makes its native state
/// from that number (`containerNewAccepted`) only when it first needs it, so
/// a connection closed before its first message never has native state, and
/// the offer is parsed once.
#[napi(catch_unwind, js_name = "containerRespondDeflateLater")]
pub fn container_respond_deflate_later(
    name: String,
    rsv: u32,
    mut accepted: Array,
    header: String,
    config: u32,
) -> Result<Either<i32, String>> {
    let container = new_container(name, rsv)?;
    match accept_deflate(&container.registry, &header, config)? {
        Either::A(code) => Ok(Either::A(code)),
        Either::B((_, chosen, response)) => {
            accepted.set(0, chosen.pack())?;
            Ok(Either::B(response))
        }
    }
}

/// The native state of a server container whose first negotiation
/// (`containerRespondDeflateLater`) accepted the parameters packed as
/// `accepted`: its one extension (`name`, `rsv`) registered with its RSV bits
/// taken and the session held for the first message, as
/// `containerRespondDeflate` leaves it. Returns its number.
#[napi(catch_unwind, js_name = "containerNewAccepted")]
pub fn container_new_accepted(
    name: String,
    rsv: u32,
    accepted: u32,
    config: u32,
    max_length: Option<f64>,
) -> Result<u32> {
    let accepted = Accepted::unpack(accepted)
        .ok_or_else(|| Error::from_reason("not a packed set of accepted parameters"))?;
    let mut container = new_container(name, rsv)?;
    hold_deflate(&mut container, 0, accepted, config, max_length)?;
    Ok(CONTAINERS.with(|table| table.borrow_mut().insert(container)))
}

/// Puts the session `containerRespondDeflate` kept into the session table,
/// for its first message; returns its number.
#[napi(catch_unwind, js_name = "containerTakeSession")]
pub fn container_take_session(id: u32) -> Result<u32> {
    with_container(id, |container| {
        container
            .held
            .take()
            .map(deflate_binding::adopt_session)
            .ok_or_else(|| Error::from_reason("permessage-deflate session is not active"))
    })
}

/// Sets up the pipeline with the given extensions in pipeline order and
/// returns the RSV bits message frames may carry (bit 0 for RSV1).
#[napi(catch_unwind, js_name = "containerSetPipeline")]
pub fn container_set_pipeline(id: u32, active: Vec<u32>) -> Result<u32> {
    with_container(id, |container| {
        let active: Vec<usize> = active.into_iter().map(|i| i as usize).collect();
        container.pipeline = Pipeline::new(active.len());
        container.held = None;
        Ok(container.registry.allowed_rsv(&active))
    })
}

/// A message enters the pipeline. Returns -1 when the direction is stopped;
/// otherwise the first action when `take`, else 0.
#[napi(catch_unwind, js_name = "containerSubmit")]
pub fn container_submit(id: u32, dir: u32, slot: u32, take: bool) -> Result<f64> {
    let dir = direction(dir)?;
    with_container(id, |container| {
        if !container.pipeline.submit(dir, slot) {
            return Ok(REFUSED);
        }
        Ok(container.take(take))
    })
}

/// Takes over a message that JavaScript passed through the cells before
/// `cell` while the direction was idle.
#[napi(catch_unwind, js_name = "containerAdopt")]
pub fn container_adopt(id: u32, dir: u32, slot: u32, cell: u32) -> Result<bool> {
    let dir = direction(dir)?;
    with_container(id, |container| {
        Ok(container.pipeline.adopt(dir, slot, cell as usize))
    })
}

/// A session called back. Returns the next action when `take`, else 0.
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
    with_container(id, |container| {
        container.pipeline.complete(cell as usize, dir, slot, error);
        Ok(container.take(take))
    })
}

/// The next action, or 0 when there is none.
#[napi(catch_unwind, js_name = "containerNext")]
pub fn container_next(id: u32) -> Result<f64> {
    with_container(id, |container| Ok(container.take(true)))
}

/// Stops both directions and asks every session to close once drained; the
/// "closed" action will carry `ticket`. Returns the first action when
/// `take`, else 0.
#[napi(catch_unwind, js_name = "containerClose")]
pub fn container_close(id: u32, ticket: u32, take: bool) -> Result<f64> {
    with_container(id, |container| {
        container.pipeline.close(ticket);
        Ok(container.take(take))
    })
}
