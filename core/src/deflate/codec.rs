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

/// Compresses our outgoing messages.
///
/// zlib's compression state is large (about 260 KiB with a 15-bit window and
/// memLevel 8) and costs more to set up than a small message costs to
/// compress. So a session owns a state only from its second message on:
/// - without context takeover, every message is compressed with a per-thread
///   scratch state, reset after each use, and the session never owns one;
/// - with context takeover, the first message also uses the scratch state, and
///   the session keeps only the plaintext it sent (at most a window's worth).
///   On the second message it makes its own state primed with that plaintext
///   as the dictionary: the peer's window holds exactly those bytes, so the
///   stream it receives is the same kind it would have got otherwise.
///
/// A connection that sends one message therefore costs a few KiB, not a
/// quarter of a MiB.
pub struct Compressor {
    config: zlib_rs::DeflateConfig,
    context_takeover: bool,
    /// The session's own state, from its second message on (context takeover
    /// only); dropped by [`Compressor::release`] and on errors.
    deflate: Option<Deflate>,
    /// With context takeover and no state yet: what the first message sent,
    /// the tail of the peer's window. `None` before anything was sent.
    history: Option<Vec<u8>>,
}

thread_local! {
    // One scratch state per thread (the JavaScript thread and each worker),
    // for the configuration last used there.
    static SCRATCH: std::cell::RefCell<Option<(zlib_rs::DeflateConfig, Deflate)>> =
        const { std::cell::RefCell::new(None) };
}

/// Compresses one message with the thread's scratch state, as a stream of
/// its own (it refers to nothing sent before).
fn compress_with_scratch(
    config: zlib_rs::DeflateConfig,
    input: &[u8],
) -> Result<Vec<u8>, CompressError> {
    SCRATCH.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(c, _)| *c != config) {
            *slot = Some((config, Deflate::new_with_config(config)));
        }
        let Some((_, deflate)) = slot.as_mut() else {
            return Err(CompressError("no scratch state".to_string()));
        };
        let result = deflate_message(deflate, input);
        if result.is_ok() {
            deflate.reset();
        } else {
            *slot = None;
        }
        result
    })
}

