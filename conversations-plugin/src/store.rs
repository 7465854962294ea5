//! All SQL of the plugin, on its own tables (`conversations_*`), through the host's SQL
//! calls: typed rows in, typed rows out. Nothing else in the plugin writes SQL.

use crate::rules::{MessageState, ParticipantState, parse_actor};
use plugin_api::guest::host::{self, Rows};
use plugin_api::{ActorRef, CheckId, CommunityId, GroupId, HostError, SqlValue, Timestamp, UserId};

/// The plugin's read queries, defined once: the functions below run them, and a test
/// (`bench/tests/indexes.rs`) checks with `EXPLAIN QUERY PLAN` that each one uses an index.
pub mod sql {
    /// Used by `store::find_by_key`.
    pub const FIND_BY_KEY: &str =
        "SELECT id FROM conversations_conversation WHERE community_id = ?1 AND participant_key = ?2";
    /// Used by `store::participants`.
    pub const PARTICIPANTS: &str = "SELECT p.actor_kind, p.actor_id, p.state, p.last_read_message_id, p.muted
         FROM conversations_participant p JOIN conversations_conversation c ON c.id = p.conversation_id
         WHERE p.conversation_id = ?1 AND c.community_id = ?2";
    /// Used by `store::messages`: what reader `?4` sees of a conversation: the delivered
    /// messages, the places of removed ones, and their own held and rejected ones.
    pub const MESSAGES: &str = "SELECT id, author_id, on_behalf_of_group, body, created_at, state, reason
         FROM conversations_message
         WHERE conversation_id = ?1 AND id < ?2 AND (state IN ('visible', 'removed') OR author_id = ?4)
         ORDER BY id DESC LIMIT ?3";
    /// Used by `store::last_visible`: the latest delivered message (inbox and digest previews).
    pub const LAST_VISIBLE: &str = "SELECT id, author_id, on_behalf_of_group, body, created_at, state, reason
         FROM conversations_message WHERE conversation_id = ?1 AND state = 'visible' ORDER BY id DESC LIMIT 1";
    /// Used by `store::message_by_check`: the message a check of this community was about.
    pub const MESSAGE_BY_CHECK: &str =
        "SELECT m.id, m.author_id, m.on_behalf_of_group, m.body, m.created_at, m.state, m.reason, m.conversation_id
         FROM conversations_message m JOIN conversations_conversation c ON c.id = m.conversation_id
         WHERE m.check_id = ?1 AND c.community_id = ?2 ORDER BY m.id LIMIT 1";
    /// Used by `store::inbox`.
    pub const INBOX: &str = "SELECT conversation_id, state, last_message_id > last_read_message_id, last_message_at, last_message_id, muted,
                last_read_message_id
         FROM conversations_participant
         WHERE actor_kind = ?1 AND actor_id = ?2 AND state IN ('active', 'invited')
         ORDER BY last_message_at DESC, conversation_id DESC LIMIT ?3 OFFSET ?4";
    /// Used by `store::inbox_size`.
    pub const INBOX_SIZE: &str = "SELECT count(*) FROM conversations_participant WHERE actor_kind = ?1 AND actor_id = ?2 AND state IN ('active', 'invited')";
    /// Used by `store::unread_conversations`.
    pub const UNREAD_CONVERSATIONS: &str = "SELECT count(*) FROM conversations_participant
         WHERE actor_kind = ?1 AND actor_id = ?2 AND state IN ('active', 'invited') AND muted = 0
           AND last_message_id > last_read_message_id";
    /// Used by `store::unread_messages`.
    pub const UNREAD_MESSAGES: &str = "SELECT count(*) FROM conversations_message
         WHERE conversation_id = ?1 AND id > ?2 AND author_id != ?3 AND state = 'visible'";
    /// Used by `store::pending_actors`: participants with messages no email covered yet.
    /// It walks the partial index `conversations_participant_pending`, which holds only
    /// the rows with something new: its cost follows the unread conversations, not all.
    pub const PENDING_ACTORS: &str = "SELECT DISTINCT p.actor_kind, p.actor_id
         FROM conversations_participant p INDEXED BY conversations_participant_pending
         JOIN conversations_conversation c ON c.id = p.conversation_id
         WHERE c.community_id = ?1 AND p.state IN ('active', 'invited') AND p.muted = 0
           AND p.last_message_id > p.last_read_message_id AND p.last_message_id > p.digested_message_id
         LIMIT ?2";
    /// Used by `store::pending_of`.
    pub const PENDING_OF: &str =
        "SELECT p.conversation_id, p.last_read_message_id, p.digested_message_id, p.last_message_id
         FROM conversations_participant p JOIN conversations_conversation c ON c.id = p.conversation_id
         WHERE p.actor_kind = ?1 AND p.actor_id = ?2 AND c.community_id = ?3
           AND p.state IN ('active', 'invited') AND p.muted = 0
           AND p.last_message_id > p.last_read_message_id AND p.last_message_id > p.digested_message_id";
    /// Used by `store::new_messages`.
    pub const NEW_MESSAGES: &str = "SELECT count(*) FROM conversations_message
         WHERE conversation_id = ?1 AND id > ?2 AND author_id != ?3 AND state = 'visible'
           AND author_id NOT IN (SELECT blocked_id FROM conversations_block WHERE blocker_id = ?3)";
    /// Used by `store::new_messages`.
    pub const NEW_SENDERS: &str = "SELECT DISTINCT author_id FROM conversations_message
         WHERE conversation_id = ?1 AND id > ?2 AND author_id != ?3 AND state = 'visible'
           AND author_id NOT IN (SELECT blocked_id FROM conversations_block WHERE blocker_id = ?3) LIMIT 5";
    /// Used by `store::is_blocked`.
    pub const IS_BLOCKED: &str =
        "SELECT count(*) FROM conversations_block WHERE blocker_id = ?1 AND blocked_id = ?2";
    /// Used by `store::blocked_by`: the members `?1` blocked (a primary-key range).
    pub const BLOCKED_BY: &str = "SELECT blocked_id FROM conversations_block WHERE blocker_id = ?1";
    /// Used by `store::unread_of`: every conversation of a participant with unread
    /// messages, newest activity first (the inbox index, then the unread filter).
    pub const UNREAD_OF: &str =
        "SELECT conversation_id, last_read_message_id, digested_message_id, last_message_id
         FROM conversations_participant
         WHERE actor_kind = ?1 AND actor_id = ?2 AND state IN ('active', 'invited') AND muted = 0
           AND last_message_id > last_read_message_id
         ORDER BY last_message_at DESC, conversation_id DESC LIMIT ?3";
    /// Used by `store::blocked_either_way` (two primary-key look-ups).
    pub const BLOCKED_EITHER_WAY: &str = "SELECT count(*) FROM conversations_block
         WHERE (blocker_id = ?1 AND blocked_id = ?2) OR (blocker_id = ?2 AND blocked_id = ?1)";
}

