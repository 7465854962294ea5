//! PostgreSQL: a pool of client connections to one database, each write a transaction of
//! its own at the database's default isolation (PostgreSQL runs writers at once; one that
//! meets a serialization failure or a deadlock is reported as a conflict, and a page call
//! then runs again, alone among the writes), and the host's migrations for
//! it, numbered as SQLite's (`migrations/postgres/`), applied once each under a table lock
//! so that several processes starting together apply each one once. Every commit is
//! announced to the other processes on the same database, and theirs are heard
//! ([`super::announce`]).

use super::announce::{self, Announcement, Listener};
use super::handle::{Home, PooledConn, Side, WriteTxn};
use super::sql::Conn;
use super::{DbError, DbResult};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Idle connections kept open.
const MAX_IDLE: usize = 16;

/// The host's PostgreSQL migrations, numbered as [`super::MIGRATIONS`] (a unit test holds
/// the two lists to the same numbers and names).
pub(super) const MIGRATIONS: &[(&str, &str)] = &[
    ("001_core.sql", include_str!("migrations/postgres/001_core.sql")),
    ("002_plugins.sql", include_str!("migrations/postgres/002_plugins.sql")),
    ("003_preferences.sql", include_str!("migrations/postgres/003_preferences.sql")),
    ("004_email_and_jobs.sql", include_str!("migrations/postgres/004_email_and_jobs.sql")),
    ("005_plugin_health.sql", include_str!("migrations/postgres/005_plugin_health.sql")),
    ("006_plugin_objects.sql", include_str!("migrations/postgres/006_plugin_objects.sql")),
    ("007_email_headers.sql", include_str!("migrations/postgres/007_email_headers.sql")),
    ("008_plugin_refusals.sql", include_str!("migrations/postgres/008_plugin_refusals.sql")),
    ("009_extensions.sql", include_str!("migrations/postgres/009_extensions.sql")),
    ("010_extension_ids.sql", include_str!("migrations/postgres/010_extension_ids.sql")),
    ("011_rate_limits.sql", include_str!("migrations/postgres/011_rate_limits.sql")),
];

/// A PostgreSQL database and the pool of connections to it.
pub(super) struct PgDb {
    config: super::pg_client::Config,
    idle: Mutex<Vec<Conn>>,
    /// Transactions committed by this process, and those it heard of from others (see
    /// [`super::Db::commits`]).
    commits: Arc<AtomicU64>,
    /// This process among those announcing their commits (random).
    me: u64,
    /// Dropped with the database: stops the listening connection.
    _listening: tokio::sync::watch::Sender<()>,
    stop: tokio::sync::watch::Receiver<()>,
}

impl PgDb {
    /// Connects to the database at `url` and applies the migrations.
    pub(super) fn connect(url: &str) -> DbResult<PgDb> {
        let config: super::pg_client::Config =
            url.parse().map_err(|e| DbError::Invalid(format!("database {}: {e}", without_password(url))))?;
        let mut me = [0u8; 8];
        getrandom::fill(&mut me)
            .map_err(|e| DbError::Invalid(format!("no randomness for a process id: {e}")))?;
        let (listening, stop) = tokio::sync::watch::channel(());
        let db = PgDb {
            config,
            idle: Mutex::default(),
            commits: Arc::default(),
            me: u64::from_le_bytes(me),
            _listening: listening,
            stop,
        };
        let conn =
            db.open().map_err(|e| DbError::Invalid(format!("database {}: {e}", without_password(url))))?;
        migrate(&conn)?;
        db.give_back(conn, false);
        Ok(db)
    }

    fn open(&self) -> DbResult<Conn> {
        let database = self.config.get_dbname().or(self.config.get_user()).unwrap_or_default().to_owned();
        Ok(Conn::postgres(super::pg_client::PgClient::connect(&self.config)?, database))
    }

