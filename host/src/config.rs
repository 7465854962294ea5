//! `portal.toml`: the one configuration of the portal. Every setting has a default, so the
//! portal runs with no file at all. Loaded once in `main` and passed down.

use crate::plugins::RuntimeConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the portal keeps its database, compiled-module cache and email outbox.
    pub data_dir: PathBuf,
    /// Plugins.
    pub plugins: PluginsConfig,
}

/// `[plugins]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginsConfig {
    /// Manifests of the plugins to load, relative to the working directory.
    pub manifests: Vec<PathBuf>,
    /// Limits and instance pool.
    pub runtime: RuntimeConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config { data_dir: PathBuf::from("data"), plugins: PluginsConfig::default() }
    }
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            manifests: vec![PathBuf::from("manifests/conversations.toml")],
            runtime: RuntimeConfig::default(),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause, with line and column.
        source: toml::de::Error,
    },
}

impl Config {
    /// Reads `path`; a missing file gives the defaults only when `required` is false.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => String::new(),
            Err(source) => return Err(ConfigError::Read { path: path.to_owned(), source }),
        };
        let mut config: Config =
            toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_owned(), source })?;
        if config.plugins.runtime.cache_dir.is_none() {
            config.plugins.runtime.cache_dir = Some(config.data_dir.join("module-cache"));
        }
        Ok(config)
    }
}
