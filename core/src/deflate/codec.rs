//! One small type per direction over the zlib-rs engine: [`Compressor`] for
//! our messages, [`Decompressor`] for the peer's. This is the only file that
//! knows the engine.
//!
//! Message framing (RFC 7692 7.2): a message is compressed as raw DEFLATE
//! ending with a sync flush, whose trailing `00 00 ff ff` is removed; the
//! receiver appends it again before inflating.
//!
//! Window bits 8: zlib refuses a raw 256-byte window and compresses with 512
//! bytes instead. That is still safe for a peer holding 256: zlib never lets
//! a match reach back further than the window less 262 bytes
//! (`MAX_DIST = w_size - MIN_LOOKAHEAD`), 250 bytes for a 512-byte window. A
//! test decodes our 8-bit output with a strict 256-byte window at every level
//! and strategy, so a backend that broke this would be caught. We inflate a
//! peer held to 8 bits with 9, as permessage-deflate 0.1.7 does: zlib-based
//! peers compress with 9 then, and a larger window decodes a smaller one.

use super::config::Strategy;
use super::distance::{self, Refused};
use super::negotiate::SessionParams;
use std::collections::VecDeque;
use std::fmt;
use zlib_rs::{Deflate, DeflateFlush, Inflate, InflateFlush, Status};

/// Removed after compressing, appended before decompressing.
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// An empty non-final stored block, then one byte. Fed after the trailer, it
/// is read whole, without output, only if the message ended on a block
/// boundary; the last byte shows that the inflater stopped there.
const BOUNDARY_PROBE: [u8; 6] = [0x00, 0x00, 0x00, 0xff, 0xff, 0x00];

/// What the probe uses up when the message was complete.
const PROBE_BLOCK_LEN: u64 = 5;

/// An empty message: an empty stored block with the trailer removed
/// (RFC 7692 7.2.3.6).
const EMPTY_MESSAGE: u8 = 0x00;

/// The smallest raw window zlib takes; see the module comment for 8.
const MIN_ZLIB_WINDOW_BITS: u8 = 9;
const MAX_ZLIB_WINDOW_BITS: u8 = 15;

/// The first output buffer of a decompression, and the growth step beyond it.
const MIN_OUTPUT_CHUNK: usize = 256;
const MAX_FIRST_OUTPUT_CHUNK: usize = 64 * 1024;

/// zlib failed while compressing; not expected with a valid configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct CompressError(pub String);

impl fmt::Display for CompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "compression failed: {}", self.0)
    }
}

impl std::error::Error for CompressError {}

/// Why an incoming message could not be decompressed.
#[derive(Clone, Debug, PartialEq)]
pub enum InflateError {
    /// The message would decompress to more than `max_len` bytes.
    TooLarge,
    /// The data is not a valid compressed message; the text says why.
    Corrupt(String),
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InflateError::TooLarge => {
                f.write_str("decompressed message exceeds the maximum length")
            }
            InflateError::Corrupt(why) => write!(f, "invalid compressed message: {why}"),
        }
    }
}

impl std::error::Error for InflateError {}

fn zlib_strategy(strategy: Strategy) -> zlib_rs::Strategy {
    match strategy {
        Strategy::Default => zlib_rs::Strategy::Default,
        Strategy::Filtered => zlib_rs::Strategy::Filtered,
        Strategy::HuffmanOnly => zlib_rs::Strategy::HuffmanOnly,
        Strategy::Rle => zlib_rs::Strategy::Rle,
        Strategy::Fixed => zlib_rs::Strategy::Fixed,
    }
}

/// The last bytes of a stream (at most a window's worth): what a state
/// resting between messages keeps, to be primed with again. A ring of at
/// most the window, in length and capacity alike (so a resting session
/// holds no more): a message adds its bytes and drops as many of the
/// oldest, so neither a session that keeps sending nor one that rests after
/// every message moves or reallocates its history per message (issue 17:
/// trimming and shrinking a plain vector at every rest cost a reallocation
/// per message). Priming makes it contiguous first.
#[derive(Default)]
struct History {
    bytes: VecDeque<u8>,
}

impl History {
    fn push(&mut self, data: &[u8], window: usize) {
        let data = &data[data.len().saturating_sub(window)..];
        let total = self.bytes.len() + data.len();
        if total > window {
            self.bytes.drain(..total - window);
        }
        let needed = self.bytes.len() + data.len();
        if needed > self.bytes.capacity() {
            // By half, up to the window and no further.
            let grown = needed
                .max(self.bytes.capacity() + self.bytes.capacity() / 2)
                .min(window);
            self.bytes.reserve_exact(grown - self.bytes.len());
        }
        self.bytes.extend(data);
    }

