//! Plugins extending plugins, through the real portal with generated WAT plugins on both
//! sides: a declaring plugin whose POST page makes one host call (`Check` or `Emit`) and
//! shows the reply, and implementers or subscribers that answer, loop or trap. What is
//! checked: checks run inside the asking call under the check point's budget, and an
//! implementer's failure gets the point's policy; verdicts combine; events are delivered
//! after commit, a failing subscriber does not undo the cause and its queue waits (it is
//! retried, and delivered once the subscriber works); the host calls are confined to
//! what the manifests declare; a plugin built before ABI 1.2 loads beside them.

use crate::http::{Server, notes_manifest};
use crate::sandbox::{Attacker, host_rows_except};
use crate::support::{Behaviour, conversations_manifest, write_behaviour_plugin};
use host::clock::Clock;
use plugin_api::HostCall;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const GRACE: &str = "grace@riverside.example";

/// The declaring plugin `asker`: a check point `asker.check` with `policy`, an event
/// `asker.happened`, and a page that makes `call`.
fn asker(call: HostCall, policy: &str) -> Attacker {
    let tail = format!(
        r#"
[[events]]
name = "asker.happened"
description = "Something happened"
payload = "serde_json::Value"

[[extension_points]]
name = "asker.check"
kind = "check"
description = "Check something before it is stored"
on_failure = "{policy}"
cpu_ms = 20
"#
    );
    Attacker::new("asker", call).declaring(r#""sql", "log", "events", "checks""#, &tail)
}

fn check_call() -> HostCall {
    HostCall::Check { point: "asker.check".into(), subject: serde_json::json!({ "text": "hello" }) }
}

fn emit_call() -> HostCall {
    HostCall::Emit { event: "asker.happened".into(), payload: serde_json::json!({ "n": 1 }) }
}

fn verdict(json: &str) -> Behaviour {
    Behaviour::Answer(format!(r#"{{"verdict":{json}}}"#).into_bytes())
}

/// An implementer of `asker.check`, switched on by `{id}.on`.
fn implementer(dir: &Path, id: &str, behaviour: &Behaviour) -> PathBuf {
    let tail = format!(
        "capabilities = [\"log\", \"checks\"]\n[[abilities]]\nname = \"{id}.on\"\nlabel = \"On\"\n\
         [[implements]]\npoint = \"asker.check\"\nability = \"{id}.on\"\n"
    );
    write_behaviour_plugin(dir, id, &tail, behaviour)
}

/// A subscriber of `asker.happened`, switched on by `{id}.on`.
fn subscriber(dir: &Path, id: &str, behaviour: &Behaviour) -> PathBuf {
    let tail = format!(
        "capabilities = [\"log\"]\n[[abilities]]\nname = \"{id}.on\"\nlabel = \"On\"\n\
         [[subscriptions]]\nevent = \"asker.happened\"\nability = \"{id}.on\"\n"
    );
    write_behaviour_plugin(dir, id, &tail, behaviour)
}

/// Starts the portal with `asker` and `others`, everything granted to everyone.
fn start(
    dir: &Path,
    asker: &Attacker,
    others: &[(&str, PathBuf)],
    configure: impl FnOnce(&mut host::config::Config),
) -> Server {
    let mut manifests = vec![conversations_manifest(), asker.write(dir)];
    manifests.extend(others.iter().map(|(_, path)| path.clone()));
    let server = Server::custom(manifests, Clock::system(), configure);
    server.grant("riverside", "asker.use", "everyone");
    for (id, _) in others {
        server.grant("riverside", &format!("{id}.on"), "everyone");
    }
    server
}

/// What the asker's page shows after one POST.
fn ask(server: &Server) -> String {
    ask_as(&mut server.signed_in("riverside", GRACE))
}

/// What the asker's page shows after one POST by `member`.
fn ask_as(member: &mut crate::http::Client) -> String {
    let page = member.post("/c/riverside/asker", &[]);
    assert_eq!(page.status, 200, "{}", page.body);
    let start = page.body.find("<p id=\"reply\">").expect("the asker's page");
    let shown = &page.body[start..];
    shown[..shown.find("</p>").expect("end")].replace("&#x60;", "`").replace("&#x27;", "'")
}

/// Waits (up to 10 s) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_check_that_loops_is_stopped_at_its_budget_and_the_point_s_policy_applies() {
    let dir = tempfile::tempdir().expect("dir");
    let looper = implementer(dir.path(), "looper", &Behaviour::Loop);
    // Fail open: the loop is stopped, the thing is allowed, the caller is told who failed.
    let server = start(dir.path(), &asker(check_call(), "allow"), &[("looper", looper.clone())], |_| {});
    let shown = ask(&server);
    assert!(shown.contains("verdict allow"), "{shown}");
    assert!(shown.contains("failed: looper"), "{shown}");
    let error: String = server.count_text("SELECT last_error FROM plugin_health WHERE plugin = 'looper'");
    assert!(error.contains("20 ms"), "stopped at the check point's budget, not the page's: {error}");
    drop(server);
    // Fail closed: the same loop refuses, with a reason the author can act on.
    let dir = tempfile::tempdir().expect("dir");
    let looper = implementer(dir.path(), "looper", &Behaviour::Loop);
    let server = start(dir.path(), &asker(check_call(), "refuse"), &[("looper", looper)], |_| {});
    let shown = ask(&server);
    assert!(shown.contains("verdict refuse: This could not be checked just now"), "{shown}");
    assert_eq!(server.count("SELECT count(*) FROM extension_holds"), 0);
}

#[test]
fn verdicts_combine_and_a_hold_is_recorded_for_its_holder() {
    let dir = tempfile::tempdir().expect("dir");
    let allower = implementer(dir.path(), "allower", &verdict(r#""allow""#));
    let holder =
        implementer(dir.path(), "holder", &verdict(r#"{"hold":{"reason":"links\u0007 from new members"}}"#));
    let server = start(
        dir.path(),
        &asker(check_call(), "allow"),
        &[("allower", allower.clone()), ("holder", holder.clone())],
        |_| {},
    );
    let shown = ask(&server);
    assert!(
        shown.contains("verdict hold: links  from new members"),
        "control characters are cleaned: {shown}"
    );
    assert_eq!(
        server.count("SELECT count(*) FROM extension_holds WHERE plugin = 'holder' AND state = 'held'"),
        1
    );
    drop(server);

    let dir = tempfile::tempdir().expect("dir");
    let holder = implementer(dir.path(), "holder", &verdict(r#"{"hold":{"reason":"later"}}"#));
    let refuser = implementer(dir.path(), "refuser", &verdict(r#"{"refuse":{"reason":"not here"}}"#));
    let server =
        start(dir.path(), &asker(check_call(), "allow"), &[("holder", holder), ("refuser", refuser)], |_| {});
    let shown = ask(&server);
    assert!(shown.contains("verdict refuse: not here"), "a refusal wins over a hold: {shown}");
    assert_eq!(
        server.count("SELECT count(*) FROM extension_holds"),
        0,
        "a refused check keeps nothing the implementers wrote about it"
    );
}

#[test]
fn an_implementer_switched_off_in_the_community_is_not_asked() {
    let dir = tempfile::tempdir().expect("dir");
    let refuser = implementer(dir.path(), "refuser", &verdict(r#"{"refuse":{"reason":"not here"}}"#));
    let manifests = vec![conversations_manifest(), asker(check_call(), "allow").write(dir.path()), refuser];
    let server = Server::custom(manifests, Clock::system(), |_| {});
    server.grant("riverside", "asker.use", "everyone");
    let shown = ask(&server);
    assert!(shown.contains("verdict allow"), "{shown}");
}

#[test]
fn events_are_delivered_after_commit_and_a_failing_subscriber_waits_without_undoing_the_cause() {
    let data = tempfile::tempdir().expect("data dir");
    let dir = tempfile::tempdir().expect("dir");
    let acker = subscriber(dir.path(), "acker", &Behaviour::Answer(br#""ack""#.to_vec()));
    let flaky = subscriber(dir.path(), "flaky", &Behaviour::Trap);
    let data_dir = data.path().to_owned();
    let fast_retries = move |config: &mut host::config::Config| {
        config.data_dir = data_dir.clone();
        config.plugins.events.retry_ms = 20;
        config.plugins.events.retry_max_seconds = 1;
        config.plugins.events.poll_ms = 20;
        config.plugins.breaker.failures = 3;
    };
    let server = start(
        dir.path(),
        &asker(emit_call(), "allow"),
        &[("acker", acker.clone()), ("flaky", flaky)],
        fast_retries.clone(),
    );
    let shown = ask(&server);
    assert!(shown.starts_with("<p id=\"reply\">allowed"), "{shown}");
    eventually("the working subscriber got the event", || {
        server.count("SELECT count(*) FROM event_deliveries WHERE subscriber = 'acker'") == 0
    });
    // The trapping subscriber's delivery is retried, then its breaker switches it off; the
    // delivery waits for it.
    eventually("the failing subscriber was tried three times", || {
        server.count("SELECT attempts FROM event_deliveries WHERE subscriber = 'flaky'") >= 3
    });
    let error = server.count_text("SELECT last_error FROM event_deliveries WHERE subscriber = 'flaky'");
    assert!(error.contains("trap") || error.contains("unreachable"), "{error}");
    assert_eq!(server.count("SELECT count(*) FROM event_deliveries WHERE subscriber = 'flaky'"), 1);
    let status = host::cli::queue_line(
        &host::db::extensions::queue_status(&server.portal.db.get().expect("conn"), "flaky", None)
            .expect("status"),
        server.portal.clock.now(),
    )
    .expect("a line");
    assert!(status.contains("events waiting: 1") && status.contains("failed"), "{status}");
    drop(server);

    // The operator deploys a working version: the waiting event is delivered, once.
    let fixed = subscriber(dir.path(), "flaky", &Behaviour::Answer(br#""ack""#.to_vec()));
    let server =
        start(dir.path(), &asker(emit_call(), "allow"), &[("acker", acker), ("flaky", fixed)], fast_retries);
    eventually("the waiting delivery went through", || {
        server.count("SELECT count(*) FROM event_deliveries") == 0
    });
}

#[test]
fn events_checks_and_resolutions_stay_within_what_the_manifests_declare() {
    let dir = tempfile::tempdir().expect("dir");
    // Emitting an event the manifest does not declare.
    let undeclared = HostCall::Emit { event: "asker.other".into(), payload: serde_json::json!({}) };
    let server = start(dir.path(), &asker(undeclared, "allow"), &[], |_| {});
    let shown = ask(&server);
    assert!(shown.contains("`asker.other` is not an event that `asker` declares in [[events]]"), "{shown}");
    drop(server);
    // Another plugin's event.
    let foreign =
        HostCall::Emit { event: "conversations.message_posted".into(), payload: serde_json::json!({}) };
    let server = start(dir.path(), &asker(foreign, "allow"), &[], |_| {});
    assert!(ask(&server).contains("is not an event that `asker` declares"));
    drop(server);
    // A check point the plugin does not declare.
    let other_point =
        HostCall::Check { point: "conversations.check_message".into(), subject: serde_json::json!({}) };
    let server = start(dir.path(), &asker(other_point, "allow"), &[], |_| {});
    assert!(ask(&server).contains("is not a check point that `asker` declares"));
    drop(server);
    // Resolving a check of a point the plugin does not implement (its own, here).
    let resolve =
        HostCall::Resolve { check: plugin_api::CheckId(1), decision: plugin_api::Decision::Release };
    let server = start(dir.path(), &asker(resolve, "allow"), &[], |_| {});
    assert!(ask(&server).contains("there is no check 1 in this community"));
    drop(server);
    // A payload past the limit.
    let big = HostCall::Emit {
        event: "asker.happened".into(),
        payload: serde_json::json!({ "text": "x".repeat(plugin_api::extension::MAX_PAYLOAD_BYTES) }),
    };
    let server = start(dir.path(), &asker(big, "allow"), &[], |_| {});
    let shown = ask(&server);
    assert!(shown.contains("at most 65536"), "{shown}");
    assert_eq!(server.count("SELECT count(*) FROM event_deliveries"), 0);
    drop(server);
    // During a GET: nothing is emitted.
    let server = start(dir.path(), &asker(emit_call(), "allow"), &[], |_| {});
    let mut grace = server.signed_in("riverside", GRACE);
    let page = grace.get("/c/riverside/asker");
    assert!(page.body.contains("no events during a GET request"), "{}", page.body);
}

#[test]
fn a_plugin_built_before_abi_1_2_loads_and_runs_beside_plugins_that_extend_each_other() {
    let dir = tempfile::tempdir().expect("dir");
    let acker = subscriber(dir.path(), "acker", &Behaviour::Answer(br#""ack""#.to_vec()));
    let manifests = vec![
        conversations_manifest(),
        asker(emit_call(), "allow").write(dir.path()),
        acker,
        notes_manifest(),
    ];
    let server = Server::custom(manifests, Clock::system(), |_| {});
    server.grant("riverside", "notes.use", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    let page = grace.get("/c/riverside/notes");
    assert_eq!(page.status, 200, "{}", page.body);
}

#[test]
fn implementing_what_nobody_declares_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().expect("dir");
    let orphan = implementer(dir.path(), "orphan", &verdict(r#""allow""#));
    let mut config = host::config::Config { data_dir: dir.path().join("data"), ..Default::default() };
    config.plugins.manifests = vec![orphan];
    config.plugins.runtime = crate::support::test_config();
    let err = host::portal::Portal::start(config, Clock::system()).err().expect("refused");
    let text = err.to_string();
    assert!(
        text.contains(
            "plugin `orphan` implements `asker.check` (implements[0]), which no loaded plugin declares"
        ),
        "{text}"
    );
}

#[test]
fn an_implementer_and_a_subscriber_stay_confined_to_their_own_tables_in_the_transaction_they_get() {
    let dir = tempfile::tempdir().expect("dir");
    // A checker that reads the users table inside the sending call's transaction, and a
    // subscriber that deletes the portal's sessions in its delivery.
    let peek = HostCall::Query { sql: "SELECT email, password_hash FROM users".into(), params: vec![] };
    let snoop = Attacker::new("snoop", peek).declaring(
        r#""sql", "log", "checks""#,
        "[[implements]]\npoint = \"asker.check\"\nability = \"snoop.use\"\n",
    );
    let wipe = HostCall::Execute { sql: "DELETE FROM sessions".into(), params: vec![] };
    let wiper = Attacker::new("wiper", wipe).declaring(
        r#""sql", "log""#,
        "[[subscriptions]]\nevent = \"asker.happened\"\nability = \"wiper.use\"\n",
    );
    let manifests = vec![
        conversations_manifest(),
        asker(check_call(), "allow").write(dir.path()),
        snoop.write(dir.path()),
        wiper.write(dir.path()),
    ];
    let server = Server::custom(manifests, Clock::system(), |_| {});
    for ability in ["asker.use", "snoop.use", "wiper.use"] {
        server.grant("riverside", ability, "everyone");
    }
    let mut grace = server.signed_in("riverside", GRACE);
    let before = host_rows_except(&server, BOOKKEEPING);
    let shown = ask_as(&mut grace);
    // The checker's query was refused (then it answered a page, not a verdict: it failed,
    // and the point's policy allowed).
    assert!(shown.contains("verdict allow") && shown.contains("failed: snoop"), "{shown}");
    let refusal = server.count_text("SELECT last_refusal FROM plugin_health WHERE plugin = 'snoop'");
    assert!(refusal.contains("`snoop`") && refusal.contains("users"), "{refusal}");
    assert_eq!(host_rows_except(&server, BOOKKEEPING), before, "the portal's tables are as they were");
    drop(server);

    let manifests = vec![
        conversations_manifest(),
        asker(emit_call(), "allow").write(dir.path()),
        wiper.write(dir.path()),
    ];
    let server = Server::custom(manifests, Clock::system(), |_| {});
    server.grant("riverside", "asker.use", "everyone");
    server.grant("riverside", "wiper.use", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    let before = host_rows_except(&server, BOOKKEEPING);
    let _ = ask_as(&mut grace);
    eventually("the subscriber was tried", || {
        server.count("SELECT count(*) FROM plugin_health WHERE plugin = 'wiper' AND refusals > 0") == 1
    });
    let refusal = server.count_text("SELECT last_refusal FROM plugin_health WHERE plugin = 'wiper'");
    assert!(refusal.contains("sessions"), "{refusal}");
    assert_eq!(
        host_rows_except(&server, BOOKKEEPING),
        before,
        "the portal's tables, sessions included, are as they were"
    );
}

/// The portal's own record of what these tests make happen: a plugin's health and
/// refusals, the checks asked and the events queued. Every other portal table must stay
/// as it was.
const BOOKKEEPING: &[&str] = &["plugin_health", "extension_checks", "extension_holds", "event_deliveries"];

/// Only an implementer that was asked about a check, and is still switched on, may reject
/// it later: one installed or switched on afterwards cannot take down what others checked.
#[test]
fn only_an_implementer_that_was_asked_resolves_a_check() {
    let dir = tempfile::tempdir().expect("dir");
    let holder = implementer(dir.path(), "holder", &verdict(r#"{"hold":{"reason":"later"}}"#));
    let reject = HostCall::Resolve {
        check: plugin_api::CheckId(1),
        decision: plugin_api::Decision::Reject { reason: "gone".into() },
    };
    let latecomer = Attacker::new("latecomer", reject).declaring(
        r#""sql", "log", "checks""#,
        "[[implements]]\npoint = \"asker.check\"\nability = \"latecomer.use\"\n",
    );
    let manifests = vec![
        conversations_manifest(),
        asker(check_call(), "allow").write(dir.path()),
        holder,
        latecomer.write(dir.path()),
    ];
    let server = Server::custom(manifests, Clock::system(), |_| {});
    server.grant("riverside", "asker.use", "everyone");
    server.grant("riverside", "holder.on", "everyone");
    let shown = ask(&server);
    assert!(shown.contains("verdict hold: later") && shown.contains("check 1"), "{shown}");
    // Switched on only now, the latecomer tries to reject check 1.
    server.grant("riverside", "latecomer.use", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    let page = grace.post("/c/riverside/latecomer", &[]);
    assert!(page.body.contains("was not asked about check 1"), "{}", page.body);
    assert_eq!(server.count("SELECT count(*) FROM extension_checks WHERE resolution IS NOT NULL"), 0);
    assert_eq!(server.count("SELECT count(*) FROM event_deliveries"), 0, "nobody is told anything");
}

/// A subscription to one's own event, which would let a plugin feed its own queue, stops
/// the start.
#[test]
fn a_plugin_may_not_subscribe_to_its_own_event() {
    let dir = tempfile::tempdir().expect("dir");
    let own = "\n[[subscriptions]]\nevent = \"asker.happened\"\nability = \"asker.use\"\n";
    let attacker = asker(emit_call(), "allow");
    let path = attacker.write(dir.path());
    let text = std::fs::read_to_string(&path).expect("manifest") + own;
    std::fs::write(&path, text).expect("manifest");
    let mut config = host::config::Config { data_dir: dir.path().join("data"), ..Default::default() };
    config.plugins.manifests = vec![conversations_manifest(), path];
    config.plugins.runtime = crate::support::test_config();
    let err = host::portal::Portal::start(config, Clock::system()).err().expect("refused").to_string();
    assert!(
        err.contains("plugin `asker` subscribes to its own event `asker.happened` (subscriptions[0])"),
        "{err}"
    );
}

/// Variants of the same attack inside the asking call's write transaction: a checker that
/// makes itself admin, rewrites the asker's own rows, or grants itself abilities. Each is
/// refused under the checker's own id, and no portal table changes.
#[test]
fn a_check_implementer_cannot_write_outside_its_own_tables_with_the_lent_transaction() {
    for (i, sql) in [
        "UPDATE users SET role = 'admin'",
        "INSERT INTO ability_grants (community_id, ability, grantee_kind, grantee, created_at) VALUES (1, 'asker.use', 'everyone', '', 0)",
        "DELETE FROM extension_checks",
        "UPDATE event_deliveries SET attempts = 0",
    ]
    .into_iter()
    .enumerate()
    {
        let dir = tempfile::tempdir().expect("dir");
        let id: &'static str = ["writer_a", "writer_b", "writer_c", "writer_d"][i];
        let attack = HostCall::Execute { sql: sql.into(), params: vec![] };
        let writer = Attacker::new(id, attack).declaring(
            r#""sql", "log", "checks""#,
            &format!("[[implements]]\npoint = \"asker.check\"\nability = \"{id}.use\"\n"),
        );
        let manifests =
            vec![conversations_manifest(), asker(check_call(), "allow").write(dir.path()), writer.write(dir.path())];
        let server = Server::custom(manifests, Clock::system(), |_| {});
        server.grant("riverside", "asker.use", "everyone");
        server.grant("riverside", &format!("{id}.use"), "everyone");
        let mut grace = server.signed_in("riverside", GRACE);
        let before = host_rows_except(&server, BOOKKEEPING);
        let checks_before = server.count("SELECT count(*) FROM extension_checks");
        let shown = ask_as(&mut grace);
        assert!(shown.contains(&format!("failed: {id}")), "{sql}: {shown}");
        let refusal = server.count_text(&format!("SELECT last_refusal FROM plugin_health WHERE plugin = '{id}'"));
        assert!(
            refusal.contains(&format!("`{id}`")) && refusal.contains("which is not a table or index of plugin"),
            "{sql}: refused by the confinement, not by a typo: {refusal}"
        );
        assert_eq!(host_rows_except(&server, BOOKKEEPING), before, "{sql}: the portal's tables are as they were");
        assert_eq!(
            server.count("SELECT count(*) FROM extension_checks"),
            checks_before + 1,
            "{sql}: only the check itself was recorded"
        );
    }
}
