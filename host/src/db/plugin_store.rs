//! Plugin SQL: runs a plugin's statements on its own tables only (`{plugin id}_*`),
//! enforced by SQLite's authorizer: no host tables, no `ATTACH`, no `PRAGMA`, no
//! transaction control, no writes during a read-only (GET) request, DDL only in
//! migrations. A progress handler interrupts a statement that runs past its time limit.
//! Also applies and records the migrations a plugin describes.

use super::PoolConnection;
#[cfg(test)]
use super::PooledConn;
use plugin_api::{HostError, HostErrorKind, HostReply, Migration, SqlValue, Timestamp};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, ErrorCode, params_from_iter};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What a plugin's statement may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// SELECT only (GET requests, slots).
    ReadOnly,
    /// SELECT, INSERT, UPDATE, DELETE on its tables.
    ReadWrite,
    /// Also CREATE/DROP/ALTER of its tables, indexes, views and triggers (migrations).
    Migrate,
}

/// Limits on one plugin statement.
#[derive(Debug, Clone, Copy)]
pub struct SqlLimits {
    /// Longest a statement may run.
    pub time: Duration,
    /// Largest result, in approximate bytes.
    pub max_bytes: usize,
}

/// The authorizer's verdict on one action, with the reason for a refusal. `tables` holds
/// the names (lowercase) of every real table and view in the database.
fn judge(
    prefix: &str,
    access: Access,
    tables: &BTreeSet<String>,
    ctx: &AuthContext<'_>,
) -> Result<(), String> {
    // SQLite names the indexes of UNIQUE and composite PRIMARY KEY constraints
    // `sqlite_autoindex_<table>_<n>`; those belong to the table's owner.
    let owned = |name: &str| {
        let name = name.to_ascii_lowercase();
        name.strip_prefix("sqlite_autoindex_").unwrap_or(&name).starts_with(prefix)
    };
    let own = |what: &str, name: &str| {
        if owned(name) {
            Ok(())
        } else {
            Err(format!("{what} `{name}`, which is not one of the plugin's `{prefix}*` tables"))
        }
    };
    let writable = |what: &str, name: &str| match access {
        Access::ReadOnly => Err(format!("{what} `{name}` during a read-only request (GET)")),
        _ => own(what, name),
    };
    let schema = |what: &str, names: &[&str]| match access {
        Access::Migrate => names.iter().try_for_each(|n| own(what, n)),
        _ => Err(format!("{what} outside a migration")),
    };
    if ctx.database_name.is_some_and(|db| db != "main") && !matches!(ctx.action, AuthAction::Select) {
        return Err("uses a database other than `main`".into());
    }
    // DDL writes the schema table itself; SQLite asks about that too.
    let is_schema_table = |name: &str| matches!(name, "sqlite_master" | "sqlite_schema");
    match ctx.action {
        AuthAction::Select | AuthAction::Recursive => Ok(()),
        AuthAction::Function { function_name } => {
            if function_name.eq_ignore_ascii_case("load_extension") {
                Err("calls load_extension".into())
            } else {
                Ok(())
            }
        }
        AuthAction::Read { table_name, .. } if access == Access::Migrate && is_schema_table(table_name) => {
            Ok(())
        }
        // A common table expression is read under its own name, with no database name; so
        // is a real table in some joins. Only names that are no real table pass this way.
        AuthAction::Read { table_name, .. }
            if ctx.database_name.is_none() && !tables.contains(&table_name.to_ascii_lowercase()) =>
        {
            Ok(())
        }
        AuthAction::Read { table_name, .. } => own("reads", table_name),
        AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
            if access == Access::Migrate && is_schema_table(table_name) =>
        {
            Ok(())
        }
        AuthAction::Insert { table_name } => writable("inserts into", table_name),
        AuthAction::Update { table_name, .. } => writable("updates", table_name),
        AuthAction::Delete { table_name } => writable("deletes from", table_name),
        AuthAction::CreateTable { table_name } | AuthAction::DropTable { table_name } => {
            schema("creates or drops table", &[table_name])
        }
        AuthAction::CreateIndex { index_name, table_name }
        | AuthAction::DropIndex { index_name, table_name } => {
            schema("creates or drops index", &[index_name, table_name])
        }
        AuthAction::CreateView { view_name } | AuthAction::DropView { view_name } => {
            schema("creates or drops view", &[view_name])
        }
        AuthAction::CreateTrigger { trigger_name, table_name }
        | AuthAction::DropTrigger { trigger_name, table_name } => {
            schema("creates or drops trigger", &[trigger_name, table_name])
        }
        AuthAction::AlterTable { table_name, .. } => schema("alters table", &[table_name]),
        AuthAction::Reindex { index_name } => schema("reindexes", &[index_name]),
        AuthAction::Analyze { table_name } => schema("analyzes", &[table_name]),
        AuthAction::Pragma { pragma_name, .. } => Err(format!("uses PRAGMA {pragma_name}")),
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
            Err("attaches or detaches a database".into())
        }
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            Err("controls the transaction, which belongs to the host".into())
        }
        _ => Err(format!("does something plugins may not do ({:?})", ctx.action)),
    }
}

