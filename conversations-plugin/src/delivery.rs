//! What a delivered message does, the same whether it was delivered when it was sent or
//! when the plugins that held it released it: it reaches the participants the conversation
//! had not reached yet (a new conversation's invitations and emails), tells the others (in
//! the portal, and their open pages), and announces itself to other plugins
//! (`conversation_started`, `message_posted`).

use crate::call::host_error;
use crate::emails;
use crate::events;
use crate::reach::{is_in, members_of, notify_others};
use crate::rules::ParticipantState;
use crate::store;
use conversations_api::{CONVERSATION_STARTED, ConversationStarted, MESSAGE_POSTED, MessagePosted};
use plugin_api::{ActorRef, CheckId, Context, GroupId, PluginError, UserId};

/// A message that was just delivered (stored as visible).
#[derive(Debug, Clone)]
pub struct Delivered<'a> {
    /// Its conversation.
    pub conversation: i64,
    /// Its id.
    pub message: i64,
    /// The member who wrote it.
    pub author: UserId,
    /// The author's display name, for the notifications.
    pub author_name: &'a str,
    /// The participant who sent it: the author, or the group they wrote for.
    pub sender: ActorRef,
    /// The group they wrote for, if any.
    pub group: Option<GroupId>,
    /// The text.
    pub body: &'a str,
    /// The check it passed, if one ran.
    pub check: Option<CheckId>,
}

/// Does everything a delivered message does. A message that reaches participants the
/// conversation had not reached yet (its first delivered message, when sent or when
/// released) invites them (or, without `require_acceptance`, simply puts them in it) and
/// emails them; the first delivered message of a conversation announces it as started.
pub fn announce(ctx: &Context, sent: &Delivered<'_>) -> Result<(), PluginError> {
    let id = sent.conversation;
    let require_acceptance = ctx.community.bool_setting("require_acceptance", true);
    let state = if require_acceptance { ParticipantState::Invited } else { ParticipantState::Active };
    let mut parts = store::participants(ctx.community.id, id).map_err(host_error)?;
    let reached = store::reach_pending(id, &mut parts, state).map_err(host_error)?;
    if !reached.is_empty() {
        emails::invitation_emails(
            id,
            &reached,
            sent.message,
            sent.body,
            require_acceptance,
            sent.author_name,
            sent.author,
        )?;
    }
    let text = match (reached.is_empty(), require_acceptance) {
        (false, true) => format!("{} invited you to a conversation", sent.author_name),
        (false, false) => format!("New conversation from {}", sent.author_name),
        (true, _) => format!("New message from {}", sent.author_name),
    };
    notify_others(&parts, sent.sender, sent.author, &text, id)?;
    if !reached.is_empty() {
        // The first delivered message reaches the participants the conversation had not
        // reached yet: who sent it started the conversation for them (its starter, except
        // when all the starter's messages are held and one of the others writes first).
        events::emit(
            CONVERSATION_STARTED,
            &ConversationStarted {
                conversation: id,
                starter: sent.sender,
                author: sent.author,
                participants: parts.iter().map(|p| p.actor).collect(),
            },
        )?;
    }
    events::emit(
        MESSAGE_POSTED,
        &MessagePosted {
            conversation: id,
            message: sent.message,
            author: sent.author,
            acting_for: sent.group,
            text: sent.body.to_owned(),
            readers: members_of(parts.iter().filter(|p| is_in(p)))?,
            check: sent.check,
        },
    )
}
