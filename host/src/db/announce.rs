//! What a portal process tells the other processes that share its database when it
//! commits, and how it hears theirs: PostgreSQL's `NOTIFY` on the channel [`CHANNEL`], sent
//! inside the committing transaction (so it is delivered exactly when, and only if, the
//! commit happens), and one listening connection per process.
//!
//! Every write transaction on PostgreSQL announces itself, so that every process counts
//! every commit ([`super::Db::commits`], which remembered slot answers are checked
//! against); it also carries the commit's live updates (communities, members and topics,
//! never content) and whether it queued events for delivery. A notification's payload is
//! written by the host alone (plugins can neither run `NOTIFY` nor call `pg_notify`) and is
//! at most [`MAX_PAYLOAD`] bytes (PostgreSQL's limit is 8000): a commit that names more
//! members sends several. SQLite serves one process: nothing is announced there.

use plugin_api::{CommunityId, UserId};
use serde::{Deserialize, Serialize};

/// The channel the portal's processes notify and listen on.
pub const CHANNEL: &str = "portal";

/// Largest payload of one notification, in bytes.
pub const MAX_PAYLOAD: usize = 7_900;

/// What one commit announces besides itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// Live updates: members of a community whose open pages hear these topics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub live: Vec<LiveBatch>,
    /// The commit queued events for delivery.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deliveries: bool,
}

/// One live update sent to several members of a community.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveBatch {
    /// The community.
    pub community: CommunityId,
    /// Full topics (`plugin:topic`); none when only the header (badges, bell) changed.
    pub topics: Vec<String>,
    /// The members.
    pub users: Vec<UserId>,
}

impl Announcement {
    /// Adds the announcements of `other`.
    pub fn merge(&mut self, other: Announcement) {
        self.live.extend(other.live);
        self.deliveries |= other.deliveries;
    }
}

/// What a process hears from the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Another process committed, announcing this.
    Commit(Announcement),
    /// The listening connection was lost and is back: whatever was announced meanwhile
    /// was missed (refresh every open page, look for deliveries).
    Missed,
}

/// Receives what other processes announce; called on the database client's I/O thread,
/// so it must return at once (hand work to other threads, never wait).
pub type Listener = std::sync::Arc<dyn Fn(Heard) + Send + Sync>;

/// One notification as sent: the process that sent it and what it announces.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    from: u64,
    #[serde(flatten)]
    what: Announcement,
}

/// The `NOTIFY` statements of one commit by process `from` (at least one: the commit
/// itself), for the simple protocol, each payload at most [`MAX_PAYLOAD`] bytes. Members of
/// one batch are spread over several notifications when they do not fit in one; a batch
/// whose topics alone would not fit is sent without them (its pages refresh as a whole).
pub fn statements(from: u64, what: &Announcement) -> String {
    let empty = || Wire { from, what: Announcement::default() };
    // A wire's size without live updates, plus the `,"live":[]` that the first one adds.
    let base = |wire: &Wire| encoded(wire).len() + r#","live":[]"#.len();
    let mut payloads = Vec::new();
    let mut current = Wire { from, what: Announcement { live: Vec::new(), deliveries: what.deliveries } };
    let mut size = base(&current);
    for batch in &what.live {
        let header = |topics: &[String]| {
            let empty = LiveBatch { community: batch.community, topics: topics.to_vec(), users: Vec::new() };
            encoded(&empty).len() + 1
        };
        let mut topics = batch.topics.clone();
        if base(&empty()) + header(&topics) + 24 > MAX_PAYLOAD {
            topics.clear();
        }
        let mut open = false;
        for user in &batch.users {
            let add = user.0.to_string().len() + 1;
            if open && size + add > MAX_PAYLOAD {
                payloads.push(encoded(&current));
                (current, open) = (empty(), false);
                size = base(&current);
            }
            if !open {
                if size + header(&topics) + add > MAX_PAYLOAD {
                    payloads.push(encoded(&current));
                    current = empty();
                    size = base(&current);
                }
                current.what.live.push(LiveBatch {
                    community: batch.community,
                    topics: topics.clone(),
                    users: Vec::new(),
                });
                size += header(&topics);
                open = true;
            }
            if let Some(last) = current.what.live.last_mut() {
                last.users.push(*user);
            }
            size += add;
        }
    }
    payloads.push(encoded(&current));
    let notify = |payload: &String| format!("NOTIFY {CHANNEL}, '{}'", literal(payload));
    payloads.iter().map(notify).collect::<Vec<_>>().join("; ")
}

