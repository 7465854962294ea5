//! The Conversations rules a member and an operator meet from outside, through real HTTP
//! and the real plugin: abilities on both ends (requirements declared once, recipients who
//! may not use Conversations), refusals in conversations of every size, leaving means
//! leaving, one badge and one digest per person, the envelope, and what no route allows.

use crate::conversations::{group, id_of, start, user};
use crate::http::Server;
use host::clock::Clock;
use plugin_api::Timestamp;

const GRACE: &str = "grace@riverside.example";
const ALAN: &str = "alan@riverside.example";
const HEDY: &str = "hedy@riverside.example";
const TIM: &str = "tim@riverside.example";
const MARIE: &str = "marie@hilltop.example";

fn no_acceptance(server: &Server) {
    server.set_setting("riverside", "conversations.require_acceptance", "false");
}

/// Conversations in Riverside for Grace and Alan only (as one user grant each).
fn only_grace_and_alan_use_conversations(server: &Server) {
    server.write_sql(
        "DELETE FROM ability_grants WHERE ability = 'conversations.use' AND grantee_kind = 'everyone'
           AND community_id = (SELECT id FROM communities WHERE slug = 'riverside')",
    );
    server.grant("riverside", "conversations.use", "user:grace");
    server.grant("riverside", "conversations.use", "user:alan");
}

fn notifications_of(server: &Server, nickname: &str) -> i64 {
    server.count(&format!(
        "SELECT count(*) FROM notifications WHERE user_id = (SELECT id FROM users WHERE nickname = '{nickname}')"
    ))
}

/// `conversations.start` requires `conversations.use`: revoking `use` takes every entry
/// point away, the Message buttons included, and the admin page says why.
#[test]
fn revoking_use_takes_every_entry_point_away_even_with_start_granted() {
    let server = Server::start();
    for ability in ["conversations.use", "conversations.start"] {
        server.grant("hilltop", ability, "everyone");
    }
    let mut marie = server.signed_in("hilltop", MARIE);
    let profile = marie.get("/c/hilltop/members/rosalind").body;
    assert!(profile.contains("data-slot-key=\"message\""), "with both: {profile}");

    server.write_sql(
        "DELETE FROM ability_grants WHERE ability = 'conversations.use'
           AND community_id = (SELECT id FROM communities WHERE slug = 'hilltop')",
    );
    let profile = marie.get("/c/hilltop/members/rosalind").body;
    assert!(!profile.contains("data-slot-key=\"message\""), "no Message button: {profile}");
    assert!(!profile.contains("data-slot-key=\"inbox_icon\""), "no envelope");
    assert_eq!(marie.get("/c/hilltop/conversations/new").status, 403);
    let rosalind = user(&server, "rosalind");
    let refused = marie.post("/c/hilltop/conversations", &[("to", &rosalind), ("body", "hi")]);
    assert_eq!(refused.status, 403, "start alone has no effect");
    assert_eq!(server.count("SELECT count(*) FROM conversations_conversation"), 0);

    let mut nikola = server.signed_in("hilltop", "nikola@hilltop.example");
    let admin = nikola.get("/c/hilltop/admin").body;
    assert!(admin.contains("No effect yet: nobody here has <code>conversations.use</code>"), "{admin}");
    assert!(admin.contains("Works together with <code>conversations.use</code>"), "{admin}");
}

