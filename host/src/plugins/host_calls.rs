//! Guest -> host calls: the [`HostServices`] a deployment provides, and [`dispatch`], the
//! ONE exhaustive `match` that checks each call's capability against the manifest and then
//! hands it to the service.

use super::manifest::PluginManifest;
use plugin_api::{
    CheckId, CheckOutcome, Decision, DirectoryEntry, EmailOptions, GroupId, GroupInfo, HostCall, HostError,
    HostErrorKind, HostReply, LogLevel, MemberInfo, SqlValue, TemplateData, Timestamp, UserId,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// The services behind host calls, for one plugin call (one request). The storage layer
/// implements it on top of the request's transaction; a method left at its default answers
/// "unavailable".
pub trait HostServices: Send + 'static {
    /// A SELECT on the plugin's tables.
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<HostReply, HostError> {
        let _ = (sql, params);
        Err(unavailable("sql"))
    }
    /// An INSERT, UPDATE or DELETE on the plugin's tables.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<HostReply, HostError> {
        let _ = (sql, params);
        Err(unavailable("sql"))
    }
    /// Members by id.
    fn members(&mut self, ids: &[UserId]) -> Result<Vec<MemberInfo>, HostError> {
        let _ = ids;
        Err(unavailable("directory"))
    }
    /// Which of `users` hold `ability` (with what it requires) in the call's community.
    fn members_with_ability(&mut self, ability: &str, users: &[UserId]) -> Result<Vec<UserId>, HostError> {
        let _ = (ability, users);
        Err(unavailable("directory"))
    }
    /// Groups by id.
    fn groups(&mut self, ids: &[GroupId]) -> Result<Vec<GroupInfo>, HostError> {
        let _ = ids;
        Err(unavailable("directory"))
    }
    /// Groups administered by `user`.
    fn groups_administered_by(&mut self, user: UserId) -> Result<Vec<GroupInfo>, HostError> {
        let _ = user;
        Err(unavailable("directory"))
    }
    /// Directory search.
    fn search_directory(&mut self, query: &str, limit: u32) -> Result<Vec<DirectoryEntry>, HostError> {
        let _ = (query, limit);
        Err(unavailable("directory"))
    }
    /// An in-app notification.
    fn notify(&mut self, to: UserId, text: &str, link: &str) -> Result<(), HostError> {
        let _ = (to, text, link);
        Err(unavailable("notifications"))
    }
    /// Live updates for `to`, sent after commit.
    fn publish(&mut self, to: &[UserId], topics: &[String]) -> Result<(), HostError> {
        let _ = (to, topics);
        Err(unavailable("live"))
    }
    /// A queued email.
    fn send_email(
        &mut self,
        to: UserId,
        subject: &str,
        template: &str,
        data: &TemplateData,
        options: &EmailOptions,
    ) -> Result<(), HostError> {
        let _ = (to, subject, template, data, options);
        Err(unavailable("email"))
    }
    /// Preference values.
    fn preferences(
        &mut self,
        users: &[UserId],
        keys: &[String],
    ) -> Result<BTreeMap<UserId, BTreeMap<String, bool>>, HostError> {
        let _ = (users, keys);
        Err(unavailable("preferences"))
    }
    /// Queues `event` (declared by the plugin) for its subscribers, in the call's
    /// transaction.
    fn emit(&mut self, event: &str, payload: &serde_json::Value) -> Result<(), HostError> {
        let _ = (event, payload);
        Err(unavailable("events"))
    }
    /// Asks the implementers of the plugin's check point `point` about `subject`.
    fn check(&mut self, point: &str, subject: &serde_json::Value) -> Result<CheckOutcome, HostError> {
        let _ = (point, subject);
        Err(unavailable("checks"))
    }
    /// Releases or rejects what the plugin checked.
    fn resolve(&mut self, check: CheckId, decision: &Decision) -> Result<(), HostError> {
        let _ = (check, decision);
        Err(unavailable("checks"))
    }
    /// The host's clock.
    fn now(&mut self) -> Timestamp {
        crate::clock::system_now()
    }
    /// The call's deadline: a service that can bound its own work (SQL) stops there.
    fn set_deadline(&mut self, deadline: std::time::Instant) {
        let _ = deadline;
    }
    /// Whether these services want [`HostServices::traced`] after every host call. Only
    /// `portal plugin run`'s tracer does; a constant, so the serving portal pays nothing
    /// (the call is cloned for the trace only when it is `true`).
    const TRACES: bool = false;
    /// A host call the plugin made, the host's reply and the time it took (only when
    /// [`HostServices::TRACES`]).
    fn traced(&mut self, call: &HostCall, reply: &HostReply, elapsed: Duration) {
        let _ = (call, reply, elapsed);
    }
    /// A host call was refused by a rule of the sandbox; `message` names the plugin, the
    /// call, the rule and the fix (already logged). The portal keeps the last one for
    /// `portal plugin status`.
    fn refused(&mut self, message: &str) {
        let _ = message;
    }
    /// A log line from the plugin: one quoted field, control characters escaped, so a
    /// plugin can never write a line of its own into the portal's log.
    fn log(&mut self, plugin: &str, level: LogLevel, message: &str) {
        match level {
            LogLevel::Debug => tracing::debug!(plugin, message = ?message, "plugin log"),
            LogLevel::Info => tracing::info!(plugin, message = ?message, "plugin log"),
            LogLevel::Warn => tracing::warn!(plugin, message = ?message, "plugin log"),
            LogLevel::Error => tracing::error!(plugin, message = ?message, "plugin log"),
        }
    }
}

