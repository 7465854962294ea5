//! The process's one writer connection: turns to use it, and group commit. Write
//! transactions queued behind each other run one after another in ONE SQLite transaction,
//! each inside its own savepoint, and are committed together by the last of them; each is
//! acknowledged only once that commit is done.
//!
//! Why: a commit costs as much as a small plugin call (the WAL frames of every page it
//! changed, written again by the next commit when they change again). Under load the turn
//! to write is the portal's bottleneck, so the commits of a busy moment are shared.
//!
//! What a member of a group may see: the writes of the members before it (it runs after
//! them, as it would after their commits). What it cannot see: that they are not yet
//! durable; if the group's commit fails, or a member loses the shared transaction, the
//! other members get [`DbError::GroupFailed`]: nothing of theirs was kept, and the caller
//! may run them again. The turn goes to waiters in the order they came.

use super::handle::{Home, PooledConn, Side, WriteTxn};
use super::pool::{SqliteDb, checkpoint_if_due, open_connection, run_cached};
use super::sql::Conn;
use super::turns::{OpenGroup, Waiter};
use super::{DbError, DbResult};
use rusqlite::Connection;

impl SqliteDb {
    /// The writer connection outside any transaction, after waiting for the turn to use
    /// it (until the open group, if any, has committed); the turn passes on when it is
    /// dropped. For work that must not run inside a group's transaction: checkpoints, and
    /// host writes that need a transaction of their own (migrations, demo data, the
    /// command line). Other host writes use [`Db::write`].
    pub(super) fn writer(&self) -> DbResult<PooledConn> {
        let (conn, _no_group) = self.take_turn(Waiter::Plain)?;
        Ok(PooledConn::new(Conn::sqlite(conn), Home::Sqlite { db: self.clone(), writer: true }))
    }

    /// Waits for the turn, then the writer connection (opened at the first turn) and the
    /// open group, if any. If the connection cannot be opened, the turn passes on.
    fn take_turn(&self, waiter: Waiter) -> DbResult<(Connection, Option<OpenGroup>)> {
        let turns = self.turns();
        let (conn, open) = turns.take(waiter)?;
        super::pool::committing_to(self);
        match conn.map_or_else(|| open_connection(self.path()), Ok) {
            Ok(conn) => Ok((conn, open)),
            Err(err) => {
                if let Some(group) = open {
                    group.outcome.tell(Err("the writer connection was lost".into()));
                }
                turns.give_back(None);
                Err(err)
            }
        }
    }

    /// Write transactions waiting for the turn to write now.
    pub(super) fn writes_waiting(&self) -> usize {
        self.turns().queued_writes()
    }

    /// Called by [`super::PooledConn`] when a plain turn ends.
    pub(super) fn end_plain_turn(&self, conn: Option<Connection>) {
        self.turns().give_back(conn);
    }

    /// A write transaction, after waiting for the turn to write: it joins the group whose
    /// transaction is open, or begins one (`BEGIN IMMEDIATE`). Writers queue here, in
    /// order, instead of retrying in SQLite's busy handler (which sleeps up to 100 ms a
    /// try); and one connection for all of them keeps its page cache (SQLite empties a
    /// connection's cache whenever another connection wrote).
    ///
    /// End it with [`WriteTxn::commit`] or [`WriteTxn::rollback`]; dropped, it rolls back.
    pub(super) fn write(&self) -> DbResult<WriteTxn> {
        let (conn, open) = self.take_turn(Waiter::Write)?;
        let mut group = match open {
            Some(group) => group,
            None => {
                if let Err(err) = run_cached(&conn, "BEGIN IMMEDIATE") {
                    self.turns().give_back(Some(conn));
                    return Err(err);
                }
                OpenGroup::default()
            }
        };
        if let Err(err) = run_cached(&conn, "SAVEPOINT write") {
            // The members before this one are committed (their outcome tells them).
            let _ = end_group(self, conn, group);
            return Err(err);
        }
        group.joined += 1;
        Ok(WriteTxn::new(Conn::sqlite(conn), Side::Sqlite(Member { group: Some(group), db: self.clone() })))
    }
}

