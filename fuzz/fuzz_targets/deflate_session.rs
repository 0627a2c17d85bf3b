//! The whole permessage-deflate session as the container drives it.
//!
//! From the input: every option of both ends (level, memLevel, strategy,
//! window bits, context takeover, requested window and takeover, maxLength),
//! a client and a server session negotiated as the core crate negotiates
//! (the offer and the response go through a header line and the parser),
//! then a sequence of operations:
//! - bursts of messages in either direction, all compressed before any result
//!   is read and then all decompressed, as the pipeline hands them over
//!   (large ones go to a worker); every message must come back byte for byte,
//!   or, when larger than the receiver's maxLength, fail with `TooLarge`;
//! - raw bytes straight to either decompressor: an output within maxLength or
//!   an error, never a panic.
//!
//! After an error, or raw bytes, the pair's contexts no longer match, so it
//! is closed (as the driver closes the connection) and a fresh pair is
//! negotiated, which must work again. The run ends with a message each way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::mpsc;
use websocket_extensions_core::deflate::session::{Outcome, Session};
use websocket_extensions_core::deflate::{DeflateConfig, InflateError, OptionValue};
use websocket_extensions_core::parser::{parse_header, serialize_parsed, Params};
use websocket_extensions_core::test_support::random_bytes;

/// The most messages in one burst.
const MAX_BURST: usize = 4;
/// Operations per input, so that one input stays fast.
const MAX_OPS: usize = 32;

/// Reads the input front to back; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> usize {
        usize::from(self.byte()) | usize::from(self.byte()) << 8
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One end's options, as `configure(options)` takes them.
fn config(input: &mut Input) -> DeflateConfig {
    let level = input.byte() % 11;
    let mem_level = input.byte() % 9;
    let strategy = input.byte() % 5;
    let flags = input.byte();
    let bits = input.byte();
    let mut options = vec![
        ("level", OptionValue::Number(f64::from(level) - 1.0)),
        ("memLevel", OptionValue::Number(f64::from(mem_level) + 1.0)),
        ("strategy", OptionValue::Number(f64::from(strategy))),
        ("noContextTakeover", OptionValue::Bool(flags & 1 != 0)),
        (
            "requestNoContextTakeover",
            OptionValue::Bool(flags & 2 != 0),
        ),
    ];
    if flags & 4 != 0 {
        let b = 8 + (bits & 7);
        options.push(("maxWindowBits", OptionValue::Number(f64::from(b))));
    }
    if flags & 8 != 0 {
        let b = 8 + (bits >> 4 & 7);
        options.push(("requestMaxWindowBits", OptionValue::Number(f64::from(b))));
    }
    let options: Vec<(String, OptionValue)> = options
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    DeflateConfig::default()
        .with_options(&options)
        .expect("valid options are accepted")
}

/// maxLength: none, or up to about 16 MiB, mostly small enough to matter for
/// the messages below.
fn max_length(input: &mut Input) -> Option<usize> {
    match input.byte() % 4 {
        0 => None,
        1 => Some(usize::from(input.byte())),
        2 => Some(input.u16()),
        _ => Some(input.u16() << 8 | usize::from(input.byte())),
    }
}

/// A message length: under 256 bytes most of the time, else under 4 KiB,
/// under 64 KiB, or within 128 bytes of 64 or 128 KiB (where messages go to
/// the workers and the output buffers grow). Large messages cost the most
/// under AddressSanitizer, so they are the rarest.
fn length(input: &mut Input) -> usize {
    let class = input.byte();
    match class % 16 {
        12 | 13 => input.u16() & 0xfff,
        14 => input.u16(),
        15 => (usize::from(class >> 7) + 1) * 65536 - 128 + usize::from(input.byte()),
        _ => usize::from(input.byte()),
    }
}

/// One message: bytes of the input, a short pattern repeated, or seeded
/// noise that does not compress.
fn message(input: &mut Input) -> Vec<u8> {
    let kind = input.byte();
    match kind % 4 {
        0 | 1 => {
            let n = usize::from(input.byte());
            input.bytes(n).to_vec()
        }
        2 => {
            let pattern = input.bytes(usize::from(kind >> 2 & 31) + 1).to_vec();
            let len = length(input);
            pattern.iter().copied().cycle().take(len).collect()
        }
        _ => {
            let len = length(input);
            random_bytes(len, u64::from(kind >> 2) << 8 | 0x9e37_79b9)
        }
    }
}

/// `params` through a header line and the parser, as they travel.
fn through_header(params: &Params) -> Params {
    let line = serialize_parsed("permessage-deflate", params);
    let mut offers = parse_header(&line).expect("a serialized offer parses");
    assert_eq!(offers.len(), 1, "{line}");
    assert_eq!(offers[0].name, "permessage-deflate");
    offers.remove(0).params
}

struct Ends {
    client: DeflateConfig,
    server: DeflateConfig,
    client_max: Option<usize>,
    server_max: Option<usize>,
}

