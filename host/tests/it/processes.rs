//! Several `portal serve` processes on one PostgreSQL database, as an operator runs them
//! behind a proxy: a message sent through one process reaches a member's stream served by
//! another, a grant made through one shows at once on the other, sign-in limits hold
//! across them, and SIGKILL of one while members send through both loses no acknowledged
//! message. These run in the PostgreSQL pass of `make test` (`PORTAL_TEST_ENGINE=postgres`);
//! a SQLite file is served by one process, so the SQLite pass has nothing to test here.

use crate::crash::{self, free_port};
use crate::http::{Client, on_postgres};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Long enough for a loaded CI machine; an update normally crosses in milliseconds.
const WAIT: Duration = Duration::from_secs(10);

/// Portal processes sharing one database (and one data directory, as on one machine).
struct Cluster {
    _dir: tempfile::TempDir,
    database: String,
    configs: Vec<PathBuf>,
    portals: Vec<crash::Portal>,
}

impl Cluster {
    /// `n` processes on a new database; the first loads the demo data before the others
    /// start.
    fn start(n: usize) -> Cluster {
        Cluster::start_at(n, "read committed")
    }

    /// [`Cluster::start`] on a database whose transactions default to `isolation`.
    fn start_at(n: usize, isolation: &str) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = crate::pg_server::database();
        let name = database.rsplit('/').next().expect("a database name");
        postgres::Client::connect(&database, postgres::NoTls)
            .and_then(|mut c| {
                c.batch_execute(&format!(
                    "ALTER DATABASE {name} SET default_transaction_isolation = '{isolation}'"
                ))
            })
            .expect("isolation");
        let top = format!("database = {database:?}\n");
        let configs: Vec<PathBuf> = (0..n)
            .map(|i| {
                crash::write_config_named(dir.path(), &format!("portal-{i}.toml"), free_port(), &top, 100_000)
            })
            .collect();
        let portals = configs.iter().map(|config| crash::start(config, port_of(config))).collect();
        Cluster { _dir: dir, database, configs, portals }
    }

    fn base(&self, i: usize) -> String {
        self.portals[i].base.clone()
    }

    fn signed_in(&self, i: usize, email: &str) -> Client {
        let mut client = Client::new(&self.base(i));
        let r = client.sign_in("riverside", email, "demo-password");
        assert_eq!(r.status, 303, "sign-in of {email} through process {i}: {}", r.body);
        client
    }

    /// A connection to the database with the plugins' schemas on its search path.
    fn sql(&self) -> postgres::Client {
        let mut client = postgres::Client::connect(&self.database, postgres::NoTls).expect("connect");
        client.batch_execute("SET search_path = public, plugin_conversations").expect("search path");
        client
    }

    fn user_id(&self, nickname: &str) -> i64 {
        let row = self
            .sql()
            .query_one("SELECT id FROM users WHERE nickname = $1 AND community_id = 1", &[&nickname])
            .expect("member");
        row.get(0)
    }
}

/// The first column of the first row of `query`.
fn count(sql: &mut postgres::Client, query: &str) -> i64 {
    sql.query_one(query, &[]).expect(query).get(0)
}

fn port_of(config: &std::path::Path) -> u16 {
    let text = std::fs::read_to_string(config).expect("config");
    let listen = text.lines().find_map(|l| l.strip_prefix("listen = \"127.0.0.1:")).expect("listen");
    listen.trim_end_matches('"').parse().expect("port")
}

