//! The order-keeping message pipeline, as a state machine with no knowledge
//! of JavaScript.
//!
//! A pipeline is a row of cells, one per active session. Outgoing messages
//! pass the cells from first to last, incoming ones from last to first. Each
//! cell has one functor per direction: a queue of the messages that session
//! has been given, in arrival order. A message leaves a functor only when it
//! and every message before it are done, so sessions may finish out of order
//! while the next cell still sees arrival order.
//!
//! Messages are named by slots: small integers that the binding maps to the
//! JavaScript values. Every event (a message submitted, a session calling
//! back, a close) changes the state and queues [`Action`]s, which the
//! binding takes with [`Pipeline::next_action`] and carries out in order.
//! Nothing here calls out, so no borrow is ever held across a call into
//! JavaScript and a session that calls back from inside its own method is
//! just another event.
//!
//! Pending counts make closing safe: when a message enters the pipeline every
//! cell it has yet to pass counts it, and a cell closes its session once
//! close was asked for and nothing it counts is left.

use std::collections::VecDeque;

/// Which way a message travels through the cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the application to the wire: first cell to last.
    Outgoing = 0,
    /// From the wire to the application: last cell to first.
    Incoming = 1,
}

impl Direction {
    /// The direction the binding numbers `i` (0 outgoing, 1 incoming).
    pub fn from_index(i: u32) -> Option<Direction> {
        match i {
            0 => Some(Direction::Outgoing),
            1 => Some(Direction::Incoming),
            _ => None,
        }
    }
}

/// What the binding must do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Give the slot's message to the cell's session.
    Call {
        /// The cell, in registration order.
        cell: usize,
        /// Which method of the session: `processOutgoingMessage` or
        /// `processIncomingMessage`.
        dir: Direction,
        /// The message.
        slot: u32,
    },
    /// The slot holds an error that is leaving `cell`: prefix its message
    /// with that cell's extension name.
    Prefix {
        /// The cell the error leaves.
        cell: usize,
        /// The message slot holding the error.
        slot: u32,
    },
    /// The slot has left the pipeline: hand it to the caller's callback
    /// (as an error when `error`) and release it.
    Deliver {
        /// The callback's direction.
        dir: Direction,
        /// The message, or the error.
        slot: u32,
        /// Whether the slot holds an error.
        error: bool,
    },
    /// The slot's message was dropped (queued behind an error, or arriving at
    /// a stopped cell): release it without a callback.
    Drop {
        /// The direction it was travelling in.
        dir: Direction,
        /// The message.
        slot: u32,
    },
    /// Close the cell's session. Comes once per cell.
    CloseSession {
        /// The cell whose session closes.
        cell: usize,
    },
    /// Every session has closed: run the close callback with this ticket.
    Closed {
        /// The ticket [`Pipeline::close`] was given.
        ticket: u32,
    },
}

#[derive(Debug)]
struct Record {
    slot: u32,
    done: bool,
    error: bool,
}

#[derive(Debug, Default)]
struct Functor {
    queue: VecDeque<Record>,
    stopped: bool,
    pending: usize,
}

impl Functor {
    fn stop(&mut self) {
        self.pending = self.queue.len();
        self.stopped = true;
    }
}

#[derive(Debug, Default)]
struct Cell {
    functors: [Functor; 2],
    close_requested: bool,
    closed: bool,
}

/// The cells of one container's negotiated sessions and the actions
/// waiting for the binding.
#[derive(Debug, Default)]
pub struct Pipeline {
    cells: Vec<Cell>,
    stopped: [bool; 2],
    actions: VecDeque<Action>,
    waiting_closes: Vec<u32>,
}

impl Pipeline {
    /// A pipeline of `cells` sessions, in the order they were negotiated.
    pub fn new(cells: usize) -> Pipeline {
        Pipeline {
            cells: (0..cells).map(|_| Cell::default()).collect(),
            ..Pipeline::default()
        }
    }

    /// The cells in the order a message travels in `dir`.
    fn route(&self, dir: Direction) -> impl Iterator<Item = usize> {
        let n = self.cells.len();
        (0..n).map(move |i| match dir {
            Direction::Outgoing => i,
            Direction::Incoming => n - 1 - i,
        })
    }

