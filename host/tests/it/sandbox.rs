//! The standing adversarial suite for plugin SQL and host calls, through the real portal:
//! hostile plugins made here (WAT text and a manifest in a temporary folder) whose
//! migrations and host calls attack the portal's own tables, schema, memory and time. Each
//! attack fails with an error naming the rule (a load error, or a refusal the plugin shows
//! on its page), the portal keeps serving, and no row of the portal's tables changes.

use crate::http::Server;
use crate::support::{conversations_manifest, wat_string};
use host::clock::Clock;
use host::config::Config;
use host::portal::Portal;
use plugin_api::{HostCall, SqlValue, codec};

const GRACE: &str = "grace@riverside.example";
use std::path::PathBuf;

/// A hostile plugin: its migrations, and the one host call it makes on every page request
/// (`GET /c/{community}/{id}`, or POST for writes), whose reply it renders.
pub(crate) struct Attacker {
    id: &'static str,
    migrations: Vec<&'static str>,
    call: HostCall,
    capabilities: &'static str,
    manifest_tail: String,
}

impl Attacker {
    pub(crate) fn new(id: &'static str, call: HostCall) -> Attacker {
        Attacker {
            id,
            migrations: vec![],
            call,
            capabilities: r#""sql", "preferences", "log""#,
            manifest_tail: String::new(),
        }
    }

    /// These capabilities (TOML list items) instead of sql, preferences and log, and
    /// `tail` appended to the manifest (e.g. `[[extension_points]]`).
    pub(crate) fn declaring(mut self, capabilities: &'static str, tail: &str) -> Attacker {
        self.capabilities = capabilities;
        self.manifest_tail = tail.to_owned();
        self
    }

    pub(crate) fn migrations(mut self, migrations: &[&'static str]) -> Attacker {
        self.migrations = migrations.to_vec();
        self
    }

    /// Writes the manifest and module into `dir`; returns the manifest's path.
    pub(crate) fn write(&self, dir: &std::path::Path) -> PathBuf {
        let id = self.id;
        let migrations: Vec<serde_json::Value> = self
            .migrations
            .iter()
            .enumerate()
            .map(|(i, sql)| serde_json::json!({ "version": i + 1, "name": format!("m{i}"), "sql": sql }))
            .collect();
        let describe = serde_json::json!({ "described": {
            "id": id, "version": "0.1.0", "migrations": migrations,
            "templates": [{ "name": "attack", "source": "<p id=\"reply\">{{#if reply.error}}refused: {{reply.error.message}}{{else}}allowed: {{#each reply.rows.rows}}{{#each this}}{{this}} {{/each}}{{/each}}{{#if reply.checked}}verdict {{#if reply.checked.verdict.hold}}hold: {{reply.checked.verdict.hold.reason}}{{/if}}{{#if reply.checked.verdict.refuse}}refuse: {{reply.checked.verdict.refuse.reason}}{{/if}}{{#if (eq reply.checked.verdict \"allow\")}}allow{{/if}}; check {{reply.checked.check}}; failed: {{#each reply.checked.failed}}{{this}} {{/each}}{{/if}}{{/if}}</p>" }],
        }})
        .to_string();
        let call = codec::encode(&self.call).expect("encode");
        let prefix = br#"{"page":{"render":{"template":"attack","title":"Attack","data":{"reply":"#;
        let suffix = b"}}}}";
        let (d, c, p, s) = (describe.len(), call.len(), prefix.len(), suffix.len());
        assert!(d < 65536 && c < 196_608);
        let wat = format!(
            r#"(module
  (import "portal" "host_call" (func $host_call (param i32 i32) (result i64)))
  (memory (export "memory") 6)
  (data (i32.const 0) "{describe}")
  (data (i32.const 65536) "{call}")
  (data (i32.const 262144) "{prefix}")
  (data (i32.const 266240) "{suffix}")
{allocator}
  (func (export "portal_handle") (param $ptr i32) (param $len i32) (result i64)
    (local $r i64) (local $rp i32) (local $rl i32) (local $out i32) (local $n i32)
    (if (i32.eq (local.get $len) (i32.const 10)) (then (return (i64.const {d}))))
    (local.set $r (call $host_call (i32.const 65536) (i32.const {c})))
    (local.set $rp (i32.wrap_i64 (i64.shr_u (local.get $r) (i64.const 32))))
    (local.set $rl (i32.wrap_i64 (local.get $r)))
    (local.set $n (i32.add (i32.const {ps}) (local.get $rl)))
    (local.set $out (call $alloc (local.get $n)))
    (memory.copy (local.get $out) (i32.const 262144) (i32.const {p}))
    (memory.copy (i32.add (local.get $out) (i32.const {p})) (local.get $rp) (local.get $rl))
    (memory.copy (i32.add (i32.add (local.get $out) (i32.const {p})) (local.get $rl)) (i32.const 266240) (i32.const {s}))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))
)"#,
            describe = wat_string(describe.as_bytes()),
            call = wat_string(&call),
            prefix = wat_string(prefix),
            suffix = wat_string(suffix),
            allocator = crate::support::wat_allocator(327_680),
            ps = p + s,
        );
        std::fs::write(dir.join(format!("{id}.wat")), wat).expect("write wat");
        let manifest = format!(
            r#"id = "{id}"
name = "Hostile: {id}"
version = "0.1.0"
abi_version = 1
wasm = "{id}.wat"
capabilities = [{capabilities}]

[[abilities]]
name = "{id}.use"
label = "Attack"

[[routes]]
name = "read"
method = "GET"
path = "/{id}"
ability = "{id}.use"

[[routes]]
name = "write"
method = "POST"
path = "/{id}"
ability = "{id}.use"
{tail}"#,
            capabilities = self.capabilities,
            tail = self.manifest_tail,
        );
        let path = dir.join(format!("{id}.toml"));
        std::fs::write(&path, manifest).expect("write manifest");
        path
    }
}

