//! The digest benchmark: N members, each with one conversation holding an unread message
//! no email covered, then ONE run of the Conversations digest job through the real plugin
//! in a real portal (fresh instance and transaction per batch). Prints the run time and
//! emails per second; the job's cost should follow the unread conversations, not the
//! total number of messages, so the seed also adds 10 read messages per conversation.

use host::clock::Clock;
use host::config::Config;
use host::portal::Portal;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// The section's result.
#[derive(Serialize)]
pub struct Report {
    participants: u32,
    messages: u32,
    seed_s: f64,
    run_s: f64,
    emails_per_s: f64,
    delivery_emails_per_s: f64,
    second_run_ms: f64,
}

/// Seeds the data and times one digest run.
pub fn run(manifest: &Path, participants: u32) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let mut config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
    config.plugins.manifests = vec![manifest.to_owned()];
    let portal = Portal::start(config, Clock::system()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let seeded = Instant::now();
    seed(&portal, participants)?;
    let seed_s = seeded.elapsed().as_secs_f64();
    let plugin = portal.plugins.first().ok_or_else(|| anyhow::anyhow!("no plugin"))?;
    let community = {
        let conn = portal.db.get()?;
        host::db::communities::by_slug(&conn, "bench")?.ok_or_else(|| anyhow::anyhow!("no community"))?
    };
    let started = Instant::now();
    let summary = portal.run_job(plugin, &community, "digest").map_err(|e| anyhow::anyhow!(e))?;
    let elapsed = started.elapsed().as_secs_f64();
    let emails: i64 = portal.db.get()?.query_one("SELECT count(*) FROM email_outbox", &[], |r| r.get(0))?;
    let _ = summary;
    anyhow::ensure!(emails == i64::from(participants), "one email per participant");
    let transport = host::email::Transport::Files(dir.path().join("outbox"));
    let delivering = Instant::now();
    let mut delivered = 0;
    loop {
        let pass = host::email::deliver_due(&portal, &transport)?;
        delivered += pass.sent;
        if pass.sent + pass.failed == 0 {
            break;
        }
    }
    let secs = delivering.elapsed().as_secs_f64();
    let again = Instant::now();
    portal.run_job(plugin, &community, "digest").map_err(|e| anyhow::anyhow!(e))?;
    Ok(Report {
        participants,
        messages: participants * 11,
        seed_s,
        run_s: elapsed,
        emails_per_s: emails as f64 / elapsed,
        delivery_emails_per_s: delivered as f64 / secs,
        second_run_ms: again.elapsed().as_secs_f64() * 1e3,
    })
}

/// Prints the section.
pub fn print(r: &Report) {
    println!(
        "\n## Digest job ({} participants with unread conversations, {} messages)",
        r.participants, r.messages
    );
    println!("| what | value |");
    println!("|---|---|");
    println!("| seeding | {:.1} s |", r.seed_s);
    println!("| digest run | {:.1} s = {:.0} emails/s |", r.run_s, r.emails_per_s);
    println!("| delivery to .eml files | {:.0} emails/s |", r.delivery_emails_per_s);
    println!("| second run, nothing new | {:.1} ms |", r.second_run_ms);
}

/// N members; member i and a sender share conversation i, whose newest message is unread.
fn seed(portal: &Portal, n: u32) -> anyhow::Result<()> {
    let writer = portal.db.writer()?;
    let tx =
        writer.as_sqlite().ok_or_else(|| anyhow::anyhow!("seeding needs SQLite"))?.unchecked_transaction()?;
    let now = 1_795_000_000_000i64;
    let community = crate::scale::community_with_conversations(&tx, "bench", now)?;
    tx.execute(
        "INSERT INTO users (community_id, email, nickname, name, password_hash, role, created_at)
         VALUES (?1, 'sender@bench.example', 'sender', 'The Sender', 'x', 'member', ?2)",
        rusqlite::params![community, now],
    )?;
    let sender = tx.last_insert_rowid();
    {
        let mut user = tx.prepare("INSERT INTO users (community_id, email, nickname, name, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4, 'x', 'member', ?5)")?;
        let mut conv = tx.prepare("INSERT INTO conversations_conversation (community_id, started_by_kind, started_by_id, participant_key, created_at, last_message_at, last_message_id) VALUES (?1, 'user', ?2, ?3, ?4, ?4, 0)")?;
        let mut part = tx.prepare("INSERT INTO conversations_participant (conversation_id, actor_kind, actor_id, state, last_read_message_id, last_message_id, last_message_at) VALUES (?1, 'user', ?2, 'active', ?3, ?4, ?5)")?;
        let mut msg = tx.prepare("INSERT INTO conversations_message (conversation_id, author_id, body, created_at) VALUES (?1, ?2, ?3, ?4)")?;
        let mut last =
            tx.prepare("UPDATE conversations_conversation SET last_message_id = ?2 WHERE id = ?1")?;
        for i in 0..n {
            user.execute(rusqlite::params![
                community,
                format!("m{i}@bench.example"),
                format!("m{i}"),
                format!("Member {i}"),
                now
            ])?;
            let member = tx.last_insert_rowid();
            conv.execute(rusqlite::params![community, sender, format!("user:{sender},user:{member}"), now])?;
            let c = tx.last_insert_rowid();
            let mut newest = 0;
            for k in 0..11 {
                msg.execute(rusqlite::params![
                    c,
                    sender,
                    format!("message {k} of conversation {i}"),
                    now + k
                ])?;
                newest = tx.last_insert_rowid();
            }
            last.execute(rusqlite::params![c, newest])?;
            part.execute(rusqlite::params![c, sender, newest, newest, now])?;
            part.execute(rusqlite::params![c, member, newest - 1, newest, now])?;
        }
    }
    tx.commit()?;
    Ok(())
}
