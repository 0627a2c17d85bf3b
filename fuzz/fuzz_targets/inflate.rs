//! Any bytes, as a compressed message from a peer, through decompressors of
//! every window size with a 64 KiB maxLength: an output or an error, never a
//! panic, and never more output than maxLength.
#![no_main]

use libfuzzer_sys::fuzz_target;
use websocket_extensions_core::deflate::{Decompressor, DirectionParams, SessionParams, Strategy};

const MAX_LEN: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let params = SessionParams {
        outgoing: DirectionParams {
            window_bits: 15,
            context_takeover: true,
        },
        incoming: DirectionParams {
            window_bits: 8 + selector % 8,
            context_takeover: selector & 0x80 == 0,
        },
        level: -1,
        mem_level: 8,
        strategy: Strategy::Default,
    };
    let mut inflater = Decompressor::new(&params);
    // The same bytes twice: the second message runs on whatever context the
    // first one left.
    for _ in 0..2 {
        if let Ok(out) = inflater.decompress(message, Some(MAX_LEN)) {
            assert!(out.len() <= MAX_LEN);
        }
    }
});
