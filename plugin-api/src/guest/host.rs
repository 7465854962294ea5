//! Safe wrappers over the host calls: what a plugin uses to reach its tables, the
//! directory, notifications, email, preferences, the clock and the log. Each function
//! needs the matching capability in the manifest.

use crate::codec;
use crate::error::{HostError, HostErrorKind};
use crate::extension::{CheckId, CheckOutcome, Decision};
use crate::host_call::{
    DirectoryEntry, EmailOptions, GroupInfo, HostCall, HostReply, LogLevel, MemberInfo, SqlValue,
};
use crate::ids::{GroupId, Timestamp, UserId};
use crate::request::TemplateData;
use std::collections::BTreeMap;

/// Sends one call to the host and returns its reply; a [`HostReply::Error`] becomes `Err`.
pub fn call(call: &HostCall) -> Result<HostReply, HostError> {
    let reply = transport(call)?;
    match reply {
        HostReply::Error(err) => Err(err),
        other => Ok(other),
    }
}

#[cfg(target_arch = "wasm32")]
fn transport(call: &HostCall) -> Result<HostReply, HostError> {
    let bytes = codec::encode(call).map_err(|e| invalid(e.to_string()))?;
    let reply = super::raw::host_call(&bytes);
    codec::decode(&reply).map_err(|e| invalid(format!("undecodable host reply: {e}")))
}

#[cfg(not(target_arch = "wasm32"))]
fn transport(call: &HostCall) -> Result<HostReply, HostError> {
    // Round-trip through the codec as the real transport does, so the stub catches the
    // same encoding mistakes.
    let bytes = codec::encode(call).map_err(|e| invalid(e.to_string()))?;
    let decoded: HostCall = codec::decode(&bytes).map_err(|e| invalid(e.to_string()))?;
    let reply = codec::encode(&super::stub::answer(decoded)).map_err(|e| invalid(e.to_string()))?;
    codec::decode(&reply).map_err(|e| invalid(e.to_string()))
}

fn invalid(message: String) -> HostError {
    HostError { kind: HostErrorKind::Invalid, message }
}

fn unexpected(reply: &HostReply) -> HostError {
    HostError { kind: HostErrorKind::Failed, message: format!("unexpected host reply {reply:?}") }
}

/// Rows returned by [`query`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows {
    /// Column names.
    pub columns: Vec<String>,
    /// The rows, one value per column.
    pub rows: Vec<Vec<SqlValue>>,
}

/// Runs a SELECT on the plugin's own tables.
pub fn query(sql: &str, params: Vec<SqlValue>) -> Result<Rows, HostError> {
    match call(&HostCall::Query { sql: sql.to_owned(), params })? {
        HostReply::Rows { columns, rows } => Ok(Rows { columns, rows }),
        other => Err(unexpected(&other)),
    }
}

/// Runs an INSERT, UPDATE or DELETE on the plugin's own tables; returns `(changes,
/// last_insert_id)`.
pub fn execute(sql: &str, params: Vec<SqlValue>) -> Result<(u64, i64), HostError> {
    match call(&HostCall::Execute { sql: sql.to_owned(), params })? {
        HostReply::Executed { changes, last_insert_id } => Ok((changes, last_insert_id)),
        other => Err(unexpected(&other)),
    }
}

/// Members of the community by id.
pub fn members(ids: Vec<UserId>) -> Result<Vec<MemberInfo>, HostError> {
    match call(&HostCall::Members { ids })? {
        HostReply::Members { members } => Ok(members),
        other => Err(unexpected(&other)),
    }
}

/// Groups of the community by id.
pub fn groups(ids: Vec<GroupId>) -> Result<Vec<GroupInfo>, HostError> {
    match call(&HostCall::Groups { ids })? {
        HostReply::Groups { groups } => Ok(groups),
        other => Err(unexpected(&other)),
    }
}

/// The groups of which `user` is an admin.
pub fn groups_administered_by(user: UserId) -> Result<Vec<GroupInfo>, HostError> {
    match call(&HostCall::GroupsAdministeredBy { user })? {
        HostReply::Groups { groups } => Ok(groups),
        other => Err(unexpected(&other)),
    }
}

/// Searches members and groups by name.
pub fn search_directory(query: &str, limit: u32) -> Result<Vec<DirectoryEntry>, HostError> {
    match call(&HostCall::SearchDirectory { query: query.to_owned(), limit })? {
        HostReply::Directory { entries } => Ok(entries),
        other => Err(unexpected(&other)),
    }
}

