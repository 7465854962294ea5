//! Plugin SQL: runs a plugin's statements on the tables and indexes it owns and nothing
//! else. Ownership is recorded (`plugin_objects`) when the plugin's own migration creates
//! an object: an allow-list, never a name prefix. SQLite's authorizer judges every
//! statement when it is prepared: no other table (the portal's, another plugin's, SQLite's
//! schema tables, `pragma_*`), only allow-listed SQL functions, no `ATTACH`, `PRAGMA`,
//! transaction control, `REINDEX` or `ANALYZE`, no writes during a read-only (GET)
//! request, DDL only in migrations, and migrations create tables and indexes only (checked
//! again on the schema after each one). While a plugin statement runs, the connection has
//! tight `sqlite3_limit`s and a progress handler that interrupts it at its time limit.
//! Also applies and records the migrations a plugin describes.

mod postgres;
mod rules;

use super::PoolConnection;
#[cfg(test)]
use super::PooledConn;
use plugin_api::{HostError, HostErrorKind, HostReply, Migration, SqlValue, Timestamp};
pub use rules::install_authorizer;
use rules::{RULES, Rules, owning_table, schema};
use rusqlite::limits::Limit;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, ErrorCode, params_from_iter};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// What a plugin's statement may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlAccess {
    /// SELECT only (GET requests, slots).
    ReadOnly,
    /// SELECT, INSERT, UPDATE, DELETE on its tables.
    ReadWrite,
    /// Also CREATE/DROP/ALTER of its own tables and indexes (migrations).
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

/// The hard limits of a connection while a plugin statement runs (`sqlite3_limit`), and
/// why each is what it is. The connection's own values come back when the statement ends.
const PLUGIN_LIMITS: &[(Limit, i32)] = &[
    // No string or blob larger than a call's payload (this value, 1 MiB, is replaced by
    // the call's own payload cap, `limits.max_payload_bytes`): one zeroblob, randomblob,
    // printf width, replace or group_concat cannot grow the portal's memory past it.
    (Limit::SQLITE_LIMIT_LENGTH, 1 << 20),
    // Statements are small; the statement cache holds at most 128 of them per connection.
    (Limit::SQLITE_LIMIT_SQL_LENGTH, 16 * 1024),
    (Limit::SQLITE_LIMIT_COLUMN, 200),
    (Limit::SQLITE_LIMIT_EXPR_DEPTH, 100),
    (Limit::SQLITE_LIMIT_COMPOUND_SELECT, 20),
    (Limit::SQLITE_LIMIT_VDBE_OP, 50_000),
    (Limit::SQLITE_LIMIT_FUNCTION_ARG, 32),
    (Limit::SQLITE_LIMIT_ATTACHED, 0),
    (Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000),
    (Limit::SQLITE_LIMIT_VARIABLE_NUMBER, 1000),
    (Limit::SQLITE_LIMIT_TRIGGER_DEPTH, 1),
    (Limit::SQLITE_LIMIT_WORKER_THREADS, 0),
];

/// The longest text of one migration.
const MAX_MIGRATION_SQL: i32 = 256 * 1024;

/// A statement longer than this is prepared for its one run and not kept in the
/// connection's statement cache: the cache is bounded in bytes as well as in count.
const MAX_CACHED_SQL: usize = 2048;

/// While alive, confines the statements of this thread to one plugin's rights.
struct Confined<'c> {
    conn: &'c Connection,
    /// The connection's own limits, put back on drop.
    saved: Vec<(Limit, i32)>,
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
        access: SqlAccess,
        time: Duration,
        max_value: usize,
        installed: Installed,
    ) -> Result<Self, HostError> {
        let plugin = plugin.to_ascii_lowercase();
        let prefix = format!("{plugin}_");
        let schema = schema(conn).map_err(failed)?;
        let mut saved = Vec::with_capacity(PLUGIN_LIMITS.len());
        for (limit, value) in PLUGIN_LIMITS {
            // A migration is one batch of statements: SQLite measures the batch's text.
            let value = match (limit, access) {
                (Limit::SQLITE_LIMIT_SQL_LENGTH, SqlAccess::Migrate) => MAX_MIGRATION_SQL,
                (Limit::SQLITE_LIMIT_LENGTH, _) => i32::try_from(max_value).unwrap_or(i32::MAX).max(1),
                _ => *value,
            };
            saved.push((*limit, conn.set_limit(*limit, value).map_err(failed)?));
        }
        RULES.set(Some(Rules { plugin, prefix, access, schema, refusal: None, altering: false }));
        let confined = Confined { conn, saved };
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

    /// Prepares `sql` for `plugin`: from the statement cache when it is short.
    fn prepare(&self, plugin: &str, access: SqlAccess, sql: &str) -> rusqlite::Result<Statement<'c>> {
        if sql.len() <= MAX_CACHED_SQL {
            self.conn.prepare_cached(&cache_key(plugin, access, sql)).map(Statement::Cached)
        } else {
            self.conn.prepare(sql).map(Statement::Once)
        }
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
            (rusqlite::Error::SqliteFailure(e, _), None) if e.code == ErrorCode::TooBig => HostError {
                kind: HostErrorKind::LimitExceeded,
                message: format!(
                    "the statement or a value it builds is larger than a plugin's limit ({err})"
                ),
            },
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
        for (limit, value) in &self.saved {
            let _ = self.conn.set_limit(*limit, *value);
        }
    }
}

