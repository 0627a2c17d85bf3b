//! One container's native state, as the binding holds it for the
//! JavaScript class `Extensions` (lib/extensions.js): the registered
//! extensions and their RSV bits, the pipeline, and the deflate session that
//! a one-call server handshake holds until the connection's first message.
//!
//! Every rule the binding used to hold lives here, under `cargo test`: which
//! deflate offer a server accepts in one call, the session it holds and
//! closes itself when JavaScript never had it, and the packing of actions.
//! The binding only converts values and keeps containers in its per-thread
//! table.

use crate::deflate::session::Session;
use crate::deflate::{server_choose, Accepted, DeflateConfig};
use crate::parser;
use crate::pipeline::{Action, Direction, Pipeline};
use crate::registry::{response_plan_json, ExtensionInfo, NameTaken, Registry, RsvConflict};
use crate::wire;

/// The RSV bits of a mask (bit 0 for RSV1), as the registry takes them.
fn rsv_bits(mask: u32) -> [bool; 3] {
    [mask & 1 != 0, mask & 2 != 0, mask & 4 != 0]
}

/// An RSV conflict as it crosses (see [`wire::RSV_CONFLICT_HOLDER_SHIFT`]),
/// 0 for none.
pub fn conflict_code(conflict: Option<RsvConflict>) -> u32 {
    conflict.map_or(0, |c| {
        u32::from(c.bit) | (c.holder as u32) << wire::RSV_CONFLICT_HOLDER_SHIFT
    })
}

/// What a one-call deflate negotiation came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Negotiation<T> {
    /// The header does not match the grammar.
    InvalidHeader,
    /// No offer can be accepted: messages pass through.
    Nothing,
    /// Accepted: what was accepted, and the response line.
    Accepted(T, String),
}

impl<T> Negotiation<T> {
    /// The code JavaScript gets in place of a response line, or `None` when
    /// there is one.
    pub fn code(&self) -> Option<i32> {
        match self {
            Negotiation::InvalidHeader => Some(wire::ERROR_INVALID_HEADER),
            Negotiation::Nothing => Some(wire::NEGOTIATED_NOTHING),
            Negotiation::Accepted(..) => None,
        }
    }
}

/// What a server whose only registered extension is this package's deflate
/// (index 0 of `registry`), with configuration `config`, accepts from
/// `header`: the parameters of the first acceptable offer.
fn accept_deflate(
    registry: &Registry,
    header: &str,
    config: &DeflateConfig,
) -> Negotiation<(usize, Accepted)> {
    let Ok(offers) = parser::parse_header(header) else {
        return Negotiation::InvalidHeader;
    };
    let Some((index, mine)) = registry.offers_by_extension(&offers).into_iter().next() else {
        return Negotiation::Nothing;
    };
    if registry.conflict(index).is_some() {
        return Negotiation::Nothing;
    }
    let Some(name) = registry.name(index) else {
        return Negotiation::Nothing;
    };
    let params: Vec<parser::Params> = mine.iter().map(|o| o.params.clone()).collect();
    match server_choose(config, &params) {
        Some(accepted) => {
            let response = parser::serialize_parsed(name, &accepted.response());
            Negotiation::Accepted((index, accepted), response)
        }
        None => Negotiation::Nothing,
    }
}

/// One container's native state.
#[derive(Default)]
pub struct Container {
    registry: Registry,
    pipeline: Pipeline,
    /// The deflate session of cell 0 negotiated in one call, kept here until
    /// its first message ([`Container::take_session`]): a connection closed
    /// before any message never gives it to JavaScript, and its close needs
    /// no call into JavaScript.
    held: Option<Session>,
}

impl Container {
    /// A container with its first extension (`name`, RSV bits `rsv`, bit 0
    /// for RSV1) registered.
    pub fn with_first(name: String, rsv: u32) -> Container {
        let mut container = Container::default();
        // The first name cannot be taken.
        let _ = container.add(name, rsv);
        container
    }

