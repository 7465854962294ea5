//! Conversations extended by Moderation, end to end through real HTTP and both real wasm
//! modules: a held message reaches nobody until a moderator releases it; a refused one is
//! not stored and its author sees why, keeping the text; a Report reaches the queue and a
//! take-down hides the message; a subscriber that traps does not undo the message and is
//! tried again; a check that loops is stopped at Conversations' 50 ms budget and the message
//! goes through (fail open); the admin page says so.

use crate::conversations::{start, user};
use crate::http::Server;
use crate::support::{Behaviour, conversations_manifest, root, write_behaviour_plugin};
use host::clock::Clock;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const GRACE: &str = "grace@riverside.example";
const ALAN: &str = "alan@riverside.example";
const ADA: &str = "ada@riverside.example";

fn moderation_manifest() -> PathBuf {
    root().join("manifests/moderation.toml")
}

/// Waits (up to 10 s) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Conversations (no invitations) and Moderation in Riverside: every message checked,
/// everyone may report, the admins review; `rules` saved by Ada on the rules page.
fn moderated(rules: &[(&str, &str)]) -> Server {
    let server = Server::with_manifests(vec![conversations_manifest(), moderation_manifest()]);
    server.set_setting("riverside", "conversations.require_acceptance", "false");
    server.grant("riverside", "moderation.check", "everyone");
    server.grant("riverside", "moderation.report", "everyone");
    server.grant("riverside", "moderation.review", "role:admin");
    if !rules.is_empty() {
        let mut ada = server.signed_in("riverside", ADA);
        let saved = ada.post("/c/riverside/moderation/rules", rules);
        assert_eq!(saved.status, 303, "rules saved: {}", saved.body);
    }
    server
}

fn notifications_of(server: &Server, nickname: &str) -> i64 {
    server.count(&format!(
        "SELECT count(*) FROM notifications WHERE user_id = (SELECT id FROM users WHERE nickname = '{nickname}')"
    ))
}

/// The path of the conversation a POST redirected to.
fn conversation_path(location: Option<&str>) -> String {
    location.expect("a redirect").split('?').next().expect("path").to_owned()
}

#[test]
fn a_held_message_reaches_nobody_until_a_moderator_releases_it() {
    // The demo members joined today: a link from any of them is held (7 days by default).
    let server = moderated(&[]);
    let mut grace = server.signed_in("riverside", GRACE);
    let alan_ref = user(&server, "alan");
    let sent = start(&mut grace, &[&alan_ref], "Look at https://example.org/spring-fair please");
    assert_eq!(sent.status, 303, "{}", sent.body);
    let path = conversation_path(sent.location.as_deref());
    let own = grace.get(&path).body;
    assert!(own.contains("Held for review"), "the author sees it held: {own}");

    // Alan: nothing in the inbox, no badge, no notification, no email.
    let mut alan = server.signed_in("riverside", ALAN);
    let inbox = alan.get("/c/riverside/conversations").body;
    assert!(!inbox.contains("spring-fair"), "{inbox}");
    assert_eq!(alan.get(&path).status, 404, "not even the conversation");
    assert_eq!(crate::http::unread_badge(&alan.get("/c/riverside").body), None);
    assert_eq!(notifications_of(&server, "alan"), 0);
    assert_eq!(server.count("SELECT count(*) FROM email_outbox"), 0);

    // Ada, a moderator, sees it in the queue and releases it.
    let mut ada = server.signed_in("riverside", ADA);
    let queue = ada.get("/c/riverside/moderation").body;
    assert!(queue.contains("https://example.org/spring-fair"), "{queue}");
    let entry = server.count("SELECT id FROM moderation_entry WHERE kind = 'held'");
    let released = ada
        .post(&format!("/c/riverside/moderation/{entry}/decide"), &[("decision", "release"), ("reason", "")]);
    assert_eq!(released.status, 303, "{}", released.body);

    // After the commit, Conversations learns it and delivers it.
    eventually("Alan can read it", || alan.get(&path).status == 200);
    let page = alan.get(&path).body;
    assert!(page.contains("spring-fair"), "{page}");
    assert!(!page.contains("Held for review"), "{page}");
    eventually("Alan is notified", || notifications_of(&server, "alan") == 1);
    let told = server.count_text(
        "SELECT text FROM notifications WHERE user_id = (SELECT id FROM users WHERE nickname = 'grace')",
    );
    assert!(told.contains("approved"), "the author is told: {told}");
}