/// A member who may not use Conversations is not offered in search, has a disabled
/// Message button with the reason, is refused on create (the form kept), and is never
/// notified or emailed.
#[test]
fn a_member_who_may_not_use_conversations_is_not_offered_added_or_notified() {
    let server = Server::start();
    only_grace_and_alan_use_conversations(&server);
    let mut grace = server.signed_in("riverside", GRACE);

    let search = grace.get("/c/riverside/conversations/new?q=Tim").body;
    assert!(!search.contains(&user(&server, "tim")), "Tim is not offered: {search}");
    let search = grace.get("/c/riverside/conversations/new?q=Alan").body;
    assert!(search.contains(&user(&server, "alan")), "Alan is: {search}");

    let profile = grace.get("/c/riverside/members/tim").body;
    assert!(profile.contains("does not use conversations here"), "{profile}");
    assert!(profile.contains("disabled"), "{profile}");

    let refused = start(&mut grace, &[&user(&server, "tim")], "Coffee on Friday?");
    assert_eq!(refused.status, 200);
    assert!(
        refused.body.contains("Tim") && refused.body.contains("does not use conversations here"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("Coffee on Friday?"), "what was typed is kept");
    let refused = start(&mut grace, &[&user(&server, "alan"), &user(&server, "tim")], "All three of us?");
    assert!(refused.body.contains("does not use conversations here"), "in a group conversation too");
    assert_eq!(server.count("SELECT count(*) FROM conversations_conversation"), 0, "nothing stored");
    assert_eq!(notifications_of(&server, "tim"), 0);
    assert_eq!(server.count("SELECT count(*) FROM email_outbox WHERE to_address LIKE 'tim@%'"), 0);
}

/// Refusals hold in conversations of every size: nobody is added with someone who refuses
/// direct messages or who blocked them, and the refusal names whom.
#[test]
fn nobody_is_added_with_someone_who_refuses_direct_messages_or_blocked_them() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let mut hedy = server.signed_in("riverside", HEDY);
    // Hedy turns "Accept direct messages" off (the form sends only the boxes left on).
    let r = hedy.post(
        "/c/riverside/settings/notifications",
        &[("plugin", "conversations"), ("email_digest", "on"), ("in_app_notifications", "on")],
    );
    assert_eq!(r.status, 303);
    let refused = start(&mut grace, &[&user(&server, "alan"), &user(&server, "hedy")], "Garden meeting?");
    assert!(refused.body.contains("Hedy Lamarr does not accept direct messages."), "{}", refused.body);
    assert!(refused.body.contains("Garden meeting?"));

    // Alan blocked Tim: Grace cannot put them in one conversation.
    let mut alan = server.signed_in("riverside", ALAN);
    let tim_id = id_of(&server, "users", "tim").to_string();
    assert_eq!(
        alan.post("/c/riverside/conversations/blocks", &[("user", &tim_id), ("action", "block")]).status,
        303
    );
    let refused = start(&mut grace, &[&user(&server, "alan"), &user(&server, "tim")], "Tools?");
    assert!(refused.body.contains("Alan Turing does not accept direct messages."), "{}", refused.body);
    // Tim cannot add Alan either, whatever the size.
    let mut tim = server.signed_in("riverside", TIM);
    let refused = start(&mut tim, &[&user(&server, "alan"), &user(&server, "grace")], "Hello both");
    assert!(refused.body.contains("Alan Turing does not accept direct messages."), "{}", refused.body);
    assert_eq!(server.count("SELECT count(*) FROM conversations_conversation"), 0);
}

/// In a conversation with several others, a member blocked later may still write there;
/// the member who blocked them is not notified and sees the message folded away.
#[test]
fn a_blocked_members_messages_in_a_group_conversation_are_folded_and_not_notified() {
    let server = Server::start();
    no_acceptance(&server);
    let mut grace = server.signed_in("riverside", GRACE);
    let mut alan = server.signed_in("riverside", ALAN);
    let mut hedy = server.signed_in("riverside", HEDY);
    let path =
        start(&mut grace, &[&user(&server, "alan"), &user(&server, "hedy")], "Seeds swap?").redirect_path();
    let hedy_id = id_of(&server, "users", "hedy").to_string();
    assert_eq!(
        alan.post("/c/riverside/conversations/blocks", &[("user", &hedy_id), ("action", "block")]).status,
        303
    );
    let (alan_before, grace_before) = (notifications_of(&server, "alan"), notifications_of(&server, "grace"));
    assert_eq!(hedy.post(&path, &[("body", "I have tomato seeds")]).status, 303);
    assert_eq!(notifications_of(&server, "alan"), alan_before, "Alan blocked Hedy: not notified");
    assert_eq!(notifications_of(&server, "grace"), grace_before + 1, "Grace is");
    let page = alan.get(&path).body;
    assert!(page.contains("A message from a member you blocked"), "{page}");
    assert!(page.contains("<details class=\"blocked-message\">"), "folded, revealed on click: {page}");
    assert!(!grace.get(&path).body.contains("A message from a member you blocked"));
}

