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
