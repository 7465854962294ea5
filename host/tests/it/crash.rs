//! Crash safety with the real `portal` binary: concurrent clients send messages over HTTP,
//! the process is killed with SIGKILL mid-way, restarted on the same data directory, and
//! every acknowledged message is there exactly once, the database is intact, the unread
//! state agrees with the messages, and the digest after the restart emails each reader once.

use crate::support::{conversations_manifest, root};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Members who send; each writes to the next one.
pub const SENDERS: &[&str] = &["grace", "alan", "katherine", "tim", "margaret", "linus", "barbara", "edsger"];
const ROUNDS: usize = 5;

/// Participants whose denormalized unread state disagrees with the messages (SQL both
/// engines read).
pub const UNREAD_STATE_DISAGREES: &str = "SELECT count(*) FROM conversations_participant p
     JOIN conversations_conversation c ON c.id = p.conversation_id
     WHERE p.last_message_id != (SELECT max(id) FROM conversations_message m WHERE m.conversation_id = c.id)
        OR c.last_message_id != (SELECT max(id) FROM conversations_message m WHERE m.conversation_id = c.id)
        OR p.last_read_message_id > p.last_message_id";

/// A `portal serve` process (killed when dropped).
pub struct Portal {
    pub child: Child,
    pub base: String,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn portal_command(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portal"));
    command.arg("--config").arg(config).current_dir(root()).env("RUST_LOG", "warn");
    command
}

pub fn cli(config: &Path, args: &[&str]) -> String {
    let out = portal_command(config).args(args).output().expect("portal runs");
    assert!(out.status.success(), "portal {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn start(config: &Path, port: u16) -> Portal {
    let child = portal_command(config)
        .args(["serve", "--demo", "fixtures/demo.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("portal starts");
    let portal = Portal { child, base: format!("http://127.0.0.1:{port}") };
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if agent.get(&format!("{}/", portal.base)).call().is_ok_and(|r| r.status() == 200) {
            return portal;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the portal did not answer within a minute");
}

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, port: u16) -> PathBuf {
    write_config_named(dir, "portal.toml", port, "", 100_000)
}

/// A configuration `name` in `dir` for a portal on `port` with Conversations, `top` (lines
/// before the tables, such as `database = …`) and this many sign-in attempts per address.
pub fn write_config_named(dir: &Path, name: &str, port: u16, top: &str, sign_ins: u32) -> PathBuf {
    let config = dir.join(name);
    let text = format!(
        "listen = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\ndata_dir = {:?}\n{top}\
         [plugins]\nmanifests = [{:?}]\n[plugins.runtime]\ncache_dir = {:?}\n\
         [jobs]\nenabled = false\n[web.sign_in]\nattempts_per_address = {sign_ins}\n",
        dir,
        conversations_manifest(),
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache"),
    );
    std::fs::write(&config, text).expect("config");
    config
}

/// One sender: signs in, opens a conversation with `to`, then sends numbered messages until
/// the portal stops answering or `stop` is set. Returns the bodies that were acknowledged
/// (303 after commit).
pub fn sender(
    base: String,
    me: &str,
    to_id: i64,
    round: usize,
    progress: &AtomicUsize,
    stop: &AtomicBool,
) -> Vec<String> {
    let mut client = crate::http::Client::new(&base);
    let email = format!("{me}@riverside.example");
    let signed_in = client.try_get("/c/riverside/sign-in").and_then(|_| {
        client.try_post("/c/riverside/sign-in", &[("email", &email), ("password", "demo-password")])
    });
    if signed_in.is_none_or(|r| r.status != 303) {
        return Vec::new();
    }
    let mut acked = Vec::new();
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let body = format!("round {round} {me} message {n}");
        let to = format!("user:{to_id}");
        let Some(r) = client.try_post("/c/riverside/conversations", &[("to", &to), ("body", &body)]) else {
            break;
        };
        if r.status == 303 {
            progress.fetch_add(1, Ordering::SeqCst);
            acked.push(body);
        } else {
            break;
        }
    }
    acked
}

#[test]
fn sigkill_while_sending_loses_no_acknowledged_message_and_repeats_no_email() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let config = write_config(dir.path(), port);
    let db_path = dir.path().join("portal.db");
    let mut acknowledged: Vec<String> = Vec::new();

    let mut portal = start(&config, port);
    cli(
        &config,
        &["settings", "set", "--community", "riverside", "conversations.messages_per_minute", "100000"],
    );
    cli(
        &config,
        &["settings", "set", "--community", "riverside", "conversations.require_acceptance", "false"],
    );
    let ids: BTreeMap<String, i64> = {
        let conn = rusqlite::Connection::open(&db_path).expect("db");
        SENDERS
            .iter()
            .map(|n| {
                let id = conn
                    .query_row("SELECT id FROM users WHERE nickname = ?1 AND community_id = 1", [n], |r| {
                        r.get(0)
                    })
                    .expect("member");
                ((*n).to_owned(), id)
            })
            .collect()
    };

    for round in 0..ROUNDS {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let progress = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = SENDERS
            .iter()
            .enumerate()
            .map(|(i, me)| {
                let to = ids[SENDERS[(i + 1) % SENDERS.len()]];
                let (base, me, acked) = (portal.base.clone(), (*me).to_owned(), acked.clone());
                let progress = progress.clone();
                std::thread::spawn(move || {
                    let bodies = sender(base, &me, to, round, &progress, &AtomicBool::new(false));
                    acked.lock().expect("lock").extend(bodies);
                })
            })
            .collect();
        // Let the clients get going, then kill the portal without warning, at a different
        // moment each round.
        let going = Instant::now();
        while progress.load(Ordering::SeqCst) < 40 && going.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50 + 150 * round as u64));
        portal.child.kill().expect("SIGKILL");
        portal.child.wait().expect("reaped");
        for t in threads {
            t.join().expect("sender thread");
        }
        let acked = acked.lock().expect("lock").clone();
        assert!(
            acked.len() >= SENDERS.len(),
            "round {round}: the clients sent before the kill: {}",
            acked.len()
        );
        acknowledged.extend(acked);
        portal = start(&config, port);
    }

