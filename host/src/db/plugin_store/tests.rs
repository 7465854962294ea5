//! Unit tests of plugin SQL: ownership, schema tables, migrations, functions, limits.

use super::*;

/// A pool connection, for plugin SQL, that is also its SQLite connection, for the tests'
/// own statements.
struct TestConn(PooledConn);

impl std::ops::Deref for TestConn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.0.as_sqlite().unwrap()
    }
}

impl PoolConnection for TestConn {
    fn connection(&self) -> &super::super::Conn {
        &self.0
    }
}

/// A pool connection to a fresh in-memory database (the pool's only connection: a new
/// one would open another, empty database), made writable for the plugin SQL under test.
fn db() -> TestConn {
    let conn = TestConn(crate::db::Db::open(std::path::Path::new(":memory:")).unwrap().get().unwrap());
    conn.pragma_update(None, "query_only", false).unwrap();
    let migrations = vec![Migration {
        version: 1,
        name: "notes".into(),
        sql: "CREATE TABLE demo_note (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
              CREATE TABLE demo_tag (note INTEGER, tag TEXT, PRIMARY KEY (note, tag));
              CREATE UNIQUE INDEX demo_note_body ON demo_note (body);"
            .into(),
    }];
    assert_eq!(apply_migrations(&conn.0, "demo", &migrations, Timestamp(0)).unwrap(), vec![1]);
    assert!(apply_migrations(&conn.0, "demo", &migrations, Timestamp(0)).unwrap().is_empty(), "applied once");
    conn
}

const LIMITS: SqlLimits = SqlLimits { time: Duration::from_millis(200), max_bytes: 1 << 20 };

fn refused(result: Result<HostReply, HostError>) -> HostError {
    let err = result.expect_err("refused");
    assert_eq!(err.kind, HostErrorKind::NotAllowed, "{err:?}");
    err
}

#[test]
fn own_tables_work() {
    let conn = db();
    let ok = execute(
        &conn,
        "demo",
        SqlAccess::ReadWrite,
        "INSERT INTO demo_note (body) VALUES (?1)",
        &["hi".into()],
        LIMITS,
    );
    assert_eq!(ok.unwrap(), HostReply::Executed { changes: 1, last_insert_id: 1 });
    let rows =
        query(&conn, "demo", SqlAccess::ReadOnly, "SELECT id, body FROM demo_note", &[], LIMITS).unwrap();
    assert_eq!(
        rows,
        HostReply::Rows {
            columns: vec!["id".into(), "body".into()],
            rows: vec![vec![SqlValue::Int(1), "hi".into()]]
        }
    );
}

#[test]
fn host_tables_are_refused() {
    let conn = db();
    let err = refused(query(&conn, "demo", SqlAccess::ReadOnly, "SELECT * FROM users", &[], LIMITS));
    assert!(
        err.message.contains("reads `users`, which is not a table or index of plugin `demo`"),
        "{}",
        err.message
    );
    refused(query(
        &conn,
        "demo",
        SqlAccess::ReadOnly,
        "SELECT n.body FROM demo_note n JOIN sessions s",
        &[],
        LIMITS,
    ));
    refused(execute(&conn, "demo", SqlAccess::ReadWrite, "DELETE FROM sessions", &[], LIMITS));
    refused(query(&conn, "demo", SqlAccess::ReadOnly, "SELECT * FROM sqlite_master", &[], LIMITS));
    refused(query(
        &conn,
        "demo",
        SqlAccess::ReadOnly,
        "WITH x AS (SELECT * FROM users) SELECT * FROM x",
        &[],
        LIMITS,
    ));
    refused(query(&conn, "demo", SqlAccess::ReadOnly, "SELECT * FROM main.users", &[], LIMITS));
    refused(query(
        &conn,
        "demo",
        SqlAccess::ReadOnly,
        "SELECT * FROM demo_note WHERE id IN (SELECT id FROM users)",
        &[],
        LIMITS,
    ));
}

#[test]
fn pragma_attach_transactions_and_ddl_are_refused() {
    let conn = db();
    refused(query(&conn, "demo", SqlAccess::ReadWrite, "PRAGMA journal_mode", &[], LIMITS));
    refused(execute(&conn, "demo", SqlAccess::ReadWrite, "ATTACH DATABASE ':memory:' AS other", &[], LIMITS));
    refused(execute(&conn, "demo", SqlAccess::ReadWrite, "COMMIT", &[], LIMITS));
    refused(execute(&conn, "demo", SqlAccess::ReadWrite, "CREATE TABLE demo_x (a)", &[], LIMITS));
    refused(execute(&conn, "demo", SqlAccess::ReadWrite, "DROP TABLE demo_note", &[], LIMITS));
}

