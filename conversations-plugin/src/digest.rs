//! The digest job: it sends each
//! opted-in member ONE email per interval about all their conversations with unread
//! messages (their own and those of the groups they administer, the new ones first), only
//! when something arrived that no earlier email covered. Nobody who may not use
//! Conversations in the community is emailed.

use crate::call::host_error;
use crate::directory::{self, Names};
use crate::emails::{opted_in, readers};
use crate::store::{self, Pending};
use plugin_api::guest::host;
use plugin_api::{ActorRef, Context, EmailKind, EmailOptions, PluginError, TemplateData, UserId};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// The preference that allows the digest email.
pub const DIGEST_PREFERENCE: &str = "email_digest";
/// Participants (members or groups) handled per job call.
const ACTORS_PER_CALL: u32 = 20;

/// One call of the digest job: the readers of up to `ACTORS_PER_CALL` participants with
/// something new, each sent ONE email covering their own conversations and those of every
/// group they administer (every unread one, the new ones first), and only when something
/// arrived that no earlier email covered. Returns the summary and whether more remain.
pub fn run(ctx: &Context) -> Result<(String, bool), PluginError> {
    let actors = store::pending_actors(ctx.community.id, ACTORS_PER_CALL).map_err(host_error)?;
    // Everyone who reads for these participants, and (below) for every group they
    // administer: all of a group's readers are emailed in the same call, so covering the
    // group for one of them never hides it from another.
    let mut people: BTreeSet<UserId> = BTreeSet::new();
    for actor in &actors {
        people.extend(readers(*actor)?);
    }
    let mut covered: BTreeSet<ActorRef> = BTreeSet::new();
    let mut todo: Vec<UserId> = people.iter().copied().collect();
    let mut inboxes: BTreeMap<UserId, Vec<ActorRef>> = BTreeMap::new();
    while let Some(person) = todo.pop() {
        if inboxes.contains_key(&person) {
            continue;
        }
        let mut mine = vec![ActorRef::User(person)];
        for group in host::groups_administered_by(person).map_err(host_error)? {
            mine.push(ActorRef::Group(group.id));
            for admin in &group.admins {
                if people.insert(*admin) {
                    todo.push(*admin);
                }
            }
        }
        covered.extend(mine.iter().copied());
        inboxes.insert(person, mine);
    }
    let everyone: Vec<UserId> = people.iter().copied().collect();
    let users = directory::users_who_use(&everyone)?;
    let groups_ok: Vec<UserId> =
        host::members_with_ability(directory::GROUPS, everyone.clone()).map_err(host_error)?;
    let recipients: BTreeSet<UserId> =
        opted_in(&everyone, DIGEST_PREFERENCE)?.into_iter().filter(|u| users.contains(u)).collect();
    let mut emails = 0;
    let mut pending_by_actor: BTreeMap<ActorRef, Vec<Pending>> = BTreeMap::new();
    for actor in &covered {
        pending_by_actor.insert(*actor, store::pending_of(ctx.community.id, *actor).map_err(host_error)?);
    }
    for (person, inbox) in &inboxes {
        if !recipients.contains(person) {
            continue;
        }
        let acts_for_groups = groups_ok.contains(person);
        let readable: Vec<ActorRef> = inbox
            .iter()
            .copied()
            .filter(|actor| acts_for_groups || matches!(actor, ActorRef::User(_)))
            .collect();
        let mut fresh = Vec::new();
        for actor in &readable {
            fresh.extend(entries(ctx, &pending_by_actor[actor], *actor, *person, true)?);
        }
        if fresh.is_empty() {
            continue;
        }
        // Conversations still unread that an earlier email already covered: looked up only
        // for a person who gets an email.
        let mut still = Vec::new();
        for actor in &readable {
            let pending = &pending_by_actor[actor];
            let older: Vec<Pending> = store::unread_of(*actor, 50)
                .map_err(host_error)?
                .into_iter()
                .filter(|u| !pending.iter().any(|p| p.conversation == u.conversation))
                .collect();
            still.extend(entries(ctx, &older, *actor, *person, false)?);
        }
        let count = fresh.len() + still.len();
        let subject = format!(
            "{count} conversation{} with unread messages in {}",
            if count == 1 { "" } else { "s" },
            ctx.community.name
        );
        let mut conversations = fresh;
        conversations.extend(still);
        // A digest about one conversation joins that conversation's thread.
        let thread = match conversations.as_slice() {
            [only] => only["conversation"].as_i64().map(|c| format!("conversation/{c}")),
            _ => None,
        };
        let options =
            EmailOptions { preference: Some(DIGEST_PREFERENCE.into()), kind: EmailKind::Bulk, thread };
        let data = json!({ "count": count, "conversations": conversations });
        host::send_email_with(*person, &subject, "digest", TemplateData(data), options)
            .map_err(host_error)?;
        emails += 1;
    }
    for (actor, pending) in &pending_by_actor {
        for p in pending {
            store::mark_digested(p.conversation, *actor, p.last_message_id).map_err(host_error)?;
        }
    }
    let more = actors.len() as u32 == ACTORS_PER_CALL;
    Ok((format!("{emails} digest email(s) for {} participant(s)", covered.len()), more))
}

/// The digest's lines for `reader` about `actor`'s conversations in `pending`: those with
/// messages (from members `reader` did not block) after what they read and, when `fresh`,
/// after what an email already covered.
fn entries(
    ctx: &Context,
    pending: &[Pending],
    actor: ActorRef,
    reader: UserId,
    fresh: bool,
) -> Result<Vec<serde_json::Value>, PluginError> {
    let mut out = Vec::new();
    for p in pending {
        let after = if fresh { p.last_read.max(p.digested) } else { p.last_read };
        let (count, senders) = store::new_messages(p.conversation, after, reader).map_err(host_error)?;
        if count == 0 {
            continue;
        }
        let parts = store::participants(ctx.community.id, p.conversation).map_err(host_error)?;
        let others: Vec<ActorRef> = parts.iter().map(|p| p.actor).filter(|a| *a != actor).collect();
        let sender_actors: Vec<ActorRef> = senders.iter().map(|u| ActorRef::User(*u)).collect();
        let mut all = others.clone();
        all.extend(&sender_actors);
        let names = Names::load(&all)?;
        let last = store::last_visible(p.conversation).map_err(host_error)?;
        out.push(json!({
            "title": names.list(&others),
            "senders": names.list(&sender_actors),
            "conversation": p.conversation,
            "new_messages": count,
            "new": fresh,
            "group": match actor { ActorRef::Group(_) => Some(names_group(actor)?), ActorRef::User(_) => None },
            "preview": last.map(|m| crate::rules::preview(&m.body)).unwrap_or_default(),
            "link": format!("/conversations/{}{}", p.conversation, match actor { ActorRef::Group(g) => format!("?as=group:{g}"), ActorRef::User(_) => String::new() }),
        }));
    }
    Ok(out)
}

/// A group's name, for the digest line of a group conversation.
fn names_group(actor: ActorRef) -> Result<String, PluginError> {
    Ok(Names::load(&[actor])?.name(actor))
}
