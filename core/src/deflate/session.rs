//! One permessage-deflate session: the negotiated parameters and a codec
//! lane per direction. Plain Rust; the binding (`deflate_binding.rs`) turns
//! JavaScript values into these calls.

use crate::deflate::{
    client_activate, client_offer, server_accept, CodecStats, CompressError, Compressor,
    Decompressor, DeflateConfig, InflateError, SessionParams,
};
use crate::offload::{Codec, Inline, Job, Lane};
use crate::parser::Params;
use std::sync::Arc;

/// Messages at least this large are compressed on a worker thread. Below it,
/// compressing inline costs less than the hand-off: a 4 KiB message takes
/// about 35 µs inline, while a hand-off costs a copy, a wake-up and a return
/// through the threadsafe function, and 64 KiB takes about 0.8 ms, long
/// enough to block the event loop noticeably. A chosen value, not swept by the
/// benchmark (bench/results.md has the round trips around it).
pub const OFFLOAD_COMPRESS_BYTES: usize = 64 * 1024;
/// Compressed messages at least this large are inflated on a worker thread.
pub const OFFLOAD_INFLATE_BYTES: usize = 16 * 1024;

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
    Done(O),
    /// Queued for a worker; the result goes to the job's `deliver`.
    Queued,
}

pub struct Session {
    config: DeflateConfig,
    role: Role,
    max_len: Option<usize>,
    response: Option<Params>,
    lanes: Option<Lanes>,
    closed: bool,
}

impl Session {
    /// A client session, not active until [`Session::activate`].
    pub fn client(config: DeflateConfig, max_len: Option<usize>) -> Session {
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
        let (params, response) = server_accept(&config, offers)?;
        let mut session = Session {
            config,
            role: Role::Server,
            max_len,
            response: Some(response),
            lanes: None,
            closed: false,
        };
        session.start(&params);
        Some(session)
    }

    fn start(&mut self, params: &SessionParams) {
        self.lanes = Some(Lanes {
            outgoing: Lane::new(Deflater(Compressor::new(params))),
            incoming: Lane::new(Inflater {
                codec: Decompressor::new(params),
                max_len: self.max_len,
            }),
        });
    }

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

    pub fn response(&self) -> Option<&Params> {
        self.response.as_ref()
    }

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

    /// The outgoing and incoming directions' figures, or `None` for a
    /// direction a worker has now (and for both before activation).
    pub fn stats(&self) -> (Option<CodecStats>, Option<CodecStats>) {
        match &self.lanes {
            Some(lanes) => (
                lanes.outgoing.peek(|d| d.0.stats()),
                lanes.incoming.peek(|i| i.codec.stats()),
            ),
            None => (None, None),
        }
    }

    /// The per-thread budget of live sessions this session's extension asks
    /// for (`liveStates`).
    pub fn live_states(&self) -> usize {
        self.config.live_states
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
}
