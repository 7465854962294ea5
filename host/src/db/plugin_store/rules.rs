//! The authorizer's rules for plugin SQL: what a statement of a plugin may name (the
//! tables and indexes it owns, never a schema table), which SQL functions it may call, and
//! what a migration may create. SQLite asks the authorizer about every table, column,
//! function and schema change while it prepares a statement; the thread's [`RULES`] say
//! which plugin's statement it is.

use super::SqlAccess;
use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

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
pub(super) fn sqlite_reserved(name: &str) -> bool {
    name.starts_with("sqlite_") || name.starts_with("pragma_") || name == "dbstat"
}

/// The table an object name stands for: SQLite names the indexes of UNIQUE and composite
/// PRIMARY KEY constraints `sqlite_autoindex_<table>_<n>`, and those go with the table.
pub(super) fn owning_table(name: &str) -> &str {
    match name.strip_prefix("sqlite_autoindex_") {
        Some(rest) => rest.rsplit_once('_').map_or(rest, |(table, _)| table),
        None => name,
    }
}

/// The authorizer's verdict on one action, with the reason for a refusal.
pub(super) fn judge(rules: &Rules, ctx: &AuthContext<'_>) -> Result<(), String> {
    let Rules { plugin, prefix, access, schema, .. } = rules;
    let access = *access;
    let owned = schema.owned.get(plugin.as_str());
    // A name this plugin may use: one it owns, or (in a migration) one its migration is
    // creating now (its prefix, and no object of that name existed when it began).
    let mine = |name: &str| {
        let name = name.to_ascii_lowercase();
        let table = owning_table(&name);
        owned.is_some_and(|o| o.contains(table))
            || (access == SqlAccess::Migrate
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
        SqlAccess::ReadOnly => Err(format!("{what} `{name}` during a read-only request (GET)")),
        _ => own(what, name),
    };
    let schema_change = |what: &str, names: &[&str]| match access {
        SqlAccess::Migrate => names.iter().try_for_each(|n| own(what, n)),
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
            if access == SqlAccess::Migrate && is_schema_table(table_name) && column_name == "ROWID" =>
        {
            Ok(())
        }
        // ALTER TABLE rewrites the schema rows that name the table (SQLite's nested UPDATE
        // reads them): allowed within that one statement, once its ALTER was allowed.
        AuthAction::Read { table_name, .. } if rules.altering && is_schema_table(table_name) => Ok(()),
        // ALTER TABLE ADD COLUMN with a CHECK or NOT NULL constraint checks the table's
        // existing rows with SQLite's own quick_check, inside that one allowed statement
        // (a plugin naming it itself is refused: `altering` is set only for an ALTER).
        AuthAction::Read { table_name, .. }
            if rules.altering && table_name.eq_ignore_ascii_case("pragma_quick_check") =>
        {
            Ok(())
        }
        AuthAction::Pragma { pragma_name, .. }
            if rules.altering && pragma_name.eq_ignore_ascii_case("quick_check") =>
        {
            Ok(())
        }
        // ALTER TABLE ... RENAME renames the table's row of `sqlite_sequence` (which exists
        // once any table, the portal's included, uses AUTOINCREMENT): SQLite's nested
        // `UPDATE sqlite_sequence SET name = new WHERE name = old`, within the allowed ALTER.
        AuthAction::Read { table_name, .. } | AuthAction::Update { table_name, .. }
            if rules.altering && table_name.eq_ignore_ascii_case("sqlite_sequence") =>
        {
            Ok(())
        }
        AuthAction::Function { function_name } => {
            let name = function_name.to_ascii_lowercase();
            // ALTER TABLE runs SQLite's internal rename functions (no SQL can call them).
            let internal = name.starts_with("sqlite_rename_") || name == "sqlite_drop_column";
            if FUNCTIONS.contains(&name.as_str()) || (access == SqlAccess::Migrate && internal) {
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
            if access == SqlAccess::Migrate && is_schema_table(table_name) =>
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
pub(super) struct Schema {
    /// The lowercase names of every table, index, view and trigger.
    pub(super) all: BTreeSet<String>,
    /// The lowercase names of the tables and indexes each plugin owns.
    pub(super) owned: BTreeMap<String, BTreeSet<String>>,
}

/// The rights the statements of this thread are judged by while a plugin statement runs.
pub(super) struct Rules {
    pub(super) plugin: String,
    pub(super) prefix: String,
    pub(super) access: SqlAccess,
    pub(super) schema: Rc<Schema>,
    pub(super) refusal: Option<String>,
    /// The statement being prepared is an ALTER TABLE that was allowed (migrations run
    /// statement by statement, and this is cleared before each).
    pub(super) altering: bool,
}

thread_local! {
    /// Set by [`Confined`] for the duration of one plugin statement; `None` (host SQL)
    /// allows everything. SQLite calls the authorizer on the thread that prepares or steps.
    pub(super) static RULES: RefCell<Option<Rules>> = const { RefCell::new(None) };
}

/// Installs the connection's authorizer, once, when the connection is opened. Setting an
/// authorizer makes SQLite re-prepare every cached statement of the connection, so it is
/// never changed afterwards: what it allows depends on `RULES` instead.
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

/// The schema as read from one database file at one schema version.
type CachedSchema = (String, i64, Rc<Schema>);

thread_local! {
    /// The schema last read on this thread, by database file and schema version.
    static SCHEMA: RefCell<Option<CachedSchema>> = const { RefCell::new(None) };
}

/// Every schema object's name and the plugins' ownership (read before the rules are set).
/// Read again only when the schema changed (SQLite's `schema_version` counts every change,
/// and ownership is only recorded in a transaction that changes the schema).
pub(super) fn schema(conn: &Connection) -> rusqlite::Result<Rc<Schema>> {
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
