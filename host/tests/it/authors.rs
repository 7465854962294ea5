//! Plugin authors' tools: `portal plugin run` on Conversations and on hostile fixtures,
//! errors that name the plugin, the call, the rule and the fix (one test per kind), and the
//! guide's whole path: `portal plugin new`, build, check, the generated test, the portal.

use crate::http::{Server, notes_manifest};
use crate::support::{conversations_manifest, hostile, root};
use host::authoring::run::{RunOptions, Runner};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the `portal` binary in the repository with `args`: (success, stdout, stderr).
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

/// A portal.toml for `portal plugin run` with the tests' small limits and module cache.
fn config(dir: &Path) -> String {
    let path = dir.join("portal.toml");
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache");
    std::fs::write(
        &path,
        format!(
            "[plugins.runtime]\ncache_dir = \"{}\"\n[plugins.runtime.limits]\ncpu_ms = 200\n",
            cache.display()
        ),
    )
    .expect("config");
    path.to_str().expect("utf-8").to_owned()
}

/// Writes `request` into `dir` and runs `portal plugin run manifest --request file extra...`.
fn run(dir: &Path, manifest: &Path, request: &str, extra: &[&str]) -> (bool, String, String) {
    let file = dir.join("request.json");
    std::fs::write(&file, request).expect("request file");
    let config = config(dir);
    let mut args = vec!["--config", &config, "plugin", "run", manifest.to_str().expect("utf-8")];
    let file = file.to_str().expect("utf-8").to_owned();
    args.extend(["--request", &file]);
    args.extend(extra);
    portal(&args)
}

const INBOX_AS_ADA: &str =
    r#"{"community": "riverside", "as": "ada@riverside.example", "request": {"page": {"route": "inbox"}}}"#;

