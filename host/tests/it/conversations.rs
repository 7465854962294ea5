//! Conversations through real HTTP with the real plugin: starting, invitations, replies,
//! limits, duplicates, blocks and preferences, groups, leave and mute, unread state, and
//! privacy.

use crate::http::{Client, Resp, Server};

const GRACE: &str = "grace@riverside.example";
const ALAN: &str = "alan@riverside.example";
const ADA: &str = "ada@riverside.example";
const TIM: &str = "tim@riverside.example";
const HEDY: &str = "hedy@riverside.example";

/// The id of the demo member or group `nickname` (the demo's nicknames differ across
/// its communities).
pub fn id_of(server: &Server, table: &str, nickname: &str) -> i64 {
    server.count(&format!("SELECT id FROM {table} WHERE nickname = '{nickname}'"))
}

/// `user:ID` of the demo member `nickname`.
pub fn user(server: &Server, nickname: &str) -> String {
    format!("user:{}", id_of(server, "users", nickname))
}

/// `group:ID` of the demo group `nickname`.
pub fn group(server: &Server, nickname: &str) -> String {
    format!("group:{}", id_of(server, "groups", nickname))
}

/// Starts a conversation from `client` to `to`; returns the response.
pub fn start(client: &mut Client, to: &[&str], body: &str) -> Resp {
    let mut form: Vec<(&str, &str)> = to.iter().map(|t| ("to", *t)).collect();
    form.push(("body", body));
    client.post("/c/riverside/conversations", &form)
}

fn badge(client: &mut Client) -> Option<String> {
    crate::http::unread_badge(&client.get("/c/riverside").body)
}

#[test]
fn a_conversation_from_invitation_to_reply() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let mut alan = server.signed_in("riverside", ALAN);
    let alan_id = user(&server, "alan");

    // The profile's Message button pre-fills the recipient.
    let compose = grace.get(&format!("/c/riverside/conversations/new?to={alan_id}"));
    assert!(compose.body.contains(&format!("value=\"{alan_id}\" checked")), "{}", compose.body);

    let path = start(&mut grace, &[&alan_id], "Hello Alan, see https://example.org").redirect_path();
    let page = grace.get(&path).body;
    assert!(
        page.contains("<a href=\"https://example.org\" rel=\"nofollow noopener noreferrer\""),
        "linkified: {page}"
    );
    assert!(page.contains("You can write again once someone accepts the invitation."));

    assert_eq!(badge(&mut alan).as_deref(), Some("1"), "the invitation counts as unread");
    let inbox = alan.get("/c/riverside/conversations").body;
    assert!(inbox.contains("Grace Hopper") && inbox.contains("Invitation"), "{inbox}");
    let invited = alan.get(&path).body;
    assert!(invited.contains("Hello Alan") && invited.contains("You are invited to this conversation"));
    assert_eq!(badge(&mut alan), None, "opening it marked it read");

    let early = alan.post(&path, &[("body", "too early")]);
    assert!(early.body.contains("Accept the invitation to reply."), "{}", early.body);
    assert!(early.body.contains("too early") || early.status == 200);

    assert_eq!(alan.post(&format!("{path}/invitation"), &[("answer", "accept")]).status, 303);
    let sent = alan.post(&path, &[("body", "Hi Grace!")]);
    assert_eq!(sent.status, 303);
    assert_eq!(badge(&mut alan), None, "his own message is not unread for him");
    assert_eq!(badge(&mut grace).as_deref(), Some("1"));
    let thread = grace.get(&path).body;
    assert!(thread.contains("Hi Grace!") && thread.contains("message is-mine"));
    assert_eq!(badge(&mut grace), None);
    assert_eq!(
        server.count("SELECT count(*) FROM notifications WHERE text LIKE 'Grace Hopper invited you%'"),
        1
    );
}

#[test]
fn message_length_is_counted_in_characters_after_trimming() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let to = [user(&server, "alan")];
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let empty = start(&mut grace, &to, "   \n  ");
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("Write a message before sending."));
    let long = format!("  {}  ", "é".repeat(1001));
    let refused = start(&mut grace, &to, &long);
    assert!(refused.body.contains("Messages can be at most 1000 characters; this one has 1001."));
    assert!(refused.body.contains(&"é".repeat(1001)), "the typed text is kept");
    assert_eq!(server.count("SELECT count(*) FROM conversations_message"), 0);
    assert_eq!(start(&mut grace, &to, "x").status, 303, "1 character is enough");
    let katherine = user(&server, "katherine");
    let path = start(&mut grace, &[&katherine], &format!(" {} ", "😀".repeat(1000))).redirect_path();
    assert_eq!(
        server.count("SELECT count(*) FROM conversations_message"),
        2,
        "1000 emoji are 1000 characters"
    );
    assert!(path.starts_with("/c/riverside/conversations/"));
}

