//! Plugin SQL on PostgreSQL, confined by the database itself. Each plugin has a role and a
//! schema of its own in the portal's database (the role's name carries a hash of the
//! database's, so portals sharing a server never share a role). A plugin statement runs in
//! the call's transaction, in a savepoint of its own, after `SET LOCAL ROLE` to the
//! plugin's role, `search_path` to its schema (and `portal_compat`, a few SQLite functions
//! for portable SQL: `group_concat`, `ifnull`, two-argument `max` and `min`) and
//! `statement_timeout` to its limit, all sent in one round trip with the statement itself
//! (pipelined); then the role and settings go back to the host's before anything else runs
//! on the connection (sent with the plugin's next statement, or alone before a host
//! statement: `PgConn::host`). The host's tables are out of reach by grant: the role has no
//! privilege on them, nor on the `public` schema, nor on other plugins' schemas.
//!
//! What grants alone cannot stop is a change of role *inside* a statement
//! (`SELECT set_config('role', 'none', true), query_to_xml('SELECT * FROM users', …)`
//! reads the host's tables as the host: measured on PostgreSQL 15). So, before a plugin's
//! statement is sent:
//! - the database must deny `set_config` and `UPDATE pg_settings` (and `pg_notify`, the
//!   large-object writers and session advisory locks) to PUBLIC: checked when a plugin is set up, done by the host
//!   when it connects as a superuser, otherwise refused with the statement an operator runs;
//! - a statement must begin with SELECT, WITH, VALUES (or INSERT, UPDATE, DELETE when the
//!   call may write): no `SET`, `RESET`, `SET ROLE`, `COPY`, `DO`, transaction control;
//!   one statement only (the extended protocol refuses more);
//! - DDL only in migrations, and only CREATE TABLE/INDEX, ALTER TABLE, DROP TABLE/INDEX:
//!   the role may create in its schema only inside a migration's transaction, and after
//!   each migration the schema may hold tables, indexes and sequences only (no function,
//!   view, trigger or type: they could run with another role's rights).
//!
//! Migrations are written in a portable subset of SQLite's DDL and translated: `INTEGER
//! PRIMARY KEY` becomes an identity column, `INTEGER` `BIGINT`, `REAL` `DOUBLE PRECISION`,
//! `BLOB` `BYTEA`, `COLLATE NOCASE` `portal_compat.nocase`; `STRICT` and `WITHOUT ROWID`
//! are dropped. Statements keep `?N` placeholders (sent as `$N`, each typed by its value).

use super::{MigrationError, SqlAccess, SqlLimits};
use crate::db::pg_client::{PgClient, Row, SimpleQueryMessage, Statement};
use crate::db::sql::{Conn, PgConn, numbered_placeholders};
use plugin_api::{HostError, HostErrorKind, HostReply, Migration, SqlValue, Timestamp};
use tokio_postgres::types::{IsNull, Kind, Type};

/// How long one statement of a plugin migration may run.
const MIGRATION_TIME_MS: u128 = 60_000;

/// Functions PUBLIC must not have in the portal's database: with `set_config` a statement
/// changes its role mid-way; with `pg_notify` it would speak on the portal's channels;
/// large objects live outside any schema; session advisory locks outlive the call on a
/// pooled connection.
const DENIED_FUNCTIONS: &[&str] = &[
    "pg_catalog.set_config(text,text,boolean)",
    "pg_catalog.pg_notify(text,text)",
    "pg_catalog.lo_create(oid)",
    "pg_catalog.lo_creat(integer)",
    "pg_catalog.lo_from_bytea(oid,bytea)",
    "pg_catalog.lo_import(text)",
    "pg_catalog.pg_advisory_lock(bigint)",
    "pg_catalog.pg_advisory_lock_shared(bigint)",
    "pg_catalog.pg_try_advisory_lock(bigint)",
    "pg_catalog.pg_try_advisory_lock_shared(bigint)",
    "pg_catalog.pg_advisory_lock(integer,integer)",
    "pg_catalog.pg_advisory_lock_shared(integer,integer)",
    "pg_catalog.pg_try_advisory_lock(integer,integer)",
    "pg_catalog.pg_try_advisory_lock_shared(integer,integer)",
];

