//! maxLength on every path a message takes: the fuzz input that once came
//! back one byte over, inline and on a worker thread, as a session's first
//! message and a later one.

use std::sync::mpsc;
use websocket_extensions_core::deflate::session::{Outcome, Session};
use websocket_extensions_core::deflate::{Compressor, Decompressor, InflateError};
use websocket_extensions_core::test_support::{config, random_bytes, session_params};

/// Found by fuzz/fuzz_targets/inflate.rs; its first byte is the target's
/// selector: 0xde is a 14-bit window without context takeover. The rest is a
/// message of 2,178 bytes that inflates to 65,537.
const OFF_BY_ONE: &[u8] = include_bytes!("data/inflate-maxlen-off-by-one");

#[test]
fn the_fuzz_input_is_too_large_for_65536_and_fits_65537() {
    let (&selector, message) = OFF_BY_ONE.split_first().unwrap();
    assert_eq!(selector, 0xde);
    let params = session_params(8 + selector % 8, selector & 0x80 == 0);
    assert_eq!(
        (
            params.incoming.window_bits,
            params.incoming.context_takeover
        ),
        (14, false)
    );
    let mut decompressor = Decompressor::new(&params);
    // Twice, as the fuzz target runs it: the first message and a later one.
    for _ in 0..2 {
        assert_eq!(
            decompressor.decompress(message, Some(65_536)),
            Err(InflateError::TooLarge)
        );
    }
    for _ in 0..2 {
        let out = decompressor.decompress(message, Some(65_537)).unwrap();
        assert_eq!(out.len(), 65_537);
    }
}

/// A client and server session with `max_len`, the client offering the
/// window and context mode.
fn pair(bits: u8, takeover: bool, max_len: usize) -> (Session, Session) {
    let config = config(bits, takeover);
    let mut client = Session::client(config.clone(), Some(max_len));
    let server = Session::server(config.clone(), &[client.offer()], Some(max_len)).unwrap();
    assert!(client.activate(server.response().unwrap()));
    (client, server)
}

/// Inflates on `session`, inline or on a worker; says which.
fn inflate(session: &Session, wire: &[u8]) -> (Result<Vec<u8>, InflateError>, &'static str) {
    let (tx, rx) = mpsc::channel();
    match session.decompress(wire, move || Box::new(move |out| tx.send(out).unwrap())) {
        Some(Outcome::Done(out)) => (out, "inline"),
        Some(Outcome::Queued) => (rx.recv().unwrap(), "worker"),
        None => panic!("inactive session"),
    }
}

#[test]
fn every_path_refuses_one_byte_over_max_length() {
    const MAX: usize = 65_536;
    for bits in [9, 14, 15] {
        for takeover in [true, false] {
            // Random bytes stay large compressed (on a worker); the fuzz input
            // and zeros are small (inline).
            let (_, message) = OFF_BY_ONE.split_first().unwrap();
            let cases: Vec<(&str, Vec<u8>)> = vec![
                ("random", random_bytes(MAX + 1, 7)),
                ("zeros", vec![0; MAX + 1]),
            ];
            let mut paths = Vec::new();
            for (kind, plain) in &cases {
                for len in [MAX, MAX + 1] {
                    let (_, server) = pair(bits, takeover, MAX);
                    // Our own compressor with the client's parameters.
                    let mut peer = Compressor::new(&session_params(bits, takeover));
                    for later in [false, true] {
                        let wire = peer.compress(&plain[..len]).unwrap();
                        let (out, path) = inflate(&server, &wire);
                        paths.push(path);
                        let what = format!("{kind} {bits} {takeover} {len} {path} {later}");
                        if len > MAX {
                            assert_eq!(out, Err(InflateError::TooLarge), "{what}");
                            break;
                        }
                        assert_eq!(out.unwrap().len(), MAX, "{what}");
                    }
                }
            }
            if bits == 14 && !takeover {
                let (client, _) = pair(bits, takeover, MAX);
                for _ in 0..2 {
                    let (out, path) = inflate(&client, message);
                    assert_eq!((out, path), (Err(InflateError::TooLarge), "inline"));
                }
            }
            assert!(paths.contains(&"inline") && paths.contains(&"worker"));
        }
    }
}
