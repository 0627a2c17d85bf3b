//! Compress once for a broadcast (issue 17).
//!
//! A message compressed as a stream of its own (every message of a session
//! without context takeover for our direction, and the first message of one
//! with it) depends on nothing but its bytes and the compressor's
//! parameters: the same payload with the same level, memLevel, strategy and
//! window compresses to the same bytes for every session. A server that
//! sends one message to many connections (a chat room, a pub/sub channel)
//! would compress it once per connection. This thread's small cache keeps
//! the last results so that the next session sending the same bytes with
//! the same parameters gets a copy instead.
//!
//! - Keys are compared in full (parameters and every byte of the payload);
//!   the hash only finds the candidates, so a collision can never hand out
//!   another message's bytes.
//! - Every hit returns a new `Vec`: no two sessions share a buffer that one
//!   of them could change.
//! - Bounded: at most [`CACHE_BYTES`] of payloads and results, and
//!   [`CACHE_ENTRIES`] entries, least recently used out first; payloads
//!   larger than [`CACHE_MAX_INPUT`] are not kept.
//! - Per thread, like the codec's scratch state: the JavaScript thread's
//!   messages, and each offload worker's. Every access goes through
//!   `try_with`, so a thread that is ending compresses without it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::hash::Hasher;

/// The byte budget of one thread's cache (payloads and results).
pub const CACHE_BYTES: usize = 1024 * 1024;
/// The most entries one thread's cache keeps.
pub const CACHE_ENTRIES: usize = 64;
/// Payloads larger than this are compressed as usual and not kept.
pub const CACHE_MAX_INPUT: usize = 256 * 1024;

struct Entry {
    config: zlib_rs::DeflateConfig,
    hash: u64,
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Entry {
    fn bytes(&self) -> usize {
        self.input.len() + self.output.len()
    }
}

/// One thread's last results, least recently used first.
#[derive(Default)]
struct Cache {
    entries: VecDeque<Entry>,
    bytes: usize,
    hits: u64,
    misses: u64,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
    static ENABLED: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

fn hash(input: &[u8]) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(input);
    hasher.write_usize(input.len());
    hasher.finish()
}

impl Cache {
    fn find(
        &mut self,
        config: &zlib_rs::DeflateConfig,
        hash: u64,
        input: &[u8],
    ) -> Option<Vec<u8>> {
        let at = self
            .entries
            .iter()
            .rposition(|e| e.hash == hash && e.config == *config && e.input.as_slice() == input)?;
        // The most recently used goes last.
        let entry = self.entries.remove(at)?;
        let output = entry.output.clone();
        self.entries.push_back(entry);
        Some(output)
    }

    fn keep(&mut self, entry: Entry) {
        self.bytes += entry.bytes();
        self.entries.push_back(entry);
        while self.bytes > CACHE_BYTES || self.entries.len() > CACHE_ENTRIES {
            match self.entries.pop_front() {
                Some(old) => self.bytes -= old.bytes(),
                None => break,
            }
        }
    }
}

/// The result of compressing `input` as a stream of its own with `config`:
/// a copy of this thread's earlier result for the same parameters and
/// bytes, or `compress()`'s (kept for the next asker when it succeeds).
pub fn compressed_once<E>(
    config: zlib_rs::DeflateConfig,
    input: &[u8],
    compress: impl FnOnce() -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, E> {
    let enabled = ENABLED.try_with(|e| e.get()).unwrap_or(false);
    if !enabled || input.len() > CACHE_MAX_INPUT {
        return compress();
    }
    let key = hash(input);
    let found = CACHE
        .try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            let found = cache.find(&config, key, input);
            if found.is_some() {
                cache.hits += 1;
            } else {
                cache.misses += 1;
            }
            found
        })
        .ok()
        .flatten();
    if let Some(output) = found {
        return Ok(output);
    }
    let output = compress()?;
    let entry = Entry {
        config,
        hash: key,
        input: input.to_vec(),
        output: output.clone(),
    };
    if entry.bytes() <= CACHE_BYTES {
        let _ = CACHE.try_with(|cache| {
            if let Ok(mut cache) = cache.try_borrow_mut() {
                cache.keep(entry);
            }
        });
    }
    Ok(output)
}

