//! Email and jobs: the invitation email at once, the digest job (one email per person for
//! all their unread conversations, never twice for a message), the `.eml` outbox default,
//! a real SMTP server (aiosmtpd) going down and up, and the scheduler's leases and
//! restarts; the headers mail providers judge (Message-ID, Auto-Submitted, Precedence,
//! threading, RFC 8058 one-click unsubscribe, DKIM checked by dkimpy) as the SMTP server
//! receives them, and the unsubscribe link: exactly one member and kind, forged tokens
//! refused. Time comes from a manual clock.

use crate::http::{Client, Server};
use host::clock::Clock;
use host::email::{Transport, deliver_due};
use host::jobs::run_due;
use plugin_api::Timestamp;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

const GRACE: &str = "grace@riverside.example";
const ALAN: &str = "alan@riverside.example";
const MINUTE: i64 = 60_000;

fn server() -> Server {
    Server::with_clock(Clock::manual(Timestamp(1_795_000_000_000)), |c| {
        c.public_url = "https://portal.example".into()
    })
}

fn no_acceptance(server: &Server) {
    server.set_setting("riverside", "conversations.require_acceptance", "false");
}

fn user(server: &Server, nick: &str) -> String {
    format!("user:{}", server.count(&format!("SELECT id FROM users WHERE nickname = '{nick}'")))
}

fn start(client: &mut Client, to: &str, body: &str) -> String {
    let r = client.post("/c/riverside/conversations", &[("to", to), ("body", body)]);
    assert_eq!(r.status, 303, "{}", r.body);
    r.redirect_path()
}

