//! In-app notifications.

use super::DbResult;
use plugin_api::{Timestamp, UserId};
use rusqlite::{Connection, params};

/// Creates a notification for `user`.
pub fn create(
    conn: &Connection,
    user: UserId,
    plugin: Option<&str>,
    text: &str,
    link: &str,
    now: Timestamp,
) -> DbResult<i64> {
    conn.execute(
        "INSERT INTO notifications (user_id, plugin, text, link, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![user.0, plugin, text, link, now.0],
    )?;
    Ok(conn.last_insert_rowid())
}

/// How many unread notifications `user` has.
pub fn unread_count(conn: &Connection, user: UserId) -> DbResult<u32> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM notifications WHERE user_id = ?1 AND read_at IS NULL")?
        .query_row([user.0], |r| r.get(0))?)
}
