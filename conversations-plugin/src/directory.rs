//! Names and groups from the host's directory: who the participants are, which groups the
//! viewer administers, and short previews of messages.

use crate::call::host_error;
use plugin_api::guest::host;
use plugin_api::{ActorRef, Context, GroupId, GroupInfo, PluginError, UserId};
use std::collections::{BTreeMap, BTreeSet};

/// The reason shown when a member cannot be written to (blocks, or their preference). The
/// same words for both, so nobody learns that they were blocked.
pub const REFUSES_DIRECT: &str = "This participant does not accept direct messages.";

/// The ability to read and reply: nobody without it in a community is offered, added,
/// notified or emailed there.
pub const USE: &str = "conversations.use";
/// The ability to act for groups one administers.
pub const GROUPS: &str = "conversations.groups";

/// [`REFUSES_DIRECT`] with the member's name.
pub fn refuses_direct(name: &str) -> String {
    format!("{name} does not accept direct messages.")
}

/// Why `name` cannot be written to here: they may not use Conversations in this community.
pub fn does_not_use(name: &str) -> String {
    format!("{name} does not use conversations here.")
}

/// Which of `users` may use Conversations in the request's community.
pub fn users_who_use(users: &[UserId]) -> Result<BTreeSet<UserId>, PluginError> {
    if users.is_empty() {
        return Ok(BTreeSet::new());
    }
    Ok(host::members_with_ability(USE, users.to_vec()).map_err(host_error)?.into_iter().collect())
}

/// Which of `groups` have at least one admin who may act for them here.
pub fn groups_in_use(groups: &[GroupId]) -> Result<BTreeSet<GroupId>, PluginError> {
    if groups.is_empty() {
        return Ok(BTreeSet::new());
    }
    let infos = host::groups(groups.to_vec()).map_err(host_error)?;
    let admins: Vec<UserId> = infos.iter().flat_map(|g| g.admins.iter().copied()).collect();
    let able: BTreeSet<UserId> = if admins.is_empty() {
        BTreeSet::new()
    } else {
        host::members_with_ability(GROUPS, admins).map_err(host_error)?.into_iter().collect()
    };
    Ok(infos.iter().filter(|g| g.admins.iter().any(|a| able.contains(a))).map(|g| g.id).collect())
}

/// The groups the viewer administers, if they may act for groups here.
pub fn admin_groups(ctx: &Context) -> Result<Vec<GroupInfo>, PluginError> {
    match &ctx.viewer {
        Some(v) if ctx.can("conversations.groups") => host::groups_administered_by(v.id).map_err(host_error),
        _ => Ok(Vec::new()),
    }
}

/// The admins of a group.
pub fn group_admins(group: GroupId) -> Result<Vec<UserId>, PluginError> {
    Ok(host::groups(vec![group]).map_err(host_error)?.into_iter().flat_map(|g| g.admins).collect())
}

/// Display names and initials of members and groups.
#[derive(Debug, Default)]
pub struct Names {
    names: BTreeMap<ActorRef, (String, String)>,
}

impl Names {
    /// Looks up every actor (unknown ones are left out).
    pub fn load(actors: &[ActorRef]) -> Result<Names, PluginError> {
        let mut users: Vec<UserId> =
            actors.iter().filter_map(|a| if let ActorRef::User(u) = a { Some(*u) } else { None }).collect();
        let mut groups: Vec<GroupId> =
            actors.iter().filter_map(|a| if let ActorRef::Group(g) = a { Some(*g) } else { None }).collect();
        users.sort();
        users.dedup();
        groups.sort();
        groups.dedup();
        let mut names = BTreeMap::new();
        if !users.is_empty() {
            for m in host::members(users).map_err(host_error)? {
                names.insert(ActorRef::User(m.id), (m.name, m.initials));
            }
        }
        if !groups.is_empty() {
            for g in host::groups(groups).map_err(host_error)? {
                let initials = g.name.chars().next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
                names.insert(ActorRef::Group(g.id), (g.name, initials));
            }
        }
        Ok(Names { names })
    }

    /// Whether the actor exists in this community.
    pub fn known(&self, actor: ActorRef) -> bool {
        self.names.contains_key(&actor)
    }

    /// Whether every actor exists.
    pub fn all_known(&self, actors: &[ActorRef]) -> bool {
        actors.iter().all(|a| self.known(*a))
    }

    /// The display name ("a former member" if unknown).
    pub fn name(&self, actor: ActorRef) -> String {
        self.names.get(&actor).map_or_else(|| "a former member".to_owned(), |(n, _)| n.clone())
    }

    /// The avatar initials.
    pub fn initials(&self, actor: ActorRef) -> String {
        self.names.get(&actor).map_or_else(|| "?".to_owned(), |(_, i)| i.clone())
    }

    /// "Ada, Grace and Alan".
    pub fn list(&self, actors: &[ActorRef]) -> String {
        let names: Vec<String> = actors.iter().map(|a| self.name(*a)).collect();
        match names.as_slice() {
            [] => "nobody".to_owned(),
            [one] => one.clone(),
            [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        }
    }
}
