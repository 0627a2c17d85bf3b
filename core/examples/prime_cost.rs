//! What priming a resting compressor costs and gains (issue 17): how much
//! of a session's history to give `deflateSetDictionary` when it wakes.
//!
//! ```text
//! node -e "const c = require('./bench/corpus'); for (const s of [150, 600, 16384]) c.writeFile('/tmp/c' + s + '.bin', c.messages(s, s > 10000 ? 300 : 3000, s))"
//! cargo run --release -p websocket-extensions-core --example prime_cost -- /tmp/c150.bin /tmp/c600.bin /tmp/c16384.bin
//! ```
//!
//! Each FILE holds messages as bench/corpus.js writes them. Twenty sessions
//! take turns over the messages, as a server's connections do, and each
//! rests after every message: a pooled state is reset, primed with the last
//! N bytes of the session's history (its last 8 KiB of plaintext, as
//! `restHistory` keeps by default), and compresses the message with a sync
//! flush. Prints, for each rule of N, the compression ratio and the time
//! per message; "live" is twenty sessions that never rest, for comparison.
//! Wall time on a quiet machine: compare the rows of one run.

use std::time::Instant;
use websocket_extensions_core::test_support::corpus_messages;
use zlib_rs::{Deflate, DeflateConfig, DeflateFlush, Method, Strategy};

const HISTORY: usize = 8 * 1024;
const SESSIONS: usize = 20;

fn config() -> DeflateConfig {
    DeflateConfig {
        level: 6,
        method: Method::Deflated,
        window_bits: -15,
        mem_level: 8,
        strategy: Strategy::Default,
    }
}

fn compress(deflate: &mut Deflate, input: &[u8], out: &mut Vec<u8>) -> usize {
    out.clear();
    out.resize(input.len() * 2 + 256, 0);
    let before = deflate.total_out();
    if deflate
        .compress(input, out, DeflateFlush::SyncFlush)
        .is_err()
    {
        panic!("compress failed");
    }
    (deflate.total_out() - before) as usize
}

type Rule = (&'static str, fn(usize) -> Option<usize>);

const RULES: [Rule; 7] = [
    ("8 KiB (today)", |_| Some(HISTORY)),
    ("4 KiB", |_| Some(4096)),
    ("2 KiB", |_| Some(2048)),
    ("1 KiB", |_| Some(1024)),
    ("8 x message, 1 to 8 KiB", |len| {
        Some((len * 8).clamp(1024, HISTORY))
    }),
    ("16 x message, 2 to 8 KiB", |len| {
        Some((len * 16).clamp(2048, HISTORY))
    }),
    ("live (never rests)", |_| None),
];

fn main() {
    for file in std::env::args().skip(1) {
        let messages = corpus_messages(&file);
        for (name, rule) in RULES {
            let mut histories: Vec<Vec<u8>> = vec![Vec::new(); SESSIONS];
            let mut live: Vec<Deflate> = (0..SESSIONS)
                .map(|_| Deflate::new_with_config(config()))
                .collect();
            let mut pooled = Deflate::new_with_config(config());
            let mut out = Vec::new();
            let (mut bytes_in, mut bytes_out) = (0, 0);
            let start = Instant::now();
            for (i, message) in messages.iter().enumerate() {
                let s = i % SESSIONS;
                let produced = match rule(message.len()) {
                    None => compress(&mut live[s], message, &mut out),
                    Some(prime) => {
                        pooled.reset();
                        let history = &histories[s];
                        let n = prime.min(history.len());
                        if n > 0
                            && pooled
                                .set_dictionary(&history[history.len() - n..])
                                .is_err()
                        {
                            panic!("set_dictionary failed");
                        }
                        let produced = compress(&mut pooled, message, &mut out);
                        let history = &mut histories[s];
                        history.extend_from_slice(message);
                        let excess = history.len().saturating_sub(HISTORY);
                        history.drain(..excess);
                        produced
                    }
                };
                bytes_in += message.len();
                bytes_out += produced;
            }
            let per_message = start.elapsed().as_secs_f64() * 1e6 / messages.len() as f64;
            println!(
                "{file}: {name:<26} ratio {:.3}  {per_message:.2} µs per message",
                bytes_in as f64 / bytes_out as f64
            );
        }
    }
}