    fn next_cell(&self, cell: usize, dir: Direction) -> Option<usize> {
        match dir {
            Direction::Outgoing if cell + 1 < self.cells.len() => Some(cell + 1),
            Direction::Incoming if cell > 0 => Some(cell - 1),
            _ => None,
        }
    }

    /// A message enters the pipeline. Returns false, and does nothing, when
    /// the direction is stopped: the caller drops the message silently.
    pub fn submit(&mut self, dir: Direction, slot: u32) -> bool {
        if self.stopped[dir as usize] {
            return false;
        }
        let route: Vec<usize> = self.route(dir).collect();
        for &i in &route {
            self.count_pending(i, dir);
        }
        match route.first() {
            Some(&first) => self.enter(first, dir, slot, false),
            None => self.actions.push_back(Action::Deliver {
                dir,
                slot,
                error: false,
            }),
        }
        true
    }

    /// Takes over a message that the binding has already passed through the
    /// cells before `cell` while the direction was idle, and that `cell`'s
    /// session is processing now. Afterwards it is as if it had been
    /// submitted. A message the core cannot take (its direction stopped
    /// meanwhile, or a cell that does not exist) is dropped, as a submit to
    /// a stopped direction is: a [`Action::Drop`] releases it, and the
    /// session's answer for it is ignored. Returns whether it was taken.
    pub fn adopt(&mut self, dir: Direction, slot: u32, cell: usize) -> bool {
        if self.stopped[dir as usize] || cell >= self.cells.len() {
            self.actions.push_back(Action::Drop { dir, slot });
            return false;
        }
        let rest: Vec<usize> = self.route(dir).skip_while(|&i| i != cell).collect();
        for &i in &rest {
            self.count_pending(i, dir);
        }
        self.cells[cell].functors[dir as usize]
            .queue
            .push_back(Record {
                slot,
                done: false,
                error: false,
            });
        true
    }

    /// Whether the direction takes no more messages (closed, or stopped by
    /// an error).
    pub fn is_stopped(&self, dir: Direction) -> bool {
        self.stopped[dir as usize]
    }

    /// Whether no message is queued in any cell in this direction.
    pub fn idle(&self, dir: Direction) -> bool {
        self.cells
            .iter()
            .all(|c| c.functors[dir as usize].queue.is_empty())
    }

    fn count_pending(&mut self, cell: usize, dir: Direction) {
        let functor = &mut self.cells[cell].functors[dir as usize];
        if !functor.stopped {
            functor.pending += 1;
        }
    }

    /// A message (or an error travelling in a message's place) reaches a cell.
    fn enter(&mut self, cell: usize, dir: Direction, slot: u32, error: bool) {
        let functor = &mut self.cells[cell].functors[dir as usize];
        if functor.stopped {
            self.actions.push_back(Action::Drop { dir, slot });
            return;
        }
        functor.queue.push_back(Record {
            slot,
            done: error,
            error,
        });
        if error {
            functor.stop();
            self.flush(cell, dir);
        } else {
            self.actions.push_back(Action::Call { cell, dir, slot });
        }
    }

    /// The cell's session called back for the slot's message. Returns false,
    /// and does nothing, when that message is not waiting on this session
    /// (it was dropped behind an error, or the call is a repeat).
    pub fn complete(&mut self, cell: usize, dir: Direction, slot: u32, error: bool) -> bool {
        let Some(c) = self.cells.get_mut(cell) else {
            return false;
        };
        let functor = &mut c.functors[dir as usize];
        let Some(record) = functor.queue.iter_mut().find(|r| r.slot == slot && !r.done) else {
            return false;
        };
        record.done = true;
        if error {
            record.error = true;
            functor.stop();
            // Like the original's stopped Functor, the session sees no
            // message of this direction after the one it failed: calls
            // asked for but not yet taken are withdrawn (those messages are
            // dropped when the error leaves the cell).
            self.actions.retain(
                |a| !matches!(*a, Action::Call { cell: c, dir: d, .. } if c == cell && d == dir),
            );
        }
        self.flush(cell, dir);
        true
    }