/// `(to, subject)` of every queued email, oldest first.
fn outbox(server: &Server) -> Vec<(String, String)> {
    let conn = server.portal.db.get().expect("conn");
    conn.query_all("SELECT to_address, subject FROM email_outbox ORDER BY id", &[], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .expect("rows")
}

fn run_digest(server: &Server) -> usize {
    server.portal.clock.advance(5 * MINUTE + 1);
    run_due(&server.portal, "test")
        .expect("jobs")
        .iter()
        .filter(|r| r.job == "digest" && r.community == "riverside")
        .count()
}

#[test]
fn an_invitation_is_emailed_at_once_and_written_to_the_outbox_folder() {
    let server = server();
    let mut grace = server.signed_in("riverside", GRACE);
    let path = start(&mut grace, &user(&server, "alan"), "Join the river clean-up? <b>bring gloves</b>");
    assert_eq!(
        outbox(&server),
        vec![(ALAN.to_owned(), "Grace Hopper invited you to a conversation".to_owned())]
    );

    // The embedded default: no SMTP server configured means .eml files in <data_dir>/outbox.
    let folder = server.dir.path().join("outbox");
    assert_eq!(server.portal.config.outbox_dir(), folder);
    let transport = Transport::from_config(&server.portal.config.email, server.portal.config.outbox_dir())
        .expect("transport");
    assert!(matches!(transport, Transport::Files(ref dir) if *dir == folder));
    let report = deliver_due(&server.portal, &transport).expect("delivery");
    assert_eq!((report.sent, report.failed), (1, 0));
    let files: Vec<PathBuf> =
        std::fs::read_dir(&folder).expect("outbox dir").map(|e| e.expect("entry").path()).collect();
    assert_eq!(files.len(), 1);
    let eml = std::fs::read_to_string(&files[0]).expect("eml");
    assert!(eml.contains("To: alan@riverside.example"), "{eml}");
    assert!(eml.contains("Subject: Grace Hopper invited you to a conversation"));
    assert!(eml.contains("multipart/alternative") && eml.contains("text/plain") && eml.contains("text/html"));
    let link = format!("https://portal.example{path}");
    assert!(eml.contains(&link), "a working link back: {link}\n{eml}");
    assert!(eml.contains("https://portal.example/c/riverside/settings/notifications"), "an unsubscribe link");
    let (text, html): (String, String) = server
        .portal
        .db
        .get()
        .expect("conn")
        .query_one("SELECT text_body, html_body FROM email_outbox", &[], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("bodies");
    assert!(
        html.contains("&lt;b&gt;bring gloves&lt;/b&gt;") && !html.contains("<b>bring"),
        "escaped in HTML: {html}"
    );
    assert!(text.contains("<b>bring gloves</b>"), "as typed in plain text: {text}");
    assert_eq!(deliver_due(&server.portal, &transport).expect("again").sent, 0, "sent once");
}

#[test]
fn the_digest_sends_one_email_per_person_and_never_twice_for_a_message() {
    let server = server();
    no_acceptance(&server);
    let mut grace = server.signed_in("riverside", GRACE);
    let mut tim = server.signed_in("riverside", "tim@riverside.example");
    let alan = user(&server, "alan");
    let first = start(&mut grace, &alan, "first conversation");
    let second = start(&mut tim, &alan, "second conversation");
    assert_eq!(outbox(&server).len(), 2, "each new conversation emails Alan at once");
    grace.post(&first, &[("body", "more in the first")]);
    tim.post(&second, &[("body", "more in the second")]);
    tim.post(&second, &[("body", "and more")]);

    assert_eq!(run_digest(&server), 1);
    let emails = outbox(&server);
    assert_eq!(emails.len(), 3, "ONE digest for both conversations: {emails:?}");
    assert_eq!(
        emails[2],
        (ALAN.to_owned(), "2 conversations with unread messages in Riverside Neighbours".to_owned())
    );
    let html: String = server
        .portal
        .db
        .get()
        .expect("conn")
        .query_one("SELECT text_body FROM email_outbox ORDER BY id DESC LIMIT 1", &[], |r| r.get(0))
        .expect("body");
    assert!(
        html.contains("Grace Hopper: 1 new from Grace Hopper")
            && html.contains("Tim Berners-Lee: 2 new from Tim Berners-Lee"),
        "{html}"
    );

    assert_eq!(run_digest(&server), 1);
    assert_eq!(outbox(&server).len(), 3, "nothing new, no email");

    // Read before the job runs: not emailed.
    grace.post(&first, &[("body", "read this one")]);
    let mut alan_client = server.signed_in("riverside", ALAN);
    alan_client.get(&first);
    run_digest(&server);
    assert_eq!(outbox(&server).len(), 3, "a read conversation is not emailed");

    // Grace's own messages are not digested for her.
    assert!(outbox(&server).iter().all(|(to, _)| to == ALAN));
}

#[test]
fn opting_out_stops_conversation_emails_and_groups_go_to_their_admins() {
    let server = server();
    no_acceptance(&server);
    let mut alan_client = server.signed_in("riverside", ALAN);
    alan_client.post(
        "/c/riverside/settings/notifications",
        &[("plugin", "conversations"), ("in_app_notifications", "on"), ("accept_direct_messages", "on")],
    );
    let mut grace = server.signed_in("riverside", GRACE);
    let path = start(&mut grace, &user(&server, "alan"), "hello");
    grace.post(&path, &[("body", "again")]);
    run_digest(&server);
    assert!(outbox(&server).is_empty(), "Alan opted out: {:?}", outbox(&server));

    let board = format!("group:{}", server.count("SELECT id FROM groups WHERE nickname = 'board'"));
    start(&mut grace, &board, "For the board");
    let to: Vec<String> = outbox(&server).into_iter().map(|(to, _)| to).collect();
    assert_eq!(to, vec!["ada@riverside.example", "barbara@riverside.example"], "the board's admins, not Tim");
}

#[test]
fn the_scheduler_runs_a_job_once_per_interval_survives_restarts_and_honours_leases() {
    let server = server();
    let portal = &server.portal;
    assert_eq!(run_due(portal, "a").expect("jobs").len(), 1, "the digest of riverside (hilltop has it off)");
    assert!(run_due(portal, "a").expect("jobs").is_empty(), "not due again yet");
    portal.clock.advance(3 * MINUTE);
    assert!(run_due(portal, "b").expect("jobs").is_empty());
    portal.clock.advance(2 * MINUTE);
    assert_eq!(run_due(portal, "b").expect("jobs").len(), 1, "due after digest_interval (5m)");

    // Down for an hour: one run when back, not twelve.
    portal.clock.advance(60 * MINUTE);
    assert_eq!(run_due(portal, "c").expect("jobs").len(), 1);
    assert!(run_due(portal, "c").expect("jobs").is_empty());
    assert_eq!(server.count("SELECT count(*) FROM job_runs WHERE ok = 1"), 3);

    // A live lease held by another process is respected.
    portal.clock.advance(6 * MINUTE);
    let other = portal.db.write().expect("the turn to write");
    let now = portal.clock.now();
    assert!(
        host::db::jobs::acquire(
            &other,
            host::db::jobs::JobKey {
                plugin: "conversations",
                job: "digest",
                community: plugin_api::CommunityId(1)
            },
            "other",
            now,
            300_000,
            300_000
        )
        .expect("lease")
    );
    other.commit().expect("committed");
    assert!(run_due(portal, "d").expect("jobs").is_empty(), "someone else holds it");
    portal.clock.advance(301_000);
    assert_eq!(run_due(portal, "d").expect("jobs").len(), 1, "an expired lease is taken over");
}

/// A real SMTP server process (aiosmtpd from PyPI), storing mail in a Maildir.
struct Smtp {
    child: Child,
    maildir: PathBuf,
}

impl Smtp {
    fn start(port: u16, dir: &Path) -> Smtp {
        let ready =
            Command::new("python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
        if !ready {
            let ok = Command::new("python3")
                .args(["-m", "pip", "install", "-q", "aiosmtpd"])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "could not install aiosmtpd with pip");
        }
        let maildir = dir.join("maildir");
        let mut child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .spawn()
            .expect("aiosmtpd starts");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Smtp { child, maildir };
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not listen on {port}");
    }

    fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return Vec::new() };
        entries.map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("mail")).collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[test]
fn smtp_down_then_up_delivers_every_email_exactly_once() {
    let port = free_port();
    let server = Server::with_clock(Clock::manual(Timestamp(1_795_000_000_000)), |c| {
        c.email.smtp = Some(format!("smtp://127.0.0.1:{port}"));
    });
    let transport =
        Transport::from_config(&server.portal.config.email, server.portal.config.outbox_dir()).expect("smtp");
    let mut grace = server.signed_in("riverside", GRACE);
    start(&mut grace, &user(&server, "alan"), "while the mail server is down");
    start(&mut grace, &user(&server, "tim"), "this one too");

    let down = deliver_due(&server.portal, &transport).expect("pass");
    assert_eq!((down.sent, down.failed), (0, 2), "SMTP is down: nothing sent, nothing lost");
    assert_eq!(server.count("SELECT count(*) FROM email_outbox WHERE sent_at IS NULL AND attempts = 1"), 2);

    let smtp = Smtp::start(port, server.dir.path());
    assert_eq!(deliver_due(&server.portal, &transport).expect("pass").sent, 0, "waits for the backoff");
    server.portal.clock.advance(31_000);
    assert_eq!(deliver_due(&server.portal, &transport).expect("pass").sent, 2);
    server.portal.clock.advance(3_600_000);
    assert_eq!(deliver_due(&server.portal, &transport).expect("pass").sent, 0);
    let mail = smtp.messages();
    assert_eq!(mail.len(), 2, "each email arrived once");
    assert!(
        mail.iter().any(|m| m.contains("To: alan@riverside.example"))
            && mail.iter().any(|m| m.contains("To: tim@riverside.example"))
    );
}

#[test]
fn a_restarted_portal_does_not_send_the_digest_again() {
    let clock = Clock::manual(Timestamp(1_795_000_000_000));
    let server = Server::with_clock(clock.clone(), |_| {});
    no_acceptance(&server);
    let mut grace = server.signed_in("riverside", GRACE);
    let path = start(&mut grace, &user(&server, "alan"), "hello");
    grace.post(&path, &[("body", "unread news")]);
    assert_eq!(run_digest(&server), 1);
    let sent = outbox(&server).len();
    assert_eq!(sent, 2, "the first message by email at once, the reply in the digest");

    // A second portal process on the same database and data directory, started later.
    clock.advance(MINUTE);
    let restarted =
        host::portal::Portal::start(server.portal.config.clone(), clock.clone()).expect("restart");
    assert!(
        run_due(&restarted, "restarted").expect("jobs").is_empty(),
        "not due: the last run is remembered"
    );
    clock.advance(5 * MINUTE);
    assert_eq!(run_due(&restarted, "restarted").expect("jobs").len(), 1, "due again one interval later");
    assert_eq!(outbox(&server).len(), sent, "and nothing new to send");
}

/// The headers of a raw message, names in lower case, folded lines unfolded, in order.
fn headers_of(raw: &str) -> Vec<(String, String)> {
    let head = raw.replace("\r\n", "\n");
    let head = head.split("\n\n").next().unwrap_or_default();
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            let last = out.last_mut().expect("a continuation follows a header");
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    out
}

/// The one value of header `name`; fails if it is missing or repeated.
fn one<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    let values: Vec<&str> = headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
    assert_eq!(values.len(), 1, "exactly one `{name}` header: {headers:?}");
    values[0]
}

