//! The napi binding of the native permessage-deflate: converts values and
//! hands work to `deflate::session`; `lib/deflate.js` builds the extension object
//! from it.
//!
//! Large messages are processed on worker threads (`offload`). Their results
//! come back through one threadsafe function per JavaScript thread, made when
//! the first job starts and dropped when the last result has been delivered,
//! so it keeps the event loop alive exactly while work is in flight and an
//! idle session never does.

use crate::state;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use std::sync::Arc;
use websocket_extensions_core::deflate::session::{sessions_alive, Outcome, Session};
use websocket_extensions_core::deflate::sessions::SessionEntry;
use websocket_extensions_core::deflate::shared;
use websocket_extensions_core::deflate::{
    CompressError, ConfigError, DeflateConfig, InflateError, OptionValue,
};
use websocket_extensions_core::offload;
use websocket_extensions_core::parser::{params_to_json, serialize_parsed, ParamValue, Params};
use websocket_extensions_core::pipeline::Direction;
use websocket_extensions_core::wire;

/// A job's result on its way back: the token JavaScript gave, and the data
/// or the error code and text.
struct Done {
    token: f64,
    result: Wire,
}

/// A result as it crosses back: the data, or an error code and its text.
type Wire = std::result::Result<Vec<u8>, (i32, String)>;

/// `(token, code, data, message)`, spread as four arguments.
type DoneArgs = FnArgs<(f64, i32, Option<Buffer>, Option<String>)>;
type Tsfn = ThreadsafeFunction<Done, Unknown<'static>, DoneArgs, Status, false>;

/// A message's data (copied into an ArrayBuffer, or handed over as a
/// Buffer), or a code instead of it.
type Data<'env> = Either3<ArrayBuffer<'env>, Buffer, i32>;

/// Results up to this size are copied into V8's memory rather than handed
/// over as external buffers.
const COPY_BELOW: usize = 64 * 1024;

/// The most of a caller's slab a result may use (see `answer`), so that a
/// length always fits the code it is returned in.
const SLAB_MAX: usize = 1 << 20;

/// The way back of worker results, one per JavaScript thread (each
/// `worker_thread` that loads the addon has its own), in the thread's state.
#[derive(Default)]
pub(crate) struct Offload {
    /// The JavaScript function results are delivered to.
    callback: Option<FunctionRef<DoneArgs, Unknown<'static>>>,
    /// Live while jobs are in flight.
    tsfn: Option<Arc<Tsfn>>,
    in_flight: u32,
}

/// Sets the function that receives offloaded results as
/// `(token, code, data, message)`.
#[napi(
    catch_unwind,
    js_name = "setOffloadCallback",
    ts_args_type = "callback: (token: number, code: number, data: Buffer | null, message: string | null) => void"
)]
pub fn set_offload_callback(callback: Function<DoneArgs, Unknown<'static>>) -> Result<()> {
    let callback = callback.create_ref()?;
    let old = state::with(|s| Ok(s.offload.callback.replace(callback)))?;
    drop(old);
    Ok(())
}

/// Takes a handle for one job, making the threadsafe function if none is
/// live.
fn begin_job(env: &Env, o: &mut Offload) -> Result<Arc<Tsfn>> {
    {
        let tsfn = match &o.tsfn {
            Some(tsfn) => Arc::clone(tsfn),
            None => {
                let callback = o
                    .callback
                    .as_ref()
                    .ok_or_else(|| Error::from_reason("setOffloadCallback was not called"))?
                    .borrow_back(env)?;
                let tsfn = Arc::new(
                    callback
                        .build_threadsafe_function::<Done>()
                        .callee_handled::<false>()
                        .build_callback(|ctx| {
                            finish_job();
                            let done: Done = ctx.value;
                            Ok(FnArgs::from(match done.result {
                                Ok(data) => {
                                    (done.token, wire::CODEC_DONE, Some(Buffer::from(data)), None)
                                }
                                Err((code, message)) => (done.token, code, None, Some(message)),
                            }))
                        })?,
                );
                o.tsfn = Some(Arc::clone(&tsfn));
                tsfn
            }
        };
        o.in_flight += 1;
        Ok(tsfn)
    }
}

