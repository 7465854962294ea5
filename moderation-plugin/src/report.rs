//! Reporting a message: GET shows the message (from Moderation's copy) and a reason form;
//! POST stores the report and sends the member back to the conversation. Only a reader of
//! the message may report it ("not found" for anyone else), and never its author.

use crate::call::{host_error, me, redirect, render};
use crate::names::Names;
use crate::rules::{self, ReportRefusal};
use crate::store::{self, MessageCopy};
use plugin_api::{Context, FlashKind, PageRequest, PageResponse, PluginError};
use serde_json::json;

fn positive(value: Option<&str>) -> Result<i64, PluginError> {
    value.and_then(|v| v.trim().parse::<i64>().ok()).filter(|v| *v > 0).ok_or_else(PluginError::not_found)
}

/// The copy of message `message` of conversation `conversation`, if the viewer may
/// report it.
fn reportable(
    ctx: &Context,
    conversation: Option<&str>,
    message: Option<&str>,
) -> Result<MessageCopy, PluginError> {
    let (conversation, message) = (positive(conversation)?, positive(message)?);
    let viewer = me(ctx)?;
    let copy = store::copy(ctx.community.id, message)
        .map_err(host_error)?
        .filter(|c| c.conversation == conversation)
        .ok_or_else(PluginError::not_found)?;
    rules::may_report(viewer, copy.author, &copy.readers).map_err(|refusal| match refusal {
        ReportRefusal::NotFound => PluginError::not_found(),
        ReportRefusal::OwnMessage => PluginError::forbidden(refusal.message()),
    })?;
    Ok(copy)
}

fn conversation_path(conversation: i64) -> String {
    format!("/conversations/{conversation}")
}

fn form_page(copy: &MessageCopy, reason: &str, error: Option<String>) -> Result<PageResponse, PluginError> {
    let names = Names::load(&[copy.author])?;
    render(
        "report",
        "Report a message",
        &json!({
            "conversation": copy.conversation,
            "message": copy.message,
            "author": names.name(copy.author),
            "text": copy.text,
            "reason": reason,
            "error": error,
            "back": conversation_path(copy.conversation),
            "max_reason": rules::MAX_REPORT_REASON_CHARS,
        }),
    )
}

/// GET `/moderation/report?conversation=..&message=..`.
pub fn show(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    let copy = reportable(ctx, request.query_value("conversation"), request.query_value("message"))?;
    form_page(&copy, "", None)
}

/// POST `/moderation/report`.
pub fn send(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    let copy = reportable(ctx, request.form_value("conversation"), request.form_value("message"))?;
    let typed = request.form_value("reason").unwrap_or_default();
    let reason = match rules::validate_report_reason(typed) {
        Ok(reason) => reason,
        Err(error) => return form_page(&copy, typed, Some(error)),
    };
    let added = store::add_report(ctx.community.id, &copy, me(ctx)?, &reason, ctx.now).map_err(host_error)?;
    let back = conversation_path(copy.conversation);
    if added {
        redirect(&back, FlashKind::Success, "Thanks — the moderators will review it.")
    } else {
        redirect(&back, FlashKind::Info, "You already reported this message; the moderators will review it.")
    }
}