/// A client and a server session, negotiated. Our server accepts every offer
/// our client makes, and our client accepts every answer our server gives.
fn negotiate(ends: &Ends) -> [Session; 2] {
    let mut client = Session::client(ends.client.clone(), ends.client_max);
    assert!(!client.is_active());
    let offer = through_header(&client.offer());
    let server = Session::server(ends.server.clone(), &[offer], ends.server_max)
        .expect("the server accepts the client's offer");
    let response = through_header(server.response().expect("a server session has a response"));
    assert!(
        client.activate(&response),
        "the client accepts the server's response {response:?}"
    );
    assert!(client.is_active() && server.is_active());
    [client, server]
}

/// Hands every input to `process` (a session's compress or decompress),
/// then reads every result in order: some inline, some from a worker.
fn all_in_order<O: Send + 'static>(
    inputs: &[Vec<u8>],
    process: impl Fn(&[u8], Deliver<O>) -> Option<Outcome<O>>,
) -> Vec<O> {
    let pending: Vec<_> = inputs
        .iter()
        .map(|input| {
            let (tx, rx) = mpsc::channel();
            let deliver: Deliver<O> = Box::new(move |out| {
                let _ = tx.send(out);
            });
            let outcome = process(input, deliver).expect("an active session takes messages");
            (outcome, rx)
        })
        .collect();
    pending
        .into_iter()
        .map(|(outcome, rx)| match outcome {
            Outcome::Done(out) => out,
            Outcome::Queued => rx.recv().expect("a queued message is delivered"),
        })
        .collect()
}

/// Where a queued message's result goes.
type Deliver<O> = Box<dyn FnOnce(O) + Send>;

fn compress_all(session: &Session, messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    all_in_order(messages, |m, deliver| session.compress(m, move || deliver))
        .into_iter()
        .map(|out| out.expect("compression does not fail"))
        .collect()
}

fn decompress_all(session: &Session, wires: &[Vec<u8>]) -> Vec<Result<Vec<u8>, InflateError>> {
    all_in_order(wires, |w, deliver| session.decompress(w, move || deliver))
}

/// Sends `messages` from `from` to `to`. False when the pair's contexts no
/// longer match (a message was refused).
fn send(from: &Session, to: &Session, to_max: Option<usize>, messages: &[Vec<u8>]) -> bool {
    let wires = compress_all(from, messages);
    let results = decompress_all(to, &wires);
    let bound = to_max.unwrap_or(usize::MAX);
    let mut in_step = true;
    for (i, (message, result)) in messages.iter().zip(results).enumerate() {
        if let Ok(out) = &result {
            assert!(
                out.len() <= bound,
                "message {i}: {} bytes returned under maxLength {bound}",
                out.len()
            );
        }
        if !in_step {
            // After a refusal the receiver's context is gone; what follows
            // may fail, but never with more than maxLength.
            continue;
        }
        if message.len() > bound {
            assert_eq!(
                result.as_ref().map(Vec::len),
                Err(&InflateError::TooLarge),
                "message {i}: {} bytes under maxLength {bound}",
                message.len()
            );
            in_step = false;
        } else {
            match result {
                Ok(out) => assert!(out == *message, "message {i} changed on the way"),
                Err(e) => panic!("message {i} of {} bytes refused: {e}", message.len()),
            }
        }
    }
    in_step
}

fn close(pair: &mut [Session; 2]) {
    for session in pair.iter_mut() {
        session.close();
        assert!(!session.is_active());
        assert!(session.compress(b"x", || unreachable_deliver()).is_none());
    }
}

fn unreachable_deliver<O>() -> Box<dyn FnOnce(O) + Send> {
    panic!("a closed session queued a message")
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let ends = Ends {
        client: config(&mut input),
        server: config(&mut input),
        client_max: max_length(&mut input),
        server_max: max_length(&mut input),
    };
    let maxes = [ends.client_max, ends.server_max];
    let mut pair = negotiate(&ends);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.byte();
        // Which end receives: 0 the client, 1 the server.
        let to = usize::from(op & 1);
        let in_step = if op & 2 == 0 {
            let count = usize::from(op >> 2) % MAX_BURST + 1;
            let messages: Vec<Vec<u8>> = (0..count).map(|_| message(&mut input)).collect();
            send(&pair[1 - to], &pair[to], maxes[to], &messages)
        } else {
            let n = usize::from(input.byte());
            let raw = input.bytes(n).to_vec();
            let result = decompress_all(&pair[to], &[raw]).remove(0);
            if let Ok(out) = result {
                let bound = maxes[to].unwrap_or(usize::MAX);
                assert!(out.len() <= bound, "raw bytes gave {} bytes", out.len());
            }
            false
        };
        if !in_step {
            close(&mut pair);
            pair = negotiate(&ends);
        }
    }
    // The last pair still works both ways.
    let last = [b"the end".to_vec()];
    send(&pair[0], &pair[1], maxes[1], &last);
    send(&pair[1], &pair[0], maxes[0], &last);
    close(&mut pair);
});
