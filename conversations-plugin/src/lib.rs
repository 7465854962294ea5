//! Conversations: private messaging between participants and groups, as a portal plugin.
//! This module wires the plugin into the ABI ([`Conversations`] implements
//! [`plugin_api::guest::Plugin`]); the rules live in [`rules`], the pages in [`pages`].

pub mod pages;
pub mod rules;

use plugin_api::guest::Plugin;
use plugin_api::{Context, Description, Migration, PageRequest, PageResponse, PluginError, Template};

/// The plugin.
pub struct Conversations;

/// The plugin id: the manifest's `id` and the prefix of its tables.
pub const ID: &str = "conversations";

impl Plugin for Conversations {
    fn describe() -> Description {
        Description {
            id: ID.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            migrations: vec![Migration {
                version: 1,
                name: "conversations, participants, messages".to_owned(),
                sql: include_str!("../migrations/001_conversations.sql").to_owned(),
            }],
            templates: vec![
                Template {
                    name: "about".to_owned(),
                    source: include_str!("templates/about.hbs").to_owned(),
                },
                Template {
                    name: "preview".to_owned(),
                    source: include_str!("templates/preview.hbs").to_owned(),
                },
            ],
        }
    }

    fn page(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
        pages::route(ctx, request)
    }
}

plugin_api::register_plugin!(Conversations);
