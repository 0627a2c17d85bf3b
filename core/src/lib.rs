//! The protocol core of `websocket-extensions-rs`, with no Node.js in it:
//!
//! - [`parser`]: the `Sec-WebSocket-Extensions` grammar and serializer;
//! - [`registry`]: registered extensions and RSV bits (its failures are
//!   values; lib/errors.js words them);
//! - [`pipeline`]: the order-keeping message pipeline, as a state machine;
//! - [`deflate`]: permessage-deflate (RFC 7692), down to one session
//!   ([`deflate::session`]);
//! - [`offload`]: running codec lanes on worker threads, in order;
//! - [`container`]: one container's state as the binding holds it (the
//!   registry, the pipeline, the session a one-call handshake holds);
//! - [`deflate::sessions`]: one thread's deflate sessions (the budget of
//!   live states, the idle sweep, the figures);
//! - [`table`]: state named by number; [`wire`]: the numbers that cross to
//!   JavaScript.
//!
//! The napi binding (the crate at the repository root) holds this state for
//! JavaScript and converts values. See `docs/ARCHITECTURE.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod container;
pub mod deflate;
pub mod offload;
pub mod parser;
pub mod pipeline;
pub mod registry;
pub mod table;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod wire;
