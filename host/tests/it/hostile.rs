//! Hostile and buggy plugins: each is stopped with a clear, typed error naming it, and the
//! next call to a good plugin on the same runtime succeeds.

use crate::support::{Recorder, conversations, hostile, page, runtime};
use host::plugins::{CallFailure, LoadError, LoadedPlugin};
use plugin_api::{HostCall, HostErrorKind, HostReply, HttpMethod, LogLevel, PluginResponse, SqlValue, codec};
use std::time::{Duration, Instant};

fn load(name: &str) -> LoadedPlugin<Recorder> {
    runtime().load(&hostile(name)).unwrap_or_else(|e| panic!("{name} loads: {e}"))
}

/// Calls `name` with a page request, returns the failure and the services, and checks
/// that the good plugin still answers afterwards.
fn failure_of(name: &str) -> (CallFailure, Recorder, String) {
    let plugin = load(name);
    let (result, services) = plugin.call(&page("any", HttpMethod::Get, &[]), Recorder::default());
    let err = result.expect_err("the hostile call fails");
    assert_eq!(err.plugin, name, "the error names the plugin");
    let shown = err.to_string();
    assert!(shown.starts_with(&format!("plugin `{name}`: ")), "{shown}");
    the_good_plugin_still_works();
    (err.reason, services, shown)
}

fn the_good_plugin_still_works() {
    let (result, _) = conversations().call(&page("about", HttpMethod::Get, &[]), Recorder::default());
    assert!(matches!(result, Ok(PluginResponse::Page(_))), "conversations still answers: {result:?}");
}

#[test]
fn an_infinite_loop_is_stopped_by_the_cpu_cap() {
    let started = Instant::now();
    let (reason, _, shown) = failure_of("infinite_loop");
    assert_eq!(reason, CallFailure::Timeout { limit_ms: 200 });
    assert!(shown.contains("ran out of CPU time (limit 200 ms)"), "{shown}");
    // Correctness, not speed: the loop is cut off, not left running for ever.
    assert!(started.elapsed() < Duration::from_secs(10), "stopped after {:?}", started.elapsed());
}

#[test]
fn unbounded_memory_growth_is_stopped_by_the_memory_cap() {
    let (reason, _, shown) = failure_of("memory_bomb");
    assert_eq!(reason, CallFailure::MemoryLimit { limit_mib: 16 });
    assert!(shown.contains("past the limit of 16 MiB"), "{shown}");
}

#[test]
fn a_response_pointer_outside_memory_is_refused() {
    let (reason, _, _) = failure_of("bad_pointer");
    assert_eq!(reason, CallFailure::OutOfBounds { what: "the response", ptr: 0xfff0_0000, len: 64 });
}

#[test]
fn an_oversized_response_is_refused() {
    let (reason, _, shown) = failure_of("oversized_response");
    assert_eq!(
        reason,
        CallFailure::PayloadTooLarge { what: "the response", len: 2 * 1024 * 1024, limit: 1024 * 1024 }
    );
    assert!(shown.contains("larger than the limit of 1048576 bytes"), "{shown}");
}

#[test]
fn bytes_that_are_not_a_response_are_refused() {
    let (reason, _, _) = failure_of("garbage_response");
    assert!(matches!(reason, CallFailure::MalformedResponse { .. }), "{reason:?}");
}