    /// All of it, contiguous: at most the window, as `push` keeps it.
    fn contiguous(&mut self) -> &[u8] {
        self.bytes.make_contiguous()
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    fn clear(&mut self) {
        self.bytes = VecDeque::new();
    }

    fn held(&self) -> usize {
        self.bytes.capacity()
    }
}

/// States given back by resting sessions, per thread, to be primed again by
/// the next session that wakes up: a few, since making one costs more than
/// priming it (fresh pages), but each is large.
const POOLED_STATES: usize = 4;

/// A compression state and the configuration it was made with: the
/// session's, but with the memLevel [`fitted`] chose.
type State = (zlib_rs::DeflateConfig, Deflate);

// The thread-locals of the codec: the pools of states given back, and the
// scratch compressors (below). Their destructors drop zlib states and touch
// nothing else; every access goes through `try_with` and `try_borrow_mut`,
// so a session dropped while its thread's locals are being destroyed (a
// process ending by exit(), whose thread-local destructors run in an order
// nobody chose) frees its state instead of pooling it, and never panics.
thread_local! {
    static DEFLATE_POOL: std::cell::RefCell<Vec<State>> =
        const { std::cell::RefCell::new(Vec::new()) };
    static INFLATE_POOL: std::cell::RefCell<Vec<Inflate>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// zlib's smallest memLevel.
const MIN_MEM_LEVEL: i32 = 1;

/// zlib-rs keeps a block's symbols in a buffer of `1 << (memLevel + 6)`
/// entries and zeroes all of it (3 bytes an entry, 48 KiB at memLevel 8)
/// whenever a block starts: at every reset and after every message's flush.
/// Its hash table does not depend on memLevel, so the buffer's size only
/// decides where a long message's blocks end. A message that fits in one
/// block of a smaller buffer (a symbol per byte at most, and the buffer ends
/// a block one entry before it is full) compresses to the same bytes with
/// it, for a fraction of the clearing (`a_state_fitted_to_the_message_
/// compresses_to_the_same_bytes` compares them at every level, strategy and
/// boundary).
///
/// So a state is made with the smallest memLevel, up to the session's, whose
/// buffer holds `len` symbols and two more (one more is the boundary: the
/// test fails with none). Not at level 0: zlib may size stored blocks by
/// the pending buffer, which memLevel also sizes.
fn fitted(config: zlib_rs::DeflateConfig, len: usize) -> zlib_rs::DeflateConfig {
    if config.level == 0 {
        return config;
    }
    let mut mem_level = MIN_MEM_LEVEL;
    while mem_level < config.mem_level && !holds(mem_level, len) {
        mem_level += 1;
    }
    zlib_rs::DeflateConfig {
        mem_level,
        ..config
    }
}

/// Whether a block of a state with `mem_level` holds a message of `len`
/// bytes whole: see [`fitted`].
fn holds(mem_level: i32, len: usize) -> bool {
    (1usize << (mem_level + 6)) >= len.saturating_add(2)
}

/// Whether `state` compresses a message of `len` bytes to the bytes that the
/// state [`fitted`] chose for it (`needed`) would: the same state, or one
/// with the same parameters and a larger buffer when the message fits in
/// one block of either (a session's memLevel caps what `fitted` chooses, so
/// at that cap the message may not fit, and only the same memLevel ends its
/// blocks in the same places).
fn serves(state: &zlib_rs::DeflateConfig, needed: &zlib_rs::DeflateConfig, len: usize) -> bool {
    state == needed
        || (state.mem_level > needed.mem_level
            && needed.level != 0
            && holds(needed.mem_level, len)
            && zlib_rs::DeflateConfig {
                mem_level: needed.mem_level,
                ..*state
            } == *needed)
}

/// Of `states`, the smallest that serves `needed` for `len` bytes.
fn smallest_serving(
    states: &[State],
    needed: &zlib_rs::DeflateConfig,
    len: usize,
) -> Option<usize> {
    states
        .iter()
        .enumerate()
        .filter(|(_, (c, _))| serves(c, needed, len))
        .min_by_key(|(_, (c, _))| c.mem_level)
        .map(|(i, _)| i)
}

/// A state serving `needed` for a message of `len` bytes (see [`serves`]),
/// reset, from the pool or new.
fn take_deflate(needed: zlib_rs::DeflateConfig, len: usize) -> State {
    DEFLATE_POOL
        .try_with(|pool| {
            let mut pool = pool.try_borrow_mut().ok()?;
            let found = smallest_serving(&pool, &needed, len)?;
            let (config, mut deflate) = pool.swap_remove(found);
            deflate.reset();
            Some((config, deflate))
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| (needed, Deflate::new_with_config(needed)))
}

fn give_deflate(state: State) {
    // When the pool cannot be had, the state is dropped here.
    let _ = DEFLATE_POOL.try_with(move |pool| {
        if let Ok(mut pool) = pool.try_borrow_mut() {
            if pool.len() >= POOLED_STATES {
                pool.remove(0);
            }
            pool.push(state);
        }
    });
}

/// zlib-rs resets an inflater to its default window (15 bits), so only
/// those are pooled.
fn take_inflate(window_bits: u8) -> Inflate {
    if window_bits == MAX_ZLIB_WINDOW_BITS {
        let pooled = INFLATE_POOL
            .try_with(|pool| pool.try_borrow_mut().ok()?.pop())
            .ok()
            .flatten();
        if let Some(inflate) = pooled {
            return inflate;
        }
    }
    Inflate::new(false, window_bits)
}

fn give_inflate(window_bits: u8, mut inflate: Inflate) {
    if window_bits != MAX_ZLIB_WINDOW_BITS {
        return;
    }
    inflate.reset(false);
    let _ = INFLATE_POOL.try_with(move |pool| {
        if let Ok(mut pool) = pool.try_borrow_mut() {
            if pool.len() < POOLED_STATES {
                pool.push(inflate);
            }
        }
    });
}

/// Takes what a thread-local holds out of it, if it can be had (not in use,
/// not destroyed).
fn take_local<T: Default + 'static>(
    key: &'static std::thread::LocalKey<std::cell::RefCell<T>>,
) -> Option<T> {
    key.try_with(|cell| {
        cell.try_borrow_mut()
            .map(|mut v| std::mem::take(&mut *v))
            .ok()
    })
    .ok()
    .flatten()
}

/// Frees this thread's pooled and scratch states now, rather than when the
/// thread ends: the binding calls it as the JavaScript environment that
/// used them ends, after its sessions are gone. Later use makes new ones.
pub fn free_thread_states() {
    let deflates = take_local(&DEFLATE_POOL);
    let inflates = take_local(&INFLATE_POOL);
    let scratch = take_local(&SCRATCH);
    drop((deflates, inflates, scratch));
    super::shared::free();
}

/// How many states this thread keeps pooled or as scratch (tests).
pub fn thread_states_kept() -> usize {
    let pooled = DEFLATE_POOL.try_with(|p| p.borrow().len()).unwrap_or(0)
        + INFLATE_POOL.try_with(|p| p.borrow().len()).unwrap_or(0);
    let scratch = SCRATCH.try_with(|s| s.borrow().len()).unwrap_or(0);
    pooled + scratch
}

/// zlib's documented memory use of a compressor: `(1 << (windowBits + 2)) +
/// (1 << (memLevel + 9))`.
fn deflate_state_bytes(window_bits: u8, mem_level: i32) -> usize {
    (1usize << (window_bits + 2)) + (1usize << (mem_level.clamp(1, 9) + 9))
}

/// zlib's documented memory use of a decompressor: the window and about 7 KiB.
fn inflate_state_bytes(window_bits: u8) -> usize {
    (1usize << window_bits) + 7 * 1024
}

/// Bytes in and out of one direction, and what it holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodecStats {
    /// Bytes given to the codec (plaintext for a compressor).
    pub bytes_in: u64,
    /// Bytes it returned.
    pub bytes_out: u64,
    /// Whether it owns a zlib state now.
    pub live: bool,
    /// Bytes of zlib state it owns (zlib's formula), 0 when resting.
    pub state_bytes: usize,
    /// Bytes of history it keeps.
    pub history_bytes: usize,
}

// How much a resting compressor keeps of what it sent, to prime its next
// state with, is the `restHistory` option (default
// `config::DEFAULT_REST_HISTORY`, 8 KiB; issue 17: a cold message should
// cost close to a hot one). Priming hashes every byte it is given, so a full
// 32 KiB window made each wake-up cost several times the message; the peer's
// decompressor still keeps its whole window, and a compressor may refer to
// less of it than it could, so the stream stays valid, losing only matches
// further back than this across a rest. bench/HISTORY.md has the
// measurements.

/// How much of the `kept` bytes of history a waking compressor primes its
/// state with for a message of `message` bytes: at least half of its
/// `restHistory`, and all of it for messages of a sixteenth of it or more
/// (512 B at the default 8 KiB).
///
/// Priming costs about a nanosecond per byte (zlib-rs hashes every byte
/// into a 128 KiB table), whatever the message; what the farther half of
/// the history gains is about 6-8% of the message's compressed size
/// (core/examples/cold_cost.rs), so a few bytes for a small message. A
/// suffix of what the peer holds is a valid dictionary: the compressor only
/// refers to less of the window than it could.
fn prime_len(kept: usize, rest_history: usize, message: usize) -> usize {
    kept.min((rest_history / 2).max(message.saturating_mul(PRIME_PER_MESSAGE_BYTE)))
}

/// See [`prime_len`].
const PRIME_PER_MESSAGE_BYTE: usize = 16;

/// Compresses our outgoing messages.
///
/// zlib's compression state is large (about 260 KiB with a 15-bit window and
/// memLevel 8) and costs more to set up than a small message costs to
/// compress. So a session owns a state only while it works:
/// - without context takeover, every message is compressed with a per-thread
///   scratch state, reset after each use, and the session never owns one;
/// - with context takeover, the first message also uses the scratch state,
///   and the session keeps the plaintext it sent (the last window's worth,
///   which is what the peer's window holds). On the next message it takes a
///   state from the thread's pool (or makes one) primed with that plaintext
///   as the dictionary, so the stream the peer receives is the same kind it
///   would have got otherwise. [`Compressor::rest`] gives the state back
///   and keeps only that history again.
///
/// A connection that is not sending therefore costs its history (a few KiB
/// up to the window), not a quarter of a MiB.
pub struct Compressor {
    config: zlib_rs::DeflateConfig,
    context_takeover: bool,
    /// The session's own state while it works (context takeover only), made
    /// for the message that woke it (see [`fitted`]); given back by
    /// [`Compressor::rest`], dropped on errors.
    deflate: Option<State>,
    /// With context takeover: the last window's worth of what we sent.
    history: History,
    /// Whether the current stream has sent anything (context takeover).
    started: bool,
    /// At most how much of what it sent it keeps to prime with
    /// (`restHistory`).
    rest_history: usize,
    bytes_in: u64,
    bytes_out: u64,
}

/// Scratch states a thread keeps: one for the small messages and one for the
/// large, so that a mix of both does not make a state per message.
const SCRATCH_STATES: usize = 2;

thread_local! {
    // The scratch states of a thread (the JavaScript thread and each worker),
    // for the configurations last used there, the most recently used last.
    static SCRATCH: std::cell::RefCell<Vec<State>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Compresses one message with the thread's scratch state, as a stream of
/// its own (it refers to nothing sent before).
fn compress_with_scratch(
    config: zlib_rs::DeflateConfig,
    input: &[u8],
) -> Result<Vec<u8>, CompressError> {
    // A message compressed as a stream of its own compresses to the same
    // bytes for every session with these parameters (shared.rs).
    super::shared::compressed_once(config, input, || compress_alone(config, input))
}

/// Compresses one message with a scratch state of the thread's, for
/// [`compress_with_scratch`].
fn compress_alone(config: zlib_rs::DeflateConfig, input: &[u8]) -> Result<Vec<u8>, CompressError> {
    let needed = fitted(config, input.len());
    let scratch = |states: &mut Vec<State>| {
        let (state_config, mut deflate) = match smallest_serving(states, &needed, input.len()) {
            Some(found) => states.remove(found),
            None => (needed, Deflate::new_with_config(needed)),
        };
        let result = deflate_message(&mut deflate, input);
        if result.is_ok() {
            deflate.reset();
            if states.len() >= SCRATCH_STATES {
                states.remove(0);
            }
            states.push((state_config, deflate));
        }
        result
    };
    // Without the thread's scratch states (the thread is ending), with a
    // state of its own.
    SCRATCH
        .try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut states) => scratch(&mut states),
            Err(_) => scratch(&mut Vec::new()),
        })
        .unwrap_or_else(|_| scratch(&mut Vec::new()))
}

