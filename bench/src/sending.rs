//! Sending: messages per second through `POST` over HTTP from 16 concurrent members, each
//! acknowledged (303) only after its transaction committed; against the same rows written
//! by a plain native SQLite loop in the same run, one transaction per message (the storage
//! limit on this machine).

use crate::Bench;
use crate::client::Client;
use crate::load::{self, Stats};
use crate::server::Server;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Members who send at once.
pub const SENDERS: usize = 16;

/// The section's result.
#[derive(Serialize)]
pub struct Report {
    senders: usize,
    http: Stats,
    /// The portal's WAL file after the run: bounded by its checkpoints under load.
    wal_mib_after: f64,
    native_per_s: f64,
    ratio_to_native: f64,
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

/// Runs the section against a portal started with [`demo_file`] loaded.
pub fn run(bench: &Bench, server: &Server, db: &std::path::Path) -> anyhow::Result<Report> {
    server.cli(&["settings", "set", "--community", "load", "conversations.messages_per_minute", "100000"])?;
    server.cli(&["settings", "set", "--community", "load", "conversations.require_acceptance", "false"])?;
    let ids: Vec<i64> = {
        let conn = rusqlite::Connection::open(db)?;
        (0..=SENDERS)
            .map(|i| {
                conn.query_row("SELECT id FROM users WHERE nickname = ?1", [format!("s{i}")], |r| r.get(0))
            })
            .collect::<Result<_, _>>()?
    };
    // Each sender opens a conversation with the next member, then replies in it.
    let mut clients = Vec::new();
    let mut paths = Vec::new();
    for i in 0..SENDERS {
        let mut client = Client::sign_in(&server.base, "load", &format!("s{i}@load.example"))?;
        let to = format!("user:{}", ids[i + 1]);
        let r = client.post("/c/load/conversations", &[("to", &to), ("body", "hello")])?;
        anyhow::ensure!(r.status == 303, "could not start a conversation: {}", r.status);
        paths.push(r.location.unwrap_or_default().split('?').next().unwrap_or_default().to_owned());
        clients.push(client);
    }

    let http = load::run(clients, Duration::from_secs_f64(bench.seconds * 2.0), move |client, i, n| {
        let body = format!("message {n} from sender {i}");
        Ok(client.post(&paths[i], &[("body", &body)])?.status == 303)
    })?;
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let wal_mib_after = std::fs::metadata(&wal)?.len() as f64 / (1024.0 * 1024.0);
    let native_per_s = native_inserts(bench.seconds * 2.0)?;
    Ok(Report {
        senders: SENDERS,
        ratio_to_native: http.rps / native_per_s,
        http,
        wal_mib_after,
        native_per_s,
    })
}

/// The same writes as sending one message (message row, conversation and participants'
/// last message, the sender's read marker), each in its own committed transaction, on a
/// fresh database with the portal's pragmas.
fn native_inserts(seconds: f64) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let conn = rusqlite::Connection::open(dir.path().join("native.db"))?;
    conn.pragma_update(None, "journal_mode", "wal")?;
    conn.pragma_update(None, "synchronous", "normal")?;
    conn.pragma_update(None, "foreign_keys", "on")?;
    for sql in [
        include_str!("../../conversations-plugin/migrations/001_conversations.sql"),
        include_str!("../../conversations-plugin/migrations/002_inbox_and_blocks.sql"),
        include_str!("../../conversations-plugin/migrations/003_digest.sql"),
    ] {
        conn.execute_batch(sql)?;
    }
    conn.execute_batch(
        "INSERT INTO conversations_conversation (id, community_id, started_by_kind, started_by_id, participant_key, created_at, last_message_at)
           VALUES (1, 1, 'user', 1, 'user:1,user:2', 0, 0);
         INSERT INTO conversations_participant (conversation_id, actor_kind, actor_id, state) VALUES (1, 'user', 1, 'active'), (1, 'user', 2, 'active');",
    )?;
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        let tx = conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO conversations_message (conversation_id, author_id, body, created_at) VALUES (1, 1, ?1, ?2)",
            rusqlite::params![format!("message {n}"), n as i64],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE conversations_conversation SET last_message_id = ?1, last_message_at = ?2 WHERE id = 1",
            rusqlite::params![id, n as i64],
        )?;
        tx.execute("UPDATE conversations_participant SET last_message_id = ?1, last_message_at = ?2 WHERE conversation_id = 1", rusqlite::params![id, n as i64])?;
        tx.execute("UPDATE conversations_participant SET last_read_message_id = ?1 WHERE conversation_id = 1 AND actor_id = 1", [id])?;
        tx.commit()?;
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
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
    println!("HTTP / native: {:.2}x", report.ratio_to_native);
    println!("The portal's WAL after the run: {:.1} MiB", report.wal_mib_after);
}
