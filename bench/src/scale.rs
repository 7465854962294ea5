//! Scale: a bulk seeding of members, conversations and messages straight into a portal
//! database, then the pages that must stay fast, through the real `portal` process, at
//! three sizes side by side: the inbox, a conversation, the unread badge (community home)
//! and finding the existing conversation of a participant set (starting one again).

use crate::Bench;
use crate::browser::{self};
use crate::load::{Stats, stats};
use crate::server::{Server, write_config_as};
use host::clock::Clock;
use host::config::Config;
use host::portal::Portal;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// How much to seed.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Size {
    /// Members.
    pub members: u32,
    /// Conversations (two members each).
    pub conversations: u32,
    /// Messages, spread evenly over the conversations.
    pub messages: u32,
}

/// One size's timings.
#[derive(Serialize)]
pub struct Row {
    size: Size,
    seed_s: f64,
    inbox: Stats,
    conversation: Stats,
    badge: Stats,
    find_existing: Stats,
}

/// The section's result.
#[derive(Serialize)]
pub struct Report {
    rows: Vec<Row>,
}

/// The sizes of `make bench`: 10k members, and 10k, 100k, 1M messages.
pub const SIZES: [Size; 3] = [
    Size { members: 10_000, conversations: 1_000, messages: 10_000 },
    Size { members: 10_000, conversations: 10_000, messages: 100_000 },
    Size { members: 10_000, conversations: 100_000, messages: 1_000_000 },
];

