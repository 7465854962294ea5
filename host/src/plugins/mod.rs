//! Plugins: manifests, the sandboxed wasm runtime, and the host calls plugins make.
//!
//! - [`manifest`]: parse and validate a manifest file;
//! - [`runtime`]: load a plugin and call it, one fresh instance per call;
//! - [`host_calls`]: the services behind host calls and the one capability check;
//! - [`services`]: those services on the portal's database, one transaction per call;
//! - [`engine`]: the wasmtime engine and the compiled-module cache;
//! - [`config`]: limits and pool settings;
//! - [`breaker`]: the circuit breaker that switches a failing plugin off for a while;
//! - [`trace`]: host services that record every host call (`portal plugin run`);
//! - [`error`]: load and call errors.

pub mod breaker;
pub mod config;
pub mod engine;
pub mod error;
pub mod host_calls;
pub mod manifest;
pub mod runtime;
pub mod services;
pub mod trace;

pub use config::{Limits, RuntimeConfig};
pub use error::{CallError, CallFailure, LoadError};
pub use host_calls::{HostServices, NoServices};
pub use manifest::{ManifestError, PluginManifest};
pub use runtime::{LoadedPlugin, PluginRuntime, Session};
