//! `portal plugin check`, run as a real process.

use crate::support::{conversations_manifest, root};
use std::process::Command;

fn portal(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(args)
        .current_dir(root())
        .env("RUST_LOG", "warn")
        .output()
        .expect("portal runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn plugin_check_prints_what_the_plugin_declares() {
    let manifest = conversations_manifest();
    let (ok, stdout, stderr) = portal(&["plugin", "check", manifest.to_str().expect("utf-8 path")]);
    assert!(ok, "{stderr}");
    for expected in [
        "plugin conversations 0.1.0 (ABI 1): Conversations",
        "conversations.use",
        "conversations.start",
        "conversations.groups",
        "profile.actions",
        "header.avatar_badge",
        "digest",
        "max_participants       = 9 (integer 1..=50)",
        "require_acceptance     = true (boolean)",
        "ok: manifest and module agree",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
}

#[test]
fn plugin_check_fails_with_the_file_line_and_field() {
    let (ok, stdout, stderr) = portal(&["plugin", "check", "fixtures/manifests/bad/duplicate_ability.toml"]);
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("fixtures/manifests/bad/duplicate_ability.toml:13:1: field `abilities[1].name`: duplicate ability `broken.use`"),
        "{stderr}"
    );
}

#[test]
fn plugin_check_fails_when_manifest_and_module_disagree() {
    let (ok, _, stderr) = portal(&["plugin", "check", "fixtures/plugins/hostile/wrong_abi.toml"]);
    assert!(!ok);
    assert!(stderr.contains("the manifest says abi_version `1`, but the module says `2`"), "{stderr}");
}
