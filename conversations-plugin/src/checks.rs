//! The check point `conversations.check_message` (`conversations_api::CHECK_MESSAGE`):
//! before a message is stored, the plugins that implement it allow, refuse or hold it
//! ([`screen`]); later they release or reject what they held, or take down what they had
//! allowed, and the host tells Conversations with a `portal.check_resolved` delivery
//! ([`resolved`]).

use crate::call::host_error;
use crate::delivery::{self, Delivered};
use crate::directory::Names;
use crate::reach::{notify_member, publish_change};
use crate::rules::MessageState;
use crate::store::{self, Message};
use conversations_api::{CHECK_MESSAGE, MessageCheck};
use plugin_api::extension::{CheckResolved, MAX_REASON_CHARS};
use plugin_api::guest::host;
use plugin_api::{ActorRef, CheckId, Context, Decision, HostErrorKind, LogLevel, PluginError, Verdict};

/// What the checking plugins let a message about to be stored do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    /// Store and deliver it; keep the check's id with it (`None`: no check ran).
    Deliver(Option<CheckId>),
    /// Store it, but deliver it to nobody until the check is resolved.
    Hold {
        /// The check that holds it.
        check: CheckId,
        /// Why, for the author.
        reason: String,
    },
}

/// A message the checking plugins refused: store nothing, and show the author this
/// reason with what they wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// The flash after sending a held message.
pub const HELD: &str = "Your message is held for review: nobody else sees it until it is approved.";

/// A reason as the author sees it: trimmed, at most [`MAX_REASON_CHARS`] characters, and
/// never empty (`fallback` then).
pub fn reason_text(reason: &str, fallback: &str) -> String {
    let reason = reason.trim();
    if reason.is_empty() { fallback.to_owned() } else { reason.chars().take(MAX_REASON_CHARS).collect() }
}

/// Asks the plugins that implement the check point about `subject`. A host that cannot
/// check (no `checks` service, or the call fails) lets the message through unchecked, as
/// the check point's own failure policy (`on_failure = "allow"`) does for a failing
/// implementer; that is logged.
pub fn screen(subject: &MessageCheck) -> Result<Pass, Refused> {
    match host::check(CHECK_MESSAGE, subject) {
        Ok(outcome) => match outcome.verdict {
            Verdict::Allow => Ok(Pass::Deliver(outcome.check)),
            Verdict::Hold { reason } => match outcome.check {
                Some(check) => Ok(Pass::Hold {
                    check,
                    reason: reason_text(&reason, "it is checked before it is delivered"),
                }),
                None => {
                    // A hold always comes with a check; a host that says otherwise cannot
                    // be released later, so the message is not held forever.
                    host::log(LogLevel::Error, "a hold without a check id: the message is delivered");
                    Ok(Pass::Deliver(None))
                }
            },
            Verdict::Refuse { reason } => {
                Err(Refused(reason_text(&reason, "This message cannot be sent here.")))
            }
        },
        Err(err) => {
            let level = match err.kind {
                HostErrorKind::Unavailable | HostErrorKind::CapabilityDenied => LogLevel::Warn,
                _ => LogLevel::Error,
            };
            host::log(level, &format!("message sent unchecked: `{CHECK_MESSAGE}` could not run ({err})"));
            Ok(Pass::Deliver(None))
        }
    }
}

/// Applies a resolution of one of the check point's checks, in the community of `ctx`:
/// a release delivers the held message (with everything sending does), a rejection stops
/// it or takes it down; the author is told either way. Deliveries come at least once, so
/// a resolution that was already applied, or that names no message of this community,
/// changes nothing.
pub fn resolved(ctx: &Context, resolved: &CheckResolved) -> Result<(), PluginError> {
    if resolved.point != CHECK_MESSAGE {
        host::log(
            LogLevel::Warn,
            &format!(
                "resolution of check {} of unknown check point `{}` ignored",
                resolved.check, resolved.point
            ),
        );
        return Ok(());
    }
    let found = store::message_by_check(ctx.community.id, resolved.check).map_err(host_error)?;
    let Some((conversation, message)) = found else {
        host::log(
            LogLevel::Warn,
            &format!(
                "check {} resolved by `{}`: no message of this community has it; ignored",
                resolved.check, resolved.by
            ),
        );
        return Ok(());
    };
    match &resolved.decision {
        Decision::Release => release(ctx, conversation, &message, resolved.check),
        Decision::Reject { reason } => reject(ctx, conversation, &message, reason),
    }
}

fn release(ctx: &Context, conversation: i64, message: &Message, check: CheckId) -> Result<(), PluginError> {
    // Already delivered, or stopped for good: a repeated (or late) release changes nothing.
    if message.state != MessageState::Held {
        return Ok(());
    }
    let Some(id) = store::release(conversation, message, ctx.now).map_err(host_error)? else {
        return Ok(());
    };
    let author = ActorRef::User(message.author);
    let author_name = Names::load(&[author])?.name(author);
    delivery::announce(
        ctx,
        &Delivered {
            conversation,
            message: id,
            author: message.author,
            author_name: &author_name,
            sender: message.sender(),
            group: message.group,
            body: &message.body,
            check: Some(check),
        },
    )?;
    tell_author(ctx, conversation, message, |title| {
        format!("Your message in “{title}” was approved and delivered")
    })
}

