//! Storage: one database, SQLite (one file, WAL; the default) or PostgreSQL, with numbered
//! migrations for each. All host SQL lives in this module, one file per aggregate;
//! functions take a connection ([`Conn`], whichever engine) and return typed rows. Plugin
//! SQL goes through [`plugin_store`], which confines it to the plugin's tables.

pub mod abilities;
pub mod announce;
pub mod communities;
pub mod extensions;
pub mod groups;
mod handle;
pub mod jobs;
pub mod notifications;
pub mod outbox;
mod pg_client;
pub mod plugin_health;
pub mod plugin_store;
mod pool;
mod postgres;
pub mod preferences;
pub mod rate_limits;
pub mod sessions;
pub mod settings;
pub mod sql;
mod turns;
pub mod users;
mod writer;

pub use handle::{Db, Location, PoolConnection, PooledConn, WriteTxn};
pub use pool::commits;
pub use sql::{Conn, Engine};

use rusqlite_migration::{M, Migrations};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (the server's message and SQLSTATE code).
    #[error("database: {0}")]
    Postgres(String),
    /// A column did not hold what the host reads from it.
    #[error("database: {0}")]
    Column(String),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// A row that must exist does not.
    #[error("{0} not found")]
    NotFound(String),
    /// A value is not valid (e.g. a duplicate name).
    #[error("{0}")]
    Invalid(String),
    /// Another write transaction of the same commit group failed, or the group's commit
    /// did: nothing of this one was kept, and it may be run again.
    #[error("the write was not committed (its commit group failed: {0}); it can be run again")]
    GroupFailed(String),
    /// PostgreSQL could not order the write transaction with others running at the same
    /// time (serializable isolation: a serialization failure or a deadlock): nothing of it
    /// was kept, and it may be run again.
    #[error("the write was not committed (it conflicted with a concurrent one: {0}); it can be run again")]
    Conflict(String),
}

impl DbError {
    /// Whether nothing of the write was kept and running it again may succeed.
    pub fn can_run_again(&self) -> bool {
        matches!(self, DbError::GroupFailed(_) | DbError::Conflict(_))
    }
}

/// Result of storage functions.
pub type DbResult<T> = Result<T, DbError>;

/// The host's SQLite migrations, in order (PostgreSQL's are [`postgres::MIGRATIONS`]).
/// Applied once each at start-up.
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("migrations/001_core.sql")),
    M::up(include_str!("migrations/002_plugins.sql")),
    M::up(include_str!("migrations/003_preferences.sql")),
    M::up(include_str!("migrations/004_email_and_jobs.sql")),
    M::up(include_str!("migrations/005_plugin_health.sql")),
    M::up(include_str!("migrations/006_plugin_objects.sql")),
    M::up(include_str!("migrations/007_email_headers.sql")),
    M::up(include_str!("migrations/008_plugin_refusals.sql")),
    M::up(include_str!("migrations/009_extensions.sql")),
    M::up(include_str!("migrations/010_extension_ids.sql")),
    M::up(include_str!("migrations/011_rate_limits.sql")),
];

/// Every table and index the portal's migrations create: names no plugin may own, and
/// that no plugin id may equal, prefix or be prefixed by (checked at load). A unit test
/// holds this list to the migrations.
pub const HOST_SCHEMA: &[&str] = &[
    "communities",
    "users",
    "users_by_name",
    "groups",
    "groups_by_name",
    "group_members",
    "group_members_by_user",
    "sessions",
    "sessions_by_user",
    "ability_grants",
    "plugin_settings",
    "plugin_migrations",
    "notifications",
    "notifications_by_user",
    "preferences",
    "email_outbox",
    "email_outbox_due",
    "email_outbox_thread",
    "job_leases",
    "job_runs",
    "plugin_health",
    "plugin_objects",
    "event_deliveries",
    "event_deliveries_queue",
    "extension_checks",
    "extension_holds",
    "rate_limits",
];

/// SQLite's own schema names (and the prefixes of its internal and eponymous tables):
/// reserved like the portal's.
pub const SQLITE_RESERVED: &[&str] = &[
    "sqlite_master",
    "sqlite_schema",
    "sqlite_temp_master",
    "sqlite_temp_schema",
    "sqlite_sequence",
    "sqlite_stat1",
    "sqlite_stat4",
    "sqlite_dbpage",
    "sqlite_stmt",
    "pragma_",
    "dbstat",
];

/// Applies the host's migrations that have not run yet.
pub fn migrate(conn: &mut rusqlite::Connection) -> DbResult<()> {
    Migrations::from_slice(MIGRATIONS).to_latest(conn)?;
    Ok(())
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(Migrations::from_slice(MIGRATIONS).validate().is_ok());
    }

    /// HOST_SCHEMA is exactly what the migrations create (a new host table must be added
    /// there, or a plugin could be given its name).
    #[test]
    fn the_reserved_host_schema_is_what_the_migrations_create() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
            .unwrap();
        let created: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        let mut reserved: Vec<String> = HOST_SCHEMA.iter().map(|s| (*s).to_owned()).collect();
        reserved.sort();
        assert_eq!(created, reserved);
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }
}