/// After leaving, the conversation is gone for the member (not found, no unread, no
/// notifications); writing to the same people again brings them back, and says so.
#[test]
fn leaving_means_leaving_and_coming_back_is_explicit() {
    let server = Server::start();
    no_acceptance(&server);
    let mut grace = server.signed_in("riverside", GRACE);
    let mut alan = server.signed_in("riverside", ALAN);
    let (alan_to, hedy_to, grace_to) = (user(&server, "alan"), user(&server, "hedy"), user(&server, "grace"));
    let path = start(&mut grace, &[&alan_to, &hedy_to], "Hi both").redirect_path();
    assert_eq!(alan.post(&format!("{path}/settings"), &[("action", "leave")]).status, 303);
    let before = notifications_of(&server, "alan");
    assert_eq!(grace.post(&path, &[("body", "Written after Alan left")]).status, 303);
    let gone = alan.get(&path);
    assert_eq!(gone.status, 404, "{}", gone.body);
    assert!(!gone.body.contains("Written after Alan left"));
    assert_eq!(notifications_of(&server, "alan"), before, "no notification after leaving");
    assert_eq!(crate::http::unread_badge(&alan.get("/c/riverside").body), None);
    assert!(
        !alan.get("/c/riverside/conversations").body.contains("Written after Alan left"),
        "not in his inbox"
    );
    assert_eq!(alan.post(&path, &[("body", "sneaking back")]).status, 404, "no reply by URL");

    // Grace writes to the same people again: Alan is invited back, not silently re-added.
    let again = start(&mut grace, &[&alan_to, &hedy_to], "Come back?");
    assert_eq!(again.status, 303, "{}", again.body);
    assert_eq!(again.redirect_path(), path);
    let invited = alan.get(&path);
    assert_eq!(invited.status, 200);
    assert!(invited.body.contains("You are invited to this conversation"), "{}", invited.body);

    // Alan leaves again, then writes to the same people himself: he rejoins, and is told so.
    assert_eq!(alan.post(&format!("{path}/invitation"), &[("answer", "accept")]).status, 303);
    assert_eq!(alan.post(&format!("{path}/settings"), &[("action", "leave")]).status, 303);
    let back = start(&mut alan, &[&grace_to, &hedy_to], "Sorry, I am back");
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.redirect_path(), path);
    let page = alan.get(&path).body;
    assert!(page.contains("you are back in it") && page.contains("Sorry, I am back"), "{page}");
}

/// The header's count includes the conversations of the groups a member administers; the
/// avatar menu shows their own and their groups' apart; the envelope turns gold.
#[test]
fn one_badge_with_group_inboxes_and_the_envelope() {
    let server = Server::start();
    no_acceptance(&server);
    let mut grace = server.signed_in("riverside", GRACE);
    let mut alan = server.signed_in("riverside", ALAN);
    let home = grace.get("/c/riverside").body;
    assert!(home.contains("data-slot-key=\"inbox_icon\""), "the envelope is there: {home}");
    assert!(!home.contains("header-icon has-unread"), "not gold with nothing unread");

    assert_eq!(start(&mut alan, &[&group(&server, "garden")], "Who waters on Sunday?").status, 303);
    let home = grace.get("/c/riverside").body;
    assert_eq!(crate::http::unread_badge(&home).as_deref(), Some("1"), "the group's conversation counts");
    assert!(home.contains("header-icon has-unread"), "gold: {home}");
    let menu_item = |html: &str, key: &str| {
        let start =
            html.find(&format!("data-slot-key=\"{key}\"")).unwrap_or_else(|| panic!("{key} in {html}"));
        html[start..start + html[start..].find("</a>").expect("end")].to_owned()
    };
    assert!(
        menu_item(&home, "group_inbox_menu").contains("class=\"badge\">1"),
        "{}",
        menu_item(&home, "group_inbox_menu")
    );
    assert!(!menu_item(&home, "inbox_menu").contains("badge"), "her own inbox has nothing unread");

    assert_eq!(start(&mut alan, &[&user(&server, "grace")], "And you?").status, 303);
    let home = grace.get("/c/riverside").body;
    assert_eq!(crate::http::unread_badge(&home).as_deref(), Some("2"));
    let inbox = grace.get("/c/riverside/conversations").body;
    assert!(inbox.contains("New conversation"), "the inbox's New conversation button");
    assert!(inbox.contains("Community Garden <span class=\"badge\">1"), "the group tab's count: {inbox}");
    // Alan administers no group: no group entry in his menu.
    assert!(!alan.get("/c/riverside").body.contains("data-slot-key=\"group_inbox_menu\""));
}

