//! What the inflater costs per message, for counting instructions with
//! callgrind (repeatable while other builds run, unlike wall time):
//!
//! ```text
//! cargo build --release -p websocket-extensions-core --example inflate_window_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/inflate_window_cost BITS SIZE COUNT [INFLATE]
//! ```
//!
//! COUNT messages of SIZE bytes of JSON-like text, compressed by a peer held
//! to a BITS-bit window with context takeover, are made first, then inflated
//! in one session (unless INFLATE is 0). A run with INFLATE 0 counts the
//! making alone, so the difference is what inflating costs; one build
//! against another gives the cost of a change to the inflater.

use websocket_extensions_core::deflate::{Compressor, Decompressor};
use websocket_extensions_core::test_support::{json_like, session_params};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("BITS SIZE COUNT [INFLATE]"))
        .collect();
    let (bits, size, count, inflate) = match args[..] {
        [bits, size, count] => (bits, size, count, 1),
        [bits, size, count, inflate] => (bits, size, count, inflate),
        _ => panic!("usage: inflate_window_cost BITS SIZE COUNT [INFLATE]"),
    };
    let params = session_params(bits as u8, true);
    let mut compressor = Compressor::new(&params);
    let wire: Vec<Vec<u8>> = (0..count)
        .map(|i| compressor.compress(&json_like(size, i as u32 * 7)).unwrap())
        .collect();
    if inflate == 0 {
        return;
    }
    let mut decompressor = Decompressor::new(&params);
    let mut total = 0;
    for message in &wire {
        total += decompressor.decompress(message, None).unwrap().len();
    }
    assert_eq!(total, size * count);
    println!(
        "{bits} bits, {count} x {size} B: {} B on the wire",
        wire.iter().map(Vec::len).sum::<usize>()
    );
}