#[test]
fn at_most_nine_others_and_the_same_people_reopen_the_same_conversation() {
    let server = Server::start();
    let mut ada = server.signed_in("riverside", ADA);
    let nicks =
        ["grace", "alan", "katherine", "tim", "margaret", "linus", "barbara", "edsger", "hedy", "dennis"];
    let all: Vec<String> = nicks.iter().map(|n| user(&server, n)).collect();
    let ten: Vec<&str> = all.iter().map(String::as_str).collect();
    let refused = start(&mut ada, &ten, "Board meeting");
    assert!(refused.body.contains("at most 9 participants besides you; you chose 10"), "{}", refused.body);
    let nine = &ten[..9];
    let first = start(&mut ada, nine, "Board meeting").redirect_path();
    let mut reversed = nine.to_vec();
    reversed.reverse();
    let again = start(&mut ada, &reversed, "Same people");
    assert_eq!(again.redirect_path(), first, "the same set opens the same conversation");
    assert_eq!(server.count("SELECT count(*) FROM conversations_conversation"), 1);
}

#[test]
fn a_decline_is_final_and_shown_to_the_others() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let mut alan = server.signed_in("riverside", ALAN);
    let path = start(&mut grace, &[&user(&server, "alan")], "Coffee?").redirect_path();
    assert_eq!(alan.post(&format!("{path}/invitation"), &[("answer", "decline")]).status, 303);
    assert!(!alan.get("/c/riverside/conversations").body.contains("Coffee?"), "gone from the inbox");
    assert_eq!(alan.post(&format!("{path}/invitation"), &[("answer", "accept")]).status, 409);
    let page = grace.get(&path).body;
    assert!(page.contains("Alan Turing · declined"), "{page}");
    assert!(page.contains("Nobody else is left in this conversation."));
    assert!(grace.post(&path, &[("body", "please?")]).body.contains("Nobody else is left"));
}

#[test]
fn blocks_and_the_no_direct_messages_preference_are_enforced() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let mut alan = server.signed_in("riverside", ALAN);
    let grace_num = id_of(&server, "users", "grace").to_string();
    assert_eq!(
        alan.post("/c/riverside/conversations/blocks", &[("user", &grace_num), ("action", "block")]).status,
        303
    );
    let profile = grace.get("/c/riverside/members/alan").body;
    assert!(
        profile.contains("disabled") && profile.contains("This participant does not accept direct messages."),
        "{profile}"
    );
    let refused = start(&mut grace, &[&user(&server, "alan")], "hello?");
    assert!(refused.body.contains("Alan Turing does not accept direct messages."), "{}", refused.body);
    assert!(refused.body.contains("hello?"), "what was typed is kept");
    assert_eq!(server.count("SELECT count(*) FROM conversations_conversation"), 0);

    // Hedy refuses direct messages in her preferences.
    let mut hedy = server.signed_in("riverside", HEDY);
    let r = hedy.post(
        "/c/riverside/settings/notifications",
        &[
            ("plugin", "conversations"),
            ("email_invitations", "on"),
            ("email_digest", "on"),
            ("in_app_notifications", "on"),
        ],
    );
    assert_eq!(r.status, 303);
    assert!(
        grace
            .get("/c/riverside/members/hedy")
            .body
            .contains("This participant does not accept direct messages.")
    );
    assert!(
        start(&mut grace, &[&user(&server, "hedy")], "hi").body.contains("does not accept direct messages")
    );
    assert!(
        !grace.get("/c/riverside/members/grace").body.contains("data-slot-key=\"message\""),
        "no button on one's own profile"
    );
}

#[test]
fn group_admins_read_and_reply_for_their_group() {
    let server = Server::start();
    let mut alan = server.signed_in("riverside", ALAN);
    let mut ada = server.signed_in("riverside", ADA);
    let mut tim = server.signed_in("riverside", TIM); // a plain member of the board
    let board = group(&server, "board");
    let path = start(&mut alan, &[&board], "A question for the board").redirect_path();

    let group_page = ada.get("/c/riverside/groups/board").body;
    assert!(group_page.contains("data-slot-key=\"group_inbox\""), "admins get the group inbox link");
    assert!(!tim.get("/c/riverside/groups/board").body.contains("data-slot-key=\"group_inbox\""));
    let inbox = ada.get(&format!("/c/riverside/conversations?as={board}")).body;
    assert!(inbox.contains("A question for the board"), "{inbox}");
    assert_eq!(tim.get(&path).status, 404, "a plain group member cannot read it");
    assert_eq!(tim.get(&format!("/c/riverside/conversations?as={board}")).status, 404);

    let as_board = format!("{path}?as={board}");
    assert!(ada.get(&as_board).body.contains("You are reading and writing for Association Board."));
    ada.post(&format!("{path}/invitation"), &[("as", &board), ("answer", "accept")]);
    assert_eq!(ada.post(&path, &[("as", &board), ("body", "The board will discuss it.")]).status, 303);
    let thread = alan.get(&path).body;
    assert!(
        thread.contains("The board will discuss it.") && thread.contains("for Association Board"),
        "{thread}"
    );
}