/// A plugin's role and schema in one database (both already quoted).
struct Space {
    role: String,
    schema: String,
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn space(pg: &PgConn, plugin: &str) -> Space {
    let tag = pg.role_tag();
    Space { role: quote(&format!("portal_{tag}_{plugin}")), schema: quote(&format!("plugin_{plugin}")) }
}

fn pg_of(conn: &Conn) -> Result<&PgConn, HostError> {
    conn.as_postgres()
        .ok_or_else(|| HostError { kind: HostErrorKind::Failed, message: "not PostgreSQL".into() })
}

/// The server's message and code, for the plugin (never the host's connection details).
fn message(err: &tokio_postgres::Error) -> (Option<String>, String) {
    match err.as_db_error() {
        Some(db) => (Some(db.code().code().to_owned()), db.message().to_owned()),
        None => (None, err.to_string()),
    }
}

/// Turns a PostgreSQL error into the host error the plugin sees (for a table outside the
/// plugin's schema, the words SQLite's confinement uses).
fn plugin_error(pg: &PgConn, err: tokio_postgres::Error, plugin: &str, limits: SqlLimits) -> HostError {
    let err = pg.noted(err);
    let (code, text) = message(&err);
    let (kind, text) = match code.as_deref() {
        Some("40001" | "40P01") => (
            HostErrorKind::Failed,
            "the call's transaction conflicted with another one running at the same time; \
             the portal runs the call again"
                .into(),
        ),
        Some("42P01") => {
            let name = text.split('"').nth(1).unwrap_or("?");
            (
                HostErrorKind::NotAllowed,
                format!("the statement reads `{name}`, which is not a table or index of plugin `{plugin}`"),
            )
        }
        // statement_timeout
        Some("57014") => (
            HostErrorKind::LimitExceeded,
            format!("the statement ran longer than {} ms and was cancelled", limits.time.as_millis()),
        ),
        Some("42501") => (
            HostErrorKind::NotAllowed,
            format!("the statement reaches outside the plugin's own tables ({text})"),
        ),
        Some("25006") => {
            (HostErrorKind::NotAllowed, "the statement writes during a read-only request".into())
        }
        Some("54000" | "54001" | "53200") => (HostErrorKind::LimitExceeded, text),
        Some("42601") if text.contains("multiple commands") => {
            (HostErrorKind::Invalid, "one statement per call".into())
        }
        _ => (HostErrorKind::Invalid, text),
    };
    HostError { kind, message: text }
}

fn refused(text: impl Into<String>) -> HostError {
    HostError { kind: HostErrorKind::NotAllowed, message: text.into() }
}

fn unavailable(err: &tokio_postgres::Error) -> HostError {
    tracing::error!(error = %crate::db::postgres::describe(err), "plugin SQL setup failed");
    HostError { kind: HostErrorKind::Failed, message: "the database is unavailable".into() }
}

/// The first word of `sql`, lowercased, after whitespace only (a statement may not begin
/// with a comment or a parenthesis: then the word the server reads first is the one
/// judged here).
fn first_words(sql: &str, n: usize) -> Vec<String> {
    sql.split([' ', '\t', '\n', '\r', '\u{b}', '\u{c}'])
        .filter(|w| !w.is_empty())
        .take(n)
        .map(|w| w.chars().take_while(char::is_ascii_alphabetic).collect::<String>().to_ascii_lowercase())
        .collect()
}

/// Refuses a statement that is not a query (or, when the call may write, a data change).
fn check_statement(sql: &str, access: SqlAccess) -> Result<(), HostError> {
    let starts = sql.trim_start_matches([' ', '\t', '\n', '\r', '\u{b}', '\u{c}']);
    if !starts.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(refused(
            "a statement begins with its keyword (SELECT, WITH, INSERT, ...), not a comment or a parenthesis",
        ));
    }
    let word = first_words(starts, 1).pop().unwrap_or_default();
    let allowed = match access {
        SqlAccess::ReadOnly => matches!(word.as_str(), "select" | "with" | "values"),
        SqlAccess::ReadWrite | SqlAccess::Migrate => {
            matches!(word.as_str(), "select" | "with" | "values" | "insert" | "update" | "delete")
        }
    };
    if allowed {
        Ok(())
    } else if matches!(word.as_str(), "insert" | "update" | "delete") {
        Err(refused("the statement writes during a read-only request"))
    } else {
        Err(refused(format!(
            "`{}` statements are not allowed: a plugin reads and writes its own tables",
            word.to_ascii_uppercase()
        )))
    }
}

/// The PostgreSQL type a parameter is sent as (NULL: left to the statement).
fn param_type(value: &SqlValue) -> Type {
    match value {
        SqlValue::Null => Type::new(String::new(), 0, Kind::Pseudo, String::new()),
        SqlValue::Int(_) => Type::INT8,
        SqlValue::Real(_) => Type::FLOAT8,
        SqlValue::Text(_) => Type::TEXT,
        SqlValue::Blob(_) => Type::BYTEA,
    }
}