/// Creates the portal database in `dir` (migrations, plugin tables) and seeds community
/// `scale`: members `m0..`, conversation c between members `c % members` and the member
/// `1 + c / members` places after them (every pair once), its messages alternating between them, the newest unread for
/// one side. Member m0 signs in with `demo-password`. Returns the seconds it took.
pub fn seed(manifest: &Path, dir: &Path, size: Size) -> anyhow::Result<f64> {
    let mut config = Config { data_dir: dir.to_owned(), ..Config::default() };
    config.plugins.manifests = vec![manifest.to_owned()];
    config.plugins.runtime.cache_dir = Some(dir.join("module-cache"));
    let portal = Portal::start(config, Clock::system()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = host::auth::hash_password("demo-password").map_err(|e| anyhow::anyhow!(e))?;
    let started = Instant::now();
    let writer = portal.db.writer()?;
    let conn = writer.as_sqlite().ok_or_else(|| anyhow::anyhow!("seeding needs SQLite"))?;
    conn.pragma_update(None, "synchronous", "off")?;
    let tx = conn.unchecked_transaction()?;
    let now = 1_795_000_000_000i64;
    let community = community_with_conversations(&tx, "scale", now)?;
    tx.execute(
        "INSERT INTO plugin_settings (community_id, plugin, name, value) VALUES (?1, 'conversations', 'messages_per_minute', '100000')",
        [community],
    )?;
    let first_user = {
        let mut user = tx.prepare(
            "INSERT INTO users (community_id, email, nickname, name, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'member', ?6)",
        )?;
        let mut first = 0;
        for i in 0..size.members {
            user.execute(rusqlite::params![
                community,
                format!("m{i}@scale.example"),
                format!("m{i}"),
                format!("Member {i}"),
                hash,
                now
            ])?;
            if i == 0 {
                first = tx.last_insert_rowid();
            }
        }
        first
    };
    {
        let mut conv = tx.prepare("INSERT INTO conversations_conversation (community_id, started_by_kind, started_by_id, participant_key, created_at, last_message_at, last_message_id) VALUES (?1, 'user', ?2, ?3, ?4, ?5, ?6)")?;
        let mut part = tx.prepare("INSERT INTO conversations_participant (conversation_id, actor_kind, actor_id, state, last_read_message_id, last_message_id, last_message_at, digested_message_id) VALUES (?1, 'user', ?2, 'active', ?3, ?4, ?5, ?4)")?;
        let mut msg = tx.prepare("INSERT INTO conversations_message (conversation_id, author_id, body, created_at) VALUES (?1, ?2, ?3, ?4)")?;
        let per = (size.messages / size.conversations).max(1);
        let m = i64::from(size.members);
        let mut conversation_id: i64 =
            tx.query_row("SELECT coalesce(max(id), 0) FROM conversations_conversation", [], |r| r.get(0))?;
        let mut message_id: i64 =
            tx.query_row("SELECT coalesce(max(id), 0) FROM conversations_message", [], |r| r.get(0))?;
        for c in 0..i64::from(size.conversations) {
            // Distinct pairs: block k of `members` conversations pairs a with a + k + 1.
            let (a, b) = (c % m, (c % m + 1 + c / m) % m);
            let (ua, ub) = (first_user + a, first_user + b);
            let (lo, hi) = (ua.min(ub), ua.max(ub));
            let at = now + c;
            let newest = message_id + i64::from(per);
            conversation_id += 1;
            conv.execute(rusqlite::params![community, ua, format!("user:{lo},user:{hi}"), at, at, newest])?;
            for k in 0..per {
                let author = if k % 2 == 0 { ua } else { ub };
                msg.execute(rusqlite::params![
                    conversation_id,
                    author,
                    format!("Message {k} of conversation {c}: a few words of text."),
                    at
                ])?;
            }
            message_id = newest;
            part.execute(rusqlite::params![conversation_id, ua, newest, newest, at])?;
            part.execute(rusqlite::params![conversation_id, ub, newest - 1, newest, at])?;
        }
    }
    tx.commit()?;
    conn.pragma_update(None, "synchronous", "normal")?;
    conn.execute_batch("ANALYZE")?;
    Ok(started.elapsed().as_secs_f64())
}

/// Creates community `slug` with Conversations switched on for everyone; returns its id.
pub fn community_with_conversations(
    tx: &rusqlite::Transaction<'_>,
    slug: &str,
    now: i64,
) -> anyhow::Result<i64> {
    tx.execute(
        "INSERT INTO communities (slug, name, created_at) VALUES (?1, ?1, ?2)",
        rusqlite::params![slug, now],
    )?;
    let community = tx.last_insert_rowid();
    for grant in ["conversations.use", "conversations.start"] {
        tx.execute(
            "INSERT INTO ability_grants (community_id, ability, grantee_kind, grantee, created_at) VALUES (?1, ?2, 'everyone', '', ?3)",
            rusqlite::params![community, grant, now],
        )?;
    }
    Ok(community)
}

fn sample(n: usize, mut f: impl FnMut(usize) -> anyhow::Result<bool>) -> anyhow::Result<Stats> {
    for i in 0..20 {
        anyhow::ensure!(f(i)?, "unexpected answer while warming up");
    }
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        anyhow::ensure!(f(i)?, "unexpected answer");
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(stats(latencies, started.elapsed()))
}

/// Seeds each size into a fresh data directory, starts the portal on it and times the pages.
pub fn run(bench: &Bench) -> anyhow::Result<Report> {
    let mut rows = Vec::new();
    for size in SIZES {
        let dir = tempfile::tempdir()?;
        let seed_s = seed(&bench.manifest, dir.path(), size)?;
        // Every page asks the plugin (no remembered `Slots` answers): the timings are those
        // of the queries at this size, not of a cache.
        let cache = dir.path().join("module-cache");
        let (config, port) =
            write_config_as(dir.path(), "portal.toml", &bench.manifest, &cache, "slot_cache = false", "")?;
        let server = Server::start(&bench.binary, &config, port, None)?;
        let mut m0 = browser::signed_in(&server.base, "scale", "m0@scale.example")?;
        let inbox = browser::get(&mut m0, "/c/scale/conversations")?;
        anyhow::ensure!(inbox.status == 200, "inbox: {}", inbox.status);
        let conversation = inbox
            .body
            .split("href=\"/c/scale/conversations/")
            .skip(1)
            .filter_map(|rest| rest.split(['"', '#', '?']).next())
            .find(|id| id.parse::<i64>().is_ok())
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("m0 has no conversation in the inbox"))?;
        let partner: i64 = {
            let conn = rusqlite::Connection::open(dir.path().join("portal.db"))?;
            conn.query_row(
                "SELECT actor_id FROM conversations_participant WHERE conversation_id = ?1 AND actor_id != (SELECT id FROM users WHERE nickname = 'm0' AND community_id = (SELECT id FROM communities WHERE slug = 'scale'))",
                [conversation.parse::<i64>()?],
                |r| r.get(0),
            )?
        };
        let n = bench.samples;
        let path = format!("/c/scale/conversations/{conversation}");
        let inbox = sample(n, |_| Ok(browser::get(&mut m0, "/c/scale/conversations")?.status == 200))?;
        let conversation = sample(n, |_| Ok(browser::get(&mut m0, &path)?.status == 200))?;
        let badge = sample(n, |_| {
            let r = browser::get(&mut m0, "/c/scale")?;
            Ok(r.status == 200 && r.body.contains("inbox_menu"))
        })?;
        let to = format!("user:{partner}");
        let find_existing = sample(n, |i| {
            let r = browser::post(
                &mut m0,
                "/c/scale/conversations",
                &[("to", &to), ("body", &format!("again {i}"))],
            )?;
            Ok(r.status == 303 && r.location.is_some_and(|l| l.starts_with(&path)))
        })?;
        drop(server);
        rows.push(Row { size, seed_s, inbox, conversation, badge, find_existing });
    }
    Ok(Report { rows })
}

/// Prints the section.
pub fn print(report: &Report) {
    println!("\n## Scale (p50 / p99 over sequential requests through the real portal)");
    print!("| | ");
    for r in &report.rows {
        print!("{} messages | ", r.size.messages);
    }
    println!();
    println!("|---|{}", "---|".repeat(report.rows.len()));
    let line = |name: &str, f: &dyn Fn(&Row) -> String| {
        print!("| {name} | ");
        for r in &report.rows {
            print!("{} | ", f(r));
        }
        println!();
    };
    line("members / conversations", &|r| format!("{} / {}", r.size.members, r.size.conversations));
    line("seeding", &|r| format!("{:.1} s", r.seed_s));
    line("inbox", &|r| format!("{:.2} / {:.2} ms", r.inbox.p50_ms, r.inbox.p99_ms));
    line("conversation page", &|r| format!("{:.2} / {:.2} ms", r.conversation.p50_ms, r.conversation.p99_ms));
    line("unread badge (home)", &|r| format!("{:.2} / {:.2} ms", r.badge.p50_ms, r.badge.p99_ms));
    line("find existing (POST)", &|r| {
        format!("{:.2} / {:.2} ms", r.find_existing.p50_ms, r.find_existing.p99_ms)
    });
}