#[test]
fn plugin_run_shows_a_conversations_page_with_every_host_call_and_the_measures() {
    let dir = tempfile::tempdir().expect("dir");
    let (ok, stdout, stderr) = run(dir.path(), &conversations_manifest(), INBOX_AS_ADA, &[]);
    assert!(ok, "{stderr}\n{stdout}");
    for expected in [
        "plugin conversations 0.1.0: page request (route `inbox`, GET)",
        "database   throwaway (the demo data and the plugin's migrations)",
        "as         Ada Lovelace <ada@riverside.example> (user 1)",
        "abilities  conversations.groups, conversations.start, conversations.use",
        "access     read-only",
        "host calls (",
        ". query {\"params\":",
        "-> {\"rows\":{\"columns\":",
        "response\n  {\"page\":{\"render\":{\"data\":",
        "bytes of HTML, cleaned, as the portal puts it in its layout)",
        "wall time ",
        "fuel ",
        "peak memory ",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
}

#[test]
fn plugin_run_json_with_repeat_gives_every_call_and_min_median_max() {
    let dir = tempfile::tempdir().expect("dir");
    let (ok, stdout, stderr) =
        run(dir.path(), &conversations_manifest(), INBOX_AS_ADA, &["--json", "--repeat", "3"]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["plugin"], "conversations");
    assert_eq!(report["request"]["page"]["page"]["route"], "inbox");
    assert_eq!(report["response"]["page"]["render"]["template"], "inbox");
    assert_eq!(report["summary"]["runs"], 3);
    assert_eq!(report["runs"].as_array().map(Vec::len), Some(3));
    let calls = report["host_calls"].as_array().expect("host calls");
    assert!(!calls.is_empty());
    for call in calls {
        assert!(call["call"].is_string() && call["reply"].is_object() && call["micros"].is_u64(), "{call}");
    }
    assert!(calls.iter().any(|c| c["call"] == "query" && c["arguments"]["sql"].is_string()), "{calls:?}");
    let summary = &report["summary"];
    let fuel = &summary["fuel"];
    assert!(fuel["min"].as_u64() > Some(1000), "fuel is counted: {fuel}");
    assert!(
        fuel["min"].as_u64() <= fuel["median"].as_u64() && fuel["median"].as_u64() <= fuel["max"].as_u64()
    );
    assert!(summary["memory_bytes"]["max"].as_u64() >= Some(64 * 1024), "{summary}");
    assert!(summary["wall_us"]["min"].as_u64() > Some(0), "{summary}");
}

#[test]
fn plugin_run_on_a_hostile_fixture_names_the_plugin_the_call_the_rule_and_the_fix() {
    let dir = tempfile::tempdir().expect("dir");
    let event = r#"{"request": {"event": {"member_removed": {"user": 1}}}}"#;
    let (ok, stdout, stderr) = run(dir.path(), &hostile("infinite_loop"), event, &[]);
    assert!(!ok, "an endless loop fails the run: {stdout}");
    assert!(
        stdout.contains(
            "FAILED: plugin `infinite_loop`: event `member_removed`: ran out of CPU time (limit 200 ms). Fix: do less in one call"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("transaction rolled back"), "{stdout}");
    assert!(stderr.contains("the call failed"), "{stderr}");
}

#[test]
fn plugin_run_request_errors_name_the_field() {
    let dir = tempfile::tempdir().expect("dir");
    let manifest = conversations_manifest();
    let (ok, _, stderr) =
        run(dir.path(), &manifest, r#"{"as": "ada", "request": {"page": {"route": "inbx"}}}"#, &[]);
    assert!(!ok);
    assert!(
        stderr.contains(
            "field `request.page.route`: plugin `conversations` has no route `inbx`; its routes: inbox,"
        ),
        "{stderr}"
    );
    let (ok, _, stderr) =
        run(dir.path(), &manifest, r#"{"request": {"page": {"route": "inbox", "method": "PUT"}}}"#, &[]);
    assert!(!ok);
    assert!(
        stderr.contains("field `request.page.method`: unknown variant `PUT`, expected `GET` or `POST`"),
        "{stderr}"
    );
    let (ok, _, stderr) =
        run(dir.path(), &manifest, r#"{"as": "nobody@x", "request": {"page": {"route": "inbox"}}}"#, &[]);
    assert!(!ok);
    assert!(stderr.contains("field `as`: no member `nobody@x` in riverside"), "{stderr}");
    // Hilltop grants nobody Conversations: the portal would answer 403 without a call.
    let hilltop = r#"{"community": "hilltop", "as": "marie", "request": {"page": {"route": "inbox"}}}"#;
    let (ok, _, stderr) = run(dir.path(), &manifest, hilltop, &[]);
    assert!(!ok);
    assert!(
        stderr.contains("field `request.page.route`: Marie Curie does not have `conversations.use` here"),
        "{stderr}"
    );
}

fn runner(manifest: &Path) -> Runner {
    let mut config = host::config::Config::default();
    config.plugins.runtime = crate::support::test_config();
    Runner::start(&config, manifest, None).expect("starts")
}

/// Kind: SQL refused by the confinement, in `plugin run` and in `plugin status`.
#[test]
fn sql_outside_the_plugins_tables_is_refused_naming_the_rule_and_the_fix_in_run_and_status() {
    let steal = r#"{"as": "ada", "abilities": ["notes.use"], "request": {"page": {"route": "steal"}}}"#;
    let report = runner(&notes_manifest()).run_text(steal, "steal", RunOptions::default()).expect("runs");
    let call = report.host_calls.first().expect("the query");
    assert!(call.refused, "{}", report.text());
    let message = call.reply["error"]["message"].as_str().expect("message");
    assert!(message.starts_with("host call `query` of plugin `notes` refused: the statement "), "{message}");
    assert!(message.contains("`users`, which is not a table or index of plugin `notes`"), "{message}");
    assert!(
        message.contains("Fix: name only the tables and indexes that the migrations of `notes` created"),
        "{message}"
    );
    assert!(report.text().contains("REFUSED"), "{}", report.text());

    // The serving portal keeps the last refusal for `portal plugin status`.
    let server = Server::start();
    server.grant("riverside", "notes.use", "everyone");
    let mut ada = server.signed_in("riverside", "ada@riverside.example");
    ada.get("/c/riverside/notes-bad/steal");
    let conn = server.portal.db.get().expect("conn");
    let health = host::db::plugin_health::get(&conn, "notes").expect("read").expect("recorded");
    let line = host::cli::status_line("notes", "0.1.0", Some(&health), server.portal.clock.now());
    assert!(line.contains("1 host calls refused; the last"), "{line}");
    assert!(line.contains("host call `query` of plugin `notes` refused") && line.contains("Fix: "), "{line}");
}

/// Kind: a response that does not match the request.
#[test]
fn a_response_of_the_wrong_kind_names_both_kinds_and_the_fix() {
    let page =
        r#"{"as": "ada", "abilities": ["wrong_response.use"], "request": {"page": {"route": "page"}}}"#;
    let report =
        runner(&hostile("wrong_response")).run_text(page, "page", RunOptions::default()).expect("runs");
    let error = report.error.expect("the call fails");
    assert_eq!(
        error,
        "plugin `wrong_response`: page request (route `page`, GET): answered a `page` request with `ack`; the rule: \
         each request kind has one answer (or `error`). Fix: answer a `page` request with its own kind: describe -> \
         `described`, slots -> `slots`, page -> `page`, job -> `job_done`, event -> `ack`, or `error` for any"
    );
}

/// Kind: a limit (memory) hit, as the log and `portal plugin status` store it.
#[test]
fn a_limit_hit_names_the_limit_and_the_fix() {
    let event = r#"{"request": {"event": {"member_removed": {"user": 1}}}}"#;
    let report =
        runner(&hostile("memory_bomb")).run_text(event, "event", RunOptions::default()).expect("runs");
    let error = report.error.expect("the call fails");
    assert!(
        error.starts_with(
            "plugin `memory_bomb`: event `member_removed`: tried to grow its memory past the limit of 16 MiB. Fix: hold less at once"
        ),
        "{error}"
    );
    assert!(error.contains("`plugins.runtime.limits.memory_mib`"), "{error}");
}

/// Kind: a bad template, refused by `portal plugin check` before the portal starts.
#[test]
fn plugin_check_refuses_a_bad_template_naming_the_rule_and_the_fix() {
    let (ok, _, stderr) = portal(&["plugin", "check", "fixtures/plugins/hostile/template_loop.toml"]);
    assert!(!ok);
    assert!(
        stderr.contains(
            "plugin `template_loop`: template `a` is refused by the template sandbox: partial cycle: a > b > a. Fix: change `a`"
        ),
        "{stderr}"
    );
}

/// The guide's path, as a newcomer follows it: `portal plugin new` (a crate of its own in
/// a temporary folder), the build command it prints, `portal plugin check`, the generated
/// test, then the plugin in a running portal: its menu entry and its page once the
/// ability is granted. One wasm build (about a minute) and one test build.
#[test]
fn a_new_plugin_builds_checks_passes_its_test_and_shows_in_the_portal() {
    let dir = tempfile::tempdir().expect("dir");
    let (ok, stdout, stderr) =
        portal(&["plugin", "new", "hello", "--standalone", "--dir", dir.path().to_str().expect("utf-8")]);
    assert!(ok, "{stderr}");
    let crate_dir = dir.path().join("hello");
    let build = format!("{} {}", root().join("scripts/build-plugins.sh").display(), crate_dir.display());
    assert!(stdout.contains(&build), "it prints the build command:\n{stdout}");

    let built =
        Command::new(root().join("scripts/build-plugins.sh")).arg(&crate_dir).output().expect("build runs");
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let manifest = crate_dir.join("hello.toml");

    let (ok, stdout, stderr) = portal(&["plugin", "check", manifest.to_str().expect("utf-8")]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ok: manifest and module agree"), "{stdout}");
    assert!(stdout.contains("hello.use                    Use Hello"), "{stdout}");

    // The generated test, built in this target directory (the host is compiled already).
    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").to_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let tested = Command::new(cargo)
        .args(["test", "--offline", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .expect("cargo test runs");
    let out = String::from_utf8_lossy(&tested.stdout);
    assert!(tested.status.success(), "{out}\n{}", String::from_utf8_lossy(&tested.stderr));
    assert!(out.contains("test result: ok. 3 passed"), "{out}");

    // Shown in the portal: nothing before the grant, the menu entry and the page after.
    let server = Server::with_manifests(vec![conversations_manifest(), manifest]);
    let mut ada = server.signed_in("riverside", "ada@riverside.example");
    assert!(!ada.get("/c/riverside").body.contains("data-slot-key=\"hello_menu\""), "off by default");
    assert_eq!(ada.get("/c/riverside/hello").status, 403);
    server.grant("riverside", "hello.use", "everyone");
    let home = ada.get("/c/riverside").body;
    assert!(home.contains("data-slot-key=\"hello_menu\""), "{home}");
    let page = ada.get("/c/riverside/hello");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Hello, Ada Lovelace!") && page.body.contains("Visit number 1."),
        "{}",
        page.body
    );
}

/// `portal plugin run` answers the ABI 1.2 requests: a check of Moderation (run beside the
/// plugin it extends, with Conversations from the configuration) and a delivery.
#[test]
fn plugin_run_answers_checks_and_deliveries() {
    let mut config = host::config::Config::default();
    config.plugins.runtime = crate::support::test_config();
    config.plugins.manifests = vec![conversations_manifest(), root().join("manifests/moderation.toml")];
    let runner = Runner::start(&config, &root().join("manifests/moderation.toml"), None)
        .expect("starts beside Conversations");
    let check = r#"{"as": "grace@riverside.example", "request": {"check": {"point": "conversations.check_message",
        "check": 7, "subject": {"author": 2, "participants": [{"kind": "user", "id": 2}], "text": "hello"}}}}"#;
    let report = runner.run_text(check, "check", RunOptions::default()).expect("runs");
    assert_eq!(report.response, Some(serde_json::json!({ "verdict": "allow" })), "{report:?}");
    let deliver = r#"{"request": {"deliver": {"id": 1, "event": "conversations.message_posted",
        "source": "conversations", "at": 0, "payload": {"conversation": 1, "message": 1, "author": 2,
        "text": "hello", "readers": [2, 3]}}}}"#;
    let report = runner.run_text(deliver, "deliver", RunOptions::default()).expect("runs");
    assert_eq!(report.response, Some(serde_json::json!("ack")), "{report:?}");
    assert!(report.committed, "the copy is kept: {report:?}");
}