    /// An idle connection, or a new one.
    fn take(&self) -> DbResult<Conn> {
        let idle = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        match idle {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    /// See [`super::Db::commits`].
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }

    /// Hears the commits of the other processes on this database from now on: each counts
    /// as a commit, and `listener` hears what it announced. Returns once listening.
    pub(super) fn listen(&self, listener: Listener) -> DbResult<()> {
        let (me, commits) = (self.me, self.commits.clone());
        // This process's own commits are counted when they end; a payload that is not a
        // portal's is ignored.
        let on = move |heard: super::pg_client::Heard| match heard {
            super::pg_client::Heard::Payload(payload) => {
                if let Some(what) = announce::heard(me, &payload) {
                    commits.fetch_add(1, Ordering::SeqCst);
                    listener(announce::Heard::Commit(what));
                }
            }
            super::pg_client::Heard::Back => {
                commits.fetch_add(1, Ordering::SeqCst);
                listener(announce::Heard::Missed);
            }
        };
        super::pg_client::listen(&self.config, announce::CHANNEL, self.stop.clone(), Box::new(on))
    }

    /// A pooled connection outside any transaction (`writer`: it may write, and a commit is
    /// counted when it comes back).
    pub(super) fn get(self: &Arc<Self>, writer: bool) -> DbResult<PooledConn> {
        Ok(PooledConn::new(self.take()?, Home::Postgres { db: self.clone(), writer }))
    }

    /// A pooled connection inside a read-only transaction that reads one snapshot.
    pub(super) fn read_txn(self: &Arc<Self>) -> DbResult<PooledConn> {
        let conn = self.get(false)?;
        pg(&conn).control("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", true)?;
        Ok(conn)
    }

    /// A write transaction on a pooled connection, at the database's default isolation
    /// (`default_transaction_isolation`: PostgreSQL's own default is READ COMMITTED; an
    /// operator may set `serializable`); `alone`: no other write transaction runs while it
    /// does (see [`super::Db::alone`]).
    pub(super) fn write(self: &Arc<Self>, alone: bool) -> DbResult<WriteTxn> {
        let conn = self.take()?;
        // Writers share the gate; one that must run alone waits for it to itself, and the
        // writers that come meanwhile wait behind it (PostgreSQL queues lock requests in
        // order). In the same round trip as BEGIN.
        let gate = if alone { "EXCLUSIVE" } else { "ROW SHARE" };
        let begin = format!("BEGIN; LOCK TABLE portal_write_gate IN {gate} MODE");
        if let Err(err) = pg(&conn).control(&begin, true) {
            self.give_back(conn, false);
            return Err(err);
        }
        Ok(WriteTxn::new(conn, Side::Postgres(self.clone())))
    }

    /// Commits (`keep`) or rolls back a write transaction and takes its connection back;
    /// the commit announces itself and `what` to the other processes.
    ///
    /// PostgreSQL answers `COMMIT` of a transaction that an earlier statement failed in by
    /// rolling it back, without an error: the announcement, sent first, fails in such a
    /// transaction, which is then reported as not committed. One that met a serialization
    /// failure or a deadlock (in a statement or at `COMMIT`) is reported as
    /// [`DbError::Conflict`]: the caller may run it again.
    pub(super) fn end_write(&self, conn: Conn, keep: bool, what: &Announcement) -> DbResult<()> {
        let client = pg(&conn);
        let result = if client.conflicted() {
            // A statement met a serialization failure or deadlock: PostgreSQL will not
            // commit it, and the caller may run it again.
            let _ = client.control("ROLLBACK", false);
            Err(DbError::Conflict("a statement of it could not be serialized with a concurrent write".into()))
        } else if keep {
            // Sent as the connection is: what a plugin's last statement left pending is
            // dropped by the commit (and NOTIFY needs no privilege, whichever the role).
            let usable = client.unflushed().simple_query(&announce::statements(self.me, what)).map(drop);
            match usable {
                Ok(()) => client.control("COMMIT", false).map_err(|err| {
                    if client.conflicted() { DbError::Conflict(err.to_string()) } else { err }
                }),
                Err(err) => {
                    let _ = client.control("ROLLBACK", false);
                    Err(DbError::Invalid(format!(
                        "the write was not committed: a statement in it failed ({})",
                        describe(&err)
                    )))
                }
            }
        } else {
            client.control("ROLLBACK", false)
        };
        if keep && result.is_ok() {
            self.commits.fetch_add(1, Ordering::SeqCst);
        }
        self.give_back(conn, false);
        result
    }

    /// Takes a connection back into the pool (rolled back first if a transaction was left
    /// open; dropped if the server closed it).
    pub(super) fn give_back(&self, conn: Conn, writer: bool) {
        let Some(client) = conn.as_postgres() else { return };
        if writer {
            self.commits.fetch_add(1, Ordering::SeqCst);
            if !client.in_transaction() {
                // Its statements committed one by one: one announcement for them all.
                let _ = client
                    .host()
                    .map(|c| c.simple_query(&announce::statements(self.me, &Announcement::default())));
            }
        }
        if client.is_closed() || (client.in_transaction() && client.control("ROLLBACK", false).is_err()) {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }
}

/// The PostgreSQL client of a connection this pool lent.
fn pg(conn: &Conn) -> &super::sql::PgConn {
    conn.as_postgres().unwrap_or_else(|| unreachable!("a PostgreSQL pool lends PostgreSQL connections"))
}

/// Applies the host's migrations that have not run yet, in one transaction that holds a
/// lock on the table of applied migrations.
fn migrate(conn: &Conn) -> DbResult<()> {
    let created = conn.batch(
        "CREATE TABLE IF NOT EXISTS portal_migrations (
             version BIGINT PRIMARY KEY,
             name TEXT NOT NULL,
             applied_at BIGINT NOT NULL
         )",
    );
    // Two processes creating it at once: one of them fails on the catalog's unique index,
    // and the table is there.
    if let Err(err) = created {
        let there: bool =
            conn.query_one("SELECT to_regclass('portal_migrations') IS NOT NULL", &[], |r| r.get(0))?;
        if !there {
            return Err(err);
        }
    }
    let client = pg(conn);
    client.control("BEGIN", true)?;
    let applied = (|| -> DbResult<()> {
        conn.batch("LOCK TABLE portal_migrations IN EXCLUSIVE MODE")?;
        let done: i64 =
            conn.query_one("SELECT coalesce(max(version), 0) FROM portal_migrations", &[], |r| r.get(0))?;
        for (version, (name, sql)) in (1i64..).zip(MIGRATIONS) {
            if version <= done {
                continue;
            }
            conn.batch(sql).map_err(|e| DbError::Invalid(format!("migration {name}: {e}")))?;
            conn.execute(
                "INSERT INTO portal_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                &[&version, name, &crate::clock::system_now().0],
            )?;
        }
        Ok(())
    })();
    match applied {
        Ok(()) => client.control("COMMIT", false),
        Err(err) => {
            let _ = client.control("ROLLBACK", false);
            Err(err)
        }
    }
}

/// A PostgreSQL error with the server's message and SQLSTATE code when there is one
/// (`postgres::Error`'s own text is only "db error").
pub(super) fn describe(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => err.to_string(),
    }
}

/// A connection string without its password, for messages and logs.
pub(super) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:…@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_left_out_of_messages() {
        assert_eq!(
            without_password("postgres://portal:s3cret@db:5432/portal"),
            "postgres://portal:…@db:5432/portal"
        );
        assert_eq!(without_password("postgres://portal@db/portal"), "postgres://portal@db/portal");
    }

    fn sql_files(dir: &str) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/db").join(dir);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        names
    }

    /// Both engines have the same migrations, numbered alike, and every file is applied.
    #[test]
    fn postgres_migrations_are_numbered_as_sqlite_ones() {
        let sqlite = sql_files("migrations");
        let postgres: Vec<String> = MIGRATIONS.iter().map(|(name, _)| (*name).to_owned()).collect();
        assert_eq!(sqlite, postgres);
        assert_eq!(sql_files("migrations/postgres"), postgres);
        assert_eq!(super::super::MIGRATIONS.len(), postgres.len());
    }
}