impl Compressor {
    /// The compressor of our outgoing direction; zlib state is allocated
    /// with the first message.
    pub fn new(params: &SessionParams) -> Compressor {
        let window_bits = params
            .outgoing
            .window_bits
            .clamp(MIN_ZLIB_WINDOW_BITS, MAX_ZLIB_WINDOW_BITS);
        Compressor {
            config: zlib_rs::DeflateConfig {
                level: params.level.clamp(-1, 9),
                method: zlib_rs::Method::Deflated,
                // Negative: raw DEFLATE, no zlib header.
                window_bits: -i32::from(window_bits),
                mem_level: params.mem_level.clamp(1, 9),
                strategy: zlib_strategy(params.strategy),
            },
            context_takeover: params.outgoing.context_takeover,
            deflate: None,
            history: History::default(),
            started: false,
            rest_history: super::config::DEFAULT_REST_HISTORY,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// The compressor keeping at most `bytes` of what it sent to prime its
    /// next state with after a rest (`restHistory`).
    pub fn with_rest_history(mut self, bytes: usize) -> Compressor {
        self.rest_history = bytes;
        self
    }

    /// How much of what it sent the compressor keeps to prime its next
    /// state with: its window, up to its `restHistory`.
    fn window_size(&self) -> usize {
        (1usize << self.config.window_bits.unsigned_abs()).min(self.rest_history)
    }

    /// Compresses one whole message.
    pub fn compress(&mut self, input: &[u8]) -> Result<Vec<u8>, CompressError> {
        let out = self.compress_message(input)?;
        self.bytes_in += input.len() as u64;
        self.bytes_out += out.len() as u64;
        Ok(out)
    }

    fn compress_message(&mut self, input: &[u8]) -> Result<Vec<u8>, CompressError> {
        let config = self.config;
        if !self.context_takeover {
            return compress_with_scratch(config, input);
        }
        let window = self.window_size();
        if !self.started {
            let out = compress_with_scratch(config, input)?;
            self.started = true;
            self.history.push(input, window);
            return Ok(out);
        }
        let needed = fitted(config, input.len());
        // A live state made for smaller messages than this one goes back and
        // a larger one is primed instead, as after a rest.
        if let Some(state) = self
            .deflate
            .take_if(|(c, _)| !serves(c, &needed, input.len()))
        {
            give_deflate(state);
        }
        if self.deflate.is_none() {
            let mut state = take_deflate(needed, input.len());
            if self.history.len() > 0 {
                let history = self.history.contiguous();
                let primed = &history
                    [history.len() - prime_len(history.len(), self.rest_history, input.len())..];
                if let Err(e) = state.1.set_dictionary(primed) {
                    self.forget();
                    return Err(CompressError(format!(
                        "cannot prime the compressor: {}",
                        e.as_str()
                    )));
                }
            }
            self.deflate = Some(state);
        }
        let Some((_, deflate)) = self.deflate.as_mut() else {
            return Err(CompressError("no compression state".to_string()));
        };
        match deflate_message(deflate, input) {
            Ok(out) => {
                self.history.push(input, window);
                Ok(out)
            }
            Err(e) => {
                // A fresh stream needs nothing from the lost one, so the peer
                // can still decode what we send next.
                self.forget();
                Err(e)
            }
        }
    }

    fn forget(&mut self) {
        self.deflate = None;
        self.history.clear();
        self.started = false;
    }

    /// Gives the zlib state back to the thread's pool and keeps only the
    /// history it is primed with again on the next message: the peer sees
    /// one unbroken stream.
    pub fn rest(&mut self) {
        if let Some(state) = self.deflate.take() {
            give_deflate(state);
        }
    }

    /// Frees the zlib state and the kept plaintext; the next message starts
    /// a new stream, which the peer decodes whether or not it keeps its
    /// context.
    pub fn release(&mut self) {
        if let Some(state) = self.deflate.take() {
            give_deflate(state);
        }
        self.history.clear();
        self.started = false;
    }

    /// This direction's byte counts and held memory.
    pub fn stats(&self) -> CodecStats {
        CodecStats {
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            live: self.deflate.is_some(),
            state_bytes: self.deflate.as_ref().map_or(0, |(c, _)| {
                deflate_state_bytes(c.window_bits.unsigned_abs() as u8, c.mem_level)
            }),
            history_bytes: self.history.held(),
        }
    }
}

fn deflate_message(deflate: &mut Deflate, input: &[u8]) -> Result<Vec<u8>, CompressError> {
    let first = zlib_rs::compress_bound(input.len()).clamp(64, MAX_FIRST_OUTPUT_CHUNK);
    let mut out = Vec::with_capacity(first);
    let mut rest = input;
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        }
        let filled = out.len();
        out.resize(out.capacity(), 0);
        let room = out.len() - filled;
        let (in_before, out_before) = (deflate.total_in(), deflate.total_out());
        let result = deflate.compress(rest, &mut out[filled..], DeflateFlush::SyncFlush);
        let consumed = (deflate.total_in() - in_before) as usize;
        let produced = (deflate.total_out() - out_before) as usize;
        out.truncate(filled + produced);
        rest = &rest[consumed..];
        if let Err(e) = result {
            return Err(CompressError(
                deflate.error_message().unwrap_or(e.as_str()).to_string(),
            ));
        }
        // The flush is complete once all input is taken and zlib stopped
        // short of filling the buffer.
        if rest.is_empty() && produced < room {
            break;
        }
    }
    if out.ends_with(&TRAILER) {
        out.truncate(out.len() - TRAILER.len());
    } else if !out.is_empty() {
        return Err(CompressError(
            "sync flush did not end with an empty stored block".to_string(),
        ));
    }
    // zlib writes nothing for an empty message right after a flush.
    if out.is_empty() {
        out.push(EMPTY_MESSAGE);
    }
    Ok(out)
}

