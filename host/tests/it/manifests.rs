//! Manifests: every real manifest validates; every bad one fails with the file, the line,
//! the field and what was expected.

use crate::support::root;
use host::plugins::manifest;
use std::collections::BTreeMap;

#[test]
fn every_manifest_in_manifests_validates() {
    let mut seen = 0;
    for entry in std::fs::read_dir(root().join("manifests")).expect("manifests/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            manifest::load(&path).unwrap_or_else(|e| panic!("{e}"));
            seen += 1;
        }
    }
    assert!(seen >= 1);
}

#[test]
fn every_hostile_fixture_manifest_validates() {
    for entry in std::fs::read_dir(root().join("fixtures/plugins/hostile")).expect("fixtures") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            manifest::load(&path).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// The expected error of each bad manifest, after the file name.
fn expected() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        (
            "absolute_path.toml",
            ":6:1: field `wasm`: `/tmp/plugin.wasm` is absolute; expected a path relative to the manifest",
        ),
        (
            "bad_setting_default.toml",
            ":8:11: field `settings.max_participants`: default 90 is outside min 1 ..= max 50",
        ),
        (
            "duplicate_ability.toml",
            ":13:1: field `abilities[1].name`: duplicate ability `broken.use`; each ability is declared once",
        ),
        ("missing_field.toml", ":1:1: missing field `version`"),
        ("not_toml.toml", ":2:13: invalid basic string, expected `\"`"),
        (
            "path_escape.toml",
            ":6:1: field `wasm`: `../../../etc/plugin.wasm` leaves the manifest's folder; expected a path inside it (no `..`)",
        ),
        (
            "rate_limit_not_integer.toml",
            ":17:1: field `routes[0].rate_limit`: `welcome_text` is not an `integer` setting with `min` of at least 1 in [settings]",
        ),
        (
            "slots_cache_too_long.toml",
            ":7:1: field `slots_cache_seconds`: 3600 is too long; expected 0 (ask at every page) to 300 seconds",
        ),
        (
            "undeclared_ability.toml",
            ":16:1: field `routes[0].ability`: `broken.admin` is not declared in [[abilities]]; expected one of: broken.use",
        ),
        (
            "unknown_capability.toml",
            ":7:24: field `capabilities[1]`: unknown value `network`, expected one of `sql`, `directory`, `notifications`, `email`, `preferences`, `clock`, `log`",
        ),
        (
            "unknown_field.toml",
            ":7:1: field `colour`: unknown field `colour`, expected one of `id`, `name`, `version`",
        ),
        (
            "unknown_slot.toml",
            ":13:8: field `slots[0].slot`: unknown value `sidebar.top`, expected one of `header.user_menu`",
        ),
        (
            "wrong_abi_version.toml",
            ":5:1: field `abi_version`: the plugin is built for ABI 2, but this portal speaks ABI 1",
        ),
        ("wrong_type.toml", ":5:15: field `abi_version`: invalid type: string \"one\", expected u32"),
        (
            "requires_undeclared.toml",
            ":11:13: field `abilities[0].requires[0]`: `broken.use` is not declared in [[abilities]]; expected one of: broken.start",
        ),
        (
            "requires_cycle.toml",
            ":11:13: field `abilities[0].requires[0]`: `broken.use` requires itself (through `broken.start`); requirements may not go round in a circle",
        ),
        (
            "icon_on_a_menu_item.toml",
            ":17:1: field `slots[0].icon`: only `header.icons` items have an icon, not `header.user_menu` items",
        ),
        (
            "header_icon_without_icon.toml",
            ":13:1: field `slots[0].slot`: a `header.icons` item needs an `icon` (envelope, bell or flag) and a `link`",
        ),
        (
            "portal_id.toml",
            ":3:1: field `id`: plugin id `portal` is reserved: the portal's own events are named `portal.*`; choose another id",
        ),
        (
            "check_point_without_policy.toml",
            ":9:1: field `extension_points[0]`: a check point needs `on_failure`, what an implementer's failure means: `allow` (fail open) or `refuse` (fail closed)",
        ),
        (
            "event_of_another_plugin.toml",
            ":10:1: field `events[0].name`: `conversations.message_posted` is not a valid event name; expected `broken.` followed by lowercase letters, digits and `_`",
        ),
        (
            "implements_without_checks.toml",
            ":13:3: field `implements`: declaring implements needs the `checks` capability; add \"checks\" to `capabilities`",
        ),
        (
            "reserved_id.toml",
            ":3:1: field `id`: plugin id `user` clashes with `users`, a table of the portal or of SQLite: a plugin id may not equal, prefix or be prefixed by one; choose another id",
        ),
    ])
}

#[test]
fn every_bad_manifest_fails_with_file_line_field_and_expectation() {
    let dir = root().join("fixtures/manifests/bad");
    let expected = expected();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixtures/manifests/bad") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("name").to_owned();
        let want = expected
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{name} has no expected error in this test"));
        let err = manifest::load(&path).expect_err("a bad manifest is refused");
        let shown = err.to_string();
        let prefix = path.display().to_string();
        assert!(shown.starts_with(&prefix), "{shown}");
        let rest = &shown[prefix.len()..];
        assert!(rest.starts_with(want), "{name}:\n  got  {rest}\n  want {want}");
        files.push(name);
    }
    assert_eq!(files.len(), expected.len(), "every expected error has its file");
}
