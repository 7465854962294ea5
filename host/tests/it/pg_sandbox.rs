//! The adversarial suite for plugin SQL on PostgreSQL, the same classes of attack as
//! `sandbox` (reads and writes of the portal's tables in many spellings, schema and
//! state, memory and time, hostile migrations) in PostgreSQL's spellings, and what is
//! PostgreSQL's own: changing role or settings, functions that reach past grants, other
//! plugins' schemas, statements that are not queries. Each attack fails with an error
//! naming the rule, the portal keeps serving, and no row of the portal's tables changes.
//! (Statements stopped at their time limit: `web::after_an_interrupted_write_…`.)
//! These run in the pass on PostgreSQL (`PORTAL_TEST_ENGINE=postgres`, as `make test`
//! runs it); SQLite's spellings are `sandbox`'s.

use crate::http::on_postgres;
use crate::sandbox::{Attacker, execute, query, refused};
use crate::support::conversations_manifest;
use host::clock::Clock;
use host::config::Config;
use host::portal::Portal;

/// Reads of the portal's tables, another plugin's and the server's secrets: refused.
#[test]
fn reads_outside_the_plugins_own_tables_are_refused_on_postgres() {
    if !on_postgres() {
        return;
    }
    for (sql, rule) in [
        ("SELECT * FROM users", "reads `users`, which is not a table or index of plugin `atk`"),
        ("SELECT email FROM public.users", "outside the plugin's own tables"),
        ("SELECT * FROM \"public\".\"sessions\"", "outside the plugin's own tables"),
        (
            "WITH x AS (SELECT * FROM public.sessions) SELECT count(*) FROM x",
            "outside the plugin's own tables",
        ),
        ("SELECT (SELECT count(*) FROM public.ability_grants)", "outside the plugin's own tables"),
        ("SELECT body FROM plugin_conversations.conversations_message", "outside the plugin's own tables"),
        ("SELECT * FROM pg_authid", "outside the plugin's own tables"),
        // A role change in the middle of a statement, then the host's tables as the host.
        (
            "SELECT set_config('role', 'none', true), query_to_xml('SELECT * FROM public.users', true, false, '')",
            "set_config",
        ),
        (
            "SELECT query_to_xml('SELECT * FROM public.users', true, false, '')",
            "outside the plugin's own tables",
        ),
        ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
        ("SELECT pg_ls_dir('.')", "pg_ls_dir"),
        ("SELECT lo_from_bytea(0, 'x')", "lo_from_bytea"),
        ("SELECT pg_notify('portal', 'forged')", "pg_notify"),
        ("SELECT pg_advisory_lock(1)", "pg_advisory_lock"),
        // Statements that are not queries, and disguises of them.
        ("RESET ROLE", "`RESET` statements are not allowed"),
        ("SET ROLE NONE", "`SET` statements are not allowed"),
        ("SET search_path = public", "`SET` statements are not allowed"),
        ("COPY (SELECT 1) TO STDOUT", "`COPY` statements are not allowed"),
        ("DO $$ BEGIN PERFORM 1; END $$", "`DO` statements are not allowed"),
        ("COMMIT", "`COMMIT` statements are not allowed"),
        ("LISTEN portal", "`LISTEN` statements are not allowed"),
        ("NOTIFY portal, '{\"from\":1,\"live\":[]}'", "`NOTIFY` statements are not allowed"),
        ("LOCK TABLE portal_write_gate IN EXCLUSIVE MODE", "`LOCK` statements are not allowed"),
        ("EXPLAIN SELECT * FROM public.users", "`EXPLAIN` statements are not allowed"),
        ("/* */ RESET ROLE", "begins with its keyword"),
        ("(SELECT 1)", "begins with its keyword"),
        ("SELECT 1; RESET ROLE", "one statement per call"),
        ("SELECT 1; SELECT * FROM public.users", "one statement per call"),
        ("DELETE FROM atk_t", "writes during a read-only request"),
        ("WITH d AS (DELETE FROM atk_t RETURNING a) SELECT * FROM d", "read-only"),
        ("SELECT repeat('x', 5000000)", "larger than"),
    ] {
        refused(Attacker::new("atk", query(sql)).migrations(&["CREATE TABLE atk_t (a TEXT)"]), false, rule);
    }
}