#[test]
fn a_refused_message_is_not_stored_and_its_author_sees_why_keeping_the_text() {
    let server =
        moderated(&[("words", "durian\nsecret plan"), ("word_action", "refuse"), ("new_member_days", "0")]);
    let mut grace = server.signed_in("riverside", GRACE);
    let alan_ref = user(&server, "alan");
    let before = server.count("SELECT count(*) FROM conversations_message");
    let refused = start(&mut grace, &[&alan_ref], "Bring the DURIAN, it is our secret plan");
    assert_eq!(refused.status, 200, "the form again: {}", refused.body);
    assert!(refused.body.contains("which this community does not allow"), "the reason: {}", refused.body);
    assert!(refused.body.contains("Bring the DURIAN, it is our secret plan"), "the text is kept");
    assert_eq!(server.count("SELECT count(*) FROM conversations_message"), before, "nothing stored");
    assert_eq!(server.count("SELECT count(*) FROM moderation_entry"), 0, "nothing queued");
    // A word inside another word is not a match.
    let fine = start(&mut grace, &[&alan_ref], "Durianless fruit salad tonight");
    assert_eq!(fine.status, 303, "{}", fine.body);
}

#[test]
fn a_report_reaches_the_queue_and_a_take_down_hides_the_message() {
    let server = moderated(&[("words", ""), ("word_action", "refuse"), ("new_member_days", "0")]);
    let mut grace = server.signed_in("riverside", GRACE);
    let alan_ref = user(&server, "alan");
    let sent = start(&mut grace, &[&alan_ref], "An unkind remark");
    assert_eq!(sent.status, 303, "{}", sent.body);
    let path = conversation_path(sent.location.as_deref());
    // Moderation's copy arrives after the commit.
    eventually("Moderation has its copy", || server.count("SELECT count(*) FROM moderation_message") == 1);

    let mut alan = server.signed_in("riverside", ALAN);
    let page = alan.get(&path).body;
    let report_link = page
        .split("href=\"")
        .find(|s| s.starts_with("/c/riverside/moderation/report?"))
        .and_then(|s| s.split('"').next())
        .expect("a Report link after the message")
        .replace("&amp;", "&");
    let form = alan.get(&report_link);
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("An unkind remark"), "{}", form.body);
    let message = server.count("SELECT message_id FROM moderation_message");
    let conversation = server.count("SELECT conversation_id FROM moderation_message");
    let filed = alan.post(
        "/c/riverside/moderation/report",
        &[("conversation", &conversation.to_string()), ("message", &message.to_string()), ("reason", "Rude")],
    );
    assert_eq!(filed.status, 303, "{}", filed.body);

    // Someone who cannot read the message cannot report it.
    let mut tim = server.signed_in("riverside", "tim@riverside.example");
    assert_eq!(tim.get(&report_link).status, 404);

    let mut ada = server.signed_in("riverside", ADA);
    let queue = ada.get("/c/riverside/moderation").body;
    assert!(queue.contains("An unkind remark") && queue.contains("Rude"), "{queue}");
    let entry = server.count("SELECT id FROM moderation_entry WHERE kind = 'report'");
    let taken = ada.post(
        &format!("/c/riverside/moderation/{entry}/decide"),
        &[("decision", "take_down"), ("reason", "Unkind")],
    );
    assert_eq!(taken.status, 303, "{}", taken.body);
    eventually("the message is taken down", || {
        alan.get(&path).body.contains("This message was removed by a moderator")
    });
    assert!(!alan.get(&path).body.contains("An unkind remark"));
}