#[test]
fn writes_during_a_read_only_request_are_refused() {
    let conn = db();
    let err = refused(execute(
        &conn,
        "demo",
        SqlAccess::ReadOnly,
        "INSERT INTO demo_note (body) VALUES ('x')",
        &[],
        LIMITS,
    ));
    assert!(err.message.contains("during a read-only request"), "{}", err.message);
}

#[test]
fn a_migration_on_a_connection_without_the_authorizer_is_still_confined() {
    let mut conn = Connection::open_in_memory().unwrap();
    crate::db::migrate(&mut conn).unwrap();
    let conn = super::super::Conn::sqlite(conn);
    let bad = vec![Migration { version: 1, name: "bad".into(), sql: "CREATE TABLE users2 (a)".into() }];
    assert!(apply_migrations(&conn, "demo", &bad, Timestamp(0)).is_err());
    assert!(conn.as_sqlite().unwrap().prepare("SELECT * FROM users").is_ok(), "host SQL is not confined");
}

/// Statements are cached, and the authorizer only judges a statement when it is
/// prepared: a statement allowed once must never be reused where it is not allowed.
#[test]
fn a_cached_statement_is_not_reused_by_another_plugin_or_a_read_only_call() {
    let conn = db();
    let other = vec![Migration {
        version: 1,
        name: "other".into(),
        sql: "CREATE TABLE other_note (id INTEGER PRIMARY KEY, body TEXT NOT NULL)".into(),
    }];
    apply_migrations(&conn.0, "other", &other, Timestamp(0)).unwrap();
    let insert = "INSERT INTO demo_note (body) VALUES (?1)";
    for i in 0..3 {
        execute(&conn, "demo", SqlAccess::ReadWrite, insert, &[format!("n{i}").into()], LIMITS).unwrap();
    }
    refused(execute(&conn, "demo", SqlAccess::ReadOnly, insert, &["later".into()], LIMITS));
    refused(execute(&conn, "other", SqlAccess::ReadWrite, insert, &["stolen".into()], LIMITS));
    let read = "SELECT count(*) FROM demo_note";
    query(&conn, "demo", SqlAccess::ReadOnly, read, &[], LIMITS).unwrap();
    refused(query(&conn, "other", SqlAccess::ReadOnly, read, &[], LIMITS));
}

#[test]
fn a_migration_outside_its_prefix_is_refused() {
    let conn = db();
    let bad = vec![Migration { version: 1, name: "sneaky".into(), sql: "CREATE TABLE users2 (a)".into() }];
    let err = apply_migrations(&conn.0, "other", &bad, Timestamp(0)).unwrap_err();
    assert!(
        err.to_string()
            .contains("creates table `users2`: a plugin's tables and indexes are named `other_...`"),
        "{err}"
    );
}

#[test]
fn a_runaway_query_is_interrupted() {
    let conn = db();
    let cte = "WITH t(n) AS (SELECT body FROM demo_note) SELECT count(*) FROM t";
    assert!(query(&conn, "demo", SqlAccess::ReadOnly, cte, &[], LIMITS).is_ok(), "CTEs over own tables work");
    let sql = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r";
    let err = query(&conn, "demo", SqlAccess::ReadOnly, sql, &[], LIMITS).unwrap_err();
    assert_eq!(err.kind, HostErrorKind::LimitExceeded, "{err:?}");
    // The connection is usable afterwards, without the plugin's limits.
    let n: i64 = conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
}

fn migrate_one(conn: &mut TestConn, plugin: &str, sql: &str) -> Result<Vec<u32>, MigrationError> {
    let version = 1 + conn
        .query_row("SELECT count(*) FROM plugin_migrations WHERE plugin = ?1", [plugin], |r| {
            r.get::<_, u32>(0)
        })
        .unwrap();
    apply_migrations(
        &conn.0,
        plugin,
        &[Migration { version, name: "m".into(), sql: sql.into() }],
        Timestamp(0),
    )
}

fn host_schema(conn: &Connection) -> BTreeMap<String, SchemaObject> {
    schema_objects(conn).unwrap()
}

