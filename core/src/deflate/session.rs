//! One permessage-deflate session: the negotiated parameters and a codec
//! lane per direction. Plain Rust; the addon's binding
//! (`src/deflate_binding.rs`) turns JavaScript values into these calls.

use crate::deflate::{
    client_activate, client_offer, server_choose, Accepted, CodecStats, CompressError, Compressor,
    Decompressor, DeflateConfig, InflateError, SessionParams,
};
use crate::offload::{Codec, Inline, Job, Lane};
use crate::parser::Params;
use crate::pipeline::Direction;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Messages at least this large are compressed on a worker thread. Below it,
/// compressing inline costs less than the hand-off (a copy, a wake-up and a
/// return through the threadsafe function); above it, a message blocks the
/// event loop noticeably. A chosen value, not swept by the benchmark
/// (bench/results.md has the round trips around it).
pub const OFFLOAD_COMPRESS_BYTES: usize = 64 * 1024;
/// Compressed messages at least this large are inflated on a worker thread.
pub const OFFLOAD_INFLATE_BYTES: usize = 16 * 1024;

/// The outgoing direction's codec, as a lane runs it.
pub struct Deflater(Compressor);

impl Codec for Deflater {
    type Output = Result<Vec<u8>, CompressError>;
    fn process(&mut self, input: &[u8]) -> Self::Output {
        self.0.compress(input)
    }
    fn release(&mut self) {
        self.0.release();
    }
    fn rest(&mut self) {
        self.0.rest();
    }
    fn panicked() -> Self::Output {
        Err(CompressError("internal error in the compressor".into()))
    }
}

/// The incoming direction's codec, bounded by maxLength, as a lane runs it.
pub struct Inflater {
    codec: Decompressor,
    max_len: Option<usize>,
}

