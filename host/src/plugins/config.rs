//! Settings of the plugin runtime: limits enforced on every call, and the instance pool.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Limits enforced on every call into a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Linear memory cap per instance, in MiB.
    pub memory_mib: u64,
    /// Time cap per call, in milliseconds: wasm execution is interrupted at this deadline
    /// (epoch interruption, checked every 5 ms).
    pub cpu_ms: u64,
    /// Largest request, response, host call or host reply, in bytes.
    pub max_payload_bytes: u32,
    /// Host calls allowed in one call.
    pub max_host_calls: u32,
    /// Longest a single SQL statement of a plugin may run, in milliseconds.
    pub sql_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mib: 64,
            cpu_ms: 1000,
            max_payload_bytes: 1024 * 1024,
            max_host_calls: 1000,
            sql_ms: 500,
        }
    }
}

impl Limits {
    /// The memory cap in bytes.
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
    }
}

/// The plugin runtime's configuration (`[plugins.runtime]` in `portal.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Limits on every call.
    pub limits: Limits,
    /// Where compiled modules are cached; `None` compiles at every start.
    pub cache_dir: Option<PathBuf>,
    /// Use the pooling instance allocator (fast fresh instances).
    pub pooling: bool,
    /// Instances that may exist at once (pooling only).
    pub pool_slots: u32,
    /// Bytes of each memory slot kept resident between instances (pooling only).
    pub keep_resident_bytes: usize,
    /// Count wasm instructions with wasmtime fuel (`portal plugin run` only: it makes
    /// compiled code slower, so the serving portal never turns it on; not in `portal.toml`).
    #[serde(skip)]
    pub fuel: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            limits: Limits::default(),
            cache_dir: None,
            pooling: true,
            pool_slots: 128,
            keep_resident_bytes: 2 * 1024 * 1024,
            fuel: false,
        }
    }
}
