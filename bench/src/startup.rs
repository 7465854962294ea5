//! Start-up and memory: time from `portal serve` to the first 200 response with an empty
//! compiled-module cache and with a warm one; resident memory when idle; and the memory one
//! live plugin instance costs (64 instances held at once, each having answered a call).

use crate::Bench;
use crate::server::{Server, rss_mib, write_config};
use host::plugins::{NoServices, PluginRuntime, RuntimeConfig};
use serde::Serialize;

/// The section's result.
#[derive(Serialize)]
pub struct Report {
    startup_cold_cache_ms: f64,
    startup_warm_cache_ms: f64,
    rss_idle_mib: f64,
    instance_kib: f64,
}

/// Runs the section.
pub fn run(bench: &Bench) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let cache = dir.path().join("module-cache");
    let (config, port) = write_config(dir.path(), &bench.manifest, &cache, "")?;
    let cold = Server::start(&bench.binary, &config, port, None)?;
    let startup_cold_cache_ms = cold.startup.as_secs_f64() * 1e3;
    drop(cold);
    let mut warm_runs = Vec::new();
    let mut rss_idle_mib = 0.0;
    for _ in 0..5 {
        let warm = Server::start(&bench.binary, &config, port, None)?;
        warm_runs.push(warm.startup.as_secs_f64() * 1e3);
        std::thread::sleep(std::time::Duration::from_millis(200));
        rss_idle_mib = warm.rss_mib();
    }
    warm_runs.sort_by(f64::total_cmp);
    Ok(Report {
        startup_cold_cache_ms,
        startup_warm_cache_ms: warm_runs[warm_runs.len() / 2],
        rss_idle_mib,
        instance_kib: instance_memory(bench)?,
    })
}

/// Resident memory added per live instance, in KiB.
fn instance_memory(bench: &Bench) -> anyhow::Result<f64> {
    const INSTANCES: usize = 64;
    let runtime = PluginRuntime::new(RuntimeConfig::default()).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let plugin = runtime.load::<NoServices>(&bench.manifest)?;
    let input = plugin_api::codec::encode(&crate::boundary::request("hello"))?;
    let me = std::process::id();
    // One instance first, so the code and the pool's bookkeeping are already counted.
    plugin.session(NoServices).map_err(|(e, _)| e)?.call_raw(&input)?;
    let before = rss_mib(me);
    let mut sessions = Vec::new();
    for _ in 0..INSTANCES {
        let mut session = plugin.session(NoServices).map_err(|(e, _)| e)?;
        session.call_raw(&input)?;
        sessions.push(session);
    }
    let after = rss_mib(me);
    drop(sessions);
    Ok((after - before) * 1024.0 / INSTANCES as f64)
}

/// Prints the section.
pub fn print(report: &Report) {
    println!("\n## Start-up and memory");
    println!("| what | value |");
    println!("|---|---|");
    println!("| `portal serve` to first 200, empty module cache | {:.0} ms |", report.startup_cold_cache_ms);
    println!(
        "| `portal serve` to first 200, warm module cache (median of 5) | {:.0} ms |",
        report.startup_warm_cache_ms
    );
    println!("| resident memory, idle | {:.1} MiB |", report.rss_idle_mib);
    println!("| resident memory per live plugin instance | {:.0} KiB |", report.instance_kib);
}
