//! Any bytes, as a header: the parser must return offers or an error, never
//! panic, and whatever it accepts must serialize and parse back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use websocket_extensions_core::parser::{offers_to_json, parse_header, serialize_parsed};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(offers) = parse_header(&text) else {
        return;
    };
    let _ = offers_to_json(&offers);
    for offer in &offers {
        let line = serialize_parsed(&offer.name, &offer.params);
        let again = parse_header(&line).expect("serialized offers parse");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].name, offer.name);
        assert_eq!(again[0].params.len(), offer.params.len());
    }
});
