//! Emails: the invitation email sent at once, and the digest job that sends each
//! opted-in participant ONE email about all their conversations with unread messages
//! that no earlier email covered. Group conversations go to the group's admins.

use crate::directory::{self, Names};
use crate::pages::host_error;
use crate::store::{self, Pending};
use plugin_api::guest::host;
use plugin_api::{ActorRef, Context, EmailKind, EmailOptions, PluginError, TemplateData, UserId};
use serde_json::json;

/// The preference that allows the invitation email.
pub const INVITATIONS_PREFERENCE: &str = "email_invitations";
/// The preference that allows the digest email.
pub const DIGEST_PREFERENCE: &str = "email_digest";
/// Participants (members or groups) handled per job call.
const ACTORS_PER_CALL: u32 = 20;

/// The members who read for `actor`: the member, or a group's admins.
fn readers(actor: ActorRef) -> Result<Vec<UserId>, PluginError> {
    match actor {
        ActorRef::User(u) => Ok(vec![u]),
        ActorRef::Group(g) => directory::group_admins(g),
    }
}

/// Which of `users` allow the emails that `preference` governs.
fn opted_in(users: &[UserId], preference: &str) -> Result<Vec<UserId>, PluginError> {
    let prefs = host::preferences(users.to_vec(), vec![preference.into()]).map_err(host_error)?;
    Ok(users
        .iter()
        .copied()
        .filter(|u| prefs.get(u).and_then(|p| p.get(preference)) != Some(&false))
        .collect())
}

/// Emails the other participants of a new conversation about its first message, and marks
/// that message as emailed for them so the digest does not repeat it.
pub fn invitation_emails(
    ctx: &Context,
    conversation: i64,
    others: &[ActorRef],
    message: i64,
    body: &str,
    invited: bool,
) -> Result<(), PluginError> {
    let from = ctx.viewer.as_ref().map(|v| v.name.clone()).unwrap_or_default();
    let me = ctx.viewer.as_ref().map(|v| v.id);
    for actor in others {
        let users: Vec<UserId> = readers(*actor)?.into_iter().filter(|u| Some(*u) != me).collect();
        for user in opted_in(&users, INVITATIONS_PREFERENCE)? {
            let subject = if invited {
                format!("{from} invited you to a conversation")
            } else {
                format!("{from} wrote to you")
            };
            let data = json!({
                "from": from,
                "invited": invited,
                "preview": directory::preview(body),
                "link": format!("/conversations/{conversation}"),
            });
            let options = EmailOptions {
                preference: Some(INVITATIONS_PREFERENCE.into()),
                kind: EmailKind::Notification,
                thread: Some(format!("conversation/{conversation}")),
            };
            host::send_email_with(user, &subject, "invitation", TemplateData(data), options)
                .map_err(host_error)?;
        }
        store::mark_digested(conversation, *actor, message).map_err(host_error)?;
    }
    Ok(())
}

/// One call of the digest job: up to `ACTORS_PER_CALL` participants with something new.
/// Returns the summary and whether more remain.
pub fn run(ctx: &Context) -> Result<(String, bool), PluginError> {
    let actors = store::pending_actors(ctx.community.id, ACTORS_PER_CALL).map_err(host_error)?;
    let mut emails = 0;
    for actor in &actors {
        let pending = store::pending_of(ctx.community.id, *actor).map_err(host_error)?;
        let readers = readers(*actor)?;
        let recipients = opted_in(&readers, DIGEST_PREFERENCE)?;
        if !recipients.is_empty() {
            for user in &recipients {
                let entries = entries(ctx, &pending, *actor, *user)?;
                if entries.is_empty() {
                    continue;
                }
                let subject = format!(
                    "{} conversation{} with unread messages in {}",
                    entries.len(),
                    if entries.len() == 1 { "" } else { "s" },
                    ctx.community.name
                );
                // A digest about one conversation joins that conversation's thread.
                let thread = match entries.as_slice() {
                    [only] => only["conversation"].as_i64().map(|c| format!("conversation/{c}")),
                    _ => None,
                };
                let options = EmailOptions {
                    preference: Some(DIGEST_PREFERENCE.into()),
                    kind: EmailKind::Bulk,
                    thread,
                };
                let data = json!({ "count": entries.len(), "conversations": entries });
                host::send_email_with(*user, &subject, "digest", TemplateData(data), options)
                    .map_err(host_error)?;
                emails += 1;
            }
        }
        for p in &pending {
            store::mark_digested(p.conversation, *actor, p.last_message_id).map_err(host_error)?;
        }
    }
    let more = actors.len() as u32 == ACTORS_PER_CALL;
    Ok((format!("{emails} digest email(s) for {} participant(s)", actors.len()), more))
}

fn entries(
    ctx: &Context,
    pending: &[Pending],
    actor: ActorRef,
    reader: UserId,
) -> Result<Vec<serde_json::Value>, PluginError> {
    let mut out = Vec::new();
    for p in pending {
        let after = p.last_read.max(p.digested);
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
        let last = store::messages(p.conversation, None, 1).map_err(host_error)?;
        out.push(json!({
            "conversation": p.conversation,
            "title": names.list(&others),
            "senders": names.list(&sender_actors),
            "new_messages": count,
            "preview": last.first().map(|m| directory::preview(&m.body)).unwrap_or_default(),
            "link": format!("/conversations/{}{}", p.conversation, match actor { ActorRef::Group(g) => format!("?as=group:{g}"), ActorRef::User(_) => String::new() }),
        }));
    }
    Ok(out)
}
