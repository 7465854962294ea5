//! User groups and their members (admins and plain members).

use super::sql::{Conn, Dialect, Row};
use super::users::{self, User};
use super::{DbResult, like_pattern};
use plugin_api::{CommunityId, GroupId, Timestamp, UserId};
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

/// Groups whose name or nickname contains ?2 (`?3` is its `LIKE` pattern).
const SEARCH: Dialect = Dialect {
    sqlite: "SELECT id, community_id, nickname, name, description FROM groups WHERE community_id = ?1
               AND (?2 = '' OR name LIKE ?3 ESCAPE '\\' OR nickname LIKE ?3 ESCAPE '\\')
             ORDER BY name COLLATE nocase, id LIMIT ?4",
    postgres: "SELECT id, community_id, nickname, name, description FROM groups WHERE community_id = ?1
                 AND (?2 = '' OR name ILIKE ?3 ESCAPE '\\' OR nickname ILIKE ?3 ESCAPE '\\')
               ORDER BY name COLLATE nocase, id LIMIT ?4",
};

fn from_row(row: &Row<'_>) -> DbResult<Group> {
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
    conn: &Conn,
    community: CommunityId,
    nickname: &str,
    name: &str,
    description: &str,
    now: Timestamp,
) -> DbResult<GroupId> {
    conn.query_one(
        "INSERT INTO groups (community_id, nickname, name, description, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        &[&community.0, &nickname, &name, &description, &now.0],
        |r| Ok(GroupId(r.get(0)?)),
    )
}

/// Adds (or changes the role of) a member of a group.
pub fn set_member(conn: &Conn, group: GroupId, user: UserId, role: GroupRole) -> DbResult<()> {
    conn.execute(
        "INSERT INTO group_members (group_id, user_id, role) VALUES (?1, ?2, ?3)
         ON CONFLICT (group_id, user_id) DO UPDATE SET role = excluded.role",
        &[&group.0, &user.0, &role.as_str()],
    )?;
    Ok(())
}

/// A group of `community` by id.
pub fn by_id(conn: &Conn, community: CommunityId, id: GroupId) -> DbResult<Option<Group>> {
    conn.query_opt(
        "SELECT id, community_id, nickname, name, description FROM groups WHERE community_id = ?1 AND id = ?2",
        &[&community.0, &id.0],
        from_row,
    )
}

/// A group of `community` by nickname.
pub fn by_nickname(conn: &Conn, community: CommunityId, nickname: &str) -> DbResult<Option<Group>> {
    conn.query_opt(
        "SELECT id, community_id, nickname, name, description FROM groups
         WHERE community_id = ?1 AND nickname = ?2",
        &[&community.0, &nickname],
        from_row,
    )
}

/// Groups of `community` whose name or nickname contains `query` (all if empty), by name.
pub fn search(conn: &Conn, community: CommunityId, query: &str, limit: u32) -> DbResult<Vec<Group>> {
    conn.query_all(
        SEARCH.text(conn.engine()),
        &[&community.0, &query.trim(), &like_pattern(query.trim()), &limit],
        from_row,
    )
}

/// The members of a group with their roles, admins first.
pub fn members(conn: &Conn, group: GroupId) -> DbResult<Vec<(User, GroupRole)>> {
    conn.query_all(
        "SELECT u.id, u.community_id, u.email, u.nickname, u.name, u.bio, u.role, u.created_at, m.role
         FROM group_members m JOIN users u ON u.id = m.user_id
         WHERE m.group_id = ?1 ORDER BY m.role = 'member', u.name COLLATE nocase",
        &[&group.0],
        |row| {
            let role: String = row.get(8)?;
            let role = if role == "admin" { GroupRole::Admin } else { GroupRole::Member };
            Ok((users::from_row(row)?, role))
        },
    )
}

/// The admins of a group.
pub fn admins(conn: &Conn, group: GroupId) -> DbResult<Vec<UserId>> {
    conn.query_all(
        "SELECT user_id FROM group_members WHERE group_id = ?1 AND role = 'admin' ORDER BY user_id",
        &[&group.0],
        |r| Ok(UserId(r.get(0)?)),
    )
}

/// The groups of `community` where `user` is an admin.
pub fn administered_by(conn: &Conn, community: CommunityId, user: UserId) -> DbResult<Vec<Group>> {
    conn.query_all(
        "SELECT g.id, g.community_id, g.nickname, g.name, g.description
         FROM group_members m JOIN groups g ON g.id = m.group_id
         WHERE m.user_id = ?1 AND m.role = 'admin' AND g.community_id = ?2 ORDER BY g.name",
        &[&user.0, &community.0],
        from_row,
    )
}

/// The ids of the groups `user` belongs to (any role).
pub fn ids_of_member(conn: &Conn, user: UserId) -> DbResult<Vec<GroupId>> {
    conn.query_all("SELECT group_id FROM group_members WHERE user_id = ?1", &[&user.0], |r| {
        Ok(GroupId(r.get(0)?))
    })
}
