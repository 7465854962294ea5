//! In-app notifications.

use super::DbResult;
use super::sql::Conn;
use plugin_api::{Timestamp, UserId};

/// Creates a notification for `user`.
pub fn create(
    conn: &Conn,
    user: UserId,
    plugin: Option<&str>,
    text: &str,
    link: &str,
    now: Timestamp,
) -> DbResult<i64> {
    conn.query_one(
        "INSERT INTO notifications (user_id, plugin, text, link, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
         RETURNING id",
        &[&user.0, &plugin, &text, &link, &now.0],
        |r| r.get(0),
    )
}

/// How many unread notifications `user` has.
pub fn unread_count(conn: &Conn, user: UserId) -> DbResult<u32> {
    conn.query_one(
        "SELECT count(*) FROM notifications WHERE user_id = ?1 AND read_at IS NULL",
        &[&user.0],
        |r| r.get(0),
    )
}

/// A notification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Notification {
    /// Its id.
    pub id: i64,
    /// The text.
    pub text: String,
    /// A path inside the community.
    pub link: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// Whether it was read.
    pub read: bool,
}

/// The notifications of `user`, newest first.
pub fn list(conn: &Conn, user: UserId, limit: u32, offset: u32) -> DbResult<Vec<Notification>> {
    conn.query_all(
        "SELECT id, text, link, created_at, read_at IS NOT NULL FROM notifications
         WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
        &[&user.0, &limit, &offset],
        |r| {
            Ok(Notification {
                id: r.get(0)?,
                text: r.get(1)?,
                link: r.get(2)?,
                created_at: Timestamp(r.get(3)?),
                read: r.get(4)?,
            })
        },
    )
}

/// How many notifications `user` has.
pub fn count(conn: &Conn, user: UserId) -> DbResult<u32> {
    conn.query_one("SELECT count(*) FROM notifications WHERE user_id = ?1", &[&user.0], |r| r.get(0))
}

/// Marks one of `user`'s notifications read; false if it is not theirs.
pub fn mark_read(conn: &Conn, user: UserId, id: i64, now: Timestamp) -> DbResult<bool> {
    let changed = conn.execute(
        "UPDATE notifications SET read_at = coalesce(read_at, ?3) WHERE id = ?1 AND user_id = ?2",
        &[&id, &user.0, &now.0],
    )?;
    Ok(changed > 0)
}

/// Marks all of `user`'s notifications read.
pub fn mark_all_read(conn: &Conn, user: UserId, now: Timestamp) -> DbResult<usize> {
    conn.execute(
        "UPDATE notifications SET read_at = ?2 WHERE user_id = ?1 AND read_at IS NULL",
        &[&user.0, &now.0],
    )
}
