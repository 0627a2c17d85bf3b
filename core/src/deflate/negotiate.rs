//! permessage-deflate negotiation (RFC 7692 section 7) with the rules of the
//! npm package permessage-deflate 0.1.7, on both sides.
//!
//! Offers and responses are checked alike: a key other than the four below, a
//! key given twice, a flag with a value, or window bits outside 8..=15 make
//! the whole offer (or response) unacceptable. `client_max_window_bits` may
//! be bare in an offer only.
//!
//! Window bits here are the protocol's numbers (8..=15); `codec` maps them to
//! what zlib can do, which matters for 8 only.

use super::config::{DeflateConfig, Strategy};
use crate::parser::{ParamValue, Params};

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

const MAX_WINDOW_BITS: u8 = 15;

/// How one direction of a session compresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectionParams {
    /// The LZ77 window the sender may use, 8..=15.
    pub window_bits: u8,
    /// Whether the sender keeps its context from one message to the next; if
    /// not, both ends reset after every message.
    pub context_takeover: bool,
}

/// The outcome of a successful negotiation, seen from our side.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionParams {
    /// Messages we compress.
    pub outgoing: DirectionParams,
    /// Messages we decompress.
    pub incoming: DirectionParams,
    /// Our compression level (`level`), -1 for zlib's default.
    pub level: i32,
    /// Our compressor's memory level (`memLevel`).
    pub mem_level: i32,
    /// Our compressor's strategy (`strategy`).
    pub strategy: Strategy,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Side {
    Offer,
    Response,
}

/// `client_max_window_bits` as an offer or response gave it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum ClientMax {
    #[default]
    Absent,
    /// Bare, in an offer: the client can take a limit in the response.
    Unvalued,
    Bits(u8),
}

/// The parameters of one offer or response, once found valid.
#[derive(Debug, Default)]
struct Requested {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: ClientMax,
}

fn window_bits(value: &ParamValue) -> Option<u8> {
    match value {
        ParamValue::Number(n) if n.fract() == 0.0 && (8.0..=15.0).contains(n) => Some(*n as u8),
        _ => None,
    }
}

/// `None` for unknown or repeated keys and invalid values (RFC 7692 section 7:
/// a server declines such an offer, a client fails on such a response).
fn read(params: &Params, side: Side) -> Option<Requested> {
    let mut r = Requested::default();
    let mut seen: Vec<&str> = Vec::with_capacity(params.len());
    for (key, value) in params {
        if seen.contains(&key.as_str()) {
            return None;
        }
        seen.push(key);
        match (key.as_str(), value) {
            (SERVER_NO_CONTEXT_TAKEOVER, ParamValue::Flag) => r.server_no_context_takeover = true,
            (CLIENT_NO_CONTEXT_TAKEOVER, ParamValue::Flag) => r.client_no_context_takeover = true,
            (SERVER_MAX_WINDOW_BITS, v) => r.server_max_window_bits = Some(window_bits(v)?),
            (CLIENT_MAX_WINDOW_BITS, ParamValue::Flag) if side == Side::Offer => {
                r.client_max_window_bits = ClientMax::Unvalued
            }
            (CLIENT_MAX_WINDOW_BITS, v) => {
                r.client_max_window_bits = ClientMax::Bits(window_bits(v)?)
            }
            _ => return None,
        }
    }
    Some(r)
}

fn session(
    cfg: &DeflateConfig,
    outgoing: DirectionParams,
    incoming: DirectionParams,
) -> SessionParams {
    SessionParams {
        outgoing,
        incoming,
        level: cfg.level,
        mem_level: cfg.mem_level,
        strategy: cfg.strategy,
    }
}

fn flag(key: &str) -> (String, ParamValue) {
    (key.to_string(), ParamValue::Flag)
}

fn bits(key: &str, bits: u8) -> (String, ParamValue) {
    (key.to_string(), ParamValue::Number(f64::from(bits)))
}

