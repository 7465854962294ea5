//! Guest -> host: the calls a plugin can make ([`HostCall`]), the host's answers
//! ([`HostReply`]), and the capability each call needs ([`Capability`]).

use crate::error::HostError;
use crate::ids::{ActorRef, GroupId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A host service a plugin must declare in its manifest's `capabilities` to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// SQL on the plugin's own tables ([`HostCall::Query`], [`HostCall::Execute`]).
    Sql,
    /// Look up members and groups ([`HostCall::Members`], [`HostCall::Groups`],
    /// [`HostCall::GroupsAdministeredBy`], [`HostCall::SearchDirectory`]).
    Directory,
    /// Create in-app notifications ([`HostCall::Notify`]).
    Notifications,
    /// Queue emails ([`HostCall::SendEmail`]).
    Email,
    /// Read members' preferences ([`HostCall::Preferences`]).
    Preferences,
    /// Read the host's clock ([`HostCall::Now`]).
    Clock,
    /// Write to the host's log ([`HostCall::Log`]).
    Log,
    /// Tell members' open pages that something changed ([`HostCall::Publish`]).
    Live,
    /// Emit the events the manifest declares ([`HostCall::Emit`]). Added in ABI 1.2.
    Events,
    /// Ask the implementers of the manifest's check points ([`HostCall::Check`]), and
    /// resolve what one's own checks held ([`HostCall::Resolve`]). Added in ABI 1.2.
    Checks,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 10] = [
        Capability::Sql,
        Capability::Directory,
        Capability::Notifications,
        Capability::Email,
        Capability::Preferences,
        Capability::Clock,
        Capability::Log,
        Capability::Live,
        Capability::Events,
        Capability::Checks,
    ];

    /// The name used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Sql => "sql",
            Capability::Directory => "directory",
            Capability::Notifications => "notifications",
            Capability::Email => "email",
            Capability::Preferences => "preferences",
            Capability::Clock => "clock",
            Capability::Log => "log",
            Capability::Live => "live",
            Capability::Events => "events",
            Capability::Checks => "checks",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// An SQL value: a parameter or a cell of a result row. On the wire it is the plain JSON
/// value (`null`, a number, a string, an array of bytes); see the `Deserialize` impl.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SqlValue {
    /// NULL.
    Null,
    /// INTEGER.
    Int(i64),
    /// REAL.
    Real(f64),
    /// TEXT.
    Text(String),
    /// BLOB.
    Blob(Vec<u8>),
}