fn reject(ctx: &Context, conversation: i64, message: &Message, reason: &str) -> Result<(), PluginError> {
    let reason = reason_text(reason, "no reason was given");
    let Some(state) = store::reject(conversation, message, &reason).map_err(host_error)? else {
        return Ok(());
    };
    if state == MessageState::Removed {
        // Every reader's open page drops it.
        let parts = store::participants(ctx.community.id, conversation).map_err(host_error)?;
        publish_change(&parts, conversation)?;
    } else {
        // Only its author ever saw it.
        host::publish(vec![message.author], vec![format!("conversation/{conversation}")])
            .map_err(host_error)?;
    }
    tell_author(ctx, conversation, message, |title| match state {
        MessageState::Removed => format!("Your message in “{title}” was removed by a moderator: {reason}"),
        _ => format!("Your message in “{title}” was not delivered: {reason}"),
    })
}

/// Tells the author of `message` what happened to it, naming the conversation as its page
/// does (the other participants).
fn tell_author(
    ctx: &Context,
    conversation: i64,
    message: &Message,
    text: impl FnOnce(&str) -> String,
) -> Result<(), PluginError> {
    let parts = store::participants(ctx.community.id, conversation).map_err(host_error)?;
    let sender = message.sender();
    let others: Vec<ActorRef> = parts.iter().map(|p| p.actor).filter(|a| *a != sender).collect();
    let title = Names::load(&others)?.list(&others);
    notify_member(message.author, &text(&title), &format!("/conversations/{conversation}"))
}

#[cfg(test)]
mod tests {
    use crate::Conversations;
    use crate::testhost::{self, COMMUNITY, NOW, inbox_of, open, start, system_ctx};
    use conversations_api::{CHECK_MESSAGE, MESSAGE_POSTED, MessagePosted};
    use plugin_api::extension::{CHECK_RESOLVED, CheckResolved};
    use plugin_api::guest::Plugin;
    use plugin_api::{ActorRef, CheckId, CommunityId, Decision, Delivery, LogLevel, UserId, Verdict};
    use serde_json::json;

    fn resolution(check: i64, decision: Decision) -> Delivery {
        let resolved = CheckResolved {
            point: CHECK_MESSAGE.into(),
            check: CheckId(check),
            decision,
            by: "moderation".into(),
        };
        Delivery {
            id: 7,
            event: CHECK_RESOLVED.into(),
            source: "portal".into(),
            at: NOW,
            payload: serde_json::to_value(resolved).expect("payload"),
        }
    }

    fn deliver(delivery: &Delivery) {
        Conversations::deliver(&system_ctx(COMMUNITY), delivery).expect("delivered");
    }

    fn reject(reason: &str) -> Decision {
        Decision::Reject { reason: reason.into() }
    }

    #[test]
    fn a_release_delivers_the_held_message_once() {
        let fake = testhost::install();
        fake.borrow_mut().verdict = Some(Verdict::Hold { reason: "New member.".into() });
        start(1, &["user:2"], "hello");
        let held_id = fake.borrow().count("SELECT id FROM conversations_message");
        fake.borrow_mut().effects.clear();

        deliver(&resolution(101, Decision::Release));
        {
            let fake = fake.borrow();
            // Delivered as if sent now: a new message at the end, with its check.
            assert_eq!(fake.count("SELECT count(*) FROM conversations_message"), 1);
            assert_eq!(
                fake.text("SELECT state || ' ' || check_id FROM conversations_message"),
                "visible 101"
            );
            assert!(fake.count("SELECT id FROM conversations_message") > held_id);
            // It reached Grace: invited, emailed, notified; Ada hears that it was approved.
            assert_eq!(
                fake.text("SELECT state FROM conversations_participant WHERE actor_id = 2"),
                "invited"
            );
            assert_eq!(fake.effects("send_email").len(), 1);
            assert_eq!(
                fake.notified(),
                vec![
                    (UserId(2), "Ada invited you to a conversation".to_owned()),
                    (UserId(1), "Your message in “Grace” was approved and delivered".to_owned()),
                ]
            );
            let events = fake.events();
            let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
            assert_eq!(names, vec![conversations_api::CONVERSATION_STARTED, MESSAGE_POSTED]);
            let posted: MessagePosted = serde_json::from_value(events[1].1.clone()).expect("payload");
            assert_eq!((posted.check, posted.readers), (Some(CheckId(101)), vec![UserId(1), UserId(2)]));
            assert_eq!(fake.published_to(), vec![UserId(1), UserId(2)]);
        }
        assert_eq!(inbox_of(ActorRef::User(UserId(2))), vec![1]);
        assert_eq!(crate::store::unread_conversations(ActorRef::User(UserId(2))).expect("unread"), 1);
        let page = open(2, 1).expect("Grace sees it");
        assert_eq!(page["messages"][0]["segments"][0]["text"], "hello");

        // Deliveries come at least once: the same release again changes nothing.
        fake.borrow_mut().effects.clear();
        deliver(&resolution(101, Decision::Release));
        let fake = fake.borrow();
        assert_eq!(fake.count("SELECT count(*) FROM conversations_message WHERE state = 'visible'"), 1);
        assert!(fake.notified().is_empty() && fake.events().is_empty() && fake.published_to().is_empty());
        assert!(fake.effects("send_email").is_empty());
    }