/// The client's offer, in the original's order: `client_no_context_takeover`
/// (with `noContextTakeover`), `client_max_window_bits` (always: the value of
/// `maxWindowBits`, or bare), `server_no_context_takeover` (with
/// `requestNoContextTakeover`), `server_max_window_bits` (with
/// `requestMaxWindowBits`).
pub fn client_offer(cfg: &DeflateConfig) -> Params {
    let mut offer = Params::new();
    if cfg.no_context_takeover {
        offer.push(flag(CLIENT_NO_CONTEXT_TAKEOVER));
    }
    offer.push(match cfg.max_window_bits {
        Some(b) => bits(CLIENT_MAX_WINDOW_BITS, b),
        None => flag(CLIENT_MAX_WINDOW_BITS),
    });
    if cfg.request_no_context_takeover {
        offer.push(flag(SERVER_NO_CONTEXT_TAKEOVER));
    }
    if let Some(b) = cfg.request_max_window_bits {
        offer.push(bits(SERVER_MAX_WINDOW_BITS, b));
    }
    offer
}

/// Checks the server's response to [`client_offer`]; `None` means the client
/// must fail the connection.
///
/// Refused, as in the original: a `client_max_window_bits` above the
/// `maxWindowBits` we offered; no `server_no_context_takeover` when we asked
/// for it; a `server_max_window_bits` above the one we asked for. Accepted: a
/// server that adds `server_no_context_takeover` or `server_max_window_bits`
/// unasked (RFC 7692 7.1.1.1, 7.1.2.1).
///
/// Deviation: when we asked for `server_max_window_bits=15`, a response
/// without it is accepted (the absent value means 15), because the
/// original's server leaves it out whenever its window is 15.
pub fn client_activate(cfg: &DeflateConfig, response: &Params) -> Option<SessionParams> {
    let r = read(response, Side::Response)?;
    let client_max = match r.client_max_window_bits {
        ClientMax::Bits(b) => Some(b),
        _ => None,
    };
    if let (Some(offered), Some(b)) = (cfg.max_window_bits, client_max) {
        if b > offered {
            return None;
        }
    }
    if cfg.request_no_context_takeover && !r.server_no_context_takeover {
        return None;
    }
    if let Some(requested) = cfg.request_max_window_bits {
        if r.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS) > requested {
            return None;
        }
    }
    let outgoing = DirectionParams {
        window_bits: cfg
            .max_window_bits
            .unwrap_or(MAX_WINDOW_BITS)
            .min(client_max.unwrap_or(MAX_WINDOW_BITS)),
        context_takeover: !(cfg.no_context_takeover || r.client_no_context_takeover),
    };
    let incoming = DirectionParams {
        window_bits: r.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
        context_takeover: !r.server_no_context_takeover,
    };
    Some(session(cfg, outgoing, incoming))
}

/// Picks the first acceptable offer and builds the response to it, or `None`
/// when no offer is acceptable (the server then answers without the
/// extension).
///
/// Every valid offer is acceptable, as in the original; the response is the
/// original's `generateResponse`: `server_no_context_takeover` when either the
/// offer asks for it or `noContextTakeover` is set; `client_no_context_takeover`
/// when the offer hints it or `requestNoContextTakeover` is set;
/// `server_max_window_bits` (the smaller of the offer's and `maxWindowBits`)
/// only when the offer has it, since Firefox fails on it otherwise;
/// `client_max_window_bits` (the smaller of the offer's, 15 when bare, and
/// `requestMaxWindowBits`) when below 15, and never when the offer lacks it
/// (RFC 7692 7.1.2.2).
///
/// Deviation: an offered `server_max_window_bits` is answered even when our
/// window is 15. The original leaves it out then, which RFC 7692 7.1.2.1 does
/// not allow and its own client refuses.
pub fn server_accept(cfg: &DeflateConfig, offers: &[Params]) -> Option<(SessionParams, Params)> {
    let accepted = server_choose(cfg, offers)?;
    Some((accepted.params(cfg), accepted.response()))
}

/// What a server accepted from an offer: both directions' parameters and
/// whether the response names `server_max_window_bits`. With the
/// configuration it gives the session's parameters ([`Accepted::params`])
/// and the response ([`Accepted::response`]); it packs into one number
/// ([`Accepted::pack`]), which crosses to JavaScript and back for less than
/// a native object does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// Messages we compress.
    pub outgoing: DirectionParams,
    /// Messages we decompress.
    pub incoming: DirectionParams,
    /// Whether the offer named `server_max_window_bits`, so the response does.
    pub names_server_bits: bool,
}

impl Accepted {
    /// The accepted parameters in 11 bits: the outgoing and incoming window
    /// bits (4 bits each), then one bit each for outgoing and incoming
    /// context takeover and for `names_server_bits`.
    pub fn pack(&self) -> u32 {
        u32::from(self.outgoing.window_bits)
            | u32::from(self.incoming.window_bits) << 4
            | u32::from(self.outgoing.context_takeover) << 8
            | u32::from(self.incoming.context_takeover) << 9
            | u32::from(self.names_server_bits) << 10
    }

