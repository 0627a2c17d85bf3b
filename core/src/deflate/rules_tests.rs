//! The inflater's rules, with hand-made streams checked by an independent
//! decoder (`puff`): RFC 7692's final-block message, the negotiated window,
//! and the maxLength bound.

use super::codec::{Compressor, Decompressor, InflateError};
use super::negotiate::{client_activate, client_offer, server_accept, SessionParams};
use super::puff;
use crate::test_support::{config, random_bytes};
use flate2::{Compress, Compression, FlushCompress};
use proptest::prelude::{prop_assert_eq, proptest};

/// RFC 7692 section 7.2.3.4: "Hello" in a DEFLATE block with BFINAL set,
/// then the header byte of an empty stored block.
const RFC_FINAL_BLOCK_HELLO: [u8; 8] = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];

/// The parameters each side of a negotiation ends with, when the client
/// asks for `bits` and context takeover (or not) in both directions.
fn negotiated(bits: u8, takeover: bool) -> [(&'static str, SessionParams); 2] {
    let config = config(bits, takeover);
    let (server, response) = server_accept(&config, &[client_offer(&config)]).unwrap();
    let client = client_activate(&config, &response).unwrap();
    for params in [&server, &client] {
        assert_eq!(params.incoming.window_bits, bits);
        assert_eq!(params.incoming.context_takeover, takeover);
    }
    [("client", client), ("server", server)]
}

/// What a peer compressing with our parameters for its direction sends.
fn peer_of(params: &SessionParams) -> Compressor {
    Compressor::new(&SessionParams {
        outgoing: params.incoming,
        incoming: params.outgoing,
        ..*params
    })
}

/// DEFLATE bits, least significant first; Huffman codes most significant
/// bit first, as RFC 1951 3.1.1 packs them.
struct BitWriter {
    out: Vec<u8>,
    buf: u64,
    count: u32,
}

impl BitWriter {
    fn new() -> BitWriter {
        BitWriter {
            out: Vec::new(),
            buf: 0,
            count: 0,
        }
    }

    fn bits(&mut self, value: u32, n: u32) {
        self.buf |= u64::from(value) << self.count;
        self.count += n;
        while self.count >= 8 {
            self.out.push(self.buf as u8);
            self.buf >>= 8;
            self.count -= 8;
        }
    }

    fn code(&mut self, code: u32, len: u32) {
        self.bits(code.reverse_bits() >> (32 - len), len);
    }

    fn fixed_symbol(&mut self, symbol: u32) {
        match symbol {
            0..=143 => self.code(0x30 + symbol, 8),
            144..=255 => self.code(0x190 + symbol - 144, 9),
            256..=279 => self.code(symbol - 256, 7),
            _ => self.code(0xc0 + symbol - 280, 8),
        }
    }

    /// A match of length 3 (symbol 257) at `distance`.
    fn fixed_match(&mut self, distance: usize) {
        const DIST_BASE: [usize; 30] = [
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
            1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
        ];
        self.fixed_symbol(257);
        let code = DIST_BASE.iter().rposition(|&b| b <= distance).unwrap();
        self.code(code as u32, 5);
        let extra = if code < 4 { 0 } else { code as u32 / 2 - 1 };
        self.bits((distance - DIST_BASE[code]) as u32, extra);
    }

    /// Ends with a sync flush and removes its trailer, as a sender does.
    fn message(mut self) -> Vec<u8> {
        self.bits(0, 3);
        if self.count > 0 {
            self.bits(0, 8 - self.count);
        }
        self.out.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        self.out.truncate(self.out.len() - 4);
        self.out
    }
}

/// One fixed-Huffman block: `literals`, then, if given, a 3-byte match at
/// `distance`, as a whole message.
fn fixed_message(literals: &[u8], distance: Option<usize>) -> Vec<u8> {
    let mut w = BitWriter::new();
    w.bits(0b010, 3);
    for &byte in literals {
        w.fixed_symbol(u32::from(byte));
    }
    if let Some(d) = distance {
        w.fixed_match(d);
    }
    w.fixed_symbol(256);
    w.message()
}

/// Decodes `message` after `history` with puff and returns its farthest
/// distance, proving what a hand-made message holds.
fn independent(message: &[u8], history: &mut Vec<u8>) -> usize {
    puff::farthest_match(message, history).expect("puff decodes the test message")
}

/// The window a peer held to `bits` is checked against (8 is inflated as 9).
fn enforced_window(bits: u8) -> usize {
    1 << bits.max(9)
}

#[test]
fn the_rfc_final_block_example_decodes_and_the_session_goes_on() {
    let mut history = Vec::new();
    assert_eq!(independent(&RFC_FINAL_BLOCK_HELLO, &mut history), 0);
    assert_eq!(history, b"Hello");
    for bits in 8..=15 {
        for takeover in [true, false] {
            for (role, params) in negotiated(bits, takeover) {
                let mut ours = Decompressor::new(&params);
                let mut peer = peer_of(&params);
                let ordinary = b"an ordinary message, an ordinary message".to_vec();
                let mut expect = |message: &[u8], text: &[u8]| {
                    let out = ours.decompress(message, Some(1000));
                    assert_eq!(out.as_deref(), Ok(text), "{bits} {takeover} {role}");
                };
                expect(&RFC_FINAL_BLOCK_HELLO, b"Hello");
                expect(&RFC_FINAL_BLOCK_HELLO, b"Hello");
                // After a final block the peer starts a new stream: its next
                // messages refer to each other, not to the final block.
                let first = peer.compress(&ordinary).unwrap();
                let second = peer.compress(&ordinary).unwrap();
                if takeover {
                    assert!(second.len() < first.len() / 2, "the second refers back");
                }
                expect(&first, &ordinary);
                expect(&second, &ordinary);
                expect(&RFC_FINAL_BLOCK_HELLO, b"Hello");
                let mut peer = peer_of(&params);
                expect(&peer.compress(b"after").unwrap(), b"after");
                expect(&peer.compress(b"after").unwrap(), b"after");
            }
        }
    }
}

#[test]
fn a_match_back_across_a_final_block_is_an_error_as_in_ws() {
    // "Hel" from 5 bytes back: the "Hello" of the final-block message.
    let later = fixed_message(b"", Some(5));
    let mut history = b"Hello".to_vec();
    assert_eq!(independent(&later, &mut history), 5);
    for takeover in [true, false] {
        let mut ours = Decompressor::new(&negotiated(15, takeover)[0].1);
        assert_eq!(
            ours.decompress(&RFC_FINAL_BLOCK_HELLO, None).unwrap(),
            b"Hello"
        );
        assert_eq!(
            ours.decompress(&later, None),
            Err(InflateError::Corrupt(
                "invalid distance too far back".to_string()
            ))
        );
    }
}

#[test]
fn a_final_block_from_zlib_finish_with_the_rfc_tail_decodes() {
    // What a zlib-based sender that cannot sync flush produces: Z_FINISH,
    // then the empty stored block RFC 7692 7.2.1 appends, less the trailer.
    for bits in 9..=15u8 {
        let text = random_bytes(3000, u64::from(bits)).repeat(3);
        let mut zlib = Compress::new_with_window_bits(Compression::default(), false, bits);
        let mut message = Vec::with_capacity(text.len() * 2 + 64);
        zlib.compress_vec(&text, &mut message, FlushCompress::Finish)
            .unwrap();
        message.push(0x00);
        let mut ours = Decompressor::new(&negotiated(bits, true)[0].1);
        for _ in 0..2 {
            assert!(ours.decompress(&message, None).unwrap() == text);
        }
    }
}

#[test]
fn other_bytes_after_a_final_block_are_an_error() {
    let (head, tail) = RFC_FINAL_BLOCK_HELLO.split_at(7);
    assert_eq!(tail, [0x00]);
    for extra in [
        &[0x01][..],
        &[0x00, 0x00],
        &[0x02],
        &[0x00, 0x00, 0x00, 0xff, 0xff],
    ] {
        let message = [head, extra].concat();
        let mut ours = Decompressor::new(&negotiated(15, true)[0].1);
        assert_eq!(
            ours.decompress(&message, None),
            Err(InflateError::Corrupt(
                "data follows the end of the compressed stream".to_string()
            )),
            "{extra:?}"
        );
    }
}

#[test]
fn a_match_past_the_negotiated_window_is_refused_within_a_message() {
    for bits in 8..=15u8 {
        let window = enforced_window(bits);
        let literals = random_bytes(window + 800, u64::from(bits));
        for takeover in [true, false] {
            for (role, params) in negotiated(bits, takeover) {
                for distance in [window - 1, window, window + 1, window + 700] {
                    if distance > 32_768 {
                        continue;
                    }
                    let message = fixed_message(&literals, Some(distance));
                    let mut history = Vec::new();
                    assert_eq!(independent(&message, &mut history), distance);
                    let mut ours = Decompressor::new(&params);
                    let out = ours.decompress(&message, None);
                    if distance <= window {
                        assert!(out.unwrap() == history, "{bits} {role} {distance}");
                    } else {
                        assert_eq!(
                            out,
                            Err(InflateError::Corrupt(format!(
                                "distance too far back for a {window}-byte window"
                            ))),
                            "{bits} {takeover} {role} {distance}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_match_into_an_earlier_message_past_the_window_is_refused() {
    for bits in 8..=14u8 {
        let window = enforced_window(bits);
        let earlier = fixed_message(&random_bytes(window + 10, 3), None);
        for (role, params) in negotiated(bits, true) {
            for distance in [window, window + 1] {
                // One literal, then a match reaching into the earlier message.
                let later = fixed_message(b"x", Some(distance));
                let mut history = Vec::new();
                independent(&earlier, &mut history);
                assert_eq!(independent(&later, &mut history), distance);
                let mut ours = Decompressor::new(&params);
                ours.decompress(&earlier, None).unwrap();
                let out = ours.decompress(&later, None);
                assert_eq!(out.is_ok(), distance <= window, "{bits} {role} {distance}");
                if let Ok(out) = out {
                    assert!(out == history[history.len() - 4..]);
                }
            }
        }
    }
}

#[test]
fn zlib_with_a_wider_window_is_refused_as_soon_as_it_reaches_past_ours() {
    // The case: a peer promised 512 bytes, and reaches 600 and 20,000
    // bytes back.
    for reach in [600, 20_000] {
        let block = random_bytes(reach, 5);
        let text = [&block[..], &block].concat();
        let mut zlib = Compress::new_with_window_bits(Compression::default(), false, 15);
        let mut message = Vec::with_capacity(text.len() * 2 + 64);
        zlib.compress_vec(&text, &mut message, FlushCompress::Sync)
            .unwrap();
        message.truncate(message.len() - 4);
        assert_eq!(independent(&message, &mut Vec::new()), reach);
        for (role, params) in negotiated(9, true) {
            let mut ours = Decompressor::new(&params);
            assert_eq!(
                ours.decompress(&message, None),
                Err(InflateError::Corrupt(
                    "distance too far back for a 512-byte window".to_string()
                )),
                "{role}"
            );
            // With context takeover the context is gone after the error.
            assert!(ours.decompress(&[0x02, 0x00], None).is_err());
        }
    }
}

/// Data whose repeats lie at distances spread over every window size, with
/// skewed literals so that dynamic blocks get codes longer than 10 bits.
fn varied(len: usize, seed: u64) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    let noise = random_bytes(len, seed);
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut i = 0;
    while out.len() < len {
        let r = usize::from(noise[i % len]) | usize::from(noise[(i + 1) % len]) << 8;
        i += 2;
        if r % 3 == 0 && out.len() > 8 {
            let distance = 1 + (r >> 2) % out.len().min(1 << (r % 16));
            for _ in 0..4 + r % 9 {
                out.push(out[out.len() - distance]);
            }
        } else {
            // Mostly a few letters, rarely anything.
            out.push(if r % 7 == 0 {
                (r >> 8) as u8
            } else {
                b'a' + (r % 5) as u8
            });
        }
    }
    out.truncate(len);
    out
}

proptest! {
    #[test]
    fn accepted_exactly_when_the_farthest_match_fits_the_window(
        bits in 8u8..=15,
        takeover in proptest::bool::ANY,
        len in 1usize..40_000,
        seed in 1u64..u64::MAX,
        level in 1u32..=9,
    ) {
        let text = varied(len, seed);
        let mut zlib = Compress::new_with_window_bits(Compression::new(level), false, 15);
        let mut message = Vec::with_capacity(text.len() * 2 + 64);
        zlib.compress_vec(&text, &mut message, FlushCompress::Sync).unwrap();
        message.truncate(message.len() - 4);
        let mut history = Vec::new();
        let farthest = independent(&message, &mut history);
        prop_assert_eq!(&history, &text);
        let (_, params) = &negotiated(bits, takeover)[(seed % 2) as usize];
        let mut ours = Decompressor::new(params);
        let out = ours.decompress(&message, None);
        if farthest <= enforced_window(bits) {
            prop_assert_eq!(out, Ok(text));
        } else {
            let window = enforced_window(bits);
            prop_assert_eq!(out, Err(InflateError::Corrupt(format!(
                "distance too far back for a {window}-byte window"
            ))));
        }
    }
}

/// Messages of `len` bytes from a peer held to `params`: compressible text,
/// a run of one byte (long matches), and a zlib final block with the RFC's
/// tail. The peer's compressor has sent `before` already.
fn messages_of(len: usize, params: &SessionParams, before: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let bits = params.incoming.window_bits.max(9);
    let text: Vec<u8> = varied(len, len as u64 + 1);
    let run = vec![b'z'; len];
    let mut out = Vec::new();
    for (kind, data) in [("text", &text), ("run", &run)] {
        let mut peer = peer_of(params);
        peer.compress(before).unwrap();
        out.push((kind, peer.compress(data).unwrap()));
    }
    let mut zlib = Compress::new_with_window_bits(Compression::default(), false, bits);
    let mut last = Vec::with_capacity(len + 64);
    zlib.compress_vec(&text, &mut last, FlushCompress::Finish)
        .unwrap();
    last.push(0x00);
    out.push(("final block", last));
    out
}

#[test]
fn max_length_plus_k_is_too_large_and_max_length_passes() {
    let before = varied(500, 99);
    let ks: Vec<usize> = (1..=24).chain([100, 257, 258, 259, 1000]).collect();
    for bits in 8..=15u8 {
        for takeover in [true, false] {
            let params = &negotiated(bits, takeover)[usize::from(bits % 2)].1;
            for max in [0usize, 1, 300, 65_536] {
                for k in std::iter::once(0).chain(ks.iter().copied()) {
                    for first in [true, false] {
                        let before: &[u8] = if first { b"" } else { &before };
                        for (kind, message) in messages_of(max + k, params, before) {
                            // The session's first message, or a later one that
                            // may refer to `before`.
                            let mut ours = Decompressor::new(params);
                            if !first {
                                let earlier = peer_of(params).compress(before).unwrap();
                                ours.decompress(&earlier, None).unwrap();
                            }
                            let out = ours.decompress(&message, Some(max));
                            let what = format!("{bits} {takeover} {max}+{k} {kind} {first}");
                            if k == 0 {
                                assert_eq!(out.map(|o| o.len()), Ok(max), "{what}");
                            } else {
                                assert_eq!(out, Err(InflateError::TooLarge), "{what}");
                            }
                        }
                    }
                }
            }
        }
    }
}
