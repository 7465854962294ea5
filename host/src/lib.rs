//! The community portal host: it loads sandboxed WebAssembly plugins through ABI v1
//! (`plugin-api`) and serves their features to communities.
//!
//! Entry points: [`plugins::PluginRuntime`] loads and calls plugins; [`cli`] is the
//! `portal` command line.

pub mod cli;
pub mod clock;
pub mod config;
pub mod plugins;
