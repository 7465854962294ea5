//! Communities (tenants).

use super::DbResult;
use plugin_api::{CommunityId, Timestamp};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// A community.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Community {
    /// Its id.
    pub id: CommunityId,
    /// URL slug: `/c/{slug}/`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// One paragraph about it.
    pub description: String,
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Community> {
    Ok(Community {
        id: CommunityId(row.get(0)?),
        slug: row.get(1)?,
        name: row.get(2)?,
        description: row.get(3)?,
    })
}

/// Creates a community.
pub fn create(
    conn: &Connection,
    slug: &str,
    name: &str,
    description: &str,
    now: Timestamp,
) -> DbResult<CommunityId> {
    conn.execute(
        "INSERT INTO communities (slug, name, description, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![slug, name, description, now.0],
    )?;
    Ok(CommunityId(conn.last_insert_rowid()))
}

/// The community with this slug.
pub fn by_slug(conn: &Connection, slug: &str) -> DbResult<Option<Community>> {
    Ok(conn
        .prepare_cached("SELECT id, slug, name, description FROM communities WHERE slug = ?1")?
        .query_row([slug], from_row)
        .optional()?)
}

/// The community with this id.
pub fn by_id(conn: &Connection, id: CommunityId) -> DbResult<Option<Community>> {
    Ok(conn
        .prepare_cached("SELECT id, slug, name, description FROM communities WHERE id = ?1")?
        .query_row([id.0], from_row)
        .optional()?)
}

/// Every community, by name.
pub fn list(conn: &Connection) -> DbResult<Vec<Community>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, slug, name, description FROM communities ORDER BY name")?;
    let rows = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}
