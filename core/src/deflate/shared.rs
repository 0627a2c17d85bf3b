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
//! - Per thread for a JavaScript thread, like the codec's scratch state.
//!   Every access goes through `try_with`, so a thread that is ending
//!   compresses without it.
//! - One for all the offload workers (large messages), which coalesces:
//!   when a worker asks for a result that another worker is computing, it
//!   waits for it instead of compressing the same bytes again. A broadcast
//!   of a large message to many connections is queued to all the workers
//!   at once, so without this each of them would miss and compress it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::hash::Hasher;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// The byte budget of one thread's cache (payloads and results).
pub const CACHE_BYTES: usize = 1024 * 1024;
/// The most entries one thread's cache keeps.
pub const CACHE_ENTRIES: usize = 64;
/// Payloads larger than this are compressed as usual and not kept.
pub const CACHE_MAX_INPUT: usize = 256 * 1024;

/// What a result is kept under: the zlib parameters and the payload, both
/// compared in full; the hash only finds the candidates.
struct Key {
    config: zlib_rs::DeflateConfig,
    hash: u64,
    input: Vec<u8>,
}

impl Key {
    fn is(&self, config: &zlib_rs::DeflateConfig, hash: u64, input: &[u8]) -> bool {
        self.hash == hash && self.config == *config && self.input.as_slice() == input
    }
}

/// One result in a JavaScript thread's cache.
struct Entry {
    key: Key,
    output: Vec<u8>,
}