fn has(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n == name)
}

/// A well-formed Message-ID under the portal's host name.
fn assert_message_id(id: &str) {
    let inner = id.strip_prefix('<').and_then(|i| i.strip_suffix("@portal.example>"));
    assert!(
        inner.is_some_and(|i| i.len() == 32 && i.bytes().all(|b| b.is_ascii_hexdigit())),
        "Message-ID under portal.example: {id}"
    );
}

/// The path of an absolute link to the portal (`https://portal.example/c/...` -> `/c/...`).
fn local(url: &str) -> &str {
    url.strip_prefix("https://portal.example").expect("a link to the portal")
}

/// `(plugin, key, value)` of every stored preference, to compare before and after.
fn preferences(server: &Server) -> Vec<(i64, String, String, i64)> {
    let conn = server.portal.db.get().expect("conn");
    conn.query_all("SELECT user_id, plugin, key, value FROM preferences ORDER BY 1, 2, 3", &[], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .expect("rows")
}

fn unsubscribe_url_of_last(server: &Server) -> String {
    server
        .portal
        .db
        .get()
        .expect("conn")
        .query_one("SELECT unsubscribe_url FROM email_outbox ORDER BY id DESC LIMIT 1", &[], |r| r.get(0))
        .expect("an unsubscribe link")
}

fn smtp_server(port: u16, configure: impl FnOnce(&mut host::config::Config)) -> (Server, Transport) {
    let server = Server::with_clock(Clock::manual(Timestamp(1_795_000_000_000)), |c| {
        c.public_url = "https://portal.example".into();
        c.email.from = "Riverside portal <portal@portal.example>".into();
        c.email.smtp = Some(format!("smtp://127.0.0.1:{port}"));
        configure(c);
    });
    let transport =
        Transport::from_config(&server.portal.config.email, server.portal.config.outbox_dir()).expect("smtp");
    (server, transport)
}

#[test]
fn emails_carry_message_id_threading_and_one_click_unsubscribe_through_smtp() {
    let port = free_port();
    let (server, transport) = smtp_server(port, |_| {});
    let smtp = Smtp::start(port, server.dir.path());
    no_acceptance(&server);
    let alan = user(&server, "alan");
    let mut grace = server.signed_in("riverside", GRACE);
    let path = start(&mut grace, &alan, "The river clean-up is on Saturday");
    assert_eq!(deliver_due(&server.portal, &transport).expect("pass").sent, 1);
    grace.post(&path, &[("body", "Bring gloves")]);
    assert_eq!(run_digest(&server), 1);
    assert_eq!(deliver_due(&server.portal, &transport).expect("pass").sent, 1);

    let mut mail = smtp.messages();
    mail.sort_by_key(|m| m.contains("Precedence: bulk"));
    let [invitation, digest] = mail.as_slice() else { panic!("two emails: {mail:?}") };
    let (inv, dig) = (headers_of(invitation), headers_of(digest));

    // Both: what mail providers look for, and no way for a reply to reach a person.
    for (h, raw) in [(&inv, invitation), (&dig, digest)] {
        assert_message_id(one(h, "message-id"));
        assert_eq!(one(h, "auto-submitted"), "auto-generated");
        assert_eq!(one(h, "from"), "\"Riverside portal\" <portal@portal.example>");
        assert_eq!(one(h, "to"), ALAN);
        assert!(!has(h, "reply-to"), "no Reply-To: {h:?}");
        assert_eq!(one(h, "list-unsubscribe-post"), "List-Unsubscribe=One-Click");
        let link = one(h, "list-unsubscribe");
        let url = link.strip_prefix('<').and_then(|l| l.strip_suffix('>')).expect("<url>");
        assert!(url.starts_with("https://portal.example/c/riverside/settings/unsubscribe/"), "{url}");
        assert!(raw.contains(url), "the footer links the same one-click page: {raw}");
        assert!(raw.contains("replies to it are not read"), "{raw}");
    }
    assert_ne!(one(&inv, "message-id"), one(&dig, "message-id"));
    let (inv_link, dig_link) = (one(&inv, "list-unsubscribe"), one(&dig, "list-unsubscribe"));
    assert!(inv_link.contains(".conversations.email_invitations."), "{inv_link}");
    assert!(dig_link.contains(".conversations.email_digest."), "{dig_link}");
    // Only the digest is bulk; it belongs to the conversation's thread.
    assert!(!has(&inv, "precedence") && !has(&inv, "in-reply-to") && !has(&inv, "references"));
    assert_eq!(one(&dig, "precedence"), "bulk");
    assert_eq!(one(&dig, "in-reply-to"), one(&inv, "message-id"));
    assert_eq!(one(&dig, "references"), one(&inv, "message-id"));

    // One click, as a mail provider sends it: a POST with no session and no CSRF token.
    let before = preferences(&server);
    let dig_url = dig_link.trim_start_matches('<').trim_end_matches('>');
    let mut provider = server.client();
    let boundary = "----provider";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--{boundary}--\r\n"
    );
    let r = provider.post_bytes(
        local(dig_url),
        &format!("multipart/form-data; boundary={boundary}"),
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("You are unsubscribed") && r.body.contains("Alan Turing"), "{}", r.body);
    let alan_id: i64 = alan.trim_start_matches("user:").parse().expect("id");
    let mut expected = before.clone();
    expected.push((alan_id, "conversations".into(), "email_digest".into(), 0));
    expected.sort();
    assert_eq!(preferences(&server), expected, "exactly Alan's digest, nothing else");

    // His Preferences page shows it: digest off, invitations on.
    let mut alan_client = server.signed_in("riverside", ALAN);
    let page = alan_client.get("/c/riverside/settings/notifications").body;
    assert!(page.contains("<input type=\"checkbox\" name=\"email_digest\"> "), "{page}");
    assert!(page.contains("<input type=\"checkbox\" name=\"email_invitations\" checked>"), "{page}");

    // No digest after unsubscribing; invitations still come.
    let queued = outbox(&server).len();
    grace.post(&path, &[("body", "Do not forget the bags")]);
    run_digest(&server);
    assert_eq!(outbox(&server).len(), queued, "no digest for Alan: {:?}", outbox(&server));
    let mut tim = server.signed_in("riverside", "tim@riverside.example");
    start(&mut tim, &alan, "Are you coming on Saturday?");
    assert_eq!(outbox(&server).len(), queued + 1, "an invitation is still sent");
    assert_eq!(deliver_due(&server.portal, &transport).expect("pass").sent, 1);
    assert_eq!(smtp.messages().len(), 3);
}

