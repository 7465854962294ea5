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
                Template { name: "about".to_owned(), source: include_str!("templates/about.hbs").to_owned() },
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

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::{PluginRequest, PluginResponse, codec};

    #[test]
    fn describe_through_the_native_entry_point() {
        let bytes = portal_dispatch(&codec::encode(&PluginRequest::Describe).expect("encode"));
        match codec::decode::<PluginResponse>(&bytes).expect("decode") {
            PluginResponse::Described(d) => {
                assert_eq!(d.id, ID);
                assert_eq!(d.migrations.len(), 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_in_is_an_error_response_not_a_panic() {
        let bytes = portal_dispatch(b"\xff not a request");
        match codec::decode::<PluginResponse>(&bytes).expect("decode") {
            PluginResponse::Error(e) => assert_eq!(e.kind, plugin_api::ErrorKind::Internal),
            other => panic!("{other:?}"),
        }
    }
}
