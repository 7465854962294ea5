//! The plugin's pages: dispatch by the route names of `manifests/moderation.toml`, and
//! the rules page (GET shows the community's rules, POST validates and saves them,
//! keeping what the moderator typed when something is wrong). The report pages are in
//! [`crate::report`], the queue in [`crate::queue`].

use crate::call::{host_error, me, redirect, render};
use crate::rules::{self, Rules, RulesForm, WordAction};
use crate::store;
use crate::{queue, report};
use plugin_api::{Context, FlashKind, PageRequest, PageResponse, PluginError};
use serde_json::json;

/// Dispatches a page request by route name.
pub fn route(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    match request.route.as_str() {
        "queue" => queue::show(ctx),
        "decide" => queue::decide(ctx, request),
        "rules" => show_rules(ctx),
        "save_rules" => save_rules(ctx, request),
        "report" => report::show(ctx, request),
        "send_report" => report::send(ctx, request),
        _ => Err(PluginError::not_found()),
    }
}

/// What the rules form shows: saved rules, or what was typed.
struct RulesView<'a> {
    words: &'a str,
    action: Option<&'a str>,
    days: &'a str,
    errors: Vec<String>,
}

fn rules_page(view: RulesView<'_>) -> Result<PageResponse, PluginError> {
    render(
        "rules",
        "Moderation rules",
        &json!({
            "words": view.words,
            "refuse": view.action == Some(WordAction::Refuse.as_str()),
            "hold": view.action == Some(WordAction::Hold.as_str()),
            "days": view.days,
            "errors": view.errors,
            "max_words": rules::MAX_WORDS,
            "max_word_chars": rules::MAX_WORD_CHARS,
            "max_days": rules::MAX_NEW_MEMBER_DAYS,
        }),
    )
}

fn show_rules(ctx: &Context) -> Result<PageResponse, PluginError> {
    let saved: Rules = store::rules(ctx.community.id).map_err(host_error)?;
    rules_page(RulesView {
        words: &saved.words_text(),
        action: Some(saved.word_action.as_str()),
        days: &saved.new_member_days.to_string(),
        errors: Vec::new(),
    })
}

fn save_rules(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    let me = me(ctx)?;
    let form = RulesForm {
        words: request.form_value("words").unwrap_or_default(),
        word_action: request.form_value("word_action"),
        new_member_days: request.form_value("new_member_days").unwrap_or_default(),
    };
    match rules::parse_rules_form(form) {
        Ok(new_rules) => {
            store::save_rules(ctx.community.id, &new_rules, me, ctx.now).map_err(host_error)?;
            redirect(
                "/moderation/rules",
                FlashKind::Success,
                "The rules are saved. They apply to the next message sent.",
            )
        }
        Err(errors) => rules_page(RulesView {
            words: form.words,
            action: form.word_action,
            days: form.new_member_days,
            errors,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql;
    use crate::testing::{self, executed, named, params_of, rows};
    use plugin_api::{HostCall, HttpMethod, SqlValue};
    use std::collections::BTreeMap;

    fn host() -> testing::Calls {
        testing::host(|call| match call {
            HostCall::Query { sql: q, .. } if q == sql::RULES => rows(Vec::new()),
            HostCall::Execute { sql: q, .. } if q == sql::SAVE_RULES => executed(1),
            other => panic!("unexpected host call {other:?}"),
        })
    }

    fn request(route: &str, method: HttpMethod, form: &[(&str, &str)]) -> PageRequest {
        PageRequest {
            route: route.into(),
            method,
            params: BTreeMap::new(),
            query: Vec::new(),
            form: form.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        }
    }

    #[test]
    fn the_rules_page_shows_the_defaults() {
        let _calls = host();
        match route(&testing::ctx(Some(2)), &request("rules", HttpMethod::Get, &[])) {
            Ok(PageResponse::Render { template, data, .. }) => {
                assert_eq!(template, "rules");
                assert_eq!(data.0["words"], "");
                assert_eq!(data.0["refuse"], true);
                assert_eq!(data.0["days"], "7");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn saved_rules_are_stored_and_a_bad_form_keeps_what_was_typed() {
        let calls = host();
        let ctx = testing::ctx(Some(2));
        let good = [("words", "Spam\n buy  now "), ("word_action", "hold"), ("new_member_days", "3")];
        match route(&ctx, &request("save_rules", HttpMethod::Post, &good)) {
            Ok(PageResponse::Redirect { to, .. }) => assert_eq!(to, "/moderation/rules"),
            other => panic!("{other:?}"),
        }
        let executes = named(&calls, "execute");
        let p = params_of(&executes[0]);
        assert_eq!(&p[1..4], &[SqlValue::from("Spam\nbuy now"), SqlValue::from("hold"), SqlValue::Int(3)]);
        let bad = [("words", "Spam"), ("word_action", "hold"), ("new_member_days", "a week")];
        match route(&ctx, &request("save_rules", HttpMethod::Post, &bad)) {
            Ok(PageResponse::Render { data, .. }) => {
                assert_eq!(data.0["words"], "Spam");
                assert_eq!(data.0["hold"], true);
                assert_eq!(data.0["days"], "a week");
                assert_eq!(data.0["errors"].as_array().map(Vec::len), Some(1));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(named(&calls, "execute").len(), 1, "nothing saved from the bad form");
    }

    #[test]
    fn unknown_routes_are_not_found() {
        let _calls = host();
        let result = route(&testing::ctx(Some(2)), &request("nope", HttpMethod::Get, &[]));
        assert_eq!(result.err(), Some(PluginError::not_found()));
    }
}
