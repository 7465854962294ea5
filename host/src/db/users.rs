//! Members: accounts that belong to one community.

use super::sql::{Conn, Dialect, Row};
use super::{DbResult, like_pattern};
use plugin_api::{CommunityId, Timestamp, UserId};
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

/// A member by id.
const BY_ID: &str = "SELECT id, community_id, email, nickname, name, bio, role, created_at
                     FROM users WHERE community_id = ?1 AND id = ?2";

/// Members whose name or nickname contains ?2 (`?3` is its `LIKE` pattern; SQLite's `LIKE`
/// ignores ASCII case, PostgreSQL's `ILIKE` any case).
const SEARCH: Dialect = Dialect {
    sqlite: "SELECT id, community_id, email, nickname, name, bio, role, created_at
             FROM users WHERE community_id = ?1
               AND (?2 = '' OR name LIKE ?3 ESCAPE '\\' OR nickname LIKE ?3 ESCAPE '\\')
             ORDER BY name COLLATE nocase, id LIMIT ?4 OFFSET ?5",
    postgres: "SELECT id, community_id, email, nickname, name, bio, role, created_at
               FROM users WHERE community_id = ?1
                 AND (?2 = '' OR name ILIKE ?3 ESCAPE '\\' OR nickname ILIKE ?3 ESCAPE '\\')
               ORDER BY name COLLATE nocase, id LIMIT ?4 OFFSET ?5",
};

/// How many members [`SEARCH`] finds without a limit.
const COUNT_MATCHING: Dialect = Dialect {
    sqlite: "SELECT count(*) FROM users WHERE community_id = ?1
               AND (?2 = '' OR name LIKE ?3 ESCAPE '\\' OR nickname LIKE ?3 ESCAPE '\\')",
    postgres: "SELECT count(*) FROM users WHERE community_id = ?1
                 AND (?2 = '' OR name ILIKE ?3 ESCAPE '\\' OR nickname ILIKE ?3 ESCAPE '\\')",
};

/// Reads a user from the first eight columns of a row, in the order of `BY_ID`.
pub(crate) fn from_row(row: &Row<'_>) -> DbResult<User> {
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
pub fn create(conn: &Conn, user: &NewUser<'_>, now: Timestamp) -> DbResult<UserId> {
    conn.query_one(
        "INSERT INTO users (community_id, email, nickname, name, bio, password_hash, role, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        &[
            &user.community_id.0,
            &user.email,
            &user.nickname,
            &user.name,
            &user.bio,
            &user.password_hash,
            &user.role.as_str(),
            &now.0,
        ],
        |r| Ok(UserId(r.get(0)?)),
    )
}

/// A member of `community` by id.
pub fn by_id(conn: &Conn, community: CommunityId, id: UserId) -> DbResult<Option<User>> {
    conn.query_opt(BY_ID, &[&community.0, &id.0], from_row)
}

/// Members of `community` by id (unknown ids and other communities' members left out).
pub fn by_ids(conn: &Conn, community: CommunityId, ids: &[UserId]) -> DbResult<Vec<User>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(user) = conn.query_opt(BY_ID, &[&community.0, &id.0], from_row)? {
            out.push(user);
        }
    }
    Ok(out)
}

/// A member of `community` by nickname.
pub fn by_nickname(conn: &Conn, community: CommunityId, nickname: &str) -> DbResult<Option<User>> {
    conn.query_opt(
        "SELECT id, community_id, email, nickname, name, bio, role, created_at
         FROM users WHERE community_id = ?1 AND nickname = ?2",
        &[&community.0, &nickname],
        from_row,
    )
}

/// A member of `community` by email, with the password hash.
pub fn by_email_with_hash(
    conn: &Conn,
    community: CommunityId,
    email: &str,
) -> DbResult<Option<(User, String)>> {
    conn.query_opt(
        "SELECT id, community_id, email, nickname, name, bio, role, created_at, password_hash
         FROM users WHERE community_id = ?1 AND email = ?2 COLLATE nocase",
        &[&community.0, &email.trim()],
        |row| Ok((from_row(row)?, row.get(8)?)),
    )
}

/// Members whose name or nickname contains `query` (all members if empty), by name.
pub fn search(
    conn: &Conn,
    community: CommunityId,
    query: &str,
    limit: u32,
    offset: u32,
) -> DbResult<Vec<User>> {
    conn.query_all(
        SEARCH.text(conn.engine()),
        &[&community.0, &query.trim(), &like_pattern(query.trim()), &limit, &offset],
        from_row,
    )
}

/// How many members `search` would find without a limit.
pub fn count_matching(conn: &Conn, community: CommunityId, query: &str) -> DbResult<u32> {
    conn.query_one(
        COUNT_MATCHING.text(conn.engine()),
        &[&community.0, &query.trim(), &like_pattern(query.trim())],
        |r| r.get(0),
    )
}
