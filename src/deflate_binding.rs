//! The napi binding of the native permessage-deflate: converts values and
//! hands work to `deflate::session`; `lib/deflate.js` builds the extension object
//! from it.
//!
//! Large messages are processed on worker threads (`offload`). Their results
//! come back through one threadsafe function per JavaScript thread, made when
//! the first job starts and dropped when the last result has been delivered,
//! so it keeps the event loop alive exactly while work is in flight and an
//! idle session never does.

use crate::table::Table;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use std::cell::RefCell;
use std::sync::Arc;
use websocket_extensions_core::deflate::session::{sessions_alive, LiveOrder, Outcome, Session};
use websocket_extensions_core::deflate::{
    Accepted, CompressError, ConfigError, DeflateConfig, InflateError, OptionValue,
};
use websocket_extensions_core::offload;
use websocket_extensions_core::parser::{params_to_json, serialize_parsed, ParamValue, Params};

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

/// A message's data (copied or handed over), or a code instead of it.
type Data<'env> = Either3<BufferSlice<'env>, Buffer, i32>;

/// Results up to this size are copied into V8's memory rather than handed
/// over as external buffers.
const COPY_BELOW: usize = 64 * 1024;

// Codes returned for a message instead of its data, exported for
// lib/deflate.js, which reads them once at load.
/// Codec result: the message went to a worker; its result comes later.
#[napi]
pub const CODEC_PENDING: i32 = 0;
/// Codec result: the inflated message is longer than maxLength.
#[napi]
pub const CODEC_TOO_LARGE: i32 = 1;
/// Codec result: the compressed data is corrupt.
#[napi]
pub const CODEC_CORRUPT: i32 = 2;
/// Codec result: the session is not active (never negotiated, or closed).
#[napi]
pub const CODEC_INACTIVE: i32 = 3;
/// Codec result: compression failed.
#[napi]
pub const CODEC_COMPRESS_FAILED: i32 = 4;
/// Codec result: under the extension's threshold; send the message as it
/// is, RSV1 clear.
#[napi]
pub const CODEC_UNCOMPRESSED: i32 = 5;

struct Offload {
    /// The JavaScript function results are delivered to.
    callback: Option<FunctionRef<DoneArgs, Unknown<'static>>>,
    /// Live while jobs are in flight.
    tsfn: Option<Arc<Tsfn>>,
    in_flight: u32,
}

thread_local! {
    // One per JavaScript thread: each worker_thread that loads the addon has
    // its own environment, callback and threadsafe function.
    static OFFLOAD: RefCell<Offload> = const {
        RefCell::new(Offload { callback: None, tsfn: None, in_flight: 0 })
    };
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
    OFFLOAD.with(|o| o.borrow_mut().callback = Some(callback));
    Ok(())
}

/// Takes a handle for one job, making the threadsafe function if none is
/// live.
fn begin_job(env: &Env) -> Result<Arc<Tsfn>> {
    OFFLOAD.with(|o| {
        let mut o = o.borrow_mut();
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
                                Ok(data) => (done.token, -1, Some(Buffer::from(data)), None),
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
    })
}

/// Runs on the JavaScript thread as each result arrives.
fn finish_job() {
    OFFLOAD.with(|o| {
        let mut o = o.borrow_mut();
        o.in_flight = o.in_flight.saturating_sub(1);
        if o.in_flight == 0 {
            o.tsfn = None;
        }
    });
}