/// A plugin's parameter, sent as the type it was declared with.
#[derive(Debug)]
struct Param<'a>(&'a SqlValue);

impl tokio_postgres::types::ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let value = match self.0 {
            SqlValue::Null => crate::db::sql::Value::Null,
            SqlValue::Int(i) => crate::db::sql::Value::Int(*i),
            SqlValue::Real(f) => crate::db::sql::Value::Real(*f),
            SqlValue::Text(t) => crate::db::sql::Value::Text(t),
            SqlValue::Blob(b) => crate::db::sql::Value::Blob(b),
        };
        value.to_sql(ty, out)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Column `i` of `row` as a plugin value.
fn column(row: &Row, i: usize) -> Result<SqlValue, String> {
    let ty = row.columns()[i].type_().clone();
    let get = |e: tokio_postgres::Error| e.to_string();
    let value = match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(get)?.map(SqlValue::Int),
        Type::INT4 => row.try_get::<_, Option<i32>>(i).map_err(get)?.map(|v| SqlValue::Int(v.into())),
        Type::INT2 => row.try_get::<_, Option<i16>>(i).map_err(get)?.map(|v| SqlValue::Int(v.into())),
        Type::OID => row.try_get::<_, Option<u32>>(i).map_err(get)?.map(|v| SqlValue::Int(v.into())),
        Type::BOOL => row.try_get::<_, Option<bool>>(i).map_err(get)?.map(|v| SqlValue::Int(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map_err(get)?.map(SqlValue::Real),
        Type::FLOAT4 => row.try_get::<_, Option<f32>>(i).map_err(get)?.map(|v| SqlValue::Real(v.into())),
        Type::NUMERIC => row.try_get::<_, Option<Numeric>>(i).map_err(get)?.map(|n| n.0),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            row.try_get::<_, Option<String>>(i).map_err(get)?.map(SqlValue::Text)
        }
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i).map_err(get)?.map(SqlValue::Blob),
        other => {
            return Err(format!(
                "column {} is of type {other}; a plugin reads integers, floats, text, bytes and booleans (cast it)",
                row.columns()[i].name()
            ));
        }
    };
    Ok(value.unwrap_or(SqlValue::Null))
}

/// A `numeric` (what `sum` of integers gives on PostgreSQL): an integer when it is whole
/// and fits, a float otherwise.
struct Numeric(SqlValue);

