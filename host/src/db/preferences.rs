//! Members' preferences (on/off), declared by plugins; a missing row means the manifest's
//! default.

use super::DbResult;
use super::sql::Conn;
use plugin_api::UserId;

/// The stored value, if the member changed it.
pub fn get(conn: &Conn, user: UserId, plugin: &str, key: &str) -> DbResult<Option<bool>> {
    conn.query_opt(
        "SELECT value FROM preferences WHERE user_id = ?1 AND plugin = ?2 AND key = ?3",
        &[&user.0, &plugin, &key],
        |r| r.get::<bool>(0),
    )
}

/// Stores a value.
pub fn set(conn: &Conn, user: UserId, plugin: &str, key: &str, value: bool) -> DbResult<()> {
    conn.execute(
        "INSERT INTO preferences (user_id, plugin, key, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, plugin, key) DO UPDATE SET value = excluded.value",
        &[&user.0, &plugin, &key, &value],
    )?;
    Ok(())
}
