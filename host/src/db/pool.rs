//! SQLite: the connections to one database file, opened with the portal's pragmas (WAL,
//! foreign keys, busy timeout): a small pool of read-only connections, the checkpoint
//! thread that keeps the WAL bounded, and the count of this process's commits. (The one
//! writer connection, with its turns and group commit, is [`super::writer`]: every write
//! of the process, the host's and the plugins', goes through it.)

use super::handle::{Home, PooledConn};
use super::sql::Conn;
use super::{DbResult, migrate};
use rusqlite::Connection;
use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::time::Duration;

/// Idle connections kept open.
const MAX_IDLE: usize = 16;

/// A SQLite database: a file and a pool of connections to it. Cheap to clone.
#[derive(Clone)]
pub(super) struct SqliteDb {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// The writer connection and the turns to use it.
    turns: super::turns::Turns,
    /// The WAL's length when the last checkpoint ran.
    checked: AtomicU32,
    /// Asks the checkpoint thread for a checkpoint (of a WAL that many frames long).
    checkpoints: mpsc::Sender<u32>,
    /// Whether a checkpoint was asked for and has not run yet.
    checkpoint_asked: AtomicBool,
    /// The WAL's length after the last commit looked at: a shorter one means the WAL
    /// started again from the beginning.
    frames: AtomicU32,
    /// Transactions committed to this database by this process (see [`Db::commits`]).
    commits: Arc<AtomicU64>,
}

impl SqliteDb {
    /// How many transactions this process has committed to this database so far. A value
    /// read before a read transaction began that still equals this one means no commit of
    /// this process has happened since: what the read saw is still current (for writes of
    /// this process). Remembered slot answers are checked against it.
    pub(super) fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::SeqCst)
    }

    /// Opens (creating if needed) the database at `path` and applies the migrations.
    pub(super) fn open(path: &Path) -> DbResult<SqliteDb> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| super::DbError::Invalid(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut conn = open_connection(path)?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        migrate(&mut conn)?;
        read_only(&conn)?;
        let (checkpoints, asked) = mpsc::channel();
        let inner = Arc::new(Inner {
            path: path.to_owned(),
            idle: Mutex::new(vec![conn]),
            turns: super::turns::Turns::default(),
            checked: AtomicU32::new(0),
            frames: AtomicU32::new(0),
            commits: Arc::default(),
            checkpoints,
            checkpoint_asked: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || run_checkpoints(&weak, &asked))
            .map_err(|e| super::DbError::Invalid(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(SqliteDb { inner })
    }

    /// The database file.
    pub(super) fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The writer connection and the turns to use it.
    pub(super) fn turns(&self) -> &super::turns::Turns {
        &self.inner.turns
    }

    /// A pooled connection inside a read transaction (`BEGIN`): what it reads is one
    /// snapshot. End it with [`PooledConn::end_read`] (dropped, it is rolled back too).
    pub(super) fn read_txn(&self) -> DbResult<PooledConn> {
        let conn = self.get()?;
        run_cached(sqlite_of(&conn), "BEGIN")?;
        Ok(conn)
    }

    /// A read-only connection from the pool (a new one if none is idle): a write on it
    /// fails with "attempt to write a readonly database". Writes take the turn to write
    /// ([`Db::write`], or [`Db::writer`] for a transaction of their own).
    ///
    /// Why: writers on other connections wait for SQLite's write lock by retrying in its
    /// busy handler, which sleeps between tries and knows no order: writes that follow
    /// each other closely (as email delivery marks every email it sends) keep the lock,
    /// the `RESTART` checkpoint misses it and the WAL grows instead of starting again
    /// (docs/performance.md has the measurements).
    pub(super) fn get(&self) -> DbResult<PooledConn> {
        let idle = self.inner.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = open_connection(&self.inner.path)?;
                read_only(&conn)?;
                conn
            }
        };
        Ok(PooledConn::new(Conn::sqlite(conn), Home::Sqlite { db: self.clone(), writer: false }))
    }

    /// Takes back a connection of [`PooledConn`] (rolled back first if a transaction was
    /// left open); the writer's ends the plain turn.
    pub(super) fn give_back(&self, conn: Connection, writer: bool) {
        let usable = conn.is_autocommit() || conn.execute_batch("ROLLBACK").is_ok();
        if writer {
            self.end_plain_turn(usable.then_some(conn));
            checkpoint_if_due(self);
            return;
        }
        if !usable {
            return;
        }
        checkpoint_if_due(self);
        if let Ok(mut idle) = self.inner.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }
}

/// The SQLite connection of a connection this pool lent.
pub(super) fn sqlite_of(conn: &Conn) -> &Connection {
    conn.as_sqlite().unwrap_or_else(|| unreachable!("a SQLite pool lends SQLite connections"))
}

