//! Moderation: per-community rules for messages (blocked words, links from new members),
//! a Report action on every message, and a review queue for moderators. It extends
//! Conversations only through the portal's extension points (see `conversations-api`):
//! it answers the check point `conversations.check_message`, receives the event
//! `conversations.message_posted` and adds "Report" to the slot
//! `conversations.message_actions`.
//!
//! This module wires the plugin into the ABI ([`Moderation`] implements
//! [`plugin_api::guest::Plugin`]). The rules are in [`rules`] (pure, unit-tested), the SQL
//! in [`store`], the check in [`check`], the message copies in [`copies`], the pages in
//! [`pages`], [`report`] and [`queue`], the slot items in [`slots`].

pub mod call;
pub mod check;
pub mod copies;
pub mod names;
pub mod pages;
pub mod queue;
pub mod report;
pub mod rules;
pub mod slots;
pub mod store;

use plugin_api::guest::Plugin;
use plugin_api::{
    CheckRequest, Context, Delivery, Description, Migration, PageRequest, PageResponse, PluginError,
    SlotFills, SlotPage, Template, Verdict,
};

/// The plugin.
pub struct Moderation;

/// The plugin id: the manifest's `id` and the prefix of its tables.
pub const ID: &str = "moderation";

fn template(name: &str, source: &str) -> Template {
    Template { name: name.to_owned(), source: source.to_owned() }
}

impl Plugin for Moderation {
    fn describe() -> Description {
        Description {
            id: ID.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            migrations: vec![Migration {
                version: 1,
                name: "rules, message copies, queue".to_owned(),
                sql: include_str!("../migrations/001_moderation.sql").to_owned(),
            }],
            templates: vec![
                template("queue", include_str!("templates/queue.hbs")),
                template("rules", include_str!("templates/rules.hbs")),
                template("report", include_str!("templates/report.hbs")),
            ],
        }
    }

    fn slots(ctx: &Context, _page: &SlotPage, items: &[String]) -> Result<SlotFills, PluginError> {
        slots::fill(ctx, items)
    }

    fn page(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
        pages::route(ctx, request)
    }

    fn check(ctx: &Context, check: &CheckRequest) -> Result<Verdict, PluginError> {
        check::run(ctx, check)
    }

    fn deliver(ctx: &Context, delivery: &Delivery) -> Result<(), PluginError> {
        copies::deliver(ctx, delivery)
    }
}

plugin_api::register_plugin!(Moderation);
