//! Sending: messages per second through `POST` over HTTP from 16 concurrent members, each
//! acknowledged (303) only after its transaction committed; against the same rows written
//! by a plain native SQLite loop in the same run, one transaction per message (the storage
//! limit on this machine). The two take turns in [`ROUNDS`] rounds and the ratio is the
//! median of the rounds' ratios, so that the machine changing speed during the run (it
//! does, on shared virtual machines) shifts both sides of a ratio alike.

use crate::Bench;
use crate::browser::{self, Client};
use crate::load::{self, Stats};
use crate::server::Server;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Members who send at once.
pub const SENDERS: usize = 16;

/// Rounds of HTTP sending, each followed by the native loop.
pub const ROUNDS: usize = 3;

/// The section's result.
#[derive(Serialize)]
pub struct Report {
    senders: usize,
    http: Stats,
    /// The portal's WAL file after the HTTP rounds (the largest of the three): bounded by
    /// its checkpoints under load.
    wal_mib_after: f64,
    native_per_s: f64,
    /// Messages the native loop wrote in all rounds.
    native_messages: i64,
    /// The median of the rounds' ratios.
    ratio_to_native: f64,
    rounds: Vec<Round>,
}

/// One round: HTTP sending, then the native loop right after it.
#[derive(Serialize)]
pub struct Round {
    http_per_s: f64,
    native_per_s: f64,
    ratio: f64,
}

/// A demo file with a community of `SENDERS + 1` members and Conversations on.
pub fn demo_file(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let mut text = String::from(
        "password = \"demo-password\"\n[[communities]]\nslug = \"load\"\nname = \"Load\"\n\
         grants = [{ ability = \"conversations.use\", to = \"everyone\" }, { ability = \"conversations.start\", to = \"everyone\" }]\n",
    );
    for i in 0..=SENDERS {
        text.push_str(&format!(
            "[[communities.members]]\nnickname = \"s{i}\"\nname = \"Sender {i}\"\nemail = \"s{i}@load.example\"\n"
        ));
    }
    let path = dir.join("load-demo.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The [`SENDERS`] members of [`demo_file`], signed in, each with a conversation open with
/// the next member: their clients and the conversations' paths.
pub fn senders(server: &Server, db: &host::db::Location) -> anyhow::Result<(Vec<Client>, Vec<String>)> {
    senders_on(&[server], db)
}

/// [`senders`] spread over several portal processes on one database: sender `i` signs in
/// and sends through `servers[i % servers.len()]`.
pub fn senders_on(
    servers: &[&Server],
    db: &host::db::Location,
) -> anyhow::Result<(Vec<Client>, Vec<String>)> {
    let server = servers.first().ok_or_else(|| anyhow::anyhow!("no portal"))?;
    server.cli(&["settings", "set", "--community", "load", "conversations.messages_per_minute", "100000"])?;
    server.cli(&["settings", "set", "--community", "load", "conversations.require_acceptance", "false"])?;
    let ids: Vec<i64> = {
        let db = host::db::Db::connect(db)?;
        let conn = db.get()?;
        (0..=SENDERS)
            .map(|i| {
                conn.query_one("SELECT id FROM users WHERE nickname = ?1", &[&format!("s{i}")], |r| r.get(0))
            })
            .collect::<Result<_, _>>()?
    };
    // Each sender opens a conversation with the next member, then replies in it.
    let mut clients = Vec::new();
    let mut paths = Vec::new();
    for i in 0..SENDERS {
        let base = &servers[i % servers.len()].base;
        let mut client = browser::signed_in(base, "load", &format!("s{i}@load.example"))?;
        let to = format!("user:{}", ids[i + 1]);
        let r = browser::post(&mut client, "/c/load/conversations", &[("to", &to), ("body", "hello")])?;
        anyhow::ensure!(r.status == 303, "could not start a conversation: {}", r.status);
        paths.push(r.location.unwrap_or_default().split('?').next().unwrap_or_default().to_owned());
        clients.push(client);
    }
    Ok((clients, paths))
}

/// Sends one message in conversation `paths[i]`; whether it was acknowledged (303).
pub fn sender(
    paths: Vec<String>,
) -> std::sync::Arc<impl Fn(&mut Client, usize, usize) -> anyhow::Result<bool> + Send + Sync + 'static> {
    std::sync::Arc::new(move |client: &mut Client, i: usize, n: usize| {
        let body = format!("message {n} from sender {i}");
        Ok(browser::post(client, &paths[i], &[("body", &body)])?.status == 303)
    })
}

/// Runs the section against a portal started with [`demo_file`] loaded.
pub fn run(bench: &Bench, server: &Server, db: &std::path::Path) -> anyhow::Result<Report> {
    let (mut clients, paths) = senders(server, &host::db::Location::Sqlite(db.to_owned()))?;

    let send = sender(paths);
    let seconds = bench.seconds * 2.0 / ROUNDS as f64;
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let (mut latencies, mut http_time) = (Vec::new(), Duration::ZERO);
    let (mut native_messages, mut native_time) = (0, Duration::ZERO);
    let mut wal_mib_after: f64 = 0.0;
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let round = load::rounds(clients, Duration::from_secs_f64(seconds), send.clone())?;
        clients = round.clients;
        wal_mib_after = wal_mib_after.max(std::fs::metadata(&wal)?.len() as f64 / (1024.0 * 1024.0));
        let http_per_s = round.latencies.len() as f64 / round.elapsed.as_secs_f64();
        latencies.extend(round.latencies);
        http_time += round.elapsed;
        let native_dir = tempfile::tempdir()?;
        let native = native_inserts(&native_dir.path().join("native.db"), seconds)?;
        native_messages += native.messages;
        native_time += native.elapsed;
        let native_per_s = native.per_s();
        rounds.push(Round { http_per_s, native_per_s, ratio: http_per_s / native_per_s });
    }
    let mut ratios: Vec<f64> = rounds.iter().map(|r| r.ratio).collect();
    ratios.sort_by(f64::total_cmp);
    Ok(Report {
        senders: SENDERS,
        ratio_to_native: load::percentile(&ratios, 50.0),
        http: load::stats(latencies, http_time),
        wal_mib_after,
        native_per_s: native_messages as f64 / native_time.as_secs_f64(),
        native_messages,
        rounds,
    })
}