/// The longest list one host call may carry (ids, users, keys, recipients, topics):
/// every host call's work is bounded by its input, checked before any work.
pub const MAX_LIST: usize = 1000;

/// The most user × key pairs one `Preferences` call may ask for.
pub const MAX_PREFERENCE_PAIRS: usize = 10_000;

/// Why `call` is too large to run, if it is.
fn too_large(call: &HostCall) -> Option<String> {
    let lists: &[(&str, usize)] = match call {
        HostCall::Members { ids } => &[("ids", ids.len())],
        HostCall::MembersWithAbility { users, .. } => &[("users", users.len())],
        HostCall::Groups { ids } => &[("ids", ids.len())],
        HostCall::Preferences { users, keys } => {
            if users.len().saturating_mul(keys.len()) > MAX_PREFERENCE_PAIRS {
                return Some(format!(
                    "asks for {} users × {} keys; at most {MAX_PREFERENCE_PAIRS} pairs per call",
                    users.len(),
                    keys.len()
                ));
            }
            &[("users", users.len()), ("keys", keys.len())]
        }
        HostCall::Publish { to, topics } => &[("to", to.len()), ("topics", topics.len())],
        _ => &[],
    };
    lists
        .iter()
        .find(|(_, len)| *len > MAX_LIST)
        .map(|(field, len)| format!("`{field}` has {len} items; at most {MAX_LIST} per call"))
}

/// Services for calls that need none (`Describe`, `portal plugin check`): every call but
/// the clock and the log is unavailable.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoServices;

impl HostServices for NoServices {}

/// The error for a service this deployment does not offer.
pub fn unavailable(service: &str) -> HostError {
    HostError {
        kind: HostErrorKind::Unavailable,
        message: format!("the `{service}` service is not available here"),
    }
}

/// Checks `call` against the manifest's capabilities and runs it. A refusal names the
/// plugin, the host call, the rule and the fix ([`explain`]), in the reply, the log and
/// [`HostServices::refused`].
pub fn dispatch<S: HostServices>(plugin: &PluginManifest, services: &mut S, call: HostCall) -> HostReply {
    let name = call.name();
    let needed = call.capability();
    if !plugin.allows(needed) {
        let refusal = HostError {
            kind: HostErrorKind::CapabilityDenied,
            message: format!("it needs the `{needed}` capability, which the manifest does not declare"),
        };
        return HostReply::Error(explain(plugin, services, name, needed, refusal));
    }
    if let Some(why) = too_large(&call) {
        let refusal = HostError { kind: HostErrorKind::LimitExceeded, message: format!("it {why}") };
        return HostReply::Error(explain(plugin, services, name, needed, refusal));
    }
    let result = match call {
        HostCall::Query { sql, params } => services.query(&sql, &params),
        HostCall::Execute { sql, params } => services.execute(&sql, &params),
        HostCall::Members { ids } => services.members(&ids).map(|members| HostReply::Members { members }),
        HostCall::MembersWithAbility { ability, users } => {
            if plugin.raw.abilities.iter().any(|a| a.name.as_str() == ability) {
                services.members_with_ability(&ability, &users).map(|users| HostReply::Users { users })
            } else {
                Err(HostError {
                    kind: HostErrorKind::NotAllowed,
                    message: format!(
                        "`{ability}` is not an ability of plugin `{}`; a plugin asks only about its own abilities",
                        plugin.id()
                    ),
                })
            }
        }
        HostCall::Groups { ids } => services.groups(&ids).map(|groups| HostReply::Groups { groups }),
        HostCall::GroupsAdministeredBy { user } => {
            services.groups_administered_by(user).map(|groups| HostReply::Groups { groups })
        }
        HostCall::SearchDirectory { query, limit } => {
            services.search_directory(&query, limit).map(|entries| HostReply::Directory { entries })
        }
        HostCall::Notify { to, text, link } => services.notify(to, &text, &link).map(|()| HostReply::Done),
        HostCall::SendEmail { to, subject, template, data, options } => {
            services.send_email(to, &subject, &template, &data, &options).map(|()| HostReply::Done)
        }
        HostCall::Preferences { users, keys } => {
            services.preferences(&users, &keys).map(|values| HostReply::Preferences { values })
        }
        HostCall::Publish { to, topics } => services.publish(&to, &topics).map(|()| HostReply::Done),
        HostCall::Emit { event, payload } => services.emit(&event, &payload).map(|()| HostReply::Done),
        HostCall::Check { point, subject } => services.check(&point, &subject).map(HostReply::Checked),
        HostCall::Resolve { check, decision } => services.resolve(check, &decision).map(|()| HostReply::Done),
        HostCall::Now => Ok(HostReply::Now { now: services.now() }),
        HostCall::Log { level, message } => {
            services.log(plugin.id(), level, &message);
            Ok(HostReply::Done)
        }
    };
    match result {
        Ok(reply) => reply,
        Err(err) => HostReply::Error(explain(plugin, services, name, needed, err)),
    }
}

