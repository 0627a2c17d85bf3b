//! The limit for `npm run bench`: the DEFLATE engine alone, with no
//! JavaScript, no napi and no pipeline, on the same corpus bytes.
//!
//! ```text
//! cargo run --release -p websocket-extensions-core --example codec_bench -- ROUNDS FILE...
//! ```
//!
//! Each FILE holds messages as a little-endian u32 length followed by the
//! bytes (bench/corpus.js writes them). For every file and round, every
//! message is compressed (raw DEFLATE, sync flush, trailer removed, context
//! kept) and then decompressed, one after another, as one connection would.
//! Two engines are timed: flate2 on zlib-rs (the same engine this package
//! uses, with nothing of ours around it) and this crate's own
//! `Compressor`/`Decompressor`. Prints one JSON object per file and engine
//! with the round-trip throughput (uncompressed MB/s) of each round, after
//! one warm-up round that is not printed. `npm run bench` runs it with one
//! round at a time, taking turns with the JavaScript implementations.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::time::Instant;
use websocket_extensions_core::deflate::{Compressor, Decompressor};
use websocket_extensions_core::test_support::{corpus_messages, session_params};

const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Runs every message through one engine; returns the compressed bytes.
type RoundTrip = fn(&[Vec<u8>]) -> usize;

/// flate2 on zlib-rs: one compressor and one decompressor, as a connection
/// with context takeover keeps them. Returns the compressed size.
fn flate2_round_trip(messages: &[Vec<u8>]) -> usize {
    let mut compress = Compress::new_with_window_bits(Compression::default(), false, 15);
    let mut decompress = Decompress::new_with_window_bits(false, 15);
    let mut wire_bytes = 0;
    for message in messages {
        let mut wire = Vec::with_capacity(message.len() + message.len() / 8 + 64);
        compress
            .compress_vec(message, &mut wire, FlushCompress::Sync)
            .unwrap();
        assert!(wire.ends_with(&TRAILER));
        // The receiver gets the message without the trailer and appends it.
        wire_bytes += wire.len() - TRAILER.len();
        let mut plain = Vec::with_capacity(message.len() + 1);
        decompress
            .decompress_vec(&wire, &mut plain, FlushDecompress::Sync)
            .unwrap();
        assert_eq!(plain.len(), message.len());
    }
    wire_bytes
}

/// This crate's codec types, as the addon runs them inline.
fn core_round_trip(messages: &[Vec<u8>]) -> usize {
    let params = session_params(15, true);
    let mut compressor = Compressor::new(&params);
    let mut decompressor = Decompressor::new(&params);
    let mut wire_bytes = 0;
    for message in messages {
        let wire = compressor.compress(message).unwrap();
        wire_bytes += wire.len();
        let plain = decompressor.decompress(&wire, None).unwrap();
        assert_eq!(plain.len(), message.len());
    }
    wire_bytes
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args
        .next()
        .and_then(|r| r.parse().ok())
        .expect("usage: codec_bench ROUNDS FILE...");
    let files: Vec<String> = args.collect();
    for file in &files {
        let messages = corpus_messages(file);
        let bytes: usize = messages.iter().map(Vec::len).sum();
        let engines: [(&str, RoundTrip); 2] =
            [("flate2", flate2_round_trip), ("core", core_round_trip)];
        let mut samples = vec![Vec::new(); engines.len()];
        let mut wire = vec![0; engines.len()];
        // Alternate the engines round by round; round 0 warms up.
        for round in 0..=rounds {
            for (i, (_, run)) in engines.iter().enumerate() {
                let start = Instant::now();
                wire[i] = run(&messages);
                let seconds = start.elapsed().as_secs_f64();
                if round > 0 {
                    samples[i].push(bytes as f64 / seconds / 1e6);
                }
            }
        }
        for (i, (name, _)) in engines.iter().enumerate() {
            let list: Vec<String> = samples[i].iter().map(|s| format!("{s:.3}")).collect();
            println!(
                "{{\"file\":{:?},\"engine\":\"{name}\",\"messages\":{},\"bytes\":{bytes},\"wireBytes\":{},\"mbPerSecond\":[{}]}}",
                file,
                messages.len(),
                wire[i],
                list.join(",")
            );
        }
    }
}