impl Compressor {
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
            history: None,
        }
    }

    fn window_size(&self) -> usize {
        1 << self.config.window_bits.unsigned_abs()
    }

    /// Compresses one whole message.
    pub fn compress(&mut self, input: &[u8]) -> Result<Vec<u8>, CompressError> {
        let config = self.config;
        if !self.context_takeover {
            return compress_with_scratch(config, input);
        }
        if self.deflate.is_none() {
            match self.history.take() {
                None => {
                    let out = compress_with_scratch(config, input)?;
                    let keep = input.len().min(self.window_size());
                    self.history = Some(input[input.len() - keep..].to_vec());
                    return Ok(out);
                }
                Some(history) => {
                    let mut deflate = Deflate::new_with_config(config);
                    if !history.is_empty() {
                        deflate.set_dictionary(&history).map_err(|e| {
                            CompressError(format!("cannot prime the compressor: {}", e.as_str()))
                        })?;
                    }
                    self.deflate = Some(deflate);
                }
            }
        }
        let Some(deflate) = self.deflate.as_mut() else {
            return Err(CompressError("no compression state".to_string()));
        };
        deflate_message(deflate, input).inspect_err(|_| {
            // A fresh stream needs nothing from the lost one, so the peer
            // can still decode what we send next.
            self.deflate = None;
        })
    }

    /// Frees the zlib state and the kept plaintext; the next message starts
    /// a new stream, which the peer decodes whether or not it keeps its
    /// context.
    pub fn release(&mut self) {
        self.deflate = None;
        self.history = None;
    }

    /// Whether the session owns zlib state now.
    pub fn is_allocated(&self) -> bool {
        self.deflate.is_some()
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
pub struct Decompressor {
    window_bits: u8,
    context_takeover: bool,
    /// Made on first use; dropped by [`Decompressor::release`], on errors and
    /// after a final block.
    inflate: Option<Inflate>,
    /// The peer's context is gone (an error, or a release) while the peer
    /// still refers to it: every later message fails.
    context_lost: bool,
    /// Bytes inflated since the current zlib state started (saturating): the
    /// most history any match can have reached.
    stream_len: usize,
}

impl Decompressor {
    pub fn new(params: &SessionParams) -> Decompressor {
        Decompressor {
            window_bits: params
                .incoming
                .window_bits
                .clamp(MIN_ZLIB_WINDOW_BITS, MAX_ZLIB_WINDOW_BITS),
            context_takeover: params.incoming.context_takeover,
            inflate: None,
            context_lost: false,
            stream_len: 0,
        }
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
        let window_bits = self.window_bits;
        if self.inflate.is_none() {
            self.stream_len = 0;
        }
        let inflate = self
            .inflate
            .get_or_insert_with(|| Inflate::new(false, window_bits));
        let result = inflate_message(inflate, input, max_len).and_then(|done| {
            self.check_window(input, done.0.len())?;
            Ok(done)
        });
        match result {
            Ok((out, Ended::AtBoundary)) => {
                if !self.context_takeover {
                    self.reset();
                }
                Ok(out)
            }
            Ok((out, Ended::FinalBlock)) => {
                // A final block ends the stream; the next message starts one.
                self.inflate = None;
                Ok(out)
            }
            Err(e) => {
                self.inflate = None;
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

    /// Frees the zlib state. With context takeover the peer's context goes
    /// with it, so this is for closing: later messages fail.
    pub fn release(&mut self) {
        if self.inflate.take().is_some() && self.context_takeover {
            self.context_lost = true;
        }
    }

    /// Whether zlib state is currently allocated.
    pub fn is_allocated(&self) -> bool {
        self.inflate.is_some()
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
    use crate::deflate::negotiate::DirectionParams;
    use crate::deflate::puff;
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
    use proptest::prelude::{
        any, prop_assert, prop_assert_eq, prop_oneof, proptest, Strategy as _,
    };

    fn direction(window_bits: u8, context_takeover: bool) -> DirectionParams {
        DirectionParams {
            window_bits,
            context_takeover,
        }
    }

    /// A session whose outgoing and incoming directions are alike, so that a
    /// compressor and a decompressor made from it talk to each other.
    fn loopback(window_bits: u8, context_takeover: bool) -> SessionParams {
        SessionParams {
            outgoing: direction(window_bits, context_takeover),
            incoming: direction(window_bits, context_takeover),
            level: -1,
            mem_level: 8,
            strategy: Strategy::Default,
        }
    }

    fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    fn json_like(len: usize) -> Vec<u8> {
        let mut s = String::new();
        let mut i = 0u32;
        while s.len() < len {
            s.push_str(&format!(
                "{{\"id\":{i},\"channel\":\"/meta/connect\",\"clientId\":\"c{}\",\"ok\":true}},",
                i.wrapping_mul(2654435761) % 100_000
            ));
            i += 1;
        }
        s.truncate(len);
        s.into_bytes()
    }

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
                let params = loopback(window_bits, takeover);
                let mut compressor = Compressor::new(&params);
                let mut decompressor = Decompressor::new(&params);
                let mut peer = Decompress::new_with_window_bits(false, window_bits);
                for (i, &size) in SIZES.iter().enumerate() {
                    for input in [random_bytes(size, i as u64 + 7), json_like(size)] {
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
        .chain(json_like(20_000))
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
                        ..loopback(window_bits, takeover)
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
        let input = json_like(2000);
        let mut with = Compressor::new(&loopback(15, true));
        let mut without = Compressor::new(&loopback(15, false));
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
            let params = loopback(15, takeover);
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
        let mut decompressor = Decompressor::new(&loopback(15, true));
        assert_eq!(decompressor.decompress(&[], None).unwrap(), b"");
        assert_eq!(decompressor.decompress(&[], Some(0)).unwrap(), b"");
        let mut compressor = Compressor::new(&loopback(15, true));
        let message = compressor.compress(b"hello").unwrap();
        assert_eq!(decompressor.decompress(&message, None).unwrap(), b"hello");
    }

    #[test]
    fn zlib_rs_inflate_takes_8_window_bits_and_keeps_32_kib_of_history() {
        // Raw streams are accepted with 8 bits, but the window is not
        // enforced: a match 20 000 bytes back still decodes.
        let input = repeats(20_000, 1);
        let mut wide = Compressor::new(&loopback(15, true));
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
            .chain(json_like(5000))
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
                        ..loopback(8, takeover)
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
        let mut decompressor = Decompressor::new(&loopback(8, true));
        assert!(decompressor.decompress(&message, None).unwrap() == input);
    }

    #[test]
    fn max_len_bounds_the_output_exactly() {
        let input = json_like(10_000);
        for takeover in [true, false] {
            let params = loopback(15, takeover);
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
            ..loopback(15, false)
        });
        let bomb = compressor.compress(&vec![0u8; 50 << 20]).unwrap();
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        let mut decompressor = Decompressor::new(&loopback(15, false));
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
            let mut decompressor = Decompressor::new(&loopback(15, true));
            assert_eq!(
                decompressor.decompress(input, None),
                Err(InflateError::Corrupt(reason.to_string())),
                "{input:?}"
            );
        }
    }

    #[test]
    fn a_reference_past_the_history_is_an_error() {
        let input = json_like(2000);
        let mut compressor = Compressor::new(&loopback(15, true));
        compressor.compress(&input).unwrap();
        let second = compressor.compress(&input).unwrap();
        // A decompressor that never saw the first message.
        let mut decompressor = Decompressor::new(&loopback(15, true));
        assert_eq!(
            decompressor.decompress(&second, None),
            Err(InflateError::Corrupt(
                "invalid distance too far back".to_string()
            ))
        );
    }

    fn truncations_that_decode(input: &[u8]) -> usize {
        let mut compressor = Compressor::new(&loopback(15, false));
        let message = compressor.compress(input).unwrap();
        (1..message.len())
            .filter(|&len| {
                let mut decompressor = Decompressor::new(&loopback(15, false));
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
        let mut decompressor = Decompressor::new(&loopback(15, true));
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
        let mut decompressor = Decompressor::new(&loopback(15, true));
        assert_eq!(
            decompressor.decompress(&out[..length], None).unwrap(),
            b"final"
        );
    }

    #[test]
    fn a_truncated_message_is_an_error() {
        for input in [json_like(3000), json_like(20_000), b"a".to_vec()] {
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
        let mut decompressor = Decompressor::new(&loopback(15, true));
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
            let params = loopback(15, takeover);
            let mut compressor = Compressor::new(&params);
            let mut decompressor = Decompressor::new(&params);
            assert!(decompressor.decompress(&[0xff, 0xff], None).is_err());
            assert!(!decompressor.is_allocated());
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
        let params = loopback(15, true);
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
            let params = loopback(12, takeover);
            let mut compressor = Compressor::new(&params);
            let mut decompressor = Decompressor::new(&params);
            assert!(!compressor.is_allocated() && !decompressor.is_allocated());
            let message = compressor.compress(b"hello hello hello").unwrap();
            decompressor.decompress(&message, None).unwrap();
            // One message costs no state of the session's own.
            assert!(!compressor.is_allocated());
            // A second one does, with context takeover only, primed with the
            // first: it refers back to it and still decodes.
            let message = compressor.compress(b"hello hello hello").unwrap();
            assert_eq!(
                decompressor.decompress(&message, None).unwrap(),
                b"hello hello hello"
            );
            assert_eq!(compressor.is_allocated(), takeover);
            if takeover {
                assert!(message.len() < 8, "the second message refers to the first");
            }
            compressor.release();
            decompressor.release();
            assert!(!compressor.is_allocated() && !decompressor.is_allocated());
            // A released compressor starts a new stream that any peer decodes.
            let message = compressor.compress(b"hello again").unwrap();
            let mut fresh = Decompressor::new(&params);
            assert_eq!(fresh.decompress(&message, None).unwrap(), b"hello again");
            // A released decompressor has lost the peer's context, if it kept one.
            assert_eq!(decompressor.decompress(&message, None).is_ok(), !takeover);
        }
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
                ..loopback(bits, takeover)
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
                    (0usize..5000).prop_map(json_like),
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
