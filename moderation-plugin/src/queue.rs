//! The review queue: GET lists the held messages and reports waiting for a decision and
//! the recently decided ones; POST `/moderation/{id}/decide` records a decision and
//! carries it out through the host (`resolve`: Conversations then delivers, hides or takes
//! the message down and tells its author) and tells reporters the outcome (`notify`).
//! A decision on a report closes every pending report of the same message. Deciding
//! something already decided changes nothing.

use crate::call::{host_error, me, redirect, render};
use crate::names::Names;
use crate::rules::{self, DecisionKind, EntryKind};
use crate::store::{self, Entry};
use plugin_api::guest::host;
use plugin_api::time::Moment;
use plugin_api::{
    CheckId, Context, ErrorKind, FlashKind, LogLevel, PageRequest, PageResponse, PluginError, UserId,
};
use serde_json::json;

/// Most pending entries the queue shows at once (the oldest wait for the next page load).
const PENDING_SHOWN: u32 = 100;
/// Decided entries in "Recently decided".
const DECIDED_SHOWN: u32 = 20;
/// Characters of a decided message's text shown in "Recently decided".
const EXCERPT_CHARS: usize = 120;

fn excerpt(text: &str) -> String {
    if text.chars().count() <= EXCERPT_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(EXCERPT_CHARS).collect();
    format!("{}…", cut.trim_end())
}

/// GET `/moderation`.
pub fn show(ctx: &Context) -> Result<PageResponse, PluginError> {
    let community = ctx.community.id;
    let pending = store::pending(community, PENDING_SHOWN).map_err(host_error)?;
    let total = if pending.len() < PENDING_SHOWN as usize {
        pending.len() as i64
    } else {
        store::pending_count(community).map_err(host_error)?
    };
    let decided = store::decided(community, DECIDED_SHOWN).map_err(host_error)?;
    let mut people: Vec<UserId> = Vec::new();
    for e in pending.iter().chain(&decided) {
        people.push(e.author);
        people.extend(e.reporter);
        people.extend(e.decided_by);
    }
    let names = Names::load(&people)?;
    let pending_views: Vec<_> = pending
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "held": e.kind == EntryKind::Held,
                "author": names.name(e.author),
                "reporter": e.reporter.map(|r| names.name(r)),
                "text": e.text,
                "reason": e.reason,
                "when": Moment::of(e.created_at, ctx.now),
                "can_take_down": e.check.is_some(),
            })
        })
        .collect();
    let decided_views: Vec<_> = decided
        .iter()
        .map(|e| {
            json!({
                "held": e.kind == EntryKind::Held,
                "author": names.name(e.author),
                "text": excerpt(&e.text),
                "decision": e.decision.map_or("Decided", DecisionKind::label),
                "decision_reason": e.decision_reason,
                "by": e.decided_by.map(|b| names.name(b)),
                "when": e.decided_at.map(|at| Moment::of(at, ctx.now)),
            })
        })
        .collect();
    render(
        "queue",
        "Moderation queue",
        &json!({
            "pending": pending_views,
            "pending_count": total,
            "more": total > pending.len() as i64,
            "decided": decided_views,
        }),
    )
}

/// The flash after a decision.
fn done_message(decision: DecisionKind) -> &'static str {
    match decision {
        DecisionKind::Release => "Released: the message goes to its readers.",
        DecisionKind::Reject => "Rejected: nobody will read the message, and its author is told why.",
        DecisionKind::Dismiss => "Dismissed: the message stays up, and the reporters are told.",
        DecisionKind::TakeDown => "Taken down: its author and the reporters are told.",
    }
}

/// The entries one decision on `entry` closes: a held message alone; a report with every
/// other pending report of the same message.
fn closed_by(ctx: &Context, entry: Entry) -> Result<Vec<Entry>, PluginError> {
    let Some(message) = entry.message.filter(|_| entry.kind == EntryKind::Report) else {
        return Ok(vec![entry]);
    };
    let mut all = store::pending_reports_of(ctx.community.id, message).map_err(host_error)?;
    if !all.iter().any(|e| e.id == entry.id) {
        all.push(entry);
    }
    Ok(all)
}

/// Tells the host, so that Conversations delivers, hides or takes the message down. A
/// refusal is logged and shown as a conflict; the call then rolls back, so the entry stays
/// pending.
fn resolve(check: CheckId, decision: plugin_api::Decision) -> Result<(), PluginError> {
    host::resolve(check, decision).map_err(|e| {
        host::log(LogLevel::Warn, &format!("resolving check {check} was refused: {e}"));
        PluginError::new(
            ErrorKind::Conflict,
            "The portal could not carry out this decision (the message may be gone). Nothing was changed.",
        )
    })
}

/// POST `/moderation/{id}/decide` with `decision` and `reason`.
pub fn decide(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    let me = me(ctx)?;
    let community = ctx.community.id;
    let id = request.param("id").and_then(|v| v.parse::<i64>().ok()).ok_or_else(PluginError::not_found)?;
    let decision = request
        .form_value("decision")
        .and_then(DecisionKind::parse)
        .ok_or_else(|| PluginError::bad_request("Choose a decision."))?;
    let entry = store::entry(community, id).map_err(host_error)?.ok_or_else(PluginError::not_found)?;
    if let Some(earlier) = entry.decision {
        let said = format!("This was already decided: {}.", earlier.label().to_lowercase());
        return redirect("/moderation", FlashKind::Info, &said);
    }
    if !decision.fits(entry.kind) {
        return Err(PluginError::bad_request(match entry.kind {
            EntryKind::Held => "A held message is released or rejected.",
            EntryKind::Report => "A report is dismissed, or its message taken down.",
        }));
    }
    let check = entry.check;
    if decision.resolves() && check.is_none() {
        return Err(PluginError::new(
            ErrorKind::Conflict,
            "This message cannot be taken down from here: it was sent before Moderation checked messages in this community.",
        ));
    }
    let reason = rules::decision_reason(decision, request.form_value("reason").unwrap_or_default());
    let conversation = entry.conversation;
    let mut reporters = Vec::new();
    let mut decided_any = false;
    for closed in closed_by(ctx, entry)? {
        if store::decide(community, closed.id, decision, reason.as_deref(), me, ctx.now)
            .map_err(host_error)?
        {
            decided_any = true;
            reporters.extend(closed.reporter);
        }
    }
    if !decided_any {
        return redirect("/moderation", FlashKind::Info, "This was already decided.");
    }
    if let (Some(check), Some(host_decision)) = (check, rules::host_decision(decision, reason.as_deref())) {
        resolve(check, host_decision)?;
    }
    if let Some(notice) = rules::reporter_notice(decision) {
        reporters.sort_unstable();
        reporters.dedup();
        let link = conversation.map_or_else(|| "/".to_owned(), |c| format!("/conversations/{c}"));
        for reporter in reporters {
            host::notify(reporter, notice, &link).map_err(host_error)?;
        }
    }
    redirect("/moderation", FlashKind::Success, done_message(decision))
}
