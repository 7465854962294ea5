//! The manifest schema: the TOML file in `manifests/` that declares what a plugin is and
//! what it may do. Every field is documented here; unknown fields are errors.
//!
//! This module only describes the file. The host parses it into these types and then
//! validates it (unique names, abilities that exist, a wasm path inside the manifest's
//! folder, ...), naming the file, line and field of any problem.
//!
//! ```toml
//! id = "hello"                 # also the prefix of the plugin's tables: hello_*
//! name = "Hello"
//! version = "0.1.0"
//! abi_version = 1
//! wasm = "wasm/hello.wasm"     # relative to this file, inside its folder
//! capabilities = ["sql", "log"]
//!
//! [[abilities]]
//! name = "hello.use"           # always off until an operator grants it
//! label = "Say hello"
//!
//! [[slots]]
//! slot = "header.user_menu"
//! key = "hello"
//! label = "Hello"
//! link = "/hello"
//! ability = "hello.use"
//!
//! [[routes]]
//! name = "index"
//! method = "GET"
//! path = "/hello"
//! ability = "hello.use"
//! ```

use crate::context::AbilityName;
use crate::host_call::Capability;
use crate::request::{HttpMethod, SlotName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole manifest file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Lowercase letters, digits and `_`, starting with a letter. It names the plugin in
    /// the CLI and the logs, and prefixes its tables (`{id}_...`) and abilities (`{id}.`).
    pub id: String,
    /// Display name for operators.
    pub name: String,
    /// The plugin's version, `MAJOR.MINOR.PATCH`; must equal what `Describe` answers.
    pub version: String,
    /// The ABI the plugin is built for; must equal [`crate::ABI_VERSION`].
    pub abi_version: u32,
    /// Path of the `.wasm` (or `.wat`) module, relative to the manifest and inside its
    /// folder: absolute paths and `..` are refused.
    pub wasm: String,
    /// One paragraph for operators.
    #[serde(default)]
    pub description: String,
    /// Host services the plugin uses. Any host call outside these is refused.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Feature flags, each off in every community until an operator grants it.
    #[serde(default)]
    pub abilities: Vec<AbilitySpec>,
    /// UI the plugin contributes to the layout's slots.
    #[serde(default)]
    pub slots: Vec<SlotSpec>,
    /// Pages, mounted under the community: `/c/{community}{path}`.
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    /// Scheduled jobs, run per community where `ability` is granted to anyone.
    #[serde(default)]
    pub jobs: Vec<JobSpec>,
    /// Settings with defaults; operators override them per community.
    #[serde(default)]
    pub settings: BTreeMap<String, SettingSpec>,
    /// Per-member preferences shown on the preferences page.
    #[serde(default)]
    pub preferences: Vec<PreferenceSpec>,
    /// Seconds the portal may reuse the plugin's answer to a `Slots` request for the same
    /// member on the same page, instead of asking at every page render; at most
    /// [`MAX_SLOTS_CACHE_SECONDS`]. `0`, the default, asks every time. Every write the
    /// portal process commits (the plugin's own, or the host's: settings, preferences,
    /// groups) forgets every remembered answer, and the member's abilities are part of the
    /// key, so what can go unseen for at most this long is a change made outside the
    /// process (the `portal` command line, another server on the same database) or by the
    /// clock alone. Keep `0` if an answer depends on the time or on anything but the
    /// database.
    #[serde(default)]
    pub slots_cache_seconds: u32,
    /// Events the plugin emits ([`crate::HostCall::Emit`], capability `events`). ABI 1.2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventSpec>,
    /// Events of other plugins this plugin receives ([`crate::PluginRequest::Deliver`]).
    /// ABI 1.2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<SubscriptionSpec>,
    /// Check points and slots this plugin offers other plugins. ABI 1.2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension_points: Vec<ExtensionPointSpec>,
    /// Check points of other plugins this plugin answers ([`crate::PluginRequest::Check`]).
    /// ABI 1.2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub implements: Vec<ImplementSpec>,
    /// UI this plugin contributes to slots that other plugins declare (`kind = "slot"`
    /// extension points). ABI 1.2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension_slots: Vec<ExtensionSlotSpec>,
}

/// An event the plugin emits (`[[events]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// `{plugin id}.{name}`, e.g. `conversations.message_posted`.
    pub name: String,
    /// One line: what happened.
    pub description: String,
    /// The Rust type that documents the payload, e.g. `conversations_api::MessagePosted`.
    pub payload: String,
}

/// An event of another plugin this plugin receives (`[[subscriptions]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    /// The event's full name, e.g. `conversations.message_posted`.
    pub event: String,
    /// One of this plugin's abilities: the event is queued for this plugin only in
    /// communities where the ability is granted to anyone.
    pub ability: AbilityName,
}

/// What kind of extension point a plugin declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionKind {
    /// Other plugins answer allow, refuse or hold ([`crate::HostCall::Check`]).
    Check,
    /// Other plugins add UI items that this plugin's templates place
    /// (`{{extension_slot "name" param=value}}`).
    Slot,
}

/// A check point or slot the plugin offers other plugins (`[[extension_points]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionPointSpec {
    /// `{plugin id}.{name}`, e.g. `conversations.check_message`.
    pub name: String,
    /// `check` or `slot`.
    pub kind: ExtensionKind,
    /// One line for operators and authors.
    pub description: String,
    /// For a check: the Rust type that documents the subject, e.g.
    /// `conversations_api::MessageCheck`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// For a check (required): what an implementer's failure, timeout or breaker means,
    /// `allow` (fail open) or `refuse` (fail closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<crate::extension::FailurePolicy>,
    /// For a check: each implementer's CPU budget in milliseconds (default
    /// [`DEFAULT_CHECK_CPU_MS`], at most [`MAX_CHECK_CPU_MS`]), well below a page call's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u32>,
    /// For a slot: the parameters the declaring plugin's templates give each placement,
    /// which implementers' links use as `{name}` (values are numbers or short words).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<String>,
}

