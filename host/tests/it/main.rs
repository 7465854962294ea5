//! The host's integration tests, in one binary: the real plugin runtime, the real
//! Conversations wasm, the hostile fixture plugins and the bad manifests.

mod authorization;
mod authors;
mod browser;
mod cli;
mod conversation_rules;
mod conversations;
mod crash;
mod email;
mod extensions;
mod hostile;
mod hostile_input;
mod http;
mod live;
mod manifests;
mod moderation;
mod notifications;
mod pg_sandbox;
mod pg_server;
mod processes;
mod runtime;
mod sandbox;
mod security;
mod slot_cache;
mod storage;
mod support;
mod templates;
mod web;