/// Commits (or, when it kept nothing, rolls back) a group's transaction, tells its members,
/// and ends the turn.
fn end_group(db: &SqliteDb, conn: Connection, group: OpenGroup) -> Result<(), String> {
    let result = if conn.is_autocommit() {
        Err(LOST.to_owned())
    } else if group.kept == 0 {
        run_cached(&conn, "ROLLBACK").map_err(|e| e.to_string())
    } else {
        run_cached(&conn, "COMMIT").map_err(|e| e.to_string())
    };
    group.outcome.tell(result.clone());
    let usable = conn.is_autocommit() || run_cached(&conn, "ROLLBACK").is_ok();
    db.turns().give_back(usable.then_some(conn));
    checkpoint_if_due(db);
    result
}

/// Why a transaction ended before its commit: SQLite rolls the whole transaction back when
/// a write statement is interrupted (at a plugin's `sql_ms`) or fails on I/O.
const LOST: &str = "SQLite rolled the transaction back (a statement was interrupted or failed)";

/// A SQLite write transaction's place in its group: a savepoint inside the group's
/// transaction, on the writer connection, holding the turn to write until it ends.
pub(super) struct Member {
    group: Option<OpenGroup>,
    db: SqliteDb,
}

impl Member {
    /// Ends the member's savepoint (kept or undone) and passes the turn on; a kept one
    /// returns once its group's commit is done. SQLite's commit keeps the writes: by this
    /// transaction if no other write waits, otherwise by the last of the group that the
    /// waiting ones join.
    pub(super) fn end(&mut self, conn: Conn, keep: bool) -> DbResult<()> {
        let Some(conn) = conn.into_sqlite() else {
            unreachable!("a SQLite member holds a SQLite connection")
        };
        let Some(mut group) = self.group.take() else { return Ok(()) };
        let ended = if conn.is_autocommit() {
            Err(DbError::Invalid(LOST.into()))
        } else if keep {
            run_cached(&conn, "RELEASE write")
        } else {
            undo(&conn)
        };
        let kept = keep && ended.is_ok();
        if ended.is_err() && !conn.is_autocommit() && undo(&conn).is_err() {
            // The savepoint cannot be undone alone: nothing of the group can be kept.
            let _ = run_cached(&conn, "ROLLBACK");
        }
        group.kept += usize::from(kept);
        let outcome = group.outcome.clone();
        let left =
            if conn.is_autocommit() { Some((conn, group)) } else { self.db.turns().pass_on(conn, group) };
        let committed = match left {
            // The last of the group commits it.
            Some((conn, group)) => end_group(&self.db, conn, group)
                .map_err(|e| DbError::Invalid(format!("the write was not committed: {e}"))),
            None if kept => outcome.wait(),
            None => Ok(()),
        };
        ended.and(if kept { committed } else { Ok(()) })
    }
}