impl Entry {
    fn bytes(&self) -> usize {
        self.key.input.len() + self.output.len()
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
            .rposition(|e| e.key.is(config, hash, input))?;
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

/// The workers' cache holds as much as four threads' caches would.
pub const WORKERS_CACHE_BYTES: usize = 4 * CACHE_BYTES;

// Every payload kept fits the workers' budget.
const _: () = assert!(CACHE_MAX_INPUT <= WORKERS_CACHE_BYTES);

/// One result in the workers' cache: being computed by one worker, or done.
struct Flight {
    id: u64,
    key: Key,
    /// `None` while a worker computes it.
    output: Option<Vec<u8>>,
}

impl Flight {
    fn bytes(&self) -> usize {
        self.key.input.len() + self.output.as_ref().map_or(0, Vec::len)
    }
}

/// The offload workers' cache, least recently used first.
#[derive(Default)]
struct Flights {
    entries: VecDeque<Flight>,
    bytes: usize,
    next_id: u64,
    hits: u64,
    misses: u64,
}

static WORKERS: Mutex<Flights> = Mutex::new(Flights {
    entries: VecDeque::new(),
    bytes: 0,
    next_id: 0,
    hits: 0,
    misses: 0,
});
/// Signalled when a result in [`WORKERS`] is done or withdrawn.
static LANDED: Condvar = Condvar::new();

fn workers() -> MutexGuard<'static, Flights> {
    WORKERS.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Flights {
    /// Drops the least recently used results that are done until the
    /// budget holds; results being computed stay.
    fn trim(&mut self) {
        while self.bytes > WORKERS_CACHE_BYTES {
            let Some(at) = self.entries.iter().position(|f| f.output.is_some()) else {
                break;
            };
            if let Some(old) = self.entries.remove(at) {
                self.bytes -= old.bytes();
            }
        }
    }
}

/// Withdraws the result `id` unless it was done: the worker computing it
/// failed, or unwound. Those waiting then compress for themselves.
struct Pending(u64);

impl Drop for Pending {
    fn drop(&mut self) {
        let mut flights = workers();
        if let Some(at) = flights
            .entries
            .iter()
            .position(|f| f.id == self.0 && f.output.is_none())
        {
            if let Some(gone) = flights.entries.remove(at) {
                flights.bytes -= gone.bytes();
            }
        }
        drop(flights);
        LANDED.notify_all();
    }
}

/// [`compressed_once`] on an offload worker: through the workers' cache,
/// waiting for a result another worker is computing.
fn coalesced<E>(
    config: zlib_rs::DeflateConfig,
    key: u64,
    input: &[u8],
    compress: impl FnOnce() -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, E> {
    let mut flights = workers();
    // A result done is copied; one being computed is waited for.
    while let Some(at) = flights
        .entries
        .iter()
        .position(|f| f.key.is(&config, key, input))
    {
        if let Some(output) = flights.entries[at].output.clone() {
            flights.hits += 1;
            // The most recently used goes last.
            if let Some(flight) = flights.entries.remove(at) {
                flights.entries.push_back(flight);
            }
            return Ok(output);
        }
        flights = LANDED.wait(flights).unwrap_or_else(PoisonError::into_inner);
    }
    flights.misses += 1;
    let id = flights.next_id;
    flights.next_id += 1;
    let flight = Flight {
        id,
        key: Key {
            config,
            hash: key,
            input: input.to_vec(),
        },
        output: None,
    };
    flights.bytes += flight.bytes();
    flights.entries.push_back(flight);
    flights.trim();
    drop(flights);
    let pending = Pending(id);
    let output = compress()?;
    let mut flights = workers();
    if let Some(flight) = flights.entries.iter_mut().find(|f| f.id == id) {
        flight.output = Some(output.clone());
        flights.bytes += output.len();
        flights.trim();
    }
    drop(flights);
    // Wakes the waiters (and withdraws nothing: the result is done).
    drop(pending);
    Ok(output)
}

/// The result of compressing `input` as a stream of its own with `config`:
/// a copy of an earlier result for the same parameters and bytes (this
/// thread's, or on an offload worker all the workers'), or `compress()`'s
/// (kept for the next asker when it succeeds).
pub fn compressed_once<E>(
    config: zlib_rs::DeflateConfig,
    input: &[u8],
    compress: impl FnOnce() -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, E> {
    if input.len() > CACHE_MAX_INPUT {
        return compress();
    }
    let key = hash(input);
    if crate::offload::on_worker() {
        return coalesced(config, key, input, compress);
    }
    if !ENABLED.try_with(|e| e.get()).unwrap_or(false) {
        return compress();
    }
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
        key: Key {
            config,
            hash: key,
            input: input.to_vec(),
        },
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

/// The offload workers' cache figures: hits (including waits for another
/// worker's result), misses, entries and bytes kept.
pub fn workers_stats() -> (u64, u64, usize, usize) {
    let flights = workers();
    (
        flights.hits,
        flights.misses,
        flights.entries.len(),
        flights.bytes,
    )
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

/// Turns this thread's cache on or off (tests compare with and without
/// it), emptying it. The workers' cache stays on.
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
                key: Key {
                    config: config(6),
                    hash: hash(&b),
                    input: a.clone(),
                },
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

    /// Runs `ask` on `threads` threads that count as offload workers, all
    /// starting together; returns what each got.
    fn on_workers<T: Send + 'static>(
        threads: usize,
        ask: impl Fn(usize) -> T + Send + Sync + 'static,
    ) -> Vec<T> {
        let ask = std::sync::Arc::new(ask);
        let start = std::sync::Arc::new(std::sync::Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (ask, start) = (ask.clone(), start.clone());
                std::thread::spawn(move || {
                    crate::offload::act_as_worker();
                    start.wait();
                    ask(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    #[test]
    fn workers_asking_for_the_same_message_at_once_compress_it_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // A payload no other test uses: the workers' cache is the process's.
        let payload: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i ^ 0x5eed).to_le_bytes())
            .collect();
        let payload = std::sync::Arc::new(payload);
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let (p, c) = (payload.clone(), calls.clone());
        let outputs = on_workers(8, move |_| {
            compressed_once::<()>(config(6), &p, || {
                c.fetch_add(1, Ordering::SeqCst);
                // Slow enough that the others ask while it runs.
                std::thread::sleep(std::time::Duration::from_millis(50));
                Ok(p.iter().rev().copied().collect())
            })
            .unwrap()
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let expected: Vec<u8> = payload.iter().rev().copied().collect();
        assert!(outputs.iter().all(|o| *o == expected));
        // Other parameters are another message.
        let p = payload.clone();
        let other = on_workers(1, move |_| {
            compressed_once::<()>(config(1), &p, || Ok(b"level 1".to_vec())).unwrap()
        });
        assert_eq!(other[0], b"level 1");
        // The JavaScript thread's cache is its own.
        let ours = compressed_once::<()>(config(6), &payload, || Ok(b"this thread".to_vec()));
        assert_eq!(ours.unwrap(), b"this thread");
    }

    #[test]
    fn when_the_worker_computing_a_result_fails_the_waiting_ones_compress_for_themselves() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let payload: Vec<u8> = (0..40_000u32)
            .flat_map(|i| (i ^ 0xfa11).to_le_bytes())
            .collect();
        let payload = std::sync::Arc::new(payload);
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let (p, c) = (payload.clone(), calls.clone());
        let outputs = on_workers(4, move |_| {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                compressed_once::<&str>(config(6), &p, || {
                    let n = c.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(30));
                    match n {
                        0 => Err("the first fails"),
                        1 => panic!("the second unwinds"),
                        _ => Ok(b"done".to_vec()),
                    }
                })
            }));
            match result {
                Ok(Ok(out)) => String::from_utf8(out).unwrap(),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "panicked".to_string(),
            }
        });
        let mut outputs = outputs;
        outputs.sort();
        // Nobody waits forever; nothing failed is handed out; the third
        // compression is shared by whoever waited for it.
        assert_eq!(outputs, ["done", "done", "panicked", "the first fails"]);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
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