impl<'a> tokio_postgres::types::FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let word = |i: usize| -> Result<i16, Box<dyn std::error::Error + Sync + Send>> {
            let bytes = raw.get(i * 2..i * 2 + 2).ok_or("short numeric")?;
            Ok(i16::from_be_bytes([bytes[0], bytes[1]]))
        };
        let (ndigits, weight, sign, dscale) = (word(0)?, word(1)?, word(2)? as u16, word(3)?);
        if sign == 0xC000 {
            return Ok(Numeric(SqlValue::Real(f64::NAN)));
        }
        let mut value = 0f64;
        let mut whole: Option<i128> = Some(0);
        for d in 0..usize::try_from(ndigits).unwrap_or(0) {
            let digit = word(4 + d)?;
            let power = i32::from(weight) - i32::try_from(d).unwrap_or(0);
            value += f64::from(digit) * 10_000f64.powi(power);
            whole = match (whole, power >= 0) {
                (Some(w), true) => u32::try_from(power)
                    .ok()
                    .and_then(|p| 10_000i128.checked_pow(p))
                    .and_then(|m| w.checked_add(i128::from(digit) * m)),
                (w, false) if digit == 0 => w,
                _ => None,
            };
        }
        let negative = sign == 0x4000;
        let int = whole
            .filter(|_| dscale == 0 || value.fract() == 0.0)
            .and_then(|w| i64::try_from(if negative { -w } else { w }).ok());
        Ok(Numeric(match int {
            Some(i) => SqlValue::Int(i),
            None => SqlValue::Real(if negative { -value } else { value }),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// Ends a plugin statement that succeeded: its savepoint released, the host's role and
/// settings back. Sent before whatever runs next on the connection (see `PgConn::host`).
const END: &str = "RELEASE portal_plugin; SET LOCAL ROLE NONE; SET LOCAL search_path TO DEFAULT; \
                   SET LOCAL statement_timeout TO DEFAULT; ";

/// Runs one plugin statement in a savepoint, under the plugin's role, search path and
/// time limit; `run` runs it (sending `start` first in the same round trip when it is
/// given: the statement was prepared before) and turns the rows into the reply. After it,
/// the role and settings are the host's again before any host statement runs, whatever
/// happened: at once when it failed, otherwise with the next statement (a plugin's next
/// one sends it with its own start, so each statement costs one round trip).
fn confined<T>(
    conn: &Conn,
    plugin: &str,
    access: SqlAccess,
    sql: &str,
    params: &[SqlValue],
    limits: SqlLimits,
    run: impl FnOnce(&PgConn, Option<&str>, &Statement, &[Param<'_>]) -> Result<T, HostError>,
) -> Result<T, HostError> {
    check_statement(sql, access)?;
    let pg = pg_of(conn)?;
    let space = space(pg, plugin);
    let types: Vec<Type> = params.iter().map(param_type).collect();
    let key = format!("{}\u{0}{:?}\u{0}{sql}", space.role, types.iter().map(Type::oid).collect::<Vec<_>>());
    let timeout = limits.time.as_millis().max(1);
    let start = format!(
        "{pending}SAVEPOINT portal_plugin; SET LOCAL ROLE {role}; SET LOCAL search_path = {schema}, portal_compat; \
         SET LOCAL statement_timeout = {timeout}",
        pending = pg.take_pending(),
        role = space.role,
        schema = space.schema,
    );
    let values: Vec<Param<'_>> = params.iter().map(Param).collect();
    let result = match pg.cached_statement(&key) {
        Some(stmt) => run(pg, Some(&start), &stmt, &values),
        None => {
            // Prepared under the plugin's search path (PostgreSQL names the tables then, and
            // prepares again should the path differ when it runs).
            pg.unflushed().batch_execute(&start).map_err(|e| unavailable(&e))?;
            pg.prepare_plugin_statement(&key, &numbered_placeholders(&without_index_hints(sql)), &types)
                .map_err(|e| plugin_error(pg, e, plugin, limits))
                .and_then(|stmt| run(pg, None, &stmt, &values))
        }
    };
    match &result {
        Ok(_) => pg.push_pending(END),
        Err(_) => {
            // The settings made after the savepoint are undone with it (and with them
            // anything a failed statement left pending).
            pg.take_pending();
            pg.unflushed()
                .batch_execute("ROLLBACK TO portal_plugin; RELEASE portal_plugin")
                .map_err(|e| unavailable(&e))?;
        }
    }
    result
}

fn to_params<'a>(values: &'a [Param<'a>]) -> Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)).collect()
}

/// Runs one SELECT (or a statement with `RETURNING`) for `plugin`.
pub(super) fn query(
    conn: &Conn,
    plugin: &str,
    access: SqlAccess,
    sql: &str,
    params: &[SqlValue],
    limits: SqlLimits,
) -> Result<HostReply, HostError> {
    confined(conn, plugin, access, sql, params, limits, |pg, start, stmt, values| {
        let columns: Vec<String> = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
        let client = pg.unflushed();
        let rows = match start {
            Some(start) => client.query_iter_after(start, stmt, &to_params(values)),
            None => client.query_iter(stmt, &to_params(values)),
        };
        let mut rows = rows.map_err(|e| plugin_error(pg, e, plugin, limits))?;
        let mut out = super::ResultRows::new(limits.max_bytes);
        while let Some(row) = rows.next().map_err(|e| plugin_error(pg, e, plugin, limits))? {
            let values = (0..columns.len())
                .map(|i| column(&row, i))
                .collect::<Result<_, _>>()
                .map_err(|m| HostError { kind: HostErrorKind::Invalid, message: m })?;
            out.push(values)?;
        }
        Ok(HostReply::Rows { columns, rows: out.rows })
    })
}

/// Asks for the id PostgreSQL generated last in this session, as the plugin's role, in a
/// savepoint of its own (it fails when the last sequence this session used is not the
/// plugin's).
const LAST_VALUE: &str = "SAVEPOINT portal_lastval; SELECT lastval()";

/// Runs one INSERT, UPDATE or DELETE for `plugin`. After an INSERT, the id PostgreSQL
/// generated last in this session, if the plugin's role may read that sequence (its own),
/// asked for in the same round trip.
pub(super) fn execute(
    conn: &Conn,
    plugin: &str,
    access: SqlAccess,
    sql: &str,
    params: &[SqlValue],
    limits: SqlLimits,
) -> Result<HostReply, HostError> {
    let insert = first_words(sql, 1).first().is_some_and(|w| w == "insert");
    confined(conn, plugin, access, sql, params, limits, |pg, start, stmt, values| {
        let client = pg.unflushed();
        let then = insert.then_some(LAST_VALUE);
        let (changes, last) = match start {
            Some(start) => client.execute_between(start, stmt, &to_params(values), then),
            None => client.execute(stmt, &to_params(values)).map(|changes| {
                let last = then.map(|sql| client.simple_query(sql));
                (changes, last)
            }),
        }
        .map_err(|e| plugin_error(pg, e, plugin, limits))?;
        let last_insert_id = match last {
            Some(answer) => last_value(pg, answer),
            None => 0,
        };
        Ok(HostReply::Executed { changes, last_insert_id: if changes > 0 { last_insert_id } else { 0 } })
    })
}

/// The id [`LAST_VALUE`] answered, 0 when it failed; its savepoint ends with the
/// statement's (at once when it failed, since a failed savepoint would fail the rest).
fn last_value(pg: &PgConn, answer: crate::db::pg_client::SimpleAnswer) -> i64 {
    let value = answer.ok().and_then(|messages| {
        messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).and_then(|v| v.parse::<i64>().ok()),
            _ => None,
        })
    });
    match value {
        Some(_) => pg.push_pending("RELEASE portal_lastval; "),
        None => {
            let _ = pg.unflushed().batch_execute("ROLLBACK TO portal_lastval; RELEASE portal_lastval");
        }
    }
    value.unwrap_or(0)
}

/// Makes (once) the plugin's role and schema and the shared `portal_compat` schema, and
/// checks that the database denies what grants cannot (see the module's docs): a
/// superuser host does it itself, any other is refused with the statements to run.
fn set_up(pg: &PgConn, plugin: &str) -> Result<Space, String> {
    let space = space(pg, plugin);
    let client = pg.host().map_err(|e| e.to_string())?;
    let fail = |e: tokio_postgres::Error| crate::db::postgres::describe(&e);
    let role_name = space.role.trim_matches('"').replace("\"\"", "\"");
    let exists = !client
        .query_text("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role_name])
        .map_err(fail)?
        .is_empty();
    let created = if exists {
        Ok(())
    } else {
        client.batch_execute(&format!("CREATE ROLE {} NOLOGIN NOINHERIT", space.role))
    };
    if let Err(e) = created {
        // Another process may have made it meanwhile.
        let made = client
            .query_text("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role_name])
            .map_err(fail)?
            .pop();
        if made.is_none() {
            return Err(format!(
                "cannot create the plugin's role (the portal's database user needs CREATEROLE): {}",
                fail(e)
            ));
        }
    }
    let superuser = client
        .query_text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", &[])
        .map_err(fail)?
        .first()
        .is_some_and(|r| r.get::<_, bool>(0));
    if !superuser {
        client.batch_execute(&format!("GRANT {} TO CURRENT_USER", space.role)).map_err(fail)?;
    }
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; GRANT USAGE ON SCHEMA {schema} TO {role}; \
             CREATE SCHEMA IF NOT EXISTS portal_compat; GRANT USAGE ON SCHEMA portal_compat TO {role}",
            schema = space.schema,
            role = space.role,
        ))
        .map_err(fail)?;
    compat(client).map_err(fail)?;
    // What the role must not have; the host revokes what it may, and names the rest.
    let mut missing = Vec::new();
    let checks: Vec<(String, String)> = [
        (
            "SELECT has_schema_privilege($1, 'public', 'USAGE')".to_owned(),
            "REVOKE ALL ON SCHEMA public FROM PUBLIC".to_owned(),
        ),
        (
            "SELECT has_database_privilege($1, current_database(), 'TEMPORARY')".to_owned(),
            "REVOKE TEMPORARY ON DATABASE current_database FROM PUBLIC".to_owned(),
        ),
        // `UPDATE pg_settings` is `set_config` by another name (a rule on the view).
        (
            "SELECT has_table_privilege($1, 'pg_catalog.pg_settings', 'UPDATE')".to_owned(),
            "REVOKE UPDATE ON pg_catalog.pg_settings FROM PUBLIC".to_owned(),
        ),
    ]
    .into_iter()
    .chain(DENIED_FUNCTIONS.iter().map(|f| {
        (
            format!("SELECT has_function_privilege($1, '{f}', 'EXECUTE')"),
            format!("REVOKE EXECUTE ON FUNCTION {f} FROM PUBLIC"),
        )
    }))
    .collect();
    for (check, fix) in checks {
        let granted: bool = client
            .query_text(check.as_str(), &[&role_name])
            .map_err(fail)?
            .first()
            .is_some_and(|r| r.get::<_, bool>(0));
        if granted {
            let fix = fix.replace(
                "current_database",
                &quote(
                    &client
                        .query_text("SELECT current_database()", &[])
                        .map_err(fail)?
                        .first()
                        .map(|r| r.get::<_, String>(0))
                        .unwrap_or_default(),
                ),
            );
            if client.batch_execute(&fix).is_err() {
                missing.push(fix);
            }
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "the database lets every role do what would let a plugin escape its confinement; run as a superuser, in the portal's database: {};",
            missing.join("; ")
        ));
    }
    Ok(space)
}

/// The functions and collation of `portal_compat`: SQLite's `group_concat`, `ifnull` and
/// two-argument `max` and `min` (NULL if either is, as in SQLite), and a case-insensitive
/// collation, so that one plugin's SQL reads the same on both
/// engines. Made once; they run with the caller's rights.
fn compat(client: &PgClient) -> Result<(), tokio_postgres::Error> {
    let made: bool = client
        .query_text("SELECT to_regproc('portal_compat.ifnull') IS NOT NULL", &[])?
        .first()
        .is_some_and(|r| r.get::<_, bool>(0));
    if made {
        return Ok(());
    }
    client.batch_execute(
        "CREATE COLLATION IF NOT EXISTS portal_compat.nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
         CREATE OR REPLACE FUNCTION portal_compat.group_concat_step(acc text, value text, sep text) RETURNS text
             LANGUAGE sql IMMUTABLE AS 'SELECT CASE WHEN value IS NULL THEN acc WHEN acc IS NULL THEN value ELSE acc || sep || value END';
         CREATE OR REPLACE FUNCTION portal_compat.group_concat_step(acc text, value text) RETURNS text
             LANGUAGE sql IMMUTABLE AS 'SELECT portal_compat.group_concat_step(acc, value, '','')';
         CREATE OR REPLACE AGGREGATE portal_compat.group_concat(text, text) (SFUNC = portal_compat.group_concat_step, STYPE = text);
         CREATE OR REPLACE AGGREGATE portal_compat.group_concat(text) (SFUNC = portal_compat.group_concat_step, STYPE = text);
         CREATE OR REPLACE FUNCTION portal_compat.ifnull(anycompatible, anycompatible) RETURNS anycompatible
             LANGUAGE sql IMMUTABLE AS 'SELECT coalesce($1, $2)';
         CREATE OR REPLACE FUNCTION portal_compat.max(anycompatible, anycompatible) RETURNS anycompatible
             LANGUAGE sql IMMUTABLE AS 'SELECT CASE WHEN $1 IS NULL OR $2 IS NULL THEN NULL ELSE greatest($1, $2) END';
         CREATE OR REPLACE FUNCTION portal_compat.min(anycompatible, anycompatible) RETURNS anycompatible
             LANGUAGE sql IMMUTABLE AS 'SELECT CASE WHEN $1 IS NULL OR $2 IS NULL THEN NULL ELSE least($1, $2) END';",
    )
}

/// The kinds of statement a migration may hold.
fn check_migration_statement(sql: &str) -> Result<(), String> {
    let words = first_words(sql, 3);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["create", "table", ..]
        | ["create", "index", ..]
        | ["create", "unique", "index"]
        | ["alter", "table", ..]
        | ["drop", "table", ..]
        | ["drop", "index", ..] => Ok(()),
        _ => Err(format!(
            "a migration creates, alters and drops tables and indexes only, not `{}`",
            words.join(" ").to_ascii_uppercase()
        )),
    }
}