/// The rights the statements of this thread are judged by while a plugin statement runs.
struct Rules {
    prefix: String,
    access: Access,
    tables: Rc<BTreeSet<String>>,
    refusal: Option<String>,
}

thread_local! {
    /// Set by [`Confined`] for the duration of one plugin statement; `None` (host SQL)
    /// allows everything. SQLite calls the authorizer on the thread that prepares or steps.
    static RULES: RefCell<Option<Rules>> = const { RefCell::new(None) };
}

/// Installs the connection's authorizer, once, when the connection is opened. Setting an
/// authorizer makes SQLite re-prepare every cached statement of the connection, so it is
/// never changed afterwards: what it allows depends on [`RULES`] instead.
pub fn install_authorizer(conn: &Connection) -> rusqlite::Result<()> {
    conn.authorizer(Some(|ctx: AuthContext<'_>| {
        RULES.with_borrow_mut(|rules| match rules {
            None => Authorization::Allow,
            Some(rules) => match judge(&rules.prefix, rules.access, &rules.tables, &ctx) {
                Ok(()) => Authorization::Allow,
                Err(reason) => {
                    rules.refusal.get_or_insert(reason);
                    Authorization::Deny
                }
            },
        })
    }))
}

/// While alive, confines the statements of this thread to one plugin's rights.
struct Confined<'c> {
    conn: &'c Connection,
}

/// Whether the connection is known to have the authorizer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Installed {
    /// A pool connection: the pool installs it when it opens a connection.
    ByThePool,
    /// Any connection (migrations): checked, and installed if missing.
    Unknown,
}

impl<'c> Confined<'c> {
    fn new(
        conn: &'c Connection,
        plugin: &str,
        access: Access,
        time: Duration,
        installed: Installed,
    ) -> Result<Self, HostError> {
        let prefix = format!("{}_", plugin.to_ascii_lowercase());
        let tables = table_names(conn).map_err(failed)?;
        RULES.set(Some(Rules { prefix, access, tables, refusal: None }));
        let confined = Confined { conn };
        // A connection from elsewhere proves it has the authorizer (a statement the rules
        // refuse must not prepare), or gets it.
        if installed == Installed::Unknown && conn.prepare("SELECT 1 FROM communities").is_ok() {
            tracing::warn!("a connection without the plugin authorizer; installing it");
            install_authorizer(conn).map_err(failed)?;
        }
        RULES.with_borrow_mut(|rules| {
            if let Some(rules) = rules {
                rules.refusal = None;
            }
        });
        let deadline = Instant::now() + time;
        conn.progress_handler(1000, Some(move || Instant::now() > deadline)).map_err(failed)?;
        Ok(confined)
    }

    /// Turns an SQLite error into the host error the plugin sees.
    fn error(&self, err: rusqlite::Error, time: Duration) -> HostError {
        let refusal = RULES.with_borrow_mut(|rules| rules.as_mut().and_then(|r| r.refusal.take()));
        match (&err, refusal) {
            (_, Some(reason)) => {
                HostError { kind: HostErrorKind::NotAllowed, message: format!("the statement {reason}") }
            }
            (rusqlite::Error::SqliteFailure(e, _), None) if e.code == ErrorCode::OperationInterrupted => {
                HostError {
                    kind: HostErrorKind::LimitExceeded,
                    message: format!(
                        "the statement ran longer than {} ms and was interrupted",
                        time.as_millis()
                    ),
                }
            }
            (rusqlite::Error::MultipleStatement, None) => {
                HostError { kind: HostErrorKind::Invalid, message: "one statement per call".into() }
            }
            _ => HostError { kind: HostErrorKind::Invalid, message: err.to_string() },
        }
    }
}

