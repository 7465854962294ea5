//! The events Conversations emits for other plugins (their names and payloads are in the
//! `conversations-api` crate), each in the same call as the change it announces, so it is
//! delivered only if that change commits. A host without the events service (or a manifest
//! without the `events` capability) does not stop the change: the event is logged as not
//! sent.

use crate::call::host_error;
use plugin_api::guest::host;
use plugin_api::{HostErrorKind, LogLevel, PluginError};
use serde::Serialize;

/// Emits `event` with `payload`. Any other failure than a missing service fails the call
/// (and so rolls back the change), since subscribers would miss it otherwise.
pub fn emit<T: Serialize>(event: &str, payload: &T) -> Result<(), PluginError> {
    match host::emit(event, payload) {
        Ok(()) => Ok(()),
        Err(err) if matches!(err.kind, HostErrorKind::Unavailable | HostErrorKind::CapabilityDenied) => {
            host::log(
                LogLevel::Warn,
                &format!("event `{event}` not sent: this portal offers no events ({err})"),
            );
            Ok(())
        }
        Err(err) => Err(host_error(err)),
    }
}
