//! Plugin health: each call's outcome counted in the plugin's circuit breaker, and its
//! changes stored (for `portal plugin status`) once the call's transaction ended.

use super::{PluginEntry, Portal};
use crate::db::{self};
use crate::plugins::CallError;
use crate::plugins::breaker::Change;

impl Portal {
    /// Counts a call's outcome in the plugin's circuit breaker and logs failures; the
    /// change, if any, is for [`Portal::store_health`] once the call's transaction ended.
    pub(super) fn observe<T>(&self, plugin: &PluginEntry, result: &Result<T, CallError>) -> HealthNote {
        let now = self.clock.now();
        let change = match result {
            Ok(_) => plugin.breaker.success(),
            Err(err) => {
                tracing::warn!(plugin = %err.plugin, error = %err, "plugin call failed");
                plugin.breaker.failure(now)
            }
        };
        let record = match (change, result) {
            (Change::None, _) | (Change::Failed { .. }, Ok(_)) => None,
            (Change::Recovered, _) => {
                tracing::info!(plugin = plugin.id(), "plugin answers again; its circuit breaker is closed");
                Some(HealthRecord::Recovered { now })
            }
            (Change::Failed { consecutive, open_until }, Err(err)) => {
                if let Some(until) = open_until {
                    tracing::error!(
                        plugin = plugin.id(),
                        failures = consecutive,
                        cool_down_seconds = (until.0 - now.0) / 1000,
                        "plugin switched off after failing repeatedly (circuit breaker open)"
                    );
                }
                let reason = err.explained();
                Some(HealthRecord::Failed { consecutive, open_until, reason, now })
            }
        };
        HealthNote { record, refusals: None }
    }

    /// Stores a breaker change and the call's refused host calls for `portal plugin status`.
    pub(super) fn store_health(&self, plugin: &PluginEntry, note: HealthNote) {
        if note.record.is_none() && note.refusals.is_none() {
            return;
        }
        let now = self.clock.now();
        let stored = self.db.write().and_then(|txn| {
            if let Some((count, message)) = &note.refusals {
                db::plugin_health::record_refusals(&txn, plugin.id(), *count, message, now)?;
            }
            let Some(record) = note.record else { return txn.commit() };
            match record {
                HealthRecord::Recovered { now } => {
                    db::plugin_health::record_recovery(&txn, plugin.id(), now)?
                }
                HealthRecord::Failed { consecutive, open_until, reason, now } => {
                    db::plugin_health::record_failure(
                        &txn,
                        plugin.id(),
                        consecutive,
                        open_until,
                        &reason,
                        now,
                    )?;
                }
            }
            txn.commit()
        });
        if let Err(err) = stored {
            tracing::error!(plugin = plugin.id(), error = %err, "could not store the plugin's health");
        }
    }
}

/// A change of a plugin's circuit breaker, to store once the call's transaction has ended:
/// the health table is written in a write transaction of its own, and while a call that
/// may write is open, it holds the turn to write (storing it earlier would wait for that
/// call's turn to end on the same thread: forever).
#[must_use]
pub(super) struct HealthNote {
    /// A change of the breaker.
    record: Option<HealthRecord>,
    /// Host calls the sandbox refused in the call: how many, and the last message.
    refusals: Option<(u32, String)>,
}

impl HealthNote {
    /// Only the refusals of a call.
    pub(super) fn refused(refusals: Option<(u32, String)>) -> HealthNote {
        HealthNote { record: None, refusals }
    }

    /// This change with the refusals of the same call.
    pub(super) fn with_refusals(self, refusals: Option<(u32, String)>) -> HealthNote {
        HealthNote { refusals, ..self }
    }
}

/// What changed.
enum HealthRecord {
    Recovered {
        now: plugin_api::Timestamp,
    },
    Failed {
        consecutive: u32,
        open_until: Option<plugin_api::Timestamp>,
        reason: String,
        now: plugin_api::Timestamp,
    },
}
