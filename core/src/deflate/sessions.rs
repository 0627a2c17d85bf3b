//! One JavaScript thread's permessage-deflate sessions, by number, with the
//! rules the binding used to hold: which sessions keep their zlib states
//! (the least-recently-used order and the `liveStates` budget, the idle
//! sweep of `restAfter`), the bytes held as reported to V8, the last error
//! of each session, the figures of `deflate.stats()`, and freeing a session
//! when it closes. Plain Rust with the clock passed in, so tests need no
//! sleeping; the binding converts values and reports memory to V8.

use crate::deflate::session::{LiveOrder, Session};
use crate::pipeline::Direction;
use crate::table::Table;

/// One session in the table, with what the binding needs beside it.
pub struct SessionEntry {
    /// The session.
    pub session: Session,
    /// The text of the last error code a message returned.
    pub last_error: Option<String>,
    /// The bytes each direction holds, as last reported (outgoing,
    /// incoming).
    reported: [i64; 2],
}

/// Bytes in and out of each direction, summed.
#[derive(Default, Clone, Copy, Debug, PartialEq)]
pub struct Totals {
    /// Plaintext given to compressors.
    pub compress_in: f64,
    /// What they returned.
    pub compress_out: f64,
    /// Compressed bytes given to decompressors.
    pub inflate_in: f64,
    /// What they returned.
    pub inflate_out: f64,
}

impl Totals {
    fn add(&mut self, session: &Session) {
        let (out, inc) = session.stats();
        if let Some(out) = out {
            self.compress_in += out.bytes_in as f64;
            self.compress_out += out.bytes_out as f64;
        }
        if let Some(inc) = inc {
            self.inflate_in += inc.bytes_in as f64;
            self.inflate_out += inc.bytes_out as f64;
        }
    }
}

/// A thread's figures (`deflate.stats()`, less the process-wide ones).
#[derive(Default, Clone, Copy, Debug, PartialEq)]
pub struct TableStats {
    /// Sessions in the table (neither closed nor collected).
    pub sessions: u32,
    /// Directions owning a zlib state now.
    pub live_states: u32,
    /// Their bytes (zlib's formula).
    pub live_state_bytes: f64,
    /// Directions resting (no state) with history kept.
    pub resting: u32,
    /// History bytes, live or resting.
    pub history_bytes: f64,
    /// Directions a worker has now, not counted above.
    pub working: u32,
    /// Bytes each way, including sessions already freed.
    pub totals: Totals,
}

/// Held bytes are reported once they have moved this far, not per message.
pub const REPORT_STEP: i64 = 64 * 1024;

/// What a session's work asks of the binding afterwards.
#[derive(Default, Debug, PartialEq, Eq)]
pub struct AfterWork {
    /// Bytes to report to V8 now (added to its external memory), if any.
    pub report: Option<i64>,
    /// Set the idle timer to this many milliseconds now.
    pub arm_timer: Option<u64>,
}

/// One thread's sessions.
#[derive(Default)]
pub struct Sessions {
    table: Table<SessionEntry>,
    order: LiveOrder,
    /// Whether the idle timer is set.
    armed: bool,
    /// Figures of the sessions already freed.
    retired: Totals,
    /// Held bytes not yet reported.
    unreported: i64,
}

/// Brings the reported bytes of `entry`'s direction `dir` up to date (not
/// while a worker has it); returns the change. Only the direction that
/// worked is looked at after a message: the other one's lane is cold in a
/// server with many connections, and nothing changed it.
fn rereport(entry: &mut SessionEntry, dir: Direction) -> i64 {
    match entry.session.held(dir) {
        Some(held) => {
            let held = held as i64;
            let delta = held - entry.reported[dir as usize];
            entry.reported[dir as usize] = held;
            delta
        }
        None => 0,
    }
}

/// Rests session `id` if it can (a worker may have its work): true when it
/// did, or it is gone. Adds the change of its held bytes to `delta`.
fn rest_one(table: &mut Table<SessionEntry>, id: u32, delta: &mut i64) -> bool {
    match table.get_mut(id) {
        Some(entry) if entry.session.rest() => {
            *delta += rereport(entry, Direction::Outgoing) + rereport(entry, Direction::Incoming);
            true
        }
        Some(_) => false,
        None => true,
    }
}

impl Sessions {
    /// Puts `session` in the table; returns its number.
    pub fn insert(&mut self, session: Session) -> u32 {
        self.table.insert(SessionEntry {
            session,
            last_error: None,
            reported: [0, 0],
        })
    }