/// A storage failure (the host refused or failed a statement).
pub type StoreResult<T> = Result<T, HostError>;

fn kind(actor: ActorRef) -> (&'static str, i64) {
    match actor {
        ActorRef::User(id) => ("user", id.0),
        ActorRef::Group(id) => ("group", id.0),
    }
}

fn actor_of(kind: &SqlValue, id: &SqlValue) -> Option<ActorRef> {
    parse_actor(&format!("{}:{}", kind.as_text()?, id.as_int()?))
}

fn int(row: &[SqlValue], i: usize) -> i64 {
    row.get(i).and_then(SqlValue::as_int).unwrap_or(0)
}

fn text(row: &[SqlValue], i: usize) -> String {
    row.get(i).and_then(SqlValue::as_text).unwrap_or_default().to_owned()
}

fn first_int(rows: &Rows) -> Option<i64> {
    rows.rows.first().and_then(|r| r.first()).and_then(SqlValue::as_int)
}

/// The conversation of `community` with exactly this participant key.
pub fn find_by_key(community: CommunityId, key: &str) -> StoreResult<Option<i64>> {
    let rows = host::query(sql::FIND_BY_KEY, vec![community.0.into(), key.into()])?;
    Ok(first_int(&rows))
}

/// Creates a conversation and its participants (the starter active, the others in `state`),
/// dated `now` in their inboxes until a message is delivered.
pub fn create(
    community: CommunityId,
    starter: ActorRef,
    key: &str,
    others: &[ActorRef],
    others_state: ParticipantState,
    now: Timestamp,
) -> StoreResult<i64> {
    let (starter_kind, starter_id) = kind(starter);
    let (_, id) = host::execute(
        "INSERT INTO conversations_conversation
             (community_id, started_by_kind, started_by_id, participant_key, created_at, last_message_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        vec![community.0.into(), starter_kind.into(), starter_id.into(), key.into(), now.0.into()],
    )?;
    add_participant(id, starter, ParticipantState::Active, now)?;
    for other in others {
        add_participant(id, *other, others_state, now)?;
    }
    Ok(id)
}

fn add_participant(
    conversation: i64,
    actor: ActorRef,
    state: ParticipantState,
    now: Timestamp,
) -> StoreResult<()> {
    let (k, id) = kind(actor);
    host::execute(
        "INSERT INTO conversations_participant (conversation_id, actor_kind, actor_id, state, last_message_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        vec![conversation.into(), k.into(), id.into(), state.as_str().into(), now.0.into()],
    )?;
    Ok(())
}

/// Adds a delivered message by `author` (for `group`, if acting for one), with the check
/// it passed, and updates every participant's latest-message columns; the sender's side is
/// marked read.
pub fn add_message(
    conversation: i64,
    author: UserId,
    sender: ActorRef,
    group: Option<GroupId>,
    body: &str,
    now: Timestamp,
    check: Option<CheckId>,
) -> StoreResult<i64> {
    let new = NewMessage { conversation, author, group, body, now, check };
    let id = insert_message(&new, MessageState::Visible, None)?;
    delivered(conversation, sender, id, now)?;
    Ok(id)
}

/// A message row to insert.
struct NewMessage<'a> {
    conversation: i64,
    author: UserId,
    group: Option<GroupId>,
    body: &'a str,
    now: Timestamp,
    check: Option<CheckId>,
}

