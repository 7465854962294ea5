//! `portal-bench`: the benchmark suite. Each section prints a Markdown table of numbers
//! taken in one run, side by side with what they are compared to, and the whole report is
//! written as JSON (for comparison between commits). Sections:
//!
//! - [`boundary`]: the same conversation logic native vs through the ABI;
//! - [`slots`]: one `Slots` call in-process, asked and remembered;
//! - [`render`]: what cleaning a plugin page's HTML costs, beside the whole page call;
//! - [`pages`]: page cost of plugins, with and without Conversations, under load;
//! - [`sending`]: messages/s over HTTP vs a native SQLite loop;
//! - [`scale`]: bulk seeding, then page timings at 10k, 100k and 1M messages;
//! - [`digest`]: the digest job at many participants;
//! - [`startup`]: start-up with and without the module cache, memory.
//!
//! Servers are the real `portal` binary on loopback; every workload is bounded in time.

mod boundary;
mod browser;
mod digest;
mod engines;
mod extensions;
mod load;
mod pages;
mod render;
mod scale;
mod sending;
mod server;
mod slots;
mod startup;

use clap::Parser;
use serde::Serialize;
use std::path::PathBuf;

/// Command-line arguments.
#[derive(Parser)]
#[command(about = "The portal's benchmark suite: prints ratios taken in one run, writes JSON")]
pub struct Args {
    /// The Conversations manifest (its module must be built).
    #[arg(long, default_value = "manifests/conversations.toml")]
    manifest: PathBuf,
    /// The `portal` binary (release build) for the sections that run a server.
    #[arg(long, default_value = "target/release/portal")]
    portal: PathBuf,
    /// The Moderation manifest (its module must be built), for the extensions section.
    #[arg(long, default_value = "manifests/moderation.toml")]
    moderation: PathBuf,
    /// The demo data the page benchmark serves.
    #[arg(long, default_value = "fixtures/demo.toml")]
    demo: PathBuf,
    /// Where to write the JSON report.
    #[arg(long, default_value = "target/bench/report.json")]
    json: PathBuf,
    /// Sections to run, comma-separated: boundary, slots, render, pages, sending, extensions,
    /// scale, digest, startup.
    #[arg(
        long,
        default_value = "boundary,slots,render,pages,sending,engines,extensions,scale,digest,startup",
        value_delimiter = ','
    )]
    sections: Vec<String>,
    /// Participants with unread conversations in the digest section.
    #[arg(long, default_value_t = 100_000)]
    digest: u32,
    /// Bytes of each pooled memory slot kept resident (boundary section).
    #[arg(long)]
    keep_resident: Option<usize>,
    /// Use the on-demand allocator instead of the pooling allocator (boundary section).
    #[arg(long)]
    no_pooling: bool,
    /// Profile one boundary path only, for a profiler: `fresh`, `reused` or `instantiate`.
    #[arg(long)]
    only: Option<String>,
    /// Seconds for each timed measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Sequential requests per timing in the scale section.
    #[arg(long, default_value_t = 300)]
    samples: usize,
}

/// What every section needs.
pub struct Bench {
    manifest: PathBuf,
    binary: PathBuf,
    seconds: f64,
    samples: usize,
}

#[derive(Default, Serialize)]
struct Report {
    machine: String,
    boundary: Option<boundary::Report>,
    slots: Option<slots::Report>,
    render: Option<render::Report>,
    pages: Option<pages::Report>,
    sending: Option<sending::Report>,
    engines: Option<engines::Report>,
    extensions: Option<extensions::Report>,
    scale: Option<scale::Report>,
    digest: Option<digest::Report>,
    startup: Option<startup::Report>,
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!("{cores} cores, {cpu}")
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bench = Bench {
        manifest: args.manifest.clone(),
        binary: args.portal.clone(),
        seconds: args.seconds,
        samples: args.samples,
    };
    let wants = |s: &str| args.sections.iter().any(|x| x == s);
    let needs_server =
        ["pages", "sending", "engines", "extensions", "scale", "startup"].iter().any(|s| wants(s));
    anyhow::ensure!(
        !needs_server || bench.binary.exists(),
        "{} is missing: build it first (`cargo build --release -p host`; `make bench` does)",
        bench.binary.display()
    );
    let mut report = Report { machine: machine(), ..Report::default() };
    println!("# portal-bench on {}", report.machine);
    if wants("boundary") {
        report.boundary = boundary::run(&bench, &args)?;
        let Some(r) = &report.boundary else { return Ok(()) };
        boundary::print(r);
    }
    if wants("slots") {
        let r = slots::run(&bench, &args.demo)?;
        slots::print(&r);
        report.slots = Some(r);
    }
    if wants("render") {
        let r = render::run(&bench, &args.demo)?;
        render::print(&r);
        report.render = Some(r);
    }
    if wants("pages") || wants("sending") {
        let dir = tempfile::tempdir()?;
        let cache = dir.path().join("module-cache");
        let (config, port) = server::write_config(dir.path(), &bench.manifest, &cache, "")?;
        // Compile the module into the cache first, as the first start after an upgrade
        // does: the memory measured is that of an ordinary start.
        let manifest = bench.manifest.to_str().unwrap_or_default();
        server::cli(&bench.binary, &config, &["plugin", "check", manifest])?;
        let server = server::Server::start(&bench.binary, &config, port, Some(&args.demo))?;
        if wants("pages") {
            let (config, port) = server::write_config_as(
                dir.path(),
                "portal-uncached.toml",
                &bench.manifest,
                &cache,
                "slot_cache = false",
                "",
            )?;
            let uncached = server::Server::start(&bench.binary, &config, port, None)?;
            let r = pages::run(&bench, &server, &uncached)?;
            pages::print(&r);
            report.pages = Some(r);
        }
        if wants("sending") {
            server.cli(&["demo", "load", sending::demo_file(dir.path())?.to_str().unwrap_or_default()])?;
            let r = sending::run(&bench, &server, &dir.path().join("portal.db"))?;
            sending::print(&r);
            report.sending = Some(r);
        }
    }
    if wants("engines") {
        let r = engines::run(&bench, &args.demo)?;
        engines::print(&r);
        report.engines = Some(r);
    }
    if wants("extensions") {
        let r = extensions::run(&bench, &args.moderation)?;
        extensions::print(&r);
        report.extensions = Some(r);
    }
    if wants("scale") {
        let r = scale::run(&bench)?;
        scale::print(&r);
        report.scale = Some(r);
    }
    if wants("digest") {
        let r = digest::run(&bench.manifest, args.digest)?;
        digest::print(&r);
        report.digest = Some(r);
    }
    if wants("startup") {
        let r = startup::run(&bench)?;
        startup::print(&r);
        report.startup = Some(r);
    }
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_vec_pretty(&report)?)?;
    println!("\nJSON: {}", args.json.display());
    Ok(())
}
