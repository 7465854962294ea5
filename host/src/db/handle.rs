//! The database the portal was configured with, whichever engine runs it: [`Db`], and the
//! connections it lends ([`PooledConn`] for reads and plain turns, [`WriteTxn`] for write
//! transactions). Above `db`, code holds these and passes them to this layer's functions;
//! it never learns the engine.
//!
//! SQLite (the default) is one file with one writer connection, turns and group commit
//! ([`super::pool`], [`super::writer`]); PostgreSQL is a pool of client connections, each
//! write a transaction of its own ([`super::postgres`]).

use super::pool::{SqliteDb, sqlite_of};
use super::postgres::PgDb;
use super::sql::{Conn, Engine};
use super::writer::Member;
use super::{DbError, DbResult};
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

/// The database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    backend: Backend,
    /// Write transactions from this handle run alone (see [`Db::alone`]).
    alone: bool,
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqliteDb),
    Postgres(Arc<PgDb>),
}

/// Where a database lives: a SQLite file, or a PostgreSQL server's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file (created if missing).
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL connection string (`postgres://user@host:port/database`).
    Postgres(String),
}

impl Location {
    /// `postgres://…` or `postgresql://…` is a server; anything else a file path.
    pub fn parse(text: &str) -> Location {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_owned())
        } else {
            Location::Sqlite(text.into())
        }
    }
}

impl Db {
    /// Opens (creating if needed) the SQLite database at `path` and applies the migrations.
    pub fn open(path: &Path) -> DbResult<Db> {
        Ok(Db { backend: Backend::Sqlite(SqliteDb::open(path)?), alone: false })
    }

    /// Connects to the database at `location` and applies the migrations.
    pub fn connect(location: &Location) -> DbResult<Db> {
        match location {
            Location::Sqlite(path) => Db::open(path),
            Location::Postgres(url) => {
                Ok(Db { backend: Backend::Postgres(Arc::new(PgDb::connect(url)?)), alone: false })
            }
        }
    }

    /// Hears, from now on, what the other portal processes on this database announce as
    /// they commit ([`super::announce`]), each commit counted in [`Db::commits`]. Returns
    /// once listening. On SQLite, which one process serves, there is nothing to hear.
    pub fn listen(&self, listener: super::announce::Listener) -> DbResult<()> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(db) => db.listen(listener),
        }
    }

    /// The same database, whose write transactions each run alone: on PostgreSQL such a
    /// write waits for the writes in progress to end, and those that begin meanwhile wait
    /// for it. For a call run again after a serialization conflict: alone, it cannot
    /// conflict again. (SQLite's writes always take turns.)
    pub fn alone(&self) -> Db {
        Db { backend: self.backend.clone(), alone: true }
    }

    /// Which engine runs this database.
    pub fn engine(&self) -> Engine {
        match self.backend {
            Backend::Sqlite(_) => Engine::Sqlite,
            Backend::Postgres(_) => Engine::Postgres,
        }
    }

    /// How many transactions this process has committed to this database so far, and (once
    /// [`Db::listen`]ing, on PostgreSQL) those other processes announced. A value read
    /// before a read transaction began that still equals this one means no commit this
    /// process knows of has happened since: what the read saw is still current. Remembered
    /// slot answers are checked against it.
    pub fn commits(&self) -> u64 {
        match &self.backend {
            Backend::Sqlite(db) => db.commits(),
            Backend::Postgres(db) => db.commits(),
        }
    }

    /// A pooled connection inside a read transaction: what it reads is one snapshot. End
    /// it with [`PooledConn::end_read`] (dropped, it is rolled back too).
    pub fn read_txn(&self) -> DbResult<PooledConn> {
        match &self.backend {
            Backend::Sqlite(db) => db.read_txn(),
            Backend::Postgres(db) => db.read_txn(),
        }
    }

    /// A connection from the pool for reads outside a transaction. On SQLite it refuses
    /// writes ("attempt to write a readonly database"): writes take the turn to write
    /// ([`Db::write`], or [`Db::writer`] for a transaction of their own).
    pub fn get(&self) -> DbResult<PooledConn> {
        match &self.backend {
            Backend::Sqlite(db) => db.get(),
            Backend::Postgres(db) => db.get(false),
        }
    }

    /// A connection that may write, outside any transaction (each statement commits by
    /// itself): for work that must not run inside another write (checkpoints) and host
    /// writes that need a transaction of their own (migrations, demo data, the command
    /// line). On SQLite it is the writer connection, after waiting for the turn to use it.
    /// Other host writes use [`Db::write`].
    pub fn writer(&self) -> DbResult<PooledConn> {
        match &self.backend {
            Backend::Sqlite(db) => db.writer(),
            Backend::Postgres(db) => db.get(true),
        }
    }

    /// A connection for counters that every process on this database shares (rate
    /// limits): each statement commits on its own and is not counted or announced as a
    /// commit (it changes nothing that any process remembers). On SQLite, the writer's turn.
    pub fn counters(&self) -> DbResult<PooledConn> {
        match &self.backend {
            Backend::Sqlite(db) => db.writer(),
            Backend::Postgres(db) => db.get(false),
        }
    }

    /// Whether several portal processes may serve this database at once (PostgreSQL):
    /// then what must hold across them (rate limits) is kept in the database.
    pub fn shared_by_processes(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// A write transaction. End it with [`WriteTxn::commit`] or [`WriteTxn::rollback`];
    /// dropped, it rolls back. On SQLite it waits for the turn to write and may share its
    /// commit with the write transactions queued behind it (see [`super::writer`]).
    pub fn write(&self) -> DbResult<WriteTxn> {
        match &self.backend {
            Backend::Sqlite(db) => db.write(),
            Backend::Postgres(db) => db.write(self.alone),
        }
    }

    /// Write transactions waiting for the turn to write now (SQLite; none on PostgreSQL,
    /// where writers do not queue in the portal).
    pub fn writes_waiting(&self) -> usize {
        match &self.backend {
            Backend::Sqlite(db) => db.writes_waiting(),
            Backend::Postgres(_) => 0,
        }
    }
}

