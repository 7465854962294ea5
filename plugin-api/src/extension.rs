//! Plugins extending plugins (ABI 1.2, additive): the wire types of **events** (a plugin
//! emits one inside its transaction; the host delivers it to every subscriber after the
//! commit, durably, in order per community) and of **checks** (a plugin asks every plugin
//! that implements one of its check points for a verdict on something it is about to
//! store, inside its own transaction, under a small CPU budget). The manifest sides are in
//! [`crate::manifest`]: `[[events]]`, `[[subscriptions]]`, `[[extension_points]]`,
//! `[[implements]]` and `[[extension_slots]]`.
//!
//! A plugin documents the payload of each event it emits and the subject of each check
//! point it declares as a Rust type in a crate of its own that other authors depend on
//! (Conversations: the `conversations-api` crate), and names that type in its manifest.

use crate::ids::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The id of one check the host ran (one [`crate::HostCall::Check`]): what a hold is
/// released or rejected by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CheckId(pub i64);

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An implementer's answer to a check ([`crate::PluginRequest::Check`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Store it.
    Allow,
    /// Do not store it; `reason` is shown to the author (who keeps what they wrote).
    Refuse {
        /// One sentence for the author.
        reason: String,
    },
    /// Store it, but deliver it to nobody until the implementer releases it
    /// ([`crate::HostCall::Resolve`]).
    Hold {
        /// One sentence for the author and the reviewers.
        reason: String,
    },
}

/// Longest reason a verdict or a decision may give, in characters (longer ones are cut).
pub const MAX_REASON_CHARS: usize = 300;

/// What an implementer is asked ([`crate::PluginRequest::Check`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRequest {
    /// The check point, e.g. `conversations.check_message`.
    pub point: String,
    /// This check's id: keep it with a hold, to resolve the hold later.
    pub check: CheckId,
    /// What is checked, as the declaring plugin documents it.
    pub subject: serde_json::Value,
}

/// The host's answer to the declaring plugin's [`crate::HostCall::Check`]: every
/// implementer's verdict combined. Any refusal refuses (the first one's reason); otherwise
/// any hold holds (until every holder released it); otherwise it is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// The check's id: store it with what was checked; resolutions name it. `None` when no
    /// plugin implementing the check point is loaded and switched on in the community
    /// (nothing asked, nothing to resolve later), or when the check refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckId>,
    /// The combined verdict.
    pub verdict: Verdict,
    /// The plugins that hold it (empty unless the verdict is `Hold`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_by: Vec<String>,
    /// Implementers that failed, timed out or were switched off: the check point's
    /// `on_failure` policy gave their verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
}

/// What a check point does with an implementer that fails, runs out of time or is
/// switched off by its breaker. Declared by the plugin that declares the check point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Fail open: as if the implementer allowed it.
    Allow,
    /// Fail closed: as if the implementer refused it ("could not be checked, try again").
    Refuse,
}

impl FailurePolicy {
    /// The name used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Allow => "allow",
            FailurePolicy::Refuse => "refuse",
        }
    }
}

/// An implementer's later decision on something it checked ([`crate::HostCall::Resolve`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Release what it held (once every holder released it, it is delivered).
    Release,
    /// Reject it: held, it is never delivered; already delivered, it is taken down.
    Reject {
        /// One sentence for the author.
        reason: String,
    },
}

/// The event the host delivers when a check is resolved: [`Delivery::event`] is this,
/// [`Delivery::payload`] a [`CheckResolved`]. The plugin that declared the check point
/// receives it, and so does every other implementer that held the check, without
/// subscribing.
pub const CHECK_RESOLVED: &str = "portal.check_resolved";

/// Payload of [`CHECK_RESOLVED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResolved {
    /// The check point.
    pub point: String,
    /// The check.
    pub check: CheckId,
    /// `Release` once every holder released it; `Reject` as soon as one rejects it.
    pub decision: Decision,
    /// The plugin that decided.
    pub by: String,
}

/// One event delivered to a subscriber ([`crate::PluginRequest::Deliver`]). The host
/// delivers each event at least once, in order per community; a subscriber that answers
/// with an error or fails gets it again later (with a growing delay), and the events behind
/// it in that community wait. A subscriber's writes and the host's note that the event was
/// delivered commit together, so a delivery that committed is never repeated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Unique per delivery, increasing in the order of the events.
    pub id: i64,
    /// The event's full name, e.g. `conversations.message_posted`.
    pub event: String,
    /// The plugin that emitted it, or `portal` for the host's own events.
    pub source: String,
    /// When the emitting call ran.
    pub at: Timestamp,
    /// The payload, as the emitting plugin documents it.
    pub payload: serde_json::Value,
}

impl Delivery {
    /// The payload as the type the emitting plugin documents.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.payload)
    }
}

/// Largest event payload or check subject, encoded, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    #[test]
    fn verdicts_and_decisions_on_the_wire() {
        assert_eq!(codec::encode(&Verdict::Allow).unwrap(), br#""allow""#);
        let hold = Verdict::Hold { reason: "links from new members".into() };
        assert_eq!(codec::encode(&hold).unwrap(), br#"{"hold":{"reason":"links from new members"}}"#);
        assert_eq!(
            codec::decode::<Verdict>(br#"{"refuse":{"reason":"x"}}"#).unwrap(),
            Verdict::Refuse { reason: "x".into() }
        );
        assert!(codec::decode::<Verdict>(br#""maybe""#).is_err());
        assert_eq!(codec::encode(&Decision::Release).unwrap(), br#""release""#);
        let outcome = CheckOutcome {
            check: Some(CheckId(4)),
            verdict: Verdict::Allow,
            held_by: vec![],
            failed: vec![],
        };
        assert_eq!(codec::encode(&outcome).unwrap(), br#"{"check":4,"verdict":"allow"}"#);
    }
}
