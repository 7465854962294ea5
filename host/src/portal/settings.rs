//! Reading a plugin's settings in a community: the manifest's defaults with the operator's
//! overrides, each checked against the setting's type and range.

use super::{PluginEntry, Portal};
use crate::db::{self, communities::Community};
use plugin_api::SettingValue;
use plugin_api::manifest::SettingSpec;
use std::collections::BTreeMap;

impl Portal {
    /// The settings of `plugin` in `community`: defaults with the operator's overrides.
    pub fn settings(
        &self,
        conn: &db::Conn,
        community: &Community,
        plugin: &PluginEntry,
    ) -> db::DbResult<BTreeMap<String, SettingValue>> {
        let mut settings = plugin.defaults.clone();
        for (name, json) in db::settings::overrides(conn, community.id, plugin.id())? {
            let spec = plugin.manifest().raw.settings.get(&name);
            if let (Some(spec), Ok(value)) = (spec, serde_json::from_str::<serde_json::Value>(&json))
                && let Some(value) = setting_value(spec, &value)
            {
                settings.insert(name, value);
            }
        }
        Ok(settings)
    }
}

/// A stored override as a setting value, if it fits the setting's type.
pub fn setting_value(spec: &SettingSpec, value: &serde_json::Value) -> Option<SettingValue> {
    match spec {
        SettingSpec::Integer { min, max, .. } => {
            value.as_i64().filter(|v| min <= v && v <= max).map(SettingValue::Int)
        }
        SettingSpec::Boolean { .. } => value.as_bool().map(SettingValue::Bool),
        SettingSpec::Duration { .. } => value
            .as_str()
            .and_then(plugin_api::manifest::parse_duration)
            .and_then(|s| i64::try_from(s).ok())
            .map(SettingValue::Int),
        SettingSpec::Url { .. } => value
            .as_str()
            .filter(|s| s.is_empty() || s.starts_with("https://") || s.starts_with("http://"))
            .map(|s| SettingValue::Text(s.to_owned())),
    }
}