/// What the native loop did.
struct Native {
    messages: i64,
    elapsed: Duration,
}

impl Native {
    fn per_s(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }
}

/// The same writes as sending one message through the plugin (the message row, the
/// conversation's and the participants' last message, the sender's read marker, the
/// recipient's notification), each message in its own committed transaction, on a fresh
/// database at `path` with the portal's schema and pragmas.
fn native_inserts(path: &std::path::Path, seconds: f64) -> anyhow::Result<Native> {
    use conversations_plugin::Conversations;
    use host::db::{communities, notifications, users};
    use plugin_api::Timestamp;
    use plugin_api::guest::Plugin;
    let mut raw = rusqlite::Connection::open(path)?;
    raw.pragma_update(None, "journal_mode", "wal")?;
    raw.pragma_update(None, "synchronous", "normal")?;
    raw.pragma_update(None, "foreign_keys", "on")?;
    host::db::migrate(&mut raw)?;
    let conn = host::db::Conn::sqlite(raw);
    let raw = conn.as_sqlite().ok_or_else(|| anyhow::anyhow!("SQLite"))?;
    // The plugin's own migrations, as its `Describe` gives them to the portal.
    for migration in <Conversations as Plugin>::describe().migrations {
        raw.execute_batch(&migration.sql)?;
    }
    let community = communities::create(&conn, "native", "Native", "", Timestamp(0))?;
    let member = |n: &'static str| users::NewUser {
        community_id: community,
        email: n,
        nickname: n,
        name: n,
        bio: "",
        password_hash: "",
        role: users::Role::Member,
    };
    let sender = users::create(&conn, &member("sender"), Timestamp(0))?;
    let recipient = users::create(&conn, &member("recipient"), Timestamp(0))?;
    raw.execute(
        "INSERT INTO conversations_conversation (id, community_id, started_by_kind, started_by_id, participant_key, created_at, last_message_at)
           VALUES (1, ?1, 'user', ?2, ?3, 0, 0)",
        rusqlite::params![community.0, sender.0, format!("user:{},user:{}", sender.0, recipient.0)],
    )?;
    raw.execute(
        "INSERT INTO conversations_participant (conversation_id, actor_kind, actor_id, state) VALUES (1, 'user', ?1, 'active'), (1, 'user', ?2, 'active')",
        [sender.0, recipient.0],
    )?;
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        raw.execute_batch("BEGIN")?;
        let tx = raw;
        tx.execute(
            "INSERT INTO conversations_message (conversation_id, author_id, body, created_at) VALUES (1, ?1, ?2, ?3)",
            rusqlite::params![sender.0, format!("message {n}"), n as i64],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE conversations_conversation SET last_message_id = ?1, last_message_at = ?2 WHERE id = 1",
            rusqlite::params![id, n as i64],
        )?;
        tx.execute("UPDATE conversations_participant SET last_message_id = ?1, last_message_at = ?2 WHERE conversation_id = 1", rusqlite::params![id, n as i64])?;
        tx.execute(
            "UPDATE conversations_participant SET last_read_message_id = ?1 WHERE conversation_id = 1 AND actor_id = ?2",
            [id, sender.0],
        )?;
        notifications::create(
            &conn,
            recipient,
            Some("conversations"),
            "New message from Sender",
            "/conversations/1",
            Timestamp(n as i64),
        )?;
        tx.execute_batch("COMMIT")?;
        n += 1;
    }
    Ok(Native { messages: n as i64, elapsed: started.elapsed() })
}