/// Ids that are, prefix or are prefixed by a table of the portal or of SQLite.
#[test]
fn plugin_ids_that_clash_with_reserved_names_are_refused() {
    for id in [
        "ability",
        "group",
        "groups",
        "email",
        "plugin",
        "plugin_objects_x",
        "sqlite",
        "users_x",
        "job",
        "session",
        "pragma",
        "notification",
        "communities",
        "preferences2",
        "dbstat",
    ] {
        assert!(reserved_name_clash(id).is_some(), "{id} is refused");
    }
    for id in ["conversations", "notes", "moderation", "hello"] {
        assert_eq!(reserved_name_clash(id), None, "{id} is fine");
    }
}

/// Ownership, not a name prefix: a table named like the plugin's that its migrations
/// did not create is not its own; neither is another plugin's.
#[test]
fn only_tables_the_plugin_created_are_its_own() {
    let mut conn = db();
    conn.execute_batch("CREATE TABLE demo_secret (a); INSERT INTO demo_secret VALUES ('host data')").unwrap();
    let err = refused(query(&conn, "demo", SqlAccess::ReadOnly, "SELECT * FROM demo_secret", &[], LIMITS));
    assert!(
        err.message.contains("reads `demo_secret`, which is not a table or index of plugin `demo`"),
        "{}",
        err.message
    );
    migrate_one(&mut conn, "other", "CREATE TABLE other_x (a)").unwrap();
    refused(query(&conn, "other", SqlAccess::ReadOnly, "SELECT * FROM demo_note", &[], LIMITS));
    refused(execute(&conn, "other", SqlAccess::ReadWrite, "DELETE FROM demo_note", &[], LIMITS));
    query(&conn, "other", SqlAccess::ReadOnly, "SELECT * FROM other_x", &[], LIMITS).unwrap();
}

/// Schema tables in every spelling, pragma tables, another schema: never readable,
/// at run time or in a migration.
#[test]
fn no_schema_object_can_be_read() {
    let mut conn = db();
    for sql in [
        "SELECT count(*) FROM sqlite_master",
        "SELECT name, sql FROM sqlite_schema",
        "SELECT 1 FROM SQLITE_MASTER",
        "SELECT * FROM \"sqlite_master\"",
        "SELECT * FROM [Sqlite_Schema]",
        "SELECT * FROM main.sqlite_master",
        "SELECT * FROM sqlite_temp_master",
        "SELECT * FROM temp.sqlite_schema",
        "SELECT * FROM pragma_table_info('users')",
        "SELECT * FROM pragma_table_list",
        "SELECT name FROM pragma_index_list('users')",
        "SELECT (SELECT count(*) FROM sqlite_master)",
        "WITH s AS (SELECT * FROM sqlite_master) SELECT * FROM s",
        "SELECT body FROM demo_note UNION SELECT sql FROM sqlite_master",
    ] {
        refused(query(&conn, "demo", SqlAccess::ReadWrite, sql, &[], LIMITS));
    }
    for sql in [
        "CREATE TABLE demo_copy AS SELECT sql FROM sqlite_master",
        "INSERT INTO demo_note (body) SELECT name FROM sqlite_schema",
        "CREATE TABLE demo_copy AS SELECT * FROM pragma_table_info('users')",
    ] {
        assert!(migrate_one(&mut conn, "demo", sql).is_err(), "{sql}");
    }
}

