//! # The Conversations plugin's API for other plugins
//!
//! What another plugin may rely on: the names and payloads of the events Conversations
//! emits, the subject of its check point, and the slots it offers. Depend on this crate
//! (it has no code of Conversations itself) and decode with
//! [`plugin_api::Delivery::payload_as`] and `serde_json::from_value`.
//!
//! | kind | name | payload / subject |
//! |---|---|---|
//! | event | [`CONVERSATION_STARTED`] | [`ConversationStarted`] |
//! | event | [`MESSAGE_POSTED`] | [`MessagePosted`] |
//! | event | [`INVITATION_ACCEPTED`] | [`InvitationAnswered`] |
//! | event | [`INVITATION_DECLINED`] | [`InvitationAnswered`] |
//! | event | [`PARTICIPANT_LEFT`] | [`ParticipantLeft`] |
//! | check point | [`CHECK_MESSAGE`] | [`MessageCheck`] |
//! | slot | [`MESSAGE_ACTIONS`] | parameters `{conversation}`, `{message}` |
//! | slot | [`REPLY_NOTICES`] | parameter `{conversation}` |
//!
//! Every id is the community's own: a plugin gets events only from the community it runs
//! in (the delivery's context).

use plugin_api::{ActorRef, CheckId, GroupId, UserId};
use serde::{Deserialize, Serialize};

/// A conversation was started (its first message is announced by [`MESSAGE_POSTED`]).
/// Emitted when it reaches the other participants: with its first message when that is
/// delivered at once, or when a held first message is released (never for a conversation
/// whose messages are all held or rejected; never again when the same people write again).
pub const CONVERSATION_STARTED: &str = "conversations.conversation_started";
/// A message became visible to the conversation's participants: when it was sent, or when
/// every plugin that held it released it. A released message is delivered as if it was
/// sent at the release: at the end of the conversation, with the id (and time) it is
/// delivered with; its check id stays the same.
pub const MESSAGE_POSTED: &str = "conversations.message_posted";
/// A participant accepted an invitation.
pub const INVITATION_ACCEPTED: &str = "conversations.invitation_accepted";
/// A participant declined an invitation.
pub const INVITATION_DECLINED: &str = "conversations.invitation_declined";
/// A participant left a conversation.
pub const PARTICIPANT_LEFT: &str = "conversations.participant_left";

/// The check point "check a message before it is stored": every implementer is asked,
/// inside the sending call's transaction, with a [`MessageCheck`]. A refusal is shown to
/// the author, who keeps the typed text; a hold stores the message but delivers it to
/// nobody (and notifies nobody) until released. A rejection, later, takes a delivered
/// message down. Implementers that fail or run out of time allow the message (fail open).
pub const CHECK_MESSAGE: &str = "conversations.check_message";

/// A slot after each delivered message of someone else on a conversation page: actions on
/// that message (e.g. "Report"; not on the viewer's own messages, nor on held or removed
/// ones). Links may use `{conversation}` and `{message}`.
pub const MESSAGE_ACTIONS: &str = "conversations.message_actions";

/// A slot above a conversation's reply form: notices (e.g. a community's rules). Links
/// may use `{conversation}`.
pub const REPLY_NOTICES: &str = "conversations.reply_notices";

/// Payload of [`CONVERSATION_STARTED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationStarted {
    /// The conversation.
    pub conversation: i64,
    /// Who started it: the member, or the group they acted for.
    pub starter: ActorRef,
    /// The member who pressed Send.
    pub author: UserId,
    /// Everyone in it, the starter included.
    pub participants: Vec<ActorRef>,
}

/// Payload of [`MESSAGE_POSTED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePosted {
    /// The conversation.
    pub conversation: i64,
    /// The message.
    pub message: i64,
    /// The member who wrote it.
    pub author: UserId,
    /// The group the author wrote for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_for: Option<GroupId>,
    /// The text (plain, 1 to the community's `max_message_length` characters).
    pub text: String,
    /// The members who can read it now (members taking part, and the admins of groups
    /// taking part).
    pub readers: Vec<UserId>,
    /// The check the message passed ([`CHECK_MESSAGE`]), when one ran: an implementer may
    /// reject it later by this id to take the message down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckId>,
}

/// Payload of [`INVITATION_ACCEPTED`] and [`INVITATION_DECLINED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationAnswered {
    /// The conversation.
    pub conversation: i64,
    /// The participant invited: the member, or the group.
    pub participant: ActorRef,
    /// The member who answered.
    pub by: UserId,
}

/// Payload of [`PARTICIPANT_LEFT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantLeft {
    /// The conversation.
    pub conversation: i64,
    /// The participant who left: the member, or the group.
    pub participant: ActorRef,
    /// The member who left (for a group: one of its admins).
    pub by: UserId,
}

/// Subject of [`CHECK_MESSAGE`]: a message about to be stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCheck {
    /// The conversation, or `None` for the first message of a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<i64>,
    /// The member who wrote it.
    pub author: UserId,
    /// The group the author writes for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_for: Option<GroupId>,
    /// Everyone who would read it, as participants (members and groups), the author's
    /// side included.
    pub participants: Vec<ActorRef>,
    /// The text, trimmed.
    pub text: String,
}
