//! Storing a message being sent, once the page checked the sending rules: what the check
//! point is asked about it ([`Sending::subject`]), and storing it as the check let it
//! through, delivered (with everything delivery does) or held ([`store_message`]).

use crate::call::host_error;
use crate::checks::Pass;
use crate::delivery::{self, Delivered};
use crate::rules::ParticipantState;
use crate::store::{self, Participant};
use conversations_api::MessageCheck;
use plugin_api::guest::host;
use plugin_api::{ActorRef, Context, GroupId, PluginError, UserId};

/// A message being sent: who writes it, for whom, and what.
pub struct Sending<'a> {
    /// The member who writes it.
    pub author: UserId,
    /// Their display name, for the notifications.
    pub author_name: String,
    /// The author, or the group they write for.
    pub sender: ActorRef,
    /// The group they write for, if any.
    pub group: Option<GroupId>,
    /// The text, validated.
    pub body: &'a str,
}

impl Sending<'_> {
    /// What the check point is asked about it.
    pub fn subject(&self, conversation: Option<i64>, participants: Vec<ActorRef>) -> MessageCheck {
        MessageCheck {
            conversation,
            author: self.author,
            acting_for: self.group,
            participants,
            text: self.body.to_owned(),
        }
    }
}

/// Everyone who would read a message in a conversation with these participants (those
/// still in it, and those it has not reached yet), the sender's side included.
pub fn would_read(parts: &[Participant]) -> Vec<ActorRef> {
    parts
        .iter()
        .filter(|p| !matches!(p.state, ParticipantState::Declined | ParticipantState::Left))
        .map(|p| p.actor)
        .collect()
}

