//! Members: accounts that belong to one community.

use super::{DbResult, like_pattern};
use plugin_api::{CommunityId, Timestamp, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

/// A member's role in their community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A member.
    Member,
    /// A community administrator.
    Admin,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }
    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// The community it belongs to.
    pub community_id: CommunityId,
    /// Sign-in email.
    pub email: String,
    /// Unique handle in the community.
    pub nickname: String,
    /// Display name.
    pub name: String,
    /// About text.
    pub bio: String,
    /// Member or admin.
    pub role: Role,
    /// When the account was made (the member joined the community).
    pub joined: Timestamp,
}

impl User {
    /// Up to two initials of the name, for the avatar.
    pub fn initials(&self) -> String {
        initials(&self.name)
    }
}

/// Up to two initials of a name ("Ada Lovelace" -> "AL").
pub fn initials(name: &str) -> String {
    name.split_whitespace().filter_map(|w| w.chars().next()).take(2).flat_map(char::to_uppercase).collect()
}

const COLUMNS: &str = "id, community_id, email, nickname, name, bio, role, created_at";

/// Reads a user from the first eight columns of a row, in the order of `COLUMNS`.
pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get(6)?;
    Ok(User {
        id: UserId(row.get(0)?),
        community_id: CommunityId(row.get(1)?),
        email: row.get(2)?,
        nickname: row.get(3)?,
        name: row.get(4)?,
        bio: row.get(5)?,
        role: Role::parse(&role).unwrap_or(Role::Member),
        joined: Timestamp(row.get(7)?),
    })
}

/// A member to create.
pub struct NewUser<'a> {
    /// The community.
    pub community_id: CommunityId,
    /// Sign-in email.
    pub email: &'a str,
    /// Unique handle.
    pub nickname: &'a str,
    /// Display name.
    pub name: &'a str,
    /// About text.
    pub bio: &'a str,
    /// An argon2 PHC string.
    pub password_hash: &'a str,
    /// Member or admin.
    pub role: Role,
}

/// Creates a member.
pub fn create(conn: &Connection, user: &NewUser<'_>, now: Timestamp) -> DbResult<UserId> {
    conn.execute(
        "INSERT INTO users (community_id, email, nickname, name, bio, password_hash, role, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            user.community_id.0,
            user.email,
            user.nickname,
            user.name,
            user.bio,
            user.password_hash,
            user.role.as_str(),
            now.0
        ],
    )?;
    Ok(UserId(conn.last_insert_rowid()))
}

/// A member of `community` by id.
pub fn by_id(conn: &Connection, community: CommunityId, id: UserId) -> DbResult<Option<User>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE community_id = ?1 AND id = ?2"))?
        .query_row(params![community.0, id.0], from_row)
        .optional()?)
}

/// Members of `community` by id (unknown ids and other communities' members left out).
pub fn by_ids(conn: &Connection, community: CommunityId, ids: &[UserId]) -> DbResult<Vec<User>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE community_id = ?1 AND id = ?2"))?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(user) = stmt.query_row(params![community.0, id.0], from_row).optional()? {
            out.push(user);
        }
    }
    Ok(out)
}

/// A member of `community` by nickname.
pub fn by_nickname(conn: &Connection, community: CommunityId, nickname: &str) -> DbResult<Option<User>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE community_id = ?1 AND nickname = ?2"))?
        .query_row(params![community.0, nickname], from_row)
        .optional()?)
}

/// A member of `community` by email, with the password hash.
pub fn by_email_with_hash(
    conn: &Connection,
    community: CommunityId,
    email: &str,
) -> DbResult<Option<(User, String)>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, password_hash FROM users WHERE community_id = ?1 AND email = ?2 COLLATE NOCASE"
        ))?
        .query_row(params![community.0, email.trim()], |row| Ok((from_row(row)?, row.get(8)?)))
        .optional()?)
}

/// Members whose name or nickname contains `query` (all members if empty), by name.
pub fn search(
    conn: &Connection,
    community: CommunityId,
    query: &str,
    limit: u32,
    offset: u32,
) -> DbResult<Vec<User>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM users WHERE community_id = ?1
           AND (?2 = '' OR name LIKE ?3 ESCAPE '\\' OR nickname LIKE ?3 ESCAPE '\\')
         ORDER BY name COLLATE NOCASE, id LIMIT ?4 OFFSET ?5"
    ))?;
    let rows = stmt
        .query_map(params![community.0, query.trim(), like_pattern(query.trim()), limit, offset], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// How many members `search` would find without a limit.
pub fn count_matching(conn: &Connection, community: CommunityId, query: &str) -> DbResult<u32> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM users WHERE community_id = ?1
               AND (?2 = '' OR name LIKE ?3 ESCAPE '\\' OR nickname LIKE ?3 ESCAPE '\\')",
        )?
        .query_row(params![community.0, query.trim(), like_pattern(query.trim())], |r| r.get(0))?)
}
