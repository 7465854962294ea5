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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql;
    use crate::testing::{self, executed, named, params_of, rows};
    use plugin_api::{Decision, HostCall, HostReply, HttpMethod, SqlValue};
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;

    /// A queue entry as the fake database holds it.
    #[derive(Clone)]
    struct Row {
        id: i64,
        kind: &'static str,
        check: Option<i64>,
        message: Option<i64>,
        reporter: Option<i64>,
        decision: Option<String>,
    }

    fn held(id: i64, check: i64) -> Row {
        Row { id, kind: "held", check: Some(check), message: None, reporter: None, decision: None }
    }

    fn report(id: i64, check: Option<i64>, message: i64, reporter: i64) -> Row {
        Row { id, kind: "report", check, message: Some(message), reporter: Some(reporter), decision: None }
    }

    fn columns(r: &Row) -> Vec<SqlValue> {
        vec![
            SqlValue::Int(r.id),
            r.kind.into(),
            r.check.into(),
            SqlValue::Int(5),
            r.message.into(),
            SqlValue::Int(7),
            "the text".into(),
            "the reason".into(),
            r.reporter.into(),
            SqlValue::Int(testing::NOW.0 - 1000),
            r.decision.clone().into(),
            SqlValue::Null,
            SqlValue::Null,
            SqlValue::Null,
        ]
    }

    /// A fake host over `entries`: the entry queries, the conditional decide, and
    /// resolve and notify (answered `resolve_reply`).
    fn host(entries: Vec<Row>, resolve_reply: HostReply) -> (testing::Calls, Rc<RefCell<Vec<Row>>>) {
        let db = Rc::new(RefCell::new(entries));
        let state = db.clone();
        let calls = testing::host(move |call| {
            let p = params_of(call).to_vec();
            let mut db = state.borrow_mut();
            match call {
                HostCall::Query { sql: q, .. } if q == sql::ENTRY_BY_ID => {
                    rows(db.iter().filter(|r| SqlValue::Int(r.id) == p[1]).map(columns).collect())
                }
                HostCall::Query { sql: q, .. } if q == sql::PENDING_REPORTS_OF => rows(
                    db.iter()
                        .filter(|r| {
                            r.kind == "report"
                                && r.decision.is_none()
                                && r.message.map(SqlValue::Int) == Some(p[1].clone())
                        })
                        .map(columns)
                        .collect(),
                ),
                HostCall::Execute { sql: q, .. } if q == sql::DECIDE => {
                    let row = db.iter_mut().find(|r| SqlValue::Int(r.id) == p[1] && r.decision.is_none());
                    match row {
                        Some(row) => {
                            row.decision = p[2].as_text().map(str::to_owned);
                            executed(1)
                        }
                        None => executed(0),
                    }
                }
                HostCall::Resolve { .. } => resolve_reply.clone(),
                HostCall::Notify { .. } | HostCall::Log { .. } => HostReply::Done,
                other => panic!("unexpected host call {other:?}"),
            }
        });
        (calls, db)
    }

    fn decide_request(id: i64, decision: &str, reason: &str) -> PageRequest {
        PageRequest {
            route: "decide".into(),
            method: HttpMethod::Post,
            params: BTreeMap::from([("id".to_owned(), id.to_string())]),
            query: Vec::new(),
            form: vec![("decision".into(), decision.into()), ("reason".into(), reason.into())],
        }
    }

    fn flash_of(response: Result<PageResponse, PluginError>) -> (FlashKind, String) {
        match response {
            Ok(PageResponse::Redirect { to, flash: Some(flash) }) => {
                assert_eq!(to, "/moderation");
                (flash.kind, flash.message)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn releasing_twice_resolves_once() {
        let (calls, db) = host(vec![held(1, 9)], HostReply::Done);
        let ctx = testing::ctx(Some(2));
        let (kind, _) = flash_of(decide(&ctx, &decide_request(1, "release", "")));
        assert_eq!(kind, FlashKind::Success);
        assert_eq!(db.borrow()[0].decision.as_deref(), Some("release"));
        let (kind, message) = flash_of(decide(&ctx, &decide_request(1, "release", "")));
        assert_eq!(kind, FlashKind::Info);
        assert!(message.contains("already decided"), "{message}");
        let (kind, _) = flash_of(decide(&ctx, &decide_request(1, "reject", "late")));
        assert_eq!(kind, FlashKind::Info, "a later, different decision changes nothing either");
        let resolves = named(&calls, "resolve");
        assert_eq!(resolves, vec![HostCall::Resolve { check: CheckId(9), decision: Decision::Release }]);
        assert!(named(&calls, "notify").is_empty(), "Conversations tells the author, not Moderation");
    }

    #[test]
    fn rejecting_gives_the_author_a_reason() {
        let (calls, _) = host(vec![held(1, 9)], HostReply::Done);
        flash_of(decide(&testing::ctx(Some(2)), &decide_request(1, "reject", "")));
        let resolves = named(&calls, "resolve");
        let [HostCall::Resolve { decision: Decision::Reject { reason }, .. }] = resolves.as_slice() else {
            panic!("{resolves:?}")
        };
        assert!(!reason.is_empty());
    }

    #[test]
    fn taking_down_closes_every_report_of_the_message_and_tells_each_reporter() {
        let entries =
            vec![report(1, Some(9), 50, 20), report(2, Some(9), 50, 21), report(3, Some(9), 60, 22)];
        let (calls, db) = host(entries, HostReply::Done);
        let (kind, _) = flash_of(decide(&testing::ctx(Some(2)), &decide_request(1, "take_down", "Spam.")));
        assert_eq!(kind, FlashKind::Success);
        let decided: Vec<_> = db.borrow().iter().map(|r| r.decision.clone()).collect();
        assert_eq!(decided, vec![Some("take_down".into()), Some("take_down".into()), None]);
        assert_eq!(
            named(&calls, "resolve"),
            vec![HostCall::Resolve {
                check: CheckId(9),
                decision: Decision::Reject { reason: "Spam.".into() }
            }]
        );
        let told: Vec<UserId> = named(&calls, "notify")
            .iter()
            .filter_map(|c| if let HostCall::Notify { to, .. } = c { Some(*to) } else { None })
            .collect();
        assert_eq!(told, vec![UserId(20), UserId(21)]);
        // The second report of the same message is already decided.
        let (kind, _) = flash_of(decide(&testing::ctx(Some(2)), &decide_request(2, "dismiss", "")));
        assert_eq!(kind, FlashKind::Info);
        assert_eq!(named(&calls, "resolve").len(), 1);
    }

    #[test]
    fn dismissing_resolves_nothing_and_tells_the_reporter() {
        let (calls, _) = host(vec![report(1, None, 50, 20)], HostReply::Done);
        flash_of(decide(&testing::ctx(Some(2)), &decide_request(1, "dismiss", "")));
        assert!(named(&calls, "resolve").is_empty());
        assert_eq!(named(&calls, "notify").len(), 1);
    }

    #[test]
    fn decisions_that_do_not_fit_are_refused_before_anything_changes() {
        let (calls, db) = host(vec![held(1, 9), report(2, None, 50, 20)], HostReply::Done);
        let ctx = testing::ctx(Some(2));
        let wrong = decide(&ctx, &decide_request(1, "take_down", ""));
        assert_eq!(wrong.err().map(|e| e.kind), Some(ErrorKind::BadRequest));
        let unknown = decide(&ctx, &decide_request(1, "delete", ""));
        assert_eq!(unknown.err().map(|e| e.kind), Some(ErrorKind::BadRequest));
        let unchecked = decide(&ctx, &decide_request(2, "take_down", ""));
        assert_eq!(unchecked.err().map(|e| e.kind), Some(ErrorKind::Conflict));
        let missing = decide(&ctx, &decide_request(99, "release", ""));
        assert_eq!(missing.err().map(|e| e.kind), Some(ErrorKind::NotFound));
        assert!(db.borrow().iter().all(|r| r.decision.is_none()));
        assert!(named(&calls, "resolve").is_empty());
    }

    #[test]
    fn a_refused_resolution_is_a_conflict_so_the_call_rolls_back() {
        let refused = HostReply::Error(plugin_api::HostError {
            kind: plugin_api::HostErrorKind::NotAllowed,
            message: "check 9 is not yours".into(),
        });
        let (calls, _) = host(vec![held(1, 9)], refused);
        let result = decide(&testing::ctx(Some(2)), &decide_request(1, "release", ""));
        assert_eq!(result.err().map(|e| e.kind), Some(ErrorKind::Conflict));
        assert_eq!(named(&calls, "log").len(), 1, "the cause goes to the log");
    }
}