impl Codec for Inflater {
    type Output = Result<Vec<u8>, InflateError>;
    fn process(&mut self, input: &[u8]) -> Self::Output {
        self.codec.decompress(input, self.max_len)
    }
    fn release(&mut self) {
        self.codec.release();
    }
    fn rest(&mut self) {
        self.codec.rest();
    }
    fn panicked() -> Self::Output {
        Err(InflateError::Corrupt(
            "internal error in the decompressor".into(),
        ))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Client,
    Server,
}

struct Lanes {
    outgoing: Arc<Lane<Deflater>>,
    incoming: Arc<Lane<Inflater>>,
}

/// What became of a message handed to a lane.
pub enum Outcome<O> {
    /// Processed inline; here is its result.
    Done(O),
    /// Queued for a worker; the result goes to the job's `deliver`.
    Queued,
}

/// One permessage-deflate session, client or server: what was negotiated
/// and a lane per direction once it is active.
pub struct Session {
    config: DeflateConfig,
    role: Role,
    max_len: Option<usize>,
    response: Option<Params>,
    lanes: Option<Lanes>,
    closed: bool,
}

/// Sessions not yet dropped, on every thread of the process.
static SESSIONS_ALIVE: AtomicUsize = AtomicUsize::new(0);

/// How many sessions exist in the process, on every thread: a figure for
/// operators, and the proof that a thread's sessions go with it.
pub fn sessions_alive() -> usize {
    SESSIONS_ALIVE.load(Ordering::Relaxed)
}

impl Drop for Session {
    /// Closes the session: its codecs are freed now, or by the worker that
    /// has them once the messages queued for it are done.
    fn drop(&mut self) {
        self.close();
        SESSIONS_ALIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Session {
    /// A client session, not active until [`Session::activate`].
    pub fn client(config: DeflateConfig, max_len: Option<usize>) -> Session {
        SESSIONS_ALIVE.fetch_add(1, Ordering::Relaxed);
        Session {
            config,
            role: Role::Client,
            max_len,
            response: None,
            lanes: None,
            closed: false,
        }
    }

    /// A server session for the first acceptable offer, or `None` when no
    /// offer is acceptable.
    pub fn server(
        config: DeflateConfig,
        offers: &[Params],
        max_len: Option<usize>,
    ) -> Option<Session> {
        let accepted = server_choose(&config, offers)?;
        Some(Session::server_accepted(config, accepted, max_len))
    }

    /// A server session for parameters already accepted from an offer
    /// ([`server_choose`], perhaps packed and unpacked since): the one path
    /// by which [`Session::server`] makes its session too.
    pub fn server_accepted(
        config: DeflateConfig,
        accepted: Accepted,
        max_len: Option<usize>,
    ) -> Session {
        SESSIONS_ALIVE.fetch_add(1, Ordering::Relaxed);
        let params = accepted.params(&config);
        let mut session = Session {
            config,
            role: Role::Server,
            max_len,
            response: Some(accepted.response()),
            lanes: None,
            closed: false,
        };
        session.start(&params);
        session
    }

    fn start(&mut self, params: &SessionParams) {
        self.lanes = Some(Lanes {
            outgoing: Lane::new(Deflater(
                Compressor::new(params).with_rest_history(self.config.rest_history),
            )),
            incoming: Lane::new(Inflater {
                codec: Decompressor::new(params),
                max_len: self.max_len,
            }),
        });
    }

    /// The offer a client session sends (`generateOffer`).
    pub fn offer(&self) -> Params {
        client_offer(&self.config)
    }

    /// Applies the server's response; false when it is not acceptable.
    pub fn activate(&mut self, response: &Params) -> bool {
        if self.role != Role::Client || self.lanes.is_some() {
            return false;
        }
        match client_activate(&self.config, response) {
            Some(params) => {
                self.start(&params);
                true
            }
            None => false,
        }
    }

    /// The response a server session sends (`generateResponse`); `None`
    /// for a client.
    pub fn response(&self) -> Option<&Params> {
        self.response.as_ref()
    }

    /// Whether messages can be processed: negotiated and not closed.
    pub fn is_active(&self) -> bool {
        self.lanes.is_some() && !self.closed
    }

    /// Compresses one outgoing message inline, or queues it when it is large
    /// or earlier messages are still on a worker. `None` when the session is
    /// not active.
    pub fn compress(
        &self,
        input: &[u8],
        deliver: impl FnOnce() -> Box<dyn FnOnce(<Deflater as Codec>::Output) + Send>,
    ) -> Option<Outcome<<Deflater as Codec>::Output>> {
        let lanes = self.lanes.as_ref().filter(|_| !self.closed)?;
        Some(run(&lanes.outgoing, input, OFFLOAD_COMPRESS_BYTES, deliver))
    }

    /// Decompresses one incoming message, as [`Session::compress`] does.
    pub fn decompress(
        &self,
        input: &[u8],
        deliver: impl FnOnce() -> Box<dyn FnOnce(<Inflater as Codec>::Output) + Send>,
    ) -> Option<Outcome<<Inflater as Codec>::Output>> {
        let lanes = self.lanes.as_ref().filter(|_| !self.closed)?;
        Some(run(&lanes.incoming, input, OFFLOAD_INFLATE_BYTES, deliver))
    }

    /// Whether an outgoing message of `len` bytes is to be sent as it is,
    /// uncompressed (RSV1 clear): it is under the `threshold`, and nothing is
    /// queued that it would overtake.
    pub fn sends_uncompressed(&self, len: usize) -> bool {
        len < self.config.threshold
            && self
                .lanes
                .as_ref()
                .is_some_and(|lanes| !self.closed && !lanes.outgoing.is_busy())
    }

    /// Gives both directions' zlib states back, keeping their history (see
    /// `codec.rs`); a direction with work on a worker goes on working. True
    /// when neither holds a state afterwards.
    pub fn rest(&self) -> bool {
        match &self.lanes {
            Some(lanes) => {
                let outgoing = lanes.outgoing.rest();
                let incoming = lanes.incoming.rest();
                outgoing && incoming
            }
            None => true,
        }
    }

    /// The bytes direction `dir` holds now (its zlib state, as zlib's
    /// formula counts it, and its history), or `None` while a worker has it
    /// (and before activation).
    pub fn held(&self, dir: Direction) -> Option<usize> {
        let stats = self.lane_stats(dir)?;
        Some(stats.state_bytes + stats.history_bytes)
    }

    /// Direction `dir`'s figures, or `None` while a worker has it (and
    /// before activation).
    fn lane_stats(&self, dir: Direction) -> Option<CodecStats> {
        let lanes = self.lanes.as_ref()?;
        match dir {
            Direction::Outgoing => lanes.outgoing.peek(|d| d.0.stats()),
            Direction::Incoming => lanes.incoming.peek(|i| i.codec.stats()),
        }
    }

    /// The outgoing and incoming directions' figures, or `None` for a
    /// direction a worker has now (and for both before activation).
    pub fn stats(&self) -> (Option<CodecStats>, Option<CodecStats>) {
        (
            self.lane_stats(Direction::Outgoing),
            self.lane_stats(Direction::Incoming),
        )
    }

    /// The per-thread budget of live sessions this session's extension asks
    /// for (`liveStates`).
    pub fn live_states(&self) -> usize {
        self.config.live_states
    }

    /// How long after its last message this session rests whatever the
    /// budget (`restAfter`, milliseconds), or `None` (0: never).
    pub fn rest_after(&self) -> Option<u64> {
        Some(self.config.rest_after).filter(|&ms| ms > 0)
    }

    /// Frees both codecs (at once, or after the work on a worker is done).
    pub fn close(&mut self) {
        self.closed = true;
        if let Some(lanes) = &self.lanes {
            lanes.outgoing.close();
            lanes.incoming.close();
        }
    }
}

/// One thread's sessions that may hold zlib states, least recently used
/// first, with the time each last worked: it picks the sessions that rest,
/// either beyond the `liveStates` budget ([`LiveOrder::rest_beyond`]) or idle
/// for their `restAfter` ([`LiveOrder::rest_idle`]). Times are milliseconds
/// on a clock the caller reads (so tests inject it); sessions are named by
/// small numbers, as the binding's table numbers them.
#[derive(Default)]
pub struct LiveOrder {
    /// By stamp, oldest first. Stamps grow with each use, and so do the
    /// times along the order.
    order: BTreeMap<u64, LastUse>,
    /// Each session's stamp in `order`, by its number.
    stamps: Vec<Option<u64>>,
    next: u64,
    /// How many in `order` have a `restAfter`: the timer runs while any do.
    timed: usize,
    /// Each session's last use, by its number, as a stamp plus one (0:
    /// never), kept while it rests: the admission rule of
    /// [`LiveOrder::touch_within`] compares it with the live sessions'.
    used: Vec<u64>,
    /// Each session's last use found it cold (see
    /// [`LiveOrder::touch_within`]), by its number.
    cooled: Vec<bool>,
}

#[derive(Clone, Copy, Debug)]
struct LastUse {
    id: u32,
    at: u64,
    rest_after: Option<u64>,
}

/// The idle sweep runs no more often than this fraction of the shortest
/// `restAfter`, however the deadlines fall, so a session rests between its
/// `restAfter` and an eighth more.
const SWEEP_SLACK: u64 = 8;

impl LiveOrder {
    /// Session `id` worked at `now`, and at most `budget` sessions may stay
    /// live: which one rests?
    ///
    /// A live session becomes the most recently used, as [`LiveOrder::touch`]
    /// does. A session that woke up for this message while the budget is
    /// full stays live only if it was used more recently before this
    /// message than the least recently used live session was: then that
    /// one rests. Otherwise it rests itself, at once, while its state is
    /// still in the cache; the live sessions stay. So sessions that take
    /// turns (an echo server's thousand connections, a broadcast's
    /// subscribers) no longer rest one another in a circle, each message
    /// waking one and resting another whose state has gone cold (the least
    /// recently used order's worst case); a session that sends again soon
    /// (a burst, a busy connection) displaces a live one that went quiet.
    ///
    /// A session used again only after more than `budget` uses of other
    /// sessions rests itself after this message too, live or not: so many
    /// other states have been worked since that its own is cold, and a cold
    /// live state costs more than a resting one woken and primed
    /// (core/examples/cold_cost.rs: 1.5 to 3.5 times as much with 64
    /// sessions or more taking turns). Its next use rests it too if that
    /// comes at once (an echo's reply to the message that woke it): only a
    /// third use in a row without that gap makes it a candidate for the
    /// budget again. The budget then holds the sessions that work in
    /// bursts, not the first ones of a rotation, and a state rests right
    /// after its use, while still in the cache, rather than after a second
    /// of other sessions' work. `rest(id)` is as in
    /// [`LiveOrder::rest_beyond`].
    pub fn touch_within(
        &mut self,
        id: u32,
        now: u64,
        rest_after: Option<u64>,
        budget: usize,
        mut rest: impl FnMut(u32) -> bool,
    ) {
        let slot = id as usize;
        let live = self.stamps.get(slot).is_some_and(Option::is_some);
        let previous = self.used.get(slot).copied().unwrap_or(0);
        // Uses of other sessions since this one's last (`used` is a stamp
        // plus one; 0: never used).
        let cold = previous > 0 && self.next - previous > budget as u64;
        let cooled = self.cooled.get(slot).copied().unwrap_or(false);
        let rests_itself = if cold || cooled {
            if live {
                self.forget(id);
            }
            true
        } else {
            // Not admitted: woken with the budget full, and not used since
            // the least recently used live session was.
            !live
                && self.order.len() >= budget
                && previous <= self.order.keys().next().map_or(0, |&stamp| stamp + 1)
        };
        if rests_itself {
            // Note the use, and rest now.
            self.note_use(slot, self.next);
            self.cooled[slot] = cold;
            self.next += 1;
            if rest(id) {
                // (With a smaller budget than the live sessions had, some
                // of them too.)
                self.rest_beyond(budget, now, rest);
                return;
            }
        }
        self.touch(id, now, rest_after);
        self.rest_beyond(budget, now, rest);
    }

    fn note_use(&mut self, slot: usize, stamp: u64) {
        if self.used.len() <= slot {
            self.used.resize(slot + 1, 0);
            self.cooled.resize(slot + 1, false);
        }
        self.used[slot] = stamp + 1;
    }

    /// Session `id` worked at `now`: it becomes the most recently used.
    pub fn touch(&mut self, id: u32, now: u64, rest_after: Option<u64>) {
        let slot = id as usize;
        if self.stamps.len() <= slot {
            self.stamps.resize(slot + 1, None);
        }
        let newest = self.next.checked_sub(1);
        if self.stamps[slot].is_some() && self.stamps[slot] == newest {
            // A steady sender: no move in the order, only the time.
            if let Some(last) = newest.and_then(|stamp| self.order.get_mut(&stamp)) {
                self.timed -= usize::from(last.rest_after.is_some());
                last.at = now;
                last.rest_after = rest_after;
                self.timed += usize::from(rest_after.is_some());
            }
            return;
        }
        self.forget(id);
        self.push(LastUse {
            id,
            at: now,
            rest_after,
        });
    }

    fn push(&mut self, last: LastUse) {
        let stamp = self.next;
        self.next += 1;
        self.timed += usize::from(last.rest_after.is_some());
        self.stamps[last.id as usize] = Some(stamp);
        self.note_use(last.id as usize, stamp);
        self.order.insert(stamp, last);
    }

    /// Takes session `id` out of the order, and forgets its last use (it
    /// closed or was freed, and its number may be reused).
    pub fn forget(&mut self, id: u32) {
        if let Some(used) = self.used.get_mut(id as usize) {
            *used = 0;
        }
        if let Some(cooled) = self.cooled.get_mut(id as usize) {
            *cooled = false;
        }
        let stamp = self.stamps.get_mut(id as usize).and_then(Option::take);
        if let Some(last) = stamp.and_then(|stamp| self.order.remove(&stamp)) {
            self.timed -= usize::from(last.rest_after.is_some());
        }
    }

    /// Sessions in the order.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the order is empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Whether a session in the order has a `restAfter`, so that an idle
    /// sweep is wanted.
    pub fn is_timed(&self) -> bool {
        self.timed > 0
    }

    /// Rests the least recently used sessions until at most `budget` are
    /// left. `rest(id)` rests one and returns false when it cannot rest now
    /// (a worker has its work): it stays, as used at `now`.
    pub fn rest_beyond(&mut self, budget: usize, now: u64, mut rest: impl FnMut(u32) -> bool) {
        let mut busy = Vec::new();
        while self.order.len() > budget {
            let Some((_, last)) = self.order.pop_first() else {
                break;
            };
            self.stamps[last.id as usize] = None;
            self.timed -= usize::from(last.rest_after.is_some());
            if !rest(last.id) {
                busy.push(last);
            }
        }
        for last in busy {
            self.push(LastUse { at: now, ..last });
        }
    }

    /// Rests every session that has not worked for its `restAfter`, as
    /// [`LiveOrder::rest_beyond`] does. Returns the milliseconds until the
    /// next is due (at least an eighth of the shortest `restAfter`), or
    /// `None` when no session in the order has a `restAfter`.
    pub fn rest_idle(&mut self, now: u64, mut rest: impl FnMut(u32) -> bool) -> Option<u64> {
        let due: Vec<u64> = self
            .order
            .iter()
            .filter(|(_, last)| {
                last.rest_after
                    .is_some_and(|after| now.saturating_sub(last.at) >= after)
            })
            .map(|(&stamp, _)| stamp)
            .collect();
        for stamp in due {
            let Some(last) = self.order.remove(&stamp) else {
                continue;
            };
            self.stamps[last.id as usize] = None;
            self.timed -= 1;
            if !rest(last.id) {
                self.push(LastUse { at: now, ..last });
            }
        }
        let mut next: Option<u64> = None;
        let mut shortest = u64::MAX;
        for last in self.order.values() {
            if let Some(after) = last.rest_after {
                let left = last.at.saturating_add(after).saturating_sub(now);
                next = Some(next.map_or(left, |n| n.min(left)));
                shortest = shortest.min(after);
            }
        }
        next.map(|left| left.max(shortest / SWEEP_SLACK).max(1))
    }
}

fn run<C: Codec>(
    lane: &Arc<Lane<C>>,
    input: &[u8],
    offload_at: usize,
    deliver: impl FnOnce() -> Box<dyn FnOnce(C::Output) + Send>,
) -> Outcome<C::Output> {
    if input.len() < offload_at {
        if let Inline::Done(output) = lane.try_inline(input) {
            return Outcome::Done(output);
        }
    }
    lane.enqueue(Job {
        input: input.to_vec(),
        deliver: deliver(),
    });
    Outcome::Queued
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::ParamValue;
    use std::sync::mpsc;

    fn pair() -> (Session, Session) {
        let mut client = Session::client(DeflateConfig::default(), Some(1 << 20));
        let offer = client.offer();
        let server = Session::server(DeflateConfig::default(), &[offer], Some(1 << 20)).unwrap();
        assert!(client.activate(server.response().unwrap()));
        (client, server)
    }

    fn no_worker() -> Box<dyn FnOnce(Result<Vec<u8>, CompressError>) + Send> {
        panic!("a small message went to a worker")
    }

    #[test]
    fn a_server_from_packed_accepted_parameters_is_the_server_from_the_offer() {
        let offers = [
            "permessage-deflate",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; client_max_window_bits=9; server_max_window_bits=10",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8",
            "permessage-deflate; server_max_window_bits=15",
        ];
        let windows = [None, Some(8), Some(11), Some(15)];
        let mut checked = 0;
        for config in crate::test_support::configs(&windows) {
            for header in offers {
                let offer: Vec<Params> = crate::parser::parse_header(header)
                    .unwrap()
                    .into_iter()
                    .map(|o| o.params)
                    .collect();
                let from_offer = Session::server(config.clone(), &offer, Some(1 << 20)).unwrap();
                let accepted = server_choose(&config, &offer).unwrap();
                let unpacked = Accepted::unpack(accepted.pack()).unwrap();
                assert_eq!(unpacked, accepted, "{header}");
                let packed = Session::server_accepted(config.clone(), unpacked, Some(1 << 20));
                assert_eq!(packed.response(), from_offer.response(), "{header}");
                assert_eq!(packed.max_len, from_offer.max_len);
                assert_eq!(packed.role, Role::Server);
                // Both compress alike, message after message (context
                // takeover and window included).
                for text in ["hello hello hello", "hello again, hello", "x"] {
                    let wire = |s: &Session| match s.compress(text.as_bytes(), no_worker) {
                        Some(Outcome::Done(Ok(wire))) => wire,
                        _ => panic!("not compressed inline"),
                    };
                    let (a, b) = (wire(&from_offer), wire(&packed));
                    assert_eq!(a, b, "{header}");
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 64 * offers.len());
        assert_eq!(Accepted::unpack(1 << 11 | 0xff), None);
        assert_eq!(Accepted::unpack(0x7f), None);
    }

    #[test]
    fn small_messages_round_trip_inline() {
        let (client, server) = pair();
        for text in ["hello", "hello again", ""] {
            let Some(Outcome::Done(Ok(wire))) = client.compress(text.as_bytes(), no_worker) else {
                panic!("not compressed inline");
            };
            let Some(Outcome::Done(Ok(plain))) = server.decompress(&wire, || panic!("worker"))
            else {
                panic!("not inflated inline");
            };
            assert_eq!(plain, text.as_bytes());
        }
    }

    #[test]
    fn large_messages_go_to_a_worker_and_keep_order() {
        let (client, server) = pair();
        let (tx, rx) = mpsc::channel();
        let messages: Vec<Vec<u8>> = (0..6u8)
            .map(|i| {
                let len = if i % 2 == 0 { 200_000 } else { 10 };
                (0..len).map(|j| (j % 251) as u8 ^ i).collect()
            })
            .collect();
        let mut inline = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let tx = tx.clone();
            match client.compress(m, move || Box::new(move |out| tx.send((i, out)).unwrap())) {
                Some(Outcome::Done(out)) => inline.push((i, out)),
                Some(Outcome::Queued) => {}
                None => panic!("inactive"),
            }
        }
        drop(tx);
        let mut results: Vec<_> = rx.iter().chain(inline).collect();
        results.sort_by_key(|(i, _)| *i);
        assert_eq!(results.len(), messages.len());
        // Inflating in order gives every message back, so the compressor saw
        // them in order.
        for ((_, wire), original) in results.into_iter().zip(&messages) {
            let wire = wire.unwrap();
            let (tx, rx) = mpsc::channel();
            let plain =
                match server.decompress(&wire, move || Box::new(move |o| tx.send(o).unwrap())) {
                    Some(Outcome::Done(out)) => out,
                    Some(Outcome::Queued) => rx.recv().unwrap(),
                    None => panic!("inactive"),
                };
            assert_eq!(&plain.unwrap(), original);
        }
    }

    #[test]
    fn bomb_is_refused_by_max_length() {
        let (client, _) = pair();
        let zeros = vec![0u8; 8 << 20];
        let (tx, rx) = mpsc::channel();
        let wire = match client.compress(&zeros, move || Box::new(move |o| tx.send(o).unwrap())) {
            Some(Outcome::Queued) => rx.recv().unwrap().unwrap(),
            _ => panic!("8 MiB should go to a worker"),
        };
        let mut small = Session::client(DeflateConfig::default(), Some(1 << 20));
        let server =
            Session::server(DeflateConfig::default(), &[small.offer()], Some(1 << 20)).unwrap();
        assert!(small.activate(server.response().unwrap()));
        let out = match server.decompress(&wire, || panic!("a small input went to a worker")) {
            Some(Outcome::Done(out)) => out,
            _ => panic!("not inline"),
        };
        assert_eq!(out, Err(InflateError::TooLarge));
    }

    fn configured(options: &[(&str, f64)], takeover: bool, bits: u8) -> DeflateConfig {
        let options: Vec<(String, crate::deflate::OptionValue)> = options
            .iter()
            .map(|(k, v)| (k.to_string(), crate::deflate::OptionValue::Number(*v)))
            .chain([
                (
                    "noContextTakeover".to_string(),
                    crate::deflate::OptionValue::Bool(!takeover),
                ),
                (
                    "maxWindowBits".to_string(),
                    crate::deflate::OptionValue::Number(f64::from(bits)),
                ),
                (
                    "requestMaxWindowBits".to_string(),
                    crate::deflate::OptionValue::Number(f64::from(bits)),
                ),
            ])
            .collect();
        DeflateConfig::default().with_options(&options).unwrap()
    }

    fn inline<O>(outcome: Option<Outcome<O>>) -> O {
        match outcome {
            Some(Outcome::Done(out)) => out,
            _ => panic!("not processed inline"),
        }
    }

    fn text(i: usize, len: usize) -> Vec<u8> {
        format!("{{\"seq\":{i},\"user\":\"u{}\",\"body\":\"", i % 7)
            .bytes()
            .chain((0..len).map(|j| b"abcdefghij"[(i * 3 + j / 5) % 10]))
            .collect()
    }

    #[test]
    fn both_roles_round_trip_across_rests_at_every_window() {
        for bits in 8..=15u8 {
            for takeover in [true, false] {
                let config = configured(&[], takeover, bits);
                let mut client = Session::client(config.clone(), None);
                let server = Session::server(config, &[client.offer()], None).unwrap();
                assert!(client.activate(server.response().unwrap()));
                for i in 0..12 {
                    for (from, to) in [(&client, &server), (&server, &client)] {
                        let input = text(i, 100 + i * 150);
                        let wire = inline(from.compress(&input, no_worker)).unwrap();
                        let plain = inline(to.decompress(&wire, || panic!("worker"))).unwrap();
                        assert!(plain == input, "{bits} {takeover} {i}");
                    }
                    if i % 2 == 0 {
                        assert!(client.rest() && server.rest());
                        for (out, inc) in [client.stats(), server.stats()] {
                            assert!(!out.unwrap().live && !inc.unwrap().live);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_session_asked_to_rest_while_a_worker_has_its_message_goes_on() {
        let (client, server) = pair();
        // Context first, so that the large message refers back to it.
        let first = text(0, 5000);
        let wire = inline(client.compress(&first, no_worker)).unwrap();
        inline(server.decompress(&wire, || panic!("worker"))).unwrap();
        let large: Vec<u8> = (0..40).flat_map(|i| text(i, 5000)).collect();
        let (tx, rx) = mpsc::channel();
        let queued = client.compress(&large, move || Box::new(move |o| tx.send(o).unwrap()));
        assert!(matches!(queued, Some(Outcome::Queued)));
        // The outgoing lane is working, or has just finished.
        let rested = client.rest();
        let wire = rx.recv().unwrap().unwrap();
        let (tx, rx) = mpsc::channel();
        let plain = match server.decompress(&wire, move || Box::new(move |o| tx.send(o).unwrap())) {
            Some(Outcome::Done(out)) => out,
            Some(Outcome::Queued) => rx.recv().unwrap(),
            _ => panic!("inactive"),
        };
        assert!(plain.unwrap() == large);
        // Whether or not it rested then, it rests now, and goes on.
        while !client.rest() {
            std::thread::yield_now();
        }
        let _ = rested;
        let last = text(39, 5000);
        let wire = inline(client.compress(&last, no_worker)).unwrap();
        assert!(wire.len() < 64, "the message refers back: {}", wire.len());
        assert_eq!(
            inline(server.decompress(&wire, || panic!("worker"))).unwrap(),
            last
        );
    }

    #[test]
    fn a_resting_session_closes_and_frees_its_history() {
        let (mut client, server) = pair();
        for i in 0..3 {
            let wire = inline(client.compress(&text(i, 600), no_worker)).unwrap();
            inline(server.decompress(&wire, || panic!("worker"))).unwrap();
        }
        assert!(client.rest());
        assert!(client.stats().0.unwrap().history_bytes > 0);
        client.close();
        let (out, inc) = client.stats();
        assert_eq!(out.unwrap().history_bytes + inc.unwrap().history_bytes, 0);
        assert!(client.compress(b"x", no_worker).is_none());
    }

    #[test]
    fn messages_under_the_threshold_go_uncompressed() {
        let config = configured(&[("threshold", 100.0)], true, 15);
        let mut client = Session::client(config.clone(), None);
        let server = Session::server(config, &[client.offer()], None).unwrap();
        assert!(client.activate(server.response().unwrap()));
        assert!(client.sends_uncompressed(99));
        assert!(!client.sends_uncompressed(100));
        let wire = inline(client.compress(&[b'a'; 100], no_worker)).unwrap();
        assert_eq!(
            inline(server.decompress(&wire, || panic!("worker"))).unwrap(),
            [b'a'; 100]
        );
        // The stream goes on past the skipped message.
        let wire = inline(client.compress(&[b'a'; 100], no_worker)).unwrap();
        assert_eq!(
            inline(server.decompress(&wire, || panic!("worker"))).unwrap(),
            [b'a'; 100]
        );
        assert_eq!(client.stats().0.unwrap().bytes_in, 200);
    }

    #[test]
    fn inactive_and_closed_sessions_refuse_messages() {
        let mut client = Session::client(DeflateConfig::default(), None);
        assert!(client.compress(b"x", no_worker).is_none());
        let bad = vec![(
            "server_max_window_bits".to_string(),
            ParamValue::Number(99.0),
        )];
        assert!(!client.activate(&bad));
        let (client, _) = pair();
        let mut client = client;
        client.close();
        assert!(client.compress(b"x", no_worker).is_none());
    }
    /// Rests `ids` as a [`LiveOrder`] picks them, recording the order.
    fn recorder(rested: &mut Vec<u32>) -> impl FnMut(u32) -> bool + '_ {
        |id| {
            rested.push(id);
            true
        }
    }

    #[test]
    fn sessions_taking_turns_rest_themselves_not_one_another() {
        let mut order = LiveOrder::default();
        let mut rested = Vec::new();
        let mut expected = Vec::new();
        // Five sessions send in turn, ten rounds, with room for two.
        for round in 0..10 {
            for id in 0..5 {
                order.touch_within(id, 0, None, 2, recorder(&mut rested));
                // In the first round the first two are admitted and the
                // others rest themselves. After it, every session comes back
                // after more than two uses of others: its state is cold and
                // it rests itself, while that state is still in the cache.
                if round > 0 || id >= 2 {
                    expected.push(id);
                }
            }
        }
        assert_eq!(rested, expected);
        assert_eq!(order.len(), 0);

        // Plain least-recently-used order rests as many, but each is
        // another session, the one whose state has been unused longest.
        let mut lru = LiveOrder::default();
        let mut lru_rested = Vec::new();
        for _round in 0..10 {
            for id in 0..5 {
                lru.touch(id, 0, None);
                lru.rest_beyond(2, 0, recorder(&mut lru_rested));
                assert!(lru_rested.last().is_none_or(|&r| r != id));
            }
        }
        assert_eq!(lru_rested.len(), 48);

        // Within the budget, a rotation stays live.
        let mut roomy = LiveOrder::default();
        let mut none = Vec::new();
        for _round in 0..10 {
            for id in 0..5 {
                roomy.touch_within(id, 0, None, 8, recorder(&mut none));
            }
        }
        assert!(none.is_empty(), "{none:?}");
        assert_eq!(roomy.len(), 5);
    }

    #[test]
    fn the_budget_holds_a_session_working_in_a_burst_not_a_rotation() {
        let mut order = LiveOrder::default();
        let mut rested = Vec::new();
        for _round in 0..10 {
            for id in 0..5 {
                order.touch_within(id, 0, None, 2, recorder(&mut rested));
            }
            // Session 9 sends three times in a row. Cold (or new) at the
            // first message, it rests, and at the second, which follows at
            // once (as an echo's reply would), again; at the third it stays
            // live, displacing at most a live session of the first round.
            rested.clear();
            for _ in 0..3 {
                order.touch_within(9, 0, None, 2, recorder(&mut rested));
            }
            assert_eq!(rested[0], 9);
            assert!(
                rested[1..].iter().all(|&id| id < 2 || id == 9),
                "{rested:?}"
            );
            assert!(order.stamps[9].is_some());
        }
        // The rotation rested itself every time after the first round: only
        // the bursting session is live.
        assert_eq!(order.len(), 1);
    }

    #[test]
    fn a_session_that_sends_again_soon_displaces_the_least_recently_used() {
        let mut order = LiveOrder::default();
        let mut rested = Vec::new();
        for id in [0, 1, 2] {
            order.touch_within(id, 0, None, 2, recorder(&mut rested));
        }
        // 2 woke with the budget full and had never been used: it rests.
        assert_eq!(rested, [2]);
        // It sends again before 0 does: used more recently than 0, the
        // least recently used live one, so 0 rests and 2 stays live.
        order.touch_within(2, 0, None, 2, recorder(&mut rested));
        assert_eq!(rested, [2, 0]);
        order.touch_within(2, 0, None, 2, recorder(&mut rested));
        assert_eq!(rested, [2, 0]);
        // 0 now wakes: 1 has been used since 0 was, so 0 rests again.
        order.touch_within(0, 0, None, 2, recorder(&mut rested));
        assert_eq!(rested, [2, 0, 0]);
        // A session that cannot rest now (a worker has its message) stays
        // live, and the least recently used rests instead.
        order.touch_within(3, 0, None, 2, |id| {
            rested.push(id);
            id != 3
        });
        assert_eq!(rested, [2, 0, 0, 3, 1]);
        assert_eq!(order.len(), 2);
        // 0 rested above for being cold (more than two uses of others since
        // its last): its next use rests it again; the one after is
        // admitted, and 2, the least recently used live one, rests.
        order.touch_within(0, 0, None, 2, recorder(&mut rested));
        order.touch_within(0, 0, None, 2, recorder(&mut rested));
        assert_eq!(rested, [2, 0, 0, 3, 1, 0, 2]);
        // A freed session's number starts again with no use; here there is
        // room for it.
        order.forget(3);
        order.touch_within(3, 0, None, 2, recorder(&mut rested));
        assert_eq!(rested, [2, 0, 0, 3, 1, 0, 2]);
        assert_eq!(order.len(), 2);
        // A budget of 0 rests every session after each message, and the
        // live ones of a larger budget.
        order.touch_within(4, 0, None, 0, recorder(&mut rested));
        assert_eq!(rested, [2, 0, 0, 3, 1, 0, 2, 4, 0, 3]);
        assert_eq!(order.len(), 0);
    }

    #[test]
    fn live_order_rests_the_least_recently_used_beyond_the_budget() {
        let mut order = LiveOrder::default();
        for id in [0, 1, 2, 3, 1] {
            order.touch(id, 0, None);
        }
        let mut rested = Vec::new();
        order.rest_beyond(2, 0, recorder(&mut rested));
        assert_eq!(rested, [0, 2]);
        assert_eq!(order.len(), 2);
        // Forgotten sessions are not rested again.
        order.forget(3);
        order.rest_beyond(0, 0, recorder(&mut rested));
        assert_eq!(rested, [0, 2, 1]);
        assert!(order.is_empty());
    }

    #[test]
    fn live_order_keeps_a_busy_session_as_just_used() {
        let mut order = LiveOrder::default();
        for id in 0..3 {
            order.touch(id, 0, Some(100));
        }
        // Session 0 has work on a worker: it cannot rest, and stays, as
        // used at the time it was asked.
        let mut asked = Vec::new();
        order.rest_beyond(1, 50, |id| {
            asked.push(id);
            id != 0
        });
        assert_eq!(asked, [0, 1]);
        assert_eq!(order.len(), 2);
        // Session 2 was last used at 0, session 0 counts from 50.
        let mut rested = Vec::new();
        assert_eq!(order.rest_idle(100, recorder(&mut rested)), Some(50));
        assert_eq!(order.rest_idle(150, recorder(&mut rested)), None);
        assert_eq!(rested, [2, 0]);
        assert!(!order.is_timed());
    }

    #[test]
    fn sessions_without_rest_after_are_never_rested_for_idleness() {
        let mut order = LiveOrder::default();
        order.touch(0, 0, None);
        order.touch(1, 0, Some(10));
        assert!(order.is_timed());
        let mut rested = Vec::new();
        assert_eq!(order.rest_idle(u64::MAX / 2, recorder(&mut rested)), None);
        assert_eq!(rested, [1]);
        assert!(!order.is_timed());
        assert_eq!(order.len(), 1);
        // A session configured again without restAfter stops the timer.
        order.touch(2, 0, Some(10));
        order.touch(2, 1, None);
        assert!(!order.is_timed());
        order.touch(2, 2, Some(10));
        order.forget(2);
        assert!(!order.is_timed());
    }

    /// Runs the idle sweep as the binding's timer does: at the delay each
    /// sweep asks for, over `until` milliseconds in which `sends(t)` says
    /// which sessions work at time `t`. Returns each session's rests.
    fn simulate(
        order: &mut LiveOrder,
        until: u64,
        rest_after: u64,
        sends: impl Fn(u64) -> Vec<u32>,
    ) -> (Vec<(u32, u64)>, usize) {
        let mut rests = Vec::new();
        let mut next_sweep: Option<u64> = None;
        let mut sweeps = 0;
        for t in 0..until {
            for id in sends(t) {
                order.touch(id, t, Some(rest_after));
                next_sweep.get_or_insert(t + rest_after);
            }
            if next_sweep == Some(t) {
                sweeps += 1;
                next_sweep = order
                    .rest_idle(t, |id| {
                        rests.push((id, t));
                        true
                    })
                    .map(|delay| t + delay);
            }
        }
        (rests, sweeps)
    }

    #[test]
    fn a_steady_sender_never_rests_and_an_idle_one_rests_soon_after_rest_after() {
        let mut order = LiveOrder::default();
        // Session 0 works every 90 ms; session 1 once, at 5 ms; session 2
        // every 400 ms. restAfter 100 ms, over 2 s.
        let (rests, sweeps) = simulate(&mut order, 2000, 100, |t| {
            let mut ids = Vec::new();
            if t % 90 == 0 {
                ids.push(0);
            }
            if t == 5 {
                ids.push(1);
            }
            if t % 400 == 0 {
                ids.push(2);
            }
            ids
        });
        assert!(rests.iter().all(|&(id, _)| id != 0), "{rests:?}");
        let idle: Vec<u64> = rests.iter().filter(|r| r.0 == 1).map(|r| r.1).collect();
        assert_eq!(idle.len(), 1);
        assert!((105..=105 + 100 / 8).contains(&idle[0]), "{idle:?}");
        // Session 2 rests once after each of its messages but the last.
        let slow: Vec<u64> = rests.iter().filter(|r| r.0 == 2).map(|r| r.1).collect();
        assert_eq!(slow.len(), 5, "{slow:?}");
        for (i, t) in slow.iter().enumerate() {
            let sent = i as u64 * 400;
            assert!((sent + 100..=sent + 100 + 100 / 8).contains(t), "{slow:?}");
        }
        // The sweep runs at most eight times per restAfter.
        assert!(sweeps <= 2000 / (100 / 8), "{sweeps}");
    }

    /// Bytes that compress only where they repeat an earlier message.
    fn noise(seed: usize, len: usize) -> Vec<u8> {
        let mut x = seed as u32 * 7919 + 1;
        (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect()
    }

    #[test]
    fn sessions_rest_after_their_idle_time_and_wake_up_one_stream() {
        for (bits, takeover) in [(15, true), (9, true), (12, false)] {
            let config = configured(
                &[("restAfter", 100.0), ("liveStates", 64.0)],
                takeover,
                bits,
            );
            let mut client = Session::client(config.clone(), None);
            let server = Session::server(config, &[client.offer()], None).unwrap();
            assert!(client.activate(server.response().unwrap()));
            assert_eq!(client.rest_after(), Some(100));
            let sessions = [&client, &server];
            let mut order = LiveOrder::default();
            let mut last_sizes = Vec::new();
            for (i, now) in [0u64, 30, 60, 400, 430, 1000].into_iter().enumerate() {
                // Whatever is idle for 100 ms rests, as the timer would do.
                order.rest_idle(now, |id| sessions[id as usize].rest());
                if i == 3 {
                    let (out, inc) = client.stats();
                    assert!(!out.unwrap().live && !inc.unwrap().live, "{bits} rested");
                }
                for (from, to, id_from, id_to) in [(0, 1, 0u32, 1u32), (1, 0, 1, 0)] {
                    let input = noise(i % 2, 100);
                    let wire = inline(sessions[from].compress(&input, no_worker)).unwrap();
                    let plain = inline(sessions[to].decompress(&wire, || panic!("worker")));
                    assert!(plain.unwrap() == input, "{bits} {takeover} {i}");
                    order.touch(id_from, now, sessions[from].rest_after());
                    order.touch(id_to, now, sessions[to].rest_after());
                    if from == 0 {
                        last_sizes.push(wire.len());
                    }
                }
                // Steady at 30 ms: from the second message on, the states
                // stay live.
                if (1..=2).contains(&i) && takeover {
                    assert!(client.stats().0.unwrap().live, "{bits} {i}");
                }
            }
            let rested_at_1000 = {
                let mut order = LiveOrder::default();
                order.touch(0, 1000, client.rest_after());
                order.rest_idle(1100, |_| client.rest());
                client.stats()
            };
            assert!(!rested_at_1000.0.unwrap().live && !rested_at_1000.1.unwrap().live);
            if takeover {
                // After a rest the message still refers back to the one it
                // repeats: the history primed the state.
                assert!(last_sizes[3] < last_sizes[0] / 2, "{bits}: {last_sizes:?}");
            }
        }
    }

    #[test]
    fn sessions_are_counted_while_they_exist() {
        // Other tests make and drop a few sessions at the same time: ours
        // are many more than they ever hold.
        let held: Vec<Session> = (0..10_000)
            .map(|_| Session::client(DeflateConfig::default(), None))
            .collect();
        let with = sessions_alive();
        assert!(with >= 10_000, "{with}");
        drop(held);
        let without = sessions_alive();
        assert!(without + 9_000 <= with, "{with} with, {without} without");
    }
}
