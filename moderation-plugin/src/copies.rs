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