/// Splits a migration into its statements at `;` outside quotes and comments. A `$`
/// outside quotes is refused (dollar quoting is for function bodies, which migrations do
/// not have; refusing it keeps this split the same as the server's).
fn split_statements(sql: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                current.push(c);
                for d in chars.by_ref() {
                    current.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                return Err("comments in a migration are written with --".into());
            }
            '$' => return Err("`$` is not allowed in a migration (no dollar quoting, no functions)".into()),
            ';' => {
                if !current.trim().is_empty() {
                    out.push(std::mem::take(&mut current).trim().to_owned());
                }
                current.clear();
            }
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    Ok(out)
}

/// The words of `sql` outside quotes, as byte ranges.
fn words(sql: &str) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\'' || c == b'"' {
            i = sql[i + 1..].find(c as char).map_or(bytes.len(), |e| i + 1 + e + 1);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            words.push((start, i));
        } else {
            i += 1;
        }
    }
    words
}

/// A query without SQLite's index hints (`INDEXED BY name`, `NOT INDEXED`), which
/// PostgreSQL's planner does without.
fn without_index_hints(sql: &str) -> String {
    let words = words(sql);
    let lower = |k: usize| words.get(k).map(|&(s, e)| sql[s..e].to_ascii_lowercase());
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    for k in 0..words.len() {
        let cut = match lower(k).as_deref() {
            Some("indexed") if lower(k + 1).as_deref() == Some("by") && k + 2 < words.len() => {
                Some((words[k].0, words[k + 2].1))
            }
            Some("not") if lower(k + 1).as_deref() == Some("indexed") => Some((words[k].0, words[k + 1].1)),
            _ => None,
        };
        if let Some((start, end)) = cut.filter(|(start, _)| *start >= copied) {
            out.push_str(&sql[copied..start]);
            copied = end;
        }
    }
    out.push_str(&sql[copied..]);
    out
}