/// A prepared plugin statement: kept in the connection's cache, or used once.
enum Statement<'c> {
    Cached(rusqlite::CachedStatement<'c>),
    Once(rusqlite::Statement<'c>),
}

impl<'c> std::ops::Deref for Statement<'c> {
    type Target = rusqlite::Statement<'c>;
    fn deref(&self) -> &Self::Target {
        match self {
            Statement::Cached(s) => s,
            Statement::Once(s) => s,
        }
    }
}

impl std::ops::DerefMut for Statement<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Statement::Cached(s) => s,
            Statement::Once(s) => s,
        }
    }
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

fn from_sql(value: ValueRef<'_>) -> SqlValue {
    match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(v) => SqlValue::Int(v),
        ValueRef::Real(v) => SqlValue::Real(v),
        ValueRef::Text(v) => SqlValue::Text(String::from_utf8_lossy(v).into_owned()),
        ValueRef::Blob(v) => SqlValue::Blob(v.to_vec()),
    }
}

/// The rows of a plugin's query as they are read, on either engine, and their size as the
/// plugin will receive them (text with its quotes, bytes as JSON numbers); refused once
/// past the call's limit.
struct ResultRows {
    rows: Vec<Vec<SqlValue>>,
    bytes: usize,
    max: usize,
}

impl ResultRows {
    fn new(max: usize) -> ResultRows {
        ResultRows { rows: Vec::new(), bytes: 0, max }
    }

    /// Adds a row; an error once the result is larger than the limit.
    fn push(&mut self, row: Vec<SqlValue>) -> Result<(), HostError> {
        self.bytes += row
            .iter()
            .map(|value| match value {
                SqlValue::Null => 4,
                SqlValue::Int(_) | SqlValue::Real(_) => 8,
                SqlValue::Text(t) => t.len() + 2,
                SqlValue::Blob(b) => b.len() * 4,
            })
            .sum::<usize>();
        self.rows.push(row);
        if self.bytes > self.max {
            return Err(HostError {
                kind: HostErrorKind::LimitExceeded,
                message: format!("the result is larger than {} bytes; page through it with LIMIT", self.max),
            });
        }
        Ok(())
    }
}

/// The text a plugin statement is prepared and cached under. SQLite's authorizer judges a
/// statement when it is prepared, and a cached statement is not prepared again; so the
/// cache key names the plugin and its access, and a statement authorized for one plugin
/// or for writing is never reused for another plugin or for a read-only call. (Plugin ids
/// are identifiers: no plugin's SQL can produce another's prefix.)
fn cache_key(plugin: &str, access: SqlAccess, sql: &str) -> String {
    format!("/* {plugin} {access:?} */ {sql}")
}

/// Whether `sql` is an INSERT or REPLACE (possibly after a WITH clause).
fn inserts(sql: &str) -> bool {
    let lower = sql.trim_start().to_ascii_lowercase();
    lower.starts_with("insert")
        || lower.starts_with("replace")
        || (lower.starts_with("with") && (lower.contains("insert") || lower.contains("replace")))
}

/// The portal's or SQLite's schema name that plugin id `id` equals, prefixes or is
/// prefixed by (case-insensitively), if any: such an id is refused at load.
pub fn reserved_name_clash(id: &str) -> Option<&'static str> {
    let id = id.to_ascii_lowercase();
    super::HOST_SCHEMA.iter().chain(super::SQLITE_RESERVED).copied().find(|name| {
        let name = name.trim_end_matches('_');
        name.starts_with(id.as_str()) || id.starts_with(name)
    })
}

/// The SQLite connection under `conn` (the PostgreSQL path, [`postgres`], is taken before).
fn sqlite_only(conn: &super::Conn) -> Result<&Connection, HostError> {
    conn.as_sqlite()
        .ok_or_else(|| HostError { kind: HostErrorKind::Failed, message: "not a SQLite connection".into() })
}