/// An operator's lower limit of participants holds, for members and for groups.
#[test]
fn an_operators_lower_participant_limit_holds_for_members_and_groups() {
    let server = Server::start();
    server.set_setting("riverside", "conversations.max_participants", "2");
    let mut grace = server.signed_in("riverside", GRACE);
    let three = [user(&server, "alan"), user(&server, "hedy"), user(&server, "tim")];
    let to: Vec<&str> = three.iter().map(String::as_str).collect();
    let refused = start(&mut grace, &to, "Too many");
    assert!(refused.body.contains("at most 2 participants besides you; you chose 3"), "{}", refused.body);
    let mut form: Vec<(&str, &str)> = to.iter().map(|t| ("to", *t)).collect();
    let garden = group(&server, "garden");
    form.push(("as", &garden));
    form.push(("body", "For the garden"));
    let refused = grace.post("/c/riverside/conversations", &form);
    assert!(refused.body.contains("at most 2 participants"), "as a group too: {}", refused.body);
    assert_eq!(server.count("SELECT count(*) FROM conversations_conversation"), 0);
    assert_eq!(start(&mut grace, &to[..2], "Two is fine").status, 303);
}

/// Messages cannot be edited and conversations cannot be deleted: no route does either.
#[test]
fn no_route_edits_or_deletes_a_message_or_a_conversation() {
    let server = Server::start();
    no_acceptance(&server);
    let mut grace = server.signed_in("riverside", GRACE);
    let path = start(&mut grace, &[&user(&server, "alan")], "Immutable").redirect_path();
    for (method_post, target, form) in [
        (true, format!("{path}/delete"), vec![]),
        (true, format!("{path}/messages/1"), vec![("body", "edited")]),
        (true, format!("{path}/settings"), vec![("action", "delete")]),
        (true, format!("{path}/settings"), vec![("action", "edit"), ("body", "edited")]),
        (true, "/c/riverside/conversations/1/messages/1/delete".to_owned(), vec![]),
        (false, format!("{path}/edit"), vec![]),
    ] {
        let r = if method_post { grace.post(&target, &form) } else { grace.get(&target) };
        assert!(matches!(r.status, 400 | 404 | 405), "{target}: {}", r.status);
    }
    assert_eq!(server.count("SELECT count(*) FROM conversations_conversation"), 1);
    assert_eq!(server.count("SELECT count(*) FROM conversations_message WHERE body = 'Immutable'"), 1);
    assert_eq!(server.count("SELECT count(*) FROM conversations_message"), 1);
}

/// One digest email per person and interval, covering their own conversations and those
/// of the groups they administer, the new ones first; none when nothing new arrived.
#[test]
fn one_digest_per_person_covers_their_groups() {
    let server = Server::with_clock(Clock::manual(Timestamp(1_795_000_000_000)), |c| {
        c.public_url = "https://portal.example".into()
    });
    no_acceptance(&server);
    let mut grace = server.signed_in("riverside", GRACE);
    let mut alan = server.signed_in("riverside", ALAN);
    let path = start(&mut alan, &[&user(&server, "grace")], "Personal").redirect_path();
    start(&mut alan, &[&group(&server, "garden")], "For the garden");
    // Both were emailed at once; the digest is about what came after.
    assert_eq!(alan.post(&path, &[("body", "Personal, again")]).status, 303);
    let garden_path = format!(
        "/c/riverside/conversations/{}",
        server.count("SELECT max(id) FROM conversations_conversation")
    );
    let mut alan2 = server.signed_in("riverside", ALAN);
    assert_eq!(alan2.post(&garden_path, &[("body", "Garden, again")]).status, 303);
    let digests = || {
        server.count("SELECT count(*) FROM email_outbox WHERE to_address = 'grace@riverside.example' AND subject LIKE '%unread messages%'")
    };
    server.portal.clock.advance(5 * 60_000 + 1);
    host::jobs::run_due(&server.portal, "test").expect("jobs");
    assert_eq!(digests(), 1, "ONE email for her own and her group's conversations");
    let html: String = server
        .portal
        .db
        .get()
        .expect("conn")
        .query_one(
            "SELECT html_body FROM email_outbox WHERE to_address = 'grace@riverside.example' AND subject LIKE '%unread%'",
            &[],
            |r| r.get(0),
        )
        .expect("digest");
    assert!(html.contains("for Community Garden"), "the group's conversation is in it: {html}");
    assert!(html.contains("Alan Turing"), "{html}");
    // Nothing new: no email at the next interval.
    server.portal.clock.advance(5 * 60_000 + 1);
    host::jobs::run_due(&server.portal, "test").expect("jobs");
    assert_eq!(digests(), 1);
    let _ = grace.get("/c/riverside");
}