    /// The parameters [`Accepted::pack`] packed; `None` for a number it
    /// cannot have made.
    pub fn unpack(packed: u32) -> Option<Accepted> {
        let outgoing_bits = (packed & 15) as u8;
        let incoming_bits = (packed >> 4 & 15) as u8;
        if packed >> 11 != 0 || outgoing_bits < 8 || incoming_bits < 8 {
            return None;
        }
        Some(Accepted {
            outgoing: DirectionParams {
                window_bits: outgoing_bits,
                context_takeover: packed & 1 << 8 != 0,
            },
            incoming: DirectionParams {
                window_bits: incoming_bits,
                context_takeover: packed & 1 << 9 != 0,
            },
            names_server_bits: packed & 1 << 10 != 0,
        })
    }

    /// The session's parameters with configuration `cfg`.
    pub fn params(&self, cfg: &DeflateConfig) -> SessionParams {
        session(cfg, self.outgoing, self.incoming)
    }

    /// The server's response, in the original's order.
    pub fn response(&self) -> Params {
        let mut response = Params::new();
        if !self.outgoing.context_takeover {
            response.push(flag(SERVER_NO_CONTEXT_TAKEOVER));
        }
        if !self.incoming.context_takeover {
            response.push(flag(CLIENT_NO_CONTEXT_TAKEOVER));
        }
        if self.names_server_bits {
            response.push(bits(SERVER_MAX_WINDOW_BITS, self.outgoing.window_bits));
        }
        if self.incoming.window_bits < MAX_WINDOW_BITS {
            response.push(bits(CLIENT_MAX_WINDOW_BITS, self.incoming.window_bits));
        }
        response
    }
}