/// Reads the plain JSON value directly. Same wire form as `#[serde(untagged)]`, without
/// its cost: an untagged enum buffers every value and tries each variant in turn, and
/// every SQL parameter and result cell crosses the boundary as one of these.
impl<'de> Deserialize<'de> for SqlValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SqlValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("null, a number, a string or an array of bytes")
            }
            fn visit_unit<E>(self) -> Result<SqlValue, E> {
                Ok(SqlValue::Null)
            }
            fn visit_none<E>(self) -> Result<SqlValue, E> {
                Ok(SqlValue::Null)
            }
            fn visit_i64<E>(self, v: i64) -> Result<SqlValue, E> {
                Ok(SqlValue::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<SqlValue, E> {
                // Past i64, a real, as the untagged form did.
                Ok(i64::try_from(v).map_or(SqlValue::Real(v as f64), SqlValue::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<SqlValue, E> {
                Ok(SqlValue::Real(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<SqlValue, E> {
                Ok(SqlValue::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<SqlValue, E> {
                Ok(SqlValue::Text(v))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<SqlValue, E> {
                Ok(SqlValue::Blob(v.to_vec()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<SqlValue, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(byte) = seq.next_element::<u8>()? {
                    bytes.push(byte);
                }
                Ok(SqlValue::Blob(bytes))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl SqlValue {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            SqlValue::Int(v) => Some(*v),
            _ => None,
        }
    }
    /// The text, if this is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            SqlValue::Text(v) => Some(v),
            _ => None,
        }
    }
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}
impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_owned())
    }
}
impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}
impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        SqlValue::Int(i64::from(v))
    }
}
impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

/// What kind of email a [`HostCall::SendEmail`] queues; mail providers judge the two
/// differently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    /// One email about one event that concerns the recipient (an invitation).
    #[default]
    Notification,
    /// A periodic email to many members (a digest): sent with `Precedence: bulk`, and it
    /// must name the preference that stops it ([`EmailOptions::preference`]).
    Bulk,
}

/// How the host sends one email ([`HostCall::SendEmail`]). Every field is optional on the
/// wire, so plugins built before it keep working.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailOptions {
    /// The preference (a key the manifest declares) that lets the member stop this kind
    /// of email. The host does not queue the email when the member turned it off, and
    /// gives the email a one-click unsubscribe link (RFC 8058 `List-Unsubscribe`) that
    /// turns it off without signing in. Without one, the email links to the Preferences
    /// page only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preference: Option<String>,
    /// Notification (the default) or bulk.
    #[serde(default, skip_serializing_if = "is_notification")]
    pub kind: EmailKind,
    /// The thread the email belongs to, a key of the plugin's own such as
    /// `conversation/7` (1 to 100 of `a-z 0-9 _ - /`): the host makes every later email
    /// to the same member in the same thread a reply (`In-Reply-To`, `References`) to the
    /// first one, so mail clients group them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
}

fn is_notification(kind: &EmailKind) -> bool {
    *kind == EmailKind::Notification
}

impl EmailOptions {
    /// Whether nothing is set (then nothing is sent on the wire).
    pub fn is_default(&self) -> bool {
        *self == EmailOptions::default()
    }
}

/// Severity of a [`HostCall::Log`] line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that was handled.
    Warn,
    /// Something failed.
    Error,
}

/// One call from a plugin to the host, made through the single import `portal.host_call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostCall {
    /// Run one SELECT on the plugin's own tables. Answer: [`HostReply::Rows`].
    Query {
        /// The statement, with `?` placeholders.
        sql: String,
        /// Values for the placeholders.
        params: Vec<SqlValue>,
    },
    /// Run one INSERT, UPDATE or DELETE on the plugin's own tables (refused during a GET).
    /// Answer: [`HostReply::Executed`].
    Execute {
        /// The statement, with `?` placeholders.
        sql: String,
        /// Values for the placeholders.
        params: Vec<SqlValue>,
    },
    /// Look up members of the request's community by id. Answer: [`HostReply::Members`].
    Members {
        /// The ids; unknown ids and members of other communities are left out.
        ids: Vec<UserId>,
    },
    /// Look up groups of the request's community by id. Answer: [`HostReply::Groups`].
    Groups {
        /// The ids; unknown ids are left out.
        ids: Vec<GroupId>,
    },
    /// Which of `users` hold `ability` (one of the calling plugin's own abilities, with
    /// the abilities it requires) in the request's community: so a plugin never offers,
    /// notifies or emails a member who may not use it there. Added in ABI 1.1 (additive:
    /// plugins built before never send it). Answer: [`HostReply::Users`].
    MembersWithAbility {
        /// An ability the plugin's manifest declares, e.g. `conversations.use`.
        ability: String,
        /// The members to check; unknown ids and members of other communities are left out.
        users: Vec<UserId>,
    },
    /// The groups of which `user` is an admin. Answer: [`HostReply::Groups`].
    GroupsAdministeredBy {
        /// The member.
        user: UserId,
    },
    /// Search members and groups by name. Answer: [`HostReply::Directory`].
    SearchDirectory {
        /// At least 2 characters.
        query: String,
        /// At most this many results (the host caps it at 50).
        limit: u32,
    },
    /// Create an in-app notification. Answer: [`HostReply::Done`].
    Notify {
        /// The recipient.
        to: UserId,
        /// The text (plain).
        text: String,
        /// A path inside the community, e.g. `/conversations/7`.
        link: String,
    },
    /// Queue an email, rendered by the host from one of the plugin's templates. It is
    /// written in the same transaction as the call's other effects. Answer:
    /// [`HostReply::Done`].
    SendEmail {
        /// The recipient.
        to: UserId,
        /// The subject (plain).
        subject: String,
        /// The template name; `{template}.html` and `{template}.txt` are rendered.
        template: String,
        /// The template's data.
        data: crate::request::TemplateData,
        /// Which preference governs the email, whether it is bulk, which thread it belongs
        /// to. Optional on the wire: plugins built before these existed send none.
        #[serde(default, skip_serializing_if = "EmailOptions::is_default")]
        options: EmailOptions,
    },
    /// Read preferences of members. Answer: [`HostReply::Preferences`].
    Preferences {
        /// The members.
        users: Vec<UserId>,
        /// Preference keys declared in the manifest.
        keys: Vec<String>,
    },
    /// Tell the open pages of members that something changed, once the call's
    /// transaction has committed. Each member's header (badges, bell) is refreshed, and so
    /// is every region of their current page that listens to one of `topics` (see
    /// [`crate::live`]). Answer: [`HostReply::Done`].
    Publish {
        /// The members; others in the community and unknown ids are never told.
        to: Vec<UserId>,
        /// Topics of the plugin, e.g. `conversation/7`; may be empty (header only).
        topics: Vec<String>,
    },
    /// Emit one of the events the manifest declares (`[[events]]`). The host queues one
    /// delivery per subscriber in the call's transaction and delivers them after it
    /// commits (nothing for a call that rolls back). Not during a GET. Added in ABI 1.2.
    /// Answer: [`HostReply::Done`].
    Emit {
        /// The event's full name, e.g. `conversations.message_posted`.
        event: String,
        /// The payload, as the plugin documents it (at most
        /// [`crate::extension::MAX_PAYLOAD_BYTES`] encoded).
        payload: serde_json::Value,
    },
    /// Ask every plugin that implements one of the manifest's check points (`[[extension_points]]`
    /// with `kind = "check"`) for a verdict, inside this call's transaction. Not during a
    /// GET. Added in ABI 1.2. Answer: [`HostReply::Checked`].
    Check {
        /// The check point's full name, e.g. `conversations.check_message`.
        point: String,
        /// What is checked, as the plugin documents it (at most
        /// [`crate::extension::MAX_PAYLOAD_BYTES`] encoded).
        subject: serde_json::Value,
    },
    /// Release or reject something this plugin checked (a hold it answered, or, to take
    /// it down, something it allowed). The plugin that declared the check point gets a
    /// [`crate::extension::CHECK_RESOLVED`] delivery. Added in ABI 1.2. Answer:
    /// [`HostReply::Done`].
    Resolve {
        /// The check, from [`crate::extension::CheckRequest::check`].
        check: crate::extension::CheckId,
        /// Release or reject.
        decision: crate::extension::Decision,
    },
    /// The host's clock. Answer: [`HostReply::Now`].
    Now,
    /// Write a line to the host's log, tagged with the plugin id and request id. Answer:
    /// [`HostReply::Done`].
    Log {
        /// Severity.
        level: LogLevel,
        /// The line.
        message: String,
    },
}

