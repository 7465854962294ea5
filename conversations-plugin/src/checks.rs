//! The check point `conversations.check_message` (`conversations_api::CHECK_MESSAGE`):
//! before a message is stored, the plugins that implement it allow, refuse or hold it
//! ([`screen`]).

use conversations_api::{CHECK_MESSAGE, MessageCheck};
use plugin_api::extension::MAX_REASON_CHARS;
use plugin_api::guest::host;
use plugin_api::{CheckId, HostErrorKind, LogLevel, Verdict};

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
            Verdict::Allow => Ok(Pass::Deliver(Some(outcome.check))),
            Verdict::Hold { reason } => Ok(Pass::Hold {
                check: outcome.check,
                reason: reason_text(&reason, "it is checked before it is delivered"),
            }),
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
