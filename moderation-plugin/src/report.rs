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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql;
    use crate::testing::{self, executed, named, params_of, rows};
    use plugin_api::{ErrorKind, HostCall, HostReply, HttpMethod, MemberInfo, SqlValue};
    use std::collections::BTreeMap;

    /// A host holding the copy of message 50 in conversation 5, by member 7, readable by
    /// 7 and 8; a report insert changes `report_changes` rows.
    fn host(report_changes: u64) -> testing::Calls {
        testing::host(move |call| match call {
            HostCall::Query { sql: q, params } if q == sql::COPY => {
                if params.get(1) == Some(&SqlValue::Int(50)) {
                    rows(vec![vec![
                        SqlValue::Int(5),
                        SqlValue::Int(7),
                        "you are all idiots".into(),
                        "[7,8]".into(),
                        SqlValue::Int(9),
                    ]])
                } else {
                    rows(Vec::new())
                }
            }
            HostCall::Execute { sql: q, .. } if q == sql::ADD_REPORT => executed(report_changes),
            HostCall::Members { ids } => HostReply::Members {
                members: ids
                    .iter()
                    .map(|id| MemberInfo {
                        id: *id,
                        name: "Ada".into(),
                        nickname: "ada".into(),
                        initials: "A".into(),
                        joined: None,
                    })
                    .collect(),
            },
            other => panic!("unexpected host call {other:?}"),
        })
    }

    fn get(conversation: &str, message: &str) -> PageRequest {
        PageRequest {
            route: "report".into(),
            method: HttpMethod::Get,
            params: BTreeMap::new(),
            query: vec![("conversation".into(), conversation.into()), ("message".into(), message.into())],
            form: Vec::new(),
        }
    }

    fn post(reason: &str) -> PageRequest {
        PageRequest {
            route: "send_report".into(),
            method: HttpMethod::Post,
            params: BTreeMap::new(),
            query: Vec::new(),
            form: vec![
                ("conversation".into(), "5".into()),
                ("message".into(), "50".into()),
                ("reason".into(), reason.into()),
            ],
        }
    }

    fn kind(result: Result<PageResponse, PluginError>) -> ErrorKind {
        result.err().map(|e| e.kind).unwrap_or_else(|| panic!("expected an error"))
    }

    #[test]
    fn a_reader_sees_the_message_and_the_form() {
        let _calls = host(1);
        match show(&testing::ctx(Some(8)), &get("5", "50")) {
            Ok(PageResponse::Render { template, data, .. }) => {
                assert_eq!(template, "report");
                assert_eq!(data.0["text"], "you are all idiots");
                assert_eq!(data.0["author"], "Ada");
                assert_eq!(data.0["message"], 50);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn others_get_not_found_and_the_author_is_refused() {
        let _calls = host(1);
        assert_eq!(kind(show(&testing::ctx(Some(9)), &get("5", "50"))), ErrorKind::NotFound);
        assert_eq!(
            kind(show(&testing::ctx(Some(8)), &get("6", "50"))),
            ErrorKind::NotFound,
            "wrong conversation"
        );
        assert_eq!(kind(show(&testing::ctx(Some(8)), &get("5", "51"))), ErrorKind::NotFound, "no copy");
        assert_eq!(kind(show(&testing::ctx(Some(8)), &get("5", "x"))), ErrorKind::NotFound);
        assert_eq!(kind(show(&testing::ctx(Some(7)), &get("5", "50"))), ErrorKind::Forbidden);
        assert_eq!(kind(send(&testing::ctx(Some(7)), &post("mine"))), ErrorKind::Forbidden);
    }

    #[test]
    fn a_report_is_stored_and_the_reporter_thanked() {
        let calls = host(1);
        match send(&testing::ctx(Some(8)), &post("  insults  ")) {
            Ok(PageResponse::Redirect { to, flash: Some(flash) }) => {
                assert_eq!(to, "/conversations/5");
                assert_eq!(flash.message, "Thanks — the moderators will review it.");
            }
            other => panic!("{other:?}"),
        }
        let executes = named(&calls, "execute");
        let p = params_of(&executes[0]);
        // community, check, conversation, message, author, text, reason, reporter, now
        assert_eq!(p[1], SqlValue::Int(9));
        assert_eq!(p[3], SqlValue::Int(50));
        assert_eq!(p[6], SqlValue::from("insults"));
        assert_eq!(p[7], SqlValue::Int(8));
    }

    #[test]
    fn a_second_report_by_the_same_member_is_not_added() {
        let _calls = host(0);
        match send(&testing::ctx(Some(8)), &post("again")) {
            Ok(PageResponse::Redirect { flash: Some(flash), .. }) => {
                assert!(flash.message.contains("already reported"), "{}", flash.message)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_empty_reason_shows_the_form_again_with_what_was_typed() {
        let calls = host(1);
        match send(&testing::ctx(Some(8)), &post("   ")) {
            Ok(PageResponse::Render { data, .. }) => {
                assert_eq!(data.0["reason"], "   ");
                assert!(data.0["error"].is_string());
            }
            other => panic!("{other:?}"),
        }
        assert!(named(&calls, "execute").is_empty());
    }
}
