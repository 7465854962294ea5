//! Ability grants: which abilities (feature flags) are on in a community, and for whom.
//! Nothing is granted by default.

use super::DbResult;
use super::sql::Conn;
use super::users::Role;
use plugin_api::{CommunityId, GroupId, Timestamp, UserId};
use std::collections::BTreeSet;
use std::fmt;

/// Who an ability is granted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grantee {
    /// Every member of the community.
    Everyone,
    /// Members with this role (`admin`, or `member`, which is every member).
    Role(Role),
    /// Members of this group (admins and plain members).
    Group(GroupId),
    /// One member.
    User(UserId),
}

impl Grantee {
    fn columns(self) -> (&'static str, String) {
        match self {
            Grantee::Everyone => ("everyone", String::new()),
            Grantee::Role(role) => ("role", role.as_str().to_owned()),
            Grantee::Group(id) => ("group", id.0.to_string()),
            Grantee::User(id) => ("user", id.0.to_string()),
        }
    }

    fn from_columns(kind: &str, value: &str) -> Option<Grantee> {
        match kind {
            "everyone" => Some(Grantee::Everyone),
            "role" => Role::parse(value).map(Grantee::Role),
            "group" => value.parse().ok().map(|id| Grantee::Group(GroupId(id))),
            "user" => value.parse().ok().map(|id| Grantee::User(UserId(id))),
            _ => None,
        }
    }
}

impl fmt::Display for Grantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grantee::Everyone => f.write_str("everyone"),
            Grantee::Role(role) => write!(f, "role:{}", role.as_str()),
            Grantee::Group(id) => write!(f, "group:{id}"),
            Grantee::User(id) => write!(f, "user:{id}"),
        }
    }
}

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The ability.
    pub ability: String,
    /// To whom.
    pub grantee: Grantee,
}

/// Grants `ability` to `grantee`; returns false if it was already granted.
pub fn grant(
    conn: &Conn,
    community: CommunityId,
    ability: &str,
    grantee: Grantee,
    now: Timestamp,
) -> DbResult<bool> {
    let (kind, value) = grantee.columns();
    let changed = conn.execute(
        "INSERT INTO ability_grants (community_id, ability, grantee_kind, grantee, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        &[&community.0, &ability, &kind, &value, &now.0],
    )?;
    Ok(changed > 0)
}

/// Revokes one grant; returns false if there was none.
pub fn revoke(conn: &Conn, community: CommunityId, ability: &str, grantee: Grantee) -> DbResult<bool> {
    let (kind, value) = grantee.columns();
    let changed = conn.execute(
        "DELETE FROM ability_grants WHERE community_id = ?1 AND ability = ?2 AND grantee_kind = ?3 AND grantee = ?4",
        &[&community.0, &ability, &kind, &value],
    )?;
    Ok(changed > 0)
}

/// Every grant in `community`, by ability.
pub fn list(conn: &Conn, community: CommunityId) -> DbResult<Vec<Grant>> {
    let rows = conn.query_all(
        "SELECT ability, grantee_kind, grantee FROM ability_grants WHERE community_id = ?1 ORDER BY ability, id",
        &[&community.0],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<String>(2)?)),
    )?;
    let mut out = Vec::new();
    for (ability, kind, value) in rows {
        if let Some(grantee) = Grantee::from_columns(&kind, &value) {
            out.push(Grant { ability, grantee });
        }
    }
    Ok(out)
}

/// The abilities `user` (with `role`) has in `community`.
pub fn of_member(
    conn: &Conn,
    community: CommunityId,
    user: UserId,
    role: Role,
) -> DbResult<BTreeSet<String>> {
    let rows = conn.query_all(
        "SELECT DISTINCT ability FROM ability_grants WHERE community_id = ?1 AND (
             grantee_kind = 'everyone'
          OR (grantee_kind = 'role' AND (grantee = 'member' OR grantee = ?3))
          OR (grantee_kind = 'user' AND grantee = ?4)
          OR (grantee_kind = 'group' AND grantee IN
                (SELECT CAST(group_id AS TEXT) FROM group_members WHERE user_id = ?2)))",
        &[&community.0, &user.0, &role.as_str(), &user.0.to_string()],
        |r| r.get(0),
    )?;
    Ok(rows.into_iter().collect())
}

/// Whether `ability` is granted to anyone in `community`.
pub fn is_on(conn: &Conn, community: CommunityId, ability: &str) -> DbResult<bool> {
    conn.query_one(
        "SELECT EXISTS (SELECT 1 FROM ability_grants WHERE community_id = ?1 AND ability = ?2)",
        &[&community.0, &ability],
        |r| r.get(0),
    )
}