/// Where a queued job's result goes: back to JavaScript with `token`. If no
/// threadsafe function can be had, `failed` says why and the result is
/// dropped (the caller throws).
fn job_delivery<T: Send + 'static>(
    env: &Env,
    token: f64,
    convert: fn(T) -> Wire,
    failed: &mut Option<Error>,
) -> Box<dyn FnOnce(T) + Send> {
    match begin_job(env) {
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
    r.map_err(|e| (CODEC_COMPRESS_FAILED, e.to_string()))
}

fn inflated(r: std::result::Result<Vec<u8>, InflateError>) -> Wire {
    r.map_err(|e| match e {
        InflateError::TooLarge => (CODEC_TOO_LARGE, e.to_string()),
        InflateError::Corrupt(_) => (CODEC_CORRUPT, e.to_string()),
    })
}

/// Builds params from the flat form `lib/deflate.js` sends: keys, values, and
/// how many of them each offer has. `false` stands for any value that is
/// not `true`, a number or a string, which no parameter accepts.
fn params_from(
    keys: Vec<String>,
    values: Vec<Either3<bool, f64, String>>,
    counts: &[u32],
) -> Vec<Params> {
    let mut pairs = keys.into_iter().zip(values.into_iter().map(|v| match v {
        Either3::A(true) => ParamValue::Flag,
        Either3::A(false) => ParamValue::Text("false".into()),
        Either3::B(n) => ParamValue::Number(n),
        Either3::C(s) => ParamValue::Text(s),
    }));
    counts
        .iter()
        .map(|&n| pairs.by_ref().take(n as usize).collect())
        .collect()
}

fn params_json(params: &Params) -> String {
    let mut out = String::new();
    params_to_json(&mut out, params);
    out
}

fn max_len(max_length: Option<f64>) -> Option<usize> {
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

    /// A new extension with these options applied on top of this one's.
    /// `values` holds booleans and numbers as they are, `undefined` as the
    /// string "undefined", and any other value as the name of its type.
    #[napi(catch_unwind)]
    pub fn configure(
        &self,
        keys: Vec<String>,
        values: Vec<Either3<bool, f64, String>>,
    ) -> Result<DeflateExtension> {
        let options: Vec<(String, OptionValue)> = keys
            .into_iter()
            .zip(values)
            .map(|(k, v)| {
                let v = match v {
                    Either3::A(b) => OptionValue::Bool(b),
                    Either3::B(n) => OptionValue::Number(n),
                    Either3::C(t) if t == "undefined" => OptionValue::Undefined,
                    Either3::C(t) => OptionValue::Other(t),
                };
                (k, v)
            })
            .collect();
        self.config
            .with_options(&options)
            .map(|config| DeflateExtension { config })
            .map_err(|e: ConfigError| Error::from_reason(e.to_string()))
    }

    /// A client session; returns its number.
    #[napi(catch_unwind, js_name = "clientSession")]
    pub fn client_session(&self, max_length: Option<f64>) -> u32 {
        insert_session(Session::client(self.config.clone(), max_len(max_length)))
    }

    /// A server session for the first acceptable offer: its number, or null.
    #[napi(catch_unwind, js_name = "serverSession")]
    pub fn server_session(
        &self,
        keys: Vec<String>,
        values: Vec<Either3<bool, f64, String>>,
        counts: Vec<u32>,
        max_length: Option<f64>,
    ) -> Option<u32> {
        let offers = params_from(keys, values, &counts);
        Session::server(self.config.clone(), &offers, max_len(max_length)).map(insert_session)
    }
}

/// One negotiated (or negotiating) connection, in this thread's table of
/// sessions (see table.rs): `lib/deflate.js` holds it by number.
struct SessionEntry {
    session: Session,
    last_error: Option<String>,
    /// The bytes it holds, as last reported to V8.
    reported: i64,
}

/// This thread's sessions that may keep their zlib states, in the order
/// of their last message (see `LiveOrder`): beyond the `liveStates` budget
/// of the session that just worked the least recently used rest, and those
/// idle for their `restAfter` rest when the idle timer sweeps.
#[derive(Default)]
struct Live {
    order: LiveOrder,
    /// The clock's zero: `LiveOrder` counts milliseconds from it.
    epoch: Option<std::time::Instant>,
    /// Whether the JavaScript idle timer is set (see `setRestTimer`).
    armed: bool,
    /// Figures of the sessions already freed.
    retired: Totals,
    /// Held bytes not yet reported to V8 (reported in steps, not per
    /// message).
    unreported: i64,
}

impl Live {
    /// Milliseconds since this thread's first reading.
    fn now(&mut self) -> u64 {
        let epoch = *self.epoch.get_or_insert_with(std::time::Instant::now);
        epoch.elapsed().as_millis() as u64
    }
}

/// Per-direction byte counts, summed.
#[derive(Default, Clone, Copy)]
struct Totals {
    compress_in: f64,
    compress_out: f64,
    inflate_in: f64,
    inflate_out: f64,
}

/// Held bytes are reported to V8 once they have moved this far.
const REPORT_STEP: i64 = 64 * 1024;

thread_local! {
    static LIVE: RefCell<Live> = RefCell::new(Live::default());
}

/// What a session holds now (zlib states and histories), or `None` while a
/// worker has one of its directions.
fn held_bytes(session: &Session) -> Option<i64> {
    let (out, inc) = session.stats();
    let (out, inc) = (out?, inc?);
    Some((out.state_bytes + out.history_bytes + inc.state_bytes + inc.history_bytes) as i64)
}

/// Brings `entry`'s reported bytes up to date; returns the change.
fn rereport(entry: &mut SessionEntry) -> i64 {
    match held_bytes(&entry.session) {
        Some(held) => {
            let delta = held - entry.reported;
            entry.reported = held;
            delta
        }
        None => 0,
    }
}

fn report_to_v8(env: &Env, live: &mut Live, delta: i64) {
    live.unreported += delta;
    if live.unreported.abs() >= REPORT_STEP {
        // Only fails while the environment shuts down.
        let _ = env.adjust_external_memory(live.unreported);
        live.unreported = 0;
    }
}

/// After session `id` worked: it becomes the most recently used, and the
/// least recently used beyond its budget rest. Returns the delay to set the
/// idle timer to, when it must be set now.
fn touch(env: &Env, id: u32) -> Option<f64> {
    SESSIONS.with(|sessions| {
        LIVE.with(|live| {
            let mut sessions = sessions.borrow_mut();
            let mut live = live.borrow_mut();
            let entry = sessions.get_mut(id)?;
            let budget = entry.session.live_states();
            let rest_after = entry.session.rest_after();
            // The clock is read only when some session has a restAfter.
            let now = if rest_after.is_some() || live.order.is_timed() {
                live.now()
            } else {
                0
            };
            live.order.touch(id, now, rest_after);
            let mut delta = rereport(entry);
            live.order.rest_beyond(budget, now, |other| {
                rest_session(&mut sessions, other, &mut delta)
            });
            report_to_v8(env, &mut live, delta);
            match rest_after {
                Some(after) if !live.armed && live.order.is_timed() => {
                    live.armed = true;
                    Some(after as f64)
                }
                _ => None,
            }
        })
    })
}

/// Rests session `id` if it can (a worker may have its work): true when it
/// did, or is gone. Adds the change of its held bytes to `delta`.
fn rest_session(sessions: &mut Table<SessionEntry>, id: u32, delta: &mut i64) -> bool {
    match sessions.get_mut(id) {
        Some(entry) if entry.session.rest() => {
            *delta += rereport(entry);
            true
        }
        Some(_) => false,
        None => true,
    }
}

/// Takes a freed or closed session out of the order.
fn forget_session(id: u32) {
    LIVE.with(|live| live.borrow_mut().order.forget(id));
}

thread_local! {
    /// The JavaScript function that sets this thread's idle timer, given
    /// the delay in milliseconds (`setRestTimer`).
    static REST_TIMER: RefCell<Option<FunctionRef<f64, Unknown<'static>>>> =
        const { RefCell::new(None) };
    /// Whether this environment's cleanup hook is registered.
    static WATCHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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
pub fn set_rest_timer(env: &Env, arm: Function<f64, Unknown<'static>>) -> Result<()> {
    let arm = arm.create_ref()?;
    REST_TIMER.with(|timer| *timer.borrow_mut() = Some(arm));
    watch_env(env)
}

/// Calls the JavaScript function that sets the idle timer.
fn arm_rest_timer(env: &Env, delay: f64) -> Result<()> {
    REST_TIMER.with(|timer| match timer.borrow().as_ref() {
        Some(arm) => arm.borrow_back(env)?.call(delay).map(|_| ()),
        None => Ok(()),
    })
}

/// Rests this thread's sessions that have been idle for their `restAfter`.
/// Returns the milliseconds until the next sweep is due, or -1 when no
/// session that may keep states has a `restAfter` (the timer stops until
/// one works again).
#[napi(catch_unwind, js_name = "deflateSweep")]
pub fn deflate_sweep(env: &Env) -> f64 {
    SESSIONS.with(|sessions| {
        LIVE.with(|live| {
            let mut sessions = sessions.borrow_mut();
            let mut live = live.borrow_mut();
            let now = live.now();
            let mut delta = 0;
            let next = live
                .order
                .rest_idle(now, |id| rest_session(&mut sessions, id, &mut delta));
            report_to_v8(env, &mut live, delta);
            live.armed = next.is_some();
            next.map_or(-1.0, |ms| ms as f64)
        })
    })
}

/// Registers, once per environment, the hook that drops this thread's
/// deflate state when its environment ends (a worker_thread that exits or
/// is terminated): sessions (their codecs are freed, or released by the
/// worker that has them), the order, the idle timer and offload callbacks.
fn watch_env(env: &Env) -> Result<()> {
    if WATCHED.with(|w| w.replace(true)) {
        return Ok(());
    }
    env.add_env_cleanup_hook((), |()| end_of_env())?;
    Ok(())
}

fn end_of_env() {
    // Taken out first, dropped after: dropping runs no JavaScript, but keeps
    // no borrow across it.
    let sessions = SESSIONS.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let live = LIVE.with(|l| std::mem::take(&mut *l.borrow_mut()));
    let timer = REST_TIMER.with(|t| t.borrow_mut().take());
    let offload = OFFLOAD.with(|o| {
        let mut o = o.borrow_mut();
        o.in_flight = 0;
        (o.callback.take(), o.tsfn.take())
    });
    WATCHED.with(|w| w.set(false));
    drop((sessions, live, timer, offload));
}

fn add_totals(totals: &mut Totals, session: &Session) {
    let (out, inc) = session.stats();
    if let Some(out) = out {
        totals.compress_in += out.bytes_in as f64;
        totals.compress_out += out.bytes_out as f64;
    }
    if let Some(inc) = inc {
        totals.inflate_in += inc.bytes_in as f64;
        totals.inflate_out += inc.bytes_out as f64;
    }
}

/// This thread's permessage-deflate figures (`deflate.stats()`).
#[napi(object)]
pub struct DeflateStats {
    /// Sessions not yet collected.
    pub sessions: u32,
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
}

#[napi(catch_unwind, js_name = "deflateStats")]
pub fn deflate_stats() -> DeflateStats {
    let mut stats = DeflateStats {
        sessions: 0,
        process_sessions: sessions_alive() as u32,
        live_states: 0,
        live_state_bytes: 0.0,
        resting: 0,
        history_bytes: 0.0,
        working: 0,
        compress_in: 0.0,
        compress_out: 0.0,
        inflate_in: 0.0,
        inflate_out: 0.0,
        compress_ratio: 0.0,
        inflate_ratio: 0.0,
        worker_start_failures: offload::spawn_failures() as u32,
        worker_start_error: offload::spawn_error(),
    };
    let mut totals = LIVE.with(|live| live.borrow().retired);
    SESSIONS.with(|sessions| {
        for entry in sessions.borrow().iter() {
            stats.sessions += 1;
            let (out, inc) = entry.session.stats();
            for direction in [out, inc] {
                match direction {
                    Some(d) if d.live => {
                        stats.live_states += 1;
                        stats.live_state_bytes += d.state_bytes as f64;
                        stats.history_bytes += d.history_bytes as f64;
                    }
                    Some(d) => {
                        if d.history_bytes > 0 {
                            stats.resting += 1;
                        }
                        stats.history_bytes += d.history_bytes as f64;
                    }
                    None if entry.session.is_active() => stats.working += 1,
                    None => {}
                }
            }
            add_totals(&mut totals, &entry.session);
        }
    });
    stats.compress_in = totals.compress_in;
    stats.compress_out = totals.compress_out;
    stats.inflate_in = totals.inflate_in;
    stats.inflate_out = totals.inflate_out;
    if totals.compress_out > 0.0 {
        stats.compress_ratio = totals.compress_in / totals.compress_out;
    }
    if totals.inflate_in > 0.0 {
        stats.inflate_ratio = totals.inflate_out / totals.inflate_in;
    }
    stats
}

thread_local! {
    static SESSIONS: RefCell<Table<SessionEntry>> = RefCell::new(Table::default());
}

fn insert_session(session: Session) -> u32 {
    SESSIONS.with(|sessions| {
        sessions.borrow_mut().insert(SessionEntry {
            session,
            last_error: None,
            reported: 0,
        })
    })
}

/// Runs `f` on session `id`. No JavaScript runs meanwhile.
fn with_session<T>(id: u32, f: impl FnOnce(&mut SessionEntry) -> Result<T>) -> Result<T> {
    SESSIONS.with(|sessions| match sessions.borrow_mut().get_mut(id) {
        Some(entry) => f(entry),
        None => Err(Error::from_reason("no such permessage-deflate session")),
    })
}

impl SessionEntry {
    fn code<'env>(&mut self, code: i32, message: String) -> Data<'env> {
        self.last_error = Some(message);
        Either3::C(code)
    }

    /// What JavaScript gets for a message: its data, or a code. Small
    /// results are copied into a buffer V8 owns, which costs less than an
    /// external buffer with a finalizer; large ones are handed over without
    /// a copy.
    fn answer<'env, O>(
        &mut self,
        env: &'env Env,
        outcome: Option<Outcome<O>>,
        convert: fn(O) -> Wire,
    ) -> Result<Data<'env>> {
        Ok(match outcome {
            None => self.code(
                CODEC_INACTIVE,
                "permessage-deflate session is not active".into(),
            ),
            Some(Outcome::Queued) => Either3::C(CODEC_PENDING),
            Some(Outcome::Done(result)) => match convert(result) {
                Ok(out) if out.len() <= COPY_BELOW => {
                    Either3::A(BufferSlice::copy_from(env, &out)?)
                }
                Ok(out) => Either3::B(Buffer::from(out)),
                Err((code, message)) => self.code(code, message),
            },
        })
    }
}

