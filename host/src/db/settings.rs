//! Operators' per-community overrides of plugin settings. Values are stored as JSON.

use super::DbResult;
use super::sql::Conn;
use plugin_api::CommunityId;
use std::collections::BTreeMap;

/// The overrides of `plugin`'s settings in `community`: name -> JSON value.
pub fn overrides(conn: &Conn, community: CommunityId, plugin: &str) -> DbResult<BTreeMap<String, String>> {
    let rows = conn.query_all(
        "SELECT name, value FROM plugin_settings WHERE community_id = ?1 AND plugin = ?2",
        &[&community.0, &plugin],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows.into_iter().collect())
}

/// Sets an override (a JSON value).
pub fn set(conn: &Conn, community: CommunityId, plugin: &str, name: &str, json: &str) -> DbResult<()> {
    conn.execute(
        "INSERT INTO plugin_settings (community_id, plugin, name, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (community_id, plugin, name) DO UPDATE SET value = excluded.value",
        &[&community.0, &plugin, &name, &json],
    )?;
    Ok(())
}

/// Removes an override, so the manifest's default applies again.
pub fn unset(conn: &Conn, community: CommunityId, plugin: &str, name: &str) -> DbResult<()> {
    conn.execute(
        "DELETE FROM plugin_settings WHERE community_id = ?1 AND plugin = ?2 AND name = ?3",
        &[&community.0, &plugin, &name],
    )?;
    Ok(())
}
