//! Who can be reached: the refusals that keep members out of a conversation (blocks, the
//! "accept direct messages" preference, members who may not use Conversations here), and
//! telling the others about a change (live updates, in-app notifications), to nobody who
//! may not use Conversations or who blocked the sender.

use crate::call::host_error;
use crate::directory::{self, Names};
use crate::rules::ParticipantState;
use crate::store::{self, Participant};
use plugin_api::guest::host;
use plugin_api::{ActorRef, PluginError, UserId};

/// Why these people cannot be in one conversation with the viewer, naming whom: a block
/// between any two of them, the viewer included (in a conversation of any size), or a
/// member who does not accept direct messages. Blocks and the preference read alike, so
/// nobody learns that they were blocked.
pub fn contact_refusal(
    me: UserId,
    others: &[ActorRef],
    names: &Names,
) -> Result<Option<String>, PluginError> {
    let users: Vec<UserId> =
        others.iter().filter_map(|a| if let ActorRef::User(u) = a { Some(*u) } else { None }).collect();
    let mut everyone = users.clone();
    everyone.push(me);
    let name = |u: UserId| names.name(ActorRef::User(u));
    if let Some((blocker, blocked)) = store::blocks_among(&everyone).map_err(host_error)?.first().copied() {
        return Ok(Some(if blocker == me {
            format!("You blocked {}; unblock them to write to them.", name(blocked))
        } else {
            directory::refuses_direct(&name(blocker))
        }));
    }
    if users.is_empty() {
        return Ok(None);
    }
    let prefs =
        host::preferences(users.clone(), vec!["accept_direct_messages".into()]).map_err(host_error)?;
    let refusing =
        users.iter().find(|u| prefs.get(u).and_then(|p| p.get("accept_direct_messages")) == Some(&false));
    Ok(refusing.map(|u| directory::refuses_direct(&name(*u))))
}

/// Why one of `others` cannot be in a conversation here at all, naming them: a member who
/// may not use Conversations in this community, or a group none of whose admins may.
pub fn unusable(others: &[ActorRef], names: &Names) -> Result<Option<String>, PluginError> {
    let users: Vec<UserId> =
        others.iter().filter_map(|a| if let ActorRef::User(u) = a { Some(*u) } else { None }).collect();
    let able = directory::users_who_use(&users)?;
    if let Some(u) = users.iter().find(|u| !able.contains(u)) {
        return Ok(Some(directory::does_not_use(&names.name(ActorRef::User(*u)))));
    }
    let groups: Vec<plugin_api::GroupId> =
        others.iter().filter_map(|a| if let ActorRef::Group(g) = a { Some(*g) } else { None }).collect();
    let in_use = directory::groups_in_use(&groups)?;
    Ok(groups
        .iter()
        .find(|g| !in_use.contains(g))
        .map(|g| directory::does_not_use(&names.name(ActorRef::Group(*g)))))
}

/// The members who read the conversation for these participants: the member, or a
/// group's admins. Sorted, without duplicates.
pub fn members_of<'a>(parts: impl Iterator<Item = &'a Participant>) -> Result<Vec<UserId>, PluginError> {
    let mut users = Vec::new();
    for p in parts {
        match p.actor {
            ActorRef::User(u) => users.push(u),
            ActorRef::Group(g) => users.extend(directory::group_admins(g)?),
        }
    }
    users.sort();
    users.dedup();
    Ok(users)
}

/// Whether a participant is in the conversation (active, or invited and not yet answered).
pub fn is_in(p: &Participant) -> bool {
    matches!(p.state, ParticipantState::Active | ParticipantState::Invited)
}

/// Tells everyone who reads conversation `id` (its active and invited participants, the
/// acting member included) that it changed: their open pages refresh the conversation,
/// their inbox and their header badges.
pub fn publish_change(parts: &[Participant], id: i64) -> Result<(), PluginError> {
    let readers = members_of(parts.iter().filter(|p| is_in(p)))?;
    host::publish(readers, vec![format!("conversation/{id}")]).map_err(host_error)
}

/// Tells the other participants (the admins, for a group) in the portal that `author`
/// (acting as `sender`) did something, as their preferences allow, and refreshes every
/// reader's open pages.
pub fn notify_others(
    parts: &[Participant],
    sender: ActorRef,
    author: UserId,
    text: &str,
    id: i64,
) -> Result<(), PluginError> {
    publish_change(parts, id)?;
    let me = author;
    let mut users = members_of(parts.iter().filter(|p| p.actor != sender && !p.muted && is_in(p)))?;
    users.retain(|u| *u != me);
    // Nobody who may not use Conversations here, and nobody who blocked the sender, is told.
    let able = directory::users_who_use(&users)?;
    let mut everyone = users.clone();
    everyone.push(me);
    let blockers: Vec<UserId> = store::blocks_among(&everyone)
        .map_err(host_error)?
        .into_iter()
        .filter(|(_, blocked)| *blocked == me)
        .map(|(blocker, _)| blocker)
        .collect();
    users.retain(|u| able.contains(u) && !blockers.contains(u));
    if users.is_empty() {
        return Ok(());
    }
    let prefs = host::preferences(users.clone(), vec!["in_app_notifications".into()]).map_err(host_error)?;
    for user in users {
        if prefs.get(&user).and_then(|p| p.get("in_app_notifications")) != Some(&false) {
            host::notify(user, text, &format!("/conversations/{id}")).map_err(host_error)?;
        }
    }
    Ok(())
}

/// Tells one member something in the portal (linking to `link`), if they may use
/// Conversations here and did not turn in-app notifications off.
pub fn notify_member(user: UserId, text: &str, link: &str) -> Result<(), PluginError> {
    if directory::users_who_use(&[user])?.is_empty() {
        return Ok(());
    }
    let prefs = host::preferences(vec![user], vec!["in_app_notifications".into()]).map_err(host_error)?;
    if prefs.get(&user).and_then(|p| p.get("in_app_notifications")) == Some(&false) {
        return Ok(());
    }
    host::notify(user, text, link).map_err(host_error)
}