#[test]
fn a_subscriber_that_traps_does_not_undo_the_message_and_is_tried_again() {
    let dir = tempfile::tempdir().expect("dir");
    let tail = "capabilities = [\"log\"]\n[[abilities]]\nname = \"trapper.on\"\nlabel = \"On\"\n\
                [[subscriptions]]\nevent = \"conversations.message_posted\"\nability = \"trapper.on\"\n";
    let trapper = write_behaviour_plugin(dir.path(), "trapper", tail, &Behaviour::Trap);
    let server = Server::custom(vec![conversations_manifest(), trapper], Clock::system(), |config| {
        config.plugins.events.retry_ms = 20;
        config.plugins.events.poll_ms = 20;
    });
    server.set_setting("riverside", "conversations.require_acceptance", "false");
    server.grant("riverside", "trapper.on", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    let alan_ref = user(&server, "alan");
    let sent = start(&mut grace, &[&alan_ref], "Still here after the trap");
    assert_eq!(sent.status, 303, "{}", sent.body);
    let path = conversation_path(sent.location.as_deref());
    eventually("the subscriber was tried twice", || {
        server.count("SELECT coalesce(max(attempts), 0) FROM event_deliveries WHERE subscriber = 'trapper'")
            >= 2
    });
    let mut alan = server.signed_in("riverside", ALAN);
    assert!(alan.get(&path).body.contains("Still here after the trap"));
}

#[test]
fn a_check_that_loops_is_stopped_at_conversations_budget_and_the_message_goes_through() {
    let dir = tempfile::tempdir().expect("dir");
    let tail = "capabilities = [\"log\", \"checks\"]\n[[abilities]]\nname = \"looper.on\"\nlabel = \"On\"\n\
                [[implements]]\npoint = \"conversations.check_message\"\nability = \"looper.on\"\n";
    let looper = write_behaviour_plugin(dir.path(), "looper", tail, &Behaviour::Loop);
    let server = Server::with_manifests(vec![conversations_manifest(), looper]);
    server.set_setting("riverside", "conversations.require_acceptance", "false");
    server.grant("riverside", "looper.on", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    let alan_ref = user(&server, "alan");
    let sent = start(&mut grace, &[&alan_ref], "Through, despite the loop");
    assert_eq!(sent.status, 303, "{}", sent.body);
    let path = conversation_path(sent.location.as_deref());
    let mut alan = server.signed_in("riverside", ALAN);
    assert!(alan.get(&path).body.contains("Through, despite the loop"));
    let error = server.count_text("SELECT last_error FROM plugin_health WHERE plugin = 'looper'");
    assert!(error.contains("50 ms"), "stopped at the check point's budget: {error}");

    let mut ada = server.signed_in("riverside", ADA);
    let admin = ada.get("/c/riverside/admin").body;
    assert!(admin.contains("if one fails or runs out of time, it is allowed (fail open)"), "{admin}");
}

#[test]
fn a_held_reply_in_a_delivered_conversation_is_released_in_place() {
    let server = moderated(&[]);
    server.set_setting("riverside", "conversations.require_acceptance", "false");
    // Alan (a link-free message) writes to Grace first; Grace's reply with a link is held.
    let mut alan = server.signed_in("riverside", ALAN);
    let grace_ref = user(&server, "grace");
    let sent = start(&mut alan, &[&grace_ref], "How was the fair?");
    assert_eq!(sent.status, 303, "{}", sent.body);
    let path = conversation_path(sent.location.as_deref());
    let mut grace = server.signed_in("riverside", GRACE);
    let held = grace.post(&path, &[("body", "Photos: https://example.org/fair-photos")]);
    assert_eq!(held.status, 303, "{}", held.body);
    assert!(!alan.get(&path).body.contains("fair-photos"), "held");
    let mut ada = server.signed_in("riverside", ADA);
    let entry = server.count("SELECT id FROM moderation_entry WHERE kind = 'held'");
    let released = ada
        .post(&format!("/c/riverside/moderation/{entry}/decide"), &[("decision", "release"), ("reason", "")]);
    assert_eq!(released.status, 303, "{}", released.body);
    eventually("Alan reads the released reply", || alan.get(&path).body.contains("fair-photos"));
}