/// This thread's cache figures: hits, misses, entries and bytes kept.
pub fn stats() -> (u64, u64, usize, usize) {
    CACHE
        .try_with(|cache| {
            let cache = cache.borrow();
            (cache.hits, cache.misses, cache.entries.len(), cache.bytes)
        })
        .unwrap_or((0, 0, 0, 0))
}

/// Turns this thread's cache on or off (tests and benchmarks compare with
/// and without it), emptying it.
pub fn set_enabled(enabled: bool) {
    let _ = ENABLED.try_with(|e| e.set(enabled));
    free();
}

/// Empties this thread's cache (its environment ended, or tests).
pub fn free() {
    let _ = CACHE.try_with(|cache| {
        if let Ok(mut cache) = cache.try_borrow_mut() {
            *cache = Cache::default();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(level: i32) -> zlib_rs::DeflateConfig {
        zlib_rs::DeflateConfig {
            level,
            method: zlib_rs::Method::Deflated,
            window_bits: -15,
            mem_level: 8,
            strategy: zlib_rs::Strategy::Default,
        }
    }

    #[test]
    fn the_same_bytes_and_parameters_compress_once() {
        free();
        let mut calls = 0;
        let mut run = |level: i32, input: &[u8]| {
            compressed_once::<()>(config(level), input, || {
                calls += 1;
                Ok(input.iter().rev().copied().collect())
            })
            .unwrap()
        };
        assert_eq!(run(6, b"hello"), b"olleh");
        assert_eq!(run(6, b"hello"), b"olleh");
        // Another level, other bytes, a prefix: compressed anew.
        assert_eq!(run(1, b"hello"), b"olleh");
        assert_eq!(run(6, b"hellO"), b"Olleh");
        assert_eq!(run(6, b"hell"), b"lleh");
        assert_eq!(calls, 4);
        let (hits, misses, entries, _) = stats();
        assert_eq!((hits, misses, entries), (1, 4, 4));
    }

    #[test]
    fn a_hash_collision_never_returns_another_payload() {
        free();
        let a = b"payload a".to_vec();
        let key = hash(&a);
        // Forge an entry whose hash is the one `b` will have, with a's bytes.
        let b = b"payload b".to_vec();
        CACHE.with(|cache| {
            cache.borrow_mut().keep(Entry {
                config: config(6),
                hash: hash(&b),
                input: a.clone(),
                output: b"wrong".to_vec(),
            })
        });
        let out = compressed_once::<()>(config(6), &b, || Ok(b"right".to_vec())).unwrap();
        assert_eq!(out, b"right");
        assert_ne!(key, 0);
    }

    #[test]
    fn the_budget_holds_and_the_least_recently_used_go_first() {
        free();
        let big = vec![7u8; CACHE_BYTES / 4];
        for i in 0..8u8 {
            let mut input = big.clone();
            input[0] = i;
            compressed_once::<()>(config(6), &input, || Ok(vec![i; 16])).unwrap();
            let (_, _, _, bytes) = stats();
            assert!(bytes <= CACHE_BYTES);
        }
        let many: Vec<Vec<u8>> = (0..CACHE_ENTRIES as u32 + 10)
            .map(|i| i.to_le_bytes().to_vec())
            .collect();
        for input in &many {
            compressed_once::<()>(config(6), input, || Ok(input.clone())).unwrap();
        }
        let (_, _, entries, _) = stats();
        assert_eq!(entries, CACHE_ENTRIES);
        // The first few went; the last is there.
        let mut called = false;
        compressed_once::<()>(config(6), &many[0], || {
            called = true;
            Ok(many[0].clone())
        })
        .unwrap();
        assert!(called);
    }

    #[test]
    fn a_failure_is_not_kept_and_off_means_off() {
        free();
        assert_eq!(
            compressed_once(config(6), b"x", || Err("boom")),
            Err("boom")
        );
        assert_eq!(stats().2, 0);
        set_enabled(false);
        let mut calls = 0;
        for _ in 0..3 {
            compressed_once::<()>(config(6), b"y", || {
                calls += 1;
                Ok(vec![1])
            })
            .unwrap();
        }
        set_enabled(true);
        assert_eq!(calls, 3);
    }

    /// Many sessions with mixed parameters and payloads, sending from a
    /// small pool of messages so that most repeat (a broadcast), compress to
    /// exactly what sessions that never share produce, message by message,
    /// and a decompressor with the same parameters reads each back.
    mod differential {
        use super::super::*;
        use crate::deflate::{Compressor, Decompressor, DirectionParams, SessionParams, Strategy};
        use proptest::prelude::{
            any, prop, prop_assert_eq, prop_oneof, proptest, Just, ProptestConfig,
        };
        use proptest::strategy::Strategy as _;

        fn params() -> impl proptest::strategy::Strategy<Value = SessionParams> {
            (9u8..=15, any::<bool>(), -1i32..=9, 1i32..=9, 0u8..=4).prop_map(
                |(bits, takeover, level, mem_level, strategy)| {
                    let direction = DirectionParams {
                        window_bits: bits,
                        context_takeover: takeover,
                    };
                    SessionParams {
                        outgoing: direction,
                        incoming: direction,
                        level,
                        mem_level,
                        strategy: Strategy::from_number(f64::from(strategy)).unwrap(),
                    }
                },
            )
        }

        fn sends(
            sessions: &[SessionParams],
            plan: &[(usize, usize)],
            pool: &[Vec<u8>],
        ) -> Vec<Vec<u8>> {
            let mut compressors: Vec<Compressor> = sessions.iter().map(Compressor::new).collect();
            let n = compressors.len();
            plan.iter()
                .map(|&(s, m)| compressors[s % n].compress(&pool[m % pool.len()]).unwrap())
                .collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn shared_results_are_the_results_of_sessions_that_never_share(
                sessions in prop::collection::vec(params(), 1..12),
                pool in prop::collection::vec(
                    prop::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..3000),
                    1..5,
                ),
                plan in prop::collection::vec((any::<usize>(), any::<usize>()), 1..60),
            ) {
                set_enabled(true);
                let shared = sends(&sessions, &plan, &pool);
                set_enabled(false);
                let alone = sends(&sessions, &plan, &pool);
                set_enabled(true);
                prop_assert_eq!(&shared, &alone);
                // Each session's stream reads back, shared or not.
                let mut readers: Vec<Decompressor> = sessions.iter().map(Decompressor::new).collect();
                let n = readers.len();
                for (k, &(s, m)) in plan.iter().enumerate() {
                    let got = readers[s % n].decompress(&shared[k], None).unwrap();
                    prop_assert_eq!(&got, &pool[m % pool.len()]);
                }
            }
        }

        #[test]
        fn a_broadcast_without_context_takeover_compresses_once() {
            set_enabled(true);
            free();
            let params = SessionParams {
                outgoing: DirectionParams {
                    window_bits: 15,
                    context_takeover: false,
                },
                incoming: DirectionParams {
                    window_bits: 15,
                    context_takeover: false,
                },
                level: -1,
                mem_level: 8,
                strategy: Strategy::from_number(0.0).unwrap(),
            };
            let message = b"{\"channel\":\"/chat\",\"data\":\"hello, everyone\"}".repeat(10);
            let mut subscribers: Vec<Compressor> =
                (0..500).map(|_| Compressor::new(&params)).collect();
            let first = subscribers[0].compress(&message).unwrap();
            for s in &mut subscribers[1..] {
                assert_eq!(s.compress(&message).unwrap(), first);
            }
            let (hits, misses, _, _) = stats();
            assert_eq!((hits, misses), (499, 1));
        }
    }
}
