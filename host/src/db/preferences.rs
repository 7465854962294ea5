//! Members' preferences (on/off), declared by plugins; a missing row means the manifest's
//! default.

use super::DbResult;
use plugin_api::UserId;
use rusqlite::{Connection, OptionalExtension, params};

/// The stored value, if the member changed it.
pub fn get(conn: &Connection, user: UserId, plugin: &str, key: &str) -> DbResult<Option<bool>> {
    Ok(conn
        .prepare_cached("SELECT value FROM preferences WHERE user_id = ?1 AND plugin = ?2 AND key = ?3")?
        .query_row(params![user.0, plugin, key], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|v| v != 0))
}

/// Stores a value.
pub fn set(conn: &Connection, user: UserId, plugin: &str, key: &str, value: bool) -> DbResult<()> {
    conn.execute(
        "INSERT INTO preferences (user_id, plugin, key, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, plugin, key) DO UPDATE SET value = excluded.value",
        params![user.0, plugin, key, i64::from(value)],
    )?;
    Ok(())
}