/// Undoes the current member's savepoint.
fn undo(conn: &Connection) -> DbResult<()> {
    run_cached(conn, "ROLLBACK TO write")?;
    run_cached(conn, "RELEASE write")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::thread::{self, JoinHandle};
    use std::time::Duration;

    fn db() -> (tempfile::TempDir, SqliteDb) {
        crate::db::pool::tests::db_with_table("id INTEGER PRIMARY KEY")
    }

    fn insert(txn: &WriteTxn, id: i64) {
        txn.execute("INSERT INTO t (id) VALUES (?1)", &[&id]).unwrap();
    }

    fn ids(conn: &Conn) -> Vec<i64> {
        conn.query_all("SELECT id FROM t ORDER BY id", &[], |r| r.get(0)).unwrap()
    }

    /// A second write transaction, started on its own thread, that waits for the turn;
    /// returns once it waits. `then` runs in its turn.
    fn queued<T: Send + 'static>(
        db: &SqliteDb,
        then: impl FnOnce(WriteTxn) -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let before = db.turns().queued_writes();
        let handle = {
            let db = db.clone();
            thread::spawn(move || then(db.write().unwrap()))
        };
        while db.turns().queued_writes() == before {
            thread::sleep(Duration::from_millis(1));
        }
        handle
    }

    /// Commits `txn` on its own thread (a member's commit returns only with its group's).
    fn commit_in_background(txn: WriteTxn) -> JoinHandle<DbResult<()>> {
        thread::spawn(move || txn.commit())
    }

    #[test]
    fn a_waiting_write_joins_the_open_transaction_and_both_are_acknowledged_after_one_commit() {
        let (_dir, db) = db();
        let first = db.write().unwrap();
        insert(&first, 1);
        let reader = db.clone();
        let second = queued(&db, move |txn| {
            // It sees the first one's write, which no other connection sees yet.
            let inside = ids(&txn);
            let committed = ids(&reader.get().unwrap());
            insert(&txn, 2);
            (inside, committed, txn.commit())
        });
        let first = commit_in_background(first);
        let (inside, committed, second) = second.join().unwrap();
        assert_eq!((inside, committed), (vec![1], vec![]), "one transaction, not committed yet");
        assert!(second.is_ok() && first.join().unwrap().is_ok());
        assert_eq!(ids(&db.get().unwrap()), [1, 2]);
        let plain = db.writer().unwrap();
        assert!(!plain.in_transaction(), "a plain turn comes outside any transaction");
    }

    /// Waiting would be for itself, and every writer queued behind it, forever.
    #[test]
    fn the_thread_that_holds_the_turn_is_refused_another_instead_of_waiting_for_itself() {
        let (_dir, db) = db();
        let txn = db.write().unwrap();
        for err in [db.write().map(drop).unwrap_err(), db.writer().map(drop).unwrap_err()] {
            assert!(err.to_string().contains("already holds the turn"), "{err}");
        }
        insert(&txn, 1);
        txn.commit().unwrap();
        // Its turn ended: the next is its own again, and another thread's waits as usual.
        let plain = db.writer().unwrap();
        let other = {
            let db = db.clone();
            thread::spawn(move || db.write().map(|txn| txn.commit()).is_ok())
        };
        thread::sleep(Duration::from_millis(50));
        assert!(!other.is_finished(), "another thread waits for the turn");
        drop(plain);
        assert!(other.join().unwrap());
        assert_eq!(ids(&db.get().unwrap()), [1]);
    }

    #[test]
    fn the_turn_goes_to_writers_in_the_order_they_came() {
        let (_dir, db) = db();
        let first = db.write().unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let waiting: Vec<_> = (1..=4)
            .map(|n| {
                let order = order.clone();
                queued(&db, move |txn| {
                    order.lock().unwrap().push(n);
                    insert(&txn, n);
                    txn.commit()
                })
            })
            .collect();
        first.commit().unwrap();
        for w in waiting {
            w.join().unwrap().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [1, 2, 3, 4]);
        assert_eq!(ids(&db.get().unwrap()), [1, 2, 3, 4]);
    }

    #[test]
    fn a_member_that_rolls_back_undoes_only_its_own_writes() {
        let (_dir, db) = db();
        let first = db.write().unwrap();
        insert(&first, 1);
        let second = queued(&db, |txn| {
            insert(&txn, 2);
            txn.rollback()
        });
        let first = commit_in_background(first);
        assert!(second.join().unwrap().is_ok());
        assert!(first.join().unwrap().is_ok());
        let dropped = db.write().unwrap();
        insert(&dropped, 3);
        drop(dropped);
        assert_eq!(ids(&db.get().unwrap()), [1], "rolled back, and dropped without a commit");
    }

    /// SQLite rolls the whole transaction back when a write statement is interrupted: every
    /// member of the group fails, none is half-committed, and the next write works.
    #[test]
    fn when_a_member_loses_the_transaction_the_whole_group_fails() {
        let (_dir, db) = db();
        let first = db.write().unwrap();
        insert(&first, 1);
        let second = queued(&db, |txn| {
            insert(&txn, 2);
            let conn = txn.as_sqlite().unwrap();
            conn.progress_handler(100, Some(|| true)).unwrap();
            let slow = "INSERT INTO t (id) WITH RECURSIVE r(i) AS (SELECT 10 UNION ALL SELECT i + 1 FROM r) SELECT i FROM r";
            assert!(conn.execute(slow, []).is_err(), "interrupted");
            conn.progress_handler(0, None::<fn() -> bool>).unwrap();
            assert!(!txn.in_transaction(), "SQLite ended the transaction");
            txn.commit()
        });
        let first = commit_in_background(first);
        assert!(second.join().unwrap().is_err());
        let err = first.join().unwrap().unwrap_err();
        assert!(matches!(err, DbError::GroupFailed(_)), "it can be run again: {err:?}");
        assert_eq!(ids(&db.get().unwrap()), Vec::<i64>::new());
        let next = db.write().unwrap();
        insert(&next, 3);
        next.commit().unwrap();
        assert_eq!(ids(&db.get().unwrap()), [3]);
    }
}
