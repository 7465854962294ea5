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
