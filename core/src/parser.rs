//! The `Sec-WebSocket-Extensions` header grammar (RFC 6455 section 9.1, with
//! RFC 7230 quoted strings), parsed in one pass over the bytes.
//!
//! ```text
//! header = ext *( COM ext )
//! ext    = token *( SEM param )
//! param  = token [ EQL ( token / quoted ) ]
//! ```
//!
//! `SEM`, `COM` and `EQL` allow linear white space on both sides. Every byte
//! is looked at a bounded number of times, so time is linear in the length of
//! the header whatever its shape (the original's regular expressions were not:
//! CVE-2020-7662).

use std::collections::HashMap;
use std::fmt::Write;

/// One extension parameter value as the header grammar gives it.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    /// A key with no value (`true` in JavaScript).
    Flag,
    /// A value that matches `^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`.
    Number(f64),
    /// Any other value: a token or a quoted string, unquoted.
    Text(String),
}

/// The parameters of one offer or response, in header order; a key given
/// twice appears twice.
pub type Params = Vec<(String, ParamValue)>;

/// One `name; key=value; ...` element of the header.
#[derive(Clone, Debug, PartialEq)]
pub struct Offer {
    /// The extension's name, a token.
    pub name: String,
    /// Its parameters, in header order.
    pub params: Params,
}

/// The header does not match the grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidHeader;

const fn token_table() -> [bool; 256] {
    let mut table = [false; 256];
    let extra = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    let mut c = b'0';
    while c <= b'9' {
        table[c as usize] = true;
        c += 1;
    }
    c = b'A';
    while c <= b'Z' {
        table[c as usize] = true;
        table[(c + 32) as usize] = true;
        c += 1;
    }
    table
}

static TOKEN: [bool; 256] = token_table();

/// Whether `b` may appear in a token.
fn is_token_byte(b: u8) -> bool {
    TOKEN[b as usize]
}

/// Whether `s` is a non-empty token.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Whether `b` may appear unescaped inside a quoted string: anything but
/// `"`, `\` and the controls other than tab. Bytes of non-ASCII characters
/// are allowed.
fn is_qdtext(b: u8) -> bool {
    !matches!(b, 0x00..=0x08 | 0x0a..=0x1f | 0x7f | b'"' | b'\\')
}

/// Applies the number rule `^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`.
fn number_value(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse().ok()
}

fn value_of(text: String) -> ParamValue {
    match number_value(&text) {
        Some(n) => ParamValue::Number(n),
        None => ParamValue::Text(text),
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skips linear white space: spaces and tabs, and `\r\n` followed by at
    /// least one space or tab. A `\r` not starting such a fold is left alone
    /// (and then fails the parse wherever it stands).
    fn skip_lws(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.pos += 1,
                Some(b'\r')
                    if self.bytes.get(self.pos + 1) == Some(&b'\n')
                        && matches!(self.bytes.get(self.pos + 2), Some(b' ' | b'\t')) =>
                {
                    self.pos += 3
                }
                _ => return,
            }
        }
    }

    /// Consumes `LWS sep LWS` when `sep` is next after optional white space.
    /// Leaves the cursor where it was otherwise.
    fn separator(&mut self, sep: u8) -> bool {
        let start = self.pos;
        self.skip_lws();
        if self.peek() == Some(sep) {
            self.pos += 1;
            self.skip_lws();
            true
        } else {
            self.pos = start;
            false
        }
    }

    fn token(&mut self) -> Result<&str, InvalidHeader> {
        let start = self.pos;
        while self.peek().is_some_and(is_token_byte) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(InvalidHeader);
        }
        // Token bytes are ASCII, so this slice is valid UTF-8.
        std::str::from_utf8(&self.bytes[start..self.pos]).map_err(|_| InvalidHeader)
    }

    /// Reads a quoted string (the cursor is on its opening quote) and returns
    /// its unescaped text.
    fn quoted(&mut self) -> Result<String, InvalidHeader> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out).map_err(|_| InvalidHeader);
                }
                Some(b'\\') => match self.bytes.get(self.pos + 1) {
                    Some(&c) if c.is_ascii() => {
                        out.push(c);
                        self.pos += 2;
                    }
                    _ => return Err(InvalidHeader),
                },
                Some(c) if is_qdtext(c) => {
                    out.push(c);
                    self.pos += 1;
                }
                _ => return Err(InvalidHeader),
            }
        }
    }

    fn param(&mut self) -> Result<(String, ParamValue), InvalidHeader> {
        let key = self.token()?.to_owned();
        if !self.separator(b'=') {
            return Ok((key, ParamValue::Flag));
        }
        let value = if self.peek() == Some(b'"') {
            self.quoted()?
        } else {
            self.token()?.to_owned()
        };
        Ok((key, value_of(value)))
    }
}