/// Inserts one message row in `state` (with `reason`, for a held one); its id.
fn insert_message(new: &NewMessage<'_>, state: MessageState, reason: Option<&str>) -> StoreResult<i64> {
    let (_, id) = host::execute(
        "INSERT INTO conversations_message
             (conversation_id, author_id, on_behalf_of_group, body, created_at, state, check_id, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        vec![
            new.conversation.into(),
            new.author.0.into(),
            new.group.map(|g| g.0).into(),
            new.body.into(),
            new.now.0.into(),
            state.as_str().into(),
            new.check.map(|c| c.0).into(),
            reason.into(),
        ],
    )?;
    Ok(id)
}

/// Every participant's latest-message columns move to delivered message `id`, and the
/// sender's side has read it.
fn delivered(conversation: i64, sender: ActorRef, id: i64, now: Timestamp) -> StoreResult<()> {
    host::execute(
        "UPDATE conversations_conversation SET last_message_id = max(last_message_id, ?2), last_message_at = ?3 WHERE id = ?1",
        vec![conversation.into(), id.into(), now.0.into()],
    )?;
    host::execute(
        "UPDATE conversations_participant SET last_message_id = max(last_message_id, ?2), last_message_at = ?3
         WHERE conversation_id = ?1",
        vec![conversation.into(), id.into(), now.0.into()],
    )?;
    mark_read(conversation, sender, id)
}

/// Stores a message that a check holds: nobody but its author sees it, and it moves no
/// participant's latest-message columns (no unread badge, inbox line or digest).
pub fn add_held_message(
    conversation: i64,
    author: UserId,
    group: Option<GroupId>,
    body: &str,
    now: Timestamp,
    check: CheckId,
    reason: &str,
) -> StoreResult<i64> {
    let new = NewMessage { conversation, author, group, body, now, check: Some(check) };
    insert_message(&new, MessageState::Held, Some(reason))
}

/// Delivers held `message` of `conversation` now: it becomes a delivered message at the
/// end of the conversation (a new row, with a new id, in place of the held one), exactly
/// as if it had been sent now, so read markers, unread counts and the digest treat it as
/// new for everyone. Returns its new id, or `None` if it is no longer held.
pub fn release(conversation: i64, message: &Message, now: Timestamp) -> StoreResult<Option<i64>> {
    let (changes, id) = host::execute(
        "INSERT INTO conversations_message
             (conversation_id, author_id, on_behalf_of_group, body, created_at, state, check_id, reason)
         SELECT conversation_id, author_id, on_behalf_of_group, body, ?3, 'visible', check_id, NULL
         FROM conversations_message WHERE id = ?1 AND conversation_id = ?2 AND state = 'held'",
        vec![message.id.into(), conversation.into(), now.0.into()],
    )?;
    if changes == 0 {
        return Ok(None);
    }
    host::execute("DELETE FROM conversations_message WHERE id = ?1", vec![message.id.into()])?;
    delivered(conversation, message.sender(), id, now)?;
    Ok(Some(id))
}

/// Stops `message` of `conversation` for good, with the reason its author is shown:
/// rejected if it was held, removed if it had been delivered (then the participants'
/// latest-message columns go back to the latest message still delivered). Returns the
/// state it took, or `None` if it was already rejected or removed.
pub fn reject(conversation: i64, message: &Message, reason: &str) -> StoreResult<Option<MessageState>> {
    let to = match message.state {
        MessageState::Held => MessageState::Rejected,
        MessageState::Visible => MessageState::Removed,
        MessageState::Rejected | MessageState::Removed => return Ok(None),
    };
    let (changes, _) = host::execute(
        "UPDATE conversations_message SET state = ?4, reason = ?5
         WHERE id = ?1 AND conversation_id = ?2 AND state = ?3",
        vec![
            message.id.into(),
            conversation.into(),
            message.state.as_str().into(),
            to.as_str().into(),
            reason.into(),
        ],
    )?;
    if changes == 0 {
        return Ok(None);
    }
    if to == MessageState::Removed {
        let latest = "coalesce((SELECT max(id) FROM conversations_message WHERE conversation_id = ?1 AND state = 'visible'), 0)";
        host::execute(
            &format!("UPDATE conversations_conversation SET last_message_id = {latest} WHERE id = ?1"),
            vec![conversation.into()],
        )?;
        host::execute(
            &format!(
                "UPDATE conversations_participant SET last_message_id = {latest} WHERE conversation_id = ?1"
            ),
            vec![conversation.into()],
        )?;
    }
    Ok(Some(to))
}

/// The message that check `check` of `community` was about, with its conversation.
pub fn message_by_check(community: CommunityId, check: CheckId) -> StoreResult<Option<(i64, Message)>> {
    let rows = host::query(sql::MESSAGE_BY_CHECK, vec![check.0.into(), community.0.into()])?;
    Ok(rows.rows.first().and_then(|r| Some((r.get(7)?.as_int()?, message_of(r)?))))
}

/// Makes the participants a conversation had not reached yet ([`ParticipantState::Pending`])
/// `state` (invited or active); returns who they were.
pub fn reach_pending(
    conversation: i64,
    parts: &mut [Participant],
    state: ParticipantState,
) -> StoreResult<Vec<ActorRef>> {
    let pending: Vec<ActorRef> =
        parts.iter().filter(|p| p.state == ParticipantState::Pending).map(|p| p.actor).collect();
    if !pending.is_empty() {
        host::execute(
            "UPDATE conversations_participant SET state = ?2 WHERE conversation_id = ?1 AND state = 'pending'",
            vec![conversation.into(), state.as_str().into()],
        )?;
        for p in parts.iter_mut().filter(|p| p.state == ParticipantState::Pending) {
            p.state = state;
        }
    }
    Ok(pending)
}

/// One participant of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// A member or a group.
    pub actor: ActorRef,
    /// Where they stand.
    pub state: ParticipantState,
    /// The last message they have read.
    pub last_read: i64,
    /// Whether they muted it.
    pub muted: bool,
}

