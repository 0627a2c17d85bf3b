//! Native permessage-deflate (RFC 7692): options (`config`), negotiation
//! (`negotiate`), the per-direction codec (`codec`) and one session with a
//! codec lane per direction (`session`), free of napi.

pub mod codec;
pub mod config;
mod distance;
pub mod negotiate;
#[cfg(test)]
mod puff;
#[cfg(test)]
mod rules_tests;
pub mod session;
pub mod sessions;
pub mod shared;

pub use codec::{CodecStats, CompressError, Compressor, Decompressor, InflateError};
pub use config::{ConfigError, DeflateConfig, OptionValue, Strategy};
pub use negotiate::{
    client_activate, client_offer, server_accept, server_choose, Accepted, DirectionParams,
    SessionParams,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::configs;

    /// Text whose repeats lie 200 and 600 bytes back.
    fn message(seed: u8) -> Vec<u8> {
        let block: Vec<u8> = (0..600u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 ^ seed)
            .collect();
        [&block[..200], &block[..200], &block[..], &block[..]].concat()
    }

    /// Sends two messages from `from` to `to` and checks that the receiver
    /// decodes them and that no match reaches beyond the window it declared.
    fn exchange(from: &SessionParams, to: &SessionParams) {
        let mut compressor = Compressor::new(from);
        let mut decompressor = Decompressor::new(to);
        let mut history = Vec::new();
        for seed in [1, 2] {
            let input = message(seed);
            let compressed = compressor.compress(&input).unwrap();
            if !to.incoming.context_takeover {
                history.clear();
            }
            let farthest = puff::farthest_match(&compressed, &mut history).unwrap();
            assert!(farthest <= 1 << to.incoming.window_bits, "{from:?} {to:?}");
            assert_eq!(decompressor.decompress(&compressed, None).unwrap(), input);
        }
    }

    #[test]
    fn negotiated_sessions_exchange_messages_the_receiver_can_decode() {
        let configs = configs(&[None, Some(8), Some(9), Some(11), Some(15)]);
        for (i, client) in configs.iter().enumerate() {
            for (j, server) in configs.iter().enumerate() {
                if (i + j) % 4 != 0 {
                    continue;
                }
                let offer = client_offer(client);
                let (s, response) = server_accept(server, &[offer]).unwrap();
                let c = client_activate(client, &response).unwrap();
                exchange(&c, &s);
                exchange(&s, &c);
            }
        }
    }
}