/// Where a [`PooledConn`] goes back to.
pub(super) enum Home {
    /// A SQLite pool connection, or (`writer`) the writer connection during a plain turn.
    Sqlite { db: SqliteDb, writer: bool },
    /// A PostgreSQL pool; `writer` counts a commit when it comes back.
    Postgres { db: Arc<PgDb>, writer: bool },
}

/// A connection that goes back to the pool when dropped (rolled back first if it is
/// inside a transaction), or the SQLite writer connection, which goes back to the next in
/// turn.
pub struct PooledConn {
    conn: Option<Conn>,
    home: Home,
}

impl PooledConn {
    pub(super) fn new(conn: Conn, home: Home) -> PooledConn {
        PooledConn { conn: Some(conn), home }
    }

    /// Ends the read transaction of [`Db::read_txn`] (a rollback: nothing was written).
    pub fn end_read(self) -> DbResult<()> {
        match self.conn.as_ref().and_then(Conn::as_postgres) {
            Some(pg) => pg.control("ROLLBACK", false),
            None => super::pool::run_cached(sqlite_of(&self), "ROLLBACK"),
        }
    }
}

impl Deref for PooledConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().unwrap_or_else(|| unreachable!("taken only in drop"))
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        match &self.home {
            Home::Sqlite { db, writer } => {
                if let Some(conn) = conn.into_sqlite() {
                    db.give_back(conn, *writer);
                }
            }
            Home::Postgres { db, writer } => db.give_back(conn, *writer),
        }
    }
}

/// The side of a write transaction that ends it.
pub(super) enum Side {
    /// A member of a SQLite commit group.
    Sqlite(Member),
    /// A PostgreSQL transaction on a pool connection.
    Postgres(Arc<PgDb>),
}

/// One write transaction, holding its connection until it ends.
pub struct WriteTxn {
    conn: Option<Conn>,
    side: Side,
    announced: super::announce::Announcement,
}

impl WriteTxn {
    pub(super) fn new(conn: Conn, side: Side) -> WriteTxn {
        WriteTxn { conn: Some(conn), side, announced: Default::default() }
    }

    /// Adds to what the commit tells the other portal processes on this database (live
    /// updates, queued events); with one process (SQLite) there is nobody to tell.
    pub fn announce(&mut self, what: super::announce::Announcement) {
        if matches!(self.side, Side::Postgres(_)) {
            self.announced.merge(what);
        }
    }

    /// Keeps the writes and returns once they are committed (on SQLite, by this
    /// transaction if no other write waits, otherwise by the last of the group that the
    /// waiting ones join).
    pub fn commit(mut self) -> DbResult<()> {
        self.end(true)
    }

    /// Undoes the writes (only this transaction's) and ends it.
    pub fn rollback(mut self) -> DbResult<()> {
        self.end(false)
    }

    fn end(&mut self, keep: bool) -> DbResult<()> {
        let Some(conn) = self.conn.take() else { return Ok(()) };
        match &mut self.side {
            Side::Sqlite(member) => member.end(conn, keep),
            Side::Postgres(db) => db.end_write(conn, keep, &self.announced),
        }
    }
}

impl Deref for WriteTxn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().unwrap_or_else(|| unreachable!("taken only when the transaction ends"))
    }
}

impl Drop for WriteTxn {
    fn drop(&mut self) {
        let _ = self.end(false);
    }
}

/// A connection the pool opened, so (on SQLite) with the plugin authorizer installed: the
/// only kind plugin SQL runs on ([`super::plugin_store`]).
pub trait PoolConnection {
    /// The connection.
    fn connection(&self) -> &Conn;
}

impl PoolConnection for PooledConn {
    fn connection(&self) -> &Conn {
        self
    }
}

impl PoolConnection for WriteTxn {
    fn connection(&self) -> &Conn {
        self
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(err: tokio_postgres::Error) -> DbError {
        DbError::Postgres(super::postgres::describe(&err))
    }
}