/// Creates an in-app notification.
pub fn notify(to: UserId, text: &str, link: &str) -> Result<(), HostError> {
    done(call(&HostCall::Notify { to, text: text.to_owned(), link: link.to_owned() })?)
}

/// Tells the open pages of `to` that `topics` changed (after the call commits): their
/// header badges are refreshed, and page regions listening to a topic are reloaded.
pub fn publish(to: Vec<UserId>, topics: Vec<String>) -> Result<(), HostError> {
    done(call(&HostCall::Publish { to, topics })?)
}

/// Queues an email rendered from the plugin's `{template}.html` and `{template}.txt`.
pub fn send_email(to: UserId, subject: &str, template: &str, data: TemplateData) -> Result<(), HostError> {
    send_email_with(to, subject, template, data, EmailOptions::default())
}

/// [`send_email`] with `options`: the preference that governs it (the host skips the
/// email when the member turned it off, and adds a one-click unsubscribe link), bulk or
/// not, and the thread it belongs to.
pub fn send_email_with(
    to: UserId,
    subject: &str,
    template: &str,
    data: TemplateData,
    options: EmailOptions,
) -> Result<(), HostError> {
    done(call(&HostCall::SendEmail {
        to,
        subject: subject.to_owned(),
        template: template.to_owned(),
        data,
        options,
    })?)
}

/// Which of `users` hold the plugin's own `ability` (and what it requires) here.
pub fn members_with_ability(ability: &str, users: Vec<UserId>) -> Result<Vec<UserId>, HostError> {
    match call(&HostCall::MembersWithAbility { ability: ability.to_owned(), users })? {
        HostReply::Users { users } => Ok(users),
        other => Err(unexpected(&other)),
    }
}

/// Preference values of `users` for `keys`.
pub fn preferences(
    users: Vec<UserId>,
    keys: Vec<String>,
) -> Result<BTreeMap<UserId, BTreeMap<String, bool>>, HostError> {
    match call(&HostCall::Preferences { users, keys })? {
        HostReply::Preferences { values } => Ok(values),
        other => Err(unexpected(&other)),
    }
}

/// Emits one of the events the manifest declares (`[[events]]`): every subscriber gets
/// `payload` after this call commits (nothing if it rolls back).
pub fn emit<T: serde::Serialize>(event: &str, payload: &T) -> Result<(), HostError> {
    let payload = serde_json::to_value(payload).map_err(|e| invalid(e.to_string()))?;
    done(call(&HostCall::Emit { event: event.to_owned(), payload })?)
}

/// Asks the implementers of one of the manifest's check points for a verdict on
/// `subject`, inside this call's transaction.
pub fn check<T: serde::Serialize>(point: &str, subject: &T) -> Result<CheckOutcome, HostError> {
    let subject = serde_json::to_value(subject).map_err(|e| invalid(e.to_string()))?;
    match call(&HostCall::Check { point: point.to_owned(), subject })? {
        HostReply::Checked(outcome) => Ok(outcome),
        other => Err(unexpected(&other)),
    }
}

/// Releases or rejects something this plugin checked (see [`HostCall::Resolve`]).
pub fn resolve(check: CheckId, decision: Decision) -> Result<(), HostError> {
    done(call(&HostCall::Resolve { check, decision })?)
}

/// The host's clock.
pub fn now() -> Result<Timestamp, HostError> {
    match call(&HostCall::Now)? {
        HostReply::Now { now } => Ok(now),
        other => Err(unexpected(&other)),
    }
}

/// Writes a line to the host's log. Failures are ignored: logging never fails a request.
pub fn log(level: LogLevel, message: &str) {
    let _ = call(&HostCall::Log { level, message: message.to_owned() });
}

fn done(reply: HostReply) -> Result<(), HostError> {
    match reply {
        HostReply::Done => Ok(()),
        other => Err(unexpected(&other)),
    }
}

/// On wasm32, routes panic messages to the host's log before the trap, so authors see why
/// their plugin failed. Idempotent.
#[cfg(target_arch = "wasm32")]
pub(crate) fn install_panic_hook() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log(LogLevel::Error, &format!("plugin panicked: {info}"));
        }));
    });
}
