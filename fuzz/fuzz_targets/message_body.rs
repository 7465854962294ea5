//! Message bodies: cleaning and length checks, and linkifying. Links are only ever
//! http(s) URLs without spaces, quotes, angle brackets or invisible characters, and the
//! segments put together give back the text.
#![no_main]

use conversations_plugin::rules::{linkify, validate_body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    if let Ok(body) = validate_body(text, 1000) {
        assert!(!body.is_empty() && body.chars().count() <= 1000);
        assert!(!body.chars().any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')));
    }
    let segments = linkify(text);
    let joined: String = segments.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(joined, text, "linkify keeps every character");
    for segment in &segments {
        if let Some(href) = &segment.href {
            assert_eq!(href, &segment.text);
            let lower = href.to_ascii_lowercase();
            assert!(lower.starts_with("https://") || lower.starts_with("http://"), "{href:?}");
            assert!(
                !href.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"".contains(c)),
                "{href:?}"
            );
            assert!(href.len() > "http://".len());
        }
    }
});