#[test]
fn leave_and_mute() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let mut alan = server.signed_in("riverside", ALAN);
    server.write_sql("UPDATE plugin_settings SET value = 'false'");
    let path = start(&mut grace, &[&user(&server, "alan")], "first").redirect_path();
    alan.post(&format!("{path}/invitation"), &[("answer", "accept")]);
    assert_eq!(alan.post(&format!("{path}/settings"), &[("action", "mute")]).status, 303);
    grace.post(&path, &[("body", "second")]);
    assert_eq!(badge(&mut alan), None, "a muted conversation does not count");
    assert!(alan.get("/c/riverside/conversations").body.contains("Muted"));
    assert_eq!(alan.post(&format!("{path}/settings"), &[("action", "leave")]).status, 303);
    assert!(!alan.get("/c/riverside/conversations").body.contains("second"));
    assert!(grace.get(&path).body.contains("Alan Turing · left"));
}

#[test]
fn only_participants_see_a_conversation_and_nobody_learns_it_exists() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let path = start(&mut grace, &[&user(&server, "alan")], "private").redirect_path();
    let missing = "/c/riverside/conversations/999999";

    let mut hedy = server.signed_in("riverside", HEDY);
    let (a, b) = (hedy.get(&path), hedy.get(missing));
    assert_eq!((a.status, b.status), (404, 404));
    assert_eq!(a.body, b.body, "the same page for an existing and a missing conversation");
    for route in [path.clone(), format!("{path}/invitation"), format!("{path}/settings")] {
        let r = hedy.post(&route, &[("body", "x"), ("answer", "accept"), ("action", "mute")]);
        assert_eq!(r.status, 404, "{route}");
    }
    assert_eq!(server.count("SELECT count(*) FROM conversations_message"), 1);

    let mut visitor = server.client();
    assert_eq!(visitor.get(&path).status, 303, "signed out: to the sign-in page");
    let mut marie = server.signed_in("hilltop", "marie@hilltop.example");
    assert_eq!(marie.get(&path).status, 303, "another community's member is signed out here");
    let hilltop_path = path.replace("/c/riverside/", "/c/hilltop/");
    assert_eq!(marie.get(&hilltop_path).status, 403, "without the ability, whatever the id");
    assert_eq!(marie.get("/c/hilltop/conversations/999999").status, 403);
}

#[test]
fn the_new_conversation_search_finds_members_and_groups() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let page = grace.get("/c/riverside/conversations/new?q=a").body;
    assert!(page.contains("Type at least 2 characters to search."));
    let page = grace.get("/c/riverside/conversations/new?q=bo").body;
    assert!(
        page.contains("Association Board") && page.contains("<span class=\"tag\">Group</span>"),
        "{page}"
    );
    let page = grace.get("/c/riverside/conversations/new?q=li").body;
    assert!(page.contains("Linus Torvalds") && page.contains("Barbara Liskov"));
}

#[test]
fn a_group_admin_starts_a_conversation_for_the_group() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE); // admin of the garden group
    let garden = group(&server, "garden");
    let compose = grace.get("/c/riverside/conversations/new").body;
    assert!(compose.contains(&format!("<option value=\"{garden}\">Community Garden</option>")), "{compose}");
    let r = grace.post(
        "/c/riverside/conversations",
        &[("as", &garden), ("to", &user(&server, "tim")), ("body", "Seeds for the board?")],
    );
    let path = r.redirect_path();
    assert!(r.location.as_deref().is_some_and(|l| l.ends_with(&format!("?as={garden}"))));
    let mut tim = server.signed_in("riverside", TIM);
    let page = tim.get(&path).body;
    assert!(
        page.contains("Community Garden") && page.contains("for Community Garden"),
        "written for the group: {page}"
    );
    // A plain member of the group cannot write as the group.
    let mut alan = server.signed_in("riverside", ALAN);
    let r = alan
        .post("/c/riverside/conversations", &[("as", &garden), ("to", &user(&server, "tim")), ("body", "x")]);
    assert_eq!(r.status, 404);
}