    #[test]
    fn a_rejection_stops_a_held_message_and_takes_down_a_delivered_one() {
        let fake = testhost::install();
        fake.borrow_mut().verdict = Some(Verdict::Hold { reason: "Reviewed.".into() });
        start(1, &["user:2"], "spam spam");
        fake.borrow_mut().effects.clear();
        deliver(&resolution(101, reject("Spam.")));
        {
            let fake = fake.borrow();
            assert_eq!(
                fake.text("SELECT state || ' ' || reason FROM conversations_message"),
                "rejected Spam."
            );
            assert_eq!(
                fake.notified(),
                vec![(UserId(1), "Your message in “Grace” was not delivered: Spam.".to_owned())]
            );
            assert!(fake.events().is_empty() && fake.effects("send_email").is_empty());
            assert_eq!(fake.published_to(), vec![UserId(1)]);
        }
        assert!(inbox_of(ActorRef::User(UserId(2))).is_empty());
        assert_eq!(open(2, 1), None);
        let page = open(1, 1).expect("Ada sees why");
        assert_eq!(
            (page["messages"][0]["status"].as_str(), page["messages"][0]["reason"].as_str()),
            (Some("Not delivered"), Some("Spam."))
        );

        // A delivered message taken down: its place stays, its text goes, for the others.
        fake.borrow_mut().verdict = Some(Verdict::Allow);
        start(3, &["user:5"], "rude words");
        fake.borrow_mut().effects.clear();
        deliver(&resolution(102, reject("Insults.")));
        let page = open(5, 2).expect("Barbara's page");
        assert_eq!(page["messages"][0]["removed_notice"], true);
        assert_eq!(page["messages"][0]["segments"], json!([]));
        assert!(!page.to_string().contains("rude") && !page.to_string().contains("Insults"), "{page}");
        assert_eq!(crate::store::unread_conversations(ActorRef::User(UserId(5))).expect("unread"), 0);
        assert_eq!(crate::store::last_visible(2).expect("last"), None);
        let page = open(3, 2).expect("Alan's page");
        assert_eq!(page["messages"][0]["status"], "Removed by a moderator");
        {
            let fake = fake.borrow();
            assert_eq!(
                fake.notified(),
                vec![(
                    UserId(3),
                    "Your message in “Barbara” was removed by a moderator: Insults.".to_owned()
                )]
            );
            assert_eq!(fake.published_to(), vec![UserId(3), UserId(5)]);
        }
        // Again: nothing more happens.
        fake.borrow_mut().effects.clear();
        deliver(&resolution(102, reject("Insults.")));
        deliver(&resolution(101, Decision::Release));
        let fake = fake.borrow();
        assert!(fake.notified().is_empty() && fake.published_to().is_empty() && fake.events().is_empty());
        assert_eq!(fake.count("SELECT count(*) FROM conversations_message WHERE state = 'visible'"), 0);
    }

    #[test]
    fn resolutions_that_name_no_message_here_change_nothing() {
        let fake = testhost::install();
        fake.borrow_mut().verdict = Some(Verdict::Hold { reason: "Reviewed.".into() });
        start(1, &["user:2"], "hello");
        fake.borrow_mut().effects.clear();
        // An unknown check, a check of another community, another event, a bad payload.
        deliver(&resolution(999, Decision::Release));
        Conversations::deliver(&system_ctx(CommunityId(2)), &resolution(101, Decision::Release)).expect("ok");
        deliver(&Delivery { event: "moderation.report_filed".into(), ..resolution(101, Decision::Release) });
        deliver(&Delivery { payload: json!({ "check": "x" }), ..resolution(101, Decision::Release) });
        let fake = fake.borrow();
        assert_eq!(fake.text("SELECT state FROM conversations_message"), "held");
        assert!(fake.notified().is_empty() && fake.events().is_empty() && fake.published_to().is_empty());
        assert_eq!(fake.logged(LogLevel::Warn).len(), 2, "{:?}", fake.logged(LogLevel::Warn));
        assert_eq!(fake.logged(LogLevel::Error).len(), 1);
    }
}
