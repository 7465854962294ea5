//! The `Slots` call alone, in-process on the demo data: what one page render pays for
//! the Conversations slots, asking the plugin (context, read transaction, fresh instance,
//! host calls) and reusing a remembered answer. No HTTP; `--sections slots` under a
//! profiler shows where the plugin call's time goes.

use crate::boundary::time_per_op;
use anyhow::Context as _;
use host::clock::Clock;
use host::config::Config;
use host::db::{communities, users};
use host::portal::Portal;
use plugin_api::SlotPage;
use serde::Serialize;

/// One page's `Slots` cost.
#[derive(Serialize)]
pub struct Row {
    page: &'static str,
    asked_us: f64,
    remembered_us: f64,
}

/// The section's result.
#[derive(Serialize)]
pub struct Report {
    rows: Vec<Row>,
}

fn portal(
    bench: &crate::Bench,
    dir: &std::path::Path,
    slot_cache: bool,
) -> anyhow::Result<std::sync::Arc<Portal>> {
    let (path, _) = crate::server::write_config(dir, &bench.manifest, &dir.join("module-cache"), "")?;
    let mut config = Config::load(&path, true)?;
    config.plugins.slot_cache = slot_cache;
    Portal::start(config, Clock::system()).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Runs the section on a fresh database with the demo data of `demo`.
pub fn run(bench: &crate::Bench, demo: &std::path::Path) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let asking = portal(bench, dir.path(), false)?;
    host::demo::load(&asking, &host::demo::read(demo)?)?;
    let remembering = portal(bench, dir.path(), true)?;
    let conn = asking.db.get()?;
    let community = communities::by_slug(&conn, "riverside")?.context("riverside")?;
    let grace = users::by_nickname(&conn, community.id, "grace")?.context("grace")?;
    let alan = users::by_nickname(&conn, community.id, "alan")?.context("alan")?;
    let member = asking.member(&conn, grace)?;
    drop(conn);
    let mut rows = Vec::new();
    for (name, page) in
        [("profile", SlotPage { profile: Some(alan.id), group: None }), ("home", SlotPage::default())]
    {
        let asked_slots = asking.slots(&community, Some(&member), &page);
        anyhow::ensure!(!asked_slots.header_user_menu.is_empty(), "the slots are filled");
        let asked = time_per_op(bench.seconds, || {
            std::hint::black_box(asking.slots(&community, Some(&member), &page));
        });
        let remembered = time_per_op(bench.seconds, || {
            std::hint::black_box(remembering.slots(&community, Some(&member), &page));
        });
        anyhow::ensure!(remembering.slot_cache.stats().hits > 0, "answers are remembered");
        rows.push(Row {
            page: name,
            asked_us: asked.as_secs_f64() * 1e6,
            remembered_us: remembered.as_secs_f64() * 1e6,
        });
    }
    Ok(Report { rows })
}

/// Prints the section.
pub fn print(report: &Report) {
    println!("\n## One `Slots` call, in-process (Conversations, demo data, one thread)");
    println!("| page | plugin asked | answer remembered |");
    println!("|---|---|---|");
    for r in &report.rows {
        println!("| {} | {:.1} µs | {:.2} µs |", r.page, r.asked_us, r.remembered_us);
    }
}