/// The participants of a conversation of `community` (empty if there is no such
/// conversation in this community).
pub fn participants(community: CommunityId, conversation: i64) -> StoreResult<Vec<Participant>> {
    let rows = host::query(sql::PARTICIPANTS, vec![conversation.into(), community.0.into()])?;
    Ok(rows
        .rows
        .iter()
        .filter_map(|r| {
            Some(Participant {
                actor: actor_of(r.first()?, r.get(1)?)?,
                state: ParticipantState::parse(&text(r, 2))?,
                last_read: int(r, 3),
                muted: int(r, 4) != 0,
            })
        })
        .collect())
}

/// A message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its id (increasing with time).
    pub id: i64,
    /// The member who wrote it.
    pub author: UserId,
    /// The group it was written for, if any.
    pub group: Option<GroupId>,
    /// The text.
    pub body: String,
    /// When it was sent (for a released message: when it was released).
    pub created_at: Timestamp,
    /// Delivered, held, rejected or removed.
    pub state: MessageState,
    /// Why it is held, rejected or removed, as the checking plugin said.
    pub reason: Option<String>,
}

impl Message {
    /// The participant who sent it: the group it was written for, or its author.
    pub fn sender(&self) -> ActorRef {
        self.group.map_or(ActorRef::User(self.author), ActorRef::Group)
    }
}

