//! Remembered `Slots` answers (`slots_cache_seconds` in the manifest): reused page after
//! page, never hiding a write the portal committed, and at most the manifest's seconds
//! behind a write made outside the portal process; switched off by `[plugins] slot_cache`.

use crate::http::{Client, Server};
use host::clock::Clock;
use plugin_api::Timestamp;

const GRACE: &str = "grace@riverside.example";
const ALAN: &str = "alan@riverside.example";
const REFUSES: &str = "This participant does not accept direct messages.";

fn user_id(server: &Server, nickname: &str) -> i64 {
    server.count(&format!("SELECT id FROM users WHERE nickname = '{nickname}' AND community_id = 1"))
}

/// Alan refuses direct messages, written the way another process would: through a
/// connection of its own, which the portal does not see commit.
fn refuse_direct_messages_from_outside(server: &Server) {
    let outside = host::db::Db::connect(&server.portal.config.database()).expect("a database of its own");
    let conn = outside.writer().expect("own connection");
    conn.execute(
        "INSERT INTO preferences (user_id, plugin, key, value) VALUES (?1, 'conversations', 'accept_direct_messages', 0)",
        &[&user_id(server, "alan")],
    )
    .expect("write from outside");
}

fn message_refused(grace: &mut Client) -> bool {
    let page = grace.get("/c/riverside/members/alan");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-slot-key=\"message\""), "{}", page.body);
    page.body.contains(REFUSES)
}

#[test]
fn answers_are_reused_until_the_portal_commits_and_outside_writes_wait_at_most_the_manifests_seconds() {
    let clock = Clock::manual(Timestamp(1_700_000_000_000));
    let server = Server::with_clock(clock.clone(), |_| {});
    let mut grace = server.signed_in("riverside", GRACE);
    let mut alan = server.signed_in("riverside", ALAN);
    let stats = || server.portal.slot_cache.stats();

    // Page after page of the same member: one plugin call, then the remembered answer.
    assert_eq!(crate::http::unread_badge(&grace.get("/c/riverside").body), None);
    let before = stats();
    for _ in 0..3 {
        assert_eq!(crate::http::unread_badge(&grace.get("/c/riverside").body), None);
    }
    assert_eq!((stats().hits - before.hits, stats().misses - before.misses), (3, 0));

    // A message committed by the portal shows on Grace's very next page.
    let to = format!("user:{}", user_id(&server, "grace"));
    let sent = alan.post("/c/riverside/conversations", &[("to", &to), ("body", "Lunch?")]);
    assert_eq!(sent.status, 303);
    assert_eq!(crate::http::unread_badge(&grace.get("/c/riverside").body).as_deref(), Some("1"));
    assert_eq!(crate::http::unread_badge(&grace.get("/c/riverside").body).as_deref(), Some("1"));

    // Opening it, a GET that writes its read marker, asks afresh: the page that read it
    // shows no badge, although a remembered answer with the badge was there.
    let path = sent.redirect_path();
    let opened = grace.get(&path);
    assert!(opened.body.contains("Lunch?"), "{}", opened.body);
    assert_eq!(crate::http::unread_badge(&opened.body), None);
    assert_eq!(crate::http::unread_badge(&grace.get("/c/riverside").body), None);

    // A write from outside the process: seen once the 30 s of the manifest have passed.
    assert!(!message_refused(&mut grace));
    refuse_direct_messages_from_outside(&server);
    if crate::http::on_postgres() {
        // On PostgreSQL the other connection announces its commit like another portal
        // process: the portal forgets its answers as soon as it hears it, the clock unmoved.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !message_refused(&mut grace) {
            assert!(std::time::Instant::now() < deadline, "the outside commit was not heard");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        return;
    }
    assert!(!message_refused(&mut grace), "the remembered answer is still used");
    clock.advance(29_000);
    assert!(!message_refused(&mut grace));
    clock.advance(1_001);
    assert!(message_refused(&mut grace), "asked again after 30 s");
}

#[test]
fn with_the_cache_off_every_page_asks_the_plugin() {
    let server = Server::with_clock(Clock::system(), |config| config.plugins.slot_cache = false);
    let mut grace = server.signed_in("riverside", GRACE);
    assert!(!message_refused(&mut grace));
    refuse_direct_messages_from_outside(&server);
    assert!(message_refused(&mut grace));
    assert_eq!(server.portal.slot_cache.stats().hits, 0);
}
