//! In-app notifications: the bell's count, the notifications page with links back to the
//! conversation, marking one or all read, and the in-app preference.

use crate::http::Server;

const GRACE: &str = "grace@riverside.example";
const ALAN: &str = "alan@riverside.example";
const HEDY: &str = "hedy@riverside.example";

fn alan(server: &Server) -> String {
    format!("user:{}", server.count("SELECT id FROM users WHERE nickname = 'alan'"))
}

#[test]
fn an_invitation_rings_the_bell_and_links_back_to_the_conversation() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let mut alan_client = server.signed_in("riverside", ALAN);
    assert!(!alan_client.get("/c/riverside").body.contains("data-bell"), "no bell badge yet");
    let r = grace.post("/c/riverside/conversations", &[("to", &alan(&server)), ("body", "Hello")]);
    let path = r.location.expect("conversation");
    let home = alan_client.get("/c/riverside").body;
    assert!(home.contains("class=\"bell has-unread\"") && home.contains("data-bell=\"1\""), "{home}");
    let page = alan_client.get("/c/riverside/notifications").body;
    assert!(page.contains("Grace Hopper invited you to a conversation"), "{page}");
    assert!(page.contains(&format!("href=\"{path}\"")), "links back to the conversation: {page}");

    let id = server.count("SELECT id FROM notifications ORDER BY id DESC LIMIT 1").to_string();
    let mut hedy = server.signed_in("riverside", HEDY);
    assert_eq!(hedy.post("/c/riverside/notifications/read", &[("id", &id)]).status, 404, "not hers");
    assert_eq!(alan_client.post("/c/riverside/notifications/read", &[("id", &id)]).status, 303);
    assert!(!alan_client.get("/c/riverside").body.contains("data-bell"), "read: the bell is quiet");
}

#[test]
fn mark_all_read_and_the_in_app_preference() {
    let server = Server::start();
    server.set_setting("riverside", "conversations.require_acceptance", "false");
    let mut grace = server.signed_in("riverside", GRACE);
    let mut alan_client = server.signed_in("riverside", ALAN);
    let path = grace
        .post("/c/riverside/conversations", &[("to", &alan(&server)), ("body", "one")])
        .location
        .expect("path");
    grace.post(&path, &[("body", "two")]);
    assert!(alan_client.get("/c/riverside").body.contains("data-bell=\"2\""));
    assert_eq!(alan_client.post("/c/riverside/notifications/read", &[("all", "1")]).status, 303);
    assert!(
        alan_client.get("/c/riverside/notifications").body.contains("All notifications are marked read.")
    );
    assert!(!alan_client.get("/c/riverside").body.contains("data-bell"));

    // Alan turns in-app notifications off: nothing more arrives.
    alan_client.post(
        "/c/riverside/settings/notifications",
        &[
            ("plugin", "conversations"),
            ("email_invitations", "on"),
            ("email_digest", "on"),
            ("accept_direct_messages", "on"),
        ],
    );
    grace.post(&path, &[("body", "three")]);
    assert_eq!(server.count("SELECT count(*) FROM notifications WHERE read_at IS NULL"), 0);
}