/// The client's offer, as JSON params.
#[napi(catch_unwind, js_name = "deflateGenerateOffer")]
pub fn deflate_generate_offer(id: u32) -> Result<String> {
    with_session(id, |e| Ok(params_json(&e.session.offer())))
}

/// Applies the server's response (flat keys and values); false when it is
/// not acceptable.
#[napi(catch_unwind, js_name = "deflateActivate")]
pub fn deflate_activate(
    id: u32,
    keys: Vec<String>,
    values: Vec<Either3<bool, f64, String>>,
) -> Result<bool> {
    let count = keys.len() as u32;
    let response = params_from(keys, values, &[count]);
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

/// For the container's one-call server handshake (src/lib.rs): a server
/// session with configuration `config` for parameters already accepted from
/// an offer. The container keeps it until its first message
/// (`adopt_session`).
pub(crate) fn server_session(
    config: &DeflateConfig,
    accepted: Accepted,
    max_length: Option<f64>,
) -> Session {
    Session::server_accepted(config.clone(), accepted, max_len(max_length))
}

/// Puts a session the container kept since the handshake into this
/// thread's table; returns its number.
pub(crate) fn adopt_session(session: Session) -> u32 {
    insert_session(session)
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
    convert: fn(O) -> Wire,
    run: impl FnOnce(&Session, &mut dyn FnMut() -> Box<dyn FnOnce(O) + Send>) -> Option<Outcome<O>>,
) -> Result<Data<'env>> {
    with_session(id, |e| {
        let mut failed = None;
        let outcome = run(&e.session, &mut || {
            job_delivery(env, token, convert, &mut failed)
        });
        match failed {
            Some(error) => Err(error),
            None => e.answer(env, outcome, convert),
        }
    })
}

