//! Operators' overrides of plugin settings per community: the one code path behind
//! `portal settings ...` and the admin page. A value is checked against the setting's
//! type and range in the manifest before it is stored.

use crate::db::Conn as Connection;
use crate::db::{self, communities::Community};
use crate::plugins::PluginManifest;
use crate::portal::setting_value;
use plugin_api::manifest::SettingSpec;

/// Why a setting was not changed.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    /// No such plugin or setting, or a value that does not fit.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] db::DbError),
}

/// The value as the setting's type stores it (JSON), if `raw` fits the setting.
pub fn parse(spec: &SettingSpec, raw: &str) -> Option<serde_json::Value> {
    let raw = raw.trim();
    let json = match spec {
        SettingSpec::Boolean { .. } => match raw {
            "on" | "true" | "yes" => serde_json::json!(true),
            "" | "off" | "false" | "no" => serde_json::json!(false),
            _ => return None,
        },
        SettingSpec::Integer { .. } => serde_json::json!(raw.parse::<i64>().ok()?),
        SettingSpec::Duration { .. } | SettingSpec::Url { .. } => serde_json::json!(raw),
    };
    setting_value(spec, &json).map(|_| json)
}

/// What values a setting takes, for messages.
pub fn expected(spec: &SettingSpec) -> String {
    match spec {
        SettingSpec::Integer { min, max, .. } => format!("a whole number from {min} to {max}"),
        SettingSpec::Boolean { .. } => "true or false".into(),
        SettingSpec::Duration { .. } => "a duration such as 30s, 5m, 2h or 1d".into(),
        SettingSpec::Url { .. } => "an http(s) link, or nothing".into(),
    }
}

/// Sets `name` of `plugin` in `community` to `raw`, after checking it.
pub fn set(
    conn: &Connection,
    community: &Community,
    plugin: &PluginManifest,
    name: &str,
    raw: &str,
) -> Result<(), SettingError> {
    let spec = plugin.raw.settings.get(name).ok_or_else(|| {
        let known: Vec<_> = plugin.raw.settings.keys().map(String::as_str).collect();
        SettingError::Invalid(format!(
            "plugin `{}` has no setting `{name}`; it has: {}",
            plugin.id(),
            known.join(", ")
        ))
    })?;
    let json = parse(spec, raw).ok_or_else(|| {
        SettingError::Invalid(format!("{name}: `{}` is not allowed; expected {}", raw.trim(), expected(spec)))
    })?;
    db::settings::set(conn, community.id, plugin.id(), name, &json.to_string())?;
    tracing::info!(community = %community.slug, plugin = plugin.id(), setting = name, value = %json, "setting changed");
    Ok(())
}

/// Removes an override: the manifest's default applies again.
pub fn unset(
    conn: &Connection,
    community: &Community,
    plugin: &PluginManifest,
    name: &str,
) -> Result<(), SettingError> {
    if !plugin.raw.settings.contains_key(name) {
        return Err(SettingError::Invalid(format!("plugin `{}` has no setting `{name}`", plugin.id())));
    }
    db::settings::unset(conn, community.id, plugin.id(), name)?;
    Ok(())
}
