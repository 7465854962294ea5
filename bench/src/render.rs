//! What the template sandbox's HTML sanitizer costs a page: the Conversations inbox, the
//! compose form and a conversation of 40 messages, each rendered by the real plugin
//! in-process, then the cleaning alone timed on that page's fragment, beside the whole
//! plugin page call (plugin instance, SQL, render, cleaning) it is part of.

use crate::boundary::time_per_op;
use anyhow::Context as _;
use host::clock::Clock;
use host::config::Config;
use host::db::{communities, users};
use host::portal::{PageOutcome, Portal};
use host::render::Cleaner;
use plugin_api::{HttpMethod, PageRequest, SlotPage};
use serde::Serialize;

/// One page.
#[derive(Serialize)]
pub struct Row {
    page: &'static str,
    fragment_bytes: usize,
    clean_us: f64,
    page_call_us: f64,
}

/// The section's result.
#[derive(Serialize)]
pub struct Report {
    rows: Vec<Row>,
}

const CSRF: &str = "bench-csrf-token";

fn request(route: &str, method: HttpMethod, params: &[(&str, &str)], form: &[(&str, &str)]) -> PageRequest {
    let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    PageRequest {
        route: route.into(),
        method,
        params: owned(params).into_iter().collect(),
        query: Vec::new(),
        form: owned(form),
    }
}

/// Runs the section on a fresh database with the demo data of `demo`.
pub fn run(bench: &crate::Bench, demo: &std::path::Path) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let (path, _) =
        crate::server::write_config(dir.path(), &bench.manifest, &dir.path().join("module-cache"), "")?;
    let portal =
        Portal::start(Config::load(&path, true)?, Clock::system()).map_err(|e| anyhow::anyhow!("{e}"))?;
    host::demo::load(&portal, &host::demo::read(demo)?)?;
    let conn = portal.db.get()?;
    let community = communities::by_slug(&conn, "riverside")?.context("riverside")?;
    let grace = users::by_nickname(&conn, community.id, "grace")?.context("grace")?;
    let alan = users::by_nickname(&conn, community.id, "alan")?.context("alan")?;
    let alan_id = alan.id;
    let member = portal.member(&conn, grace)?;
    let other = portal.member(&conn, alan)?;
    drop(conn);
    let plugin = portal.plugins.first().context("the Conversations plugin")?;
    let call = |req: PageRequest| portal.page(plugin, &community, &member, req, &SlotPage::default(), CSRF);
    let call_as_alan =
        |req: PageRequest| portal.page(plugin, &community, &other, req, &SlotPage::default(), CSRF);
    let to = format!("user:{alan_id}");
    let body = "A message of some ordinary length, with a link to https://example.org/page and a question?";
    let PageOutcome::Redirect { to: thread, .. } =
        call(request("create", HttpMethod::Post, &[], &[("to", &to), ("body", body)]))
    else {
        anyhow::bail!("the conversation was not created");
    };
    let id = thread.rsplit('/').next().unwrap_or_default().to_owned();
    call_as_alan(request("invitation", HttpMethod::Post, &[("id", &id)], &[("answer", "accept")]));
    for i in 0..39 {
        let reply = request("reply", HttpMethod::Post, &[("id", &id)], &[("body", body)]);
        let outcome = if i % 2 == 0 { call_as_alan(reply) } else { call(reply) };
        anyhow::ensure!(matches!(outcome, PageOutcome::Redirect { .. }), "reply {i} was not sent");
    }
    let cleaner = Cleaner::new();
    let mut rows = Vec::new();
    for (page, req) in [
        ("inbox", request("inbox", HttpMethod::Get, &[], &[])),
        ("compose form", request("new", HttpMethod::Get, &[], &[])),
        ("conversation, 40 messages", request("show", HttpMethod::Get, &[("id", &id)], &[])),
    ] {
        let PageOutcome::Render { html, .. } = call(req.clone()) else {
            anyhow::bail!("{page} did not render")
        };
        // The fragment as served is already clean; cleaning it again does the same work.
        anyhow::ensure!(cleaner.page(&html, CSRF) == html, "{page}: cleaning is idempotent");
        let clean = time_per_op(bench.seconds, || {
            std::hint::black_box(cleaner.page(std::hint::black_box(&html), CSRF));
        });
        let whole = time_per_op(bench.seconds, || {
            std::hint::black_box(call(req.clone()));
        });
        rows.push(Row {
            page,
            fragment_bytes: html.len(),
            clean_us: clean.as_secs_f64() * 1e6,
            page_call_us: whole.as_secs_f64() * 1e6,
        });
    }
    Ok(Report { rows })
}

/// Prints the section.
pub fn print(report: &Report) {
    println!("\n## Template sandbox: cleaning a plugin page's HTML (Conversations, in-process, one thread)");
    println!("| page | fragment | cleaning | whole plugin page call | share |");
    println!("|---|---|---|---|---|");
    for r in &report.rows {
        println!(
            "| {} | {:.1} KB | {:.1} µs | {:.1} µs | {:.0} % |",
            r.page,
            r.fragment_bytes as f64 / 1024.0,
            r.clean_us,
            r.page_call_us,
            100.0 * r.clean_us / r.page_call_us
        );
    }
}
