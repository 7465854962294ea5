//! Rate-limit windows in the database, shared by every portal process on it: per key, when
//! its window began, how long it lasts and how many events it counted. Each change is one
//! statement, atomic on its own (an upsert), so processes counting the same key at once
//! never lose a count.

use super::DbResult;
use super::sql::Conn;

/// A key's current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When it began (ms).
    pub started_ms: i64,
    /// How long it lasts (ms).
    pub length_ms: i64,
    /// Events counted in it.
    pub count: i64,
}

impl Window {
    /// Whether it is still running at `now_ms`.
    pub fn open_at(&self, now_ms: i64) -> bool {
        now_ms < self.started_ms.saturating_add(self.length_ms)
    }
}

/// Counts one event for `key` at `now_ms` if its window has counted fewer than `limit`
/// (a window that ended starts again, of `length_ms`); false when the limit was reached.
pub fn take(conn: &Conn, key: &str, limit: i64, now_ms: i64, length_ms: i64) -> DbResult<bool> {
    let counted = conn.execute(
        "INSERT INTO rate_limits (key, started_ms, length_ms, count) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (key) DO UPDATE SET
             started_ms = CASE WHEN rate_limits.started_ms + rate_limits.length_ms <= ?2
                               THEN ?2 ELSE rate_limits.started_ms END,
             length_ms = CASE WHEN rate_limits.started_ms + rate_limits.length_ms <= ?2
                              THEN ?3 ELSE rate_limits.length_ms END,
             count = CASE WHEN rate_limits.started_ms + rate_limits.length_ms <= ?2
                          THEN 1 ELSE rate_limits.count + 1 END
         WHERE rate_limits.started_ms + rate_limits.length_ms <= ?2 OR rate_limits.count < ?4",
        &[&key, &now_ms, &length_ms, &limit],
    )?;
    Ok(counted == 1)
}

/// The window of `key`, if it has one.
pub fn window(conn: &Conn, key: &str) -> DbResult<Option<Window>> {
    conn.query_opt("SELECT started_ms, length_ms, count FROM rate_limits WHERE key = ?1", &[&key], |r| {
        Ok(Window { started_ms: r.get(0)?, length_ms: r.get(1)?, count: r.get(2)? })
    })
}

/// Forgets `key`.
pub fn clear(conn: &Conn, key: &str) -> DbResult<()> {
    conn.execute("DELETE FROM rate_limits WHERE key = ?1", &[&key])?;
    Ok(())
}

/// Forgets the windows that ended before `now_ms`; how many.
pub fn prune(conn: &Conn, now_ms: i64) -> DbResult<usize> {
    conn.execute("DELETE FROM rate_limits WHERE started_ms + length_ms < ?1", &[&now_ms])
}