/// Runs on the JavaScript thread as each result arrives.
fn finish_job() {
    // The threadsafe function is dropped after the state's borrow ends.
    let last = state::with(|s| {
        let o = &mut s.offload;
        o.in_flight = o.in_flight.saturating_sub(1);
        Ok(if o.in_flight == 0 {
            o.tsfn.take()
        } else {
            None
        })
    });
    drop(last);
}

/// Where a queued job's result goes: back to JavaScript with `token`. If no
/// threadsafe function can be had, `failed` says why and the result is
/// dropped (the caller throws).
fn job_delivery<T: Send + 'static>(
    env: &Env,
    offload: &mut Offload,
    token: f64,
    convert: fn(T) -> Wire,
    failed: &mut Option<Error>,
) -> Box<dyn FnOnce(T) + Send> {
    match begin_job(env, offload) {
        Ok(tsfn) => Box::new(move |output| {
            // Fails only when the environment is shutting down: the result
            // has nowhere to go and is dropped.
            let _ = tsfn.call(
                Done {
                    token,
                    result: convert(output),
                },
                ThreadsafeFunctionCallMode::NonBlocking,
            );
        }),
        Err(e) => {
            *failed = Some(e);
            Box::new(|_| {})
        }
    }
}

fn compressed(r: std::result::Result<Vec<u8>, CompressError>) -> Wire {
    r.map_err(|e| (wire::CODEC_COMPRESS_FAILED, e.to_string()))
}

fn inflated(r: std::result::Result<Vec<u8>, InflateError>) -> Wire {
    r.map_err(|e| match e {
        InflateError::TooLarge => (wire::CODEC_TOO_LARGE, e.to_string()),
        InflateError::Corrupt(_) => (wire::CODEC_CORRUPT, e.to_string()),
    })
}

/// A parameter value as the core reads it: `true` is a flag, numbers and
/// strings are themselves; any other value (`false`, null, an object...)
/// becomes the text "false", which no parameter accepts, as the original
/// refuses it.
fn param_value(value: Unknown) -> Result<ParamValue> {
    Ok(match value.get_type()? {
        ValueType::Boolean if bool::from_unknown(value)? => ParamValue::Flag,
        ValueType::Number => ParamValue::Number(f64::from_unknown(value)?),
        ValueType::String => ParamValue::Text(String::from_unknown(value)?),
        _ => ParamValue::Text("false".into()),
    })
}

/// Builds params from the flat form `lib/deflate.js` sends: keys, values, and
/// how many of them each offer has.
fn params_from(keys: Vec<String>, values: Vec<Unknown>, counts: &[u32]) -> Result<Vec<Params>> {
    let values = values
        .into_iter()
        .map(param_value)
        .collect::<Result<Vec<_>>>()?;
    let mut pairs = keys.into_iter().zip(values);
    Ok(counts
        .iter()
        .map(|&n| pairs.by_ref().take(n as usize).collect())
        .collect())
}

/// An option's value as the core's configuration reads it, with the name of
/// its JavaScript type when it is neither a boolean, a number nor undefined.
fn option_value(value: Unknown) -> Result<OptionValue> {
    Ok(match value.get_type()? {
        ValueType::Boolean => OptionValue::Bool(bool::from_unknown(value)?),
        ValueType::Number => OptionValue::Number(f64::from_unknown(value)?),
        ValueType::Undefined => OptionValue::Undefined,
        ValueType::Null => OptionValue::Other("null".into()),
        ValueType::String => OptionValue::Other("string".into()),
        ValueType::Symbol => OptionValue::Other("symbol".into()),
        ValueType::Function => OptionValue::Other("function".into()),
        ValueType::BigInt => OptionValue::Other("bigint".into()),
        _ => OptionValue::Other("object".into()),
    })
}