/// Triggers (they would run with the portal's rights when it writes), views, virtual
/// tables, and renames or changes of anything not the plugin's: refused in migrations,
/// and the schema is as it was.
#[test]
fn migrations_make_tables_and_indexes_of_their_own_only() {
    let mut conn = db();
    let before = host_schema(&conn);
    for sql in [
        "CREATE TRIGGER demo_t AFTER INSERT ON demo_note BEGIN UPDATE users SET role = 'admin'; END",
        "CREATE TRIGGER demo_t AFTER INSERT ON plugin_health BEGIN DELETE FROM users; END",
        "CREATE TEMP TRIGGER demo_t AFTER INSERT ON demo_note BEGIN SELECT 1; END",
        "CREATE VIEW demo_v AS SELECT * FROM users",
        "CREATE VIEW demo_v AS SELECT * FROM demo_note",
        "CREATE VIRTUAL TABLE demo_fts USING fts5(body)",
        "CREATE TEMP TABLE demo_tmp (a)",
        "ALTER TABLE demo_note RENAME TO users2",
        "ALTER TABLE demo_note RENAME TO Sqlite_x",
        "ALTER TABLE users RENAME TO demo_users",
        "ALTER TABLE users ADD COLUMN demo_x",
        "DROP TABLE sessions",
        "DROP INDEX users_by_name",
        "CREATE INDEX demo_users_email ON users (email)",
        "CREATE INDEX users_by_demo ON demo_note (body)",
        "REINDEX users",
        "REINDEX",
        "ANALYZE demo_note",
        "CREATE TABLE demo_gen (a, b AS (changes()))",
        "CREATE INDEX demo_note_state ON demo_note (total_changes())",
        "PRAGMA writable_schema = ON",
        "UPDATE sqlite_master SET sql = 'x' WHERE name = 'users'",
    ] {
        let err = migrate_one(&mut conn, "demo", sql).expect_err(sql);
        assert!(err.to_string().contains("plugin `demo`"), "{err}");
        assert_eq!(host_schema(&conn), before, "{sql} left the schema as it was");
    }
    // A function hidden in a column default is judged like one in a statement.
    let err = migrate_one(
        &mut conn,
        "demo",
        "CREATE TABLE demo_state (id INTEGER PRIMARY KEY, a INTEGER DEFAULT (last_insert_rowid()))",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("a default of `demo_state`: the statement calls the SQL function `last_insert_rowid`"),
        "{err}"
    );
    assert_eq!(host_schema(&conn), before);
    // Its own tables it may rename (ownership moves) and alter.
    migrate_one(
        &mut conn,
        "demo",
        "ALTER TABLE demo_note RENAME TO demo_memo; ALTER TABLE demo_memo ADD COLUMN at INTEGER",
    )
    .unwrap();
    query(&conn, "demo", SqlAccess::ReadOnly, "SELECT body, at FROM demo_memo", &[], LIMITS).unwrap();
    assert!(query(&conn, "demo", SqlAccess::ReadOnly, "SELECT * FROM demo_note", &[], LIMITS).is_err());
}

/// Functions outside the allow-list, and connection state that another request left.
#[test]
fn only_allowed_functions_and_no_state_of_other_requests() {
    let conn = db();
    for sql in [
        "SELECT last_insert_rowid()",
        "SELECT changes()",
        "SELECT TOTAL_CHANGES()",
        "SELECT fts3_tokenizer('simple')",
        "SELECT load_extension('/tmp/x.so')",
        "SELECT sqlite_version()",
        "SELECT sqlite_compileoption_get(0)",
        "SELECT count(*) FROM demo_note WHERE body = last_insert_rowid()",
    ] {
        let err = refused(query(&conn, "demo", SqlAccess::ReadOnly, sql, &[], LIMITS));
        assert!(err.message.contains("calls the SQL function"), "{sql}: {}", err.message);
    }
    query(
        &conn,
        "demo",
        SqlAccess::ReadOnly,
        "SELECT upper('a'), json_extract('{\"a\":1}', '$.a'), '{\"a\":1}' ->> 'a', datetime(0)",
        &[],
        LIMITS,
    )
    .unwrap();
    // The host inserts (another request); the plugin's first statement is an UPDATE.
    conn.execute("INSERT INTO communities (slug, name, created_at) VALUES ('x', 'X', 0)", []).unwrap();
    let reply = execute(
        &conn,
        "demo",
        SqlAccess::ReadWrite,
        "INSERT INTO demo_note (body) VALUES ('a')",
        &[],
        LIMITS,
    )
    .unwrap();
    assert!(matches!(reply, HostReply::Executed { last_insert_id: 1, .. }), "{reply:?}");
    conn.execute("INSERT INTO communities (slug, name, created_at) VALUES ('y', 'Y', 0)", []).unwrap();
    let reply =
        execute(&conn, "demo", SqlAccess::ReadWrite, "UPDATE demo_note SET body = 'b'", &[], LIMITS).unwrap();
    assert_eq!(reply, HostReply::Executed { changes: 1, last_insert_id: 0 });
}