    /// The server's side of a first negotiation in one call, for a server
    /// whose only extension (`name`, `rsv`) is this package's deflate with
    /// configuration `config`, made without any state: parses the offers,
    /// accepts the first acceptable one, and returns the
    /// response line, and the accepted parameters packed in one number
    /// ([`Accepted::pack`]) for [`Container::accepted`] to make the state
    /// from when it is first needed.
    pub fn respond_deflate(
        name: String,
        rsv: u32,
        header: &str,
        config: &DeflateConfig,
    ) -> Negotiation<u32> {
        let container = Container::with_first(name, rsv);
        match accept_deflate(&container.registry, header, config) {
            Negotiation::Accepted((_, accepted), line) => {
                Negotiation::Accepted(accepted.pack(), line)
            }
            Negotiation::InvalidHeader => Negotiation::InvalidHeader,
            Negotiation::Nothing => Negotiation::Nothing,
        }
    }

    /// The state [`Container::respond_deflate`] deferred, from the
    /// parameters it packed: the RSV bits taken, a one-cell pipeline and the
    /// session held for the first message. `None` for a number that is not
    /// a packed set of parameters.
    pub fn accepted(
        name: String,
        rsv: u32,
        packed: u32,
        config: &DeflateConfig,
        max_len: Option<usize>,
    ) -> Option<Container> {
        let accepted = Accepted::unpack(packed)?;
        let mut container = Container::with_first(name, rsv);
        container.hold_deflate(0, accepted, config, max_len);
        Some(container)
    }

    /// Registers an extension whose fields JavaScript has checked. Returns
    /// its index.
    pub fn add(&mut self, name: String, rsv: u32) -> Result<usize, NameTaken> {
        self.registry.add(ExtensionInfo {
            name,
            rsv: rsv_bits(rsv),
        })
    }

