//! The context the host sends with every request: which community, who is looking, what
//! they may do, the time, and a request id for the logs.

use crate::ids::{CommunityId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The name of an ability (feature flag) declared in a manifest, e.g. `conversations.use`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AbilityName(pub String);

impl AbilityName {
    /// The ability name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AbilityName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// A value of a plugin setting, after the community's overrides are applied. On the wire
/// it is the plain JSON value; see the `Deserialize` impl.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SettingValue {
    /// `type = "boolean"`.
    Bool(bool),
    /// `type = "integer"`.
    Int(i64),
    /// `type = "duration"` (in seconds) is sent as an integer too; `type = "string"` and
    /// `type = "url"` as text.
    Text(String),
}

/// Reads the plain JSON value directly: the same wire form as `#[serde(untagged)]`
/// without buffering each value (every request's context carries the settings).
impl<'de> Deserialize<'de> for SettingValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SettingValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean, an integer or a string")
            }
            fn visit_bool<E>(self, v: bool) -> Result<SettingValue, E> {
                Ok(SettingValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<SettingValue, E> {
                Ok(SettingValue::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SettingValue, E> {
                i64::try_from(v).map(SettingValue::Int).map_err(|_| E::custom("integer setting out of range"))
            }
            fn visit_str<E>(self, v: &str) -> Result<SettingValue, E> {
                Ok(SettingValue::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<SettingValue, E> {
                Ok(SettingValue::Text(v))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The community a request belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommunityInfo {
    /// Its id.
    pub id: CommunityId,
    /// The URL slug: pages live under `/c/{slug}/`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The plugin's settings for this community: manifest defaults with the operator's
    /// overrides applied. Durations are in seconds.
    pub settings: BTreeMap<String, SettingValue>,
}

impl CommunityInfo {
    /// An integer setting, or `default` if it is missing or of another type.
    pub fn int_setting(&self, name: &str, default: i64) -> i64 {
        match self.settings.get(name) {
            Some(SettingValue::Int(v)) => *v,
            _ => default,
        }
    }

    /// A boolean setting, or `default` if it is missing or of another type.
    pub fn bool_setting(&self, name: &str, default: bool) -> bool {
        match self.settings.get(name) {
            Some(SettingValue::Bool(v)) => *v,
            _ => default,
        }
    }

    /// A text setting, if present.
    pub fn text_setting(&self, name: &str) -> Option<&str> {
        match self.settings.get(name) {
            Some(SettingValue::Text(v)) => Some(v),
            _ => None,
        }
    }
}

/// The signed-in member who is looking, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    /// The member's id.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Whether the member is an administrator of the community.
    pub is_admin: bool,
}

/// Sent with every request except `Describe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// The community the request belongs to.
    pub community: CommunityInfo,
    /// The signed-in member, or `None` for a visitor or a scheduled job.
    pub viewer: Option<Viewer>,
    /// The abilities of this plugin that the viewer has in this community.
    pub abilities: Vec<AbilityName>,
    /// The host's clock at the start of the request.
    pub now: Timestamp,
    /// An id that the host also writes in its logs.
    pub request_id: String,
}

impl Context {
    /// Whether the viewer has `ability` (e.g. `"conversations.start"`).
    pub fn can(&self, ability: &str) -> bool {
        self.abilities.iter().any(|a| a.as_str() == ability)
    }
}