impl HostCall {
    /// The capability the manifest must declare for this call. This is the one place that
    /// maps calls to capabilities; the host checks it before it does anything else.
    pub fn capability(&self) -> Capability {
        match self {
            HostCall::Query { .. } | HostCall::Execute { .. } => Capability::Sql,
            HostCall::Members { .. }
            | HostCall::MembersWithAbility { .. }
            | HostCall::Groups { .. }
            | HostCall::GroupsAdministeredBy { .. }
            | HostCall::SearchDirectory { .. } => Capability::Directory,
            HostCall::Notify { .. } => Capability::Notifications,
            HostCall::SendEmail { .. } => Capability::Email,
            HostCall::Preferences { .. } => Capability::Preferences,
            HostCall::Publish { .. } => Capability::Live,
            HostCall::Emit { .. } => Capability::Events,
            HostCall::Check { .. } | HostCall::Resolve { .. } => Capability::Checks,
            HostCall::Now => Capability::Clock,
            HostCall::Log { .. } => Capability::Log,
        }
    }

    /// The name of the call, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            HostCall::Query { .. } => "query",
            HostCall::Execute { .. } => "execute",
            HostCall::Members { .. } => "members",
            HostCall::MembersWithAbility { .. } => "members_with_ability",
            HostCall::Groups { .. } => "groups",
            HostCall::GroupsAdministeredBy { .. } => "groups_administered_by",
            HostCall::SearchDirectory { .. } => "search_directory",
            HostCall::Notify { .. } => "notify",
            HostCall::SendEmail { .. } => "send_email",
            HostCall::Preferences { .. } => "preferences",
            HostCall::Publish { .. } => "publish",
            HostCall::Emit { .. } => "emit",
            HostCall::Check { .. } => "check",
            HostCall::Resolve { .. } => "resolve",
            HostCall::Now => "now",
            HostCall::Log { .. } => "log",
        }
    }
}

/// A member as the directory shows it to plugins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// The member's id.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Unique handle inside the community.
    pub nickname: String,
    /// Initials for the avatar.
    pub initials: String,
    /// When the member joined the community. Added in ABI 1.2 (absent from older hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined: Option<Timestamp>,
}

/// A group as the directory shows it to plugins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    /// The group's id.
    pub id: GroupId,
    /// Display name.
    pub name: String,
    /// Unique handle inside the community.
    pub nickname: String,
    /// The group's admins.
    pub admins: Vec<UserId>,
}

/// One result of a directory search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    /// A member or a group.
    pub actor: ActorRef,
    /// Display name.
    pub name: String,
    /// Unique handle inside the community.
    pub nickname: String,
}

/// The host's answer to one [`HostCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostReply {
    /// Rows of a [`HostCall::Query`].
    Rows {
        /// Column names, in order.
        columns: Vec<String>,
        /// The rows; each has one value per column.
        rows: Vec<Vec<SqlValue>>,
    },
    /// Result of a [`HostCall::Execute`].
    Executed {
        /// Rows changed.
        changes: u64,
        /// The rowid of the last INSERT.
        last_insert_id: i64,
    },
    /// Members found.
    Members {
        /// The members, in no particular order.
        members: Vec<MemberInfo>,
    },
    /// Groups found.
    Groups {
        /// The groups, in no particular order.
        groups: Vec<GroupInfo>,
    },
    /// Directory search results, best first.
    Directory {
        /// The results.
        entries: Vec<DirectoryEntry>,
    },
    /// Members, by id (the answer to [`HostCall::MembersWithAbility`]).
    Users {
        /// The ids, in ascending order.
        users: Vec<UserId>,
    },
    /// Preference values: `values[user][key]`. Missing values have their manifest default.
    Preferences {
        /// The values.
        values: BTreeMap<UserId, BTreeMap<String, bool>>,
    },
    /// The combined verdict of a [`HostCall::Check`].
    Checked(crate::extension::CheckOutcome),
    /// The host's clock.
    Now {
        /// The time.
        now: Timestamp,
    },
    /// The call succeeded and has nothing to return.
    Done,
    /// The call was refused or failed.
    Error(HostError),
}