/// Stores a message the check let through: delivered (with everything delivery does) or
/// held (then only its author's open pages learn of it). Returns whether it was delivered.
pub fn store_message(
    ctx: &Context,
    sending: &Sending<'_>,
    conversation: i64,
    pass: Pass,
) -> Result<bool, PluginError> {
    match pass {
        Pass::Hold { check, reason } => {
            store::add_held_message(
                conversation,
                sending.author,
                sending.group,
                sending.body,
                ctx.now,
                check,
                &reason,
            )
            .map_err(host_error)?;
            host::publish(vec![sending.author], vec![format!("conversation/{conversation}")])
                .map_err(host_error)?;
            Ok(false)
        }
        Pass::Deliver(check) => {
            let message = store::add_message(
                conversation,
                sending.author,
                sending.sender,
                sending.group,
                sending.body,
                ctx.now,
                check,
            )
            .map_err(host_error)?;
            delivery::announce(
                ctx,
                &Delivered {
                    conversation,
                    message,
                    author: sending.author,
                    author_name: &sending.author_name,
                    sender: sending.sender,
                    group: sending.group,
                    body: sending.body,
                    check,
                },
            )?;
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::HELD;
    use crate::testhost::{self, COMMUNITY, accept, inbox_of, open, reply, start, system_ctx};
    use plugin_api::{
        ActorRef, CheckId, Flash, FlashKind, GroupId, HostCall, LogLevel, PageResponse, UserId, Verdict,
    };
    use serde_json::json;

    fn redirect_flash(page: PageResponse) -> (String, Option<Flash>) {
        match page {
            PageResponse::Redirect { to, flash } => (to, flash),
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    #[test]
    fn a_refused_message_keeps_the_form_and_writes_nothing() {
        let fake = testhost::install();
        fake.borrow_mut().verdict = Some(Verdict::Refuse { reason: "Links are not allowed here.".into() });
        let page = start(1, &["user:2", "group:10"], "  see http://spam.example  ");
        let PageResponse::Render { template, data, .. } = page else { panic!("{page:?}") };
        assert_eq!(template, "new");
        assert_eq!(data.0["error"], "Links are not allowed here.");
        assert_eq!(data.0["body"], "  see http://spam.example  ", "what was typed is kept as typed");
        assert_eq!(data.0["chosen"], json!(["user:2", "group:10"]));
        {
            let fake = fake.borrow();
            for table in ["conversations_conversation", "conversations_participant", "conversations_message"]
            {
                assert_eq!(fake.count(&format!("SELECT count(*) FROM {table}")), 0, "{table}");
            }
            assert!(fake.notified().is_empty() && fake.events().is_empty() && fake.published_to().is_empty());
            assert!(fake.effects("send_email").is_empty());
            // The check point was asked about the message as the author would send it.
            let checks = fake.effects("check");
            let [HostCall::Check { point, subject }] = checks.as_slice() else { panic!("{checks:?}") };
            assert_eq!(point, conversations_api::CHECK_MESSAGE);
            let subject: conversations_api::MessageCheck =
                serde_json::from_value(subject.clone()).expect("subject");
            assert_eq!(subject.conversation, None);
            assert_eq!(subject.author, UserId(1));
            assert_eq!(subject.text, "see http://spam.example");
            assert_eq!(
                subject.participants,
                vec![ActorRef::User(UserId(1)), ActorRef::User(UserId(2)), ActorRef::Group(GroupId(10))]
            );
        }

        // A refused reply: the conversation page again, with the reason and the text.
        fake.borrow_mut().verdict = Some(Verdict::Allow);
        start(1, &["user:2"], "hello");
        accept(2, 1);
        fake.borrow_mut().verdict = Some(Verdict::Refuse { reason: "Not here.".into() });
        fake.borrow_mut().effects.clear();
        let page = reply(1, 1, "buy now");
        let PageResponse::Render { template, data, .. } = page else { panic!("{page:?}") };
        assert_eq!(template, "conversation");
        assert_eq!((data.0["error"].as_str(), data.0["body"].as_str()), (Some("Not here."), Some("buy now")));
        let fake = fake.borrow();
        assert_eq!(fake.count("SELECT count(*) FROM conversations_message"), 1);
        assert!(fake.notified().is_empty() && fake.events().is_empty() && fake.published_to().is_empty());
    }

    #[test]
    fn a_held_message_reaches_nobody() {
        let fake = testhost::install();
        fake.borrow_mut().verdict =
            Some(Verdict::Hold { reason: "Links from new members are reviewed.".into() });
        let (to, flash) = redirect_flash(start(1, &["user:2", "group:10"], "hello"));
        assert_eq!(to, "/conversations/1");
        assert_eq!(flash, Some(Flash { kind: FlashKind::Info, message: HELD.into() }));
        {
            let fake = fake.borrow();
            assert_eq!(fake.text("SELECT state || ' ' || check_id FROM conversations_message"), "held 101");
            assert_eq!(
                fake.text(
                    "SELECT group_concat(actor_kind || ':' || actor_id || ' ' || state, ', ')
                     FROM (SELECT * FROM conversations_participant ORDER BY actor_kind, actor_id)"
                ),
                "group:10 pending, user:1 active, user:2 pending"
            );
            // No invitation, notification, email or event; only the author's own pages hear of it.
            assert!(fake.notified().is_empty() && fake.events().is_empty());
            assert!(fake.effects("send_email").is_empty());
            assert_eq!(fake.published_to(), vec![UserId(1)]);
        }
        // The conversation does not exist for the others: no inbox line, no badge, no page.
        assert!(inbox_of(ActorRef::User(UserId(2))).is_empty());
        assert!(inbox_of(ActorRef::Group(GroupId(10))).is_empty());
        assert_eq!(crate::store::unread_conversations(ActorRef::User(UserId(2))).expect("unread"), 0);
        assert_eq!(open(2, 1), None);
        assert_eq!(open(3, 1), None);
        // The author sees it, marked in words.
        let page = open(1, 1).expect("the author's page");
        assert_eq!(page["messages"][0]["status"], "Held for review");
        assert_eq!(page["messages"][0]["reason"], "Links from new members are reviewed.");
        assert_eq!(page["messages"][0]["delivered"], false);
        // Nor does the digest tell anyone.
        crate::digest::run(&system_ctx(COMMUNITY)).expect("digest");
        assert!(fake.borrow().effects("send_email").is_empty());

        // A held reply in a delivered conversation: the others see nothing new.
        fake.borrow_mut().verdict = Some(Verdict::Allow);
        start(5, &["user:1"], "hi");
        accept(1, 2);
        open(1, 2).expect("read");
        fake.borrow_mut().verdict = Some(Verdict::Hold { reason: "Reviewed.".into() });
        fake.borrow_mut().effects.clear();
        let (_, flash) = redirect_flash(reply(5, 2, "a held reply"));
        assert_eq!(flash.map(|f| f.message), Some(HELD.to_owned()));
        {
            let fake = fake.borrow();
            assert!(fake.notified().is_empty() && fake.events().is_empty());
            assert_eq!(fake.published_to(), vec![UserId(5)]);
        }
        assert_eq!(crate::store::unread_conversations(ActorRef::User(UserId(1))).expect("unread"), 0);
        let page = open(1, 2).expect("page");
        assert_eq!(page["messages"].as_array().map(Vec::len), Some(1), "{page}");
        let fake = fake.borrow();
        let held =
            fake.text("SELECT body FROM conversations_message WHERE state = 'held' AND check_id = 103");
        assert_eq!(held, "a held reply");
    }

    #[test]
    fn an_allowed_message_is_announced_with_its_readers() {
        let fake = testhost::install();
        let (to, flash) = redirect_flash(start(1, &["user:2", "group:10"], "hello"));
        assert_eq!(to, "/conversations/1");
        assert_eq!(flash.map(|f| f.kind), Some(FlashKind::Success));
        let fake = fake.borrow();
        assert_eq!(fake.text("SELECT state || ' ' || check_id FROM conversations_message"), "visible 101");
        let events = fake.events();
        let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, vec![conversations_api::CONVERSATION_STARTED, conversations_api::MESSAGE_POSTED]);
        let started: conversations_api::ConversationStarted =
            serde_json::from_value(events[0].1.clone()).expect("payload");
        assert_eq!(started.starter, ActorRef::User(UserId(1)));
        assert_eq!(started.participants.len(), 3);
        let posted: conversations_api::MessagePosted =
            serde_json::from_value(events[1].1.clone()).expect("payload");
        assert_eq!(posted.conversation, 1);
        assert_eq!(posted.author, UserId(1));
        assert_eq!(posted.text, "hello");
        assert_eq!(posted.check, Some(CheckId(101)));
        // The members taking part and the admins of the group taking part.
        assert_eq!(posted.readers, vec![UserId(1), UserId(2), UserId(3), UserId(4)]);
        // Invited, emailed and notified as before.
        assert_eq!(fake.effects("send_email").len(), 3);
        let notified: Vec<UserId> = fake.notified().into_iter().map(|(u, _)| u).collect();
        assert_eq!(notified, vec![UserId(2), UserId(3), UserId(4)]);
    }

    #[test]
    fn without_checks_or_events_a_message_is_sent_unchecked() {
        let fake = testhost::install();
        fake.borrow_mut().verdict = None;
        fake.borrow_mut().events_service = false;
        let (_, flash) = redirect_flash(start(1, &["user:2"], "hello"));
        assert_eq!(flash.map(|f| f.kind), Some(FlashKind::Success));
        let fake = fake.borrow();
        assert_eq!(
            fake.count(
                "SELECT count(*) FROM conversations_message WHERE state = 'visible' AND check_id IS NULL"
            ),
            1
        );
        assert_eq!(fake.notified().len(), 1);
        let warnings = fake.logged(LogLevel::Warn);
        assert!(warnings.iter().any(|w| w.contains("unchecked")), "{warnings:?}");
        assert!(
            warnings.iter().any(|w| w.contains("message_posted") && w.contains("not sent")),
            "{warnings:?}"
        );
    }
}