/// A row of `id, author_id, on_behalf_of_group, body, created_at, state, reason`.
fn message_of(r: &[SqlValue]) -> Option<Message> {
    Some(Message {
        id: int(r, 0),
        author: UserId(int(r, 1)),
        group: r.get(2).and_then(SqlValue::as_int).map(GroupId),
        body: text(r, 3),
        created_at: Timestamp(int(r, 4)),
        state: MessageState::parse(r.get(5)?.as_text()?)?,
        reason: r.get(6).and_then(SqlValue::as_text).map(str::to_owned),
    })
}

/// Up to `limit` messages before `before` (the newest if `None`) that `reader` sees,
/// oldest first: the delivered and removed ones, and the reader's own held and rejected
/// ones.
pub fn messages(
    conversation: i64,
    before: Option<i64>,
    limit: u32,
    reader: UserId,
) -> StoreResult<Vec<Message>> {
    let rows = host::query(
        sql::MESSAGES,
        vec![
            conversation.into(),
            before.unwrap_or(i64::MAX).into(),
            i64::from(limit).into(),
            reader.0.into(),
        ],
    )?;
    let mut out: Vec<Message> = rows.rows.iter().filter_map(|r| message_of(r)).collect();
    out.reverse();
    Ok(out)
}

/// The latest delivered message of a conversation.
pub fn last_visible(conversation: i64) -> StoreResult<Option<Message>> {
    let rows = host::query(sql::LAST_VISIBLE, vec![conversation.into()])?;
    Ok(rows.rows.first().and_then(|r| message_of(r)))
}

/// Marks everything up to `message` read for `actor`.
pub fn mark_read(conversation: i64, actor: ActorRef, message: i64) -> StoreResult<()> {
    let (k, id) = kind(actor);
    host::execute(
        "UPDATE conversations_participant SET last_read_message_id = max(last_read_message_id, ?4)
         WHERE conversation_id = ?1 AND actor_kind = ?2 AND actor_id = ?3",
        vec![conversation.into(), k.into(), id.into(), message.into()],
    )?;
    Ok(())
}

/// Changes a participant's state.
pub fn set_state(conversation: i64, actor: ActorRef, state: ParticipantState) -> StoreResult<()> {
    let (k, id) = kind(actor);
    host::execute(
        "UPDATE conversations_participant SET state = ?4 WHERE conversation_id = ?1 AND actor_kind = ?2 AND actor_id = ?3",
        vec![conversation.into(), k.into(), id.into(), state.as_str().into()],
    )?;
    Ok(())
}

/// Mutes or unmutes a conversation for a participant.
pub fn set_muted(conversation: i64, actor: ActorRef, muted: bool) -> StoreResult<()> {
    let (k, id) = kind(actor);
    host::execute(
        "UPDATE conversations_participant SET muted = ?4 WHERE conversation_id = ?1 AND actor_kind = ?2 AND actor_id = ?3",
        vec![conversation.into(), k.into(), id.into(), muted.into()],
    )?;
    Ok(())
}