    /// Passes on every done message at the head of the cell's queue.
    fn flush(&mut self, cell: usize, dir: Direction) {
        loop {
            let functor = &mut self.cells[cell].functors[dir as usize];
            if !functor.queue.front().is_some_and(|r| r.done) {
                return;
            }
            let Some(record) = functor.queue.pop_front() else {
                return;
            };
            if record.error {
                functor.pending = 0;
                let dropped: Vec<u32> = functor.queue.drain(..).map(|r| r.slot).collect();
                for slot in dropped {
                    self.actions.push_back(Action::Drop { dir, slot });
                }
                self.actions.push_back(Action::Prefix {
                    cell,
                    slot: record.slot,
                });
                self.stopped[dir as usize] = true;
            } else {
                functor.pending = functor.pending.saturating_sub(1);
            }
            match self.next_cell(cell, dir) {
                Some(next) => self.enter(next, dir, record.slot, record.error),
                None => self.actions.push_back(Action::Deliver {
                    dir,
                    slot: record.slot,
                    error: record.error,
                }),
            }
            self.close_if_drained(cell);
        }
    }

    /// Stops both directions and closes each session as soon as the messages
    /// it counts have left it. A [`Action::Closed`] carrying `ticket` follows
    /// once every session has closed.
    pub fn close(&mut self, ticket: u32) {
        self.stopped = [true, true];
        self.waiting_closes.push(ticket);
        for cell in 0..self.cells.len() {
            self.cells[cell].close_requested = true;
            self.close_if_drained(cell);
        }
        self.notify_if_all_closed();
    }

    fn close_if_drained(&mut self, cell: usize) {
        let c = &mut self.cells[cell];
        if c.close_requested
            && !c.closed
            && c.functors[0].pending == 0
            && c.functors[1].pending == 0
        {
            c.closed = true;
            self.actions.push_back(Action::CloseSession { cell });
            self.notify_if_all_closed();
        }
    }

    fn notify_if_all_closed(&mut self) {
        if self.cells.iter().all(|c| c.closed) {
            for ticket in self.waiting_closes.drain(..) {
                self.actions.push_back(Action::Closed { ticket });
            }
        }
    }