/// Write transactions committed by this process, to any database, since it started.
static COMMITS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The commit counter of the database whose writer connection this thread last took
    /// a turn on. Every commit happens on a writer connection during a turn, on the thread
    /// that took it, so the WAL hook counts each commit for its own database; a turn
    /// always sets it first.
    static COMMITTING: std::cell::RefCell<Option<Arc<AtomicU64>>> = const { std::cell::RefCell::new(None) };
}

/// Called when this thread takes a turn on `db`'s writer connection.
pub(super) fn committing_to(db: &SqliteDb) {
    COMMITTING.with_borrow_mut(|c| *c = Some(db.inner.commits.clone()));
}

/// How many transactions this process has committed so far. A value read before a read
/// transaction began that still equals this one means no commit of this process has
/// happened since: what the read saw is still current (for writes of this process).
pub fn commits() -> u64 {
    COMMITS.load(Ordering::SeqCst)
}

/// New WAL frames (pages) after which a commit asks for a checkpoint (the number SQLite's
/// own auto-checkpoint uses).
const AUTOCHECKPOINT_PAGES: u32 = 1000;

/// WAL frames after which the checkpoint also waits for the readers still using the WAL,
/// so that the next writer starts it again from the beginning (`RESTART`).
const RESTART_PAGES: u32 = 4 * AUTOCHECKPOINT_PAGES;

/// How long a `RESTART` checkpoint waits for readers before it gives up (the next one
/// tries again). Writers of this process wait for it meanwhile.
const RESTART_WAIT: Duration = Duration::from_millis(50);

/// WAL size kept on disk after the WAL restarts (`journal_size_limit`): a burst that grew
/// it further gives the space back.
const WAL_SIZE_LIMIT: i64 = 16 * 1024 * 1024;

/// Connections' busy timeout: how long a statement waits for a lock held by another
/// process (writers of this process take turns before they begin).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

thread_local! {
    /// The WAL's length in frames after the last commit on this thread, until the
    /// connection that committed returns to the pool and checks whether to checkpoint.
    static WAL_FRAMES: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// SQLite calls this after every commit, once the commit is visible and the write lock is
/// released (`sqlite3_wal_hook`, which replaces SQLite's own auto-checkpoint hook). It
/// counts the commit and notes the WAL's length; when the connection returns, a due
/// checkpoint is asked of the checkpoint thread. SQLite's hook would checkpoint (and
/// `fsync`) right here, while the committing plugin call still holds the process's turn to
/// write and every other writer waits (measured: the slowest 1% of commits took 1 to 15 ms).
fn on_commit(_wal: &rusqlite::hooks::Wal, frames: c_int) -> rusqlite::Result<()> {
    COMMITS.fetch_add(1, Ordering::SeqCst);
    COMMITTING.with_borrow(|c| c.as_ref().map(|n| n.fetch_add(1, Ordering::SeqCst)));
    WAL_FRAMES.with(|f| f.set(Some(u32::try_from(frames).unwrap_or(0))));
    Ok(())
}

/// Asks for the checkpoint the last commit on this thread called for, if any.
///
/// SQLite's own policy (a `PASSIVE` checkpoint whenever the WAL is 1,000 frames or longer
/// at a commit) fails under concurrent load: a checkpoint cannot start the WAL again while
/// readers still use it, and with requests always reading, the WAL grows without bound
/// while a checkpoint runs, with two `fsync`s, after EVERY commit (docs/performance.md
/// has the measurements). Here a checkpoint runs once [`AUTOCHECKPOINT_PAGES`] frames were
/// added since the last one (whatever it could copy), on the database's checkpoint thread
/// ([`run_checkpoints`]), never in a request.
pub(super) fn checkpoint_if_due(db: &SqliteDb) {
    let inner = &db.inner;
    let Some(frames) = WAL_FRAMES.with(std::cell::Cell::take) else { return };
    // A WAL shorter than at the last commit started again from the beginning. (Commits
    // are looked at as their connections return, not always in order: then this only
    // brings the next checkpoint forward.)
    if frames < inner.frames.swap(frames, Ordering::Relaxed) {
        inner.checked.store(0, Ordering::Relaxed);
    }
    let fresh = frames.saturating_sub(inner.checked.load(Ordering::Relaxed));
    if fresh >= AUTOCHECKPOINT_PAGES && !inner.checkpoint_asked.swap(true, Ordering::AcqRel) {
        // Fails only when the thread has ended, with the database.
        let _ = inner.checkpoints.send(frames);
    }
}

/// The checkpoint thread of one database: runs the checkpoints commits ask for, one at a
/// time, until the database is dropped.
/// - While the WAL is shorter than [`RESTART_PAGES`], `PASSIVE`: it never waits.
/// - After that `RESTART`, in the process's turn to write: it waits up to
///   [`RESTART_WAIT`] for the readers still using the WAL (readers starting meanwhile
///   read the database file) so that the next writer starts the WAL from the beginning.
fn run_checkpoints(db: &Weak<Inner>, asked: &mpsc::Receiver<u32>) {
    while let Ok(frames) = asked.recv() {
        let Some(inner) = db.upgrade() else { return };
        let db = SqliteDb { inner };
        let result = if frames >= RESTART_PAGES {
            db.writer().map_err(|e| e.to_string()).and_then(|writer| {
                let writer = sqlite_of(&writer);
                let ran = writer.busy_timeout(RESTART_WAIT).and_then(|()| checkpoint(writer, "RESTART"));
                writer.busy_timeout(BUSY_TIMEOUT).and(ran).map_err(|e| e.to_string())
            })
        } else {
            db.get()
                .map_err(|e| e.to_string())
                .and_then(|conn| checkpoint(sqlite_of(&conn), "PASSIVE").map_err(|e| e.to_string()))
        };
        let checked = match result {
            Ok(length) => length.unwrap_or(frames),
            Err(err) => {
                tracing::warn!(error = %err, "WAL checkpoint failed; the next one retries");
                frames
            }
        };
        db.inner.checked.store(checked, Ordering::Relaxed);
        db.inner.checkpoint_asked.store(false, Ordering::Release);
    }
}

/// One checkpoint in `mode`: the WAL's length it found, if it ran.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<Option<u32>> {
    let length: i64 = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| row.get(1))?;
    Ok(u32::try_from(length).ok())
}