#[test]
fn a_tampered_or_foreign_unsubscribe_token_is_refused_and_changes_nothing() {
    let server = server();
    let mut grace = server.signed_in("riverside", GRACE);
    start(&mut grace, &user(&server, "alan"), "hello");
    let url = unsubscribe_url_of_last(&server);
    let token = url.rsplit('/').next().expect("token").to_owned();
    let (payload, mac) = token.rsplit_once('.').expect("payload.mac");
    let alan_id = user(&server, "alan").trim_start_matches("user:").to_owned();
    let tim_id = user(&server, "tim").trim_start_matches("user:").to_owned();
    assert!(payload.starts_with(&format!("1.{alan_id}.conversations.email_invitations")), "{payload}");

    // Another portal (its own key in its own data directory) signs the same names otherwise.
    let other = self::server();
    let mut someone = other.signed_in("riverside", GRACE);
    start(&mut someone, &user(&other, "alan"), "hello from elsewhere");
    let foreign = unsubscribe_url_of_last(&other).rsplit('/').next().expect("token").to_owned();
    assert_ne!(foreign, token, "each portal has its own key");

    let flipped = {
        let mut m = mac.to_owned().into_bytes();
        m[0] = if m[0] == b'0' { b'1' } else { b'0' };
        String::from_utf8(m).expect("hex")
    };
    let forged = [
        format!("{}.{mac}", payload.replacen(&format!(".{alan_id}."), &format!(".{tim_id}."), 1)),
        format!("{}.{mac}", payload.replace("email_invitations", "email_digest")),
        format!("{}.{mac}", payload.replace("email_invitations", "accept_direct_messages")),
        format!("{}.{mac}", payload.replacen("1.", "2.", 1)),
        format!("{payload}.{flipped}"),
        format!("{payload}.{}", &mac[..mac.len() - 2]),
        payload.to_owned(),
        foreign,
        "x".into(),
    ];
    let before = preferences(&server);
    let mut visitor = server.client();
    for bad in &forged {
        let path = format!("/c/riverside/settings/unsubscribe/{bad}");
        let get = visitor.get(&path);
        assert_eq!(get.status, 404, "GET {bad}: {}", get.body);
        assert!(get.body.contains("This unsubscribe link is not valid"), "{}", get.body);
        let post = visitor.post_raw(&path, &[("List-Unsubscribe", "One-Click")]);
        assert_eq!(post.status, 404, "POST {bad}");
    }
    // A valid token in another community's address is refused too.
    let elsewhere = visitor.post_raw(&format!("/c/hilltop/settings/unsubscribe/{token}"), &[]);
    assert_eq!(elsewhere.status, 404);
    assert_eq!(preferences(&server), before, "nothing changed");

    // The real link: GET only asks (one button), POST unsubscribes; a second POST is fine.
    let path = local(&url).to_owned();
    let get = visitor.get(&path);
    assert_eq!(get.status, 200);
    assert!(
        get.body.contains("<button type=\"submit\" class=\"button\">Unsubscribe</button>"),
        "{}",
        get.body
    );
    assert!(get.body.contains(&format!("action=\"{path}\"")), "{}", get.body);
    assert_eq!(preferences(&server), before, "a GET changes nothing (link scanners open links)");
    assert_eq!(visitor.post_raw(&path, &[("List-Unsubscribe", "One-Click")]).status, 200);
    assert_eq!(visitor.post_raw(&path, &[]).status, 200, "again: still unsubscribed");
    assert_eq!(preferences(&server).len(), before.len() + 1);
    assert_eq!(
        server.count(&format!(
            "SELECT count(*) FROM preferences WHERE user_id = {alan_id} AND key = 'email_invitations' AND value = 0"
        )),
        1
    );
}