#[test]
fn a_trap_midway_fails_the_call_after_its_host_call() {
    let (reason, services, _) = failure_of("trap_midway");
    match reason {
        CallFailure::Trap { message } => assert!(message.contains("unreachable"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(services.logs, vec![("trap_midway".to_owned(), LogLevel::Info, "about to trap".to_owned())]);
}

#[test]
fn a_flood_of_host_calls_is_cut_off() {
    let (reason, services, _) = failure_of("host_call_flood");
    assert_eq!(reason, CallFailure::TooManyHostCalls { limit: 1000 });
    assert_eq!(services.logs.len(), 1000, "every call up to the limit was served, none after");
}

#[test]
fn a_host_call_outside_the_capabilities_is_refused_and_never_reaches_the_service() {
    let plugin = load("host_call_proxy");
    let mut session = plugin.session(Recorder::default()).map_err(|(e, _)| e).expect("instance");
    let query = HostCall::Query { sql: "SELECT * FROM users".into(), params: vec![SqlValue::Int(1)] };
    let reply: HostReply =
        codec::decode(&session.call_raw(&codec::encode(&query).expect("encode")).expect("call"))
            .expect("the proxy returns the host's reply");
    match reply {
        HostReply::Error(e) => {
            assert_eq!(e.kind, HostErrorKind::CapabilityDenied);
            assert_eq!(
                e.message,
                "host call `query` of plugin `host_call_proxy` refused: it needs the `sql` capability, which \
                 the manifest does not declare. Fix: add \"sql\" to `capabilities` in the manifest of `host_call_proxy`"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The declared capability works in the same instance.
    let log = HostCall::Log { level: LogLevel::Warn, message: "allowed".into() };
    let reply: HostReply =
        codec::decode(&session.call_raw(&codec::encode(&log).expect("encode")).expect("call"))
            .expect("reply");
    assert_eq!(reply, HostReply::Done);
    let services = session.finish();
    assert!(services.sql.is_empty(), "the SQL service was never called: {:?}", services.sql);
    assert_eq!(services.logs.len(), 1);
    the_good_plugin_still_works();
}

#[test]
fn an_undecodable_host_call_gets_an_error_reply() {
    let plugin = load("host_call_proxy");
    let mut session = plugin.session(Recorder::default()).map_err(|(e, _)| e).expect("instance");
    let reply: HostReply =
        codec::decode(&session.call_raw(b"{\"call\":\"format_disk\",\"disk\":\"/\"}").expect("call"))
            .expect("reply");
    assert!(matches!(reply, HostReply::Error(ref e) if e.kind == HostErrorKind::Invalid), "{reply:?}");
}

fn load_error(name: &str) -> String {
    match runtime().load::<Recorder>(&hostile(name)) {
        Ok(_) => panic!("{name} must not load"),
        Err(e) => {
            the_good_plugin_still_works();
            e.to_string()
        }
    }
}

#[test]
fn a_wrong_abi_version_is_a_load_error() {
    assert_eq!(
        load_error("wrong_abi"),
        "plugin `wrong_abi`: the manifest says abi_version `1`, but the module says `2`"
    );
}

#[test]
fn a_missing_export_is_a_load_error() {
    assert_eq!(
        load_error("missing_export"),
        "plugin `missing_export`: missing export `portal_handle`; expected a function (i32, i32) -> i64"
    );
}

#[test]
fn an_import_the_host_does_not_provide_is_a_load_error() {
    let shown = load_error("wasi_import");
    assert!(
        shown.contains("imports `wasi_snapshot_preview1.fd_write`, which the portal does not provide"),
        "{shown}"
    );
}

#[test]
fn a_module_that_is_not_wasm_is_a_load_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("junk.wasm"), b"\0asm but not really").expect("write");
    let manifest = dir.path().join("junk.toml");
    std::fs::write(
        &manifest,
        "id = \"junk\"\nname = \"Junk\"\nversion = \"0.1.0\"\nabi_version = 1\nwasm = \"junk.wasm\"\n",
    )
    .expect("write");
    let err = runtime().load::<Recorder>(&manifest).err().expect("refused");
    assert!(matches!(err, LoadError::Module { .. }), "{err:?}");
    assert!(err.to_string().contains("junk.wasm is not a valid module"), "{err}");
}

#[test]
fn many_hostile_calls_in_parallel_leave_the_pool_usable() {
    let looping = load("infinite_loop");
    let bomb = load("memory_bomb");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..3 {
                    assert!(looping.call(&page("x", HttpMethod::Get, &[]), Recorder::default()).0.is_err());
                    assert!(bomb.call(&page("x", HttpMethod::Get, &[]), Recorder::default()).0.is_err());
                    the_good_plugin_still_works();
                }
            });
        }
    });
}