    /// The registered index of the extension called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.registry.index_of(name)
    }

    /// The client's offers grouped by registered extension, as JSON
    /// `[[index, [params, ...]], ...]`.
    pub fn plan_response(&self, header: &str) -> Result<String, parser::InvalidHeader> {
        let offers = parser::parse_header(header)?;
        Ok(response_plan_json(
            &self.registry.offers_by_extension(&offers),
        ))
    }

    /// The conflict of extension `index` with the bits already taken, as it
    /// crosses (0: none).
    pub fn conflict(&self, index: usize) -> u32 {
        conflict_code(self.registry.conflict(index))
    }

    /// Takes extension `index`'s RSV bits if they are free and returns 0;
    /// otherwise takes nothing and returns the conflict.
    pub fn reserve(&mut self, index: usize) -> u32 {
        let conflict = self.registry.conflict(index);
        if conflict.is_none() {
            self.registry.reserve(index);
        }
        conflict_code(conflict)
    }

    /// Gives back the bits [`Container::reserve`] took.
    pub fn unreserve(&mut self, index: usize) {
        self.registry.unreserve(index);
    }

    /// Sets up the pipeline with the extensions `active`, in pipeline order;
    /// returns the RSV bits message frames may carry (bit 0 for RSV1).
    pub fn set_pipeline(&mut self, active: &[usize]) -> u32 {
        self.pipeline = Pipeline::new(active.len());
        self.held = None;
        self.registry.allowed_rsv(active)
    }

    fn hold_deflate(
        &mut self,
        index: usize,
        accepted: Accepted,
        config: &DeflateConfig,
        max_len: Option<usize>,
    ) {
        self.registry.reserve(index);
        self.pipeline = Pipeline::new(1);
        self.held = Some(Session::server_accepted(config.clone(), accepted, max_len));
    }

    /// Whether a session negotiated in one call is still held here.
    pub fn holds_session(&self) -> bool {
        self.held.is_some()
    }

    /// The held session, for its first message: it goes to JavaScript's
    /// session table from now on.
    pub fn take_session(&mut self) -> Option<Session> {
        self.held.take()
    }

    /// The pipeline's status as it crosses (see [`wire`]): per direction,
    /// whether a message may run ahead, the direction being open and no
    /// message of it in the pipeline.
    pub fn status(&self) -> u32 {
        let mut status = 0;
        for (dir, bit) in [
            (Direction::Outgoing, wire::STATUS_AHEAD_OUTGOING),
            (Direction::Incoming, wire::STATUS_AHEAD_INCOMING),
        ] {
            if !self.pipeline.is_stopped(dir) && self.pipeline.idle(dir) {
                status |= bit;
            }
        }
        status
    }

    /// The answer to a close of a pipeline with no native state: one whose
    /// state a one-call negotiation never made (its one session held
    /// natively, never JavaScript's), or one already closed and freed.
    /// Either way no session is left to close, so, as a pipeline with no
    /// cells does, only the closed action with `ticket` follows.
    pub fn close_without_state(ticket: u32) -> f64 {
        Container::default().close(ticket, true)
    }

    /// A message enters the pipeline: [`wire::SUBMIT_REFUSED`] when the
    /// direction is stopped; otherwise the first action when `take`, else
    /// the status ([`wire::none`]).
    pub fn submit(&mut self, dir: Direction, slot: u32, take: bool) -> f64 {
        if !self.pipeline.submit(dir, slot) {
            return wire::SUBMIT_REFUSED;
        }
        self.take(take)
    }

    /// Takes over a message JavaScript passed through the cells before
    /// `cell` while the direction was idle; false when the core refuses it.
    pub fn adopt(&mut self, dir: Direction, slot: u32, cell: usize) -> bool {
        self.pipeline.adopt(dir, slot, cell)
    }

    /// A session called back; the next action when `take`.
    pub fn complete(
        &mut self,
        cell: usize,
        dir: Direction,
        slot: u32,
        error: bool,
        take: bool,
    ) -> f64 {
        self.pipeline.complete(cell, dir, slot, error);
        self.take(take)
    }

    /// Stops both directions and asks every session to close once drained;
    /// the closed action will carry `ticket`.
    pub fn close(&mut self, ticket: u32, take: bool) -> f64 {
        self.pipeline.close(ticket);
        self.take(take)
    }

    /// The next action, packed; the status alone ([`wire::none`]) when none
    /// is left.
    pub fn next_action(&mut self) -> f64 {
        self.take(true)
    }

    /// The next action when `take`, packed with the status as it will be
    /// once it is carried out; otherwise, or when there is none, the status
    /// alone ([`wire::none`]).
    fn take(&mut self, take: bool) -> f64 {
        if !take {
            return wire::none(self.status());
        }
        loop {
            match self.pipeline.next_action() {
                // A session still held here closes here: JavaScript never
                // had it.
                Some(Action::CloseSession { cell: 0 }) if self.held.is_some() => {
                    if let Some(mut session) = self.held.take() {
                        session.close();
                    }
                }
                Some(action) => {
                    let more = self.pipeline.has_actions();
                    return wire::pack(action, more, self.status());
                }
                None => return wire::none(self.status()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::NameTaken;
    use crate::wire::unpack;
    use Direction::{Incoming, Outgoing};

    /// The state of a server that negotiated permessage-deflate in one call.
    fn held() -> Container {
        let config = DeflateConfig::default();
        let answer = Container::respond_deflate(
            "permessage-deflate".into(),
            1,
            "permessage-deflate",
            &config,
        );
        let Negotiation::Accepted(packed, _) = answer else {
            panic!("permessage-deflate is accepted");
        };
        Container::accepted("permessage-deflate".into(), 1, packed, &config, None).unwrap()
    }

    fn kinds(container: &mut Container, first: f64) -> Vec<(u32, u32, u32, u32)> {
        let mut out = Vec::new();
        let mut action = first;
        while action > wire::ACTION_NONE {
            let (kind, dir, more, cell, _, slot) = unpack(action);
            out.push((kind, dir, cell, slot));
            action = if more {
                container.next_action()
            } else {
                wire::ACTION_NONE
            };
        }
        out
    }

    #[test]
    fn one_call_negotiation_table() {
        let config = DeflateConfig::default();
        let cases: &[(&str, Option<i32>, Option<&str>)] = &[
            ("permessage-deflate", None, Some("permessage-deflate")),
            (
                "permessage-deflate; client_max_window_bits",
                None,
                Some("permessage-deflate"),
            ),
            (
                "x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover",
                None,
                Some("permessage-deflate; server_no_context_takeover"),
            ),
            (
                "x-webkit-deflate-frame",
                Some(wire::NEGOTIATED_NOTHING),
                None,
            ),
            ("", Some(wire::NEGOTIATED_NOTHING), None),
            (
                "permessage-deflate; server_max_window_bits=7",
                Some(wire::NEGOTIATED_NOTHING),
                None,
            ),
            (
                "permessage-deflate; =",
                Some(wire::ERROR_INVALID_HEADER),
                None,
            ),
            (",,", Some(wire::ERROR_INVALID_HEADER), None),
        ];
        for &(header, code, line) in cases {
            let answer =
                Container::respond_deflate("permessage-deflate".into(), 1, header, &config);
            assert_eq!(answer.code(), code, "{header}");
            if let Negotiation::Accepted(packed, response) = answer {
                assert!(response.starts_with(line.unwrap()), "{header}: {response}");
                let mut made =
                    Container::accepted("permessage-deflate".into(), 1, packed, &config, None)
                        .expect("the packed parameters read back");
                assert!(made.holds_session());
                // The RSV1 bit is taken: a second extension wanting it
                // conflicts.
                let other = made.add("x".into(), 1).unwrap();
                assert_eq!(made.conflict(other), 1);
            }
        }
        assert!(Container::accepted("p".into(), 1, u32::MAX, &config, None).is_none());
    }

    #[test]
    fn names_and_rsv_bits() {
        let mut c = Container::with_first("a".into(), 1);
        assert_eq!(c.add("a".into(), 0), Err(NameTaken));
        assert_eq!(c.add("b".into(), 1), Ok(1));
        assert_eq!(c.index_of("b"), Some(1));
        assert_eq!(c.index_of("z"), None);
        assert_eq!(c.reserve(0), 0);
        // b wants RSV1, which a (index 0) holds.
        assert_eq!(c.reserve(1), 1);
        c.unreserve(0);
        assert_eq!(c.reserve(1), 0);
        assert_eq!(c.set_pipeline(&[1]), 1);
        assert!(c.plan_response("a; x=1, b").unwrap().starts_with("[[0,"));
        assert!(c.plan_response("a; =").is_err());
    }

    #[test]
    fn a_held_session_closes_natively_and_javascript_sees_only_closed() {
        let mut c = held();
        assert!(c.holds_session());
        let first = c.close(9, true);
        assert_eq!(kinds(&mut c, first), [(wire::ACTION_CLOSED, 0, 0, 9)]);
        assert!(!c.holds_session());
    }

    #[test]
    fn a_taken_session_closes_through_javascript() {
        let mut c = held();
        let session = c.take_session();
        assert!(session.is_some());
        assert!(c.take_session().is_none());
        let first = c.close(3, true);
        assert_eq!(
            kinds(&mut c, first),
            [
                (wire::ACTION_CLOSE_SESSION, 0, 0, 0),
                (wire::ACTION_CLOSED, 0, 0, 3)
            ]
        );
    }

    #[test]
    fn messages_are_packed_in_order_and_refused_once_stopped() {
        let mut c = Container::with_first("a".into(), 0);
        c.add("b".into(), 0).unwrap();
        c.set_pipeline(&[0, 1]);
        let first = c.submit(Outgoing, 5, true);
        assert_eq!(kinds(&mut c, first), [(wire::ACTION_CALL, 0, 0, 5)]);
        // Taken later: only the status comes back now (the outgoing
        // direction has a message in the pipeline, and now so has the
        // incoming one).
        assert_eq!(c.submit(Incoming, 6, false), wire::none(0));
        let first = c.next_action();
        assert_eq!(kinds(&mut c, first), [(wire::ACTION_CALL, 1, 1, 6)]);
        let next = c.complete(0, Outgoing, 5, false, true);
        assert_eq!(kinds(&mut c, next), [(wire::ACTION_CALL, 0, 1, 5)]);
        let next = c.complete(1, Outgoing, 5, true, true);
        assert_eq!(
            kinds(&mut c, next),
            [
                (wire::ACTION_PREFIX, 0, 1, 5),
                (wire::ACTION_DELIVER_ERROR, 0, 0, 5)
            ]
        );
        // The outgoing direction stopped at the error.
        assert_eq!(c.submit(Outgoing, 7, true), wire::SUBMIT_REFUSED);
        // Message 6 has still to pass both cells: nothing closes yet.
        let first = c.close(1, true);
        assert_eq!(kinds(&mut c, first), []);
        assert_eq!(c.submit(Incoming, 8, true), wire::SUBMIT_REFUSED);
        let next = c.complete(1, Incoming, 6, false, true);
        assert_eq!(
            kinds(&mut c, next),
            [
                (wire::ACTION_CALL, 1, 0, 6),
                (wire::ACTION_CLOSE_SESSION, 0, 1, 0)
            ]
        );
        let next = c.complete(0, Incoming, 6, false, true);
        assert_eq!(
            kinds(&mut c, next),
            [
                (wire::ACTION_DELIVER, 1, 0, 6),
                (wire::ACTION_CLOSE_SESSION, 0, 0, 0),
                (wire::ACTION_CLOSED, 0, 0, 1)
            ]
        );
        assert_eq!(c.submit(Incoming, 8, true), wire::SUBMIT_REFUSED);
    }

    /// What a random sequence of driver calls must come to, checked against
    /// a simple model of the pipeline: every message submitted before the
    /// close is delivered, failed or dropped exactly once; each direction
    /// delivers in the order it was given; nothing is delivered behind an
    /// error; sessions are called along the route, each message once per
    /// cell, never after their close; every cell closes once, and the
    /// closed action comes last.
    mod model {
        use super::*;
        use proptest::prelude::*;
        use std::collections::{BTreeMap, BTreeSet};

        #[derive(Clone, Debug)]
        enum Op {
            Submit(bool),
            Complete(usize, bool),
            Close,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => any::<bool>().prop_map(Op::Submit),
                6 => (any::<usize>(), prop::bool::weighted(0.1)).prop_map(|(i, e)| Op::Complete(i, e)),
                1 => Just(Op::Close),
            ]
        }

        #[derive(Default)]
        struct World {
            cells: usize,
            next_slot: u32,
            /// Calls the sessions have not answered: (cell, dir, slot).
            outstanding: Vec<(usize, u32, u32)>,
            /// Slot -> direction and submission number, for messages taken.
            submitted: BTreeMap<u32, (u32, usize)>,
            ended: BTreeMap<u32, u32>,
            delivered: [Vec<(usize, bool)>; 2],
            called: BTreeSet<(u32, usize)>,
            closed_cells: Vec<usize>,
            closed_tickets: Vec<u32>,
            closing: bool,
            stopped: [bool; 2],
            /// The status the core's last answer carried.
            last_status: Option<u32>,
        }

        impl World {
            fn drain(&mut self, c: &mut Container, first: f64) {
                if first <= wire::ACTION_NONE {
                    self.last_status = Some((-first) as u32);
                }
                let mut action = first;
                while action > wire::ACTION_NONE {
                    let (kind, dir, more, cell, status, slot) = unpack(action);
                    if !more {
                        // The status the last action carries is the one
                        // the core has once it is carried out.
                        self.last_status = Some(status);
                    }
                    let cell = cell as usize;
                    assert!(self.closed_tickets.is_empty(), "nothing after closed");
                    match kind {
                        wire::ACTION_CALL => {
                            assert!(!self.closed_cells.contains(&cell), "call after close");
                            assert!(self.called.insert((slot, cell)), "called twice");
                            // The route: outgoing 0..n, incoming n-1..0.
                            let before = if dir == wire::DIR_OUTGOING {
                                (0..cell).collect::<Vec<_>>()
                            } else {
                                (cell + 1..self.cells).collect()
                            };
                            for earlier in before {
                                assert!(self.called.contains(&(slot, earlier)), "route");
                            }
                            self.outstanding.push((cell, dir, slot));
                        }
                        wire::ACTION_PREFIX => {
                            // The error is on its way out: its direction
                            // takes no more messages.
                            let (d, _) = self.submitted[&slot];
                            self.stopped[d as usize] = true;
                        }
                        wire::ACTION_DELIVER | wire::ACTION_DELIVER_ERROR | wire::ACTION_DROP => {
                            assert_eq!(self.ended.insert(slot, kind), None, "ended twice");
                            let (d, n) = self.submitted[&slot];
                            assert_eq!(d, dir);
                            if kind != wire::ACTION_DROP {
                                self.delivered[dir as usize]
                                    .push((n, kind == wire::ACTION_DELIVER_ERROR));
                            }
                        }
                        wire::ACTION_CLOSE_SESSION => {
                            assert!(!self.closed_cells.contains(&cell), "closed twice");
                            self.closed_cells.push(cell);
                        }
                        wire::ACTION_CLOSED => {
                            assert_eq!(self.closed_cells.len(), self.cells);
                            self.closed_tickets.push(slot);
                        }
                        other => panic!("unknown action {other}"),
                    }
                    action = if more {
                        let next = c.next_action();
                        if next <= wire::ACTION_NONE {
                            self.last_status = Some((-next) as u32);
                        }
                        next
                    } else {
                        wire::ACTION_NONE
                    };
                }
            }

            /// What JavaScript may do once the answer is carried out: run a
            /// message ahead in a direction that is open and has none in
            /// the pipeline.
            fn expected_status(&self) -> u32 {
                let mut status = 0;
                for (dir, bit) in [
                    (wire::DIR_OUTGOING, wire::STATUS_AHEAD_OUTGOING),
                    (wire::DIR_INCOMING, wire::STATUS_AHEAD_INCOMING),
                ] {
                    let busy = self
                        .submitted
                        .iter()
                        .any(|(slot, &(d, _))| d == dir && !self.ended.contains_key(slot));
                    if !self.closing && !self.stopped[dir as usize] && !busy {
                        status |= bit;
                    }
                }
                status
            }

            fn apply(&mut self, c: &mut Container, op: &Op) {
                match *op {
                    Op::Submit(incoming) => {
                        let dir = if incoming { Incoming } else { Outgoing };
                        let slot = self.next_slot;
                        self.next_slot += 1;
                        let first = c.submit(dir, slot, true);
                        let open = !self.closing && !self.stopped[dir as usize];
                        if first == wire::SUBMIT_REFUSED {
                            assert!(!open, "refused while open");
                            return;
                        }
                        assert!(open, "taken while stopped");
                        let n = self.submitted.len();
                        self.submitted.insert(slot, (dir as u32, n));
                        self.drain(c, first);
                    }
                    Op::Complete(pick, error) => {
                        if self.outstanding.is_empty() {
                            return;
                        }
                        let (cell, dir, slot) =
                            self.outstanding.remove(pick % self.outstanding.len());
                        let dir = Direction::from_index(dir).unwrap();
                        let next = c.complete(cell, dir, slot, error, true);
                        self.drain(c, next);
                    }
                    Op::Close => {
                        if !self.closing {
                            self.closing = true;
                            let first = c.close(7, true);
                            self.drain(c, first);
                        }
                    }
                }
            }
        }

        proptest! {
            #[test]
            fn random_driver_calls_keep_the_model(
                cells in 1usize..4,
                ops in prop::collection::vec(op(), 0..60),
            ) {
                let mut c = Container::with_first("a".into(), 0);
                for i in 1..cells {
                    c.add(format!("x{i}"), 0).unwrap();
                }
                c.set_pipeline(&(0..cells).collect::<Vec<_>>());
                let mut world = World { cells, ..World::default() };
                for op in &ops {
                    world.last_status = None;
                    world.apply(&mut c, op);
                    if let Some(status) = world.last_status {
                        prop_assert_eq!(status, world.expected_status(), "after {:?}", op);
                    }
                }
                // The end: close, and every session answers what it has.
                world.apply(&mut c, &Op::Close);
                while !world.outstanding.is_empty() {
                    world.apply(&mut c, &Op::Complete(0, false));
                }
                prop_assert_eq!(world.ended.len(), world.submitted.len());
                for dir in 0..2 {
                    let got = &world.delivered[dir];
                    prop_assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "order {:?}", got);
                    if let Some(i) = got.iter().position(|&(_, error)| error) {
                        prop_assert!(got[i + 1..].iter().all(|&(_, error)| error), "after an error {:?}", got);
                    }
                }
                prop_assert_eq!(world.closed_cells.len(), cells);
                prop_assert_eq!(world.closed_tickets, vec![7]);
            }
        }
    }
}