/// One line of an inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    /// The conversation.
    pub conversation: i64,
    /// The inbox owner's state in it.
    pub state: ParticipantState,
    /// Whether there are unread messages.
    pub unread: bool,
    /// The latest message's time.
    pub last_message_at: Timestamp,
    /// The latest message's id.
    pub last_message_id: i64,
    /// Muted by the owner.
    pub muted: bool,
    /// The owner's last read message.
    pub last_read: i64,
}

/// The conversations of `actor` (not declined or left), newest activity first.
pub fn inbox(actor: ActorRef, limit: u32, offset: u32) -> StoreResult<Vec<InboxEntry>> {
    let (k, id) = kind(actor);
    let rows = host::query(
        sql::INBOX,
        vec![k.into(), id.into(), i64::from(limit).into(), i64::from(offset).into()],
    )?;
    Ok(rows
        .rows
        .iter()
        .filter_map(|r| {
            Some(InboxEntry {
                conversation: int(r, 0),
                state: ParticipantState::parse(&text(r, 1))?,
                unread: int(r, 2) != 0,
                last_message_at: Timestamp(int(r, 3)),
                last_message_id: int(r, 4),
                muted: int(r, 5) != 0,
                last_read: int(r, 6),
            })
        })
        .collect())
}

/// How many conversations `actor` is in (not declined or left).
pub fn inbox_size(actor: ActorRef) -> StoreResult<i64> {
    let (k, id) = kind(actor);
    let rows = host::query(sql::INBOX_SIZE, vec![k.into(), id.into()])?;
    Ok(first_int(&rows).unwrap_or(0))
}

/// How many of `actor`'s conversations have unread messages (the avatar badge).
pub fn unread_conversations(actor: ActorRef) -> StoreResult<i64> {
    let (k, id) = kind(actor);
    let rows = host::query(sql::UNREAD_CONVERSATIONS, vec![k.into(), id.into()])?;
    Ok(first_int(&rows).unwrap_or(0))
}

/// Unread messages in a conversation after `last_read`, not written by `me`.
pub fn unread_messages(conversation: i64, last_read: i64, me: UserId) -> StoreResult<i64> {
    let rows = host::query(sql::UNREAD_MESSAGES, vec![conversation.into(), last_read.into(), me.0.into()])?;
    Ok(first_int(&rows).unwrap_or(0))
}

/// Whether `blocker` blocked `blocked`.
pub fn is_blocked(blocker: UserId, blocked: UserId) -> StoreResult<bool> {
    let rows = host::query(sql::IS_BLOCKED, vec![blocker.0.into(), blocked.0.into()])?;
    Ok(first_int(&rows).unwrap_or(0) > 0)
}

/// Whether either member blocked the other (one host call instead of two).
pub fn blocked_either_way(a: UserId, b: UserId) -> StoreResult<bool> {
    let rows = host::query(sql::BLOCKED_EITHER_WAY, vec![a.0.into(), b.0.into()])?;
    Ok(first_int(&rows).unwrap_or(0) > 0)
}

/// The members `blocker` blocked.
pub fn blocked_by(blocker: UserId) -> StoreResult<Vec<UserId>> {
    let rows = host::query(sql::BLOCKED_BY, vec![blocker.0.into()])?;
    Ok(rows.rows.iter().map(|r| UserId(int(r, 0))).collect())
}

/// Every block between two of `users`, as (blocker, blocked); one statement for the set
/// (at most a conversation's participants), on the primary key.
pub fn blocks_among(users: &[UserId]) -> StoreResult<Vec<(UserId, UserId)>> {
    if users.len() < 2 {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; users.len()].join(", ");
    let sql = format!(
        "SELECT blocker_id, blocked_id FROM conversations_block WHERE blocker_id IN ({marks}) AND blocked_id IN ({marks})"
    );
    let mut params: Vec<SqlValue> = users.iter().map(|u| u.0.into()).collect();
    params.extend(users.iter().map(|u| SqlValue::from(u.0)));
    let rows = host::query(&sql, params)?;
    Ok(rows.rows.iter().map(|r| (UserId(int(r, 0)), UserId(int(r, 1)))).collect())
}

