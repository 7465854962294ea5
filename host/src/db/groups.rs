//! User groups and their members (admins and plain members).

use super::users::{self, User};
use super::{DbResult, like_pattern};
use plugin_api::{CommunityId, GroupId, Timestamp, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

/// A member's role in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupRole {
    /// Reads and acts for the group.
    Admin,
    /// A plain member.
    Member,
}

impl GroupRole {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupRole::Admin => "admin",
            GroupRole::Member => "member",
        }
    }
}

/// A user group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Its id.
    pub id: GroupId,
    /// The community.
    pub community_id: CommunityId,
    /// Unique handle in the community.
    pub nickname: String,
    /// Display name.
    pub name: String,
    /// About text.
    pub description: String,
}

const COLUMNS: &str = "id, community_id, nickname, name, description";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Group> {
    Ok(Group {
        id: GroupId(row.get(0)?),
        community_id: CommunityId(row.get(1)?),
        nickname: row.get(2)?,
        name: row.get(3)?,
        description: row.get(4)?,
    })
}

/// Creates a group.
pub fn create(
    conn: &Connection,
    community: CommunityId,
    nickname: &str,
    name: &str,
    description: &str,
    now: Timestamp,
) -> DbResult<GroupId> {
    conn.execute(
        "INSERT INTO groups (community_id, nickname, name, description, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![community.0, nickname, name, description, now.0],
    )?;
    Ok(GroupId(conn.last_insert_rowid()))
}

/// Adds (or changes the role of) a member of a group.
pub fn set_member(conn: &Connection, group: GroupId, user: UserId, role: GroupRole) -> DbResult<()> {
    conn.execute(
        "INSERT INTO group_members (group_id, user_id, role) VALUES (?1, ?2, ?3)
         ON CONFLICT (group_id, user_id) DO UPDATE SET role = excluded.role",
        params![group.0, user.0, role.as_str()],
    )?;
    Ok(())
}

/// A group of `community` by id.
pub fn by_id(conn: &Connection, community: CommunityId, id: GroupId) -> DbResult<Option<Group>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM groups WHERE community_id = ?1 AND id = ?2"))?
        .query_row(params![community.0, id.0], from_row)
        .optional()?)
}

/// A group of `community` by nickname.
pub fn by_nickname(conn: &Connection, community: CommunityId, nickname: &str) -> DbResult<Option<Group>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM groups WHERE community_id = ?1 AND nickname = ?2"))?
        .query_row(params![community.0, nickname], from_row)
        .optional()?)
}

/// Groups of `community` whose name or nickname contains `query` (all if empty), by name.
pub fn search(conn: &Connection, community: CommunityId, query: &str, limit: u32) -> DbResult<Vec<Group>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM groups WHERE community_id = ?1
           AND (?2 = '' OR name LIKE ?3 ESCAPE '\\' OR nickname LIKE ?3 ESCAPE '\\')
         ORDER BY name COLLATE NOCASE, id LIMIT ?4"
    ))?;
    let rows = stmt
        .query_map(params![community.0, query.trim(), like_pattern(query.trim()), limit], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The members of a group with their roles, admins first.
pub fn members(conn: &Connection, group: GroupId) -> DbResult<Vec<(User, GroupRole)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, u.community_id, u.email, u.nickname, u.name, u.bio, u.role, u.created_at, m.role
         FROM group_members m JOIN users u ON u.id = m.user_id
         WHERE m.group_id = ?1 ORDER BY m.role = 'member', u.name COLLATE NOCASE",
    )?;
    let rows = stmt
        .query_map([group.0], |row| {
            let role: String = row.get(8)?;
            let role = if role == "admin" { GroupRole::Admin } else { GroupRole::Member };
            Ok((users::from_row(row)?, role))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The admins of a group.
pub fn admins(conn: &Connection, group: GroupId) -> DbResult<Vec<UserId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id FROM group_members WHERE group_id = ?1 AND role = 'admin' ORDER BY user_id",
    )?;
    let rows = stmt.query_map([group.0], |r| Ok(UserId(r.get(0)?)))?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The groups of `community` where `user` is an admin.
pub fn administered_by(conn: &Connection, community: CommunityId, user: UserId) -> DbResult<Vec<Group>> {
    let mut stmt = conn.prepare_cached(
        "SELECT g.id, g.community_id, g.nickname, g.name, g.description
         FROM group_members m JOIN groups g ON g.id = m.group_id
         WHERE m.user_id = ?1 AND m.role = 'admin' AND g.community_id = ?2 ORDER BY g.name",
    )?;
    let rows = stmt.query_map(params![user.0, community.0], from_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The ids of the groups `user` belongs to (any role).
pub fn ids_of_member(conn: &Connection, user: UserId) -> DbResult<Vec<GroupId>> {
    let mut stmt = conn.prepare_cached("SELECT group_id FROM group_members WHERE user_id = ?1")?;
    let rows = stmt.query_map([user.0], |r| Ok(GroupId(r.get(0)?)))?.collect::<Result<_, _>>()?;
    Ok(rows)
}
