//! The invitation email, sent at once to the other participants of a new conversation
//! (as their preference allows), and who reads and may be emailed for a participant.

use crate::call::host_error;
use crate::directory;
use crate::store;
use plugin_api::guest::host;
use plugin_api::{ActorRef, EmailKind, EmailOptions, PluginError, TemplateData, UserId};
use serde_json::json;

/// The preference that allows the invitation email.
pub const INVITATIONS_PREFERENCE: &str = "email_invitations";
/// The members who read for `actor`: the member, or a group's admins.
pub fn readers(actor: ActorRef) -> Result<Vec<UserId>, PluginError> {
    match actor {
        ActorRef::User(u) => Ok(vec![u]),
        ActorRef::Group(g) => directory::group_admins(g),
    }
}

/// Which of `users` allow the emails that `preference` governs.
pub fn opted_in(users: &[UserId], preference: &str) -> Result<Vec<UserId>, PluginError> {
    let prefs = host::preferences(users.to_vec(), vec![preference.into()]).map_err(host_error)?;
    Ok(users
        .iter()
        .copied()
        .filter(|u| prefs.get(u).and_then(|p| p.get(preference)) != Some(&false))
        .collect())
}

/// Emails the other participants of a new conversation about its first delivered message,
/// written by `author` (named `from`), and marks that message as emailed for them so the
/// digest does not repeat it.
pub fn invitation_emails(
    conversation: i64,
    others: &[ActorRef],
    message: i64,
    body: &str,
    invited: bool,
    from: &str,
    author: UserId,
) -> Result<(), PluginError> {
    for actor in others {
        let users: Vec<UserId> = readers(*actor)?.into_iter().filter(|u| *u != author).collect();
        let able = directory::users_who_use(&users)?;
        let users: Vec<UserId> = users.into_iter().filter(|u| able.contains(u)).collect();
        for user in opted_in(&users, INVITATIONS_PREFERENCE)? {
            let subject = if invited {
                format!("{from} invited you to a conversation")
            } else {
                format!("{from} wrote to you")
            };
            let data = json!({
                "from": from,
                "invited": invited,
                "preview": crate::rules::preview(body),
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