#[test]
fn a_digest_queued_before_unsubscribing_is_withdrawn_not_sent() {
    let server = server();
    no_acceptance(&server);
    let mut grace = server.signed_in("riverside", GRACE);
    let path = start(&mut grace, &user(&server, "alan"), "hello");
    grace.post(&path, &[("body", "unread news")]);
    assert_eq!(run_digest(&server), 1);
    let url = unsubscribe_url_of_last(&server);
    assert!(url.contains(".email_digest."), "{url}");
    let transport = Transport::Files(server.dir.path().join("outbox"));
    // Alan unsubscribes from digests (the link of an earlier digest is the same) while this
    // one waits in the outbox with the invitation.
    assert_eq!(server.client().post_raw(local(&url), &[]).status, 200);
    let report = deliver_due(&server.portal, &transport).expect("pass");
    assert_eq!((report.sent, report.withdrawn), (1, 1), "the invitation goes, the digest does not");
    assert_eq!(server.count("SELECT count(*) FROM email_outbox WHERE withdrawn_at IS NOT NULL"), 1);
    assert_eq!(deliver_due(&server.portal, &transport).expect("again"), Default::default());
}

/// DKIM: with `[email.dkim]`, what the SMTP server receives carries a signature that
/// dkimpy verifies against the public key, covering both List-Unsubscribe headers.
#[test]
fn emails_are_dkim_signed_when_a_key_is_configured() {
    let dir = tempfile::tempdir().expect("dir");
    let key = dir.path().join("dkim.pem");
    let ok = Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "openssl makes an RSA key");
    let public = Command::new("openssl")
        .args(["rsa", "-pubout", "-in"])
        .arg(&key)
        .output()
        .expect("openssl rsa -pubout");
    let public: String =
        String::from_utf8_lossy(&public.stdout).lines().filter(|l| !l.starts_with("-----")).collect();
    let port = free_port();
    let (server, transport) = smtp_server(port, |c| {
        c.email.dkim = Some(host::config::DkimConfig {
            domain: "portal.example".into(),
            selector: "portal".into(),
            private_key: key.clone(),
            algorithm: host::config::DkimAlgorithm::Rsa,
        });
    });
    let smtp = Smtp::start(port, server.dir.path());
    let mut grace = server.signed_in("riverside", GRACE);
    start(&mut grace, &user(&server, "alan"), "signed, sealed, delivered");
    assert_eq!(deliver_due(&server.portal, &transport).expect("pass").sent, 1);
    let mail = smtp.messages();
    let raw = mail.first().expect("one email");
    let headers = headers_of(raw);
    let signature = one(&headers, "dkim-signature");
    for tag in ["d=portal.example", "s=portal", "a=rsa-sha256"] {
        assert!(signature.contains(tag), "{tag}: {signature}");
    }
    let signed =
        signature.split("h=").nth(1).expect("h=").split(';').next().expect("list").to_ascii_lowercase();
    assert!(signed.contains("list-unsubscribe") && signed.contains("list-unsubscribe-post"), "{signed}");

    // dkimpy checks it, with the public key in place of a DNS answer.
    ensure_python_module("dkim", "dkimpy");
    let file = dir.path().join("mail.eml");
    std::fs::write(&file, raw).expect("write");
    let check = |path: &Path| {
        let script = format!(
            "import dkim,sys\nmsg=open(sys.argv[1],'rb').read()\n\
             txt=b'v=DKIM1; k=rsa; p={public}'\n\
             print(dkim.verify(msg, dnsfunc=lambda name, timeout=5: txt if name.rstrip(b'.') == b'portal._domainkey.portal.example' else None))"
        );
        let out = Command::new("python3").args(["-c", &script]).arg(path).output().expect("python3");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(check(&file), "True", "dkimpy verifies the signature");
    // A changed List-Unsubscribe breaks it.
    let tampered = raw.replacen(
        "List-Unsubscribe: <https://portal.example",
        "List-Unsubscribe: <https://evil.example",
        1,
    );
    assert_ne!(&tampered, raw);
    std::fs::write(&file, tampered).expect("write");
    assert_eq!(check(&file), "False");
}

/// Installs a Python module with pip when it is missing (as for aiosmtpd).
fn ensure_python_module(module: &str, package: &str) {
    let ready =
        Command::new("python3").args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
    if !ready {
        let ok = Command::new("python3")
            .args(["-m", "pip", "install", "-q", package])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "could not install {package} with pip");
    }
}