/// Decompresses the peer's messages.
///
/// With context takeover it keeps the last window's worth of what it
/// inflated, so that [`Decompressor::rest`] can give the zlib state back
/// between messages; the next message takes a state from the thread's pool
/// (or makes one) and primes its window with that history.
pub struct Decompressor {
    window_bits: u8,
    context_takeover: bool,
    /// Made on first use; given back by [`Decompressor::rest`], dropped by
    /// [`Decompressor::release`], on errors and after a final block.
    inflate: Option<Inflate>,
    /// The peer's context is gone (an error, or a release) while the peer
    /// still refers to it: every later message fails.
    context_lost: bool,
    /// Resting: the stream goes on from `history` when the next message
    /// comes.
    resting: bool,
    /// With context takeover: the last window's worth of what we inflated.
    history: History,
    /// Bytes inflated since the current stream started (saturating): the
    /// most history any match can have reached.
    stream_len: usize,
    bytes_in: u64,
    bytes_out: u64,
}

impl Decompressor {
    /// The decompressor of our incoming direction; zlib state is allocated
    /// with the first message.
    pub fn new(params: &SessionParams) -> Decompressor {
        Decompressor {
            window_bits: params
                .incoming
                .window_bits
                .clamp(MIN_ZLIB_WINDOW_BITS, MAX_ZLIB_WINDOW_BITS),
            context_takeover: params.incoming.context_takeover,
            inflate: None,
            context_lost: false,
            resting: false,
            history: History::default(),
            stream_len: 0,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    fn window_size(&self) -> usize {
        1 << self.window_bits
    }

    /// Decompresses one whole message, failing with `TooLarge` as soon as the
    /// output would exceed `max_len`: memory stays within `max_len` plus
    /// zlib's state, whatever the input. After an error the context is gone,
    /// so with context takeover every later message fails too.
    pub fn decompress(
        &mut self,
        input: &[u8],
        max_len: Option<usize>,
    ) -> Result<Vec<u8>, InflateError> {
        if self.context_lost {
            return Err(InflateError::Corrupt(
                "the decompression context was lost earlier".to_string(),
            ));
        }
        // Not valid DEFLATE, but zlib-based senders (permessage-deflate 0.1.7
        // among them) send it for an empty message after a flush.
        if input.is_empty() {
            return Ok(Vec::new());
        }
        self.bytes_in += input.len() as u64;
        let window_bits = self.window_bits;
        if self.inflate.is_none() {
            let mut inflate = take_inflate(window_bits);
            if std::mem::take(&mut self.resting) {
                if self.history.len() > 0 {
                    if let Err(e) = inflate.set_dictionary(self.history.contiguous()) {
                        self.context_lost = true;
                        return Err(corrupt(&inflate, e));
                    }
                }
            } else {
                self.stream_len = 0;
                self.history.clear();
            }
            self.inflate = Some(inflate);
        }
        let Some(inflate) = self.inflate.as_mut() else {
            return Err(InflateError::Corrupt("no decompression state".to_string()));
        };
        let result = inflate_message(inflate, input, max_len).and_then(|done| {
            self.check_window(input, done.0.len())?;
            Ok(done)
        });
        match result {
            Ok((out, Ended::AtBoundary)) => {
                if self.context_takeover {
                    self.history.push(&out, self.window_size());
                } else {
                    self.reset();
                }
                self.bytes_out += out.len() as u64;
                Ok(out)
            }
            Ok((out, Ended::FinalBlock)) => {
                // A final block ends the stream; the next message starts one.
                if let Some(inflate) = self.inflate.take() {
                    give_inflate(window_bits, inflate);
                }
                self.history.clear();
                self.bytes_out += out.len() as u64;
                Ok(out)
            }
            Err(e) => {
                self.inflate = None;
                self.history.clear();
                self.context_lost = self.context_takeover;
                Err(e)
            }
        }
    }

    /// Refuses a message that reaches farther back than the window we
    /// negotiated for the peer, which zlib-rs does not check (see
    /// `distance.rs`). Exact: every match of the message is read. A peer held
    /// to 8 bits is checked against 9, as it is inflated with 9.
    fn check_window(&mut self, input: &[u8], inflated: usize) -> Result<(), InflateError> {
        let reach = self.stream_len.saturating_add(inflated);
        self.stream_len = reach;
        let window = 1usize << self.window_bits;
        // zlib refuses any match farther back than everything inflated so
        // far, so a stream no longer than the window needs no reading.
        if self.window_bits >= MAX_ZLIB_WINDOW_BITS || reach <= window {
            return Ok(());
        }
        distance::check(input, &TRAILER, window).map_err(|refused| {
            InflateError::Corrupt(match refused {
                Refused::TooFar(_) => format!("distance too far back for a {window}-byte window"),
                Refused::Unreadable(why) => why.to_string(),
            })
        })
    }

    /// Gives the zlib state back to the thread's pool between messages. With
    /// context takeover the stream goes on from the kept history when the
    /// next message comes; without it nothing is kept.
    pub fn rest(&mut self) {
        if let Some(inflate) = self.inflate.take() {
            give_inflate(self.window_bits, inflate);
            if self.context_takeover {
                self.resting = true;
            }
        }
    }

    /// Frees the zlib state. With context takeover the peer's context goes
    /// with it, so this is for closing: later messages fail.
    pub fn release(&mut self) {
        let had_stream = self.inflate.take().is_some() || self.resting;
        if had_stream && self.context_takeover {
            self.context_lost = true;
        }
        self.resting = false;
        self.history.clear();
    }

    /// This direction's byte counts and held memory.
    pub fn stats(&self) -> CodecStats {
        CodecStats {
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            live: self.inflate.is_some(),
            state_bytes: if self.inflate.is_some() {
                inflate_state_bytes(self.window_bits)
            } else {
                0
            },
            history_bytes: self.history.held(),
        }
    }

    fn reset(&mut self) {
        self.stream_len = 0;
        // zlib-rs resets to its default window, so only that one is reused.
        match &mut self.inflate {
            Some(inflate) if self.window_bits == MAX_ZLIB_WINDOW_BITS => inflate.reset(false),
            _ => self.inflate = None,
        }
    }
}

enum Ended {
    AtBoundary,
    FinalBlock,
}

fn corrupt(inflate: &Inflate, error: zlib_rs::InflateError) -> InflateError {
    InflateError::Corrupt(
        inflate
            .error_message()
            .unwrap_or(error.as_str())
            .to_string(),
    )
}

fn inflate_message(
    inflate: &mut Inflate,
    input: &[u8],
    max_len: Option<usize>,
) -> Result<(Vec<u8>, Ended), InflateError> {
    // One byte more than allowed: reaching it is what proves "too large".
    let limit = max_len.map_or(usize::MAX, |m| m.saturating_add(1));
    let first = input
        .len()
        .saturating_mul(4)
        .clamp(MIN_OUTPUT_CHUNK, MAX_FIRST_OUTPUT_CHUNK)
        .min(limit);
    let mut out = Vec::new();
    out.try_reserve_exact(first)
        .map_err(|_| InflateError::TooLarge)?;
    for (index, part) in [input, &TRAILER[..]].into_iter().enumerate() {
        if let Some(left) = feed(inflate, part, &mut out, limit)? {
            // After a final block the stream is over. What may follow it in
            // the message is nothing, or the one byte RFC 7692 7.2.3.4 shows:
            // the header of an empty stored block that the trailer we
            // appended completes. Anything else would be data we drop
            // unread, so it is an error.
            let rest = &part[part.len() - left..];
            if index == 0 && !rest.is_empty() && rest != [EMPTY_MESSAGE] {
                return Err(InflateError::Corrupt(
                    "data follows the end of the compressed stream".to_string(),
                ));
            }
            return Ok((out, Ended::FinalBlock));
        }
    }
    let before = inflate.total_in();
    let result = inflate.decompress(&BOUNDARY_PROBE, &mut [], InflateFlush::Block);
    if result == Ok(Status::Ok) && inflate.total_in() - before == PROBE_BLOCK_LEN {
        Ok((out, Ended::AtBoundary))
    } else {
        Err(InflateError::Corrupt(
            "message is truncated: it does not end on a block boundary".to_string(),
        ))
    }
}

/// How much to add to a full output buffer of `len` bytes: double it, but
/// never past `limit`, and go straight to `limit` rather than leave a small
/// last step, so that the buffer moves at most once at its largest.
fn growth(len: usize, limit: usize) -> usize {
    let doubled = len.saturating_mul(2).max(MIN_OUTPUT_CHUNK);
    let target = if limit - doubled.min(limit) < len {
        limit
    } else {
        doubled
    };
    target - len
}

/// Inflates all of `part` into `out`, never letting `out` reach `limit`
/// bytes. Returns `None`, or, when the stream ended with a final block, how
/// many bytes of `part` were left after it.
fn feed(
    inflate: &mut Inflate,
    mut part: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<Option<usize>, InflateError> {
    loop {
        if out.len() >= limit {
            return Err(InflateError::TooLarge);
        }
        if out.len() == out.capacity() {
            out.try_reserve_exact(growth(out.len(), limit))
                .map_err(|_| InflateError::TooLarge)?;
        }
        let filled = out.len();
        let room = out.capacity().min(limit) - filled;
        out.resize(filled + room, 0);
        let (in_before, out_before) = (inflate.total_in(), inflate.total_out());
        let result = inflate.decompress(part, &mut out[filled..], InflateFlush::SyncFlush);
        let consumed = (inflate.total_in() - in_before) as usize;
        let produced = (inflate.total_out() - out_before) as usize;
        out.truncate(filled + produced);
        part = &part[consumed..];
        if let Err(e) = result {
            return Err(corrupt(inflate, e));
        }
        // Checked before the end of the stream too: a final block that
        // fills the buffer to `limit` is one byte too many.
        if out.len() >= limit {
            return Err(InflateError::TooLarge);
        }
        if result == Ok(Status::StreamEnd) {
            return Ok(Some(part.len()));
        }
        if part.is_empty() && produced < room {
            return Ok(None);
        }
        if consumed == 0 && produced == 0 {
            return Err(InflateError::Corrupt(
                "inflate made no progress".to_string(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::puff;
    use crate::test_support::{json_like, random_bytes, session_params};
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
    use proptest::prelude::{
        any, prop_assert, prop_assert_eq, prop_oneof, proptest, Strategy as _,
    };

    const SIZES: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 1 << 20];

    /// Inflates like a plain zlib peer: flate2, raw, with `window_bits`.
    fn peer_inflate(peer: &mut Decompress, message: &[u8]) -> Vec<u8> {
        let mut input = message.to_vec();
        input.extend_from_slice(&TRAILER);
        let mut out = Vec::with_capacity(1024);
        let mut pos = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            }
            let room = out.capacity() - out.len();
            let before = (peer.total_in(), out.len());
            peer.decompress_vec(&input[pos..], &mut out, FlushDecompress::Sync)
                .expect("the peer decodes our message");
            pos += (peer.total_in() - before.0) as usize;
            if pos == input.len() && out.len() - before.1 < room {
                return out;
            }
        }
    }

    /// The farthest match distance over `messages`, decoded in one context
    /// (or each alone) by an independent decoder.
    fn farthest_match(messages: &[Vec<u8>], takeover: bool, expected: &[u8]) -> usize {
        let mut history = Vec::new();
        let mut farthest = 0;
        for message in messages {
            if !takeover {
                history.clear();
            }
            let start = history.len();
            farthest = farthest.max(puff::farthest_match(message, &mut history).unwrap());
            assert!(history[start..] == *expected);
        }
        farthest
    }

    /// Random blocks of `len` bytes, each sent twice in a row, so that the
    /// repeats lie `len` bytes back.
    fn repeats(len: usize, count: u64) -> Vec<u8> {
        (0..count)
            .flat_map(|i| {
                let block = random_bytes(len, i + 1);
                [block.clone(), block].concat()
            })
            .collect()
    }

    #[test]
    fn round_trips_every_size_window_and_context_mode() {
        for window_bits in 9..=15 {
            for takeover in [true, false] {
                let params = session_params(window_bits, takeover);
                let mut compressor = Compressor::new(&params);
                let mut decompressor = Decompressor::new(&params);
                let mut peer = Decompress::new_with_window_bits(false, window_bits);
                for (i, &size) in SIZES.iter().enumerate() {
                    for input in [random_bytes(size, i as u64 + 7), json_like(size, 0)] {
                        // Twice, so that the second one can refer to the first.
                        for _ in 0..2 {
                            let message = compressor.compress(&input).unwrap();
                            let ours = decompressor.decompress(&message, None).unwrap();
                            assert!(ours == input, "{window_bits} {takeover} {size}");
                            if !takeover {
                                peer = Decompress::new_with_window_bits(false, window_bits);
                            }
                            assert!(peer_inflate(&mut peer, &message) == input);
                        }
                    }
                }
            }
        }
    }

    /// Repeats at distances around every window size, then JSON.
    fn far_and_near_repeats() -> Vec<u8> {
        [
            100, 250, 256, 300, 511, 1000, 2000, 4000, 8000, 16000, 32000,
        ]
        .iter()
        .flat_map(|&len| repeats(len, 2))
        .chain(json_like(20_000, 0))
        .collect()
    }

    #[test]
    fn our_matches_stay_within_the_window() {
        let input = far_and_near_repeats();
        for window_bits in 9..=15u8 {
            for takeover in [true, false] {
                for level in [1, 6, 9] {
                    let params = SessionParams {
                        level,
                        ..session_params(window_bits, takeover)
                    };
                    let mut compressor = Compressor::new(&params);
                    let messages: Vec<Vec<u8>> = (0..2)
                        .map(|_| compressor.compress(&input).unwrap())
                        .collect();
                    let farthest = farthest_match(&messages, takeover, &input);
                    let window = 1 << window_bits;
                    assert!(farthest <= window, "{window_bits} {level}: {farthest}");
                    // zlib's limit is the window less 262 bytes.
                    assert!(farthest > window / 3, "the data reaches across the window");
                }
            }
        }
    }

    #[test]
    fn context_takeover_lets_a_repeated_message_shrink() {
        let input = json_like(2000, 0);
        let mut with = Compressor::new(&session_params(15, true));
        let mut without = Compressor::new(&session_params(15, false));
        let (first, second) = (
            with.compress(&input).unwrap(),
            with.compress(&input).unwrap(),
        );
        assert!(second.len() * 4 < first.len());
        let (first, second) = (
            without.compress(&input).unwrap(),
            without.compress(&input).unwrap(),
        );
        assert_eq!(first, second, "each message stands alone");
    }

    #[test]
    fn an_empty_message_is_a_single_zero_byte() {
        for takeover in [true, false] {
            let params = session_params(15, takeover);
            let mut compressor = Compressor::new(&params);
            let mut decompressor = Decompressor::new(&params);
            for input in [&b""[..], b"abc", b"", b"", b"abc"] {
                let message = compressor.compress(input).unwrap();
                if input.is_empty() {
                    assert_eq!(message, [0x00]);
                }
                assert_eq!(decompressor.decompress(&message, None).unwrap(), input);
            }
        }
    }

    #[test]
    fn an_empty_payload_decompresses_to_an_empty_message() {
        let mut decompressor = Decompressor::new(&session_params(15, true));
        assert_eq!(decompressor.decompress(&[], None).unwrap(), b"");
        assert_eq!(decompressor.decompress(&[], Some(0)).unwrap(), b"");
        let mut compressor = Compressor::new(&session_params(15, true));
        let message = compressor.compress(b"hello").unwrap();
        assert_eq!(decompressor.decompress(&message, None).unwrap(), b"hello");
    }

    #[test]
    fn zlib_rs_inflate_takes_8_window_bits_and_keeps_32_kib_of_history() {
        // Raw streams are accepted with 8 bits, but the window is not
        // enforced: a match 20 000 bytes back still decodes.
        let input = repeats(20_000, 1);
        let mut wide = Compressor::new(&session_params(15, true));
        let message = [wide.compress(&input).unwrap(), TRAILER.to_vec()].concat();
        let mut inflate = Inflate::new(false, 8);
        let mut out = vec![0u8; input.len() + 1];
        let status = inflate.decompress(&message, &mut out, InflateFlush::SyncFlush);
        assert_eq!(status, Ok(Status::Ok));
        assert!(out[..inflate.total_out() as usize] == input[..]);
    }

    #[test]
    fn a_peer_holding_8_bits_can_decode_what_we_send() {
        let input: Vec<u8> = [100, 250, 256, 300, 511]
            .iter()
            .flat_map(|&len| repeats(len, 4))
            .chain(json_like(5000, 0))
            .collect();
        for level in -1..=9 {
            for strategy in [
                Strategy::Default,
                Strategy::Filtered,
                Strategy::HuffmanOnly,
                Strategy::Rle,
                Strategy::Fixed,
            ] {
                for (mem_level, takeover) in [(1, true), (8, false), (9, true)] {
                    let params = SessionParams {
                        level,
                        mem_level,
                        strategy,
                        ..session_params(8, takeover)
                    };
                    let mut compressor = Compressor::new(&params);
                    let messages: Vec<Vec<u8>> = (0..2)
                        .map(|_| compressor.compress(&input).unwrap())
                        .collect();
                    let farthest = farthest_match(&messages, takeover, &input);
                    assert!(
                        farthest <= 256,
                        "{level} {strategy:?} {mem_level}: {farthest}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_peer_held_to_8_bits_is_inflated_with_9() {
        let input = repeats(300, 20);
        let mut zlib9 = Compress::new_with_window_bits(Compression::default(), false, 9);
        let mut message = Vec::with_capacity(input.len() * 2);
        zlib9
            .compress_vec(&input, &mut message, FlushCompress::Sync)
            .unwrap();
        message.truncate(message.len() - TRAILER.len());
        let mut decompressor = Decompressor::new(&session_params(8, true));
        assert!(decompressor.decompress(&message, None).unwrap() == input);
    }

    #[test]
    fn max_len_bounds_the_output_exactly() {
        let input = json_like(10_000, 0);
        for takeover in [true, false] {
            let params = session_params(15, takeover);
            let mut compressor = Compressor::new(&params);
            let message = compressor.compress(&input).unwrap();
            let mut fits = Decompressor::new(&params);
            assert_eq!(fits.decompress(&message, Some(10_000)).unwrap(), input);
            let mut over = Decompressor::new(&params);
            assert_eq!(
                over.decompress(&message, Some(9_999)),
                Err(InflateError::TooLarge)
            );
            let mut none = Decompressor::new(&params);
            assert_eq!(
                none.decompress(&message, Some(0)),
                Err(InflateError::TooLarge)
            );
        }
    }

    #[test]
    fn a_zero_bomb_stops_at_max_len() {
        let mut compressor = Compressor::new(&SessionParams {
            level: 9,
            ..session_params(15, false)
        });
        let bomb = compressor.compress(&vec![0u8; 50 << 20]).unwrap();
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        let mut decompressor = Decompressor::new(&session_params(15, false));
        assert_eq!(
            decompressor.decompress(&bomb, Some(1 << 20)),
            Err(InflateError::TooLarge)
        );
    }

    #[test]
    fn corrupt_input_is_an_error_with_zlibs_reason() {
        let table: Vec<(&[u8], &str)> = vec![
            (&[0xff, 0xff, 0xff], "invalid block type"),
            (
                &[0x00, 0x05, 0x00, 0x00, 0x00],
                "invalid stored block lengths",
            ),
            (
                &[0xfc, 0xff, 0xff, 0xff],
                "too many length or distance symbols",
            ),
        ];
        for (input, reason) in table {
            let mut decompressor = Decompressor::new(&session_params(15, true));
            assert_eq!(
                decompressor.decompress(input, None),
                Err(InflateError::Corrupt(reason.to_string())),
                "{input:?}"
            );
        }
    }

    #[test]
    fn a_reference_past_the_history_is_an_error() {
        let input = json_like(2000, 0);
        let mut compressor = Compressor::new(&session_params(15, true));
        compressor.compress(&input).unwrap();
        let second = compressor.compress(&input).unwrap();
        // A decompressor that never saw the first message.
        let mut decompressor = Decompressor::new(&session_params(15, true));
        assert_eq!(
            decompressor.decompress(&second, None),
            Err(InflateError::Corrupt(
                "invalid distance too far back".to_string()
            ))
        );
    }

    fn truncations_that_decode(input: &[u8]) -> usize {
        let mut compressor = Compressor::new(&session_params(15, false));
        let message = compressor.compress(input).unwrap();
        (1..message.len())
            .filter(|&len| {
                let mut decompressor = Decompressor::new(&session_params(15, false));
                match decompressor.decompress(&message[..len], None) {
                    Err(InflateError::Corrupt(_)) => false,
                    Ok(out) => out.len() <= input.len(),
                    Err(InflateError::TooLarge) => panic!("cut at {len}"),
                }
            })
            .count()
    }

    #[test]
    fn bytes_after_a_final_block_are_an_error() {
        // Random bytes that a JS test happened to send: a final fixed-Huffman
        // block holding one byte, then 98 bytes of garbage.
        let message = [
            0xeb, 0x05, 0x88, 0x66, 0x6d, 0x08, 0xf5, 0x8f, 0x48, 0x9f, 0x09, 0x5c, 0x5b, 0xec,
        ];
        let mut decompressor = Decompressor::new(&session_params(15, true));
        assert!(matches!(
            decompressor.decompress(&message, None),
            Err(InflateError::Corrupt(_))
        ));
        // The final block alone is a message of its own.
        let mut compressor = Deflate::new_with_config(zlib_rs::DeflateConfig {
            window_bits: -15,
            ..zlib_rs::DeflateConfig::default()
        });
        let mut out = [0u8; 64];
        compressor
            .compress(b"final", &mut out, DeflateFlush::Finish)
            .unwrap();
        let length = compressor.total_out() as usize;
        let mut decompressor = Decompressor::new(&session_params(15, true));
        assert_eq!(
            decompressor.decompress(&out[..length], None).unwrap(),
            b"final"
        );
    }

    #[test]
    fn a_truncated_message_is_an_error() {
        for input in [json_like(3000, 0), json_like(20_000, 0), b"a".to_vec()] {
            assert_eq!(truncations_that_decode(&input), 0);
        }
    }

    #[test]
    fn a_stored_block_cut_near_its_end_is_indistinguishable_from_a_message() {
        // A cut right after the header leaves an empty stored block, and the
        // appended trailer can stand in for the block's last four bytes:
        // RFC 7692 framing cannot tell these two from whole messages.
        assert_eq!(truncations_that_decode(&random_bytes(3000, 9)), 2);
    }

    #[test]
    fn a_final_block_ends_the_stream_and_the_next_message_starts_one() {
        let mut peer = Compress::new_with_window_bits(Compression::default(), false, 15);
        let mut decompressor = Decompressor::new(&session_params(15, true));
        for text in [&b"first message"[..], b"second message"] {
            peer.reset();
            let mut message = Vec::with_capacity(256);
            peer.compress_vec(text, &mut message, FlushCompress::Finish)
                .unwrap();
            assert_eq!(decompressor.decompress(&message, None).unwrap(), text);
        }
    }

    #[test]
    fn after_an_error_context_takeover_fails_and_no_takeover_recovers() {
        for takeover in [true, false] {
            let params = session_params(15, takeover);
            let mut compressor = Compressor::new(&params);
            let mut decompressor = Decompressor::new(&params);
            assert!(decompressor.decompress(&[0xff, 0xff], None).is_err());
            assert!(!decompressor.stats().live);
            let message = compressor.compress(b"after").unwrap();
            let next = decompressor.decompress(&message, None);
            if takeover {
                assert!(matches!(next, Err(InflateError::Corrupt(_))));
            } else {
                assert_eq!(next.unwrap(), b"after");
            }
        }
    }

    #[test]
    fn too_large_also_loses_the_context() {
        let params = session_params(15, true);
        let mut compressor = Compressor::new(&params);
        let mut decompressor = Decompressor::new(&params);
        let message = compressor.compress(&[7u8; 100]).unwrap();
        assert_eq!(
            decompressor.decompress(&message, Some(99)),
            Err(InflateError::TooLarge)
        );
        let message = compressor.compress(b"x").unwrap();
        assert!(decompressor.decompress(&message, Some(99)).is_err());
    }

    #[test]
    fn state_is_allocated_lazily_and_released() {
        for takeover in [true, false] {
            let params = session_params(12, takeover);
            let mut compressor = Compressor::new(&params);
            let mut decompressor = Decompressor::new(&params);
            assert!(!compressor.stats().live && !decompressor.stats().live);
            let message = compressor.compress(b"hello hello hello").unwrap();
            decompressor.decompress(&message, None).unwrap();
            // One message costs no state of the session's own.
            assert!(!compressor.stats().live);
            // A second one does, with context takeover only, primed with the
            // first: it refers back to it and still decodes.
            let message = compressor.compress(b"hello hello hello").unwrap();
            assert_eq!(
                decompressor.decompress(&message, None).unwrap(),
                b"hello hello hello"
            );
            assert_eq!(compressor.stats().live, takeover);
            if takeover {
                assert!(message.len() < 8, "the second message refers to the first");
            }
            compressor.release();
            decompressor.release();
            assert!(!compressor.stats().live && !decompressor.stats().live);
            // A released compressor starts a new stream that any peer decodes.
            let message = compressor.compress(b"hello again").unwrap();
            let mut fresh = Decompressor::new(&params);
            assert_eq!(fresh.decompress(&message, None).unwrap(), b"hello again");
            // A released decompressor has lost the peer's context, if it kept one.
            assert_eq!(decompressor.decompress(&message, None).is_ok(), !takeover);
        }
    }

    /// Messages that refer back across the window: JSON, with repeats of
    /// earlier messages.
    fn conversation(count: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| match i % 4 {
                0 => json_like(600 + i * 37, 0),
                1 => random_bytes(300 + i * 13, i as u64 + 1),
                2 => json_like(1500, 0),
                _ => [json_like(200, 0), random_bytes(100, 3)].concat(),
            })
            .collect()
    }

    #[test]
    fn resting_compressors_stay_one_stream_for_an_independent_decoder() {
        for window_bits in 8..=15u8 {
            for takeover in [true, false] {
                let params = session_params(window_bits, takeover);
                let mut resting = Compressor::new(&params);
                let mut live = Compressor::new(&params);
                // zlib inflates what a peer held to 8 bits sends with 9.
                let peer_bits = window_bits.max(9);
                let mut peer = Decompress::new_with_window_bits(false, peer_bits);
                let (mut rested_len, mut live_len) = (0, 0);
                let mut history = Vec::new();
                for (i, input) in conversation(24).iter().enumerate() {
                    let message = resting.compress(input).unwrap();
                    rested_len += message.len();
                    live_len += live.compress(input).unwrap().len();
                    if !takeover {
                        peer = Decompress::new_with_window_bits(false, peer_bits);
                        history.clear();
                    }
                    assert!(
                        peer_inflate(&mut peer, &message) == *input,
                        "{window_bits} {takeover} {i}"
                    );
                    // The matches stay within the negotiated window.
                    let farthest = puff::farthest_match(&message, &mut history).unwrap();
                    assert!(farthest <= 1 << window_bits, "{window_bits}: {farthest}");
                    if i % 3 != 2 {
                        resting.rest();
                        assert!(!resting.stats().live);
                        let held = resting.stats().history_bytes;
                        assert!(held <= if takeover { 1 << peer_bits } else { 0 });
                    }
                }
                // The same compression as a session that never rested.
                assert!(
                    rested_len * 100 <= live_len * 101,
                    "{window_bits} {takeover}: {rested_len} vs {live_len}"
                );
            }
        }
    }

    #[test]
    fn rest_history_bounds_what_a_resting_compressor_keeps_and_the_stream_stays_valid() {
        let messages = conversation(40);
        let mut sizes = Vec::new();
        for rest_history in [0, 1, 1024, 8 * 1024, 32 * 1024] {
            for window_bits in [9u8, 12, 15] {
                let params = session_params(window_bits, true);
                let mut compressor = Compressor::new(&params).with_rest_history(rest_history);
                let peer_bits = window_bits.max(9);
                let mut peer = Decompress::new_with_window_bits(false, peer_bits);
                let mut history = Vec::new();
                let mut total = 0;
                for (i, input) in messages.iter().enumerate() {
                    let message = compressor.compress(input).unwrap();
                    total += message.len();
                    assert!(
                        peer_inflate(&mut peer, &message) == *input,
                        "{rest_history} {window_bits} {i}"
                    );
                    let farthest = puff::farthest_match(&message, &mut history).unwrap();
                    assert!(farthest <= 1 << window_bits, "{window_bits}: {farthest}");
                    compressor.rest();
                    let held = compressor.stats().history_bytes;
                    assert!(
                        held <= rest_history.min(1 << window_bits),
                        "{rest_history} {window_bits}: {held}"
                    );
                }
                if window_bits == 15 {
                    sizes.push(total);
                }
            }
        }
        // More history primed, better compression across rests.
        assert!(sizes.windows(2).all(|w| w[1] <= w[0]), "{sizes:?}");
        assert!(sizes[0] > sizes[3], "{sizes:?}");
    }

    /// One message compressed by a fresh state made with `config` and primed
    /// with `dictionary`, as a waking session's is.
    fn compressed_by(config: zlib_rs::DeflateConfig, dictionary: &[u8], input: &[u8]) -> Vec<u8> {
        let mut deflate = Deflate::new_with_config(config);
        deflate.set_dictionary(dictionary).unwrap();
        deflate_message(&mut deflate, input).unwrap()
    }

    #[test]
    fn a_state_fitted_to_the_message_compresses_to_the_same_bytes() {
        let dictionary = json_like(3000, 7);
        // Around every size where a block of a memLevel fills, random bytes
        // (a literal per byte) and text (matches too).
        let sizes: Vec<usize> = (1..=8)
            .flat_map(|m| (-3..=1).map(move |d| ((1i64 << (m + 6)) + d) as usize))
            .chain([0, 1, 150, 600])
            .collect();
        let strategies = [
            zlib_rs::Strategy::Default,
            zlib_rs::Strategy::Filtered,
            zlib_rs::Strategy::HuffmanOnly,
            zlib_rs::Strategy::Rle,
            zlib_rs::Strategy::Fixed,
        ];
        let mut smaller = 0;
        for level in 0..=9 {
            for strategy in strategies {
                for &len in &sizes {
                    for input in [random_bytes(len, len as u64), json_like(len, 3)] {
                        let input = &input[..len];
                        for mem_level in [8, 9] {
                            let config = zlib_rs::DeflateConfig {
                                level,
                                method: zlib_rs::Method::Deflated,
                                window_bits: -15,
                                mem_level,
                                strategy,
                            };
                            let expected = compressed_by(config, &dictionary, input);
                            let needed = fitted(config, len);
                            assert!(needed.mem_level <= mem_level);
                            if needed.mem_level < mem_level {
                                smaller += 1;
                            }
                            let what =
                                format!("level {level} {strategy:?} memLevel {mem_level} {len} B");
                            assert!(
                                compressed_by(needed, &dictionary, input) == expected,
                                "fitted: {what}"
                            );
                            // A larger pooled state it serves with.
                            for larger in needed.mem_level + 1..=9 {
                                let state = zlib_rs::DeflateConfig {
                                    mem_level: larger,
                                    ..needed
                                };
                                if serves(&state, &needed, len) {
                                    assert!(
                                        compressed_by(state, &dictionary, input) == expected,
                                        "memLevel {larger} serving: {what}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(smaller > 0);
        // At its cap a message that does not fit is served by its own
        // memLevel only; level 0 is never fitted.
        let capped = zlib_rs::DeflateConfig {
            mem_level: 2,
            ..zlib_rs::DeflateConfig::default()
        };
        assert!(!serves(
            &zlib_rs::DeflateConfig::default(),
            &fitted(capped, 1000),
            1000
        ));
        let stored = zlib_rs::DeflateConfig {
            level: 0,
            ..zlib_rs::DeflateConfig::default()
        };
        assert_eq!(fitted(stored, 10), stored);
    }

    #[test]
    fn a_waking_compressor_primes_half_its_rest_history_for_a_small_message_all_for_a_large_one() {
        assert_eq!(prime_len(8192, 8192, 100), 4096);
        assert_eq!(prime_len(8192, 8192, 300), 4800);
        assert_eq!(prime_len(8192, 8192, 512), 8192);
        assert_eq!(prime_len(3000, 8192, 100), 3000);
        assert_eq!(prime_len(32768, 32768, 100), 16384);
        assert_eq!(prime_len(0, 0, 100), 0);

        // A 64-byte token sent about 6 KB ago, then unrelated bytes: a small
        // message repeating it finds it only if the far half was primed.
        let params = session_params(15, true);
        let token = random_bytes(64, 99);
        for (tail, reaches) in [(100, false), (600, true)] {
            let mut compressor = Compressor::new(&params).with_rest_history(8192);
            let mut peer = Decompress::new_with_window_bits(false, 15);
            let mut history = Vec::new();
            let mut sent = vec![token.clone()];
            sent.extend((0..12).map(|i| random_bytes(500, i)));
            sent.push([token.clone(), random_bytes(tail, 50)].concat());
            let last = sent.len() - 1;
            for (i, input) in sent.iter().enumerate() {
                let message = compressor.compress(input).unwrap();
                compressor.rest();
                assert!(peer_inflate(&mut peer, &message) == *input, "{tail} {i}");
                let farthest = puff::farthest_match(&message, &mut history).unwrap();
                if i == last {
                    // The token lies 6,064 bytes before the message.
                    assert_eq!(farthest >= 6064, reaches, "{tail}: {farthest}");
                }
            }
        }
    }

    #[test]
    fn resting_decompressors_decode_an_independent_encoders_stream() {
        for window_bits in 8..=15u8 {
            for takeover in [true, false] {
                let params = session_params(window_bits, takeover);
                let mut decompressor = Decompressor::new(&params);
                // zlib compresses with 9 when asked for 8.
                let mut peer = Compress::new_with_window_bits(
                    Compression::default(),
                    false,
                    window_bits.max(9),
                );
                for (i, input) in conversation(24).iter().enumerate() {
                    if !takeover {
                        peer.reset();
                    }
                    let mut message = Vec::with_capacity(input.len() * 2 + 64);
                    peer.compress_vec(input, &mut message, FlushCompress::Sync)
                        .unwrap();
                    message.truncate(message.len() - TRAILER.len());
                    let out = decompressor.decompress(&message, None).unwrap();
                    assert!(out == *input, "{window_bits} {takeover} {i}");
                    if i % 3 != 1 {
                        decompressor.rest();
                        assert!(!decompressor.stats().live);
                        let held = decompressor.stats().history_bytes;
                        assert!(held <= if takeover { 1 << window_bits.max(9) } else { 0 });
                    }
                }
            }
        }
    }

    #[test]
    fn a_window_violation_is_refused_after_a_rest_too() {
        // A 15-bit peer talking to a session that negotiated 10 bits: its
        // matches reach past 1024 bytes.
        let input = repeats(2000, 2);
        let mut peer = Compress::new_with_window_bits(Compression::default(), false, 15);
        let mut decompressor = Decompressor::new(&session_params(10, true));
        let mut message = Vec::with_capacity(16 * 1024);
        peer.compress_vec(&json_like(500, 0), &mut message, FlushCompress::Sync)
            .unwrap();
        message.truncate(message.len() - TRAILER.len());
        decompressor.decompress(&message, None).unwrap();
        decompressor.rest();
        let mut message = Vec::with_capacity(16 * 1024);
        peer.compress_vec(&input, &mut message, FlushCompress::Sync)
            .unwrap();
        message.truncate(message.len() - TRAILER.len());
        assert!(matches!(
            decompressor.decompress(&message, None),
            Err(InflateError::Corrupt(_))
        ));
    }

    #[test]
    fn a_released_resting_decompressor_has_lost_the_context() {
        let params = session_params(15, true);
        let mut compressor = Compressor::new(&params);
        let mut decompressor = Decompressor::new(&params);
        for _ in 0..2 {
            let message = compressor.compress(b"hello hello").unwrap();
            decompressor.decompress(&message, None).unwrap();
        }
        decompressor.rest();
        decompressor.release();
        assert_eq!(decompressor.stats().history_bytes, 0);
        let message = compressor.compress(b"hello hello").unwrap();
        assert!(decompressor.decompress(&message, None).is_err());
    }

    #[test]
    fn codecs_can_move_to_a_worker_thread() {
        fn is_send<T: Send>() {}
        is_send::<Compressor>();
        is_send::<Decompressor>();
    }

    fn any_params() -> impl proptest::strategy::Strategy<Value = SessionParams> {
        (8u8..=15, any::<bool>(), -1i32..=9, 1i32..=9, 0u8..=4).prop_map(
            |(bits, takeover, level, mem_level, strategy)| SessionParams {
                level,
                mem_level,
                strategy: Strategy::from_number(f64::from(strategy)).unwrap(),
                ..session_params(bits, takeover)
            },
        )
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_decompressor(
            params in any_params(),
            messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..4),
            max_len in proptest::option::of(0usize..2000),
        ) {
            let mut decompressor = Decompressor::new(&params);
            for message in &messages {
                if let Ok(out) = decompressor.decompress(message, max_len) {
                    prop_assert!(out.len() <= max_len.unwrap_or(usize::MAX));
                }
            }
        }

        #[test]
        fn compress_then_decompress_is_the_identity(
            params in any_params(),
            messages in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..2000),
                    (0usize..5000).prop_map(|len| json_like(len, 0)),
                ],
                1..5,
            ),
        ) {
            let mut compressor = Compressor::new(&params);
            let mut decompressor = Decompressor::new(&params);
            for message in &messages {
                let compressed = compressor.compress(message).unwrap();
                prop_assert_eq!(&decompressor.decompress(&compressed, None).unwrap(), message);
            }
        }
    }
}