/// Parses a header into its offers, in header order. The empty header has
/// none.
pub fn parse_header(header: &str) -> Result<Vec<Offer>, InvalidHeader> {
    let mut offers = Vec::new();
    if header.is_empty() {
        return Ok(offers);
    }
    let mut cur = Cursor {
        bytes: header.as_bytes(),
        pos: 0,
    };
    loop {
        let name = cur.token()?.to_owned();
        let mut params = Params::new();
        while cur.separator(b';') {
            params.push(cur.param()?);
        }
        offers.push(Offer { name, params });
        if cur.pos == cur.bytes.len() {
            return Ok(offers);
        }
        if !cur.separator(b',') {
            return Err(InvalidHeader);
        }
    }
}

/// A parameter value as `serializeParams` sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum SerialValue {
    /// JavaScript `true`: the key alone.
    Flag,
    /// Printed after `key=` exactly as given (numbers, and values that are
    /// neither strings nor `true`, already converted with `String(value)`).
    Raw(String),
    /// A string: bare when it is a token, quoted otherwise.
    Text(String),
}

/// Joins `name` and each parameter with `"; "`.
pub fn serialize_params<'a, I>(name: &str, params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a SerialValue)>,
{
    let mut out = String::from(name);
    for (key, value) in params {
        out.push_str("; ");
        out.push_str(key);
        match value {
            SerialValue::Flag => {}
            SerialValue::Raw(text) => {
                out.push('=');
                out.push_str(text);
            }
            SerialValue::Text(text) if is_token(text) => {
                out.push('=');
                out.push_str(text);
            }
            SerialValue::Text(text) => {
                out.push_str("=\"");
                for c in text.chars() {
                    // Quotes and backslashes must be escaped; so must the
                    // controls a quoted string cannot hold, or the header
                    // would not parse (found by fuzzing).
                    if matches!(c, '"' | '\\' | '\u{0}'..='\u{8}' | '\n'..='\u{1f}' | '\u{7f}') {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    out
}

impl From<&ParamValue> for SerialValue {
    /// A parsed value as it is written back: a flag alone, a number as
    /// Rust's `Display` prints it, text bare or quoted.
    fn from(value: &ParamValue) -> SerialValue {
        match value {
            ParamValue::Flag => SerialValue::Flag,
            ParamValue::Number(n) => SerialValue::Raw(n.to_string()),
            ParamValue::Text(t) => SerialValue::Text(t.clone()),
        }
    }
}

/// Writes parsed (or negotiated) params back as a header element under
/// `name`, as [`serialize_params`] does.
pub fn serialize_parsed(name: &str, params: &Params) -> String {
    let values: Vec<(&str, SerialValue)> = params
        .iter()
        .map(|(key, value)| (key.as_str(), SerialValue::from(value)))
        .collect();
    serialize_params(name, values.iter().map(|(key, value)| (*key, value)))
}

/// Writes the offers as JSON: `[{"name": ..., "params": {...}}, ...]`, each
/// key once, a repeated key's values in an array. `JSON.parse` then builds
/// objects whose keys are all own enumerable data properties, `__proto__`
/// included, which plain assignment in JavaScript would not give.
pub fn offers_to_json(offers: &[Offer]) -> String {
    let mut out = String::with_capacity(64 * offers.len() + 2);
    out.push('[');
    for (i, offer) in offers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json_string(&mut out, &offer.name);
        out.push_str(",\"params\":");
        params_to_json(&mut out, &offer.params);
        out.push('}');
    }
    out.push(']');
    out
}

/// Writes one params object as JSON (see [`offers_to_json`]). Linear in the
/// number of params: values are grouped by key through a hash map.
pub fn params_to_json(out: &mut String, params: &Params) {
    let mut order: Vec<&str> = Vec::new();
    let mut groups: HashMap<&str, Vec<&ParamValue>> = HashMap::new();
    for (key, value) in params {
        groups
            .entry(key.as_str())
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push(value);
    }
    out.push('{');
    for (i, key) in order.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, key);
        out.push(':');
        match groups[key].as_slice() {
            [single] => json_value(out, single),
            values => {
                out.push('[');
                for (j, v) in values.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    json_value(out, v);
                }
                out.push(']');
            }
        }
    }
    out.push('}');
}

fn json_value(out: &mut String, value: &ParamValue) {
    match value {
        ParamValue::Flag => out.push_str("true"),
        // Rust prints finite doubles in plain decimal, which JSON accepts and
        // reads back as the same double.
        ParamValue::Number(n) => {
            let _ = write!(out, "{n}");
        }
        ParamValue::Text(s) => json_string(out, s),
    }
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(k: &str) -> (String, ParamValue) {
        (k.into(), ParamValue::Flag)
    }
    fn num(k: &str, n: f64) -> (String, ParamValue) {
        (k.into(), ParamValue::Number(n))
    }
    fn text(k: &str, v: &str) -> (String, ParamValue) {
        (k.into(), ParamValue::Text(v.into()))
    }
    fn offer(name: &str, params: Params) -> Offer {
        Offer {
            name: name.into(),
            params,
        }
    }

    #[test]
    fn valid_headers() {
        let table: Vec<(&str, Vec<Offer>)> = vec![
            ("", vec![]),
            ("a", vec![offer("a", vec![])]),
            ("a, b", vec![offer("a", vec![]), offer("b", vec![])]),
            ("a,b", vec![offer("a", vec![]), offer("b", vec![])]),
            ("a; b", vec![offer("a", vec![flag("b")])]),
            ("a;b=1", vec![offer("a", vec![num("b", 1.0)])]),
            ("a ; b = c", vec![offer("a", vec![text("b", "c")])]),
            ("a\t;\tb", vec![offer("a", vec![flag("b")])]),
            ("a\r\n ; b", vec![offer("a", vec![flag("b")])]),
            ("a;\r\n\t\r\n b", vec![offer("a", vec![flag("b")])]),
            ("a \r\n ,b", vec![offer("a", vec![]), offer("b", vec![])]),
            ("a; b=\"1\"", vec![offer("a", vec![num("b", 1.0)])]),
            (
                "a; b=\"x, y; z\"",
                vec![offer("a", vec![text("b", "x, y; z")])],
            ),
            ("a; b=\"q\\\"\"", vec![offer("a", vec![text("b", "q\"")])]),
            ("a; b=\"\\\\\"", vec![offer("a", vec![text("b", "\\")])]),
            ("a; b=\"\\x\"", vec![offer("a", vec![text("b", "x")])]),
            ("a; b=\"\"", vec![offer("a", vec![text("b", "")])]),
            (
                "a; b=\"\t\u{e9}\"",
                vec![offer("a", vec![text("b", "\t\u{e9}")])],
            ),
            ("a; b=-1.5", vec![offer("a", vec![num("b", -1.5)])]),
            ("a; b=0", vec![offer("a", vec![num("b", 0.0)])]),
            ("a; b=01", vec![offer("a", vec![text("b", "01")])]),
            ("a; b=1e3", vec![offer("a", vec![text("b", "1e3")])]),
            ("a; b=.5", vec![offer("a", vec![text("b", ".5")])]),
            ("a; b=1.", vec![offer("a", vec![text("b", "1.")])]),
            ("a; b=-", vec![offer("a", vec![text("b", "-")])]),
            (
                "a; b; b=\"hi\"",
                vec![offer("a", vec![flag("b"), text("b", "hi")])],
            ),
            (
                "Deflate; Max_Bits=10, x",
                vec![
                    offer("Deflate", vec![num("Max_Bits", 10.0)]),
                    offer("x", vec![]),
                ],
            ),
        ];
        for (header, expected) in table {
            assert_eq!(parse_header(header), Ok(expected), "header {header:?}");
        }
    }

    #[test]
    fn invalid_headers() {
        let table = [
            " a",
            "a ",
            "a,",
            ",a",
            "a,,b",
            "a;",
            "a; ",
            "a;;b",
            "a; b=",
            "a; =b",
            "a b",
            "a; b c",
            "a; b=\"",
            "a; b=\"x",
            "a; b=\"x\\\"",
            "a; b=\"\\\u{e9}\"",
            "a; b=\"\n\"",
            "a; b=\"\x7f\"",
            "a; b=c d",
            "a\r\n",
            "a\r\n;b",
            "a\n ;b",
            "a;\rb",
            "\u{e9}",
            "a; b=@",
            "a; b=\"c\"d",
            "a=b",
            "a, ",
        ];
        for header in table {
            assert_eq!(
                parse_header(header),
                Err(InvalidHeader),
                "header {header:?}"
            );
        }
    }

    #[test]
    fn number_rule() {
        for (s, n) in [("1", Some(1.0)), ("-0", Some(-0.0)), ("10.25", Some(10.25))] {
            assert_eq!(number_value(s), n);
        }
        for s in ["", "-", "00", "1.", ".1", "1e5", "+1", "1.2.3", "0x1"] {
            assert_eq!(number_value(s), None, "{s:?}");
        }
    }

    #[test]
    fn serializes_each_value_kind() {
        let params = [
            ("a", SerialValue::Flag),
            ("b", SerialValue::Raw("15".into())),
            ("c", SerialValue::Text("tok".into())),
            ("d", SerialValue::Text("has space".into())),
            ("e", SerialValue::Text("q\"b\\".into())),
            ("f", SerialValue::Text(String::new())),
            ("g", SerialValue::Raw("false".into())),
            ("h", SerialValue::Text("tab\there\u{1}".into())),
        ];
        let out = serialize_params("x", params.iter().map(|(k, v)| (*k, v)));
        assert_eq!(
            out,
            "x; a; b=15; c=tok; d=\"has space\"; e=\"q\\\"b\\\\\"; f=\"\"; g=false; h=\"tab\there\\\u{1}\""
        );
    }

    #[test]
    fn parsed_params_serialize_back_to_the_same_params() {
        let offers =
            parse_header("permessage-deflate; a; b=15; c=1.5; d=tok; e=\"has space\"").unwrap();
        let line = serialize_parsed(&offers[0].name, &offers[0].params);
        assert_eq!(
            line,
            "permessage-deflate; a; b=15; c=1.5; d=tok; e=\"has space\""
        );
        assert_eq!(parse_header(&line).unwrap(), offers);
    }

    #[test]
    fn escaped_controls_survive_a_round_trip() {
        // Found by fuzzing: `\\` may quote a control character, which the
        // serializer must then escape again.
        let offers = parse_header("a; b=\"x\\\u{1}y\"").unwrap();
        assert_eq!(offers[0].params, vec![text("b", "x\u{1}y")]);
        let line = serialize_params("a", [("b", &SerialValue::Text("x\u{1}y".into()))]);
        assert_eq!(parse_header(&line).unwrap(), offers);
    }

    #[test]
    fn json_groups_repeated_keys_and_escapes() {
        let offers = parse_header("a; b; c=\"x\\\"y\"; b=\"hi\"; __proto__=1").unwrap();
        assert_eq!(
            offers_to_json(&offers),
            r#"[{"name":"a","params":{"b":[true,"hi"],"c":"x\"y","__proto__":1}}]"#
        );
    }

    #[test]
    fn hostile_shapes_parse_in_one_pass() {
        let n = 200_000;
        let long = format!("a{}", "; b".repeat(n));
        assert_eq!(parse_header(&long).unwrap()[0].params.len(), n);
        assert!(offers_to_json(&parse_header(&long).unwrap()).ends_with("true]}}]"));
        let unterminated = format!("a; b=\"{}", "\\\"".repeat(n));
        assert_eq!(parse_header(&unterminated), Err(InvalidHeader));
        let spaces = format!("a{}", " \r\n".repeat(n));
        assert_eq!(parse_header(&spaces), Err(InvalidHeader));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn token() -> impl Strategy<Value = String> {
            "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}"
        }

        fn value() -> impl Strategy<Value = SerialValue> {
            prop_oneof![
                Just(SerialValue::Flag),
                (0u32..100_000).prop_map(|n| SerialValue::Raw(n.to_string())),
                token().prop_map(SerialValue::Text),
                // Any printable ASCII, tab and non-ASCII text, quotes and
                // backslashes included: quoted and escaped on the way out.
                "[ -~\t\u{1}\u{1f}\u{7f}\u{e9}\u{4e2d}]{0,16}".prop_map(SerialValue::Text),
            ]
        }

        fn expected(v: &SerialValue) -> ParamValue {
            match v {
                SerialValue::Flag => ParamValue::Flag,
                SerialValue::Raw(t) | SerialValue::Text(t) => match number_value(t) {
                    Some(n) => ParamValue::Number(n),
                    None => ParamValue::Text(t.clone()),
                },
            }
        }

        proptest! {
            #[test]
            fn serialize_then_parse_gives_the_offers_back(
                offers in prop::collection::vec(
                    (token(), prop::collection::vec((token(), value()), 0..6)),
                    1..5,
                )
            ) {
                let header = offers
                    .iter()
                    .map(|(name, params)| {
                        serialize_params(name, params.iter().map(|(k, v)| (k.as_str(), v)))
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let parsed = parse_header(&header).expect("our own output parses");
                prop_assert_eq!(parsed.len(), offers.len());
                for (got, (name, params)) in parsed.iter().zip(&offers) {
                    prop_assert_eq!(&got.name, name);
                    let want: Params = params.iter().map(|(k, v)| (k.clone(), expected(v))).collect();
                    prop_assert_eq!(&got.params, &want);
                }
            }

            #[test]
            fn arbitrary_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
                let text = String::from_utf8_lossy(&bytes);
                if let Ok(offers) = parse_header(&text) {
                    let _ = offers_to_json(&offers);
                }
            }

            #[test]
            fn arbitrary_grammar_pieces_never_panic(
                pieces in prop::collection::vec(
                    prop::sample::select(vec!["a", "b", ";", ",", "=", "\"", "\\", " ", "\t", "\r\n", "\r", "1", "-", ".", "\u{e9}"]),
                    0..64,
                )
            ) {
                let text: String = pieces.concat();
                if let Ok(offers) = parse_header(&text) {
                    let json = offers_to_json(&offers);
                    prop_assert!(json.starts_with('['));
                }
            }
        }

        /// Each shape is parsed at 2,000 and 200,000 units. A parser that
        /// backtracked or rescanned would take minutes on the larger one; this
        /// finishes in milliseconds. (No clock is read: CI's time limit is the
        /// judge.)
        #[test]
        fn hostile_shapes_stay_linear() {
            for n in [2_000, 200_000] {
                let shapes = [
                    format!("a{}", "; b".repeat(n)),
                    format!("a; b=\"{}", "x".repeat(n)),
                    format!("a; b=\"{}", "\\\"".repeat(n)),
                    format!("a{}", " \t".repeat(n)),
                    format!("a{}b", "\r\n ".repeat(n)),
                    format!("a{}", ", a".repeat(n)),
                    format!("a{}", ",".repeat(n)),
                    format!("a{}", ";".repeat(n)),
                    format!("a{}=", "; b=c".repeat(n)),
                ];
                for shape in &shapes {
                    if let Ok(offers) = parse_header(shape) {
                        let _ = offers_to_json(&offers);
                    }
                }
            }
        }
    }
}