/// Reads a payload; `None` when it is not one of a portal process, or comes from `me`.
pub fn heard(me: u64, payload: &str) -> Option<Announcement> {
    let wire: Wire = serde_json::from_str(payload).ok()?;
    (wire.from != me).then_some(wire.what)
}

fn encoded<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A payload as the body of a string literal. Topics are checked to lowercase letters,
/// digits, `-`, `_`, `/` and `:` before they get here, and ids are numbers, so a payload
/// never holds a quote or a backslash; should one ever, it is doubled or dropped rather
/// than trusted.
fn literal(payload: &str) -> String {
    payload.chars().filter(|c| *c != '\\' && !c.is_control()).collect::<String>().replace('\'', "''")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(community: i64, topics: &[&str], users: std::ops::Range<i64>) -> LiveBatch {
        LiveBatch {
            community: CommunityId(community),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            users: users.map(UserId).collect(),
        }
    }

    fn payloads(sql: &str) -> Vec<String> {
        sql.split("; ")
            .map(|s| {
                let body =
                    s.strip_prefix("NOTIFY portal, '").and_then(|s| s.strip_suffix('\'')).expect("a NOTIFY");
                body.replace("''", "'")
            })
            .collect()
    }

    #[test]
    fn a_commit_is_announced_once_and_others_hear_it() {
        let sql = statements(7, &Announcement::default());
        assert_eq!(sql, r#"NOTIFY portal, '{"from":7}'"#);
        assert_eq!(heard(8, r#"{"from":7}"#), Some(Announcement::default()));
        assert_eq!(heard(7, r#"{"from":7}"#), None, "a process ignores itself");
        assert_eq!(heard(8, "not json"), None);
        let what = Announcement { live: vec![batch(1, &["c:conversation/3"], 1..3)], deliveries: true };
        let sent = payloads(&statements(7, &what));
        assert_eq!(sent.len(), 1);
        assert_eq!(heard(8, &sent[0]), Some(what));
    }

    #[test]
    fn many_members_are_spread_over_notifications_that_fit() {
        let topics = ["conversations:conversation/12345", "conversations:inbox"];
        let what = Announcement {
            live: vec![batch(1, &topics, 1_000_000..1_003_000), batch(2, &[], 5..9)],
            deliveries: true,
        };
        let sent = payloads(&statements(3, &what));
        assert!(sent.len() > 1, "{} notifications", sent.len());
        let mut heard_all = Announcement::default();
        for payload in &sent {
            assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
            heard_all.merge(heard(4, payload).expect("a portal payload"));
        }
        assert!(heard_all.deliveries);
        let users = |c: i64| -> Vec<UserId> {
            heard_all
                .live
                .iter()
                .filter(|b| b.community == CommunityId(c))
                .flat_map(|b| b.users.clone())
                .collect()
        };
        assert_eq!(users(1), (1_000_000..1_003_000).map(UserId).collect::<Vec<_>>());
        assert_eq!(users(2), (5..9).map(UserId).collect::<Vec<_>>());
        assert!(heard_all.live.iter().filter(|b| b.community == CommunityId(1)).all(|b| b.topics.len() == 2));
    }

    #[test]
    fn a_payload_cannot_leave_its_literal() {
        let what =
            Announcement { live: vec![batch(1, &["x'; DROP TABLE users; --\\"], 1..2)], deliveries: false };
        let sql = statements(1, &what);
        assert!(!sql.contains('\\'));
        assert_eq!(sql.matches("NOTIFY").count(), 1);
        // Every quote inside the literal is doubled: the statement is one NOTIFY.
        let body =
            sql.strip_prefix("NOTIFY portal, '").and_then(|s| s.strip_suffix('\'')).expect("one literal");
        assert!(body.replace("''", "").chars().all(|c| c != '\''));
    }
}
