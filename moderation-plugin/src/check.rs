//! Conversations' check point `conversations.check_message`: the community's rules give
//! a verdict on a message about to be stored, and a hold goes into the queue in the same
//! call (inside the sending call's transaction: a send that rolls back leaves no entry).
//! It runs at every message under a small CPU budget: one primary-key query for the
//! rules, a directory call only when the text has a link, one insert only for a hold.

use crate::call::host_error;
use crate::rules;
use crate::store::{self, Held};
use conversations_api::{CHECK_MESSAGE, MessageCheck};
use plugin_api::guest::host;
use plugin_api::{CheckRequest, Context, PluginError, Timestamp, UserId, Verdict};
use serde::Deserialize;

/// Answers one check.
pub fn run(ctx: &Context, request: &CheckRequest) -> Result<Verdict, PluginError> {
    if request.point != CHECK_MESSAGE {
        return Err(PluginError::internal(format!(
            "moderation implements no check point `{}`",
            request.point
        )));
    }
    let subject = MessageCheck::deserialize(&request.subject).map_err(|e| {
        PluginError::internal(format!("the subject of `{CHECK_MESSAGE}` did not decode: {e}"))
    })?;
    let community = ctx.community.id;
    let rules = store::rules(community).map_err(host_error)?;
    let verdict = rules::verdict(&rules, &subject.text, ctx.now, || joined(subject.author))?;
    if let Verdict::Hold { reason } = &verdict {
        let held = Held {
            check: request.check,
            conversation: subject.conversation,
            author: subject.author,
            text: &subject.text,
            reason,
        };
        store::hold(community, &held, ctx.now).map_err(host_error)?;
    }
    Ok(verdict)
}

