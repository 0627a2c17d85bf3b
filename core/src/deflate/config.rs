//! The options of `configure(options)`, with the names permessage-deflate
//! 0.1.7 uses, checked once at configure time so that nothing can fail later
//! inside zlib.

use std::fmt;

/// A zlib compression strategy, numbered as Node's `zlib.constants` number them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// `Z_DEFAULT_STRATEGY`: matches and Huffman codes.
    #[default]
    Default = 0,
    /// `Z_FILTERED`: favours Huffman codes over short matches.
    Filtered = 1,
    /// `Z_HUFFMAN_ONLY`: no matches at all.
    HuffmanOnly = 2,
    /// `Z_RLE`: matches at distance one only.
    Rle = 3,
    /// `Z_FIXED`: the fixed Huffman codes only.
    Fixed = 4,
}

impl Strategy {
    /// The strategy Node's zlib numbers `n`.
    pub fn from_number(n: f64) -> Option<Strategy> {
        Some(match n {
            _ if n == 0.0 => Strategy::Default,
            _ if n == 1.0 => Strategy::Filtered,
            _ if n == 2.0 => Strategy::HuffmanOnly,
            _ if n == 3.0 => Strategy::Rle,
            _ if n == 4.0 => Strategy::Fixed,
            _ => return None,
        })
    }
}

/// The configuration of one permessage-deflate extension object.
#[derive(Clone, Debug, PartialEq)]
pub struct DeflateConfig {
    /// -1 (zlib's default, 6) or 0..=9.
    pub level: i32,
    /// 1..=9.
    pub mem_level: i32,
    /// `strategy`: the zlib strategy we compress with.
    pub strategy: Strategy,
    /// `noContextTakeover`: we reset our compressor after every message.
    pub no_context_takeover: bool,
    /// `maxWindowBits`: the largest window we compress with, 8..=15.
    pub max_window_bits: Option<u8>,
    /// `requestNoContextTakeover`: ask the peer to reset its compressor.
    pub request_no_context_takeover: bool,
    /// `requestMaxWindowBits`: the largest window we ask the peer to use, 8..=15.
    pub request_max_window_bits: Option<u8>,
    /// `threshold`: messages shorter than this many bytes are sent
    /// uncompressed. 0 (the default) compresses everything.
    pub threshold: usize,
    /// `liveStates`: how many sessions of a thread may keep their zlib
    /// states between messages; beyond it the least recently used rest.
    pub live_states: usize,
    /// `restAfter`: milliseconds after its last message at which a session
    /// rests whatever the budget; 0 never.
    pub rest_after: u64,
    /// `restHistory`: how many bytes of what it sent a resting compressor
    /// keeps, and primes its next state with (at most its window).
    pub rest_history: usize,
}

/// The default `liveStates`: see the README's memory figures.
pub const DEFAULT_LIVE_STATES: usize = 64;

/// The default `restAfter`, in milliseconds: see the README.
pub const DEFAULT_REST_AFTER: u64 = 30_000;

/// The default `restHistory`, in bytes: priming hashes every byte, and a
/// few KiB keep most of what context takeover gains across a rest
/// (bench/HISTORY.md, "How much history to prime").
pub const DEFAULT_REST_HISTORY: usize = 8 * 1024;

/// The largest `restHistory`: DEFLATE's largest window.
pub const MAX_REST_HISTORY: i32 = 32 * 1024;

impl Default for DeflateConfig {
    /// Node's zlib defaults: `Z_DEFAULT_COMPRESSION`, `Z_DEFAULT_MEMLEVEL`, `Z_DEFAULT_STRATEGY`.
    fn default() -> Self {
        DeflateConfig {
            level: -1,
            mem_level: 8,
            strategy: Strategy::Default,
            no_context_takeover: false,
            max_window_bits: None,
            request_no_context_takeover: false,
            request_max_window_bits: None,
            threshold: 0,
            live_states: DEFAULT_LIVE_STATES,
            rest_after: DEFAULT_REST_AFTER,
            rest_history: DEFAULT_REST_HISTORY,
        }
    }
}

/// One option value as JavaScript gave it, converted by the binding.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    /// The key is present with the value `undefined`: the option keeps its default.
    Undefined,
    /// A boolean.
    Bool(bool),
    /// A number, infinities and NaN included.
    Number(f64),
    /// Anything else, named by its type (`"string"`, `"object"`, `"null"`, ...).
    Other(String),
}

