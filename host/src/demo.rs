//! Demo data: communities, members, groups and ability grants from a TOML file in
//! `fixtures/`, loaded by `portal serve --demo` and by the tests. A community whose slug
//! already exists is left as it is, so loading twice changes nothing.

use crate::abilities;
use crate::db::{self, communities, groups, users};
use crate::portal::Portal;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// The demo file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoFile {
    /// Every demo member's password.
    pub password: String,
    /// The communities.
    pub communities: Vec<DemoCommunity>,
}

/// One community.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoCommunity {
    /// URL slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// One paragraph.
    #[serde(default)]
    pub description: String,
    /// Abilities granted, e.g. `{ ability = "conversations.use", to = "everyone" }`.
    #[serde(default)]
    pub grants: Vec<DemoGrant>,
    /// Members.
    pub members: Vec<DemoMember>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<DemoGroup>,
}

/// One grant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoGrant {
    /// The ability.
    pub ability: String,
    /// The grantee, as `portal abilities grant` takes it.
    pub to: String,
}

/// One member.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoMember {
    /// Handle.
    pub nickname: String,
    /// Display name.
    pub name: String,
    /// Sign-in email.
    pub email: String,
    /// About text.
    #[serde(default)]
    pub bio: String,
    /// A community admin.
    #[serde(default)]
    pub admin: bool,
}

/// One group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoGroup {
    /// Handle.
    pub nickname: String,
    /// Display name.
    pub name: String,
    /// About text.
    #[serde(default)]
    pub description: String,
    /// Nicknames of its admins.
    pub admins: Vec<String>,
    /// Nicknames of its plain members.
    #[serde(default)]
    pub members: Vec<String>,
}

/// Why the demo data could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The file could not be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A reference inside the file is wrong, or a grant is refused.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] db::DbError),
}

/// Reads and parses a demo file.
pub fn read(path: &Path) -> Result<DemoFile, DemoError> {
    let file_error = |message: String| DemoError::File { path: path.display().to_string(), message };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    toml::from_str(&text).map_err(|e| file_error(e.to_string()))
}

/// The demo data of `fixtures/demo.toml`, built into the binary (for `portal plugin run`'s
/// throwaway database, wherever the command runs).
pub fn built_in() -> Result<DemoFile, DemoError> {
    toml::from_str(include_str!("../../fixtures/demo.toml"))
        .map_err(|e| DemoError::File { path: "fixtures/demo.toml (built in)".into(), message: e.to_string() })
}

/// A name or text of the file without NUL characters (nobody types one; PostgreSQL cannot
/// store one in text), as forms arrive ([`crate::web::pairs`]).
fn text(value: &str) -> String {
    value.replace('\0', "")
}

/// Loads the communities of `file` that do not exist yet; returns their slugs.
pub fn load(portal: &Portal, file: &DemoFile) -> Result<Vec<String>, DemoError> {
    let hash = crate::auth::hash_password(&file.password).map_err(DemoError::Invalid)?;
    let known = portal.declared_abilities();
    let now = portal.clock.now();
    let mut created = Vec::new();
    for community in &file.communities {
        let tx = portal.db.write()?;
        if communities::by_slug(&tx, &community.slug)?.is_some() {
            tx.rollback()?;
            continue;
        }
        let id = communities::create(
            &tx,
            &community.slug,
            &text(&community.name),
            &text(&community.description),
            now,
        )?;
        let mut ids = HashMap::new();
        for m in &community.members {
            let user = users::NewUser {
                community_id: id,
                email: &m.email,
                nickname: &m.nickname,
                name: &text(&m.name),
                bio: &text(&m.bio),
                password_hash: &hash,
                role: if m.admin { users::Role::Admin } else { users::Role::Member },
            };
            ids.insert(m.nickname.as_str(), users::create(&tx, &user, now)?);
        }
        for g in &community.groups {
            let group = groups::create(&tx, id, &g.nickname, &text(&g.name), &text(&g.description), now)?;
            let roles = g.admins.iter().map(|n| (n, groups::GroupRole::Admin));
            for (nick, role) in roles.chain(g.members.iter().map(|n| (n, groups::GroupRole::Member))) {
                let user = ids.get(nick.as_str()).ok_or_else(|| {
                    DemoError::Invalid(format!(
                        "group `{}` of `{}` names unknown member `{nick}`",
                        g.nickname, community.slug
                    ))
                })?;
                groups::set_member(&tx, group, *user, role)?;
            }
        }
        let stored =
            communities::by_id(&tx, id)?.ok_or_else(|| DemoError::Invalid("community vanished".into()))?;
        for grant in &community.grants {
            abilities::grant(&tx, &stored, &known, &grant.ability, &grant.to, now)
                .map_err(|e| DemoError::Invalid(format!("{}: {e}", community.slug)))?;
        }
        tx.commit()?;
        created.push(community.slug.clone());
    }
    Ok(created)
}
