//! Live updates over real server-sent event streams: who hears what, only after commit,
//! the header fragment the script copies, and the stream's access rules.

use crate::http::{Client, Events, Server};
use std::time::Duration;

const ALAN: &str = "alan@riverside.example";
const GRACE: &str = "grace@riverside.example";
const TIM: &str = "tim@riverside.example";

/// Long enough for a loaded CI machine; an event normally arrives in milliseconds.
const WAIT: Duration = Duration::from_secs(10);
/// How long a stream must stay silent to count as "heard nothing".
const QUIET: Duration = Duration::from_millis(700);

fn user(server: &Server, nickname: &str) -> String {
    let id =
        server.count(&format!("SELECT id FROM users WHERE nickname = '{nickname}' AND community_id = 1"));
    format!("user:{id}")
}

fn next_update(events: &Events) -> Vec<String> {
    let (name, data) = events.next(WAIT).expect("an event arrives");
    assert_eq!(name, "update", "{data}");
    let update: plugin_api::live::LiveUpdate = serde_json::from_str(&data).expect("the data is a LiveUpdate");
    update.topics
}

fn header_badge(client: &mut Client) -> Option<String> {
    let header = client.get("/c/riverside/live/header");
    assert_eq!(header.status, 200);
    crate::http::unread_badge(&header.body)
}

#[test]
fn participants_hear_a_new_message_and_nobody_else_does() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let mut alan = server.signed_in("riverside", ALAN);
    let tim = server.signed_in("riverside", TIM);
    let alan_stream = alan.events("/c/riverside/events");
    let tim_stream = tim.events("/c/riverside/events");
    let grace_stream = grace.events("/c/riverside/events");

    let r = grace.post("/c/riverside/conversations", &[("to", &user(&server, "alan")), ("body", "Seeds?")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let path = r.location.expect("location");
    let id = path.rsplit('/').next().and_then(|s| s.split(['?', '#']).next()).expect("id").to_owned();
    let topic = format!("conversations:conversation/{id}");

    // Alan and Grace (her other pages) hear it, Tim does not.
    assert_eq!(next_update(&alan_stream), vec![topic.clone()]);
    assert_eq!(next_update(&grace_stream), vec![topic.clone()]);
    assert!(tim_stream.next(QUIET).is_none(), "a non-participant heard about the conversation");

    // The header the script copies in shows Alan's new badge and bell.
    assert_eq!(header_badge(&mut alan).as_deref(), Some("1"));
    assert!(alan.get("/c/riverside/live/header").body.contains("data-bell=\"1\""));

    // Reading the conversation refreshes the reader's other pages' header (no topic).
    let page = alan.get(&format!("/c/riverside/conversations/{id}"));
    assert!(page.body.contains(&format!("data-live=\"{topic}\"")), "the thread is a live region");
    assert_eq!(next_update(&alan_stream), Vec::<String>::new());
    assert_eq!(header_badge(&mut alan), None);

    // Accepting and replying reaches Grace again.
    let r = alan.post(&format!("/c/riverside/conversations/{id}/invitation"), &[("answer", "accept")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(next_update(&grace_stream), vec![topic.clone()]);
    let r = alan.post(&format!("/c/riverside/conversations/{id}"), &[("body", "Yes, tomatoes")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(next_update(&grace_stream), vec![topic]);
    assert!(tim_stream.next(QUIET).is_none());
    assert_eq!(server.portal.live.open_streams(), 3);
}

#[test]
fn updates_are_sent_only_after_commit() {
    let server = Server::start();
    server.grant("riverside", "notes.use", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    let stream = grace.events("/c/riverside/events");

    // The failing call published before it trapped: its update is dropped with its row.
    let r = grace.post("/c/riverside/notes-bad/trap-after-write", &[]);
    assert!(r.status >= 500, "{}", r.status);
    assert!(stream.next(QUIET).is_none(), "an update of a rolled-back call was sent");

    let r = grace.post("/c/riverside/notes", &[("body", "buy compost")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(next_update(&stream), vec!["notes:notes".to_owned()]);
}

#[test]
fn marking_notifications_read_refreshes_the_other_pages() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let mut alan = server.signed_in("riverside", ALAN);
    let r = grace.post("/c/riverside/conversations", &[("to", &user(&server, "alan")), ("body", "Hi")]);
    assert_eq!(r.status, 303);
    let stream = alan.events("/c/riverside/events");
    let r = alan.post("/c/riverside/notifications/read", &[("all", "1")]);
    assert_eq!(r.status, 303);
    assert_eq!(next_update(&stream), Vec::<String>::new());
    assert!(!alan.get("/c/riverside/live/header").body.contains("data-bell="));
}

#[test]
fn the_stream_is_for_signed_in_members_of_the_community() {
    let server = Server::start();
    let mut visitor = server.client();
    let r = visitor.get("/c/riverside/events");
    assert_eq!(r.status, 303);
    assert!(r.location.as_deref().is_some_and(|l| l.contains("/sign-in")), "{:?}", r.location);
    let r = visitor.get("/c/riverside/live/header");
    assert_eq!(r.status, 303);

    // A member of Hilltop signed in there is a visitor in Riverside.
    let mut marie = server.signed_in("hilltop", "marie@hilltop.example");
    assert_eq!(marie.get("/c/riverside/events").status, 303);

    // A member's streams are bounded (tabs and devices), and the stream is an event stream.
    let grace = server.signed_in("riverside", GRACE);
    let streams: Vec<Events> =
        (0..host::live::MAX_STREAMS_PER_MEMBER).map(|_| grace.events("/c/riverside/events")).collect();
    let mut more = server.client();
    more.cookies = grace.cookies.clone();
    let r = more.get("/c/riverside/events");
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    drop(streams);
}
