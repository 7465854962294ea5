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

use super::PoolConnection;
#[cfg(test)]
use super::PooledConn;
use plugin_api::{HostError, HostErrorKind, HostReply, Migration, SqlValue, Timestamp};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, ErrorCode, params_from_iter};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What a plugin's statement may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
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

/// The SQL functions a plugin may call: SQLite's core scalar, aggregate, window, date and
/// JSON functions. Left out: those that read connection state (`last_insert_rowid`,
/// `changes`, `total_changes`), report on the build or the schema (`sqlite_*`), load code
/// (`load_extension`) or hand out pointers (`fts3_tokenizer`), and anything not listed.
/// Values they build are bounded by the connection's `SQLITE_LIMIT_LENGTH` while the
/// plugin's statement runs.
const FUNCTIONS: &[&str] = &[
    // scalar
    "abs",
    "char",
    "coalesce",
    "concat",
    "concat_ws",
    "format",
    "glob",
    "hex",
    "ifnull",
    "iif",
    "if",
    "instr",
    "length",
    "like",
    "likelihood",
    "likely",
    "lower",
    "ltrim",
    "max",
    "min",
    "nullif",
    "octet_length",
    "printf",
    "quote",
    "random",
    "randomblob",
    "replace",
    "round",
    "rtrim",
    "sign",
    "soundex",
    "substr",
    "substring",
    "trim",
    "typeof",
    "unhex",
    "unicode",
    "unlikely",
    "upper",
    "zeroblob",
    "unistr",
    "unistr_quote",
    // aggregate and window
    "avg",
    "count",
    "group_concat",
    "string_agg",
    "sum",
    "total",
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    // date and time
    "date",
    "time",
    "datetime",
    "julianday",
    "unixepoch",
    "strftime",
    "timediff",
    // JSON (the operators -> and ->> are functions too)
    "json",
    "jsonb",
    "json_array",
    "jsonb_array",
    "json_array_length",
    "json_extract",
    "jsonb_extract",
    "->",
    "->>",
    "json_insert",
    "jsonb_insert",
    "json_object",
    "jsonb_object",
    "json_patch",
    "jsonb_patch",
    "json_remove",
    "jsonb_remove",
    "json_replace",
    "jsonb_replace",
    "json_set",
    "jsonb_set",
    "json_type",
    "json_valid",
    "json_quote",
    "json_group_array",
    "jsonb_group_array",
    "json_group_object",
    "jsonb_group_object",
    "json_pretty",
    // math
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "ceil",
    "ceiling",
    "cos",
    "cosh",
    "degrees",
    "exp",
    "floor",
    "ln",
    "log",
    "log10",
    "log2",
    "mod",
    "pi",
    "pow",
    "power",
    "radians",
    "sin",
    "sinh",
    "sqrt",
    "tan",
    "tanh",
    "trunc",
];

/// Names that are never a plugin's and never a common table expression's: SQLite's schema
/// and internal tables, its pragma and statistics tables (any casing).
fn sqlite_reserved(name: &str) -> bool {
    name.starts_with("sqlite_") || name.starts_with("pragma_") || name == "dbstat"
}

/// The table an object name stands for: SQLite names the indexes of UNIQUE and composite
/// PRIMARY KEY constraints `sqlite_autoindex_<table>_<n>`, and those go with the table.
fn owning_table(name: &str) -> &str {
    match name.strip_prefix("sqlite_autoindex_") {
        Some(rest) => rest.rsplit_once('_').map_or(rest, |(table, _)| table),
        None => name,
    }
}

