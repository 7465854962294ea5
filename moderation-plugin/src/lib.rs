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
#[cfg(test)]
mod testing;

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

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::manifest::ManifestFile;
    use plugin_api::{PluginRequest, PluginResponse, codec};

    fn manifest() -> ManifestFile {
        let text = include_str!("../../manifests/moderation.toml");
        toml::from_str(text).expect("manifests/moderation.toml matches the ABI's manifest schema")
    }

    #[test]
    fn describe_through_the_native_entry_point() {
        let bytes = portal_dispatch(&codec::encode(&PluginRequest::Describe).expect("encode"));
        match codec::decode::<PluginResponse>(&bytes).expect("decode") {
            PluginResponse::Described(d) => {
                assert_eq!(d.id, ID);
                assert_eq!(d.migrations.len(), 1);
                let names: Vec<_> = d.templates.iter().map(|t| t.name.as_str()).collect();
                assert_eq!(names, ["queue", "rules", "report"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_manifest_agrees_with_the_module() {
        let m = manifest();
        assert_eq!(m.id, ID);
        assert_eq!(m.version, env!("CARGO_PKG_VERSION"));
        assert!(m.abilities.iter().all(|a| a.name.as_str().starts_with("moderation.")));
        let routes: Vec<_> = m.routes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(routes, ["queue", "decide", "rules", "save_rules", "report", "send_report"]);
        assert!(m.settings.contains_key("reports_per_minute"));
        assert_eq!(m.implements[0].point, conversations_api::CHECK_MESSAGE);
        assert_eq!(m.subscriptions[0].event, conversations_api::MESSAGE_POSTED);
        assert_eq!(m.extension_slots[0].point, conversations_api::MESSAGE_ACTIONS);
    }

    #[test]
    fn every_table_and_index_is_the_plugins_own() {
        let sql = include_str!("../migrations/001_moderation.sql");
        for line in sql.lines().filter(|l| l.starts_with("CREATE")) {
            let name = line.split_whitespace().find(|w| w.starts_with("moderation")).unwrap_or("");
            assert!(name.starts_with("moderation_"), "{line}");
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