/// What the server accepts from the first acceptable of `offers` with
/// configuration `cfg` ([`server_accept`] without building the response).
pub fn server_choose(cfg: &DeflateConfig, offers: &[Params]) -> Option<Accepted> {
    let r = offers.iter().find_map(|offer| read(offer, Side::Offer))?;
    let outgoing_takeover = !(cfg.no_context_takeover || r.server_no_context_takeover);
    let incoming_takeover = !(cfg.request_no_context_takeover || r.client_no_context_takeover);
    let outgoing_bits = cfg
        .max_window_bits
        .unwrap_or(MAX_WINDOW_BITS)
        .min(r.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS));
    let incoming_bits = match r.client_max_window_bits {
        ClientMax::Absent => MAX_WINDOW_BITS,
        ClientMax::Unvalued => cfg.request_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
        ClientMax::Bits(b) => cfg
            .request_max_window_bits
            .unwrap_or(MAX_WINDOW_BITS)
            .min(b),
    };
    Some(Accepted {
        outgoing: DirectionParams {
            window_bits: outgoing_bits,
            context_takeover: outgoing_takeover,
        },
        incoming: DirectionParams {
            window_bits: incoming_bits,
            context_takeover: incoming_takeover,
        },
        names_server_bits: r.server_max_window_bits.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::config::OptionValue;
    use crate::test_support::configs;

    fn flag(key: &str) -> (String, ParamValue) {
        (key.to_string(), ParamValue::Flag)
    }
    fn num(key: &str, n: f64) -> (String, ParamValue) {
        (key.to_string(), ParamValue::Number(n))
    }
    fn text(key: &str, v: &str) -> (String, ParamValue) {
        (key.to_string(), ParamValue::Text(v.to_string()))
    }

    const SNCT: &str = SERVER_NO_CONTEXT_TAKEOVER;
    const CNCT: &str = CLIENT_NO_CONTEXT_TAKEOVER;
    const SMWB: &str = SERVER_MAX_WINDOW_BITS;
    const CMWB: &str = CLIENT_MAX_WINDOW_BITS;

    fn cfg(options: &[(&str, OptionValue)]) -> DeflateConfig {
        let options: Vec<(String, OptionValue)> = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        DeflateConfig::default().with_options(&options).unwrap()
    }
    fn bits_opt(key: &str, n: u8) -> (&str, OptionValue) {
        (key, OptionValue::Number(f64::from(n)))
    }
    fn on(key: &str) -> (&str, OptionValue) {
        (key, OptionValue::Bool(true))
    }

    /// (outgoing bits, outgoing takeover, incoming bits, incoming takeover)
    type Shape = (u8, bool, u8, bool);

    fn shape(s: &SessionParams) -> Shape {
        (
            s.outgoing.window_bits,
            s.outgoing.context_takeover,
            s.incoming.window_bits,
            s.incoming.context_takeover,
        )
    }

    /// Values no window-bits parameter may take.
    fn invalid_bits(key: &str) -> Vec<(String, ParamValue)> {
        vec![
            num(key, 7.0),
            num(key, 16.0),
            num(key, 0.0),
            num(key, -10.0),
            num(key, 1.5),
            num(key, 9.5),
            text(key, "abc"),
            text(key, "010"),
        ]
    }

    #[test]
    fn the_client_offers_what_the_original_offers_in_its_order() {
        let table: Vec<(DeflateConfig, Params)> = vec![
            (cfg(&[]), vec![flag(CMWB)]),
            (
                cfg(&[on("noContextTakeover")]),
                vec![flag(CNCT), flag(CMWB)],
            ),
            (cfg(&[bits_opt("maxWindowBits", 10)]), vec![num(CMWB, 10.0)]),
            (cfg(&[bits_opt("maxWindowBits", 8)]), vec![num(CMWB, 8.0)]),
            (
                cfg(&[on("requestNoContextTakeover")]),
                vec![flag(CMWB), flag(SNCT)],
            ),
            (
                cfg(&[bits_opt("requestMaxWindowBits", 9)]),
                vec![flag(CMWB), num(SMWB, 9.0)],
            ),
            (
                cfg(&[
                    bits_opt("requestMaxWindowBits", 8),
                    on("requestNoContextTakeover"),
                    bits_opt("maxWindowBits", 12),
                    on("noContextTakeover"),
                ]),
                vec![flag(CNCT), num(CMWB, 12.0), flag(SNCT), num(SMWB, 8.0)],
            ),
        ];
        for (config, offer) in table {
            assert_eq!(client_offer(&config), offer, "{config:?}");
        }
    }

    #[test]
    fn the_client_accepts_responses_within_its_offer() {
        let plain = cfg(&[]);
        let mut table: Vec<(DeflateConfig, Params, Shape)> = vec![
            (plain.clone(), vec![], (15, true, 15, true)),
            (plain.clone(), vec![flag(SNCT)], (15, true, 15, false)),
            (plain.clone(), vec![flag(CNCT)], (15, false, 15, true)),
            (
                plain.clone(),
                vec![flag(SNCT), flag(CNCT)],
                (15, false, 15, false),
            ),
            (
                cfg(&[on("noContextTakeover")]),
                vec![],
                (15, false, 15, true),
            ),
            (
                cfg(&[bits_opt("maxWindowBits", 10)]),
                vec![],
                (10, true, 15, true),
            ),
            (
                cfg(&[bits_opt("maxWindowBits", 10)]),
                vec![num(CMWB, 9.0)],
                (9, true, 15, true),
            ),
            (
                cfg(&[bits_opt("maxWindowBits", 10)]),
                vec![num(CMWB, 10.0)],
                (10, true, 15, true),
            ),
            (
                cfg(&[on("requestNoContextTakeover")]),
                vec![flag(SNCT)],
                (15, true, 15, false),
            ),
            (
                cfg(&[bits_opt("requestMaxWindowBits", 10)]),
                vec![num(SMWB, 10.0)],
                (15, true, 10, true),
            ),
            (
                cfg(&[bits_opt("requestMaxWindowBits", 10)]),
                vec![num(SMWB, 8.0)],
                (15, true, 8, true),
            ),
            // Deviation: no answer to a request for 15 means 15.
            (
                cfg(&[bits_opt("requestMaxWindowBits", 15)]),
                vec![],
                (15, true, 15, true),
            ),
        ];
        for b in 8..=15u8 {
            table.push((
                plain.clone(),
                vec![num(SMWB, f64::from(b))],
                (15, true, b, true),
            ));
            table.push((
                plain.clone(),
                vec![num(CMWB, f64::from(b))],
                (b, true, 15, true),
            ));
        }
        for (config, response, expected) in table {
            let session = client_activate(&config, &response);
            assert_eq!(session.as_ref().map(shape), Some(expected), "{response:?}");
        }
    }

    #[test]
    fn the_client_refuses_responses_beyond_its_offer() {
        let table: Vec<(DeflateConfig, Params)> = vec![
            (cfg(&[bits_opt("maxWindowBits", 10)]), vec![num(CMWB, 11.0)]),
            (cfg(&[on("requestNoContextTakeover")]), vec![]),
            (cfg(&[on("requestNoContextTakeover")]), vec![flag(CNCT)]),
            (cfg(&[bits_opt("requestMaxWindowBits", 10)]), vec![]),
            (
                cfg(&[bits_opt("requestMaxWindowBits", 10)]),
                vec![num(SMWB, 11.0)],
            ),
            (
                cfg(&[bits_opt("requestMaxWindowBits", 8)]),
                vec![num(SMWB, 9.0)],
            ),
        ];
        for (config, response) in table {
            assert_eq!(
                client_activate(&config, &response),
                None,
                "{config:?} {response:?}"
            );
        }
    }

    #[test]
    fn the_client_refuses_unknown_repeated_and_invalid_parameters() {
        let mut table: Vec<Params> = vec![
            vec![flag("x")],
            vec![num("x", 1.0), flag(SNCT)],
            vec![flag("Server_No_Context_Takeover")],
            vec![flag(SNCT), flag(SNCT)],
            vec![flag(CNCT), flag(CNCT)],
            vec![num(SMWB, 10.0), num(SMWB, 10.0)],
            vec![num(CMWB, 10.0), num(CMWB, 11.0)],
            vec![num(SNCT, 1.0)],
            vec![text(CNCT, "true")],
            vec![flag(SMWB)],
            // A bare client_max_window_bits belongs in offers only.
            vec![flag(CMWB)],
        ];
        table.extend(invalid_bits(SMWB).into_iter().map(|p| vec![p]));
        table.extend(invalid_bits(CMWB).into_iter().map(|p| vec![p]));
        for response in table {
            assert_eq!(client_activate(&cfg(&[]), &response), None, "{response:?}");
        }
    }

    #[test]
    fn the_server_answers_each_parameter_like_generate_response() {
        let plain = cfg(&[]);
        let mut table: Vec<(DeflateConfig, Params, Params, Shape)> = vec![
            (plain.clone(), vec![], vec![], (15, true, 15, true)),
            (
                plain.clone(),
                vec![flag(CMWB)],
                vec![],
                (15, true, 15, true),
            ),
            (
                plain.clone(),
                vec![num(CMWB, 10.0)],
                vec![num(CMWB, 10.0)],
                (15, true, 10, true),
            ),
            (
                plain.clone(),
                vec![flag(SNCT)],
                vec![flag(SNCT)],
                (15, false, 15, true),
            ),
            (
                plain.clone(),
                vec![flag(CNCT)],
                vec![flag(CNCT)],
                (15, true, 15, false),
            ),
            (
                plain.clone(),
                vec![flag(CNCT), flag(SNCT)],
                vec![flag(SNCT), flag(CNCT)],
                (15, false, 15, false),
            ),
            (
                cfg(&[on("noContextTakeover")]),
                vec![],
                vec![flag(SNCT)],
                (15, false, 15, true),
            ),
            (
                cfg(&[on("requestNoContextTakeover")]),
                vec![],
                vec![flag(CNCT)],
                (15, true, 15, false),
            ),
            // maxWindowBits is announced only when the offer asks (Firefox).
            (
                cfg(&[bits_opt("maxWindowBits", 10)]),
                vec![],
                vec![],
                (10, true, 15, true),
            ),
            (
                cfg(&[bits_opt("maxWindowBits", 10)]),
                vec![num(SMWB, 12.0)],
                vec![num(SMWB, 10.0)],
                (10, true, 15, true),
            ),
            (
                cfg(&[bits_opt("maxWindowBits", 10)]),
                vec![num(SMWB, 9.0)],
                vec![num(SMWB, 9.0)],
                (9, true, 15, true),
            ),
            (
                cfg(&[bits_opt("maxWindowBits", 8)]),
                vec![],
                vec![],
                (8, true, 15, true),
            ),
            // requestMaxWindowBits needs the client's client_max_window_bits.
            (
                cfg(&[bits_opt("requestMaxWindowBits", 11)]),
                vec![],
                vec![],
                (15, true, 15, true),
            ),
            (
                cfg(&[bits_opt("requestMaxWindowBits", 11)]),
                vec![flag(CMWB)],
                vec![num(CMWB, 11.0)],
                (15, true, 11, true),
            ),
            (
                cfg(&[bits_opt("requestMaxWindowBits", 11)]),
                vec![num(CMWB, 9.0)],
                vec![num(CMWB, 9.0)],
                (15, true, 9, true),
            ),
            (
                cfg(&[bits_opt("requestMaxWindowBits", 11)]),
                vec![num(CMWB, 13.0)],
                vec![num(CMWB, 11.0)],
                (15, true, 11, true),
            ),
            (
                cfg(&[bits_opt("requestMaxWindowBits", 8)]),
                vec![flag(CMWB)],
                vec![num(CMWB, 8.0)],
                (15, true, 8, true),
            ),
        ];
        for b in 8..=15u8 {
            let n = f64::from(b);
            // Deviation: 15 is answered too (RFC 7692 7.1.2.1).
            table.push((
                plain.clone(),
                vec![num(SMWB, n)],
                vec![num(SMWB, n)],
                (b, true, 15, true),
            ));
        }
        for b in 8..=14u8 {
            let n = f64::from(b);
            table.push((
                plain.clone(),
                vec![num(CMWB, n)],
                vec![num(CMWB, n)],
                (15, true, b, true),
            ));
        }
        for (config, offer, response, expected) in table {
            let (session, answer) = server_accept(&config, std::slice::from_ref(&offer)).unwrap();
            assert_eq!((answer, shape(&session)), (response, expected), "{offer:?}");
            assert_eq!(
                (session.level, session.mem_level),
                (config.level, config.mem_level)
            );
        }
    }

    #[test]
    fn the_server_refuses_unknown_repeated_and_invalid_parameters() {
        let mut table: Vec<Params> = vec![
            vec![flag("x")],
            vec![flag(CMWB), text("x", "y")],
            vec![flag("SERVER_NO_CONTEXT_TAKEOVER")],
            vec![flag(SNCT), flag(SNCT)],
            vec![flag(CNCT), flag(CNCT)],
            vec![num(SMWB, 10.0), num(SMWB, 11.0)],
            vec![flag(CMWB), flag(CMWB)],
            vec![flag(CMWB), num(CMWB, 10.0)],
            vec![num(SNCT, 1.0)],
            vec![text(CNCT, "x")],
            vec![flag(SMWB)],
        ];
        table.extend(invalid_bits(SMWB).into_iter().map(|p| vec![p]));
        table.extend(invalid_bits(CMWB).into_iter().map(|p| vec![p]));
        for offer in table {
            assert_eq!(
                server_accept(&cfg(&[]), std::slice::from_ref(&offer)),
                None,
                "{offer:?}"
            );
        }
        assert_eq!(server_accept(&cfg(&[]), &[]), None);
    }

    #[test]
    fn the_first_acceptable_offer_wins() {
        let table: Vec<(Vec<Params>, Params)> = vec![
            (vec![vec![flag("x")], vec![flag(SNCT)]], vec![flag(SNCT)]),
            (
                vec![vec![num(SMWB, 7.0)], vec![num(CMWB, 10.0)]],
                vec![num(CMWB, 10.0)],
            ),
            (
                vec![vec![num(SMWB, 10.0)], vec![num(SMWB, 12.0)]],
                vec![num(SMWB, 10.0)],
            ),
            (
                vec![vec![flag(CNCT), flag(CNCT)], vec![], vec![flag(SNCT)]],
                vec![],
            ),
            (
                vec![
                    vec![text(SMWB, "abc")],
                    vec![flag(CMWB), flag(CMWB)],
                    vec![num(SMWB, 9.0)],
                ],
                vec![num(SMWB, 9.0)],
            ),
        ];
        for (offers, response) in table {
            assert_eq!(
                server_accept(&cfg(&[]), &offers).map(|(_, r)| r),
                Some(response)
            );
        }
        let refused = vec![vec![flag("x")], vec![num(SMWB, 16.0)]];
        assert_eq!(server_accept(&cfg(&[]), &refused), None);
    }

    /// The window bits the option matrices sample (`None`: not set); every
    /// combination of the four options on each side is negotiated.
    const SAMPLED_BITS: [Option<u8>; 5] = [None, Some(8), Some(9), Some(12), Some(15)];

    #[test]
    fn our_client_and_server_always_agree_on_what_each_side_can_decode() {
        let configs = configs(&SAMPLED_BITS);
        for client in &configs {
            let offer = client_offer(client);
            for server in &configs {
                let (s, response) = server_accept(server, std::slice::from_ref(&offer)).unwrap();
                let c = client_activate(client, &response)
                    .unwrap_or_else(|| panic!("{client:?} {server:?} {response:?}"));
                assert!(c.outgoing.window_bits <= s.incoming.window_bits);
                assert!(s.outgoing.window_bits <= c.incoming.window_bits);
                assert!(s.incoming.context_takeover || !c.outgoing.context_takeover);
                assert!(c.incoming.context_takeover || !s.outgoing.context_takeover);
                for (limit, bits) in [
                    (client.max_window_bits, c.outgoing.window_bits),
                    (server.max_window_bits, s.outgoing.window_bits),
                    (client.request_max_window_bits, s.outgoing.window_bits),
                    (server.request_max_window_bits, c.outgoing.window_bits),
                ] {
                    assert!(bits <= limit.unwrap_or(15));
                }
                for (asked, takeover) in [
                    (client.no_context_takeover, c.outgoing.context_takeover),
                    (server.no_context_takeover, s.outgoing.context_takeover),
                    (
                        client.request_no_context_takeover,
                        s.outgoing.context_takeover,
                    ),
                    (
                        server.request_no_context_takeover,
                        c.outgoing.context_takeover,
                    ),
                ] {
                    assert!(!(asked && takeover));
                }
            }
        }
    }

    /// Every offer RFC 7692 section 7 allows: each parameter absent or
    /// present, with every window-bits value.
    fn every_valid_offer() -> Vec<Params> {
        let mut offers = Vec::new();
        for snct in [false, true] {
            for cnct in [false, true] {
                for smwb in std::iter::once(None).chain((8..=15).map(Some)) {
                    for cmwb in [None, Some(None)]
                        .into_iter()
                        .chain((8..=15).map(|b| Some(Some(b))))
                    {
                        let mut offer = Params::new();
                        if snct {
                            offer.push(flag(SNCT));
                        }
                        if cnct {
                            offer.push(flag(CNCT));
                        }
                        if let Some(b) = smwb {
                            offer.push(num(SMWB, f64::from(b)));
                        }
                        match cmwb {
                            Some(Some(b)) => offer.push(num(CMWB, f64::from(b))),
                            Some(None) => offer.push(flag(CMWB)),
                            None => {}
                        }
                        offers.push(offer);
                    }
                }
            }
        }
        offers
    }

    fn number(params: &Params, key: &str) -> Option<f64> {
        params.iter().find_map(|(k, v)| match v {
            ParamValue::Number(n) if k == key => Some(*n),
            _ => None,
        })
    }

    fn has(params: &Params, key: &str) -> bool {
        params.iter().any(|(k, _)| k == key)
    }

    #[test]
    fn every_valid_offer_gets_a_response_that_rfc_7692_allows() {
        let offers = every_valid_offer();
        assert_eq!(offers.len(), 2 * 2 * 9 * 10);
        for server in configs(&SAMPLED_BITS) {
            for offer in &offers {
                let (session, response) =
                    server_accept(&server, std::slice::from_ref(offer)).unwrap();
                // 7.1.1.1: an offered server_no_context_takeover is accepted.
                assert!(!has(offer, SNCT) || has(&response, SNCT));
                // 7.1.2.1: an offered server_max_window_bits is answered
                // with the same or a smaller value, and binds us.
                if let Some(offered) = number(offer, SMWB) {
                    let granted = number(&response, SMWB).unwrap();
                    assert!(granted <= offered);
                    assert_eq!(f64::from(session.outgoing.window_bits), granted);
                } else {
                    assert!(!has(&response, SMWB), "Firefox refuses it unasked");
                }
                // 7.1.2.2: client_max_window_bits only when offered, with a
                // value, no larger than the offered one.
                match (has(offer, CMWB), number(&response, CMWB)) {
                    (false, granted) => assert_eq!(granted, None),
                    (true, Some(granted)) => {
                        assert!(granted <= number(offer, CMWB).unwrap_or(15.0));
                        assert_eq!(f64::from(session.incoming.window_bits), granted);
                    }
                    (true, None) => assert_eq!(session.incoming.window_bits, 15),
                }
                // Whatever we announce about context takeover, we do.
                assert_eq!(has(&response, SNCT), !session.outgoing.context_takeover);
                assert_eq!(has(&response, CNCT), !session.incoming.context_takeover);
            }
        }
    }
}
