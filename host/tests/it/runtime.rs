//! The real Conversations wasm in the real runtime: Describe, pages, the module cache.

use crate::support::{self, Recorder, conversations, page};
use host::plugins::PluginRuntime;
use host::plugins::engine::ModuleSource;
use plugin_api::{HttpMethod, PageResponse, PluginResponse};
use std::time::Instant;

#[test]
fn conversations_loads_and_describes_itself() {
    let plugin = conversations();
    let d = plugin.description();
    assert_eq!(d.id, "conversations");
    assert_eq!(d.version, plugin.manifest().version());
    assert_eq!(d.migrations.first().map(|m| m.version), Some(1));
    assert!(d.migrations[0].sql.contains("CREATE TABLE conversations_conversation"));
    let names: Vec<_> = d.templates.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"about") && names.contains(&"preview"), "{names:?}");
}

fn render_data(response: PluginResponse) -> (String, serde_json::Value) {
    match response {
        PluginResponse::Page(PageResponse::Render { template, data, .. }) => (template, data.0),
        other => panic!("expected a rendered page, got {other:?}"),
    }
}

#[test]
fn conversations_answers_a_page_with_the_viewer_and_settings() {
    let (result, _) = conversations().call(&page("about", HttpMethod::Get, &[]), Recorder::default());
    let (template, data) = render_data(result.expect("about renders"));
    assert_eq!(template, "about");
    assert_eq!(data["viewer"], "Ada");
    assert_eq!(data["max_message_length"], 1000);
}

#[test]
fn conversations_validates_a_message_through_the_abi() {
    let call = |body: &str| {
        let (result, _) =
            conversations().call(&page("preview", HttpMethod::Post, &[("body", body)]), Recorder::default());
        render_data(result.expect("preview renders")).1
    };
    let ok = call("  hello  ");
    assert_eq!(ok["body"], "hello");
    assert_eq!(ok["chars"], 5);
    assert!(ok["error"].is_null());

    let at_limit = call(&"😀".repeat(1000));
    assert!(at_limit["error"].is_null(), "1000 emoji are 1000 characters: {at_limit}");
    let too_long = call(&"x".repeat(1001));
    assert_eq!(too_long["error"], "Messages can be at most 1000 characters; this one has 1001.");
    let empty = call(" \n ");
    assert_eq!(empty["error"], "Write a message before sending.");
}

#[test]
fn an_unknown_route_is_not_found() {
    let (result, _) = conversations().call(&page("nope", HttpMethod::Get, &[]), Recorder::default());
    match result.expect("the call itself succeeds") {
        PluginResponse::Error(e) => assert_eq!(e.kind, plugin_api::ErrorKind::NotFound),
        other => panic!("expected not found, got {other:?}"),
    }
}

#[test]
fn compiled_module_cache_is_used_on_the_second_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = support::test_config();
    config.cache_dir = Some(dir.path().to_owned());
    let manifest = support::conversations_manifest();

    let first_runtime = PluginRuntime::new(config.clone()).expect("runtime");
    let first = first_runtime.load::<Recorder>(&manifest).expect("loads");
    assert_eq!(first.module_source(), ModuleSource::Compiled);
    let cached: Vec<_> = std::fs::read_dir(dir.path()).expect("cache dir").collect();
    assert_eq!(cached.len(), 1, "one compiled artifact is written");

    // A new runtime (as after a restart) finds the artifact.
    let second_runtime = PluginRuntime::new(config).expect("runtime");
    let started = Instant::now();
    let second = second_runtime.load::<Recorder>(&manifest).expect("loads from cache");
    let total = started.elapsed();
    assert_eq!(second.module_source(), ModuleSource::Cache);
    eprintln!(
        "module load: compile {:.1} ms, cache {:.3} ms (whole plugin load from cache incl. Describe: {:.1} ms)",
        first.module_load_time().as_secs_f64() * 1e3,
        second.module_load_time().as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3
    );
    let (result, _) = second.call(&page("about", HttpMethod::Get, &[]), Recorder::default());
    assert!(result.is_ok(), "the cached module works: {result:?}");
}

#[test]
fn a_corrupt_cache_entry_is_replaced_not_fatal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = support::test_config();
    config.cache_dir = Some(dir.path().to_owned());
    let runtime = PluginRuntime::new(config).expect("runtime");
    let manifest = support::conversations_manifest();
    runtime.load::<Recorder>(&manifest).expect("loads");
    for entry in std::fs::read_dir(dir.path()).expect("cache dir") {
        std::fs::write(entry.expect("entry").path(), b"not a compiled module").expect("overwrite");
    }
    let again = runtime.load::<Recorder>(&manifest).expect("recompiles");
    assert_eq!(again.module_source(), ModuleSource::Compiled);
}

#[test]
fn a_rust_plugin_panic_is_logged_through_the_host_before_the_trap() {
    let plugin = support::runtime().load::<Recorder>(&crate::http::notes_manifest()).expect("notes loads");
    let (result, services) =
        plugin.call(&page("trap_after_write", HttpMethod::Post, &[]), Recorder::default());
    let err = result.expect_err("the panic fails the call");
    assert!(matches!(err.reason, host::plugins::CallFailure::Trap { .. }), "{err}");
    assert_eq!(services.sql, vec!["INSERT INTO notes_note (author, body) VALUES (?1, 'half-done')"]);
    assert_eq!(services.published, vec![vec!["notes".to_owned()]], "published, then failed");
    let panic_line = services.logs.iter().find(|(_, level, _)| *level == plugin_api::LogLevel::Error);
    let (plugin_id, _, message) = panic_line.expect("the panic hook logged through the host");
    assert_eq!(plugin_id, "notes");
    assert!(message.contains("deliberate failure after a write"), "{message}");
}