    /// Session `id`.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut SessionEntry> {
        self.table.get_mut(id)
    }

    /// How many sessions the table holds.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the table holds none.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn report(&mut self, delta: i64) -> Option<i64> {
        self.unreported += delta;
        if self.unreported.abs() >= REPORT_STEP {
            Some(std::mem::take(&mut self.unreported))
        } else {
            None
        }
    }

    /// After direction `dir` of session `id` worked, at `now`
    /// (milliseconds; read only when [`Sessions::needs_clock`] says so): it
    /// becomes the most recently used, and the least recently used beyond
    /// its budget rest; or, when it woke for this message while the budget
    /// is full and has not been used since the least recently used live
    /// session was, it rests itself ([`LiveOrder::touch_within`]). Only
    /// `dir`'s held bytes are read again.
    pub fn touch(&mut self, id: u32, dir: Direction, now: u64) -> AfterWork {
        let Some(entry) = self.table.get_mut(id) else {
            return AfterWork::default();
        };
        let budget = entry.session.live_states();
        let rest_after = entry.session.rest_after();
        let mut delta = rereport(entry, dir);
        let table = &mut self.table;
        self.order.touch_within(id, now, rest_after, budget, |one| {
            rest_one(table, one, &mut delta)
        });
        let arm_timer = match rest_after {
            Some(after) if !self.armed && self.order.is_timed() => {
                self.armed = true;
                Some(after)
            }
            _ => None,
        };
        AfterWork {
            report: self.report(delta),
            arm_timer,
        }
    }

    /// Whether [`Sessions::touch`] of session `id` needs the time: some
    /// session has a `restAfter`.
    pub fn needs_clock(&mut self, id: u32) -> bool {
        self.order.is_timed()
            || self
                .table
                .get(id)
                .is_some_and(|e| e.session.rest_after().is_some())
    }

    /// The idle timer fired at `now`: rests the sessions idle for their
    /// `restAfter`. Returns the milliseconds until the next sweep (`None`:
    /// no timer until a session with a `restAfter` works again) and the
    /// bytes to report.
    pub fn sweep(&mut self, now: u64) -> (Option<u64>, Option<i64>) {
        let mut delta = 0;
        let table = &mut self.table;
        let next = self
            .order
            .rest_idle(now, |id| rest_one(table, id, &mut delta));
        self.armed = next.is_some();
        (next, self.report(delta))
    }

    /// Frees session `id` (it closed, or its JavaScript object was
    /// collected): its codecs are freed now, or by the worker that has
    /// them; its figures join the retired ones. Returns the bytes to report
    /// (negative), if any.
    pub fn free(&mut self, id: u32) -> Option<i64> {
        let mut entry = self.table.take(id)?;
        entry.session.close();
        self.order.forget(id);
        self.retired.add(&entry.session);
        let reported = entry.reported[0] + entry.reported[1];
        drop(entry);
        self.report(-reported)
    }

    /// The thread's figures.
    pub fn stats(&self) -> TableStats {
        let mut stats = TableStats {
            totals: self.retired,
            ..TableStats::default()
        };
        for entry in self.table.iter() {
            stats.sessions += 1;
            let (out, inc) = entry.session.stats();
            for direction in [out, inc] {
                match direction {
                    Some(d) if d.live => {
                        stats.live_states += 1;
                        stats.live_state_bytes += d.state_bytes as f64;
                        stats.history_bytes += d.history_bytes as f64;
                    }
                    Some(d) => {
                        if d.history_bytes > 0 {
                            stats.resting += 1;
                        }
                        stats.history_bytes += d.history_bytes as f64;
                    }
                    None if entry.session.is_active() => stats.working += 1,
                    None => {}
                }
            }
            stats.totals.add(&entry.session);
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::session::Outcome;
    use crate::deflate::{DeflateConfig, OptionValue};
    use crate::parser::Params;

    fn config(options: &[(&str, f64)]) -> DeflateConfig {
        let options: Vec<(String, OptionValue)> = options
            .iter()
            .map(|&(k, v)| (k.to_string(), OptionValue::Number(v)))
            .collect();
        DeflateConfig::default().with_options(&options).unwrap()
    }

    fn server(config: &DeflateConfig) -> Session {
        Session::server(config.clone(), &[Params::new()], None).unwrap()
    }

    fn send(sessions: &mut Sessions, id: u32, now: u64) -> AfterWork {
        let entry = sessions.get_mut(id).unwrap();
        let text = "{\"hello\":\"world\",\"n\":12345}".repeat(20);
        match entry
            .session
            .compress(text.as_bytes(), || Box::new(|_| {}))
            .unwrap()
        {
            Outcome::Done(out) => assert!(out.is_ok()),
            Outcome::Queued => panic!("a small message runs inline"),
        }
        sessions.touch(id, Direction::Outgoing, now)
    }

    #[test]
    fn beyond_the_budget_the_least_recently_used_rest() {
        let cfg = config(&[("liveStates", 2.0)]);
        let mut sessions = Sessions::default();
        let ids: Vec<u32> = (0..4).map(|_| sessions.insert(server(&cfg))).collect();
        for &id in &ids {
            // Two messages each: from the second on a session owns a state.
            send(&mut sessions, id, 0);
            send(&mut sessions, id, 0);
        }
        let stats = sessions.stats();
        assert_eq!(stats.sessions, 4);
        assert_eq!(stats.live_states, 2);
        assert_eq!(stats.resting, 2);
        assert!(stats.totals.compress_in > stats.totals.compress_out);
    }

    #[test]
    fn the_idle_sweep_rests_sessions_idle_for_their_rest_after() {
        let cfg = config(&[("restAfter", 1000.0)]);
        let mut sessions = Sessions::default();
        let a = sessions.insert(server(&cfg));
        let b = sessions.insert(server(&cfg));
        assert!(sessions.needs_clock(a));
        for (id, at) in [(a, 0), (a, 1), (b, 600), (b, 601)] {
            send(&mut sessions, id, at);
        }
        assert_eq!(sessions.stats().live_states, 2);
        // At 1200 only a has been idle for 1000 ms; b is due at 1601.
        let (next, _) = sessions.sweep(1200);
        assert_eq!(next, Some(401));
        assert_eq!(sessions.stats().live_states, 1);
        let (next, _) = sessions.sweep(1700);
        assert_eq!(next, None);
        let after = sessions.stats();
        assert_eq!(after.live_states, 0);
        assert_eq!(after.resting, 2);
        assert_eq!(after.sessions, 2);
    }

    #[test]
    fn without_rest_after_no_clock_is_read() {
        let mut sessions = Sessions::default();
        let a = sessions.insert(server(&config(&[("restAfter", 0.0)])));
        assert!(!sessions.needs_clock(a));
        assert_eq!(send(&mut sessions, a, 0).arm_timer, None);
    }

    #[test]
    fn arming_is_asked_for_once_until_the_sweep_stops() {
        let cfg = config(&[("restAfter", 1000.0)]);
        let mut sessions = Sessions::default();
        let a = sessions.insert(server(&cfg));
        let first = send(&mut sessions, a, 0);
        let second = send(&mut sessions, a, 1);
        assert_eq!(first.arm_timer, Some(1000));
        assert_eq!(second.arm_timer, None);
        assert_eq!(sessions.sweep(5000).0, None);
        assert_eq!(send(&mut sessions, a, 6000).arm_timer, Some(1000));
    }

    #[test]
    fn freeing_keeps_the_figures_and_reports_what_was_held() {
        let cfg = DeflateConfig::default();
        let mut sessions = Sessions::default();
        let ids: Vec<u32> = (0..3).map(|_| sessions.insert(server(&cfg))).collect();
        let mut reported = 0;
        for &id in &ids {
            for _ in 0..2 {
                reported += send(&mut sessions, id, 0).report.unwrap_or(0);
            }
        }
        // Three compressors of about 260 KiB each: reported in steps.
        assert!(reported >= 2 * REPORT_STEP, "{reported}");
        let before = sessions.stats().totals;
        let mut released = 0;
        for &id in &ids {
            released += sessions.free(id).unwrap_or(0);
        }
        assert!(released <= -reported + REPORT_STEP, "{released} {reported}");
        assert!(sessions.is_empty());
        assert_eq!(sessions.stats().totals, before);
        assert_eq!(sessions.stats().sessions, 0);
        assert_eq!(sessions.free(ids[0]), None);
        assert!(sessions.get_mut(ids[0]).is_none());
    }

    #[test]
    fn the_bytes_a_receiving_direction_holds_are_reported_and_released() {
        let cfg = DeflateConfig::default();
        let mut sessions = Sessions::default();
        let ids: Vec<u32> = (0..4).map(|_| sessions.insert(server(&cfg))).collect();
        let text = "{\"hello\":\"world\",\"n\":12345}".repeat(20);
        let mut reported = 0;
        for &id in &ids {
            // What a client with the default parameters sends.
            let mut peer =
                crate::deflate::Compressor::new(&crate::test_support::session_params(15, true));
            for _ in 0..2 {
                let message = peer.compress(text.as_bytes()).unwrap();
                let entry = sessions.get_mut(id).unwrap();
                match entry.session.decompress(&message, || Box::new(|_| {})) {
                    Some(Outcome::Done(out)) => assert!(out.is_ok()),
                    _ => panic!("a small message inflates inline"),
                }
                reported += sessions
                    .touch(id, Direction::Incoming, 0)
                    .report
                    .unwrap_or(0);
            }
        }
        // Four decompressors of about 40 KiB each, and their histories.
        assert!(reported >= 2 * REPORT_STEP, "{reported}");
        let mut released = 0;
        for &id in &ids {
            released += sessions.free(id).unwrap_or(0);
        }
        assert!(released <= -reported + REPORT_STEP, "{released} {reported}");
    }

    #[test]
    fn a_freed_number_is_reused_by_the_next_session() {
        let cfg = DeflateConfig::default();
        let mut sessions = Sessions::default();
        let a = sessions.insert(server(&cfg));
        send(&mut sessions, a, 0);
        sessions.free(a);
        let b = sessions.insert(server(&cfg));
        assert_eq!(a, b);
        // The order forgot the old one: the new one is not rested for it.
        send(&mut sessions, b, 0);
        assert_eq!(sessions.len(), 1);
    }
}
