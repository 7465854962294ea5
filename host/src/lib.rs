//! The community portal host: communities, members, groups, sign-in and pages (axum), one
//! SQLite database, and the sandboxed WebAssembly plugins (ABI v1 from `plugin-api`) that
//! provide its features.
//!
//! Entry points: [`portal::Portal::start`] opens the database and loads the plugins;
//! [`web::app`] builds the router; [`cli`] is the `portal` command line;
//! [`plugins::PluginRuntime`] loads and calls plugins on its own.

pub mod abilities;
pub mod auth;
pub mod authoring;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod deliveries;
pub mod demo;
pub mod email;
pub mod extensions;
pub mod jobs;
pub mod live;
pub mod plugin_settings;
pub mod plugins;
pub mod portal;
pub mod rate_limit;
pub mod render;
pub mod slot_cache;
pub mod unsubscribe;
pub mod view;
pub mod web;