/// Every function that builds a value is bounded by the length limit, in a statement or
/// hidden in the schema; the connection's own limits come back afterwards.
#[test]
fn no_statement_builds_a_value_larger_than_the_limit() {
    let mut conn = db();
    for sql in [
        "SELECT zeroblob(400000000)",
        "SELECT length(zeroblob(400000000))",
        "SELECT randomblob(2000000)",
        "SELECT printf('%.*c', 2000000, 'x')",
        "SELECT format('%2000000d', 1)",
        "SELECT replace(hex(zeroblob(600000)), '0', '00')",
        "SELECT length(group_concat(hex(randomblob(60000)))) FROM (WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 100) SELECT i FROM r)",
        "WITH RECURSIVE d(s) AS (SELECT 'xx' UNION ALL SELECT s || s FROM d WHERE length(s) < 100000000) SELECT max(length(s)) FROM d",
        "SELECT count(*) FROM json_each(json_array(zeroblob(3000000)))",
        "SELECT hex(zeroblob(700000))",
    ] {
        let err = query(&conn, "demo", SqlAccess::ReadOnly, sql, &[], LIMITS).expect_err(sql);
        assert_eq!(err.kind, HostErrorKind::LimitExceeded, "{sql}: {err:?}");
    }
    migrate_one(
        &mut conn,
        "demo",
        "CREATE TABLE demo_big (id INTEGER PRIMARY KEY, a BLOB DEFAULT (zeroblob(50000000)), b AS (hex(a)))",
    )
    .unwrap();
    let err =
        execute(&conn, "demo", SqlAccess::ReadWrite, "INSERT INTO demo_big (id) VALUES (1)", &[], LIMITS)
            .unwrap_err();
    assert_eq!(err.kind, HostErrorKind::LimitExceeded, "{err:?}");
    // Host SQL has the connection's own limits again.
    let n: i64 = conn.query_row("SELECT length(zeroblob(5000000))", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 5_000_000);
    // A long statement (not kept in the cache) still works, twice.
    let long = format!("SELECT count(*) FROM demo_note WHERE body IN ({})", vec!["'x'"; 1000].join(","));
    for _ in 0..2 {
        query(&conn, "demo", SqlAccess::ReadOnly, &long, &[], LIMITS).unwrap();
    }
}

#[test]
fn reindex_and_analyze_are_refused_at_run_time() {
    let conn = db();
    for sql in
        ["REINDEX users", "REINDEX demo_note", "REINDEX", "ANALYZE", "ANALYZE users", "ANALYZE demo_note"]
    {
        refused(execute(&conn, "demo", SqlAccess::ReadWrite, sql, &[], LIMITS));
    }
}

/// A migration may add a column with a CHECK constraint to its own table (SQLite checks the
/// rows with its own quick_check inside the ALTER); reading quick_check itself is refused.
#[test]
fn a_migration_adds_a_checked_column_to_its_own_table() {
    let mut conn = db();
    migrate_one(
        &mut conn,
        "demo",
        "ALTER TABLE demo_note ADD COLUMN state TEXT NOT NULL DEFAULT 'a' CHECK (state IN ('a', 'b'))",
    )
    .expect("a checked column");
    for sql in ["SELECT * FROM pragma_quick_check", "CREATE TABLE demo_q AS SELECT * FROM pragma_quick_check"]
    {
        let err = migrate_one(&mut conn, "demo", sql).expect_err(sql);
        assert!(err.to_string().contains("pragma_quick_check"), "{sql}: {err}");
    }
    let err = migrate_one(&mut conn, "demo", "ALTER TABLE users ADD COLUMN demo_x TEXT CHECK (demo_x != '')")
        .expect_err("not its table");
    assert!(err.to_string().contains("users"), "{err}");
}

/// With `sqlite_sequence` present (the portal's own tables use AUTOINCREMENT), a plugin
/// may give its own tables AUTOINCREMENT, insert into them and rename them; it still
/// cannot read or write `sqlite_sequence` itself.
#[test]
fn autoincrement_tables_of_a_plugin_work_beside_the_portals() {
    let mut conn = db();
    migrate_one(&mut conn, "demo", "CREATE TABLE demo_auto (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)")
        .expect("an autoincrement table");
    execute(&conn, "demo", SqlAccess::ReadWrite, "INSERT INTO demo_auto (v) VALUES ('a')", &[], LIMITS)
        .expect("insert");
    migrate_one(&mut conn, "demo", "ALTER TABLE demo_auto RENAME TO demo_auto2").expect("rename");
    execute(&conn, "demo", SqlAccess::ReadWrite, "INSERT INTO demo_auto2 (v) VALUES ('b')", &[], LIMITS)
        .expect("insert after the rename");
    refused(query(&conn, "demo", SqlAccess::ReadOnly, "SELECT * FROM sqlite_sequence", &[], LIMITS));
    refused(execute(&conn, "demo", SqlAccess::ReadWrite, "UPDATE sqlite_sequence SET seq = 0", &[], LIMITS));
    refused(execute(&conn, "demo", SqlAccess::ReadWrite, "DELETE FROM sqlite_sequence", &[], LIMITS));
}