fn params_json(params: &Params) -> String {
    let mut out = String::new();
    params_to_json(&mut out, params);
    out
}

pub(crate) fn max_len(max_length: Option<f64>) -> Option<usize> {
    max_length
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n.min(usize::MAX as f64) as usize)
}

/// A configured permessage-deflate extension.
#[napi]
pub struct DeflateExtension {
    config: DeflateConfig,
}

impl Default for DeflateExtension {
    fn default() -> Self {
        Self::new()
    }
}

#[napi]
impl DeflateExtension {
    #[napi(catch_unwind, constructor)]
    pub fn new() -> Self {
        DeflateExtension {
            config: DeflateConfig::default(),
        }
    }

    /// A new extension with these options (`keys`, and their JavaScript
    /// `values` as they are) applied on top of this one's.
    #[napi(catch_unwind)]
    pub fn configure(&self, keys: Vec<String>, values: Vec<Unknown>) -> Result<DeflateExtension> {
        let values = values
            .into_iter()
            .map(option_value)
            .collect::<Result<Vec<_>>>()?;
        let options: Vec<(String, OptionValue)> = keys.into_iter().zip(values).collect();
        self.config
            .with_options(&options)
            .map(|config| DeflateExtension { config })
            .map_err(|e: ConfigError| Error::from_reason(e.to_string()))
    }

    /// A client session; returns its number.
    #[napi(catch_unwind, js_name = "clientSession")]
    pub fn client_session(&self, max_length: Option<f64>) -> Result<u32> {
        insert_session(Session::client(self.config.clone(), max_len(max_length)))
    }

    /// A server session for the first acceptable offer: its number, or null.
    #[napi(catch_unwind, js_name = "serverSession")]
    pub fn server_session(
        &self,
        keys: Vec<String>,
        values: Vec<Unknown>,
        counts: Vec<u32>,
        max_length: Option<f64>,
    ) -> Result<Option<u32>> {
        let offers = params_from(keys, values, &counts)?;
        Session::server(self.config.clone(), &offers, max_len(max_length))
            .map(insert_session)
            .transpose()
    }
}

/// After session `id` worked: the core's order and budget (see
/// `Sessions::touch`), external memory reported to V8, and the idle timer
/// set if it must be, once the state is no longer borrowed.
fn touch(env: &Env, id: u32, dir: Direction) -> Result<()> {
    let after = state::with(|s| {
        let now = if s.sessions.needs_clock(id) {
            s.now()
        } else {
            0
        };
        Ok(s.sessions.touch(id, dir, now))
    })?;
    report(env, after.report);
    match after.arm_timer {
        Some(delay) => arm_rest_timer(env, delay as f64),
        None => Ok(()),
    }
}

fn report(env: &Env, bytes: Option<i64>) {
    if let Some(bytes) = bytes {
        // Only fails while the environment shuts down.
        let _ = env.adjust_external_memory(bytes);
    }
}

/// Sets the function that arms this thread's idle timer, `(delay) => void`:
/// the binding calls it when a session with a `restAfter` has worked and
/// no timer is set; the timer then calls `deflateSweep`. An unset
/// `restAfter` never calls it.
#[napi(
    catch_unwind,
    js_name = "setRestTimer",
    ts_args_type = "arm: (delay: number) => void"
)]
pub fn set_rest_timer(arm: Function<f64, Unknown<'static>>) -> Result<()> {
    let arm = arm.create_ref()?;
    let old = state::with(|s| Ok(s.rest_timer.replace(arm)))?;
    drop(old);
    Ok(())
}

/// Calls the JavaScript function that sets the idle timer, with the state
/// no longer borrowed.
fn arm_rest_timer(env: &Env, delay: f64) -> Result<()> {
    let arm = state::with(|s| {
        s.rest_timer
            .as_ref()
            .map(|arm| arm.borrow_back(env))
            .transpose()
    })?;
    match arm {
        Some(arm) => arm.call(delay).map(|_| ()),
        None => Ok(()),
    }
}

