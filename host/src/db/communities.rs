//! Communities (tenants).

use super::DbResult;
use super::sql::{Conn, Row};
use plugin_api::{CommunityId, Timestamp};

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

fn from_row(row: &Row<'_>) -> DbResult<Community> {
    Ok(Community {
        id: CommunityId(row.get(0)?),
        slug: row.get(1)?,
        name: row.get(2)?,
        description: row.get(3)?,
    })
}

/// Creates a community.
pub fn create(
    conn: &Conn,
    slug: &str,
    name: &str,
    description: &str,
    now: Timestamp,
) -> DbResult<CommunityId> {
    conn.query_one(
        "INSERT INTO communities (slug, name, description, created_at) VALUES (?1, ?2, ?3, ?4) RETURNING id",
        &[&slug, &name, &description, &now.0],
        |r| Ok(CommunityId(r.get(0)?)),
    )
}

/// The community with this slug.
pub fn by_slug(conn: &Conn, slug: &str) -> DbResult<Option<Community>> {
    conn.query_opt("SELECT id, slug, name, description FROM communities WHERE slug = ?1", &[&slug], from_row)
}

/// The community with this id.
pub fn by_id(conn: &Conn, id: CommunityId) -> DbResult<Option<Community>> {
    conn.query_opt("SELECT id, slug, name, description FROM communities WHERE id = ?1", &[&id.0], from_row)
}

/// Every community, by name.
pub fn list(conn: &Conn) -> DbResult<Vec<Community>> {
    conn.query_all("SELECT id, slug, name, description FROM communities ORDER BY name", &[], from_row)
}
