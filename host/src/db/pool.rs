//! A small pool of SQLite connections to one database file, opened with the portal's
//! pragmas (WAL, foreign keys, busy timeout), and the count of this process's commits.

use super::{DbResult, migrate};
use rusqlite::Connection;
use std::ffi::c_int;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Idle connections kept open.
const MAX_IDLE: usize = 16;

/// The database: a file and a pool of connections to it. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    writing: Mutex<bool>,
    writer_done: Condvar,
}

/// The process's turn to write: while held, no other write transaction of this process
/// starts. SQLite allows one writer at a time; queueing writers here, in order, instead of
/// letting them retry in SQLite's busy handler (which sleeps up to 100 ms a try) keeps
/// concurrent writes fast and fair. Released when dropped.
pub struct WriteTurn {
    inner: Arc<Inner>,
}

impl Drop for WriteTurn {
    fn drop(&mut self) {
        let mut writing = self.inner.writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *writing = false;
        self.inner.writer_done.notify_one();
    }
}

impl Db {
    /// Opens (creating if needed) the database at `path` and applies the migrations.
    pub fn open(path: &Path) -> DbResult<Db> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| super::DbError::Invalid(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut conn = open_connection(path)?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        migrate(&mut conn)?;
        let inner = Inner {
            path: path.to_owned(),
            idle: Mutex::new(vec![conn]),
            writing: Mutex::new(false),
            writer_done: Condvar::new(),
        };
        let db = Db { inner: Arc::new(inner) };
        Ok(db)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Waits for this process's turn to write (see [`WriteTurn`]).
    pub fn write_turn(&self) -> WriteTurn {
        let mut writing = self.inner.writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while *writing {
            writing = self.inner.writer_done.wait(writing).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *writing = true;
        WriteTurn { inner: self.inner.clone() }
    }

    /// A connection from the pool (a new one if none is idle).
    pub fn get(&self) -> DbResult<PooledConn> {
        let idle = self.inner.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let conn = match idle {
            Some(conn) => conn,
            None => open_connection(&self.inner.path)?,
        };
        Ok(PooledConn { conn: Some(conn), db: self.clone() })
    }
}

/// Write transactions committed by this process, to any database, since it started.
static COMMITS: AtomicU64 = AtomicU64::new(0);

/// How many transactions this process has committed so far. A value read before a read
/// transaction began that still equals this one means no commit of this process has
/// happened since: what the read saw is still current (for writes of this process).
pub fn commits() -> u64 {
    COMMITS.load(Ordering::SeqCst)
}

/// WAL pages after which a commit asks for a checkpoint (SQLite's default auto-checkpoint).
const AUTOCHECKPOINT_PAGES: c_int = 1000;

thread_local! {
    /// Set when a commit on this thread found the WAL long enough to checkpoint.
    static CHECKPOINT_DUE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// SQLite calls this after every commit, once the commit is visible and the write lock is
/// released (`sqlite3_wal_hook`, which replaces SQLite's own auto-checkpoint hook). It
/// counts the commit and, past [`AUTOCHECKPOINT_PAGES`], leaves the checkpoint to the
/// connection's return to the pool: SQLite's hook would checkpoint (and `fsync`) right
/// here, while the committing plugin call still holds the process's turn to write and
/// every other writer waits (measured: the slowest 1% of commits took 1 to 15 ms).
fn on_commit(_wal: &rusqlite::hooks::Wal, pages: c_int) -> rusqlite::Result<()> {
    COMMITS.fetch_add(1, Ordering::SeqCst);
    if pages >= AUTOCHECKPOINT_PAGES {
        CHECKPOINT_DUE.with(|due| due.set(true));
    }
    Ok(())
}

/// Runs the checkpoint a commit on this thread asked for, if any: `PASSIVE`, so it never
/// waits for readers or writers (what it cannot copy now, a later one will).
fn checkpoint_if_due(conn: &Connection) {
    if CHECKPOINT_DUE.with(|due| due.replace(false))
        && let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
    {
        tracing::warn!(error = %err, "WAL checkpoint failed; the next one retries");
    }
}

fn open_connection(path: &Path) -> DbResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "on")?;
    conn.pragma_update(None, "synchronous", "normal")?;
    conn.set_prepared_statement_cache_capacity(128);
    conn.wal_hook(Some(on_commit));
    super::plugin_store::install_authorizer(&conn)?;
    Ok(conn)
}

/// A connection that goes back to the pool when dropped (unless it is inside a
/// transaction, in which case it is rolled back first).
pub struct PooledConn {
    conn: Option<Connection>,
    db: Db,
}

impl PooledConn {
    /// The database this connection belongs to.
    pub fn db(&self) -> &Db {
        &self.db
    }
}

impl Deref for PooledConn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().unwrap_or_else(|| unreachable!("taken only in drop"))
    }
}

impl DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().unwrap_or_else(|| unreachable!("taken only in drop"))
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            return;
        }
        checkpoint_if_due(&conn);
        if let Ok(mut idle) = self.db.inner.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_counted_and_the_wal_is_checkpointed_when_connections_return() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        db.get().unwrap().execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)").unwrap();
        let before = commits();
        // 3,000 commits of about one page each: three auto-checkpoints' worth.
        for i in 0..3_000 {
            let conn = db.get().unwrap();
            conn.execute("INSERT INTO t (id, v) VALUES (?1, zeroblob(3000))", [i]).unwrap();
        }
        assert!(commits() - before >= 3_000, "every commit is counted");
        let wal = std::fs::metadata(dir.path().join("t.db-wal")).unwrap().len();
        let page = 4096 + 24;
        assert!(wal < 1_500 * page, "the WAL is reused after checkpoints: {wal} bytes, {} pages", wal / page);
    }
}
