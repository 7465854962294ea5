//! Where the host's SQL meets an engine: [`Conn`], a connection to SQLite or to
//! PostgreSQL, with the one small API the aggregate modules use (`execute`, `query_one`,
//! `query_opt`, `query_all`, `batch`), typed parameters ([`ToSql`]) and typed columns
//! ([`FromSql`]).
//!
//! The host's SQL is written once, in what both engines read alike: `?N` placeholders
//! (rewritten to `$N` for PostgreSQL, once per statement text), `RETURNING`, `ON CONFLICT`,
//! `COLLATE nocase` (PostgreSQL's migrations create a case-insensitive collation of that
//! name), `count(*) FILTER (...)`, integers for times and flags. The few statements that
//! must differ are a [`Dialect`] pair, side by side.
//!
//! Nothing above `db` sees which engine runs: connections are handed out as `Conn` and
//! only this layer's functions take them.

use super::pg_client::{PgClient, Row as PgRow, Statement};
use super::{DbError, DbResult};
use std::cell::RefCell;
use std::collections::HashMap;
use tokio_postgres::types::{IsNull, Type, to_sql_checked};

/// Which engine a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite, one database file (the embedded default).
    Sqlite,
    /// PostgreSQL, a server.
    Postgres,
}

impl Engine {
    /// The engine's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        }
    }
}

/// A connection to the portal's database.
pub struct Conn {
    inner: Inner,
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(Box<PgConn>),
}

/// A PostgreSQL client with its prepared statements (by the host's statement text).
pub(super) struct PgConn {
    client: PgClient,
    /// A hash of the database's name, which plugins' role names carry (made once).
    role_tag: String,
    statements: RefCell<HashMap<String, Statement>>,
    /// Whether a transaction this layer began is open.
    in_transaction: std::cell::Cell<bool>,
    /// What must run before the next statement: the end of the last plugin statement (its
    /// savepoint released, the host's role, search path and time limit back). A plugin's
    /// next statement sends it in the same round trip as its own start; a host statement
    /// has it run first ([`PgConn::host`]); a transaction's end makes it moot.
    pending: RefCell<String>,
    /// A statement of the open transaction met a serialization failure or a deadlock: the
    /// transaction cannot commit, and the call may run again (see [`super::DbError::Conflict`]).
    conflicted: std::cell::Cell<bool>,
}

/// Prepared statements kept per PostgreSQL connection (the host has fewer than this).
const MAX_PG_STATEMENTS: usize = 512;

/// A statement that must be written differently for each engine.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// SQLite's text.
    pub sqlite: &'static str,
    /// PostgreSQL's text.
    pub postgres: &'static str,
}

impl Dialect {
    /// The text for `engine`.
    pub fn text(&self, engine: Engine) -> &'static str {
        match engine {
            Engine::Sqlite => self.sqlite,
            Engine::Postgres => self.postgres,
        }
    }
}

/// A parameter's value, as both engines take it.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// NULL.
    Null,
    /// A 64-bit integer (also flags: 0 or 1).
    Int(i64),
    /// A float.
    Real(f64),
    /// Text.
    Text(&'a str),
    /// Bytes.
    Blob(&'a [u8]),
}

/// A Rust value that can be a statement parameter.
pub trait ToSql {
    /// The value to bind.
    fn to_value(&self) -> Value<'_>;
}

macro_rules! int_to_sql {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_value(&self) -> Value<'_> {
                Value::Int(i64::from(*self))
            }
        }
    )*};
}
int_to_sql!(i64, i32, u32, u16, u8, bool);

