//! Inputs and parameters the tests, the examples and the fuzz targets share,
//! written once. Compiled for this crate's tests and with the feature
//! `test-support` (which the crate's own dev-dependency on itself turns on
//! for its integration tests and examples); the addon never has it.

use crate::deflate::{DeflateConfig, DirectionParams, SessionParams, Strategy};

/// `len` bytes of xorshift noise, which does not compress; the same bytes
/// for the same `seed`.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
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

/// `len` bytes of JSON messages in a row, numbered from `first`: text that
/// compresses as chat and API traffic does.
pub fn json_like(len: usize, first: u32) -> Vec<u8> {
    let mut s = String::new();
    let mut i = first;
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

/// A session whose outgoing and incoming directions are alike, with zlib's
/// default level and memory, so that a compressor and a decompressor made
/// from it talk to each other.
pub fn session_params(window_bits: u8, context_takeover: bool) -> SessionParams {
    let direction = DirectionParams {
        window_bits,
        context_takeover,
    };
    SessionParams {
        outgoing: direction,
        incoming: direction,
        level: -1,
        mem_level: 8,
        strategy: Strategy::Default,
    }
}

/// An extension that offers, accepts and asks for `window_bits` and context
/// takeover (or not) in both directions.
pub fn config(window_bits: u8, context_takeover: bool) -> DeflateConfig {
    DeflateConfig {
        max_window_bits: Some(window_bits),
        request_max_window_bits: Some(window_bits),
        no_context_takeover: !context_takeover,
        request_no_context_takeover: !context_takeover,
        ..DeflateConfig::default()
    }
}

/// Every combination of the four window and context options, with
/// `window_bits` as the sample of `maxWindowBits` and
/// `requestMaxWindowBits` (`None`: not set).
pub fn configs(window_bits: &[Option<u8>]) -> Vec<DeflateConfig> {
    let mut all = Vec::new();
    for (no_context_takeover, request_no_context_takeover) in
        [(false, false), (true, false), (false, true), (true, true)]
    {
        for &max_window_bits in window_bits {
            for &request_max_window_bits in window_bits {
                all.push(DeflateConfig {
                    no_context_takeover,
                    max_window_bits,
                    request_no_context_takeover,
                    request_max_window_bits,
                    ..DeflateConfig::default()
                });
            }
        }
    }
    all
}

/// The messages of a file bench/corpus.js wrote (`writeFile`): for each, its
/// length as a little-endian u32, then its bytes. Panics, naming the file,
/// when it cannot be read or is cut short.
pub fn corpus_messages(file: &str) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut messages = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let header = bytes.get(at..at + 4);
        let len = header.map(|h| u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize);
        let end = len
            .map(|len| at + 4 + len)
            .filter(|&end| end <= bytes.len());
        let Some(end) = end else {
            panic!("{file}: cut short at byte {at}");
        };
        messages.push(bytes[at + 4..end].to_vec());
        at = end;
    }
    messages
}
