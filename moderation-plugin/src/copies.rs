//! Conversations' event `conversations.message_posted`: Moderation keeps a copy of each
//! posted message (conversation, message, author, text, readers, check), so a report can
//! show what was reported and check that the reporter can read it. Deliveries come at
//! least once: the copy is an upsert on (community, message id).

use crate::call::host_error;
use crate::store::{self, MessageCopy};
use conversations_api::{MESSAGE_POSTED, MessagePosted};
use plugin_api::guest::host;
use plugin_api::{Context, Delivery, LogLevel, PluginError};

/// Receives one delivery.
pub fn deliver(ctx: &Context, delivery: &Delivery) -> Result<(), PluginError> {
    if delivery.event != MESSAGE_POSTED {
        // Nothing else is subscribed; an unexpected event is not worth a retry.
        return Ok(());
    }
    let posted: MessagePosted = match delivery.payload_as() {
        Ok(posted) => posted,
        Err(e) => {
            // Answering an error would deliver it again forever, and the community's later
            // events would wait behind it: log it and go on.
            host::log(
                LogLevel::Warn,
                &format!("delivery {} of `{MESSAGE_POSTED}` did not decode, skipped: {e}", delivery.id),
            );
            return Ok(());
        }
    };
    let community = ctx.community.id;
    let copy = MessageCopy {
        conversation: posted.conversation,
        message: posted.message,
        author: posted.author,
        text: posted.text,
        readers: posted.readers,
        check: posted.check,
    };
    store::save_copy(community, &copy, delivery.at).map_err(host_error)?;
    if let Some(check) = posted.check {
        // A message the check held, now released: the queue learns where it went.
        store::link_held(community, check, posted.conversation, posted.message).map_err(host_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql;
    use crate::testing::{self, executed, named, params_of, sql_of};
    use plugin_api::{CheckId, HostCall, HostReply, SqlValue, Timestamp, UserId};

    fn delivery(check: Option<i64>) -> Delivery {
        let posted = MessagePosted {
            conversation: 5,
            message: 50,
            author: UserId(7),
            acting_for: None,
            text: "hello".into(),
            readers: vec![UserId(7), UserId(8)],
            check: check.map(CheckId),
        };
        Delivery {
            id: 1,
            event: MESSAGE_POSTED.into(),
            source: "conversations".into(),
            at: Timestamp(1000),
            payload: serde_json::to_value(posted).expect("payload"),
        }
    }

    fn host() -> testing::Calls {
        testing::host(|call| match call {
            HostCall::Execute { .. } => executed(1),
            HostCall::Log { .. } => HostReply::Done,
            other => panic!("unexpected host call {other:?}"),
        })
    }

    #[test]
    fn a_posted_message_is_copied_with_its_readers() {
        let calls = host();
        deliver(&testing::ctx(None), &delivery(None)).expect("delivered");
        let executes = named(&calls, "execute");
        assert_eq!(executes.len(), 1);
        assert_eq!(sql_of(&executes[0]), Some(sql::SAVE_COPY));
        let p = params_of(&executes[0]);
        assert_eq!(p[1], SqlValue::Int(50));
        assert_eq!(p[5], SqlValue::from("[7,8]"));
        assert_eq!(p[6], SqlValue::Null);
        assert!(sql::SAVE_COPY.contains("ON CONFLICT"), "a repeated delivery updates the copy");
    }

    #[test]
    fn a_released_message_is_linked_to_its_queue_entry() {
        let calls = host();
        deliver(&testing::ctx(None), &delivery(Some(9))).expect("delivered");
        let executes = named(&calls, "execute");
        assert_eq!(executes.len(), 2);
        assert_eq!(sql_of(&executes[1]), Some(sql::LINK_HELD));
    }

    #[test]
    fn other_events_and_undecodable_payloads_are_acknowledged() {
        let calls = host();
        let mut other = delivery(None);
        other.event = "conversations.participant_left".into();
        assert_eq!(deliver(&testing::ctx(None), &other), Ok(()));
        let mut bad = delivery(None);
        bad.payload = serde_json::json!({ "message": "fifty" });
        assert_eq!(deliver(&testing::ctx(None), &bad), Ok(()));
        assert!(named(&calls, "execute").is_empty());
        assert_eq!(named(&calls, "log").len(), 1);
    }
}