/// A refusal as the plugin author reads it: the plugin, the host call, the rule (the
/// service's message) and the fix; logged and handed to [`HostServices::refused`]. Failures
/// of the host itself (`failed`, `unavailable`) are passed on as they are.
pub fn explain<S: HostServices>(
    plugin: &PluginManifest,
    services: &mut S,
    call: &str,
    needed: plugin_api::Capability,
    err: HostError,
) -> HostError {
    let id = plugin.id();
    let fix = match (err.kind, call) {
        (HostErrorKind::Failed | HostErrorKind::Unavailable, _) => return err,
        (HostErrorKind::CapabilityDenied, _) => {
            format!("add \"{needed}\" to `capabilities` in the manifest of `{id}`")
        }
        (HostErrorKind::NotAllowed, "query" | "execute") => format!(
            "name only the tables and indexes that the migrations of `{id}` created (`{id}_...`), call only \
             allowed SQL functions, and write only in a POST route, a GET route with `writes = true`, a job \
             or an event (docs/plugin-authors.md, \"The SQL a plugin may write\")"
        ),
        (HostErrorKind::NotAllowed, "notify" | "send_email") => {
            "notify and email from a POST route, a job or an event: a GET runs read-only".to_owned()
        }
        (HostErrorKind::NotAllowed, "emit") => format!(
            "declare the event in [[events]] of `{id}` (and add \"events\" to `capabilities`), and emit from a POST \
             route, a job or a delivery: a GET runs read-only"
        ),
        (HostErrorKind::NotAllowed, "check") => format!(
            "declare the check point in [[extension_points]] of `{id}` with kind = \"check\", and ask from a POST \
             route, a job or a delivery (never while answering a check)"
        ),
        (HostErrorKind::NotAllowed, "resolve") => {
            "resolve only checks of a check point the plugin implements ([[implements]]), from a POST route, a job \
             or a delivery"
                .to_owned()
        }
        (HostErrorKind::NotAllowed, "members_with_ability") => {
            format!("ask only about an ability that the manifest of `{id}` declares")
        }
        (HostErrorKind::LimitExceeded, "query" | "execute") => {
            "make the statement cheaper and smaller: an index for its WHERE, a LIMIT, values under 1 MiB \
             (the time limit is `plugins.runtime.limits.sql_ms`)"
                .to_owned()
        }
        (HostErrorKind::LimitExceeded, "emit" | "check") => {
            "keep event payloads and check subjects under 64 KiB: send ids and the text that matters, not whole records"
                .to_owned()
        }
        (HostErrorKind::LimitExceeded, _) => format!(
            "send at most {MAX_LIST} items per host call ({MAX_PREFERENCE_PAIRS} user × key pairs for \
             `preferences`): split the list over several calls"
        ),
        (HostErrorKind::NotAllowed, _) => "see \"Host calls\" in docs/plugin-authors.md".to_owned(),
        (HostErrorKind::Invalid, _) => "correct the call's arguments".to_owned(),
    };
    let message = format!("host call `{call}` of plugin `{id}` refused: {}. Fix: {fix}", err.message);
    tracing::warn!(plugin = id, call, rule = ?err.kind, message = %message, "host call refused");
    services.refused(&message);
    HostError { kind: err.kind, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_bounded_before_any_work() {
        let users: Vec<UserId> = (0..3500).map(UserId).collect();
        let keys: Vec<String> = (0..3500).map(|i| i.to_string()).collect();
        let why = too_large(&HostCall::Preferences { users, keys }).unwrap();
        assert!(why.contains("at most 10000 pairs"), "{why}");
        let why = too_large(&HostCall::Members { ids: (0..1001).map(UserId).collect() }).unwrap();
        assert!(why.contains("`ids` has 1001 items; at most 1000"), "{why}");
        assert_eq!(too_large(&HostCall::Members { ids: vec![UserId(1)] }), None);
    }
}