/// The authorizer's verdict on one action, with the reason for a refusal.
fn judge(rules: &Rules, ctx: &AuthContext<'_>) -> Result<(), String> {
    let Rules { plugin, prefix, access, schema, .. } = rules;
    let access = *access;
    let owned = schema.owned.get(plugin.as_str());
    // A name this plugin may use: one it owns, or (in a migration) one its migration is
    // creating now (its prefix, and no object of that name existed when it began).
    let mine = |name: &str| {
        let name = name.to_ascii_lowercase();
        let table = owning_table(&name);
        owned.is_some_and(|o| o.contains(table))
            || (access == Access::Migrate
                && table.starts_with(prefix.as_str())
                && !schema.all.contains(table))
    };
    let own = |what: &str, name: &str| {
        if mine(name) {
            Ok(())
        } else {
            Err(format!("{what} `{name}`, which is not a table or index of plugin `{plugin}`"))
        }
    };
    let writable = |what: &str, name: &str| match access {
        Access::ReadOnly => Err(format!("{what} `{name}` during a read-only request (GET)")),
        _ => own(what, name),
    };
    let schema_change = |what: &str, names: &[&str]| match access {
        Access::Migrate => names.iter().try_for_each(|n| own(what, n)),
        _ => Err(format!("{what} outside a migration")),
    };
    let new_name = |what: &str, name: &str| {
        let lower = name.to_ascii_lowercase();
        if !owning_table(&lower).starts_with(prefix.as_str()) {
            Err(format!("{what} `{name}`: a plugin's tables and indexes are named `{prefix}...`"))
        } else {
            Ok(())
        }
    };
    // DDL writes the schema table itself, and SQLite asks about that too; a plugin cannot
    // write it directly (defensive mode, no writable_schema).
    let is_schema_table = |name: &str| {
        ["sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"]
            .iter()
            .any(|t| name.eq_ignore_ascii_case(t))
    };
    let altering_schema_read = rules.altering
        && matches!(ctx.action, AuthAction::Read { table_name, .. } | AuthAction::Update { table_name, .. } if is_schema_table(table_name));
    if let Some(db) = ctx.database_name.filter(|db| *db != "main" && !altering_schema_read) {
        return Err(format!("uses the database `{db}`; a plugin has only its own tables in `main`"));
    }
    match ctx.action {
        AuthAction::Select | AuthAction::Recursive => Ok(()),
        // DDL updates its own row of the schema table by rowid (SQLite's nested UPDATE):
        // that rowid is the only thing of the schema a migration may read.
        AuthAction::Read { table_name, column_name }
            if access == Access::Migrate && is_schema_table(table_name) && column_name == "ROWID" =>
        {
            Ok(())
        }
        // ALTER TABLE rewrites the schema rows that name the table (SQLite's nested UPDATE
        // reads them): allowed within that one statement, once its ALTER was allowed.
        AuthAction::Read { table_name, .. } if rules.altering && is_schema_table(table_name) => Ok(()),
        AuthAction::Function { function_name } => {
            let name = function_name.to_ascii_lowercase();
            // ALTER TABLE runs SQLite's internal rename functions (no SQL can call them).
            let internal = name.starts_with("sqlite_rename_") || name == "sqlite_drop_column";
            if FUNCTIONS.contains(&name.as_str()) || (access == Access::Migrate && internal) {
                Ok(())
            } else {
                Err(format!("calls the SQL function `{function_name}`, which plugins may not call"))
            }
        }
        AuthAction::Read { table_name, .. } if mine(table_name) => Ok(()),
        // A common table expression or a subquery is read under its own name, with no
        // database name. Only names that are no schema object and not SQLite's pass.
        AuthAction::Read { table_name, .. }
            if ctx.database_name.is_none() && {
                let name = table_name.to_ascii_lowercase();
                !schema.all.contains(&name) && !sqlite_reserved(&name)
            } =>
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
        AuthAction::CreateTable { table_name } => {
            schema_change("creates table", &[])?;
            new_name("creates table", table_name)?;
            own("creates table", table_name)
        }
        AuthAction::CreateIndex { index_name, table_name } => {
            schema_change("creates index", &[table_name])?;
            new_name("creates index", index_name)?;
            own("creates index", index_name)
        }
        AuthAction::DropTable { table_name } => schema_change("drops table", &[table_name]),
        AuthAction::DropIndex { index_name, table_name } => {
            schema_change("drops index", &[index_name, table_name])
        }
        AuthAction::AlterTable { table_name, .. } => schema_change("alters table", &[table_name]),
        AuthAction::CreateView { view_name } => {
            Err(format!("creates the view `{view_name}`; plugin migrations create tables and indexes only"))
        }
        AuthAction::CreateTrigger { trigger_name, .. } => Err(format!(
            "creates the trigger `{trigger_name}`; plugin migrations create tables and indexes only (a trigger would run with the portal's rights)"
        )),
        AuthAction::CreateVtable { table_name, .. } => Err(format!(
            "creates the virtual table `{table_name}`; plugin migrations create tables and indexes only"
        )),
        // Creating a UNIQUE index reindexes it: only the plugin's own, in a migration.
        AuthAction::Reindex { index_name } => schema_change("reindexes", &[index_name]),
        // ANALYZE writes SQLite's statistics tables, which the whole database shares.
        AuthAction::Analyze { table_name } => {
            Err(format!("uses ANALYZE (on `{table_name}`), which plugins may not"))
        }
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

/// What the rules know of the database: every schema object's name and who owns what.
#[derive(Debug, Default)]
struct Schema {
    /// The lowercase names of every table, index, view and trigger.
    all: BTreeSet<String>,
    /// The lowercase names of the tables and indexes each plugin owns.
    owned: BTreeMap<String, BTreeSet<String>>,
}

/// The rights the statements of this thread are judged by while a plugin statement runs.
struct Rules {
    plugin: String,
    prefix: String,
    access: Access,
    schema: Rc<Schema>,
    refusal: Option<String>,
    /// The statement being prepared is an ALTER TABLE that was allowed (migrations run
    /// statement by statement, and this is cleared before each).
    altering: bool,
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
            Some(rules) => match judge(rules, &ctx) {
                Ok(()) => {
                    if matches!(ctx.action, AuthAction::AlterTable { .. }) {
                        rules.altering = true;
                    }
                    Authorization::Allow
                }
                Err(reason) => {
                    rules.refusal.get_or_insert(reason);
                    Authorization::Deny
                }
            },
        })
    }))
}