/// Runs one SELECT for `plugin`.
pub fn query(
    conn: &dyn PoolConnection,
    plugin: &str,
    access: SqlAccess,
    sql: &str,
    params: &[SqlValue],
    limits: SqlLimits,
) -> Result<HostReply, HostError> {
    if conn.connection().as_postgres().is_some() {
        return postgres::query(conn.connection(), plugin, access, sql, params, limits);
    }
    let conn = sqlite_only(conn.connection())?;
    let confined = Confined::new(conn, plugin, access, limits.time, limits.max_bytes, Installed::ByThePool)?;
    let run = || -> rusqlite::Result<Result<HostReply, HostError>> {
        let mut stmt = confined.prepare(plugin, access, sql)?;
        let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let width = columns.len();
        let mut rows = stmt.query(params_from_iter(params.iter().map(to_sql)))?;
        let mut out = ResultRows::new(limits.max_bytes);
        while let Some(row) = rows.next()? {
            let values = (0..width).map(|i| row.get_ref(i).map(from_sql)).collect::<rusqlite::Result<_>>()?;
            if let Err(err) = out.push(values) {
                return Ok(Err(err));
            }
        }
        Ok(Ok(HostReply::Rows { columns, rows: out.rows }))
    };
    run().unwrap_or_else(|e| Err(confined.error(e, limits.time)))
}

/// Runs one INSERT, UPDATE or DELETE for `plugin`.
pub fn execute(
    conn: &dyn PoolConnection,
    plugin: &str,
    access: SqlAccess,
    sql: &str,
    params: &[SqlValue],
    limits: SqlLimits,
) -> Result<HostReply, HostError> {
    if conn.connection().as_postgres().is_some() {
        return postgres::execute(conn.connection(), plugin, access, sql, params, limits);
    }
    let conn = sqlite_only(conn.connection())?;
    let confined = Confined::new(conn, plugin, access, limits.time, limits.max_bytes, Installed::ByThePool)?;
    let run = || -> rusqlite::Result<HostReply> {
        let mut stmt = confined.prepare(plugin, access, sql)?;
        let before = conn.last_insert_rowid();
        let changes = stmt.execute(params_from_iter(params.iter().map(to_sql)))?;
        // The connection's last rowid is another request's unless this statement inserted.
        let after = conn.last_insert_rowid();
        let inserted = changes > 0 && (after != before || inserts(sql));
        Ok(HostReply::Executed { changes: changes as u64, last_insert_id: if inserted { after } else { 0 } })
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

/// How long one statement of a plugin migration may run.
const MIGRATION_TIME: Duration = Duration::from_secs(60);

/// The rules a migration's statements, and then its column defaults, run under.
fn migration_rules<'c>(tx: &'c Connection, plugin: &str) -> Result<Confined<'c>, HostError> {
    Confined::new(tx, plugin, SqlAccess::Migrate, MIGRATION_TIME, 1 << 20, Installed::Unknown)
}

/// Applies, in order and each in its own transaction, the migrations of `plugin` that
/// have not been applied yet; returns the versions applied now.
pub fn apply_migrations(
    conn: &super::Conn,
    plugin: &str,
    migrations: &[Migration],
    now: Timestamp,
) -> Result<Vec<u32>, MigrationError> {
    if conn.as_postgres().is_some() {
        return postgres::apply_migrations(conn, plugin, migrations, now);
    }
    if migrations.is_empty() {
        return Ok(Vec::new());
    }
    let conn = sqlite_only(conn).map_err(|e| MigrationError::Failed {
        plugin: plugin.to_owned(),
        version: migrations[0].version,
        name: migrations[0].name.clone(),
        message: e.message,
    })?;
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
        let tx = conn.unchecked_transaction().map_err(super::DbError::from)?;
        let before = schema_objects(&tx).map_err(super::DbError::from)?;
        {
            let confined = migration_rules(&tx, plugin).map_err(|e| fail(e.message))?;
            run_batch(&tx, &migration.sql).map_err(|e| fail(confined.error(e, MIGRATION_TIME).message))?;
        }
        let after = schema_objects(&tx).map_err(super::DbError::from)?;
        record_objects(&tx, plugin, &before, &after).map_err(|e| match e {
            SchemaChange::Db(e) => MigrationError::Db(e.into()),
            SchemaChange::Refused(message) => fail(message),
        })?;
        // Column defaults are not shown to the authorizer when a table is created, and
        // they run inside the plugin's inserts: each is judged as a statement of its own.
        let defaults = column_defaults(&tx, &before, &after).map_err(super::DbError::from)?;
        {
            let confined = migration_rules(&tx, plugin).map_err(|e| fail(e.message))?;
            for (table, default) in &defaults {
                tx.prepare(&format!("SELECT ({default})")).map_err(|e| {
                    fail(format!("a default of `{table}`: {}", confined.error(e, MIGRATION_TIME).message))
                })?;
            }
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

/// One schema object as `sqlite_schema` describes it: type, table, SQL.
type SchemaObject = (String, String, Option<String>);

/// Every schema object, by lowercase name.
fn schema_objects(conn: &Connection) -> rusqlite::Result<BTreeMap<String, SchemaObject>> {
    let mut stmt = conn.prepare("SELECT lower(name), type, lower(tbl_name), sql FROM sqlite_schema")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))?;
    rows.collect()
}

