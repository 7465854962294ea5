//! Email and jobs: the invitation email at once, the digest job (one email per person for
//! all their unread conversations, never twice for a message), the `.eml` outbox default,
//! a real SMTP server (aiosmtpd) going down and up, and the scheduler's leases and
//! restarts. Time comes from a manual clock.

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
    let mut stmt = conn.prepare("SELECT to_address, subject FROM email_outbox ORDER BY id").expect("sql");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("rows").collect::<Result<_, _>>().expect("rows")
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
        .query_row("SELECT text_body, html_body FROM email_outbox", [], |r| Ok((r.get(0)?, r.get(1)?)))
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
        .query_row("SELECT text_body FROM email_outbox ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
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