/// SQLite's DDL in the portable subset as PostgreSQL's (see the module's docs).
pub(super) fn translate_ddl(sql: &str) -> String {
    // Words outside quotes, compared in lowercase; quoted text is copied as it is.
    let mut out = String::with_capacity(sql.len() + 32);
    let words = words(sql);
    let lower = |k: usize| words.get(k).map(|&(s, e)| sql[s..e].to_ascii_lowercase());
    let mut copied = 0;
    let mut k = 0;
    while k < words.len() {
        let (start, end) = words[k];
        let w = lower(k).unwrap_or_default();
        let (replacement, used) = match w.as_str() {
            "integer"
                if lower(k + 1).as_deref() == Some("primary") && lower(k + 2).as_deref() == Some("key") =>
            {
                let auto = lower(k + 3).as_deref() == Some("autoincrement");
                ("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", if auto { 4 } else { 3 })
            }
            "integer" | "int" => ("BIGINT", 1),
            "real" => ("DOUBLE PRECISION", 1),
            "blob" => ("BYTEA", 1),
            "nocase" if k > 0 && lower(k - 1).as_deref() == Some("collate") => ("portal_compat.nocase", 1),
            "strict" => ("", 1),
            "without" if lower(k + 1).as_deref() == Some("rowid") => ("", 2),
            _ => {
                k += 1;
                continue;
            }
        };
        let last_end = words[k + used - 1].1;
        out.push_str(&sql[copied..start]);
        out.push_str(replacement);
        copied = last_end;
        let _ = end;
        k += used;
    }
    out.push_str(&sql[copied..]);
    out
}