/// Runs a migration's statements one by one, each judged on its own.
fn run_batch(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    use rusqlite::fallible_iterator::FallibleIterator;
    let mut batch = rusqlite::Batch::new(conn, sql);
    loop {
        RULES.with_borrow_mut(|rules| {
            if let Some(rules) = rules {
                rules.altering = false;
            }
        });
        match batch.next()? {
            Some(mut stmt) => {
                stmt.raw_execute()?;
            }
            None => return Ok(()),
        }
    }
}

/// The column defaults (expression text) of every table that is new or changed.
fn column_defaults(
    conn: &Connection,
    before: &BTreeMap<String, SchemaObject>,
    after: &BTreeMap<String, SchemaObject>,
) -> rusqlite::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (name, object) in after {
        if object.0 != "table" || before.get(name) == Some(object) {
            continue;
        }
        let mut stmt =
            conn.prepare("SELECT dflt_value FROM pragma_table_xinfo(?1) WHERE dflt_value IS NOT NULL")?;
        for default in stmt.query_map([name], |r| r.get::<_, String>(0))? {
            out.push((name.clone(), default?));
        }
    }
    Ok(out)
}

/// Why a migration's change to the schema is not kept.
enum SchemaChange {
    Db(rusqlite::Error),
    Refused(String),
}

impl From<rusqlite::Error> for SchemaChange {
    fn from(e: rusqlite::Error) -> Self {
        SchemaChange::Db(e)
    }
}

/// Checks what one migration of `plugin` did to the schema, whatever the statements were
/// (a rename, say, is judged by its new name): it changed or dropped only objects the
/// plugin owns, and everything new is a table or an index named `{plugin}_...` on one of
/// its tables. Then records the plugin's objects as they now are.
fn record_objects(
    conn: &Connection,
    plugin: &str,
    before: &BTreeMap<String, SchemaObject>,
    after: &BTreeMap<String, SchemaObject>,
) -> Result<(), SchemaChange> {
    let plugin = plugin.to_ascii_lowercase();
    let prefix = format!("{plugin}_");
    let owned: BTreeSet<String> = {
        let mut stmt = conn.prepare("SELECT lower(name) FROM plugin_objects WHERE lower(plugin) = ?1")?;
        stmt.query_map([&plugin], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
    };
    let is_mine = |name: &str| owned.contains(owning_table(name));
    for (name, object) in before {
        if after.get(name) != Some(object) && !is_mine(name) {
            return Err(SchemaChange::Refused(format!(
                "the migration changed or dropped `{name}`, which is not a table or index of plugin `{plugin}`"
            )));
        }
    }
    for (name, (kind, table, _)) in after {
        if before.get(name) == after.get(name) {
            continue;
        }
        if name == "sqlite_sequence" {
            continue; // SQLite's own, made for the first AUTOINCREMENT table
        }
        if kind != "table" && kind != "index" {
            return Err(SchemaChange::Refused(format!(
                "the migration created the {kind} `{name}`; plugin migrations create tables and indexes only"
            )));
        }
        let named_right = name.starts_with(&prefix) || owning_table(name) != name.as_str();
        let table_right =
            table.starts_with(&prefix) && (owned.contains(table) || !before.contains_key(table));
        if !named_right || !table_right {
            return Err(SchemaChange::Refused(format!(
                "the migration made `{name}` (on `{table}`); a plugin's tables and indexes are named `{prefix}...` and belong to it"
            )));
        }
    }
    conn.execute("DELETE FROM plugin_objects WHERE lower(plugin) = ?1", [&plugin])?;
    let mut insert = conn.prepare("INSERT INTO plugin_objects (name, plugin, kind) VALUES (?1, ?2, ?3)")?;
    for (name, (kind, table, _)) in after {
        let recorded = (kind == "table" || kind == "index") && !name.starts_with("sqlite_");
        if recorded && table.starts_with(&prefix) && (owned.contains(table) || !before.contains_key(table)) {
            insert.execute(rusqlite::params![name, plugin, kind])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