    /// The next action to carry out, in the order they were queued.
    pub fn next_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Whether actions are waiting to be taken.
    pub fn has_actions(&self) -> bool {
        !self.actions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::Action::*;
    use super::Direction::*;
    use super::*;

    fn drain(p: &mut Pipeline) -> Vec<Action> {
        std::iter::from_fn(|| p.next_action()).collect()
    }

    #[test]
    fn outgoing_passes_cells_first_to_last() {
        let mut p = Pipeline::new(2);
        assert!(p.submit(Outgoing, 7));
        assert_eq!(
            drain(&mut p),
            [Call {
                cell: 0,
                dir: Outgoing,
                slot: 7
            }]
        );
        assert!(p.complete(0, Outgoing, 7, false));
        assert_eq!(
            drain(&mut p),
            [Call {
                cell: 1,
                dir: Outgoing,
                slot: 7
            }]
        );
        assert!(p.complete(1, Outgoing, 7, false));
        assert_eq!(
            drain(&mut p),
            [Deliver {
                dir: Outgoing,
                slot: 7,
                error: false
            }]
        );
    }

    #[test]
    fn incoming_passes_cells_last_to_first() {
        let mut p = Pipeline::new(2);
        p.submit(Incoming, 1);
        assert_eq!(
            drain(&mut p),
            [Call {
                cell: 1,
                dir: Incoming,
                slot: 1
            }]
        );
        p.complete(1, Incoming, 1, false);
        assert_eq!(
            drain(&mut p),
            [Call {
                cell: 0,
                dir: Incoming,
                slot: 1
            }]
        );
    }

    #[test]
    fn empty_pipeline_delivers_at_once() {
        let mut p = Pipeline::new(0);
        p.submit(Incoming, 3);
        assert_eq!(
            drain(&mut p),
            [Deliver {
                dir: Incoming,
                slot: 3,
                error: false
            }]
        );
    }

    #[test]
    fn out_of_order_completion_keeps_arrival_order() {
        let mut p = Pipeline::new(1);
        for slot in 0..3 {
            p.submit(Outgoing, slot);
        }
        drain(&mut p);
        p.complete(0, Outgoing, 2, false);
        p.complete(0, Outgoing, 1, false);
        assert_eq!(drain(&mut p), []);
        p.complete(0, Outgoing, 0, false);
        let delivered: Vec<_> = drain(&mut p);
        assert_eq!(
            delivered,
            (0..3)
                .map(|slot| Deliver {
                    dir: Outgoing,
                    slot,
                    error: false
                })
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn repeated_callback_counts_once() {
        let mut p = Pipeline::new(1);
        p.submit(Outgoing, 0);
        drain(&mut p);
        assert!(p.complete(0, Outgoing, 0, false));
        assert!(!p.complete(0, Outgoing, 0, true));
        assert_eq!(
            drain(&mut p),
            [Deliver {
                dir: Outgoing,
                slot: 0,
                error: false
            }]
        );
        // The direction still accepts messages.
        assert!(p.submit(Outgoing, 1));
    }

    #[test]
    fn error_is_prefixed_by_every_cell_it_leaves() {
        let mut p = Pipeline::new(3);
        p.submit(Outgoing, 0);
        drain(&mut p);
        p.complete(0, Outgoing, 0, true);
        assert_eq!(
            drain(&mut p),
            [
                Prefix { cell: 0, slot: 0 },
                Prefix { cell: 1, slot: 0 },
                Prefix { cell: 2, slot: 0 },
                Deliver {
                    dir: Outgoing,
                    slot: 0,
                    error: true
                },
            ]
        );
        // The error stopped its direction only.
        assert!(p.submit(Incoming, 2));
        assert!(!p.submit(Outgoing, 1));
    }

    #[test]
    fn messages_before_an_error_are_delivered_first_and_later_ones_dropped() {
        let mut p = Pipeline::new(2);
        for slot in 0..3 {
            p.submit(Outgoing, slot);
        }
        drain(&mut p);
        // Cell 0 finishes 0, fails 1 while 2 is still with it.
        p.complete(0, Outgoing, 0, false);
        p.complete(0, Outgoing, 1, true);
        assert_eq!(
            drain(&mut p),
            [
                Call {
                    cell: 1,
                    dir: Outgoing,
                    slot: 0
                },
                Drop {
                    dir: Outgoing,
                    slot: 2
                },
                Prefix { cell: 0, slot: 1 },
            ]
        );
        // The error waits in cell 1 behind message 0.
        p.complete(1, Outgoing, 0, false);
        assert_eq!(
            drain(&mut p),
            [
                Deliver {
                    dir: Outgoing,
                    slot: 0,
                    error: false
                },
                Prefix { cell: 1, slot: 1 },
                Deliver {
                    dir: Outgoing,
                    slot: 1,
                    error: true
                },
            ]
        );
        // The late callback for the dropped message is ignored.
        assert!(!p.complete(0, Outgoing, 2, false));
        assert_eq!(drain(&mut p), []);
    }

    #[test]
    fn message_reaching_a_stopped_cell_is_dropped() {
        let mut p = Pipeline::new(2);
        p.submit(Outgoing, 0);
        p.submit(Outgoing, 1);
        drain(&mut p);
        p.complete(0, Outgoing, 0, false);
        drain(&mut p);
        p.complete(1, Outgoing, 0, true);
        drain(&mut p);
        p.complete(0, Outgoing, 1, false);
        assert_eq!(
            drain(&mut p),
            [Drop {
                dir: Outgoing,
                slot: 1
            }]
        );
    }

    #[test]
    fn close_with_nothing_in_flight_closes_everything_at_once() {
        let mut p = Pipeline::new(2);
        let ticket = 7;
        p.close(ticket);
        assert_eq!(
            drain(&mut p),
            [
                CloseSession { cell: 0 },
                CloseSession { cell: 1 },
                Closed { ticket }
            ]
        );
        assert!(!p.submit(Outgoing, 0));
        assert!(!p.submit(Incoming, 0));
    }

    #[test]
    fn close_waits_for_messages_in_flight_and_upstream_closes_first() {
        let mut p = Pipeline::new(3);
        p.submit(Outgoing, 0);
        drain(&mut p);
        p.complete(0, Outgoing, 0, false);
        drain(&mut p);
        // Message 0 is with cell 1, the slow one.
        let ticket = 7;
        p.close(ticket);
        assert_eq!(drain(&mut p), [CloseSession { cell: 0 }]);
        p.complete(1, Outgoing, 0, false);
        assert_eq!(
            drain(&mut p),
            [
                Call {
                    cell: 2,
                    dir: Outgoing,
                    slot: 0
                },
                CloseSession { cell: 1 }
            ]
        );
        p.complete(2, Outgoing, 0, false);
        assert_eq!(
            drain(&mut p),
            [
                Deliver {
                    dir: Outgoing,
                    slot: 0,
                    error: false
                },
                CloseSession { cell: 2 },
                Closed { ticket },
            ]
        );
    }

    #[test]
    fn second_close_is_answered_after_the_first_ones_work() {
        let mut p = Pipeline::new(1);
        p.submit(Incoming, 0);
        drain(&mut p);
        let (first, second) = (1, 2);
        p.close(first);
        p.close(second);
        assert_eq!(drain(&mut p), []);
        p.complete(0, Incoming, 0, false);
        assert_eq!(
            drain(&mut p),
            [
                Deliver {
                    dir: Incoming,
                    slot: 0,
                    error: false
                },
                CloseSession { cell: 0 },
                Closed { ticket: first },
                Closed { ticket: second },
            ]
        );
        let third = 3;
        p.close(third);
        assert_eq!(drain(&mut p), [Closed { ticket: third }]);
    }

    #[test]
    fn close_after_an_error_does_not_wait_for_dropped_messages() {
        let mut p = Pipeline::new(2);
        p.submit(Outgoing, 0);
        p.submit(Outgoing, 1);
        drain(&mut p);
        p.complete(0, Outgoing, 0, true);
        drain(&mut p);
        let ticket = 7;
        p.close(ticket);
        assert_eq!(
            drain(&mut p),
            [
                CloseSession { cell: 0 },
                CloseSession { cell: 1 },
                Closed { ticket }
            ]
        );
    }

    #[test]
    fn adopted_message_continues_from_its_cell() {
        let mut p = Pipeline::new(3);
        assert!(p.adopt(Outgoing, 5, 1));
        assert!(!p.idle(Outgoing));
        // Cell 0 has already passed it, so it closes at once.
        let ticket = 7;
        p.close(ticket);
        assert_eq!(drain(&mut p), [CloseSession { cell: 0 }]);
        p.complete(1, Outgoing, 5, false);
        p.complete(2, Outgoing, 5, false);
        assert_eq!(
            drain(&mut p),
            [
                Call {
                    cell: 2,
                    dir: Outgoing,
                    slot: 5
                },
                CloseSession { cell: 1 },
                Deliver {
                    dir: Outgoing,
                    slot: 5,
                    error: false
                },
                CloseSession { cell: 2 },
                Closed { ticket },
            ]
        );
    }

    #[test]
    fn a_message_adopted_into_a_stopped_direction_is_dropped_not_lost() {
        let mut p = Pipeline::new(2);
        assert!(p.adopt(Outgoing, 1, 0));
        p.close(0);
        drain(&mut p);
        assert!(!p.adopt(Incoming, 2, 1));
        assert_eq!(
            drain(&mut p),
            [Drop {
                dir: Incoming,
                slot: 2
            }]
        );
    }

    #[test]
    fn a_failed_session_is_not_called_for_the_messages_queued_behind() {
        let mut p = Pipeline::new(2);
        for slot in 0..3 {
            p.submit(Outgoing, slot);
        }
        // Cell 0 was asked for all three; it fails the first before the
        // binding took the other two calls.
        assert_eq!(
            p.next_action(),
            Some(Call {
                cell: 0,
                dir: Outgoing,
                slot: 0
            })
        );
        p.complete(0, Outgoing, 0, true);
        let actions = drain(&mut p);
        assert!(
            !actions.iter().any(|a| matches!(a, Call { cell: 0, .. })),
            "{actions:?}"
        );
        assert!(actions.contains(&Drop {
            dir: Outgoing,
            slot: 1
        }));
        assert!(actions.contains(&Drop {
            dir: Outgoing,
            slot: 2
        }));
        assert!(actions.contains(&Deliver {
            dir: Outgoing,
            slot: 0,
            error: true
        }));
    }

    #[test]
    fn calls_with_unknown_cells_or_slots_are_ignored() {
        let mut p = Pipeline::new(1);
        assert!(!p.complete(9, Outgoing, 0, false));
        assert!(!p.complete(0, Outgoing, 0, false));
        assert_eq!(drain(&mut p), []);
        assert!(!p.adopt(Outgoing, 0, 4));
        assert_eq!(
            drain(&mut p),
            [Drop {
                dir: Outgoing,
                slot: 0
            }]
        );
    }
}
