//! Sign-in sessions, stored server-side so sign-out ends them for good.

use super::DbResult;
use super::sql::Conn;
use plugin_api::{Timestamp, UserId};

/// Stores a new session for `user`, valid until `expires_at`.
pub fn create(conn: &Conn, id: &str, user: UserId, now: Timestamp, expires_at: Timestamp) -> DbResult<()> {
    conn.execute(
        "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        &[&id, &user.0, &now.0, &expires_at.0],
    )?;
    Ok(())
}

/// The member of a live session.
pub fn user_of(conn: &Conn, id: &str, now: Timestamp) -> DbResult<Option<UserId>> {
    conn.query_opt("SELECT user_id FROM sessions WHERE id = ?1 AND expires_at > ?2", &[&id, &now.0], |r| {
        Ok(UserId(r.get(0)?))
    })
}

/// Ends a session.
pub fn delete(conn: &Conn, id: &str) -> DbResult<()> {
    conn.execute("DELETE FROM sessions WHERE id = ?1", &[&id])?;
    Ok(())
}