    let conn = rusqlite::Connection::open(&db_path).expect("db");
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity");
    assert_eq!(check, "ok");
    for body in &acknowledged {
        let n: i64 = conn
            .query_row("SELECT count(*) FROM conversations_message WHERE body = ?1", [body], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 1, "{body:?} was acknowledged: it must be stored exactly once");
    }
    let duplicates: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT body FROM conversations_message GROUP BY body HAVING count(*) > 1)",
            [],
            |r| r.get(0),
        )
        .expect("duplicates");
    assert_eq!(duplicates, 0, "no message is stored twice");
    // The denormalized unread state agrees with the messages.
    let disagreeing: i64 = conn.query_row(UNREAD_STATE_DISAGREES, [], |r| r.get(0)).expect("unread state");
    assert_eq!(disagreeing, 0, "every participant's unread state matches the messages");
    let unread_readers: i64 = conn
        .query_row(
            "SELECT count(DISTINCT actor_id) FROM conversations_participant
             WHERE actor_kind = 'user' AND muted = 0 AND last_message_id > last_read_message_id
               AND last_message_id > digested_message_id",
            [],
            |r| r.get(0),
        )
        .expect("pending");
    assert_eq!(unread_readers, SENDERS.len() as i64, "each member has an unread conversation");
    drop(conn);

    // The digest after the restart: one email per reader, and none on a second run.
    let digests = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row(
            "SELECT count(*) FROM email_outbox WHERE subject LIKE '%with unread messages%'",
            [],
            |r| r.get(0),
        )
        .expect("outbox")
    };
    let out = cli(&config, &["jobs", "run", "--community", "riverside", "conversations.digest"]);
    assert!(out.contains("8 digest email(s)"), "{out}");
    let conn = rusqlite::Connection::open(&db_path).expect("db");
    assert_eq!(digests(&conn), SENDERS.len() as i64);
    let per_reader: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT to_address FROM email_outbox WHERE subject LIKE '%with unread messages%'
             GROUP BY to_address HAVING count(*) > 1)",
            [],
            |r| r.get(0),
        )
        .expect("per reader");
    assert_eq!(per_reader, 0, "nobody gets two digests");
    portal.child.kill().expect("SIGKILL");
    portal.child.wait().expect("reaped");
    let out = cli(&config, &["jobs", "run", "--community", "riverside", "conversations.digest"]);
    assert!(out.contains("0 digest email(s)"), "{out}");
    assert_eq!(digests(&conn), SENDERS.len() as i64, "no digest repeated after another kill");
    println!(
        "crash safety: {ROUNDS} SIGKILL runs, {} acknowledged messages all stored exactly once",
        acknowledged.len()
    );
}
