//! All SQL of the plugin, on its own tables (`moderation_*`, created by
//! `migrations/001_moderation.sql`), through the host's SQL calls: typed values in, typed
//! rows out. Nothing else in the plugin writes SQL.

use crate::rules::{DecisionKind, EntryKind, Rules};
use plugin_api::guest::host::{self, Rows};
use plugin_api::{CheckId, CommunityId, HostError, SqlValue, Timestamp, UserId};

/// The plugin's statements, defined once.
pub mod sql {
    /// Used by `store::rules`: a primary-key look-up (it runs at every message checked).
    pub const RULES: &str =
        "SELECT blocked_words, word_action, new_member_days FROM moderation_rules WHERE community_id = ?1";
    /// Used by `store::save_rules`.
    pub const SAVE_RULES: &str = "INSERT INTO moderation_rules
             (community_id, blocked_words, word_action, new_member_days, updated_by, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (community_id) DO UPDATE SET blocked_words = excluded.blocked_words,
             word_action = excluded.word_action, new_member_days = excluded.new_member_days,
             updated_by = excluded.updated_by, updated_at = excluded.updated_at";
    /// Used by `store::hold`: once per check, however often it is asked.
    pub const HOLD: &str = "INSERT INTO moderation_entry
             (community_id, kind, check_id, conversation_id, author_id, body, reason, created_at)
         VALUES (?1, 'held', ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING";
    /// Used by `store::save_copy`: a delivery may come again; the last one wins.
    pub const SAVE_COPY: &str = "INSERT INTO moderation_message
             (community_id, message_id, conversation_id, author_id, body, readers, check_id, posted_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (community_id, message_id) DO UPDATE SET conversation_id = excluded.conversation_id,
             author_id = excluded.author_id, body = excluded.body, readers = excluded.readers,
             check_id = excluded.check_id, posted_at = excluded.posted_at";
    /// Used by `store::link_held`: a released message's ids, once it is posted.
    pub const LINK_HELD: &str = "UPDATE moderation_entry SET conversation_id = ?3, message_id = ?4
         WHERE community_id = ?1 AND kind = 'held' AND check_id = ?2";
    /// Used by `store::copy`.
    pub const COPY: &str =
        "SELECT conversation_id, author_id, body, readers, check_id FROM moderation_message
         WHERE community_id = ?1 AND message_id = ?2";
    /// Used by `store::add_report`: one pending report per reporter and message.
    pub const ADD_REPORT: &str = "INSERT INTO moderation_entry
             (community_id, kind, check_id, conversation_id, message_id, author_id, body, reason, reporter_id, created_at)
         VALUES (?1, 'report', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING";
    /// Used by `store::pending_count` (the badge).
    pub const PENDING_COUNT: &str =
        "SELECT count(*) FROM moderation_entry WHERE community_id = ?1 AND decision IS NULL";
    /// The columns of an [`super::Entry`], in its order.
    macro_rules! select_entry {
        () => {
            "SELECT id, kind, check_id, conversation_id, message_id, author_id, body, reason, reporter_id,
                 created_at, decision, decision_reason, decided_by, decided_at FROM moderation_entry"
        };
    }
    /// Used by `store::pending`: newest first.
    pub const PENDING: &str = concat!(
        select_entry!(),
        " WHERE community_id = ?1 AND decision IS NULL ORDER BY created_at DESC, id DESC LIMIT ?2"
    );
    /// Used by `store::decided`: most recently decided first.
    pub const DECIDED: &str = concat!(
        select_entry!(),
        " WHERE community_id = ?1 AND decision IS NOT NULL ORDER BY decided_at DESC, id DESC LIMIT ?2"
    );
    /// Used by `store::entry`.
    pub const ENTRY_BY_ID: &str = concat!(select_entry!(), " WHERE community_id = ?1 AND id = ?2");
    /// Used by `store::pending_reports_of`: the pending reports of one message.
    pub const PENDING_REPORTS_OF: &str = concat!(
        select_entry!(),
        " WHERE community_id = ?1 AND message_id = ?2 AND kind = 'report' AND decision IS NULL"
    );
    /// Used by `store::decide`: only a pending entry is decided, so deciding twice changes
    /// nothing the second time.
    pub const DECIDE: &str = "UPDATE moderation_entry
         SET decision = ?3, decision_reason = ?4, decided_by = ?5, decided_at = ?6
         WHERE community_id = ?1 AND id = ?2 AND decision IS NULL";
}

/// A storage failure (the host refused or failed a statement).
pub type StoreResult<T> = Result<T, HostError>;

fn int(row: &[SqlValue], i: usize) -> i64 {
    row.get(i).and_then(SqlValue::as_int).unwrap_or(0)
}

fn opt_int(row: &[SqlValue], i: usize) -> Option<i64> {
    row.get(i).and_then(SqlValue::as_int)
}

fn text(row: &[SqlValue], i: usize) -> String {
    row.get(i).and_then(SqlValue::as_text).unwrap_or_default().to_owned()
}

fn first_int(rows: &Rows) -> i64 {
    rows.rows.first().and_then(|r| r.first()).and_then(SqlValue::as_int).unwrap_or(0)
}

/// The rules of `community`: its saved row, or the defaults.
pub fn rules(community: CommunityId) -> StoreResult<Rules> {
    let rows = host::query(sql::RULES, vec![community.0.into()])?;
    Ok(rows
        .rows
        .first()
        .map_or_else(Rules::default, |r| Rules::from_stored(&text(r, 0), &text(r, 1), int(r, 2))))
}

/// Saves the rules of `community`.
pub fn save_rules(community: CommunityId, rules: &Rules, by: UserId, now: Timestamp) -> StoreResult<()> {
    host::execute(
        sql::SAVE_RULES,
        vec![
            community.0.into(),
            rules.words_text().into(),
            rules.word_action.as_str().into(),
            rules.new_member_days.into(),
            by.0.into(),
            now.0.into(),
        ],
    )?;
    Ok(())
}

/// A message the check held: what the queue shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held<'a> {
    /// The check that held it.
    pub check: CheckId,
    /// Its conversation, unless it starts one.
    pub conversation: Option<i64>,
    /// Its author.
    pub author: UserId,
    /// Its text.
    pub text: &'a str,
    /// Why it was held.
    pub reason: &'a str,
}

/// Puts a held message in the queue (once per check).
pub fn hold(community: CommunityId, held: &Held<'_>, now: Timestamp) -> StoreResult<()> {
    host::execute(
        sql::HOLD,
        vec![
            community.0.into(),
            held.check.0.into(),
            held.conversation.into(),
            held.author.0.into(),
            held.text.into(),
            held.reason.into(),
            now.0.into(),
        ],
    )?;
    Ok(())
}

/// Moderation's copy of a posted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageCopy {
    /// The conversation.
    pub conversation: i64,
    /// The message.
    pub message: i64,
    /// Its author.
    pub author: UserId,
    /// Its text.
    pub text: String,
    /// Who could read it when it was posted.
    pub readers: Vec<UserId>,
    /// The check it passed, if one ran.
    pub check: Option<CheckId>,
}

/// Saves (or refreshes) the copy of a posted message.
pub fn save_copy(community: CommunityId, copy: &MessageCopy, posted_at: Timestamp) -> StoreResult<()> {
    let readers: Vec<i64> = copy.readers.iter().map(|u| u.0).collect();
    let readers = serde_json::to_string(&readers).unwrap_or_else(|_| "[]".to_owned());
    host::execute(
        sql::SAVE_COPY,
        vec![
            community.0.into(),
            copy.message.into(),
            copy.conversation.into(),
            copy.author.0.into(),
            copy.text.as_str().into(),
            readers.into(),
            copy.check.map(|c| c.0).into(),
            posted_at.0.into(),
        ],
    )?;
    Ok(())
}

/// Notes the ids of a held message that was released and posted.
pub fn link_held(community: CommunityId, check: CheckId, conversation: i64, message: i64) -> StoreResult<()> {
    host::execute(
        sql::LINK_HELD,
        vec![community.0.into(), check.0.into(), conversation.into(), message.into()],
    )?;
    Ok(())
}

/// The copy of `message`, if Moderation got it.
pub fn copy(community: CommunityId, message: i64) -> StoreResult<Option<MessageCopy>> {
    let rows = host::query(sql::COPY, vec![community.0.into(), message.into()])?;
    Ok(rows.rows.first().map(|r| MessageCopy {
        conversation: int(r, 0),
        message,
        author: UserId(int(r, 1)),
        text: text(r, 2),
        readers: serde_json::from_str::<Vec<i64>>(&text(r, 3))
            .unwrap_or_default()
            .into_iter()
            .map(UserId)
            .collect(),
        check: opt_int(r, 4).map(CheckId),
    }))
}

/// Adds `reporter`'s report of the message `copy`; `false` if they already have one
/// pending for it.
pub fn add_report(
    community: CommunityId,
    copy: &MessageCopy,
    reporter: UserId,
    reason: &str,
    now: Timestamp,
) -> StoreResult<bool> {
    let (changes, _) = host::execute(
        sql::ADD_REPORT,
        vec![
            community.0.into(),
            copy.check.map(|c| c.0).into(),
            copy.conversation.into(),
            copy.message.into(),
            copy.author.0.into(),
            copy.text.as_str().into(),
            reason.into(),
            reporter.0.into(),
            now.0.into(),
        ],
    )?;
    Ok(changes > 0)
}

/// How many entries wait for a decision.
pub fn pending_count(community: CommunityId) -> StoreResult<i64> {
    Ok(first_int(&host::query(sql::PENDING_COUNT, vec![community.0.into()])?))
}

/// One queue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its id.
    pub id: i64,
    /// Held message or report.
    pub kind: EntryKind,
    /// The check to resolve, if known.
    pub check: Option<CheckId>,
    /// The conversation, if known.
    pub conversation: Option<i64>,
    /// The message, if known.
    pub message: Option<i64>,
    /// The message's author.
    pub author: UserId,
    /// The message's text.
    pub text: String,
    /// Held: why; report: the reporter's words.
    pub reason: String,
    /// Who reported it.
    pub reporter: Option<UserId>,
    /// When it entered the queue.
    pub created_at: Timestamp,
    /// The decision, once decided.
    pub decision: Option<DecisionKind>,
    /// The reason the decision gave the author.
    pub decision_reason: Option<String>,
    /// Who decided.
    pub decided_by: Option<UserId>,
    /// When.
    pub decided_at: Option<Timestamp>,
}

fn entry_of(r: &[SqlValue]) -> Option<Entry> {
    Some(Entry {
        id: int(r, 0),
        kind: EntryKind::parse(&text(r, 1))?,
        check: opt_int(r, 2).map(CheckId),
        conversation: opt_int(r, 3),
        message: opt_int(r, 4),
        author: UserId(int(r, 5)),
        text: text(r, 6),
        reason: text(r, 7),
        reporter: opt_int(r, 8).map(UserId),
        created_at: Timestamp(int(r, 9)),
        decision: r.get(10).and_then(SqlValue::as_text).and_then(DecisionKind::parse),
        decision_reason: r.get(11).and_then(SqlValue::as_text).map(str::to_owned),
        decided_by: opt_int(r, 12).map(UserId),
        decided_at: opt_int(r, 13).map(Timestamp),
    })
}

fn entries(rows: &Rows) -> Vec<Entry> {
    rows.rows.iter().filter_map(|r| entry_of(r)).collect()
}

/// The entries waiting for a decision, newest first.
pub fn pending(community: CommunityId, limit: u32) -> StoreResult<Vec<Entry>> {
    Ok(entries(&host::query(sql::PENDING, vec![community.0.into(), i64::from(limit).into()])?))
}

/// The entries decided most recently, most recent first.
pub fn decided(community: CommunityId, limit: u32) -> StoreResult<Vec<Entry>> {
    Ok(entries(&host::query(sql::DECIDED, vec![community.0.into(), i64::from(limit).into()])?))
}

/// One entry of `community`.
pub fn entry(community: CommunityId, id: i64) -> StoreResult<Option<Entry>> {
    Ok(entries(&host::query(sql::ENTRY_BY_ID, vec![community.0.into(), id.into()])?).into_iter().next())
}

/// The pending reports of `message`.
pub fn pending_reports_of(community: CommunityId, message: i64) -> StoreResult<Vec<Entry>> {
    Ok(entries(&host::query(sql::PENDING_REPORTS_OF, vec![community.0.into(), message.into()])?))
}

/// Marks the entry `id` decided, if it is still pending; `false` if it was not.
pub fn decide(
    community: CommunityId,
    id: i64,
    decision: DecisionKind,
    reason: Option<&str>,
    by: UserId,
    now: Timestamp,
) -> StoreResult<bool> {
    let (changes, _) = host::execute(
        sql::DECIDE,
        vec![
            community.0.into(),
            id.into(),
            decision.as_str().into(),
            reason.into(),
            by.0.into(),
            now.0.into(),
        ],
    )?;
    Ok(changes > 0)
}
