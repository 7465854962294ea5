//! Page cost of plugins: the profile page and the community home, with the Conversations
//! slots (badge, menu entries, Message button) and with the feature switched off, under
//! the same load against the real `portal` process; plus its memory idle and under load.
//! "With" is measured twice: with remembered `Slots` answers (the default; no writes
//! happen during the run, so nearly every page reuses one: the best case) and with
//! `[plugins] slot_cache = false` in a second process on the same database (one plugin
//! call per page: the worst case, as if something were written between every two pages).

use crate::Bench;
use crate::browser::{self};
use crate::load::{self, Stats};
use crate::server::Server;
use serde::Serialize;
use std::time::Duration;

/// One page, on (remembered answers, then a plugin call each time) and off.
#[derive(Serialize)]
pub struct PageRow {
    page: &'static str,
    with_plugin: Stats,
    with_plugin_uncached: Stats,
    without_plugin: Stats,
    throughput_ratio: f64,
    uncached_throughput_ratio: f64,
}

/// The section's result.
#[derive(Serialize)]
pub struct Report {
    clients: usize,
    rows: Vec<PageRow>,
    rss_idle_mib: f64,
    rss_under_load_mib: f64,
}

const CLIENTS: usize = 4;
const ABILITIES: [&str; 3] = ["conversations.use", "conversations.start", "conversations.groups"];

fn switch(server: &Server, on: bool) -> anyhow::Result<()> {
    for ability in ABILITIES {
        let verb = if on { "grant" } else { "revoke" };
        server.cli(&["abilities", verb, "--community", "riverside", ability, "everyone"])?;
    }
    Ok(())
}

fn measure(
    server: &Server,
    path: &'static str,
    marker: &'static str,
    on: bool,
    seconds: f64,
) -> anyhow::Result<Stats> {
    let clients = (0..CLIENTS)
        .map(|_| browser::signed_in(&server.base, "riverside", "grace@riverside.example"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    load::run(clients, Duration::from_secs_f64(seconds), move |client, _, _| {
        let r = browser::get(client, path)?;
        anyhow::ensure!(r.status == 200, "{path}: status {}", r.status);
        anyhow::ensure!(
            r.body.contains(marker) == on,
            "{path}: `{marker}` should be {}",
            if on { "there" } else { "gone" }
        );
        Ok(true)
    })
}

/// Runs the section: `server` remembers `Slots` answers, `uncached` (the same database)
/// does not.
pub fn run(bench: &Bench, server: &Server, uncached: &Server) -> anyhow::Result<Report> {
    // Idle: after start-up work (demo load, password hashing) has settled.
    std::thread::sleep(Duration::from_secs(2));
    let rss_idle_mib = server.rss_mib();
    let mut rows = Vec::new();
    let mut rss_under_load_mib: f64 = 0.0;
    let pages = [
        ("profile (/members/alan)", "/c/riverside/members/alan", "data-slot-key=\"message\""),
        ("community home", "/c/riverside", "data-slot-key=\"inbox_menu\""),
    ];
    for (page, path, marker) in pages {
        // Warm both paths, then measure on and off back to back.
        measure(server, path, marker, true, 0.5)?;
        let with_plugin = measure(server, path, marker, true, bench.seconds)?;
        rss_under_load_mib = rss_under_load_mib.max(server.rss_mib());
        measure(uncached, path, marker, true, 0.5)?;
        let with_plugin_uncached = measure(uncached, path, marker, true, bench.seconds)?;
        switch(server, false)?;
        measure(server, path, marker, false, 0.5)?;
        let without_plugin = measure(server, path, marker, false, bench.seconds)?;
        switch(server, true)?;
        rows.push(PageRow {
            page,
            throughput_ratio: with_plugin.rps / without_plugin.rps,
            uncached_throughput_ratio: with_plugin_uncached.rps / without_plugin.rps,
            with_plugin,
            with_plugin_uncached,
            without_plugin,
        });
    }
    Ok(Report { clients: CLIENTS, rows, rss_idle_mib, rss_under_load_mib })
}

/// Prints the section as a Markdown table.
pub fn print(report: &Report) {
    println!("\n## Page cost of plugins ({} clients over loopback, real `portal` process)", report.clients);
    println!(
        "| page | with Conversations | p50 / p99 | same, slot cache off | p50 / p99 | without | p50 / p99 | with / without | cache off / without |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &report.rows {
        println!(
            "| {} | {:.0} req/s | {:.2} / {:.2} ms | {:.0} req/s | {:.2} / {:.2} ms | {:.0} req/s | {:.2} / {:.2} ms | {:.2}x | {:.2}x |",
            r.page,
            r.with_plugin.rps,
            r.with_plugin.p50_ms,
            r.with_plugin.p99_ms,
            r.with_plugin_uncached.rps,
            r.with_plugin_uncached.p50_ms,
            r.with_plugin_uncached.p99_ms,
            r.without_plugin.rps,
            r.without_plugin.p50_ms,
            r.without_plugin.p99_ms,
            r.throughput_ratio,
            r.uncached_throughput_ratio
        );
    }
    println!(
        "Resident memory: {:.1} MiB idle, {:.1} MiB under this load",
        report.rss_idle_mib, report.rss_under_load_mib
    );
}