/// Prints the section.
pub fn print(report: &Report) {
    println!(
        "\n## Sending ({} members posting at once, each message acknowledged after commit)",
        report.senders
    );
    println!("| path | messages/s | p50 / p99 |");
    println!("|---|---|---|");
    println!(
        "| HTTP POST through the plugin | {:.0} | {:.2} / {:.2} ms |",
        report.http.rps, report.http.p50_ms, report.http.p99_ms
    );
    println!("| native SQLite loop, same rows, one transaction each | {:.0} | |", report.native_per_s);
    let rounds: Vec<String> = report
        .rounds
        .iter()
        .map(|r| format!("{:.0} / {:.0} = {:.2}x", r.http_per_s, r.native_per_s, r.ratio))
        .collect();
    println!("Rounds, HTTP / native: {}", rounds.join("; "));
    println!("HTTP / native, the median of the rounds: {:.2}x", report.ratio_to_native);
    println!("The portal's WAL after the run: {:.1} MiB", report.wal_mib_after);
}

#[cfg(test)]
mod tests {
    use super::native_inserts;

    #[test]
    fn the_native_loop_writes_every_row_that_sending_a_message_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("native.db");
        let native = native_inserts(&path, 0.05).expect("native loop");
        assert!(native.messages > 0 && native.per_s() > 0.0);
        let conn = rusqlite::Connection::open(&path).expect("open");
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).expect(sql);
        assert_eq!(count("SELECT count(*) FROM conversations_message"), native.messages);
        assert_eq!(
            count("SELECT count(*) FROM notifications"),
            native.messages,
            "one notification a message"
        );
        let last = count("SELECT max(id) FROM conversations_message");
        assert_eq!(count("SELECT last_message_id FROM conversations_conversation"), last);
        assert_eq!(
            count(
                "SELECT count(*) FROM conversations_participant WHERE last_message_id = (SELECT max(id) FROM conversations_message)"
            ),
            2
        );
        assert_eq!(
            count(
                "SELECT count(*) FROM conversations_participant WHERE last_read_message_id = (SELECT max(id) FROM conversations_message)"
            ),
            1,
            "the sender's read marker"
        );
    }
}
