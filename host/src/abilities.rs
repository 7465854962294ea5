//! Granting and revoking abilities: the one code path behind `portal abilities ...` and the
//! community admin page. A grantee is written `everyone`, `role:admin`, `role:member`,
//! `group:<nickname>` or `user:<nickname or email>`.

use crate::db::Conn as Connection;
use crate::db::abilities::{self, Grant, Grantee};
use crate::db::communities::Community;
use crate::db::users::Role;
use crate::db::{self, DbError};
use plugin_api::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Why a grant or revoke was refused.
#[derive(Debug, thiserror::Error)]
pub enum AbilityError {
    /// No loaded plugin declares the ability.
    #[error("no plugin declares the ability `{ability}`; known abilities: {known}")]
    UnknownAbility {
        /// The ability asked for.
        ability: String,
        /// The declared ones.
        known: String,
    },
    /// The grantee is not understood or does not exist.
    #[error("{0}")]
    Grantee(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Resolves a grantee written as text, in `community`.
pub fn parse_grantee(conn: &Connection, community: &Community, text: &str) -> Result<Grantee, AbilityError> {
    let text = text.trim();
    let expected = "expected everyone, role:admin, role:member, group:<nickname> or user:<nickname or email>";
    match text.split_once(':') {
        None if text == "everyone" => Ok(Grantee::Everyone),
        Some(("role", role)) => Role::parse(role.trim()).map(Grantee::Role).ok_or_else(|| {
            AbilityError::Grantee(format!("`{role}` is not a role; expected admin or member"))
        }),
        Some(("group", nick)) => db::groups::by_nickname(conn, community.id, nick.trim())?
            .map(|g| Grantee::Group(g.id))
            .ok_or_else(|| {
                AbilityError::Grantee(format!("no group `{}` in {}", nick.trim(), community.name))
            }),
        Some(("user", who)) => {
            let who = who.trim();
            let user = match db::users::by_nickname(conn, community.id, who)? {
                Some(user) => Some(user),
                None => db::users::by_email_with_hash(conn, community.id, who)?.map(|(u, _)| u),
            };
            user.map(|u| Grantee::User(u.id))
                .ok_or_else(|| AbilityError::Grantee(format!("no member `{who}` in {}", community.name)))
        }
        _ => Err(AbilityError::Grantee(format!("`{text}`: {expected}"))),
    }
}

/// How a grantee is shown to operators (names instead of ids).
pub fn describe_grantee(conn: &Connection, community: &Community, grantee: Grantee) -> String {
    match grantee {
        Grantee::Everyone => "everyone".into(),
        Grantee::Role(role) => format!("role:{}", role.as_str()),
        Grantee::Group(id) => match db::groups::by_id(conn, community.id, id) {
            Ok(Some(g)) => format!("group:{}", g.nickname),
            _ => format!("group #{id}"),
        },
        Grantee::User(id) => match db::users::by_id(conn, community.id, id) {
            Ok(Some(u)) => format!("user:{}", u.nickname),
            _ => format!("user #{id}"),
        },
    }
}

fn check_known(known: &BTreeSet<String>, ability: &str) -> Result<(), AbilityError> {
    if known.contains(ability) {
        Ok(())
    } else {
        Err(AbilityError::UnknownAbility {
            ability: ability.to_owned(),
            known: known.iter().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}

/// Grants `ability` to `grantee`; returns false if it was already granted.
pub fn grant(
    conn: &Connection,
    community: &Community,
    known: &BTreeSet<String>,
    ability: &str,
    grantee: &str,
    now: Timestamp,
) -> Result<bool, AbilityError> {
    check_known(known, ability)?;
    let grantee = parse_grantee(conn, community, grantee)?;
    let added = abilities::grant(conn, community.id, ability, grantee, now)?;
    tracing::info!(community = %community.slug, ability, grantee = %grantee, added, "ability granted");
    Ok(added)
}

/// Revokes a grant; returns false if there was none.
pub fn revoke(
    conn: &Connection,
    community: &Community,
    known: &BTreeSet<String>,
    ability: &str,
    grantee: &str,
) -> Result<bool, AbilityError> {
    check_known(known, ability)?;
    let grantee = parse_grantee(conn, community, grantee)?;
    let removed = abilities::revoke(conn, community.id, ability, grantee)?;
    tracing::info!(community = %community.slug, ability, grantee = %grantee, removed, "ability revoked");
    Ok(removed)
}

/// Every grant of `community`, with grantees described.
pub fn list(conn: &Connection, community: &Community) -> Result<Vec<(Grant, String)>, AbilityError> {
    Ok(abilities::list(conn, community.id)?
        .into_iter()
        .map(|g| {
            let shown = describe_grantee(conn, community, g.grantee);
            (g, shown)
        })
        .collect())
}

/// What each ability requires (a manifest's `requires`), by ability name.
pub type Requirements = BTreeMap<String, Vec<String>>;

/// The requirements declared by a set of manifests' abilities.
pub fn requirements<'a>(
    abilities: impl IntoIterator<Item = &'a plugin_api::manifest::AbilitySpec>,
) -> Requirements {
    abilities
        .into_iter()
        .filter(|a| !a.requires.is_empty())
        .map(|a| (a.name.as_str().to_owned(), a.requires.iter().map(|r| r.as_str().to_owned()).collect()))
        .collect()
}

/// The abilities that take effect: the granted ones whose requirements are all granted
/// (and take effect), e.g. `conversations.start` without `conversations.use` has none.
pub fn effective(mut granted: BTreeSet<String>, requires: &Requirements) -> BTreeSet<String> {
    loop {
        let lacking: Vec<String> = granted
            .iter()
            .filter(|a| requires.get(*a).is_some_and(|needs| needs.iter().any(|n| !granted.contains(n))))
            .cloned()
            .collect();
        if lacking.is_empty() {
            return granted;
        }
        for a in lacking {
            granted.remove(&a);
        }
    }
}

/// The requirements of `ability` that nobody in the community has been granted: while
/// any is missing, the grants of `ability` have no effect for anyone (the admin page and
/// `portal abilities list` say so). `granted` holds the abilities granted to anyone there.
pub fn unmet<'r>(requires: &'r Requirements, ability: &str, granted: &BTreeSet<&str>) -> Vec<&'r str> {
    requires
        .get(ability)
        .map(|needs| needs.iter().map(String::as_str).filter(|n| !granted.contains(n)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ability_without_what_it_requires_has_no_effect() {
        let requires: Requirements = [
            ("c.start".to_owned(), vec!["c.use".to_owned()]),
            ("c.groups".to_owned(), vec!["c.use".to_owned()]),
            ("c.deep".to_owned(), vec!["c.start".to_owned()]),
        ]
        .into_iter()
        .collect();
        let set = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<BTreeSet<_>>();
        assert_eq!(effective(set(&["c.start", "c.deep", "other"]), &requires), set(&["other"]));
        assert_eq!(
            effective(set(&["c.use", "c.start", "c.deep"]), &requires),
            set(&["c.use", "c.start", "c.deep"])
        );
        assert_eq!(effective(set(&["c.use", "c.deep"]), &requires), set(&["c.use"]));
    }
}