/// Compresses an outgoing message: its data, or a code (0: queued for a
/// worker, the result goes to the offload callback with `token`).
#[napi(
    catch_unwind,
    js_name = "deflateCompress",
    ts_args_type = "id: number, data: Uint8Array, token: number",
    ts_return_type = "Buffer | number"
)]
pub fn deflate_compress<'env>(
    env: &'env Env,
    id: u32,
    data: BufferSlice,
    token: f64,
) -> Result<Data<'env>> {
    if with_session(id, |e| Ok(e.session.sends_uncompressed(data.len())))? {
        return Ok(Either3::C(CODEC_UNCOMPRESSED));
    }
    let result = process(env, id, token, compressed, |session, deliver| {
        session.compress(&data, deliver)
    });
    if let Some(delay) = touch(env, id) {
        arm_rest_timer(env, delay)?;
    }
    result
}

/// Decompresses an incoming message, as `deflateCompress` does; codes 1 (too
/// large) and 2 (corrupt) are errors.
#[napi(
    catch_unwind,
    js_name = "deflateDecompress",
    ts_args_type = "id: number, data: Uint8Array, token: number",
    ts_return_type = "Buffer | number"
)]
pub fn deflate_decompress<'env>(
    env: &'env Env,
    id: u32,
    data: BufferSlice,
    token: f64,
) -> Result<Data<'env>> {
    let result = process(env, id, token, inflated, |session, deliver| {
        session.decompress(&data, deliver)
    });
    if let Some(delay) = touch(env, id) {
        arm_rest_timer(env, delay)?;
    }
    result
}

/// Frees the codecs, at once or when work in flight is done.
#[napi(catch_unwind, js_name = "deflateClose")]
pub fn deflate_close(env: &Env, id: u32) -> Result<()> {
    let delta = with_session(id, |e| {
        e.session.close();
        Ok(rereport(e))
    })?;
    forget_session(id);
    LIVE.with(|live| report_to_v8(env, &mut live.borrow_mut(), delta));
    Ok(())
}

/// Forgets a session whose JavaScript object was collected.
#[napi(catch_unwind, js_name = "deflateFree")]
pub fn deflate_free(env: &Env, id: u32) {
    SESSIONS.with(|sessions| {
        let entry = sessions.borrow_mut().take(id);
        if let Some(mut entry) = entry {
            entry.session.close();
            forget_session(id);
            LIVE.with(|live| {
                let mut live = live.borrow_mut();
                add_totals(&mut live.retired, &entry.session);
                let reported = entry.reported;
                report_to_v8(env, &mut live, -reported);
            });
        }
    });
}