/// When `author` joined the community, if the directory says.
fn joined(author: UserId) -> Result<Option<Timestamp>, PluginError> {
    let members = host::members(vec![author]).map_err(host_error)?;
    Ok(members.into_iter().find(|m| m.id == author).and_then(|m| m.joined))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql;
    use crate::testing::{self, COMMUNITY, DAY, NOW, executed, named, params_of, rows, sql_of};
    use plugin_api::{
        ActorRef, CheckId, HostCall, HostReply, MemberInfo, PluginRequest, PluginResponse, SqlValue, codec,
    };

    fn request(text: &str, conversation: Option<i64>) -> CheckRequest {
        let subject = MessageCheck {
            conversation,
            author: UserId(7),
            acting_for: None,
            participants: vec![ActorRef::User(UserId(7)), ActorRef::User(UserId(8))],
            text: text.to_owned(),
        };
        CheckRequest {
            point: CHECK_MESSAGE.to_owned(),
            check: CheckId(41),
            subject: serde_json::to_value(subject).expect("subject"),
        }
    }

    /// A host with these saved rules (or none) and a member 7 who joined `joined_days_ago`.
    fn host(rules: Option<(&'static str, &'static str, i64)>, joined_days_ago: i64) -> testing::Calls {
        testing::host(move |call| match call {
            HostCall::Query { sql: q, .. } if q == sql::RULES => rows(
                rules
                    .iter()
                    .map(|(w, a, d)| vec![SqlValue::from(*w), SqlValue::from(*a), SqlValue::Int(*d)])
                    .collect(),
            ),
            HostCall::Execute { sql: q, .. } if q == sql::HOLD => executed(1),
            HostCall::Members { ids } => HostReply::Members {
                members: ids
                    .iter()
                    .map(|id| MemberInfo {
                        id: *id,
                        name: "Newcomer".into(),
                        nickname: "new".into(),
                        initials: "N".into(),
                        joined: Some(plugin_api::Timestamp(NOW.0 - joined_days_ago * DAY)),
                    })
                    .collect(),
            },
            other => panic!("unexpected host call {other:?}"),
        })
    }

    #[test]
    fn a_message_without_links_or_blocked_words_costs_one_query() {
        let calls = host(None, 1);
        assert_eq!(run(&testing::ctx(Some(7)), &request("hello there", Some(5))), Ok(Verdict::Allow));
        assert_eq!(calls.borrow().len(), 1, "{:?}", calls.borrow());
        assert_eq!(params_of(&calls.borrow()[0]), &[SqlValue::Int(COMMUNITY.0)]);
    }

    #[test]
    fn a_blocked_word_with_refuse_refuses_and_queues_nothing() {
        let calls = host(Some(("spam\nxyz", "refuse", 7)), 1);
        let verdict = run(&testing::ctx(Some(7)), &request("so much XYZ https://x.example", Some(5)));
        assert_eq!(
            verdict,
            Ok(Verdict::Refuse {
                reason: "Your message contains “xyz”, which this community does not allow.".into()
            })
        );
        assert!(named(&calls, "execute").is_empty());
        assert!(named(&calls, "members").is_empty(), "a word decides before the link rule");
    }

    #[test]
    fn a_blocked_word_with_hold_holds_and_queues_it() {
        let calls = host(Some(("xyz", "hold", 0)), 100);
        let verdict = run(&testing::ctx(Some(7)), &request("xyz", None));
        let Ok(Verdict::Hold { reason }) = verdict else { panic!("{verdict:?}") };
        let executes = named(&calls, "execute");
        assert_eq!(executes.len(), 1);
        assert_eq!(sql_of(&executes[0]), Some(sql::HOLD));
        assert_eq!(
            params_of(&executes[0]),
            &[
                SqlValue::Int(COMMUNITY.0),
                SqlValue::Int(41),
                SqlValue::Null,
                SqlValue::Int(7),
                SqlValue::from("xyz"),
                SqlValue::from(reason.as_str()),
                SqlValue::Int(NOW.0),
            ]
        );
    }

    #[test]
    fn a_link_from_a_new_member_is_held_with_its_conversation() {
        let calls = host(None, 2);
        let verdict = run(&testing::ctx(Some(7)), &request("see www.example.com", Some(5)));
        assert!(matches!(verdict, Ok(Verdict::Hold { .. })), "{verdict:?}");
        assert_eq!(named(&calls, "members").len(), 1);
        let executes = named(&calls, "execute");
        assert_eq!(params_of(&executes[0])[2], SqlValue::Int(5));
    }

    #[test]
    fn a_link_from_an_established_member_or_with_the_rule_off_is_allowed() {
        let calls = host(None, 30);
        assert_eq!(run(&testing::ctx(Some(7)), &request("https://example.com", Some(5))), Ok(Verdict::Allow));
        assert!(named(&calls, "execute").is_empty());
        let calls = host(Some(("", "refuse", 0)), 0);
        assert_eq!(run(&testing::ctx(Some(7)), &request("https://example.com", Some(5))), Ok(Verdict::Allow));
        assert!(named(&calls, "members").is_empty(), "the rule is off: no look-up");
    }

    #[test]
    fn other_points_and_bad_subjects_are_errors() {
        let _calls = host(None, 30);
        let mut other = request("hi", None);
        other.point = "conversations.check_title".into();
        assert!(run(&testing::ctx(Some(7)), &other).is_err());
        let mut bad = request("hi", None);
        bad.subject = serde_json::json!({ "text": 3 });
        assert!(run(&testing::ctx(Some(7)), &bad).is_err());
    }

    #[test]
    fn a_check_through_the_native_entry_point() {
        let _calls = host(Some(("xyz", "refuse", 7)), 30);
        let wire = PluginRequest::Check { ctx: testing::ctx(Some(7)), check: request("xyz!", Some(5)) };
        let bytes = crate::portal_dispatch(&codec::encode(&wire).expect("encode"));
        match codec::decode::<PluginResponse>(&bytes).expect("decode") {
            PluginResponse::Verdict(Verdict::Refuse { reason }) => {
                assert!(reason.contains("xyz"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
}
