//! The manifest parser and validator: any text gives a manifest or an error that names the
//! file, never a panic; an error's line and column point inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let path = Path::new("fuzz/manifest.toml");
    match host::plugins::manifest::parse(path, text) {
        Ok(manifest) => {
            let _ = host::plugins::manifest::default_settings(&manifest.raw);
        }
        Err(err) => {
            assert_eq!(err.file, path);
            if let Some(line) = err.line {
                assert!(line >= 1 && line <= text.lines().count().max(1) + 1, "line {line} outside the text");
            }
            assert!(!err.to_string().is_empty());
        }
    }
});