/// Rests this thread's sessions that have been idle for their `restAfter`.
/// Returns the milliseconds until the next sweep is due, or -1 when no
/// session that may keep states has a `restAfter` (the timer stops until
/// one works again).
#[napi(catch_unwind, js_name = "deflateSweep")]
pub fn deflate_sweep(env: &Env) -> Result<f64> {
    let (next, bytes) = state::with(|s| {
        let now = s.now();
        Ok(s.sessions.sweep(now))
    })?;
    report(env, bytes);
    Ok(next.map_or(-1.0, |ms| ms as f64))
}

/// This thread's permessage-deflate figures (`deflate.stats()`).
#[napi(object)]
pub struct DeflateStats {
    /// Sessions of this thread neither closed nor collected.
    pub sessions: u32,
    /// Containers of this thread with native state, neither closed nor
    /// collected.
    pub containers: u32,
    /// Sessions in the whole process, every thread's (a thread's go when
    /// its environment ends).
    pub process_sessions: u32,
    /// Directions owning a zlib state now, and its bytes (zlib's formula).
    pub live_states: u32,
    pub live_state_bytes: f64,
    /// Directions resting (no state) with history kept, and those bytes.
    pub resting: u32,
    pub history_bytes: f64,
    /// Directions a worker has now, not counted above.
    pub working: u32,
    /// Bytes in and out of compression (plaintext in), and of decompression
    /// (compressed in), including freed sessions.
    pub compress_in: f64,
    pub compress_out: f64,
    pub inflate_in: f64,
    pub inflate_out: f64,
    /// `compressIn / compressOut` and `inflateOut / inflateIn`, 0 before any
    /// byte.
    pub compress_ratio: f64,
    pub inflate_ratio: f64,
    /// Worker threads of the process's offload pool that the operating
    /// system refused to start (the pool runs on those it has; with none, a
    /// lane runs on the thread that queued it), and the first refusal's
    /// reason.
    pub worker_start_failures: u32,
    pub worker_start_error: Option<String>,
    /// Worker threads the process's offload pool runs (0 until its first
    /// offloaded message): `WSX_DEFLATE_THREADS`, or the cores up to four.
    pub worker_threads: u32,
    /// Messages compressed as streams of their own on this thread that were
    /// copied from an earlier identical one (a broadcast) instead of being
    /// compressed again, and those compressed.
    pub shared_hits: f64,
    pub shared_misses: f64,
    /// The same for messages compressed on the offload workers, whose
    /// cache is the process's: hits include waiting for another worker
    /// compressing the same message (coalescing).
    pub worker_shared_hits: f64,
    pub worker_shared_misses: f64,
}

#[napi(catch_unwind, js_name = "deflateStats")]
pub fn deflate_stats() -> Result<DeflateStats> {
    let (table, containers) = state::with(|s| Ok((s.sessions.stats(), s.containers.len())))?;
    let shared = shared::stats();
    let workers_shared = shared::workers_stats();
    let totals = table.totals;
    Ok(DeflateStats {
        sessions: table.sessions,
        containers: containers as u32,
        process_sessions: sessions_alive() as u32,
        live_states: table.live_states,
        live_state_bytes: table.live_state_bytes,
        resting: table.resting,
        history_bytes: table.history_bytes,
        working: table.working,
        compress_in: totals.compress_in,
        compress_out: totals.compress_out,
        inflate_in: totals.inflate_in,
        inflate_out: totals.inflate_out,
        compress_ratio: if totals.compress_out > 0.0 {
            totals.compress_in / totals.compress_out
        } else {
            0.0
        },
        inflate_ratio: if totals.inflate_in > 0.0 {
            totals.inflate_out / totals.inflate_in
        } else {
            0.0
        },
        worker_start_failures: offload::spawn_failures() as u32,
        worker_start_error: offload::spawn_error(),
        worker_threads: offload::pool_workers() as u32,
        shared_hits: shared.0 as f64,
        shared_misses: shared.1 as f64,
        worker_shared_hits: workers_shared.0 as f64,
        worker_shared_misses: workers_shared.1 as f64,
    })
}