impl ToSql for usize {
    fn to_value(&self) -> Value<'_> {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToSql for f64 {
    fn to_value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

impl ToSql for str {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToSql for String {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToSql for [u8] {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl ToSql for Vec<u8> {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_value(&self) -> Value<'_> {
        self.as_ref().map_or(Value::Null, ToSql::to_value)
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}

impl ToSql for Value<'_> {
    fn to_value(&self) -> Value<'_> {
        *self
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef;
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(i),
            Value::Real(f) => ValueRef::Real(f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// PostgreSQL infers each parameter's type from the statement; a value is sent as that
/// type when it converts without loss (an integer as `int2/4/8`, `bool`, a float, or as
/// text where the statement casts it to text), and refused otherwise.
impl tokio_postgres::types::ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                // Only small integers are exact as floats.
                Type::FLOAT8 if i.unsigned_abs() < (1 << 53) => (i as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().as_str().to_sql(ty, out),
                _ => Err(format!("an integer parameter where the statement wants {ty}").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                _ => Err(format!("a float parameter where the statement wants {ty}").into()),
            },
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => s.to_sql(ty, out),
                _ => Err(format!("a text parameter where the statement wants {ty}").into()),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => Err(format!("a bytes parameter where the statement wants {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A Rust value that a column can be read as.
pub trait FromSql: Sized {
    /// From a SQLite value; `None` for NULL.
    fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Result<Option<Self>, String>;
    /// From column `i` of a PostgreSQL row; `None` for NULL.
    fn from_pg(row: &PgRow, i: usize) -> Result<Option<Self>, String>;
}

fn pg_type(row: &PgRow, i: usize) -> Result<&Type, String> {
    row.columns().get(i).map(tokio_postgres::Column::type_).ok_or_else(|| format!("no column {i}"))
}

fn pg_get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a PgRow, i: usize) -> Result<Option<T>, String> {
    row.try_get::<_, Option<T>>(i).map_err(|e| e.to_string())
}

impl FromSql for i64 {
    fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Result<Option<Self>, String> {
        use rusqlite::types::ValueRef;
        match value {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(i) => Ok(Some(i)),
            other => Err(format!("{:?} where an integer was expected", other.data_type())),
        }
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Option<Self>, String> {
        match *pg_type(row, i)? {
            Type::INT8 => pg_get::<i64>(row, i),
            Type::INT4 => Ok(pg_get::<i32>(row, i)?.map(i64::from)),
            Type::INT2 => Ok(pg_get::<i16>(row, i)?.map(i64::from)),
            Type::BOOL => Ok(pg_get::<bool>(row, i)?.map(i64::from)),
            ref other => Err(format!("column {i} is {other} where an integer was expected")),
        }
    }
}

impl FromSql for u32 {
    fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Result<Option<Self>, String> {
        i64::from_sqlite(value)?.map(|i| u32::try_from(i).map_err(|e| e.to_string())).transpose()
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Option<Self>, String> {
        i64::from_pg(row, i)?.map(|i| u32::try_from(i).map_err(|e| e.to_string())).transpose()
    }
}

impl FromSql for bool {
    fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Result<Option<Self>, String> {
        Ok(i64::from_sqlite(value)?.map(|i| i != 0))
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Option<Self>, String> {
        Ok(i64::from_pg(row, i)?.map(|i| i != 0))
    }
}

impl FromSql for f64 {
    fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Result<Option<Self>, String> {
        use rusqlite::types::ValueRef;
        match value {
            ValueRef::Null => Ok(None),
            ValueRef::Real(f) => Ok(Some(f)),
            ValueRef::Integer(i) => Ok(Some(i as f64)),
            other => Err(format!("{:?} where a number was expected", other.data_type())),
        }
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Option<Self>, String> {
        match *pg_type(row, i)? {
            Type::FLOAT8 => pg_get::<f64>(row, i),
            Type::FLOAT4 => Ok(pg_get::<f32>(row, i)?.map(f64::from)),
            _ => Ok(i64::from_pg(row, i)?.map(|i| i as f64)),
        }
    }
}

impl FromSql for String {
    fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Result<Option<Self>, String> {
        use rusqlite::types::ValueRef;
        match value {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => String::from_utf8(t.to_vec()).map(Some).map_err(|e| e.to_string()),
            other => Err(format!("{:?} where text was expected", other.data_type())),
        }
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Option<Self>, String> {
        pg_get::<String>(row, i)
    }
}

impl FromSql for Vec<u8> {
    fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Result<Option<Self>, String> {
        use rusqlite::types::ValueRef;
        match value {
            ValueRef::Null => Ok(None),
            ValueRef::Blob(b) | ValueRef::Text(b) => Ok(Some(b.to_vec())),
            other => Err(format!("{:?} where bytes were expected", other.data_type())),
        }
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Option<Self>, String> {
        pg_get::<Vec<u8>>(row, i)
    }
}

/// A column type that may be NULL.
impl<T: FromSql> FromSql for Option<T> {
    fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Result<Option<Self>, String> {
        Ok(Some(T::from_sqlite(value)?))
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Option<Self>, String> {
        Ok(Some(T::from_pg(row, i)?))
    }
}

/// One row of a result.
pub enum Row<'r> {
    /// A SQLite row.
    Sqlite(&'r rusqlite::Row<'r>),
    /// A PostgreSQL row.
    Postgres(&'r PgRow),
}

impl Row<'_> {
    /// Column `i` (from 0) as a `T`; NULL only into an `Option`.
    pub fn get<T: FromSql>(&self, i: usize) -> DbResult<T> {
        let value = match self {
            Row::Sqlite(row) => row
                .get_ref(i)
                .map_err(DbError::from)
                .and_then(|v| T::from_sqlite(v).map_err(|e| DbError::Column(format!("column {i}: {e}"))))?,
            Row::Postgres(row) => T::from_pg(row, i).map_err(DbError::Column)?,
        };
        value.ok_or_else(|| DbError::Column(format!("column {i} is NULL")))
    }
}

/// The statements. Above `db` only tests run SQL of their own through these (the host's
/// SQL lives in the aggregate modules).
impl Conn {
    /// A SQLite connection (also one opened elsewhere: the benchmarks' native baseline
    /// runs the host's functions on a bare connection).
    pub fn sqlite(conn: rusqlite::Connection) -> Conn {
        Conn { inner: Inner::Sqlite(conn) }
    }

    /// A PostgreSQL client connected to `database`.
    pub(super) fn postgres(client: PgClient, database: String) -> Conn {
        Conn {
            inner: Inner::Postgres(Box::new(PgConn {
                client,
                role_tag: {
                    use sha2::Digest;
                    let hash = sha2::Sha256::digest(database.as_bytes());
                    hash.iter().take(4).map(|b| format!("{b:02x}")).collect()
                },
                statements: RefCell::default(),
                in_transaction: std::cell::Cell::new(false),
                pending: RefCell::default(),
                conflicted: std::cell::Cell::new(false),
            })),
        }
    }

    /// Which engine this connection talks to.
    pub fn engine(&self) -> Engine {
        match self.inner {
            Inner::Sqlite(_) => Engine::Sqlite,
            Inner::Postgres(_) => Engine::Postgres,
        }
    }

    /// Whether a transaction is open on this connection (SQLite ends one by itself when a
    /// write statement is interrupted or fails on I/O).
    pub fn in_transaction(&self) -> bool {
        match &self.inner {
            Inner::Sqlite(conn) => !conn.is_autocommit(),
            Inner::Postgres(pg) => pg.in_transaction(),
        }
    }

    /// The SQLite connection, if this is one (the SQLite-only parts of `db`: the writer,
    /// checkpoints, plugin SQL's authorizer; and tests of SQLite's own state).
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(conn) => Some(conn),
            Inner::Postgres(_) => None,
        }
    }

    /// The PostgreSQL client, if this is one.
    pub(super) fn as_postgres(&self) -> Option<&PgConn> {
        match &self.inner {
            Inner::Postgres(conn) => Some(conn),
            Inner::Sqlite(_) => None,
        }
    }

    /// The SQLite connection itself, if this is one (a PostgreSQL one is closed).
    pub(super) fn into_sqlite(self) -> Option<rusqlite::Connection> {
        match self.inner {
            Inner::Sqlite(conn) => Some(conn),
            Inner::Postgres(_) => None,
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> DbResult<usize> {
        match &self.inner {
            Inner::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(params.iter().map(|p| p.to_value())))?)
            }
            Inner::Postgres(pg) => {
                let values: Vec<Value<'_>> = params.iter().map(|p| p.to_value()).collect();
                let stmt = pg.statement(sql)?;
                let changed = pg.host()?.execute(&stmt, &pg_params(&values)).map_err(|e| pg.noted(e))?;
                Ok(usize::try_from(changed).unwrap_or(usize::MAX))
            }
        }
    }

    /// Every row of a query, each read by `read`.
    pub fn query_all<T>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        mut read: impl FnMut(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<Vec<T>> {
        match &self.inner {
            Inner::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(params.iter().map(|p| p.to_value())))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(read(&Row::Sqlite(row))?);
                }
                Ok(out)
            }
            Inner::Postgres(pg) => {
                let values: Vec<Value<'_>> = params.iter().map(|p| p.to_value()).collect();
                let stmt = pg.statement(sql)?;
                let rows = pg.host()?.query(&stmt, &pg_params(&values)).map_err(|e| pg.noted(e))?;
                rows.iter().map(|row| read(&Row::Postgres(row))).collect()
            }
        }
    }

    /// The first row of a query, if any, read by `read`.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        read: impl FnOnce(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<Option<T>> {
        match &self.inner {
            Inner::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(params.iter().map(|p| p.to_value())))?;
                match rows.next()? {
                    Some(row) => Ok(Some(read(&Row::Sqlite(row))?)),
                    None => Ok(None),
                }
            }
            Inner::Postgres(pg) => {
                let values: Vec<Value<'_>> = params.iter().map(|p| p.to_value()).collect();
                let stmt = pg.statement(sql)?;
                let rows = pg.host()?.query(&stmt, &pg_params(&values)).map_err(|e| pg.noted(e))?;
                rows.first().map(|row| read(&Row::Postgres(row))).transpose()
            }
        }
    }

    /// The first row of a query, which must exist (an aggregate, `RETURNING`), read by
    /// `read`.
    pub fn query_one<T>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        read: impl FnOnce(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<T> {
        self.query_opt(sql, params, read)?
            .ok_or_else(|| DbError::NotFound("the row the statement returns".into()))
    }

    /// Runs statements without parameters, one after another (migrations, transaction
    /// control, test set-up).
    pub fn batch(&self, sql: &str) -> DbResult<()> {
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Inner::Postgres(pg) => Ok(pg.host()?.batch_execute(sql).map_err(|e| pg.noted(e))?),
        }
    }
}

impl PgConn {
    /// The prepared statement for the host's `sql` (prepared once per connection).
    fn statement(&self, sql: &str) -> DbResult<Statement> {
        if let Some(stmt) = self.cached_statement(sql) {
            return Ok(stmt);
        }
        let stmt = self.host()?.prepare(&numbered_placeholders(sql))?;
        self.remember(sql, &stmt);
        Ok(stmt)
    }

    /// The statement prepared before under `key` (the host's text, or a plugin statement's
    /// key), if it was.
    pub(super) fn cached_statement(&self, key: &str) -> Option<Statement> {
        self.statements.borrow().get(key).cloned()
    }

    /// Keeps `stmt` under `key` (forgetting them all past [`MAX_PG_STATEMENTS`]).
    fn remember(&self, key: &str, stmt: &Statement) {
        let mut statements = self.statements.borrow_mut();
        if statements.len() >= MAX_PG_STATEMENTS {
            statements.clear();
        }
        statements.insert(key.to_owned(), stmt.clone());
    }

    /// Prepares a plugin's statement from `text` with parameters of `types`, kept under
    /// `key` (which names the plugin and the parameters' types; see
    /// [`PgConn::cached_statement`]).
    pub(super) fn prepare_plugin_statement(
        &self,
        key: &str,
        text: &str,
        types: &[Type],
    ) -> Result<Statement, tokio_postgres::Error> {
        let stmt = self.client.prepare_typed(text, types)?;
        self.remember(key, &stmt);
        Ok(stmt)
    }

    /// A hash of the database's name (8 hex digits), which plugins' role names carry so
    /// that portals sharing a server never share a role.
    pub(super) fn role_tag(&self) -> &str {
        &self.role_tag
    }

    /// Runs transaction control (`BEGIN ...`, `COMMIT`, `ROLLBACK`) and notes whether a
    /// transaction is open after it. What was pending is dropped: the transaction's end
    /// releases its savepoints and undoes its `SET LOCAL`s.
    pub(super) fn control(&self, sql: &str, open_after: bool) -> DbResult<()> {
        self.pending.take();
        if open_after {
            self.conflicted.set(false);
        }
        let ran = self.client.batch_execute(sql).map_err(|e| self.noted(e));
        self.in_transaction.set(open_after && ran.is_ok());
        Ok(ran?)
    }

    /// Whether a transaction begun with [`PgConn::control`] is open.
    pub(super) fn in_transaction(&self) -> bool {
        self.in_transaction.get()
    }

    /// Whether the connection to the server is gone.
    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The client, for a host statement: what was pending has run (so the host's role,
    /// search path and time limit are in force, never a plugin's).
    pub(super) fn host(&self) -> DbResult<&PgClient> {
        let pending = self.pending.take();
        if !pending.is_empty() {
            self.client.batch_execute(&pending)?;
        }
        Ok(&self.client)
    }

    /// `err`, after noting whether it is a serialization failure or a deadlock (the open
    /// transaction then cannot commit: [`PgConn::conflicted`]).
    pub(super) fn noted(&self, err: tokio_postgres::Error) -> tokio_postgres::Error {
        use tokio_postgres::error::SqlState;
        let code = err.code();
        if code == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
            || code == Some(&SqlState::T_R_DEADLOCK_DETECTED)
        {
            self.conflicted.set(true);
        }
        err
    }

    /// Whether a statement of the open transaction met a serialization failure or a
    /// deadlock since it began.
    pub(super) fn conflicted(&self) -> bool {
        self.conflicted.get()
    }

    /// What was pending, taken: a plugin statement sends it with its own start; a
    /// transaction's end drops it.
    pub(super) fn take_pending(&self) -> String {
        self.pending.take()
    }

    /// Adds `sql` to what must run before the next statement (see the field `pending`).
    pub(super) fn push_pending(&self, sql: &str) {
        self.pending.borrow_mut().push_str(sql);
    }

    /// The client as it is, for a plugin statement that sends its own start first (in
    /// `plugin_store::postgres`, which takes what was pending into that start).
    pub(super) fn unflushed(&self) -> &PgClient {
        &self.client
    }
}

fn pg_params<'a>(values: &'a [Value<'a>]) -> Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)).collect()
}

/// `?N` (and a bare `?`, numbered in order) as PostgreSQL's `$N`, outside string literals,
/// quoted identifiers and comments.
pub fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next = 0u32;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                out.push(c);
                let mut last = ' ';
                for d in chars.by_ref() {
                    out.push(d);
                    if last == '*' && d == '/' {
                        break;
                    }
                    last = d;
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                if digits.is_empty() {
                    next += 1;
                    digits = next.to_string();
                } else if let Ok(n) = digits.parse::<u32>() {
                    next = next.max(n);
                }
                out.push('$');
                out.push_str(&digits);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_literals_and_comments() {
        assert_eq!(
            numbered_placeholders("SELECT ?1, ?, '?', \"a?\" -- ?\n /* ? */ FROM t WHERE x = ?2"),
            "SELECT $1, $2, '?', \"a?\" -- ?\n /* ? */ FROM t WHERE x = $2"
        );
        assert_eq!(numbered_placeholders("VALUES (?, ?, ?)"), "VALUES ($1, $2, $3)");
        assert_eq!(numbered_placeholders("'it''s ?' || ?1"), "'it''s ?' || $1");
    }
}