#[test]
fn a_message_sent_through_one_process_reaches_a_stream_served_by_another() {
    if !on_postgres() {
        return;
    }
    let cluster = Cluster::start(2);
    let mut grace_on_a = cluster.signed_in(0, "grace@riverside.example");
    let mut alan_on_b = cluster.signed_in(1, "alan@riverside.example");
    // Alan's header on B is asked for (and remembered by B's slot cache) before the message.
    let header = alan_on_b.get("/c/riverside/live/header");
    assert_eq!(crate::http::unread_badge(&header.body), None);
    let stream = alan_on_b.events("/c/riverside/events");

    let to = format!("user:{}", cluster.user_id("alan"));
    let r = grace_on_a.post("/c/riverside/conversations", &[("to", &to), ("body", "Across processes")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let path = r.location.expect("location");
    let id = path.rsplit('/').next().and_then(|s| s.split(['?', '#']).next()).expect("id").to_owned();

    let (name, data) = stream.next(WAIT).expect("B's stream hears the message sent through A");
    assert_eq!(name, "update", "{data}");
    let update: plugin_api::live::LiveUpdate = serde_json::from_str(&data).expect("a LiveUpdate");
    assert_eq!(update.topics, vec![format!("conversations:conversation/{id}")]);
    // B forgot its remembered header: the badge counts the new message.
    let header = alan_on_b.get("/c/riverside/live/header");
    assert_eq!(crate::http::unread_badge(&header.body).as_deref(), Some("1"), "{}", header.body);
    let page = alan_on_b.get(&format!("/c/riverside/conversations/{id}"));
    assert!(page.body.contains("Across processes"));

    // Reading it on B refreshes the bell on Alan's pages served by A.
    let alan_on_a = cluster.signed_in(0, "alan@riverside.example");
    let stream_on_a = alan_on_a.events("/c/riverside/events");
    let r = alan_on_b.post("/c/riverside/notifications/read", &[("all", "1")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let (name, data) = stream_on_a.next(WAIT).expect("A's stream hears the read made through B");
    assert_eq!((name.as_str(), data.as_str()), ("update", r#"{"topics":[]}"#));
}

#[test]
fn a_grant_made_through_one_process_shows_at_once_on_another() {
    if !on_postgres() {
        return;
    }
    let cluster = Cluster::start(2);
    let mut admin_on_a = cluster.signed_in(0, "ada@riverside.example");
    let mut tim_on_b = cluster.signed_in(1, "tim@riverside.example");
    let profile = "/c/riverside/members/alan";
    // Tim may message by the demo's grants; revoke them through A, then grant through A.
    let before = tim_on_b.get(profile).body;
    assert!(before.contains("data-slot-key=\"message\""), "{before}");
    for (action, shown) in [("revoke", false), ("grant", true), ("revoke", false)] {
        let r = admin_on_a.post(
            "/c/riverside/admin/abilities",
            &[("action", action), ("ability", "conversations.start"), ("grantee", "everyone")],
        );
        assert_eq!(r.status, 303, "{action}: {}", r.body);
        let page = tim_on_b.get(profile).body;
        assert_eq!(page.contains("data-slot-key=\"message\""), shown, "after {action} through A, on B");
    }
}

#[test]
fn sign_in_limits_hold_across_processes() {
    if !on_postgres() {
        return;
    }
    let cluster = Cluster::start(2);
    let failures = 5; // `failures_per_account`'s default
    let mut clients = [Client::new(&cluster.base(0)), Client::new(&cluster.base(1))];
    for attempt in 0..failures {
        let client = &mut clients[attempt % 2];
        let r = client.sign_in("riverside", "alan@riverside.example", "wrong");
        assert_eq!(r.status, 401, "attempt {attempt}");
    }
    // Each process saw fewer than five failures; together they saw five.
    for (i, client) in clients.iter_mut().enumerate() {
        let r = client.sign_in("riverside", "alan@riverside.example", "demo-password");
        assert_eq!(r.status, 429, "process {i} lets the account be tried again");
    }
}

#[test]
fn sigkill_of_one_process_while_members_send_through_both_loses_no_acknowledged_message() {
    if !on_postgres() {
        return;
    }
    let mut cluster = Cluster::start(2);
    for setting in
        [["conversations.messages_per_minute", "100000"], ["conversations.require_acceptance", "false"]]
    {
        let args = ["settings", "set", "--community", "riverside", setting[0], setting[1]];
        crash::cli(&cluster.configs[0], &args);
    }
    let senders = crash::SENDERS;
    let ids: Vec<i64> = senders.iter().map(|n| cluster.user_id(n)).collect();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let acked_on_b = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // Senders alternate between the processes: the even ones on A, the odd ones on B.
    let threads: Vec<_> = senders
        .iter()
        .enumerate()
        .map(|(i, me)| {
            let base = cluster.base(i % 2);
            let to = ids[(i + 1) % senders.len()];
            let (me, acked, acked_on_b) = ((*me).to_owned(), acked.clone(), acked_on_b.clone());
            let (progress, stop) = (progress.clone(), stop.clone());
            std::thread::spawn(move || {
                let bodies = crash::sender(base, &me, to, 0, &progress, &stop);
                if i % 2 == 1 {
                    acked_on_b.fetch_add(bodies.len(), Ordering::SeqCst);
                }
                acked.lock().expect("lock").extend(bodies);
            })
        })
        .collect();
    let going = Instant::now();
    while progress.load(Ordering::SeqCst) < 60 && going.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    cluster.portals[0].child.kill().expect("SIGKILL");
    cluster.portals[0].child.wait().expect("reaped");
    let at_kill = progress.load(Ordering::SeqCst);
    // B goes on serving its senders after A died.
    let after = Instant::now();
    while progress.load(Ordering::SeqCst) < at_kill + 40 && after.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(progress.load(Ordering::SeqCst) >= at_kill + 40, "B stopped answering when A was killed");
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().expect("sender thread");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked_on_b.load(Ordering::SeqCst) > 0 && acked.len() > acked_on_b.load(Ordering::SeqCst));

    let mut sql = cluster.sql();
    for body in &acked {
        let n: i64 = sql
            .query_one("SELECT count(*) FROM conversations_message WHERE body = $1", &[body])
            .expect("count")
            .get(0);
        assert_eq!(n, 1, "{body:?} was acknowledged: it must be stored exactly once");
    }
    let duplicates = count(
        &mut sql,
        "SELECT count(*) FROM (SELECT body FROM conversations_message GROUP BY body HAVING count(*) > 1) d",
    );
    assert_eq!(duplicates, 0, "no message is stored twice");
    let disagreeing = count(&mut sql, crash::UNREAD_STATE_DISAGREES);
    assert_eq!(disagreeing, 0, "every participant's unread state matches the messages");
    println!("two processes, A killed: {} acknowledged messages all stored exactly once", acked.len());
}

#[test]
fn a_process_that_lost_its_listening_connection_listens_again_and_resyncs_its_pages() {
    if !on_postgres() {
        return;
    }
    let cluster = Cluster::start(2);
    let mut grace_on_a = cluster.signed_in(0, "grace@riverside.example");
    let alan_on_b = cluster.signed_in(1, "alan@riverside.example");
    let stream = alan_on_b.events("/c/riverside/events");
    // The server ends every listening connection (as a restart or a network cut would).
    let ended: i64 = cluster
        .sql()
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND query = 'LISTEN portal'",
            &[],
        )
        .expect("terminate")
        .get(0);
    assert_eq!(ended, 2, "one listening connection per process");
    // Whatever was announced meanwhile is lost: once listening again, B's pages refresh.
    let (name, _) = stream.next(WAIT).expect("B's stream hears that updates may have been missed");
    assert_eq!(name, "resync");
    let to = format!("user:{}", cluster.user_id("alan"));
    let r = grace_on_a.post("/c/riverside/conversations", &[("to", &to), ("body", "Still there?")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let (name, data) = stream.next(WAIT).expect("B hears A again");
    assert_eq!(name, "update", "{data}");
}

/// Two members reply in one conversation as fast as they can, each through their own
/// process, so that their writes meet: at READ COMMITTED (PostgreSQL's default, which
/// Conversations' statements are written for) and at SERIALIZABLE (where PostgreSQL
/// refuses some of the meeting writes and the portal runs those calls again, alone), every
/// reply is acknowledged and stored once, and the conversation's state stays exact.
#[test]
fn members_replying_in_one_conversation_through_two_processes_at_once_keep_it_consistent() {
    if !on_postgres() {
        return;
    }
    for isolation in ["read committed", "serializable"] {
        replies_meet(isolation);
    }
}

fn replies_meet(isolation: &str) {
    let cluster = Cluster::start_at(2, isolation);
    for setting in
        [["conversations.messages_per_minute", "100000"], ["conversations.require_acceptance", "false"]]
    {
        let args = ["settings", "set", "--community", "riverside", setting[0], setting[1]];
        crash::cli(&cluster.configs[0], &args);
    }
    let mut grace = cluster.signed_in(0, "grace@riverside.example");
    let alan = cluster.signed_in(1, "alan@riverside.example");
    let to = format!("user:{}", cluster.user_id("alan"));
    let r = grace.post("/c/riverside/conversations", &[("to", &to), ("body", "Shall we?")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let path = r.redirect_path();
    const EACH: usize = 40;
    // Both reply as fast as they can, each through their own process: the writes meet.
    let replies: Vec<_> = [(grace, "grace"), (alan, "alan")]
        .into_iter()
        .map(|(mut client, who)| {
            let path = path.clone();
            std::thread::spawn(move || {
                (0..EACH)
                    .filter(|n| client.post(&path, &[("body", &format!("{who} {n}"))]).status == 303)
                    .count()
            })
        })
        .collect();
    let acknowledged: usize = replies.into_iter().map(|t| t.join().expect("thread")).sum();
    assert_eq!(
        acknowledged,
        2 * EACH,
        "{isolation}: every reply is acknowledged (a conflicting one runs again)"
    );
    let mut sql = cluster.sql();
    let stored = count(&mut sql, "SELECT count(*) FROM conversations_message WHERE body != 'Shall we?'");
    assert_eq!(stored, 2 * EACH as i64, "{isolation}: each reply stored once");
    let disagreeing = count(&mut sql, crash::UNREAD_STATE_DISAGREES);
    assert_eq!(
        disagreeing, 0,
        "{isolation}: the conversation's and participants' last message is the last one"
    );
}
