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
        "slots         (answers reused up to 30 s, until the portal commits a write)",
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

/// `portal plugin check` lists what a plugin offers other plugins and takes from them, who
/// extends whom among the configured plugins, and refuses, naming it, an implementation of
/// a check point that no configured plugin declares.
#[test]
fn plugin_check_lists_extensions_and_refuses_what_nobody_declares() {
    let (ok, stdout, stderr) = portal(&["plugin", "check", "manifests/moderation.toml"]);
    assert!(ok, "{stderr}");
    for expected in [
        "implements    (answers allow, refuse or hold inside the asking call)",
        "conversations.check_message          where moderation.check is granted",
        "conversations.message_posted         where moderation.report is granted",
        "implements conversations.check_message, declared by conversations",
        "fills slot conversations.message_actions, declared by conversations",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    let (ok, stdout, stderr) = portal(&["plugin", "check", "manifests/conversations.toml"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout
            .contains("conversations.check_message          check, 50 ms per implementer, on failure: allow"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().expect("dir");
    let tail = "capabilities = [\"log\", \"checks\"]\n[[abilities]]\nname = \"typo.on\"\nlabel = \"On\"\n\
                [[implements]]\npoint = \"conversations.check_mesage\"\nability = \"typo.on\"\n";
    let manifest = crate::support::write_behaviour_plugin(
        dir.path(),
        "typo",
        tail,
        &crate::support::Behaviour::Answer(br#"{"verdict":"allow"}"#.to_vec()),
    );
    let (ok, stdout, stderr) = portal(&["plugin", "check", manifest.to_str().expect("utf-8 path")]);
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("plugin `typo` implements `conversations.check_mesage` (implements[0]), which no loaded plugin declares as a check point; declared check points: conversations.check_message"),
        "{stderr}"
    );
}

/// A data directory with a `portal.toml` (Conversations only) and the demo data loaded by
/// `portal demo load`; returns the directory (keep it alive) and the config path.
fn demo_portal() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("portal.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[plugins]\nmanifests = [\"{}\"]\n",
            dir.path().display(),
            root().join("manifests/conversations.toml").display()
        ),
    )
    .expect("config");
    let config = config.to_str().expect("utf-8").to_owned();
    let demo = root().join("fixtures/demo.toml");
    let (ok, _, stderr) = portal(&["--config", &config, "demo", "load", demo.to_str().expect("utf-8")]);
    assert!(ok, "{stderr}");
    (dir, config)
}

#[test]
fn abilities_are_granted_listed_and_revoked_from_the_command_line() {
    let (_dir, config) = demo_portal();
    let config = config.as_str();
    let run = |action: &str, ability: &str, grantee: &str| {
        portal(&["--config", config, "abilities", action, "--community", "hilltop", ability, grantee])
    };
    let list = || portal(&["--config", config, "abilities", "list", "--community", "hilltop"]).1;
    assert!(list().contains("conversations.use            off"), "{}", list());

    let (ok, stdout, stderr) = run("grant", "conversations.use", "group:laser");
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "granted conversations.use to group:laser in hilltop");
    assert!(list().contains("conversations.use            group:laser"), "{}", list());

    let (ok, _, stderr) = run("grant", "conversations.fly", "everyone");
    assert!(!ok);
    assert!(stderr.contains("no plugin declares the ability `conversations.fly`"), "{stderr}");
    let (ok, _, stderr) = run("grant", "conversations.use", "group:nope");
    assert!(!ok);
    assert!(stderr.contains("no group `nope` in Hilltop Makers"), "{stderr}");

    let (ok, stdout, _) = run("revoke", "conversations.use", "group:laser");
    assert!(ok);
    assert_eq!(stdout.trim(), "revoked conversations.use from group:laser in hilltop");

    // `start` needs `use`: granted alone, the list says it has no effect.
    assert!(run("grant", "conversations.start", "everyone").0);
    let shown = list();
    assert!(
        shown.contains("conversations.start          everyone (needs conversations.use) -- no effect: nobody has conversations.use"),
        "{shown}"
    );
    assert!(run("grant", "conversations.use", "everyone").0);
    assert!(!list().contains("no effect"), "{}", list());
}

#[test]
fn settings_are_overridden_from_the_command_line_with_the_admin_page_checks() {
    let (_dir, config) = demo_portal();
    let config = config.as_str();
    let set = |setting: &str, value: &str| {
        portal(&["--config", config, "settings", "set", "--community", "riverside", setting, value])
    };
    let (ok, stdout, stderr) = set("conversations.max_participants", "4");
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "conversations.max_participants = 4 in riverside");
    let (ok, _, stderr) = set("conversations.max_participants", "99");
    assert!(!ok);
    assert!(stderr.contains("`99` is not allowed; expected a whole number from 1 to 50"), "{stderr}");
    let (ok, _, stderr) = set("conversations.colour", "blue");
    assert!(!ok && stderr.contains("has no setting `colour`"), "{stderr}");
    let (ok, _, _) = set("conversations.code_of_conduct_url", "https://riverside.example/conduct");
    assert!(ok);
    let (_, stdout, _) = portal(&["--config", config, "settings", "list", "--community", "riverside"]);
    assert!(stdout.contains("override 4"), "{stdout}");
    assert!(stdout.contains("override \"https://riverside.example/conduct\""), "{stdout}");
    let (ok, _, _) = portal(&[
        "--config",
        config,
        "settings",
        "unset",
        "--community",
        "riverside",
        "conversations.max_participants",
    ]);
    assert!(ok);
}

/// A delivery its plugin can never take shows in `portal plugin status` with its id, and
/// `portal events drop` removes it.
#[test]
fn a_stuck_delivery_shows_in_status_and_can_be_dropped() {
    let (dir, config) = demo_portal();
    let conn = rusqlite::Connection::open(dir.path().join("portal.db")).expect("db");
    conn.execute(
        "INSERT INTO event_deliveries (community_id, subscriber, source, event, payload, created_at, attempts,
                                       next_attempt_at, last_error)
         VALUES (1, 'conversations', 'portal', 'portal.check_resolved', '{}', 0, 7, 0, 'trapped')",
        [],
    )
    .expect("a stuck delivery");
    let id = conn.last_insert_rowid();
    let (ok, stdout, stderr) = portal(&["--config", &config, "plugin", "status"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("events waiting: 1"), "{stdout}");
    assert!(
        stdout.contains(&format!("stuck: delivery {id} of `portal.check_resolved` failed 7 times")),
        "{stdout}"
    );
    let (ok, stdout, stderr) = portal(&["--config", &config, "events", "drop", &id.to_string()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains(&format!("dropped delivery {id}")), "{stdout}");
    let left: i64 = conn.query_row("SELECT count(*) FROM event_deliveries", [], |r| r.get(0)).expect("count");
    assert_eq!(left, 0);
    let (ok, _, stderr) = portal(&["--config", &config, "events", "drop", &id.to_string()]);
    assert!(!ok && stderr.contains(&format!("there is no waiting delivery {id}")), "{stderr}");
}