fn insert_session(session: Session) -> Result<u32> {
    state::with(|s| Ok(s.sessions.insert(session)))
}

/// Runs `f` on session `id`. No JavaScript runs meanwhile.
fn with_session<T>(id: u32, f: impl FnOnce(&mut SessionEntry) -> Result<T>) -> Result<T> {
    state::with(|s| match s.sessions.get_mut(id) {
        Some(entry) => f(entry),
        None => Err(Error::from_reason("no such permessage-deflate session")),
    })
}

fn code<'env>(entry: &mut SessionEntry, code: i32, message: String) -> Data<'env> {
    entry.last_error = Some(message);
    Either3::C(code)
}

/// What JavaScript gets for a message: its data, or a code. A result that
/// fits in the caller's `slab` (lib/deflate.js keeps one per thread, under
/// the size Node's Buffer pool serves) is copied into it and its length
/// returned (`CODEC_IN_SLAB + n`): lib/deflate.js copies it out into a
/// Buffer of Node's pool at once, which costs less than any buffer made
/// here (an ArrayBuffer from V8's allocator was 0.2 µs a message hot and up
/// to a microsecond in an echo server, issue 17). Other small results are
/// copied into an ArrayBuffer V8 owns, which costs less than an external
/// buffer with a finalizer, and which lib/deflate.js views as a Buffer
/// (`Buffer.from`): a Buffer made here (`napi_create_buffer_copy`) gets its
/// prototype set on a fresh object, V8's slow path. Large ones are handed
/// over without a copy.
fn answer<'env, O>(
    entry: &mut SessionEntry,
    env: &'env Env,
    outcome: Option<Outcome<O>>,
    convert: fn(O) -> Wire,
    slab: &mut [u8],
) -> Result<Data<'env>> {
    Ok(match outcome {
        None => code(
            entry,
            wire::CODEC_INACTIVE,
            "permessage-deflate session is not active".into(),
        ),
        Some(Outcome::Queued) => Either3::C(wire::CODEC_PENDING),
        Some(Outcome::Done(result)) => match convert(result) {
            Ok(out) if out.len() <= slab.len().min(SLAB_MAX) => {
                slab[..out.len()].copy_from_slice(&out);
                Either3::C(wire::CODEC_IN_SLAB + out.len() as i32)
            }
            Ok(out) if out.len() <= COPY_BELOW => Either3::A(ArrayBuffer::copy_from(env, &out)?),
            Ok(out) => Either3::B(Buffer::from(out)),
            Err((c, message)) => code(entry, c, message),
        },
    })
}

/// The client's offer, as JSON params.
#[napi(catch_unwind, js_name = "deflateGenerateOffer")]
pub fn deflate_generate_offer(id: u32) -> Result<String> {
    with_session(id, |e| Ok(params_json(&e.session.offer())))
}

/// Applies the server's response (flat keys and values); false when it is
/// not acceptable.
#[napi(catch_unwind, js_name = "deflateActivate")]
pub fn deflate_activate(id: u32, keys: Vec<String>, values: Vec<Unknown>) -> Result<bool> {
    let count = keys.len() as u32;
    let response = params_from(keys, values, &[count])?;
    with_session(id, |e| {
        Ok(response
            .first()
            .is_some_and(|params| e.session.activate(params)))
    })
}

/// The server's response, as JSON params.
#[napi(catch_unwind, js_name = "deflateGenerateResponse")]
pub fn deflate_generate_response(id: u32) -> Result<Option<String>> {
    with_session(id, |e| Ok(e.session.response().map(params_json)))
}

