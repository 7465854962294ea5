//! Moderation: per-community rules for messages (blocked words, links from new members),
//! a Report action on every message, and a review queue for community admins. It extends
//! Conversations only through the portal's extension points (see `conversations-api`).

pub mod rules;

use plugin_api::guest::Plugin;
use plugin_api::{Context, Description, PageRequest, PageResponse, PluginError};

/// The plugin.
pub struct Moderation;

/// The plugin id.
pub const ID: &str = "moderation";

impl Plugin for Moderation {
    fn describe() -> Description {
        Description {
            id: ID.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            migrations: Vec::new(),
            templates: Vec::new(),
        }
    }

    fn page(_ctx: &Context, _request: &PageRequest) -> Result<PageResponse, PluginError> {
        Err(PluginError::not_found())
    }
}

plugin_api::register_plugin!(Moderation);