#[test]
fn long_threads_are_paginated_and_open_at_the_newest_message() {
    let server = Server::start();
    server.set_setting("riverside", "conversations.require_acceptance", "false");
    server.set_setting("riverside", "conversations.messages_per_minute", "100");
    let mut grace = server.signed_in("riverside", GRACE);
    let mut alan = server.signed_in("riverside", ALAN);
    let path = start(&mut grace, &[&user(&server, "alan")], "message 0").redirect_path();
    for i in 1..=54 {
        let who = if i % 2 == 0 { &mut grace } else { &mut alan };
        assert_eq!(who.post(&path, &[("body", &format!("message {i}"))]).status, 303, "no acceptance needed");
    }
    let page = grace.get(&path).body;
    assert!(
        page.contains("message 54") && page.contains("message 5<") && !page.contains("message 4<"),
        "the newest 50"
    );
    assert!(page.contains("id=\"latest\""));
    let older = page.split("href=\"").find(|s| s.contains("?before")).expect("an older link");
    let older = older.split('"').next().expect("href").replace("&#x3D;", "=").replace("&amp;", "&");
    let earlier = grace.get(&older).body;
    assert!(
        earlier.contains("message 0<") && earlier.contains("message 4<") && !earlier.contains("message 5<"),
        "{earlier}"
    );
    let inbox = alan.get("/c/riverside/conversations").body;
    assert!(inbox.contains("#latest"), "inbox links open at the newest message");
}

/// Grace and Alan signed in, in a conversation Grace started with `first` (no invitation
/// to accept first); its path.
fn grace_writes_to_alan(first: &str) -> (Server, Client, Client, String) {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let alan = server.signed_in("riverside", ALAN);
    server.set_setting("riverside", "conversations.require_acceptance", "false");
    let path = start(&mut grace, &[&user(&server, "alan")], first).redirect_path();
    (server, grace, alan, path)
}

#[test]
fn a_member_blocks_from_the_conversation_page() {
    let (server, mut grace, mut alan, path) = grace_writes_to_alan("spam spam");
    let page = alan.get(&path).body;
    assert!(page.contains("Block Grace Hopper"), "{page}");
    let grace_id = id_of(&server, "users", "grace").to_string();
    assert_eq!(
        alan.post("/c/riverside/conversations/blocks", &[("user", &grace_id), ("action", "block")]).status,
        303
    );
    let refused = grace.post(&path, &[("body", "more spam")]);
    assert!(refused.body.contains("Alan Turing does not accept direct messages."), "{}", refused.body);
    assert!(
        refused.body.contains("more spam") || !refused.body.contains("<textarea"),
        "no form, or the text kept"
    );
    assert!(alan.get(&path).body.contains("Unblock Grace Hopper"));
    assert_eq!(server.count("SELECT count(*) FROM conversations_message"), 1);
}

#[test]
fn the_compose_forms_show_the_communitys_code_of_conduct() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    assert!(
        grace.get("/c/riverside/conversations/new").body.contains("Follow this community's Code of Conduct.")
    );
    server.set_setting("riverside", "conversations.code_of_conduct_url", "https://riverside.example/conduct");
    let compose = grace.get("/c/riverside/conversations/new").body;
    assert!(
        compose
            .contains("<a href=\"https://riverside.example/conduct\" rel=\"noopener\">Code of Conduct</a>"),
        "{compose}"
    );
    let path = start(&mut grace, &[&user(&server, "alan")], "hello").redirect_path();
    let mut alan = server.signed_in("riverside", ALAN);
    alan.post(&format!("{path}/invitation"), &[("answer", "accept")]);
    assert!(alan.get(&path).body.contains("https://riverside.example/conduct"), "on the reply form too");
}

#[test]
fn a_reply_is_refused_once_the_other_member_stops_accepting_direct_messages() {
    let (server, mut grace, mut alan, path) = grace_writes_to_alan("Seeds?");
    assert_eq!(grace.post(&path, &[("body", "Tomatoes?")]).status, 303);
    let messages = "SELECT count(*) FROM conversations_message";
    assert_eq!(server.count(messages), 2);
    let bell = "SELECT count(*) FROM notifications WHERE read_at IS NULL";
    assert_eq!(server.count(bell), 2, "one notification a message while Alan wants them");

    // Alan keeps in-app notifications but no longer accepts direct messages.
    let r = alan.post(
        "/c/riverside/settings/notifications",
        &[
            ("plugin", "conversations"),
            ("email_invitations", "on"),
            ("email_digest", "on"),
            ("in_app_notifications", "on"),
        ],
    );
    assert_eq!(r.status, 303);
    let refused = grace.post(&path, &[("body", "Beans?")]);
    assert!(refused.body.contains("Alan Turing does not accept direct messages."), "{}", refused.body);
    assert_eq!(server.count(messages), 2, "the refused reply is not kept");
    assert_eq!(server.count(bell), 2);
}