/// Blocks or unblocks a member.
pub fn set_blocked(
    community: CommunityId,
    blocker: UserId,
    blocked: UserId,
    on: bool,
    now: Timestamp,
) -> StoreResult<()> {
    if on {
        host::execute(
            "INSERT INTO conversations_block (community_id, blocker_id, blocked_id, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            vec![community.0.into(), blocker.0.into(), blocked.0.into(), now.0.into()],
        )?;
    } else {
        host::execute(
            "DELETE FROM conversations_block WHERE blocker_id = ?1 AND blocked_id = ?2",
            vec![blocker.0.into(), blocked.0.into()],
        )?;
    }
    Ok(())
}

/// One of a participant's conversations with messages no email covered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The conversation.
    pub conversation: i64,
    /// The participant's last read message.
    pub last_read: i64,
    /// The last message an email covered.
    pub digested: i64,
    /// The conversation's latest message.
    pub last_message_id: i64,
}

impl Pending {
    /// A row of `conversation_id, last_read_message_id, digested_message_id,
    /// last_message_id` (the columns of [`sql::PENDING_OF`] and [`sql::UNREAD_OF`]).
    fn of(r: &[SqlValue]) -> Pending {
        Pending {
            conversation: int(r, 0),
            last_read: int(r, 1),
            digested: int(r, 2),
            last_message_id: int(r, 3),
        }
    }
}

/// Up to `limit` participants of `community` with messages no email covered yet.
pub fn pending_actors(community: CommunityId, limit: u32) -> StoreResult<Vec<ActorRef>> {
    let rows = host::query(sql::PENDING_ACTORS, vec![community.0.into(), i64::from(limit).into()])?;
    Ok(rows.rows.iter().filter_map(|r| actor_of(r.first()?, r.get(1)?)).collect())
}

/// The conversations of `actor` with messages no email covered yet.
pub fn pending_of(community: CommunityId, actor: ActorRef) -> StoreResult<Vec<Pending>> {
    let (k, id) = kind(actor);
    let rows = host::query(sql::PENDING_OF, vec![k.into(), id.into(), community.0.into()])?;
    Ok(rows.rows.iter().map(|r| Pending::of(r)).collect())
}

/// Up to `limit` conversations of `actor` with unread messages, newest activity first.
pub fn unread_of(actor: ActorRef, limit: u32) -> StoreResult<Vec<Pending>> {
    let (k, id) = kind(actor);
    let rows = host::query(sql::UNREAD_OF, vec![k.into(), id.into(), i64::from(limit).into()])?;
    Ok(rows.rows.iter().map(|r| Pending::of(r)).collect())
}

/// How many messages after `after` others than `reader` wrote (leaving out the members
/// `reader` blocked), and (up to 5 of) who.
pub fn new_messages(conversation: i64, after: i64, reader: UserId) -> StoreResult<(i64, Vec<UserId>)> {
    let params = vec![conversation.into(), after.into(), reader.0.into()];
    let count = first_int(&host::query(sql::NEW_MESSAGES, params.clone())?).unwrap_or(0);
    if count == 0 {
        return Ok((0, Vec::new()));
    }
    let senders = host::query(sql::NEW_SENDERS, params)?;
    Ok((count, senders.rows.iter().map(|r| UserId(int(r, 0))).collect()))
}

/// Records that emails covered `actor`'s messages up to `message`.
pub fn mark_digested(conversation: i64, actor: ActorRef, message: i64) -> StoreResult<()> {
    let (k, id) = kind(actor);
    host::execute(
        "UPDATE conversations_participant SET digested_message_id = max(digested_message_id, ?4)
         WHERE conversation_id = ?1 AND actor_kind = ?2 AND actor_id = ?3",
        vec![conversation.into(), k.into(), id.into(), message.into()],
    )?;
    Ok(())
}