impl Drop for Confined<'_> {
    fn drop(&mut self) {
        RULES.set(None);
        let _ = self.conn.progress_handler(0, None::<fn() -> bool>);
    }
}

/// Table names as read from one database file at one schema version.
type TableNames = (String, i64, Rc<BTreeSet<String>>);

thread_local! {
    /// The table names last read on this thread, by database file and schema version.
    static TABLES: RefCell<Option<TableNames>> = const { RefCell::new(None) };
}

/// The lowercase names of every table and view (asked before the rules are set). Read
/// again only when the schema changed (SQLite's `schema_version` counts every change).
fn table_names(conn: &Connection) -> rusqlite::Result<Rc<BTreeSet<String>>> {
    let version: i64 = conn.prepare_cached("PRAGMA schema_version")?.query_row([], |r| r.get(0))?;
    let path = conn.path().unwrap_or_default().to_owned();
    let cached = TABLES.with_borrow(|t| {
        t.as_ref()
            .filter(|(p, v, _)| *p == path && *v == version && !path.is_empty())
            .map(|(_, _, n)| n.clone())
    });
    if let Some(names) = cached {
        return Ok(names);
    }
    let mut stmt =
        conn.prepare_cached("SELECT lower(name) FROM sqlite_schema WHERE type IN ('table', 'view')")?;
    let names = Rc::new(stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<BTreeSet<String>>>()?);
    TABLES.set(Some((path, version, names.clone())));
    Ok(names)
}

fn failed(err: rusqlite::Error) -> HostError {
    tracing::error!(error = %err, "plugin SQL setup failed");
    HostError { kind: HostErrorKind::Failed, message: "the database is unavailable".into() }
}

fn to_sql(value: &SqlValue) -> Value {
    match value {
        SqlValue::Null => Value::Null,
        SqlValue::Int(v) => Value::Integer(*v),
        SqlValue::Real(v) => Value::Real(*v),
        SqlValue::Text(v) => Value::Text(v.clone()),
        SqlValue::Blob(v) => Value::Blob(v.clone()),
    }
}

fn from_sql(value: ValueRef<'_>) -> (SqlValue, usize) {
    match value {
        ValueRef::Null => (SqlValue::Null, 4),
        ValueRef::Integer(v) => (SqlValue::Int(v), 8),
        ValueRef::Real(v) => (SqlValue::Real(v), 8),
        ValueRef::Text(v) => (SqlValue::Text(String::from_utf8_lossy(v).into_owned()), v.len() + 2),
        ValueRef::Blob(v) => (SqlValue::Blob(v.to_vec()), v.len() * 4),
    }
}

/// The text a plugin statement is prepared and cached under. SQLite's authorizer judges a
/// statement when it is prepared, and a cached statement is not prepared again; so the
/// cache key names the plugin and its access, and a statement authorized for one plugin
/// or for writing is never reused for another plugin or for a read-only call. (Plugin ids
/// are identifiers: no plugin's SQL can produce another's prefix.)
fn cache_key(plugin: &str, access: Access, sql: &str) -> String {
    format!("/* {plugin} {access:?} */ {sql}")
}

/// Runs one SELECT for `plugin`.
pub fn query(
    conn: &dyn PoolConnection,
    plugin: &str,
    access: Access,
    sql: &str,
    params: &[SqlValue],
    limits: SqlLimits,
) -> Result<HostReply, HostError> {
    let conn = conn.connection();
    let confined = Confined::new(conn, plugin, access, limits.time, Installed::ByThePool)?;
    let run = || -> rusqlite::Result<Result<HostReply, HostError>> {
        let mut stmt = conn.prepare_cached(&cache_key(plugin, access, sql))?;
        let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let width = columns.len();
        let mut rows = stmt.query(params_from_iter(params.iter().map(to_sql)))?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                let (value, size) = from_sql(row.get_ref(i)?);
                bytes += size;
                values.push(value);
            }
            out.push(values);
            if bytes > limits.max_bytes {
                return Ok(Err(HostError {
                    kind: HostErrorKind::LimitExceeded,
                    message: format!(
                        "the result is larger than {} bytes; page through it with LIMIT",
                        limits.max_bytes
                    ),
                }));
            }
        }
        Ok(Ok(HostReply::Rows { columns, rows: out }))
    };
    run().unwrap_or_else(|e| Err(confined.error(e, limits.time)))
}

