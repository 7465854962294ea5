//! Plugin boundary: the same conversation logic called natively and through the ABI
//! (reused instance, fresh instance), 50 B and 1 KB message bodies; and a compiled-module
//! cache load against a compile.
//!
//! The "same logic" is the Conversations plugin's `preview` page (decode the request,
//! validate a message body against the community's limit, encode the rendered answer):
//! natively it is `conversations_plugin::portal_dispatch`, through the ABI it is the wasm
//! build of the same crate.

use crate::Bench;
use anyhow::Context as _;
use host::plugins::engine::{self, ModuleSource};
use host::plugins::{NoServices, PluginRuntime, RuntimeConfig};
use plugin_api::{
    AbilityName, CommunityId, CommunityInfo, Context, HttpMethod, PageRequest, PluginRequest, SettingValue,
    Timestamp, UserId, Viewer, codec,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Serialize)]
pub struct Row {
    body_bytes: usize,
    request_bytes: usize,
    native_us: f64,
    reused_us: f64,
    fresh_us: f64,
    reused_ratio: f64,
    fresh_ratio: f64,
}

/// The section's result.
#[derive(Serialize)]
pub struct Report {
    module_bytes: usize,
    instantiate_us: f64,
    rows: Vec<Row>,
    compile_ms: f64,
    cache_load_ms: f64,
    compile_over_cache: f64,
}

/// Time per iteration of `f`: after a warm-up, the median of 21 batch means taken over
/// about `seconds` in all (the median resists the machine's other work).
pub fn time_per_op(seconds: f64, mut f: impl FnMut()) -> Duration {
    for _ in 0..200 {
        f();
    }
    let batch_budget = Duration::from_secs_f64(seconds / 21.0);
    let mut means: Vec<Duration> = (0..21)
        .map(|_| {
            let mut iterations = 0u32;
            let started = Instant::now();
            while started.elapsed() < batch_budget {
                for _ in 0..20 {
                    f();
                }
                iterations += 20;
            }
            started.elapsed() / iterations
        })
        .collect();
    means.sort();
    means[means.len() / 2]
}

/// A `preview` page request with this message body.
pub fn request(body: &str) -> PluginRequest {
    PluginRequest::Page {
        ctx: Context {
            community: CommunityInfo {
                id: CommunityId(1),
                slug: "demo".into(),
                name: "Demo".into(),
                settings: BTreeMap::from([("max_message_length".into(), SettingValue::Int(1000))]),
            },
            viewer: Some(Viewer { id: UserId(7), name: "Ada".into(), is_admin: false }),
            abilities: vec![AbilityName("conversations.use".into())],
            now: Timestamp(1_700_000_000_000),
            request_id: "bench".into(),
        },
        page: PageRequest {
            route: "preview".into(),
            method: HttpMethod::Post,
            params: BTreeMap::new(),
            query: vec![],
            form: vec![("body".into(), body.into())],
        },
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Runs the section; `--only` runs one path for a profiler instead.
pub fn run(bench: &Bench, args: &crate::Args) -> anyhow::Result<Option<Report>> {
    let mut config = RuntimeConfig::default();
    if let Some(bytes) = args.keep_resident {
        config.keep_resident_bytes = bytes;
    }
    config.pooling = !args.no_pooling;
    let runtime = PluginRuntime::new(config.clone()).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let plugin = runtime
        .load::<NoServices>(&bench.manifest)
        .context("loading the plugin (run scripts/build-plugins.sh)")?;

    if let Some(path) = &args.only {
        let input = codec::encode(&request(&"x".repeat(1024)))?;
        let mut session = plugin.session(NoServices).map_err(|(e, _)| e)?;
        let d = time_per_op(bench.seconds, || match path.as_str() {
            "reused" => {
                std::hint::black_box(session.call_raw(&input).ok());
            }
            "instantiate" => {
                std::hint::black_box(plugin.session(NoServices).is_ok());
            }
            _ => {
                if let Ok(mut s) = plugin.session(NoServices) {
                    std::hint::black_box(s.call_raw(&input).ok());
                }
            }
        });
        println!("{path}: {:.2} µs", us(d));
        return Ok(None);
    }
    let instantiate = time_per_op(bench.seconds, || {
        std::hint::black_box(plugin.session(NoServices).is_ok());
    });
    let mut rows = Vec::new();
    for body_bytes in [50usize, 1024] {
        let input = codec::encode(&request(&"x".repeat(body_bytes)))?;
        let native_out = conversations_plugin::portal_dispatch(&input);
        let native = time_per_op(bench.seconds, || {
            std::hint::black_box(conversations_plugin::portal_dispatch(std::hint::black_box(&input)));
        });

        let mut session = plugin.session(NoServices).map_err(|(e, _)| e)?;
        let wasm_out = session.call_raw(&input)?;
        anyhow::ensure!(wasm_out == native_out, "the wasm and native answers differ");
        let reused = time_per_op(bench.seconds, || {
            std::hint::black_box(session.call_raw(&input).ok());
        });
        drop(session);

        let fresh = time_per_op(bench.seconds, || {
            if let Ok(mut s) = plugin.session(NoServices) {
                std::hint::black_box(s.call_raw(&input).ok());
            }
        });
        rows.push(Row {
            body_bytes,
            request_bytes: input.len(),
            native_us: us(native),
            reused_us: us(reused),
            fresh_us: us(fresh),
            reused_ratio: reused.as_secs_f64() / native.as_secs_f64(),
            fresh_ratio: fresh.as_secs_f64() / native.as_secs_f64(),
        });
    }

    // Compile vs compiled-module cache, on the same engine settings.
    let wasm = std::fs::read(&plugin.manifest().wasm_path)?;
    let cache = tempfile::tempdir()?;
    let compiled = engine::load_module(runtime.engine(), &wasm, Some(cache.path()))
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    anyhow::ensure!(compiled.source == ModuleSource::Compiled, "the first load compiles");
    let mut cache_loads = Vec::new();
    for _ in 0..20 {
        let cached = engine::load_module(runtime.engine(), &wasm, Some(cache.path()))
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        anyhow::ensure!(cached.source == ModuleSource::Cache, "later loads hit the cache");
        cache_loads.push(cached.elapsed);
    }
    cache_loads.sort();
    let cache_load = cache_loads[cache_loads.len() / 2];
    let report = Report {
        module_bytes: wasm.len(),
        instantiate_us: us(instantiate),
        rows,
        compile_ms: compiled.elapsed.as_secs_f64() * 1e3,
        cache_load_ms: cache_load.as_secs_f64() * 1e3,
        compile_over_cache: compiled.elapsed.as_secs_f64() / cache_load.as_secs_f64(),
    };

    Ok(Some(report))
}

/// Prints the section.
pub fn print(report: &Report) {
    println!(
        "Plugin boundary: Conversations `preview` page, same code native and in wasm ({} module bytes)",
        report.module_bytes
    );
    println!(
        "| message body | request | native | reused instance | fresh instance | reused / native | fresh / native |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &report.rows {
        println!(
            "| {} B | {} B | {:.2} µs | {:.2} µs | {:.2} µs | {:.1}x | {:.1}x |",
            r.body_bytes,
            r.request_bytes,
            r.native_us,
            r.reused_us,
            r.fresh_us,
            r.reused_ratio,
            r.fresh_ratio
        );
    }
    println!("Instantiation alone (fresh instance, no call): {:.2} µs", report.instantiate_us);
    println!();
    println!(
        "Module load: compile {:.1} ms, compiled-module cache {:.3} ms (median of 20): {:.0}x faster",
        report.compile_ms, report.cache_load_ms, report.compile_over_cache
    );
}