/// The hard limits of a connection while a plugin statement runs (`sqlite3_limit`), and
/// why each is what it is. The connection's own values come back when the statement ends.
const PLUGIN_LIMITS: &[(Limit, i32)] = &[
    // No string or blob larger than a call's payload: one zeroblob, randomblob, printf
    // width, replace or group_concat cannot grow the portal's memory past it.
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
        access: Access,
        time: Duration,
        installed: Installed,
    ) -> Result<Self, HostError> {
        let plugin = plugin.to_ascii_lowercase();
        let prefix = format!("{plugin}_");
        let schema = schema(conn).map_err(failed)?;
        let mut saved = Vec::with_capacity(PLUGIN_LIMITS.len());
        for (limit, value) in PLUGIN_LIMITS {
            // A migration is one batch of statements: SQLite measures the batch's text.
            let value = match (limit, access) {
                (Limit::SQLITE_LIMIT_SQL_LENGTH, Access::Migrate) => MAX_MIGRATION_SQL,
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
    fn prepare(&self, plugin: &str, access: Access, sql: &str) -> rusqlite::Result<Statement<'c>> {
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

/// The schema as read from one database file at one schema version.
type CachedSchema = (String, i64, Rc<Schema>);

thread_local! {
    /// The schema last read on this thread, by database file and schema version.
    static SCHEMA: RefCell<Option<CachedSchema>> = const { RefCell::new(None) };
}

/// Every schema object's name and the plugins' ownership (read before the rules are set).
/// Read again only when the schema changed (SQLite's `schema_version` counts every change,
/// and ownership is only recorded in a transaction that changes the schema).
fn schema(conn: &Connection) -> rusqlite::Result<Rc<Schema>> {
    let version: i64 = conn.prepare_cached("PRAGMA schema_version")?.query_row([], |r| r.get(0))?;
    let path = conn.path().unwrap_or_default().to_owned();
    let cached = SCHEMA.with_borrow(|t| {
        t.as_ref()
            .filter(|(p, v, _)| *p == path && *v == version && !path.is_empty())
            .map(|(_, _, s)| s.clone())
    });
    if let Some(schema) = cached {
        return Ok(schema);
    }
    let mut all = BTreeSet::new();
    let mut stmt = conn.prepare_cached("SELECT lower(name) FROM sqlite_schema")?;
    for name in stmt.query_map([], |r| r.get::<_, String>(0))? {
        all.insert(name?);
    }
    let mut owned: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stmt = conn.prepare_cached("SELECT lower(plugin), lower(name) FROM plugin_objects")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (plugin, name) = row?;
        owned.entry(plugin).or_default().insert(name);
    }
    let schema = Rc::new(Schema { all, owned });
    SCHEMA.set(Some((path, version, schema.clone())));
    Ok(schema)
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
        let mut stmt = confined.prepare(plugin, access, sql)?;
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
        let before = schema_objects(&tx).map_err(super::DbError::from)?;
        {
            let confined =
                Confined::new(&tx, plugin, Access::Migrate, Duration::from_secs(60), Installed::Unknown)
                    .map_err(|e| fail(e.message))?;
            run_batch(&tx, &migration.sql)
                .map_err(|e| fail(confined.error(e, Duration::from_secs(60)).message))?;
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
            let confined =
                Confined::new(&tx, plugin, Access::Migrate, Duration::from_secs(60), Installed::Unknown)
                    .map_err(|e| fail(e.message))?;
            for (table, default) in &defaults {
                tx.prepare(&format!("SELECT ({default})")).map_err(|e| {
                    fail(format!(
                        "a default of `{table}`: {}",
                        confined.error(e, Duration::from_secs(60)).message
                    ))
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
            err.message.contains("reads `users`, which is not a table or index of plugin `demo`"),
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

    fn migrate_one(conn: &mut PooledConn, plugin: &str, sql: &str) -> Result<Vec<u32>, MigrationError> {
        let version = 1 + conn
            .query_row("SELECT count(*) FROM plugin_migrations WHERE plugin = ?1", [plugin], |r| {
                r.get::<_, u32>(0)
            })
            .unwrap();
        apply_migrations(
            conn,
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
        conn.execute_batch("CREATE TABLE demo_secret (a); INSERT INTO demo_secret VALUES ('host data')")
            .unwrap();
        let err = refused(query(&conn, "demo", Access::ReadOnly, "SELECT * FROM demo_secret", &[], LIMITS));
        assert!(
            err.message.contains("reads `demo_secret`, which is not a table or index of plugin `demo`"),
            "{}",
            err.message
        );
        migrate_one(&mut conn, "other", "CREATE TABLE other_x (a)").unwrap();
        refused(query(&conn, "other", Access::ReadOnly, "SELECT * FROM demo_note", &[], LIMITS));
        refused(execute(&conn, "other", Access::ReadWrite, "DELETE FROM demo_note", &[], LIMITS));
        query(&conn, "other", Access::ReadOnly, "SELECT * FROM other_x", &[], LIMITS).unwrap();
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
            refused(query(&conn, "demo", Access::ReadWrite, sql, &[], LIMITS));
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
            err.to_string().contains(
                "a default of `demo_state`: the statement calls the SQL function `last_insert_rowid`"
            ),
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
        query(&conn, "demo", Access::ReadOnly, "SELECT body, at FROM demo_memo", &[], LIMITS).unwrap();
        assert!(query(&conn, "demo", Access::ReadOnly, "SELECT * FROM demo_note", &[], LIMITS).is_err());
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
            let err = refused(query(&conn, "demo", Access::ReadOnly, sql, &[], LIMITS));
            assert!(err.message.contains("calls the SQL function"), "{sql}: {}", err.message);
        }
        query(
            &conn,
            "demo",
            Access::ReadOnly,
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
            Access::ReadWrite,
            "INSERT INTO demo_note (body) VALUES ('a')",
            &[],
            LIMITS,
        )
        .unwrap();
        assert!(matches!(reply, HostReply::Executed { last_insert_id: 1, .. }), "{reply:?}");
        conn.execute("INSERT INTO communities (slug, name, created_at) VALUES ('y', 'Y', 0)", []).unwrap();
        let reply = execute(&conn, "demo", Access::ReadWrite, "UPDATE demo_note SET body = 'b'", &[], LIMITS)
            .unwrap();
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
            let err = query(&conn, "demo", Access::ReadOnly, sql, &[], LIMITS).expect_err(sql);
            assert_eq!(err.kind, HostErrorKind::LimitExceeded, "{sql}: {err:?}");
        }
        migrate_one(&mut conn, "demo", "CREATE TABLE demo_big (id INTEGER PRIMARY KEY, a BLOB DEFAULT (zeroblob(50000000)), b AS (hex(a)))").unwrap();
        let err =
            execute(&conn, "demo", Access::ReadWrite, "INSERT INTO demo_big (id) VALUES (1)", &[], LIMITS)
                .unwrap_err();
        assert_eq!(err.kind, HostErrorKind::LimitExceeded, "{err:?}");
        // Host SQL has the connection's own limits again.
        let n: i64 = conn.query_row("SELECT length(zeroblob(5000000))", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 5_000_000);
        // A long statement (not kept in the cache) still works, twice.
        let long = format!("SELECT count(*) FROM demo_note WHERE body IN ({})", vec!["'x'"; 1000].join(","));
        for _ in 0..2 {
            query(&conn, "demo", Access::ReadOnly, &long, &[], LIMITS).unwrap();
        }
    }

    #[test]
    fn reindex_and_analyze_are_refused_at_run_time() {
        let conn = db();
        for sql in
            ["REINDEX users", "REINDEX demo_note", "REINDEX", "ANALYZE", "ANALYZE users", "ANALYZE demo_note"]
        {
            refused(execute(&conn, "demo", Access::ReadWrite, sql, &[], LIMITS));
        }
    }
}
