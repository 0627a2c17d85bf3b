//! Any bytes, as a compressed message from a peer, through decompressors of
//! every window size with a 64 KiB maxLength: an output or an error, never a
//! panic, and never more output than maxLength.
#![no_main]

use libfuzzer_sys::fuzz_target;
use websocket_extensions_core::deflate::Decompressor;
use websocket_extensions_core::test_support::session_params;

const MAX_LEN: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let params = session_params(8 + selector % 8, selector & 0x80 == 0);
    let mut inflater = Decompressor::new(&params);
    // The same bytes twice: the second message runs on whatever context the
    // first one left.
    for _ in 0..2 {
        if let Ok(out) = inflater.decompress(message, Some(MAX_LEN)) {
            assert!(out.len() <= MAX_LEN);
        }
    }
});