/// The server's response already serialized under `name`, for this
/// package's container: the same text as serializing `generateResponse()`,
/// without building the params object in between.
#[napi(catch_unwind, js_name = "deflateResponseLine")]
pub fn deflate_response_line(id: u32, name: String) -> Result<Option<String>> {
    with_session(id, |e| Ok(response_line(&e.session, &name)))
}

fn response_line(session: &Session, name: &str) -> Option<String> {
    session
        .response()
        .map(|params| serialize_parsed(name, params))
}

/// The configuration of `ext`, which the container keeps for its one-call
/// server handshake (src/lib.rs).
pub(crate) fn config_of(ext: &DeflateExtension) -> DeflateConfig {
    ext.config.clone()
}

/// The text of the last error code returned by compress or decompress.
#[napi(catch_unwind, js_name = "deflateLastError")]
pub fn deflate_last_error(id: u32) -> Result<Option<String>> {
    with_session(id, |e| Ok(e.last_error.clone()))
}

/// Runs one message through a lane of session `id` (`run` picks the lane):
/// its data, or a code.
fn process<'env, O: Send + 'static>(
    env: &'env Env,
    id: u32,
    token: f64,
    slab: &mut [u8],
    convert: fn(O) -> Wire,
    run: impl FnOnce(&Session, &mut dyn FnMut() -> Box<dyn FnOnce(O) + Send>) -> Option<Outcome<O>>,
) -> Result<Data<'env>> {
    state::with(|s| {
        let entry = s
            .sessions
            .get_mut(id)
            .ok_or_else(|| Error::from_reason("no such permessage-deflate session"))?;
        let offload = &mut s.offload;
        let mut failed = None;
        let outcome = run(&entry.session, &mut || {
            job_delivery(env, offload, token, convert, &mut failed)
        });
        match failed {
            Some(error) => Err(error),
            None => answer(entry, env, outcome, convert, slab),
        }
    })
}

/// Compresses an outgoing message: its data, or a code (CODEC_PENDING:
/// queued for a worker, the result goes to the offload callback with
/// `token`).
#[napi(
    catch_unwind,
    js_name = "deflateCompress",
    ts_args_type = "id: number, data: Uint8Array, token: number, slab: Buffer",
    ts_return_type = "ArrayBuffer | Buffer | number"
)]
pub fn deflate_compress<'env>(
    env: &'env Env,
    id: u32,
    data: BufferSlice,
    token: f64,
    mut slab: BufferSlice,
) -> Result<Data<'env>> {
    if with_session(id, |e| Ok(e.session.sends_uncompressed(data.len())))? {
        return Ok(Either3::C(wire::CODEC_UNCOMPRESSED));
    }
    let result = process(env, id, token, &mut slab, compressed, |session, deliver| {
        session.compress(&data, deliver)
    });
    touch(env, id, Direction::Outgoing)?;
    result
}

/// Decompresses an incoming message, as `deflateCompress` does;
/// CODEC_TOO_LARGE and CODEC_CORRUPT are errors.
#[napi(
    catch_unwind,
    js_name = "deflateDecompress",
    ts_args_type = "id: number, data: Uint8Array, token: number, slab: Buffer",
    ts_return_type = "ArrayBuffer | Buffer | number"
)]
pub fn deflate_decompress<'env>(
    env: &'env Env,
    id: u32,
    data: BufferSlice,
    token: f64,
    mut slab: BufferSlice,
) -> Result<Data<'env>> {
    let result = process(env, id, token, &mut slab, inflated, |session, deliver| {
        session.decompress(&data, deliver)
    });
    touch(env, id, Direction::Incoming)?;
    result
}

/// Frees session `id`: it closed, or its JavaScript object was collected.
/// Its codecs go now, or with the worker that has them once its messages
/// are done; the number is free for the next session.
#[napi(catch_unwind, js_name = "deflateFree")]
pub fn deflate_free(env: &Env, id: u32) -> Result<()> {
    let bytes = state::with(|s| Ok(s.sessions.free(id)))?;
    report(env, bytes);
    Ok(())
}