/// Runs a transaction-control statement from the connection's statement cache (parsed
/// once per connection, not at every transaction).
pub(super) fn run_cached(conn: &Connection, sql: &str) -> DbResult<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Makes a pool connection refuse writes (`query_only`; checkpoints still run on it).
fn read_only(conn: &Connection) -> DbResult<()> {
    conn.pragma_update(None, "query_only", true)?;
    Ok(())
}

pub(super) fn open_connection(path: &Path) -> DbResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "on")?;
    conn.pragma_update(None, "synchronous", "normal")?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    conn.set_prepared_statement_cache_capacity(128);
    conn.wal_hook(Some(on_commit));
    harden(&conn)?;
    super::plugin_store::install_authorizer(&conn)?;
    Ok(conn)
}

/// What SQLite offers against untrusted SQL, on every connection (plugin statements run on
/// the pool's connections and the writer): defensive mode (no writable schema, no
/// `sqlite_dbpage` writes, no corrupting pragmas), functions in the schema only if
/// innocuous (`trusted_schema` off), no `fts3_tokenizer()` (it hands out pointers), no
/// triggers or views at all (the portal has none; a plugin's could run with its rights),
/// and double-quoted strings are identifiers only. Extension loading is off by default and
/// never turned on.
fn harden(conn: &Connection) -> DbResult<()> {
    use rusqlite::config::DbConfig;
    for (config, on) in [
        (DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true),
        (DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, false),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW, false),
        (DbConfig::SQLITE_DBCONFIG_DQS_DML, false),
        (DbConfig::SQLITE_DBCONFIG_DQS_DDL, false),
    ] {
        conn.set_db_config(config, on)?;
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A new database with table `t` of `columns`, in its own directory.
    pub(in crate::db) fn db_with_table(columns: &str) -> (tempfile::TempDir, SqliteDb) {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("t.db")).unwrap();
        db.writer().unwrap().batch(&format!("CREATE TABLE t ({columns})")).unwrap();
        (dir, db)
    }

    /// The insert of row `i`, about one page.
    const INSERT: &str = "INSERT INTO t (id, v) VALUES (?1, zeroblob(3000))";

    /// Commits 12,000 rows of about one page each, one transaction each, with `commit`
    /// (twelve checkpoints' worth, three restarts); then the WAL's size in pages.
    fn wal_pages_after_commits(dir: &tempfile::TempDir, commit: impl Fn(i64)) -> u64 {
        for i in 0..12_000 {
            commit(i);
        }
        std::fs::metadata(dir.path().join("t.db-wal")).unwrap().len() / (4096 + 24)
    }

    /// Host writes one after another, each in a write transaction of its own, as email
    /// delivery marks the emails it sent. (When they were written on pool connections,
    /// the `RESTART` checkpoint missed SQLite's write lock in 6 of 20 runs and the WAL
    /// grew to 9,000-15,000 pages.)
    #[test]
    fn commits_are_counted_and_the_wal_is_checkpointed_between_write_transactions() {
        let (dir, db) = db_with_table("id INTEGER PRIMARY KEY, v BLOB");
        let before = commits();
        let pages = wal_pages_after_commits(&dir, |i| {
            let txn = db.write().unwrap();
            txn.execute(INSERT, &[&i]).unwrap();
            txn.commit().unwrap();
        });
        assert!(commits() - before >= 12_000, "every commit is counted");
        assert!(pages < 5_000, "the WAL starts again after about 4,000 pages: {pages} pages");
    }

    /// Each database counts its own commits: remembered slot answers of one portal are not
    /// forgotten because another database (another portal in the same process: the tests)
    /// committed.
    #[test]
    fn each_database_counts_its_own_commits() {
        let (_a_dir, a) = db_with_table("id INTEGER PRIMARY KEY, v BLOB");
        let (_b_dir, b) = db_with_table("id INTEGER PRIMARY KEY, v BLOB");
        let (a0, b0) = (a.commits(), b.commits());
        for i in 0..3 {
            let txn = a.write().unwrap();
            txn.execute(INSERT, &[&i]).unwrap();
            txn.commit().unwrap();
        }
        a.writer().unwrap().execute(INSERT, &[&10]).unwrap();
        assert_eq!(a.commits() - a0, 4);
        assert_eq!(b.commits(), b0, "nothing was committed to b");
    }

    #[test]
    fn pool_connections_refuse_writes_and_still_checkpoint() {
        let (_dir, db) = db_with_table("id INTEGER PRIMARY KEY, v BLOB");
        db.writer().unwrap().execute(INSERT, &[&1]).unwrap();
        // The connection that created the database, then a new one.
        let (first, second) = (db.get().unwrap(), db.get().unwrap());
        for conn in [sqlite_of(&first), sqlite_of(&second)] {
            let err = conn.execute(INSERT, [2]).unwrap_err().to_string();
            assert!(err.contains("readonly"), "{err}");
            let rows: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
            assert_eq!(rows, 1, "reads work");
        }
        assert!(
            checkpoint(sqlite_of(&second), "PASSIVE").unwrap().is_some(),
            "a checkpoint runs on a pool connection"
        );
    }

    /// Readers that always hold a read transaction, each begun after some of the writer's
    /// commits, as a busy portal's requests do: without the `RESTART` checkpoints the WAL
    /// never starts again (36,661 pages here; with SQLite's own policy a checkpoint also
    /// ran after every commit).
    #[test]
    fn the_wal_stays_bounded_while_readers_always_use_it() {
        let (dir, db) = db_with_table("id INTEGER PRIMARY KEY, v BLOB");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers = {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let conns = [db.get().unwrap(), db.get().unwrap()];
                let read = |c: &PooledConn| {
                    let c = sqlite_of(c);
                    c.execute_batch("BEGIN").unwrap();
                    c.query_row("SELECT max(id) FROM t", [], |r| r.get::<_, Option<i64>>(0)).unwrap();
                };
                read(&conns[0]);
                let mut rounds = 0u64;
                // Two overlapping read transactions: one is always open.
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let (older, newer) = (&conns[i % 2], &conns[(i + 1) % 2]);
                    read(newer);
                    older.batch("COMMIT").unwrap();
                    rounds += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
                rounds
            })
        };
        let pages = wal_pages_after_commits(&dir, |i| {
            db.writer().unwrap().execute(INSERT, &[&i]).unwrap();
        });
        stop.store(true, Ordering::Relaxed);
        assert!(readers.join().unwrap() > 100, "the readers kept reading");
        assert!(pages < 8_000, "the WAL starts again under readers: {pages} pages");
    }

    #[test]
    fn writers_take_turns_on_one_connection_and_an_unfinished_write_is_rolled_back() {
        let (_dir, db) = db_with_table("id INTEGER PRIMARY KEY");
        let first = db.writer().unwrap();
        // A temporary table is private to its connection: it marks this one.
        first.batch("CREATE TEMP TABLE marker (x); BEGIN IMMEDIATE; INSERT INTO t (id) VALUES (1);").unwrap();
        let waited = {
            let db = db.clone();
            std::thread::spawn(move || {
                let second = db.writer().unwrap();
                let rows: i64 = second.query_one("SELECT count(*) FROM t", &[], |r| r.get(0)).unwrap();
                second.execute("INSERT INTO t (id) VALUES (2)", &[]).unwrap();
                rows
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(!waited.is_finished(), "the second writer waits for its turn");
        drop(first);
        assert_eq!(waited.join().unwrap(), 0, "the first writer's unfinished transaction was rolled back");
        let again = db.writer().unwrap();
        assert!(again.batch("SELECT * FROM temp.marker").is_ok(), "the same connection");
        assert!(db.get().unwrap().batch("SELECT * FROM temp.marker").is_err(), "not a pooled one");
        let ids: Vec<i64> = again.query_all("SELECT id FROM t", &[], |r| r.get(0)).unwrap();
        assert_eq!(ids, [2]);
    }
}