/// Every row of every portal table, as text: what no plugin may change.
fn host_rows(server: &Server) -> Vec<String> {
    host_rows_except(server, &[])
}

/// [`host_rows`] without the tables in `except` (the portal's own bookkeeping of what a
/// test makes happen, such as the queue of events).
/// The rows of `plugin_health` that are not only the portal's record of refused host calls.
const HEALTH_ROWS: &str = "SELECT plugin, state, consecutive_failures, total_failures, open_until,
                                  last_failure_at, last_error FROM plugin_health
                           WHERE NOT (total_failures = 0 AND last_error IS NULL AND refusals > 0)";

pub(crate) fn host_rows_except(server: &Server, except: &[&str]) -> Vec<String> {
    let pooled = server.portal.db.get().expect("conn");
    let Some(conn) = pooled.as_sqlite() else { return postgres_rows_except(&pooled, except) };
    let mut out = Vec::new();
    for table in host::db::HOST_SCHEMA.iter().filter(|t| !except.contains(t)) {
        // The portal writes down each host call it refuses (for `portal plugin status`):
        // its own record of the attack, left out; the rest of the table is compared.
        let select = match *table {
            "plugin_health" => HEALTH_ROWS.to_owned(),
            _ => format!("SELECT * FROM {table}"),
        };
        let Ok(mut stmt) = conn.prepare(&select) else { continue };
        let width = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                (0..width)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .expect("rows");
        for row in rows {
            out.push(format!("{table}: {}", row.expect("row").join(" | ")));
        }
    }
    let schema: Vec<String> = conn
        .prepare("SELECT type || ' ' || name || ' ' || ifnull(sql, '') FROM sqlite_schema ORDER BY name")
        .expect("schema")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    out.extend(schema);
    out
}