/// Default CPU budget of one implementer of a check point.
pub const DEFAULT_CHECK_CPU_MS: u32 = 50;

/// Largest CPU budget a check point may give its implementers.
pub const MAX_CHECK_CPU_MS: u32 = 200;

/// A check point of another plugin that this plugin answers (`[[implements]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImplementSpec {
    /// The check point's full name, e.g. `conversations.check_message`.
    pub point: String,
    /// One of this plugin's abilities: the plugin is asked only in communities where it is
    /// granted to anyone.
    pub ability: AbilityName,
}

/// One UI item in a slot another plugin declares (`[[extension_slots]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionSlotSpec {
    /// The slot's full name, e.g. `conversations.message_actions`.
    pub point: String,
    /// Unique among the manifest's slot items; the `Slots` request refers to it.
    pub key: String,
    /// The visible text.
    pub label: String,
    /// A path inside the community; `{param}` is replaced by the placement's parameter.
    pub link: String,
    /// Shown only to members who have this ability.
    pub ability: AbilityName,
}

/// The most [`ManifestFile::slots_cache_seconds`] may be.
pub const MAX_SLOTS_CACHE_SECONDS: u32 = 300;

/// A feature flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbilitySpec {
    /// `{plugin id}.{name}`, e.g. `conversations.use`. Unique in the manifest.
    pub name: AbilityName,
    /// Short text for the admin page.
    pub label: String,
    /// Longer explanation for the admin page.
    #[serde(default)]
    pub description: String,
    /// Other abilities of the same plugin this one needs: without all of them it has no
    /// effect (routes, slots, the context's abilities and `members_with_ability` all apply
    /// it), e.g. `conversations.start` requires `conversations.use`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<AbilityName>,
}

/// One UI contribution to a slot of the layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotSpec {
    /// Where it goes.
    pub slot: SlotName,
    /// Unique in the manifest; the `Slots` request and answer refer to items by key.
    pub key: String,
    /// The visible text (for a badge: its accessible description, e.g. "unread conversations").
    pub label: String,
    /// A path inside the community. `{profile}` and `{group}` are replaced by the id of the
    /// profile or group shown. A badge needs no link.
    #[serde(default)]
    pub link: Option<String>,
    /// Shown only to members who have this ability.
    pub ability: AbilityName,
    /// For `header.icons`: the icon the host draws (the host renders all markup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<Icon>,
}

/// An icon the host can draw next to a slot item (`header.icons`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Icon {
    /// An envelope: messages.
    Envelope,
    /// A bell: notifications.
    Bell,
    /// A flag: reports, moderation.
    Flag,
}

/// A page of the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Unique in the manifest; sent in the page request.
    pub name: String,
    /// `GET` or `POST`.
    pub method: HttpMethod,
    /// Starts with `/`; segments like `{id}` are parameters.
    pub path: String,
    /// Only signed-in members with this ability reach the plugin; others get the sign-in
    /// page or "not found".
    pub ability: AbilityName,
    /// A GET route that updates state (read markers, "last seen"): its SQL runs with write
    /// access. Only idempotent, harmless updates belong in a GET; a GET has no CSRF token.
    /// POST routes always have write access.
    #[serde(default)]
    pub writes: bool,
    /// The name of an `integer` setting: each member may call this route at most that many
    /// times a minute in a community; more get `429 Too Many Requests` with `Retry-After`
    /// before the plugin is called. Routes naming the same setting share one allowance.
    /// Operators tune it per community like any setting.
    #[serde(default)]
    pub rate_limit: Option<String>,
}

/// A scheduled job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Unique in the manifest; sent in the job request.
    pub name: String,
    /// A fixed interval such as `"5m"`; give this or `interval_setting`.
    #[serde(default)]
    pub interval: Option<String>,
    /// The name of a `duration` setting that holds the interval.
    #[serde(default)]
    pub interval_setting: Option<String>,
    /// The job runs in communities where this ability is granted to anyone.
    pub ability: AbilityName,
}

/// A setting with its type and default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SettingSpec {
    /// A whole number in `min..=max`.
    Integer {
        /// Text for the admin page.
        label: String,
        /// The default.
        default: i64,
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// On or off.
    Boolean {
        /// Text for the admin page.
        label: String,
        /// The default.
        default: bool,
    },
    /// A duration written like `30s`, `5m`, `2h`, `1d`.
    Duration {
        /// Text for the admin page.
        label: String,
        /// The default.
        default: String,
    },
    /// An `https://` or `http://` link, or empty.
    Url {
        /// Text for the admin page.
        label: String,
        /// The default (empty for none).
        #[serde(default)]
        default: String,
    },
}

/// A per-member on/off preference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferenceSpec {
    /// Unique in the manifest.
    pub key: String,
    /// Text for the preferences page.
    pub label: String,
    /// The value until the member changes it.
    pub default: bool,
}

/// Parses a duration such as `30s`, `5m`, `2h` or `1d` into seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(unit_at);
    let number: u64 = number.parse().ok()?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(factor).filter(|s| *s > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Some(300));
        assert_eq!(parse_duration("30s"), Some(30));
        assert_eq!(parse_duration("1d"), Some(86_400));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5 minutes"), None);
    }
}
