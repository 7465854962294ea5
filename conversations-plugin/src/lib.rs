//! Conversations: private messaging between participants and groups, as a portal plugin.
//! This module wires the plugin into the ABI ([`Conversations`] implements
//! [`plugin_api::guest::Plugin`]); the rules live in [`rules`] (pure, unit-tested), the SQL
//! in [`store`], the pages in [`pages`], the slot items in [`slots`], names in
//! [`directory`]; times come from `plugin_api::time`. Other plugins extend it through
//! `conversations-api`: they check each message before it is stored ([`checks`]), and
//! receive its events ([`events`], emitted by [`delivery`] and the pages).

pub mod call;
pub mod checks;
pub mod delivery;
pub mod digest;
pub mod directory;
pub mod emails;
pub mod events;
pub mod pages;
pub mod reach;
pub mod rules;
pub mod sending;
pub mod slots;
pub mod store;
#[cfg(test)]
mod testhost;

use plugin_api::extension::{CHECK_RESOLVED, CheckResolved};
use plugin_api::guest::{Plugin, host};
use plugin_api::{
    Context, Delivery, Description, LogLevel, Migration, PageRequest, PageResponse, PluginError, SlotFills,
    SlotPage, Template,
};

/// The plugin.
pub struct Conversations;

/// The plugin id: the manifest's `id` and the prefix of its tables.
pub const ID: &str = "conversations";

fn template(name: &str, source: &str) -> Template {
    Template { name: name.to_owned(), source: source.to_owned() }
}

impl Plugin for Conversations {
    fn describe() -> Description {
        Description {
            id: ID.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            migrations: vec![
                Migration {
                    version: 1,
                    name: "conversations, participants, messages".to_owned(),
                    sql: include_str!("../migrations/001_conversations.sql").to_owned(),
                },
                Migration {
                    version: 2,
                    name: "inbox columns and blocks".to_owned(),
                    sql: include_str!("../migrations/002_inbox_and_blocks.sql").to_owned(),
                },
                Migration {
                    version: 3,
                    name: "digest marker".to_owned(),
                    sql: include_str!("../migrations/003_digest.sql").to_owned(),
                },
                Migration {
                    version: 4,
                    name: "held, rejected and removed messages".to_owned(),
                    sql: include_str!("../migrations/004_moderation.sql").to_owned(),
                },
            ],
            templates: vec![
                template("about", include_str!("templates/about.hbs")),
                template("preview", include_str!("templates/preview.hbs")),
                template("inbox", include_str!("templates/inbox.hbs")),
                template("new", include_str!("templates/new.hbs")),
                template("conversation", include_str!("templates/conversation.hbs")),
                template("invitation.html", include_str!("templates/invitation.html.hbs")),
                template("invitation.txt", include_str!("templates/invitation.txt.hbs")),
                template("digest.html", include_str!("templates/digest.html.hbs")),
                template("digest.txt", include_str!("templates/digest.txt.hbs")),
            ],
        }
    }

    fn slots(ctx: &Context, page: &SlotPage, items: &[String]) -> Result<SlotFills, PluginError> {
        slots::fill(ctx, page, items)
    }

    fn page(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
        pages::route(ctx, request)
    }

    fn job(ctx: &Context, job: &str) -> Result<(String, bool), PluginError> {
        match job {
            "digest" => digest::run(ctx),
            _ => Err(PluginError::internal(format!("no job named {job}"))),
        }
    }

    /// The host tells Conversations that a check of its check point was resolved (it
    /// subscribes to nothing else); any other event is ignored.
    fn deliver(ctx: &Context, delivery: &Delivery) -> Result<(), PluginError> {
        if delivery.event != CHECK_RESOLVED {
            return Ok(());
        }
        match delivery.payload_as::<CheckResolved>() {
            Ok(resolved) => checks::resolved(ctx, &resolved),
            // Delivering it again would fail the same way and hold up the events behind it.
            Err(err) => {
                host::log(
                    LogLevel::Error,
                    &format!(
                        "delivery {} of `{CHECK_RESOLVED}` ignored: undecodable payload ({err})",
                        delivery.id
                    ),
                );
                Ok(())
            }
        }
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
                assert_eq!(d.migrations.len(), 4);
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
