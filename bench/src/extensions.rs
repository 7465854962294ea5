//! Plugins extending plugins: sending with Moderation's check on vs off, and the rate of
//! event delivery. One portal with Conversations and Moderation, the sending section's
//! senders; rounds alternate with `moderation.check` revoked (off) and granted (on), and the
//! ratio is the median of the rounds' on/off ratios (taken in one run, so a machine that
//! changes speed shifts both sides alike). Then, with `moderation.report` granted, every
//! message queues a `message_posted` delivery for Moderation (the serving process does not
//! deliver: `[plugins.events] deliver = false`), and `portal events deliver` drains the
//! queue in one process: deliveries per second, each one Moderation call and one commit.

use crate::Bench;
use crate::load::{self, Stats};
use crate::sending::{self, SENDERS};
use crate::server::{self, Server};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// Rounds of each kind.
const ROUNDS: usize = 3;

/// The section's result.
#[derive(Serialize)]
pub struct Report {
    senders: usize,
    /// Sending with the check off, all rounds.
    off: Stats,
    /// Sending with the check on, all rounds.
    on: Stats,
    /// The median of the rounds' on/off ratios.
    ratio_on_to_off: f64,
    rounds: Vec<Round>,
    /// Deliveries queued by the last sending run (one per message).
    queued: u64,
    /// What `portal events deliver` printed.
    delivered: u64,
    /// Deliveries per second.
    deliveries_per_s: f64,
}

/// One pair of rounds.
#[derive(Serialize)]
pub struct Round {
    off_per_s: f64,
    on_per_s: f64,
    ratio: f64,
}

/// Runs the section; `moderation` is Moderation's manifest (its module built).
pub fn run(bench: &Bench, moderation: &Path) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let port = server::free_port()?;
    let config = dir.path().join("portal.toml");
    let manifests = [std::fs::canonicalize(&bench.manifest)?, std::fs::canonicalize(moderation)?];
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\ndata_dir = {data:?}\n\
             [plugins]\nmanifests = [{c:?}, {m:?}]\n[plugins.events]\ndeliver = false\n\
             [jobs]\nenabled = false\n[web.sign_in]\nattempts_per_address = 1000000\n",
            data = dir.path(),
            c = manifests[0],
            m = manifests[1],
        ),
    )?;
    let demo = sending::demo_file(dir.path())?;
    let server = Server::start(&bench.binary, &config, port, Some(&demo))?;
    let db = dir.path().join("portal.db");
    let (mut clients, paths) = sending::senders(&server, &host::db::Location::Sqlite(db.clone()))?;
    let send = sending::sender(paths);
    let toggle = |grant: bool, ability: &str| -> anyhow::Result<()> {
        let verb = if grant { "grant" } else { "revoke" };
        server.cli(&["abilities", verb, "--community", "load", ability, "everyone"])?;
        Ok(())
    };
    let seconds = Duration::from_secs_f64(bench.seconds * 2.0 / ROUNDS as f64);
    let (mut off_lat, mut on_lat) = (Vec::new(), Vec::new());
    let (mut off_time, mut on_time) = (Duration::ZERO, Duration::ZERO);
    let mut rounds = Vec::new();
    // The demo grants only Conversations: each pair starts with the check off.
    for _ in 0..ROUNDS {
        let off = load::rounds(clients, seconds, send.clone())?;
        let off_per_s = off.latencies.len() as f64 / off.elapsed.as_secs_f64();
        off_lat.extend(off.latencies);
        off_time += off.elapsed;
        toggle(true, "moderation.check")?;
        let on = load::rounds(off.clients, seconds, send.clone())?;
        let on_per_s = on.latencies.len() as f64 / on.elapsed.as_secs_f64();
        on_lat.extend(on.latencies);
        on_time += on.elapsed;
        clients = on.clients;
        toggle(false, "moderation.check")?;
        rounds.push(Round { off_per_s, on_per_s, ratio: on_per_s / off_per_s });
    }
    // Event delivery: every message now queues a delivery for Moderation.
    toggle(true, "moderation.report")?;
    let burst = load::rounds(clients, seconds, send.clone())?;
    let queued = {
        let conn = rusqlite::Connection::open(&db)?;
        conn.query_row("SELECT count(*) FROM event_deliveries", [], |r| r.get::<_, i64>(0))?
    };
    anyhow::ensure!(queued as usize >= burst.latencies.len(), "expected one queued delivery per message");
    let printed = server.cli(&["events", "deliver"])?;
    // "delivered N events (F failed ...) in S s: R per second"
    let number_after =
        |word: &str| -> Option<f64> { printed.split(word).nth(1)?.split_whitespace().next()?.parse().ok() };
    let delivered = number_after("delivered ").unwrap_or(0.0) as u64;
    let deliveries_per_s = number_after("s: ").unwrap_or(0.0);
    let mut ratios: Vec<f64> = rounds.iter().map(|r| r.ratio).collect();
    ratios.sort_by(f64::total_cmp);
    Ok(Report {
        senders: SENDERS,
        off: load::stats(off_lat, off_time),
        on: load::stats(on_lat, on_time),
        ratio_on_to_off: load::percentile(&ratios, 50.0),
        rounds,
        queued: queued as u64,
        delivered,
        deliveries_per_s,
    })
}

/// Prints the section's table.
pub fn print(r: &Report) {
    println!("\n## Extensions: sending with Moderation's check, and event delivery\n");
    println!("{} senders; rounds alternate with `moderation.check` revoked and granted.\n", r.senders);
    println!("| round | check off, msg/s | check on, msg/s | on / off |");
    println!("|---|---|---|---|");
    for (i, round) in r.rounds.iter().enumerate() {
        println!("| {} | {:.0} | {:.0} | {:.2}x |", i + 1, round.off_per_s, round.on_per_s, round.ratio);
    }
    println!(
        "| all | {:.0} (p50 {:.1} ms, p99 {:.1} ms) | {:.0} (p50 {:.1} ms, p99 {:.1} ms) | **{:.2}x** (median) |",
        r.off.rps, r.off.p50_ms, r.off.p99_ms, r.on.rps, r.on.p50_ms, r.on.p99_ms, r.ratio_on_to_off
    );
    println!(
        "\nEvent delivery: {} `message_posted` deliveries queued for Moderation, {} delivered by `portal events deliver`: **{:.0} deliveries/s** (one Moderation call and one commit each).",
        r.queued, r.delivered, r.deliveries_per_s
    );
}