/// Writes to the portal's tables, DDL outside migrations, values too large: refused, and
/// nothing changes.
#[test]
fn writes_and_schema_changes_outside_migrations_are_refused_on_postgres() {
    if !on_postgres() {
        return;
    }
    let own = ["CREATE TABLE atk_t (id INTEGER PRIMARY KEY, a TEXT)"];
    for (sql, rule) in [
        (
            "UPDATE public.ability_grants SET grantee_kind = 'role', grantee = 'admin'",
            "outside the plugin's own tables",
        ),
        ("UPDATE public.group_members SET role = 'admin'", "outside the plugin's own tables"),
        ("DELETE FROM public.sessions", "outside the plugin's own tables"),
        (
            "INSERT INTO public.plugin_migrations (plugin, version, name, applied_at) VALUES ('x', 1, 'x', 0)",
            "outside the plugin's own tables",
        ),
        ("UPDATE users SET role = 'admin'", "which is not a table or index of plugin `atk`"),
        // `set_config` by another name: the rule on the view.
        ("UPDATE pg_settings SET setting = 'none' WHERE name = 'role'", "outside the plugin's own tables"),
        ("INSERT INTO atk_t (a) SELECT email FROM public.users", "outside the plugin's own tables"),
        ("CREATE TABLE atk_x (a TEXT)", "`CREATE` statements are not allowed"),
        ("CREATE TEMP TABLE atk_x (a TEXT)", "`CREATE` statements are not allowed"),
        ("SELECT * INTO atk_y FROM atk_t", "outside the plugin's own tables"),
        ("ALTER TABLE atk_t ADD COLUMN b TEXT", "`ALTER` statements are not allowed"),
        ("DROP TABLE atk_t", "`DROP` statements are not allowed"),
        ("GRANT ALL ON atk_t TO PUBLIC", "`GRANT` statements are not allowed"),
    ] {
        refused(Attacker::new("atk", execute(sql)).migrations(&own), true, rule);
    }
}

/// Migrations that would reach the portal or leave code behind (functions, views,
/// triggers run with whoever calls them): the plugin does not load and its schema holds
/// nothing.
#[test]
fn hostile_migrations_stop_the_load_and_leave_nothing_on_postgres() {
    if !on_postgres() {
        return;
    }
    for (migration, rule) in [
        (
            "CREATE TABLE atk_t (a TEXT); CREATE VIEW atk_v AS SELECT 1",
            "creates, alters and drops tables and indexes only",
        ),
        (
            "CREATE FUNCTION atk_f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "creates, alters and drops tables and indexes only",
        ),
        (
            "CREATE TABLE atk_t (a TEXT); CREATE TRIGGER atk_tr BEFORE INSERT ON atk_t FOR EACH ROW EXECUTE FUNCTION f()",
            "tables and indexes only",
        ),
        ("CREATE TABLE atk_t (a TEXT); GRANT ALL ON atk_t TO PUBLIC", "tables and indexes only"),
        (
            "CREATE TABLE atk_t (a TEXT); RESET ROLE; CREATE TABLE public.atk_p (a TEXT)",
            "tables and indexes only",
        ),
        ("CREATE TABLE atk_t AS SELECT email FROM public.users", "permission denied"),
        ("CREATE INDEX atk_i ON public.users (email)", "permission denied"),
        ("DROP TABLE public.plugin_health", "permission denied"),
        ("CREATE TABLE atk_t (a TEXT REFERENCES public.users (email))", "permission denied"),
        ("CREATE TABLE public.atk_t (a TEXT)", "permission denied"),
        ("CREATE TABLE atk_t (a TEXT); ALTER TABLE atk_t SET SCHEMA public", "permission denied"),
        ("CREATE TABLE atk_t (a TEXT); ALTER TABLE atk_t OWNER TO portal", "must be"),
        (
            "CREATE TABLE atk_t (a TEXT); CREATE INDEX atk_i ON atk_t ((set_config('role', 'none', false)))",
            "CREATE INDEX atk_i",
        ),
        ("CREATE TABLE atk_t (a TEXT DEFAULT $x$y$x$)", "`$` is not allowed"),
    ] {
        let dir = tempfile::tempdir().expect("dir");
        let manifest = Attacker::new("atk", query("SELECT 1")).migrations(&[migration]).write(dir.path());
        let data = tempfile::tempdir().expect("data");
        let mut config = Config { data_dir: data.path().to_owned(), ..Config::default() };
        config.database = Some(crate::pg_server::database());
        config.plugins.manifests = vec![conversations_manifest(), manifest];
        config.plugins.runtime = crate::support::test_config();
        let database = config.database();
        let err = match Portal::start(config, Clock::system()) {
            Ok(_) => panic!("{migration} must not load"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("plugin `atk`") && err.contains(rule), "{migration}: {err}");
        let db = host::db::Db::connect(&database).expect("connect");
        let left: Vec<String> = db
            .get()
            .expect("conn")
            .query_all(
                "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relname LIKE 'atk%'
                 UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname LIKE 'atk%'",
                &[],
                |r| r.get(0),
            )
            .expect("catalog");
        assert!(left.is_empty(), "{migration} left {left:?}");
    }
}