/// What the plugin's schema holds besides tables, indexes and sequences (and their row
/// types): names of functions, views, triggers, types.
fn foreign_objects(client: &PgClient, schema: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client.query_text(
        "SELECT 'relation ' || relname || ' (' || relkind::text || ')' FROM pg_class
           WHERE relnamespace = to_regnamespace($1) AND relkind NOT IN ('r', 'i', 'S')
         UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE pronamespace = to_regnamespace($1)
         UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           WHERE c.relnamespace = to_regnamespace($1) AND NOT t.tgisinternal
         UNION ALL SELECT 'type ' || typname FROM pg_type
           WHERE typnamespace = to_regnamespace($1) AND typrelid = 0 AND typcategory <> 'A'",
        &[&schema],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Sets up the plugin's space, then applies, in order and each in its own transaction,
/// the migrations not applied yet; returns the versions applied now.
pub(super) fn apply_migrations(
    conn: &Conn,
    plugin: &str,
    migrations: &[Migration],
    now: Timestamp,
) -> Result<Vec<u32>, MigrationError> {
    let pg = pg_of(conn).map_err(|e| MigrationError::Db(crate::db::DbError::Invalid(e.message)))?;
    let setup = |message: String| MigrationError::Failed {
        plugin: plugin.to_owned(),
        version: 0,
        name: "set-up".into(),
        message,
    };
    let space = set_up(pg, plugin).map_err(setup)?;
    let done: Vec<u32> = conn
        .query_all("SELECT version FROM plugin_migrations WHERE plugin = ?1", &[&plugin], |r| r.get(0))
        .map_err(MigrationError::Db)?;
    let mut applied = Vec::new();
    for migration in migrations.iter().filter(|m| !done.contains(&m.version)) {
        let fail = |message: String| MigrationError::Failed {
            plugin: plugin.to_owned(),
            version: migration.version,
            name: migration.name.clone(),
            message,
        };
        let statements = split_statements(&migration.sql).map_err(fail)?;
        for statement in &statements {
            check_migration_statement(statement).map_err(fail)?;
        }
        let client = pg.host().map_err(|e| fail(e.to_string()))?;
        let db_fail = |e: tokio_postgres::Error| fail(crate::db::postgres::describe(&e));
        client.batch_execute("BEGIN").map_err(db_fail)?;
        let result = (|| -> Result<(), MigrationError> {
            client
                .batch_execute(&format!(
                    "GRANT CREATE ON SCHEMA {schema} TO {role}; SET LOCAL ROLE {role}; \
                     SET LOCAL search_path = {schema}, portal_compat; SET LOCAL statement_timeout = {MIGRATION_TIME_MS}",
                    schema = space.schema,
                    role = space.role,
                ))
                .map_err(db_fail)?;
            for statement in &statements {
                // One statement per message (the extended protocol takes no more).
                client
                    .execute_text(translate_ddl(statement).as_str(), &[])
                    .map_err(|e| fail(format!("{}: {}", statement, crate::db::postgres::describe(&e))))?;
            }
            client
                .batch_execute(&format!("RESET ROLE; RESET search_path; RESET statement_timeout; REVOKE CREATE ON SCHEMA {} FROM {}", space.schema, space.role))
                .map_err(db_fail)?;
            let schema_name = space.schema.trim_matches('"').to_owned();
            let foreign = foreign_objects(client, &schema_name).map_err(db_fail)?;
            if !foreign.is_empty() {
                return Err(fail(format!(
                    "a migration creates tables and indexes only; it made {}",
                    foreign.join(", ")
                )));
            }
            client
                .execute_text(
                    "INSERT INTO plugin_migrations (plugin, version, name, applied_at) VALUES ($1, $2, $3, $4)",
                    &[&plugin, &i64::from(migration.version), &migration.name, &now.0],
                )
                .map_err(db_fail)?;
            Ok(())
        })();
        match result {
            Ok(()) => client.batch_execute("COMMIT").map_err(db_fail)?,
            Err(err) => {
                let _ = client.batch_execute("ROLLBACK");
                return Err(err);
            }
        }
        applied.push(migration.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_ddl_in_the_portable_subset_reads_as_postgres_ddl() {
        assert_eq!(
            translate_ddl(
                "CREATE TABLE n_note (id INTEGER PRIMARY KEY AUTOINCREMENT, author integer NOT NULL, score REAL, data BLOB, name TEXT COLLATE NOCASE, note TEXT DEFAULT 'integer') STRICT"
            ),
            "CREATE TABLE n_note (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, author BIGINT NOT NULL, score DOUBLE PRECISION, data BYTEA, name TEXT COLLATE portal_compat.nocase, note TEXT DEFAULT 'integer') "
        );
        assert_eq!(
            translate_ddl("CREATE TABLE t (a INT, PRIMARY KEY (a)) WITHOUT ROWID"),
            "CREATE TABLE t (a BIGINT, PRIMARY KEY (a)) "
        );
    }

    #[test]
    fn index_hints_are_left_out() {
        assert_eq!(
            without_index_hints("SELECT * FROM t p INDEXED BY t_by_x WHERE 'INDEXED BY x' = a NOT INDEXED"),
            "SELECT * FROM t p  WHERE 'INDEXED BY x' = a "
        );
    }

    #[test]
    fn statements_are_judged_by_their_first_word() {
        for ok in ["SELECT 1", "  with x AS (SELECT 1) SELECT * FROM x", "VALUES (1)"] {
            assert!(check_statement(ok, SqlAccess::ReadOnly).is_ok(), "{ok}");
        }
        for bad in [
            "RESET ROLE",
            "SET ROLE postgres",
            "/* */ SELECT 1",
            "(SELECT 1)",
            "COPY t TO STDOUT",
            "DO $$ BEGIN END $$",
            "COMMIT",
            "EXPLAIN SELECT 1",
            "LISTEN x",
            "NOTIFY x",
        ] {
            assert!(check_statement(bad, SqlAccess::ReadWrite).is_err(), "{bad}");
        }
        assert!(check_statement("DELETE FROM t", SqlAccess::ReadOnly).is_err());
        assert!(check_statement("DELETE FROM t", SqlAccess::ReadWrite).is_ok());
    }

    #[test]
    fn migrations_split_outside_quotes_and_refuse_dollars_and_other_kinds() {
        assert_eq!(
            split_statements(
                "CREATE TABLE a (x TEXT DEFAULT ';'); -- a; comment\nCREATE INDEX a_x ON a (x);"
            )
            .unwrap(),
            ["CREATE TABLE a (x TEXT DEFAULT ';')", "CREATE INDEX a_x ON a (x)"]
        );
        assert!(split_statements("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql").is_err());
        for bad in [
            "CREATE FUNCTION f()",
            "CREATE VIEW v AS SELECT 1",
            "CREATE TRIGGER t",
            "GRANT ALL ON a TO PUBLIC",
            "RESET ROLE",
        ] {
            assert!(check_migration_statement(bad).is_err(), "{bad}");
        }
    }
}
