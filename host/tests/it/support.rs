//! Helpers shared by the integration tests: paths, one runtime per test binary, services
//! that record what a plugin asked for, and request builders.

use host::plugins::{HostServices, LoadedPlugin, PluginRuntime, RuntimeConfig};
use plugin_api::{
    AbilityName, CommunityId, CommunityInfo, Context, HostError, HostReply, HttpMethod, LogLevel,
    PageRequest, PluginRequest, SqlValue, Timestamp, UserId, Viewer,
};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ has a parent").to_owned()
}

/// The Conversations manifest; fails with a clear message if the module was not built.
pub fn conversations_manifest() -> PathBuf {
    let manifest = root().join("manifests/conversations.toml");
    let wasm = root().join("manifests/wasm/conversations.wasm");
    assert!(
        wasm.exists(),
        "{} is missing: build the plugins first with scripts/build-plugins.sh (make test does)",
        wasm.display()
    );
    manifest
}

/// A hostile fixture plugin's manifest.
pub fn hostile(name: &str) -> PathBuf {
    root().join("fixtures/plugins/hostile").join(format!("{name}.toml"))
}

/// The limits the tests run with: small, so hostile plugins are stopped quickly.
pub fn test_config() -> RuntimeConfig {
    let mut config = RuntimeConfig::default();
    config.limits.cpu_ms = 200;
    config.limits.memory_mib = 16;
    config.pool_slots = 32;
    config.cache_dir = Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache"));
    config
}

/// The runtime shared by the tests of this binary (as the portal shares one).
pub fn runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| PluginRuntime::new(test_config()).expect("runtime starts"))
}

/// The real Conversations plugin, loaded once.
pub fn conversations() -> &'static LoadedPlugin<Recorder> {
    static PLUGIN: OnceLock<LoadedPlugin<Recorder>> = OnceLock::new();
    PLUGIN.get_or_init(|| runtime().load(&conversations_manifest()).expect("conversations loads"))
}

/// Host services that record every call a plugin made and answer SQL with no rows.
#[derive(Debug, Default)]
pub struct Recorder {
    /// `(plugin, level, message)` of each log call.
    pub logs: Vec<(String, LogLevel, String)>,
    /// The SQL of each query or execute.
    pub sql: Vec<String>,
    /// The topics of each live update published.
    pub published: Vec<Vec<String>>,
}

impl HostServices for Recorder {
    fn query(&mut self, sql: &str, _params: &[SqlValue]) -> Result<HostReply, HostError> {
        self.sql.push(sql.to_owned());
        Ok(HostReply::Rows { columns: vec![], rows: vec![] })
    }
    fn execute(&mut self, sql: &str, _params: &[SqlValue]) -> Result<HostReply, HostError> {
        self.sql.push(sql.to_owned());
        Ok(HostReply::Executed { changes: 0, last_insert_id: 0 })
    }
    fn publish(&mut self, _to: &[UserId], topics: &[String]) -> Result<(), HostError> {
        self.published.push(topics.to_vec());
        Ok(())
    }
    fn log(&mut self, plugin: &str, level: LogLevel, message: &str) {
        self.logs.push((plugin.to_owned(), level, message.to_owned()));
    }
}

/// A context for community 1, viewed by member 7 with `abilities`.
pub fn ctx(abilities: &[&str]) -> Context {
    Context {
        community: CommunityInfo {
            id: CommunityId(1),
            slug: "demo".into(),
            name: "Demo".into(),
            settings: host::plugins::manifest::load(&root().join("manifests/conversations.toml"))
                .map(|m| host::plugins::manifest::default_settings(&m.raw))
                .unwrap_or_default(),
        },
        viewer: Some(Viewer { id: UserId(7), name: "Ada".into(), is_admin: false }),
        abilities: abilities.iter().map(|a| AbilityName((*a).into())).collect(),
        now: Timestamp(1_700_000_000_000),
        request_id: "test".into(),
    }
}

/// A page request for `route` with form fields.
pub fn page(route: &str, method: HttpMethod, form: &[(&str, &str)]) -> PluginRequest {
    PluginRequest::Page {
        ctx: ctx(&["conversations.use"]),
        page: PageRequest {
            route: route.into(),
            method,
            params: Default::default(),
            query: vec![],
            form: form.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
        },
    }
}

/// Bytes as a WAT string literal.
pub fn wat_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// The allocator and the plain exports of a generated WAT plugin: a bump allocator from
/// `heap` (growing memory as needed), a `portal_free` that keeps everything (an instance
/// serves one request), and ABI version 1.
pub fn wat_allocator(heap: u32) -> String {
    format!(
        r#"  (global $next (mut i32) (i32.const {heap}))
  (func $alloc (export "portal_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $len)))
    (if (i32.gt_u (global.get $next) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.add (i32.div_u (global.get $next) (i32.const 65536)) (i32.const 1))))))
    (local.get $p))
  (func (export "portal_free") (param i32 i32))
  (func (export "portal_abi_version") (result i32) (i32.const 1))"#
    )
}

/// What a generated test plugin does with every request but `Describe`.
pub enum Behaviour {
    /// Answers these bytes (an encoded `PluginResponse`).
    Answer(Vec<u8>),
    /// Loops forever (stopped by the CPU limit).
    Loop,
    /// Traps.
    Trap,
}

/// A WAT plugin that answers `Describe` with `described` (an encoded `Description`
/// wrapped as `{"described": ...}`) and every other request as `behaviour` says. It
/// recognises `Describe` by its length (`"describe"` is 10 bytes).
pub fn behaviour_wat(described: &str, behaviour: &Behaviour) -> String {
    let answer: &[u8] = match behaviour {
        Behaviour::Answer(bytes) => bytes,
        Behaviour::Loop | Behaviour::Trap => b"",
    };
    let body = match behaviour {
        Behaviour::Answer(_) => format!("(i64.const {})", (65536u64 << 32) | answer.len() as u64),
        Behaviour::Loop => "(loop $forever (br $forever)) (i64.const 0)".to_owned(),
        Behaviour::Trap => "unreachable".to_owned(),
    };
    format!(
        r#"(module
  (memory (export "memory") 4)
  (data (i32.const 0) "{described}")
  (data (i32.const 65536) "{answer}")
{allocator}
  (func (export "portal_handle") (param $ptr i32) (param $len i32) (result i64)
    (if (i32.eq (local.get $len) (i32.const 10)) (then (return (i64.const {d}))))
    {body})
)"#,
        described = wat_string(described.as_bytes()),
        answer = wat_string(answer),
        allocator = wat_allocator(196_608),
        d = described.len(),
    )
}

/// Writes a generated plugin `id` (see [`behaviour_wat`]) with `manifest_tail` appended
/// to its manifest's header into `dir`; the manifest's path.
pub fn write_behaviour_plugin(
    dir: &std::path::Path,
    id: &str,
    manifest_tail: &str,
    behaviour: &Behaviour,
) -> PathBuf {
    let described = serde_json::json!({ "described": {
        "id": id, "version": "0.1.0", "migrations": [], "templates": [],
    }})
    .to_string();
    std::fs::write(dir.join(format!("{id}.wat")), behaviour_wat(&described, behaviour)).expect("write wat");
    let manifest = format!(
        "id = \"{id}\"\nname = \"Test: {id}\"\nversion = \"0.1.0\"\nabi_version = 1\nwasm = \"{id}.wat\"\n{manifest_tail}"
    );
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(&path, manifest).expect("write manifest");
    path
}
