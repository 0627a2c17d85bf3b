//! What a cold message costs the codec (issue 17): the codec's own time per
//! message when each message finds its session's state cold, as a server's
//! sessions do, against the hot loop's.
//!
//! ```text
//! node -e "const c = require('./bench/corpus'); for (const s of [150, 600]) c.writeFile('/tmp/cold' + s + '.bin', c.messages(s, 90000, s))"
//! cargo run --release -p websocket-extensions-core --example cold_cost -- /tmp/cold150.bin /tmp/cold600.bin
//! ```
//!
//! Each FILE holds messages as bench/corpus.js writes them, distinct enough
//! that no session sees one twice (90,000 for 65,000 sent). 1,000 sessions
//! with context takeover and zlib's defaults take turns in a scattered
//! order, and before each message the example writes to 512 KiB of other
//! memory, as the rest of a server (Node, its streams, the kernel) does
//! between two messages of one connection. Every session has sent and
//! received 60 messages first (9 KB: its compressor's history is full, at
//! `restHistory`'s default 8 KiB). For each message it
//! times our compressor (this crate's `Compressor`) and our decompressor
//! (`Decompressor`, inflating what a peer's compressor sent), each resting
//! after the message or not, as the rows say:
//! - `hot`: one session, nothing else touched: the hot loop's ceiling (its
//!   messages as far apart in the corpus as each session's in the other
//!   rows, so that it compresses the same kind of stream);
//! - `live`: the 1,000 sessions never rest (`liveStates` beyond them);
//! - `resting, restHistory N` (8192, the default, 4096, 2048, 0): every
//!   message wakes its session, which rests after it (sessions beyond the
//!   `liveStates` budget).
//!
//! Prints µs per message for each direction (medians of five rounds of
//! 5,000 messages) and our compression ratio. Wall time on a quiet machine:
//! compare the rows of one run.

use std::time::{Duration, Instant};
use websocket_extensions_core::deflate::{Compressor, Decompressor};
use websocket_extensions_core::test_support::{corpus_messages, session_params};

const SESSIONS: usize = 1000;
const HISTORY_MESSAGES: usize = 60;
const ROUNDS: usize = 5;
const PER_ROUND: usize = 5000;
const OTHER_MEMORY: usize = 512 * 1024;

struct Row {
    name: &'static str,
    sessions: usize,
    /// `restHistory` if the sessions rest after every message.
    rest_history: Option<usize>,
    other_memory: usize,
}

const ROWS: [Row; 6] = [
    Row {
        name: "hot (one session)",
        sessions: 1,
        rest_history: None,
        other_memory: 0,
    },
    Row {
        name: "live",
        sessions: SESSIONS,
        rest_history: None,
        other_memory: OTHER_MEMORY,
    },
    Row {
        name: "resting, restHistory 8192",
        sessions: SESSIONS,
        rest_history: Some(8192),
        other_memory: OTHER_MEMORY,
    },
    Row {
        name: "resting, restHistory 4096",
        sessions: SESSIONS,
        rest_history: Some(4096),
        other_memory: OTHER_MEMORY,
    },
    Row {
        name: "resting, restHistory 2048",
        sessions: SESSIONS,
        rest_history: Some(2048),
        other_memory: OTHER_MEMORY,
    },
    Row {
        name: "resting, restHistory 0",
        sessions: SESSIONS,
        rest_history: Some(0),
        other_memory: OTHER_MEMORY,
    },
];

/// Our compressor, the peer's compressor, our decompressor.
type Session = (Compressor, Compressor, Decompressor);

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let params = session_params(15, true);
    for file in std::env::args().skip(1) {
        let messages = corpus_messages(&file);
        for row in &ROWS {
            let rest_history = row.rest_history.unwrap_or(8192);
            let mut sessions: Vec<Session> = (0..row.sessions)
                .map(|_| {
                    (
                        Compressor::new(&params).with_rest_history(rest_history),
                        Compressor::new(&params).with_rest_history(32 * 1024),
                        Decompressor::new(&params),
                    )
                })
                .collect();
            let mut other = vec![0u8; row.other_memory];
            let mut next = 0;
            let mut message = |session: &mut Session, timed: &mut [Duration; 2]| {
                // Each session's messages lie about SESSIONS apart in the
                // corpus; the one session of the hot row steps through it
                // by a prime near SESSIONS, so that every row compresses
                // the same kind of stream.
                let index = if row.sessions == 1 { next * 1009 } else { next };
                let input = &messages[index % messages.len()];
                next += 1;
                let (ours, peer, inflater) = session;
                let start = Instant::now();
                let out = ours.compress(input).expect("compresses");
                if row.rest_history.is_some() {
                    ours.rest();
                }
                let compressed = start.elapsed();
                let sent = peer.compress(input).expect("the peer compresses");
                peer.rest();
                let start = Instant::now();
                let inflated = inflater.decompress(&sent, None).expect("inflates");
                if row.rest_history.is_some() {
                    inflater.rest();
                }
                timed[0] += compressed;
                timed[1] += start.elapsed();
                assert!(inflated == *input);
                (input.len(), out.len())
            };
            for _ in 0..HISTORY_MESSAGES {
                for session in sessions.iter_mut() {
                    message(session, &mut [Duration::ZERO; 2]);
                }
            }
            let (mut deflate, mut inflate) = (Vec::new(), Vec::new());
            let (mut bytes_in, mut bytes_out) = (0, 0);
            for round in 0..ROUNDS {
                let mut timed = [Duration::ZERO; 2];
                for i in 0..PER_ROUND {
                    for byte in other.iter_mut().step_by(64) {
                        *byte = byte.wrapping_add(1);
                    }
                    let s = (round * PER_ROUND + i) * 7919 % row.sessions;
                    let (plain, compressed) = message(&mut sessions[s], &mut timed);
                    bytes_in += plain;
                    bytes_out += compressed;
                }
                deflate.push(timed[0].as_secs_f64() * 1e6 / PER_ROUND as f64);
                inflate.push(timed[1].as_secs_f64() * 1e6 / PER_ROUND as f64);
            }
            println!(
                "{file}: {:<26} compress {:6.2} µs  inflate {:6.2} µs  ratio {:.3}",
                row.name,
                median(deflate),
                median(inflate),
                bytes_in as f64 / bytes_out as f64
            );
        }
    }
}