impl fmt::Display for OptionValue {
    /// The value as JavaScript would print it, or its type.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Undefined => f.write_str("undefined"),
            OptionValue::Bool(b) => write!(f, "{b}"),
            OptionValue::Number(n) if n.is_infinite() => {
                f.write_str(if *n > 0.0 { "Infinity" } else { "-Infinity" })
            }
            OptionValue::Number(n) => write!(f, "{n}"),
            OptionValue::Other(type_name) => write!(f, "a value of type {type_name}"),
        }
    }
}

/// Why `configure(options)` refused its options.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigError {
    /// A key that is not one of the options.
    Unrecognized(String),
    /// An option whose value is out of its range or of the wrong type.
    InvalidValue {
        /// The option's name.
        option: &'static str,
        /// The value given.
        value: OptionValue,
        /// What the option takes, as the error message words it.
        expected: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unrecognized(key) => write!(f, "Unrecognized option: {key}"),
            ConfigError::InvalidValue {
                option,
                value,
                expected,
            } => write!(
                f,
                "Invalid value for option {option}: {value} (expected {expected})"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The keys permessage-deflate 0.1.7 accepts, and this package's own
/// (`threshold`, `liveStates`, `restAfter`, `restHistory`). `zlib` there replaces Node's zlib module;
/// here it is accepted for compatibility and ignored, since the compression
/// runs natively.
pub const VALID_OPTIONS: [&str; 12] = [
    "level",
    "memLevel",
    "strategy",
    "noContextTakeover",
    "maxWindowBits",
    "requestNoContextTakeover",
    "requestMaxWindowBits",
    "zlib",
    "threshold",
    "liveStates",
    "restAfter",
    "restHistory",
];

impl DeflateConfig {
    /// `self` with `options` applied on top, as `configure(options)` does.
    ///
    /// Every key is checked before any value, so an unknown key is reported
    /// even when another value is also wrong (the original's order).
    /// `Undefined` leaves an option as it was.
    pub fn with_options(&self, options: &[(String, OptionValue)]) -> Result<Self, ConfigError> {
        if let Some((key, _)) = options
            .iter()
            .find(|(key, _)| !VALID_OPTIONS.contains(&key.as_str()))
        {
            return Err(ConfigError::Unrecognized(key.clone()));
        }
        let mut config = self.clone();
        for (key, value) in options {
            if *value == OptionValue::Undefined {
                continue;
            }
            match key.as_str() {
                "level" => {
                    config.level = integer(value, "level", -1, 9, "an integer from -1 to 9")?
                }
                "memLevel" => {
                    config.mem_level = integer(value, "memLevel", 1, 9, "an integer from 1 to 9")?
                }
                "strategy" => {
                    config.strategy = match value {
                        OptionValue::Number(n) => Strategy::from_number(*n),
                        _ => None,
                    }
                    .ok_or_else(|| invalid("strategy", value, "one of 0, 1, 2, 3, 4"))?
                }
                "noContextTakeover" => {
                    config.no_context_takeover = boolean(value, "noContextTakeover")?
                }
                "maxWindowBits" => {
                    config.max_window_bits = Some(window_bits(value, "maxWindowBits")?)
                }
                "requestNoContextTakeover" => {
                    config.request_no_context_takeover = boolean(value, "requestNoContextTakeover")?
                }
                "requestMaxWindowBits" => {
                    config.request_max_window_bits =
                        Some(window_bits(value, "requestMaxWindowBits")?)
                }
                "threshold" => config.threshold = count(value, "threshold")?,
                "liveStates" => config.live_states = count(value, "liveStates")?,
                "restAfter" => config.rest_after = count(value, "restAfter")? as u64,
                "restHistory" => {
                    config.rest_history = integer(
                        value,
                        "restHistory",
                        0,
                        MAX_REST_HISTORY,
                        "an integer from 0 to 32768",
                    )? as usize
                }
                _ => {} // "zlib"
            }
        }
        Ok(config)
    }
}

fn invalid(option: &'static str, value: &OptionValue, expected: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        option,
        value: value.clone(),
        expected,
    }
}

fn boolean(value: &OptionValue, option: &'static str) -> Result<bool, ConfigError> {
    match value {
        OptionValue::Bool(b) => Ok(*b),
        _ => Err(invalid(option, value, "a boolean")),
    }
}

fn integer(
    value: &OptionValue,
    option: &'static str,
    min: i32,
    max: i32,
    expected: &'static str,
) -> Result<i32, ConfigError> {
    match value {
        OptionValue::Number(n) if n.fract() == 0.0 && (min as f64..=max as f64).contains(n) => {
            Ok(*n as i32)
        }
        _ => Err(invalid(option, value, expected)),
    }
}

/// A whole number from 0 to 2^32 - 1.
fn count(value: &OptionValue, option: &'static str) -> Result<usize, ConfigError> {
    match value {
        OptionValue::Number(n) if n.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(n) => {
            Ok(*n as usize)
        }
        _ => Err(invalid(option, value, "an integer from 0 to 4294967295")),
    }
}

fn window_bits(value: &OptionValue, option: &'static str) -> Result<u8, ConfigError> {
    match value {
        OptionValue::Number(n) if n.fract() == 0.0 && (8.0..=15.0).contains(n) => Ok(*n as u8),
        _ => Err(invalid(option, value, "an integer from 8 to 15")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[(&str, OptionValue)]) -> Vec<(String, OptionValue)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn configure(list: &[(&str, OptionValue)]) -> Result<DeflateConfig, String> {
        DeflateConfig::default()
            .with_options(&opts(list))
            .map_err(|e| e.to_string())
    }

    use OptionValue::{Bool, Number, Other, Undefined};

    #[test]
    fn defaults_are_nodes_zlib_defaults() {
        let c = configure(&[]).unwrap();
        assert_eq!(c, DeflateConfig::default());
        assert_eq!(
            (c.level, c.mem_level, c.strategy),
            (-1, 8, Strategy::Default)
        );
        assert_eq!((c.max_window_bits, c.request_max_window_bits), (None, None));
    }

    #[test]
    fn every_option_is_applied() {
        let c = configure(&[
            ("level", Number(9.0)),
            ("memLevel", Number(1.0)),
            ("strategy", Number(3.0)),
            ("noContextTakeover", Bool(true)),
            ("maxWindowBits", Number(8.0)),
            ("requestNoContextTakeover", Bool(true)),
            ("requestMaxWindowBits", Number(15.0)),
            ("threshold", Number(128.0)),
            ("liveStates", Number(0.0)),
            ("restAfter", Number(250.0)),
            ("restHistory", Number(2048.0)),
        ])
        .unwrap();
        assert_eq!(
            c,
            DeflateConfig {
                level: 9,
                mem_level: 1,
                strategy: Strategy::Rle,
                no_context_takeover: true,
                max_window_bits: Some(8),
                request_no_context_takeover: true,
                request_max_window_bits: Some(15),
                threshold: 128,
                live_states: 0,
                rest_after: 250,
                rest_history: 2048,
            }
        );
    }

    #[test]
    fn valid_values_are_accepted() {
        for n in -1..=9 {
            assert_eq!(configure(&[("level", Number(n as f64))]).unwrap().level, n);
        }
        for n in 1..=9 {
            assert_eq!(
                configure(&[("memLevel", Number(n as f64))])
                    .unwrap()
                    .mem_level,
                n
            );
        }
        for (n, s) in [
            (0.0, Strategy::Default),
            (1.0, Strategy::Filtered),
            (2.0, Strategy::HuffmanOnly),
            (3.0, Strategy::Rle),
            (4.0, Strategy::Fixed),
        ] {
            assert_eq!(configure(&[("strategy", Number(n))]).unwrap().strategy, s);
        }
        for n in [0, 1, 8192, 32768] {
            assert_eq!(
                configure(&[("restHistory", Number(n as f64))])
                    .unwrap()
                    .rest_history,
                n
            );
        }
        for n in 8..=15u8 {
            let c = configure(&[
                ("maxWindowBits", Number(n as f64)),
                ("requestMaxWindowBits", Number(n as f64)),
            ])
            .unwrap();
            assert_eq!(
                (c.max_window_bits, c.request_max_window_bits),
                (Some(n), Some(n))
            );
        }
    }

    #[test]
    fn invalid_values_name_the_option() {
        let table: Vec<(&str, OptionValue, &str)> = vec![
            ("maxWindowBits", Number(7.0), "Invalid value for option maxWindowBits: 7 (expected an integer from 8 to 15)"),
            ("maxWindowBits", Number(16.0), "Invalid value for option maxWindowBits: 16 (expected an integer from 8 to 15)"),
            ("maxWindowBits", Number(8.5), "Invalid value for option maxWindowBits: 8.5 (expected an integer from 8 to 15)"),
            ("maxWindowBits", Bool(true), "Invalid value for option maxWindowBits: true (expected an integer from 8 to 15)"),
            ("requestMaxWindowBits", Other("string".into()), "Invalid value for option requestMaxWindowBits: a value of type string (expected an integer from 8 to 15)"),
            ("requestMaxWindowBits", Number(f64::NAN), "Invalid value for option requestMaxWindowBits: NaN (expected an integer from 8 to 15)"),
            ("level", Number(10.0), "Invalid value for option level: 10 (expected an integer from -1 to 9)"),
            ("level", Number(-2.0), "Invalid value for option level: -2 (expected an integer from -1 to 9)"),
            ("level", Number(f64::INFINITY), "Invalid value for option level: Infinity (expected an integer from -1 to 9)"),
            ("memLevel", Number(0.0), "Invalid value for option memLevel: 0 (expected an integer from 1 to 9)"),
            ("memLevel", Number(10.0), "Invalid value for option memLevel: 10 (expected an integer from 1 to 9)"),
            ("strategy", Number(5.0), "Invalid value for option strategy: 5 (expected one of 0, 1, 2, 3, 4)"),
            ("strategy", Number(-1.0), "Invalid value for option strategy: -1 (expected one of 0, 1, 2, 3, 4)"),
            ("strategy", Other("null".into()), "Invalid value for option strategy: a value of type null (expected one of 0, 1, 2, 3, 4)"),
            ("noContextTakeover", Number(1.0), "Invalid value for option noContextTakeover: 1 (expected a boolean)"),
            ("requestNoContextTakeover", Other("string".into()), "Invalid value for option requestNoContextTakeover: a value of type string (expected a boolean)"),
            ("threshold", Number(-1.0), "Invalid value for option threshold: -1 (expected an integer from 0 to 4294967295)"),
            ("threshold", Number(1.5), "Invalid value for option threshold: 1.5 (expected an integer from 0 to 4294967295)"),
            ("liveStates", Bool(true), "Invalid value for option liveStates: true (expected an integer from 0 to 4294967295)"),
            ("liveStates", Number(f64::INFINITY), "Invalid value for option liveStates: Infinity (expected an integer from 0 to 4294967295)"),
            ("restAfter", Number(-1.0), "Invalid value for option restAfter: -1 (expected an integer from 0 to 4294967295)"),
            ("restAfter", Other("string".into()), "Invalid value for option restAfter: a value of type string (expected an integer from 0 to 4294967295)"),
            ("restHistory", Number(32769.0), "Invalid value for option restHistory: 32769 (expected an integer from 0 to 32768)"),
            ("restHistory", Number(-1.0), "Invalid value for option restHistory: -1 (expected an integer from 0 to 32768)"),
            ("restHistory", Number(0.5), "Invalid value for option restHistory: 0.5 (expected an integer from 0 to 32768)"),
        ];
        for (key, value, message) in table {
            assert_eq!(
                configure(&[(key, value)]),
                Err(message.to_string()),
                "{key}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused_before_values_are_checked() {
        assert_eq!(
            configure(&[("level", Number(99.0)), ("windowBits", Number(9.0))]),
            Err("Unrecognized option: windowBits".to_string())
        );
        assert_eq!(
            configure(&[("MaxWindowBits", Number(9.0))]),
            Err("Unrecognized option: MaxWindowBits".to_string())
        );
    }

    #[test]
    fn zlib_is_accepted_and_ignored() {
        assert_eq!(
            configure(&[("zlib", Other("object".into()))]),
            Ok(DeflateConfig::default())
        );
    }

    #[test]
    fn undefined_keeps_the_previous_value() {
        let base = configure(&[("level", Number(3.0)), ("maxWindowBits", Number(10.0))]).unwrap();
        let c = base
            .with_options(&opts(&[("level", Undefined), ("maxWindowBits", Undefined)]))
            .unwrap();
        assert_eq!(c, base);
    }

    #[test]
    fn later_options_override_earlier_configuration() {
        let base = configure(&[("level", Number(1.0)), ("memLevel", Number(2.0))]).unwrap();
        let c = base.with_options(&opts(&[("level", Number(9.0))])).unwrap();
        assert_eq!((c.level, c.mem_level), (9, 2));
        assert_eq!(base.level, 1, "the receiver is untouched");
    }
}
