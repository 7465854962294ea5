//! Operators' per-community overrides of plugin settings. Values are stored as JSON.

use super::DbResult;
use plugin_api::CommunityId;
use rusqlite::{Connection, params};
use std::collections::BTreeMap;

/// The overrides of `plugin`'s settings in `community`: name -> JSON value.
pub fn overrides(
    conn: &Connection,
    community: CommunityId,
    plugin: &str,
) -> DbResult<BTreeMap<String, String>> {
    let mut stmt = conn
        .prepare_cached("SELECT name, value FROM plugin_settings WHERE community_id = ?1 AND plugin = ?2")?;
    let rows = stmt
        .query_map(params![community.0, plugin], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Sets an override (a JSON value).
pub fn set(conn: &Connection, community: CommunityId, plugin: &str, name: &str, json: &str) -> DbResult<()> {
    conn.execute(
        "INSERT INTO plugin_settings (community_id, plugin, name, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (community_id, plugin, name) DO UPDATE SET value = excluded.value",
        params![community.0, plugin, name, json],
    )?;
    Ok(())
}

/// Removes an override, so the manifest's default applies again.
pub fn unset(conn: &Connection, community: CommunityId, plugin: &str, name: &str) -> DbResult<()> {
    conn.execute(
        "DELETE FROM plugin_settings WHERE community_id = ?1 AND plugin = ?2 AND name = ?3",
        params![community.0, plugin, name],
    )?;
    Ok(())
}