/// Runs one INSERT, UPDATE or DELETE for `plugin`.
pub fn execute(
    conn: &dyn PoolConnection,
    plugin: &str,
    access: Access,
    sql: &str,
    params: &[SqlValue],
    limits: SqlLimits,
) -> Result<HostReply, HostError> {
    let conn = conn.connection();
    let confined = Confined::new(conn, plugin, access, limits.time, Installed::ByThePool)?;
    let run = || -> rusqlite::Result<HostReply> {
        let mut stmt = conn.prepare_cached(&cache_key(plugin, access, sql))?;
        let changes = stmt.execute(params_from_iter(params.iter().map(to_sql)))?;
        Ok(HostReply::Executed { changes: changes as u64, last_insert_id: conn.last_insert_rowid() })
    };
    run().map_err(|e| confined.error(e, limits.time))
}

/// Why a plugin's migrations could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] super::DbError),
    /// A migration was refused or failed.
    #[error("plugin `{plugin}`: migration {version} ({name}) failed: {message}")]
    Failed {
        /// The plugin.
        plugin: String,
        /// The migration's version.
        version: u32,
        /// Its name.
        name: String,
        /// Why.
        message: String,
    },
}

/// Applies, in order and each in its own transaction, the migrations of `plugin` that
/// have not been applied yet; returns the versions applied now.
pub fn apply_migrations(
    conn: &mut Connection,
    plugin: &str,
    migrations: &[Migration],
    now: Timestamp,
) -> Result<Vec<u32>, MigrationError> {
    let done: BTreeSet<u32> = {
        let mut stmt = conn
            .prepare("SELECT version FROM plugin_migrations WHERE plugin = ?1")
            .map_err(super::DbError::from)?;
        stmt.query_map([plugin], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(super::DbError::from)?
    };
    let mut applied = Vec::new();
    for migration in migrations.iter().filter(|m| !done.contains(&m.version)) {
        let fail = |message: String| MigrationError::Failed {
            plugin: plugin.to_owned(),
            version: migration.version,
            name: migration.name.clone(),
            message,
        };
        let tx = conn.transaction().map_err(super::DbError::from)?;
        {
            let confined =
                Confined::new(&tx, plugin, Access::Migrate, Duration::from_secs(60), Installed::Unknown)
                    .map_err(|e| fail(e.message))?;
            tx.execute_batch(&migration.sql)
                .map_err(|e| fail(confined.error(e, Duration::from_secs(60)).message))?;
        }
        tx.execute(
            "INSERT INTO plugin_migrations (plugin, version, name, applied_at) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![plugin, migration.version, migration.name, now.0],
        )
        .map_err(super::DbError::from)?;
        tx.commit().map_err(super::DbError::from)?;
        applied.push(migration.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool connection to a fresh in-memory database (the pool's only connection: a new
    /// one would open another, empty database), made writable for the plugin SQL under test.
    fn db() -> PooledConn {
        let mut conn = crate::db::Db::open(std::path::Path::new(":memory:")).unwrap().get().unwrap();
        conn.pragma_update(None, "query_only", false).unwrap();
        let migrations = vec![Migration {
            version: 1,
            name: "notes".into(),
            sql: "CREATE TABLE demo_note (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
                  CREATE TABLE demo_tag (note INTEGER, tag TEXT, PRIMARY KEY (note, tag));
                  CREATE UNIQUE INDEX demo_note_body ON demo_note (body);"
                .into(),
        }];
        assert_eq!(apply_migrations(&mut conn, "demo", &migrations, Timestamp(0)).unwrap(), vec![1]);
        assert!(
            apply_migrations(&mut conn, "demo", &migrations, Timestamp(0)).unwrap().is_empty(),
            "applied once"
        );
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
            Access::ReadWrite,
            "INSERT INTO demo_note (body) VALUES (?1)",
            &["hi".into()],
            LIMITS,
        );
        assert_eq!(ok.unwrap(), HostReply::Executed { changes: 1, last_insert_id: 1 });
        let rows =
            query(&conn, "demo", Access::ReadOnly, "SELECT id, body FROM demo_note", &[], LIMITS).unwrap();
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
        let err = refused(query(&conn, "demo", Access::ReadOnly, "SELECT * FROM users", &[], LIMITS));
        assert!(
            err.message.contains("reads `users`, which is not one of the plugin's `demo_*` tables"),
            "{}",
            err.message
        );
        refused(query(
            &conn,
            "demo",
            Access::ReadOnly,
            "SELECT n.body FROM demo_note n JOIN sessions s",
            &[],
            LIMITS,
        ));
        refused(execute(&conn, "demo", Access::ReadWrite, "DELETE FROM sessions", &[], LIMITS));
        refused(query(&conn, "demo", Access::ReadOnly, "SELECT * FROM sqlite_master", &[], LIMITS));
        refused(query(
            &conn,
            "demo",
            Access::ReadOnly,
            "WITH x AS (SELECT * FROM users) SELECT * FROM x",
            &[],
            LIMITS,
        ));
        refused(query(&conn, "demo", Access::ReadOnly, "SELECT * FROM main.users", &[], LIMITS));
        refused(query(
            &conn,
            "demo",
            Access::ReadOnly,
            "SELECT * FROM demo_note WHERE id IN (SELECT id FROM users)",
            &[],
            LIMITS,
        ));
    }

    #[test]
    fn pragma_attach_transactions_and_ddl_are_refused() {
        let conn = db();
        refused(query(&conn, "demo", Access::ReadWrite, "PRAGMA journal_mode", &[], LIMITS));
        refused(execute(
            &conn,
            "demo",
            Access::ReadWrite,
            "ATTACH DATABASE ':memory:' AS other",
            &[],
            LIMITS,
        ));
        refused(execute(&conn, "demo", Access::ReadWrite, "COMMIT", &[], LIMITS));
        refused(execute(&conn, "demo", Access::ReadWrite, "CREATE TABLE demo_x (a)", &[], LIMITS));
        refused(execute(&conn, "demo", Access::ReadWrite, "DROP TABLE demo_note", &[], LIMITS));
    }

    #[test]
    fn writes_during_a_read_only_request_are_refused() {
        let conn = db();
        let err = refused(execute(
            &conn,
            "demo",
            Access::ReadOnly,
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
        let bad = vec![Migration { version: 1, name: "bad".into(), sql: "CREATE TABLE users2 (a)".into() }];
        assert!(apply_migrations(&mut conn, "demo", &bad, Timestamp(0)).is_err());
        assert!(conn.prepare("SELECT * FROM users").is_ok(), "host SQL is not confined");
    }

    /// Statements are cached, and the authorizer only judges a statement when it is
    /// prepared: a statement allowed once must never be reused where it is not allowed.
    #[test]
    fn a_cached_statement_is_not_reused_by_another_plugin_or_a_read_only_call() {
        let mut conn = db();
        let other = vec![Migration {
            version: 1,
            name: "other".into(),
            sql: "CREATE TABLE other_note (id INTEGER PRIMARY KEY, body TEXT NOT NULL)".into(),
        }];
        apply_migrations(&mut conn, "other", &other, Timestamp(0)).unwrap();
        let insert = "INSERT INTO demo_note (body) VALUES (?1)";
        for i in 0..3 {
            execute(&conn, "demo", Access::ReadWrite, insert, &[format!("n{i}").into()], LIMITS).unwrap();
        }
        refused(execute(&conn, "demo", Access::ReadOnly, insert, &["later".into()], LIMITS));
        refused(execute(&conn, "other", Access::ReadWrite, insert, &["stolen".into()], LIMITS));
        let read = "SELECT count(*) FROM demo_note";
        query(&conn, "demo", Access::ReadOnly, read, &[], LIMITS).unwrap();
        refused(query(&conn, "other", Access::ReadOnly, read, &[], LIMITS));
    }

    #[test]
    fn a_migration_outside_its_prefix_is_refused() {
        let mut conn = db();
        let bad =
            vec![Migration { version: 1, name: "sneaky".into(), sql: "CREATE TABLE users2 (a)".into() }];
        let err = apply_migrations(&mut conn, "other", &bad, Timestamp(0)).unwrap_err();
        assert!(err.to_string().contains("creates or drops table `users2`"), "{err}");
    }

    #[test]
    fn a_runaway_query_is_interrupted() {
        let conn = db();
        let cte = "WITH t(n) AS (SELECT body FROM demo_note) SELECT count(*) FROM t";
        assert!(
            query(&conn, "demo", Access::ReadOnly, cte, &[], LIMITS).is_ok(),
            "CTEs over own tables work"
        );
        let sql = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r";
        let err = query(&conn, "demo", Access::ReadOnly, sql, &[], LIMITS).unwrap_err();
        assert_eq!(err.kind, HostErrorKind::LimitExceeded, "{err:?}");
        // The connection is usable afterwards, without the plugin's limits.
        let n: i64 = conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
    }
}