/// Starts a portal with Conversations and `attacker`, grants it to everyone in Riverside.
/// [`host_rows_except`] on PostgreSQL: every row of the portal's tables as JSON, then every
/// relation and function outside PostgreSQL's own schemas, and who may use them.
fn postgres_rows_except(conn: &host::db::Conn, except: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for table in host::db::HOST_SCHEMA.iter().filter(|t| !except.contains(t)) {
        let select = match *table {
            "plugin_health" => HEALTH_ROWS.to_owned(),
            _ => format!("SELECT * FROM public.{table}"),
        };
        let is_table: bool = conn
            .query_one("SELECT to_regclass(?1) IS NOT NULL AND (SELECT relkind FROM pg_class WHERE oid = to_regclass(?1)) = 'r'", &[&format!("public.{table}")], |r| r.get(0))
            .expect("catalog");
        if !is_table {
            continue;
        }
        let rows: Vec<String> = conn
            .query_all(&format!("SELECT row_to_json(t)::text FROM ({select}) t ORDER BY 1"), &[], |r| {
                r.get(0)
            })
            .expect("rows");
        out.extend(rows.into_iter().map(|row| format!("{table}: {row}")));
    }
    let schema: Vec<String> = conn
        .query_all(
            "SELECT n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(array_to_string(c.relacl, ','), '')
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
             UNION ALL
             SELECT 'function ' || n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
             ORDER BY 1",
            &[],
            |r| r.get(0),
        )
        .expect("schema");
    out.extend(schema);
    out
}

pub(crate) fn start(attacker: &Attacker) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let manifest = attacker.write(dir.path());
    let server = Server::with_manifests(vec![conversations_manifest(), manifest]);
    server.grant("riverside", &format!("{}.use", attacker.id), "everyone");
    (server, dir)
}

pub(crate) fn query(sql: &str) -> HostCall {
    HostCall::Query { sql: sql.into(), params: vec![] }
}

pub(crate) fn execute(sql: &str) -> HostCall {
    HostCall::Execute { sql: sql.into(), params: vec![] }
}

/// Runs `attacker`'s page (POST when it writes) and returns what its page shows.
pub(crate) fn attack(attacker: &Attacker, write: bool) -> String {
    let (server, _dir) = start(attacker);
    let mut grace = server.signed_in("riverside", GRACE);
    let before = host_rows(&server);
    let path = format!("/c/riverside/{}", attacker.id);
    let page = if write { grace.post(&path, &[]) } else { grace.get(&path) };
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(host_rows(&server), before, "the portal's tables are as they were");
    assert_eq!(grace.get("/c/riverside").status, 200, "the portal keeps serving");
    assert_eq!(grace.get("/c/riverside/conversations").status, 200, "other plugins keep serving");
    let start = page.body.find("<p id=\"reply\">").expect("the attacker's page");
    let shown = &page.body[start..];
    shown[..shown.find("</p>").expect("end")].replace("&#x60;", "`").replace("&#x27;", "'")
}

pub(crate) fn refused(attacker: Attacker, write: bool, rule: &str) {
    let shown = attack(&attacker, write);
    assert!(shown.contains("refused: "), "{}: {shown}", attacker.id);
    assert!(shown.contains(rule), "{}: expected `{rule}` in {shown}", attacker.id);
}

