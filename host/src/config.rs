//! `portal.toml`: the one configuration of the portal. Every setting has a default, so the
//! portal runs with no file at all. Loaded once in `main` and passed down.

use crate::plugins::RuntimeConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port the web server listens on.
    pub listen: String,
    /// The address people use to reach the portal (links in emails; `https://` makes the
    /// cookies `Secure`).
    pub public_url: String,
    /// Where the portal keeps its database, compiled-module cache and email outbox.
    pub data_dir: PathBuf,
    /// The database: a SQLite file (default `<data_dir>/portal.db`), or a PostgreSQL
    /// server, `postgres://user:password@host:port/database`.
    pub database: Option<String>,
    /// Plugins.
    pub plugins: PluginsConfig,
    /// Email delivery.
    pub email: EmailConfig,
    /// The job scheduler.
    pub jobs: JobsConfig,
    /// Web server limits.
    pub web: WebConfig,
}

/// `[web]`: limits of the web server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// The largest request body accepted, in KiB; larger ones get 413.
    pub max_body_kib: usize,
    /// Addresses of the reverse proxies in front of the portal: a request from one of
    /// them is counted, for sign-in limits, by the client address the proxy appended to
    /// `X-Forwarded-For` (the last one that is not itself a trusted proxy). Empty: the
    /// connection's own address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Sign-in attempts.
    pub sign_in: SignInLimits,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig { max_body_kib: 64, trusted_proxies: Vec::new(), sign_in: SignInLimits::default() }
    }
}

/// `[web.sign_in]`: how many sign-in attempts are allowed before 429 (with Retry-After).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignInLimits {
    /// Wrong passwords for one account (community and email) per window.
    pub failures_per_account: u32,
    /// Sign-in attempts from one client address per window.
    pub attempts_per_address: u32,
    /// The window, in seconds.
    pub window_seconds: u64,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits { failures_per_account: 5, attempts_per_address: 30, window_seconds: 900 }
    }
}

/// `[email]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// The sender, e.g. `Riverside portal <portal@riverside.example>`.
    pub from: String,
    /// An SMTP server, `smtp://host:port` (plain SMTP, e.g. a local relay). Without it,
    /// emails are written as `.eml` files to `outbox_dir`.
    pub smtp: Option<String>,
    /// Where `.eml` files go when there is no SMTP server; default `<data_dir>/outbox`.
    pub outbox_dir: Option<PathBuf>,
    /// How often the delivery worker looks for emails to send, in milliseconds.
    pub poll_ms: u64,
    /// Sign outgoing email with DKIM (`[email.dkim]`); off when left out.
    pub dkim: Option<DkimConfig>,
}

/// `[email.dkim]`: sign outgoing email with DKIM, so receivers can check that it comes from
/// the domain of `email.from`. The public key goes in DNS at
/// `{selector}._domainkey.{domain}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimConfig {
    /// The signing domain (`d=`), normally the domain of `email.from`.
    pub domain: String,
    /// The selector (`s=`).
    pub selector: String,
    /// The private key file: for `rsa` a PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), for
    /// `ed25519` the 32-byte secret key in base64.
    pub private_key: PathBuf,
    /// The key's algorithm.
    #[serde(default)]
    pub algorithm: DkimAlgorithm,
}

/// A DKIM key's algorithm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DkimAlgorithm {
    /// RSA with SHA-256 (`rsa-sha256`): what every receiver checks.
    #[default]
    Rsa,
    /// Ed25519 with SHA-256 (RFC 8463): short keys, not checked by every receiver yet.
    Ed25519,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            from: "Community portal <portal@localhost>".into(),
            smtp: None,
            outbox_dir: None,
            poll_ms: 2000,
            dkim: None,
        }
    }
}

/// `[jobs]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Run the scheduler in `portal serve`.
    pub enabled: bool,
    /// How often the scheduler looks for due jobs, in milliseconds.
    pub tick_ms: u64,
    /// How long a job's lease lasts; a process that died holding one is replaced after it.
    pub lease_seconds: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig { enabled: true, tick_ms: 5000, lease_seconds: 300 }
    }
}

/// `[plugins]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginsConfig {
    /// Manifests of the plugins to load, relative to the working directory.
    pub manifests: Vec<PathBuf>,
    /// Limits and instance pool.
    pub runtime: RuntimeConfig,
    /// When a failing plugin is switched off, and for how long.
    pub breaker: crate::plugins::breaker::BreakerConfig,
    /// Reuse `Slots` answers of plugins that allow it (`slots_cache_seconds` in their
    /// manifest); `false` asks the plugin at every page render.
    pub slot_cache: bool,
    /// Delivery of events between plugins.
    pub events: EventsConfig,
}

/// `[plugins.events]`: how events are delivered to subscribing plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Deliver events in this process (`portal serve`). Turn it off on all processes but
    /// one or more that deliver; every delivering process may deliver an event once more
    /// only if it dies between a subscriber's commit and its own (at-least-once).
    pub deliver: bool,
    /// The first retry of a failed delivery waits this long; each further failure doubles
    /// the wait, up to `retry_max_seconds`.
    pub retry_ms: u64,
    /// The longest wait between two attempts of one delivery.
    pub retry_max_seconds: u64,
    /// How often the deliverer looks for due retries when nothing wakes it.
    pub poll_ms: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig { deliver: true, retry_ms: 2000, retry_max_seconds: 600, poll_ms: 1000 }
    }
}

impl EventsConfig {
    /// How long a delivery that failed `attempts` times (1 or more) waits.
    pub fn backoff_ms(&self, attempts: u32) -> i64 {
        let doubled = self.retry_ms.saturating_mul(1u64 << attempts.saturating_sub(1).min(30));
        let capped = doubled.min(self.retry_max_seconds.saturating_mul(1000));
        i64::try_from(capped).unwrap_or(i64::MAX)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            database: None,
            plugins: PluginsConfig::default(),
            email: EmailConfig::default(),
            jobs: JobsConfig::default(),
            web: WebConfig::default(),
        }
    }
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            manifests: vec![PathBuf::from("manifests/conversations.toml")],
            runtime: RuntimeConfig::default(),
            breaker: crate::plugins::breaker::BreakerConfig::default(),
            slot_cache: true,
            events: EventsConfig::default(),
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
    /// Where `.eml` files go.
    pub fn outbox_dir(&self) -> PathBuf {
        self.email.outbox_dir.clone().unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    /// Where the database is.
    pub fn database(&self) -> crate::db::Location {
        match &self.database {
            Some(text) => crate::db::Location::parse(text),
            None => crate::db::Location::Sqlite(self.data_dir.join("portal.db")),
        }
    }

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