/// A plugin id that is, prefixes or is prefixed by a portal table never loads.
#[test]
fn plugin_ids_that_name_portal_tables_do_not_load() {
    for (id, table) in [
        ("ability", "ability_grants"),
        ("group", "groups"),
        ("email", "email_outbox"),
        ("plugin", "plugin_settings"),
        ("sqlite", "sqlite_master"),
        ("users_extra", "users"),
    ] {
        let dir = tempfile::tempdir().expect("dir");
        let id: &'static str = Box::leak(id.to_owned().into_boxed_str());
        let manifest = Attacker::new(id, query("SELECT 1")).write(dir.path());
        let data = tempfile::tempdir().expect("data");
        let mut config = Config { data_dir: data.path().to_owned(), ..Config::default() };
        config.plugins.manifests = vec![manifest];
        config.plugins.runtime = crate::support::test_config();
        let err = match Portal::start(config, Clock::system()) {
            Ok(_) => panic!("{id} must not load"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(&format!("plugin id `{id}` clashes with `{table}`")), "{err}");
    }
}

/// Migrations that would reach the portal: triggers, views, virtual tables, renames,
/// host tables, schema reads. The plugin does not load; the schema is unchanged.
#[test]
fn hostile_migrations_stop_the_load_and_change_nothing() {
    for (migration, rule) in [
        (
            "CREATE TABLE atk_t (a); CREATE TRIGGER atk_hb AFTER INSERT ON plugin_health BEGIN UPDATE users SET role = 'admin'; END",
            "creates the trigger `atk_hb`",
        ),
        (
            "CREATE TABLE atk_t (a); CREATE TRIGGER atk_t_ins AFTER INSERT ON atk_t BEGIN SELECT 1; END",
            "creates the trigger",
        ),
        ("CREATE VIEW atk_v AS SELECT * FROM users", "creates the view"),
        ("CREATE VIRTUAL TABLE atk_f USING fts5(a)", "virtual table"),
        ("CREATE TABLE atk_t (a); ALTER TABLE atk_t RENAME TO sessions_2", "named `atk_...`"),
        ("CREATE TABLE atk_schema AS SELECT sql FROM sqlite_schema", "reads `sqlite_master`"),
        ("CREATE TABLE atk_t AS SELECT email FROM users", "reads `users`"),
        ("CREATE INDEX atk_i ON users (email)", "not a table or index of plugin `atk`"),
        ("DROP TABLE plugin_health", "drops table"),
        ("CREATE TABLE atk_t (a DEFAULT (total_changes()))", "calls the SQL function `total_changes`"),
    ] {
        let dir = tempfile::tempdir().expect("dir");
        let manifest = Attacker::new("atk", query("SELECT 1")).migrations(&[migration]).write(dir.path());
        let data = tempfile::tempdir().expect("data");
        let mut config = Config { data_dir: data.path().to_owned(), ..Config::default() };
        config.plugins.manifests = vec![conversations_manifest(), manifest];
        config.plugins.runtime = crate::support::test_config();
        let err = match Portal::start(config, Clock::system()) {
            Ok(_) => panic!("{migration} must not load"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("plugin `atk`") && err.contains(rule), "{migration}: {err}");
        let conn = rusqlite::Connection::open(data.path().join("portal.db")).expect("db");
        let names: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE name LIKE 'atk%'")
            .expect("schema")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect();
        assert!(names.is_empty(), "{migration} left {names:?}");
    }
}

/// Reads of the portal's tables and schema, in many spellings: refused.
#[test]
fn reads_outside_the_plugins_own_tables_are_refused() {
    if crate::http::on_postgres() {
        return; // SQLite's spellings; PostgreSQL's are in `pg_sandbox`.
    }
    for sql in [
        "SELECT count(*) FROM sqlite_master",
        "SELECT name, sql FROM SQLITE_SCHEMA",
        "SELECT to_address FROM email_outbox",
        "SELECT * FROM \"Users\"",
        "SELECT * FROM main.plugin_settings",
        "SELECT * FROM pragma_table_info('users')",
        "WITH x AS (SELECT * FROM sessions) SELECT count(*) FROM x",
        "SELECT (SELECT count(*) FROM ability_grants)",
    ] {
        refused(
            Attacker::new("atk", query(sql)).migrations(&["CREATE TABLE atk_t (a)"]),
            false,
            "the statement",
        );
    }
}

/// Writes to the portal's tables, functions that leak state or pointers, values that
/// would grow the portal's memory: refused, and nothing changes.
#[test]
fn writes_state_and_memory_attacks_are_refused() {
    if crate::http::on_postgres() {
        return; // SQLite's spellings; PostgreSQL's are in `pg_sandbox`.
    }
    let own = ["CREATE TABLE atk_t (id INTEGER PRIMARY KEY, a)"];
    for (sql, rule) in [
        ("UPDATE ability_grants SET grantee_kind = 'role', grantee = 'admin'", "updates `ability_grants`"),
        ("UPDATE group_members SET role = 'admin'", "updates `group_members`"),
        ("UPDATE email_outbox SET to_address = 'attacker@evil.example'", "updates `email_outbox`"),
        (
            "INSERT INTO plugin_migrations (plugin, version, name, applied_at) VALUES ('x', 1, 'x', 0)",
            "inserts into `plugin_migrations`",
        ),
        ("DELETE FROM sessions", "deletes from `sessions`"),
        ("INSERT INTO atk_t (a) SELECT fts3_tokenizer('simple')", "fts3_tokenizer"),
        ("INSERT INTO atk_t (a) VALUES (last_insert_rowid())", "last_insert_rowid"),
        ("INSERT INTO atk_t (a) VALUES (zeroblob(400000000))", "larger than a plugin's limit"),
        ("INSERT INTO atk_t (a) VALUES (printf('%.*c', 50000000, 'x'))", "larger than a plugin's limit"),
        ("REINDEX users", "reindexes"),
        ("ANALYZE", "the statement"),
    ] {
        refused(Attacker::new("atk", execute(sql)).migrations(&own), true, rule);
    }
}

/// Host calls bound their work by their input, checked before any work.
#[test]
fn host_calls_with_huge_lists_are_refused_before_any_work() {
    let users: Vec<plugin_api::UserId> = (1..=3500).map(plugin_api::UserId).collect();
    let keys: Vec<String> = (0..3500).map(|i| format!("k{i}")).collect();
    let call = HostCall::Preferences { users, keys };
    refused(Attacker::new("atk", call), false, "at most 10000 pairs per call");
    let users: Vec<plugin_api::UserId> = (1..=5000).map(plugin_api::UserId).collect();
    refused(
        Attacker::new("atk", HostCall::Preferences { users, keys: vec!["a".into()] }),
        false,
        "at most 1000 per call",
    );
}

/// What the plugin's own tables allow still works through the same path.
#[test]
fn the_plugins_own_tables_work() {
    let shown = attack(
        &Attacker::new("atk", query("SELECT count(*) AS n, upper('ok') AS u FROM atk_t"))
            .migrations(&["CREATE TABLE atk_t (a TEXT)"]),
        false,
    );
    assert!(shown.contains("allowed: ") && shown.contains("OK"), "{shown}");
    let _ = SqlValue::Null;
}

/// The peak memory (VmHWM) of process `pid`, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Every path by which SQL can build a large value, each its own plugin, run against a
/// fresh `portal` process: its peak memory moves by a few MiB, not by the hundreds the
/// values would take (one `zeroblob(400000000)` used to add 763 MiB).
#[test]
fn sql_memory_attacks_leave_a_fresh_portals_peak_memory_where_it_was() {
    let attacks: &[(&str, &str)] = &[
        ("mem_zero", "SELECT length(zeroblob(400000000))"),
        ("mem_random", "SELECT length(hex(randomblob(300000000)))"),
        ("mem_printf", "SELECT length(printf('%.*c', 300000000, 'x'))"),
        ("mem_format", "SELECT length(format('%400000000d', 1))"),
        ("mem_replace", "SELECT length(replace(hex(zeroblob(500000)), '0', hex(zeroblob(4000))))"),
        (
            "mem_json",
            "SELECT count(*) FROM json_each('[' || replace(hex(zeroblob(3000000)), '00', '1,') || '1]')",
        ),
        (
            "mem_double",
            "WITH RECURSIVE d(s) AS (SELECT 'xx' UNION ALL SELECT s || s FROM d WHERE length(s) < 400000000) SELECT max(length(s)) FROM d",
        ),
        (
            "mem_group",
            "SELECT length(group_concat(hex(randomblob(100000)))) FROM (WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 5000) SELECT i FROM r)",
        ),
        (
            "mem_sort",
            "SELECT length(a) FROM (WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 3000) SELECT hex(zeroblob(400000)) || i AS a FROM r) ORDER BY a DESC LIMIT 1",
        ),
        (
            "mem_materialized",
            "WITH a AS MATERIALIZED (SELECT zeroblob(1000000) AS z FROM (WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 3000) SELECT i FROM r)), b AS MATERIALIZED (SELECT z || z AS y FROM a) SELECT count(*) FROM b",
        ),
    ];
    let dir = tempfile::tempdir().expect("dir");
    let mut manifests = vec![conversations_manifest()];
    for (id, sql) in attacks {
        manifests.push(Attacker::new(id, query(sql)).write(dir.path()));
    }
    let port = crate::crash::free_port();
    let config = dir.path().join("portal.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\ndata_dir = {:?}\n\
             [plugins]\nmanifests = {:?}\n[plugins.runtime]\ncache_dir = {:?}\n[jobs]\nenabled = false\n",
            dir.path().join("data"),
            manifests,
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache"),
        ),
    )
    .expect("config");
    let portal = crate::crash::start(&config, port);
    for (id, _) in attacks {
        crate::crash::cli(
            &config,
            &["abilities", "grant", "--community", "riverside", &format!("{id}.use"), "everyone"],
        );
    }
    let mut grace = crate::http::Client::new(&portal.base);
    assert_eq!(grace.sign_in("riverside", GRACE, "demo-password").status, 303);
    // Warm up: every page and plugin once, so the baseline has the caches and the pool.
    for _ in 0..3 {
        assert_eq!(grace.get("/c/riverside/conversations").status, 200);
        assert_eq!(grace.get("/c/riverside/mem_zero").status, 200);
    }
    let before = peak_kib(portal.child.id());
    for round in 0..3 {
        for (id, _) in attacks {
            let page = grace.get(&format!("/c/riverside/{id}"));
            assert_eq!(page.status, 200, "{id}");
            // Refused at a limit (length, time), or answered within them: either way the
            // portal's memory is what is measured.
            assert!(page.body.contains("<p id=\"reply\">"), "round {round}, {id}: {}", page.body);
            if round == 0 {
                let start = page.body.find("<p id=\"reply\">").unwrap_or(0);
                println!("{id}: {}", &page.body[start..(start + 160).min(page.body.len())]);
            }
        }
    }
    let after = peak_kib(portal.child.id());
    let grown_mib = after.saturating_sub(before) / 1024;
    println!(
        "peak memory of the portal: {} MiB before the attacks, {} MiB after",
        before / 1024,
        after / 1024
    );
    assert!(grown_mib < 48, "the portal's peak memory grew by {grown_mib} MiB ({before} -> {after} KiB)");
    assert_eq!(grace.get("/c/riverside/conversations").status, 200, "the portal keeps serving");
}

/// Time inside host calls counts against the call's CPU limit: a statement that would run
/// past the call's deadline is stopped there (not at its own longer statement limit), and
/// the call fails as out of CPU time; the portal keeps serving.
#[test]
fn a_host_call_that_would_run_past_the_calls_deadline_fails_the_call() {
    let endless =
        query("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r");
    let (server, _dir) = start(&Attacker::new("atk", endless));
    let limits = &server.portal.config.plugins.runtime.limits;
    assert!(limits.sql_ms > limits.cpu_ms, "the statement's own limit is longer than the call's");
    let mut grace = server.signed_in("riverside", GRACE);
    let page = grace.get("/c/riverside/atk");
    assert_ne!(page.status, 200, "the call failed: {}", page.body);
    assert!(!page.body.contains("<p id=\"reply\">"), "the plugin never answered");
    let failure: String = server
        .portal
        .db
        .get()
        .expect("conn")
        .query_one("SELECT last_error FROM plugin_health WHERE plugin = 'atk'", &[], |r| r.get(0))
        .expect("the failure is on record");
    assert!(failure.contains("CPU time"), "{failure}");
    assert_eq!(grace.get("/c/riverside/conversations").status, 200, "the portal keeps serving");
}
