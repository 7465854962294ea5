//! The portal's side of plugins extending plugins: it runs an implementer of a check
//! point inside the asking call's transaction ([`CheckRunner`]), and delivers one queued
//! event to its subscriber ([`Portal::deliver`], driven by [`crate::deliveries`]).

use super::{PluginEntry, Portal};
use crate::db::plugin_store::SqlAccess;
use crate::db::{self};
use crate::plugins::services::{CheckRunner, DbServices, Extensions};
use crate::view::Member;
use plugin_api::{CheckRequest, Delivery, PluginRequest, PluginResponse, Verdict};
use std::sync::{Arc, Weak};

impl Portal {
    /// What a plugin call knows of the other plugins.
    pub(super) fn call_extensions(&self) -> Extensions {
        let runner: Weak<dyn CheckRunner> = self.me.clone();
        Extensions { index: self.extensions.clone(), runner, wake: self.wake.clone() }
    }

    /// Wakes the deliverer when a commit queued events.
    pub fn delivery_wake(&self) -> Arc<crate::deliveries::Wake> {
        self.wake.clone()
    }

    fn entry_index(&self, plugin: &str) -> Option<usize> {
        self.plugins.iter().position(|p| p.id() == plugin)
    }

    /// Stores `note` for the plugin at `index` once the current transaction has ended.
    fn health_later(&self, services: &mut DbServices, index: usize, note: super::health::HealthNote) {
        let Some(portal) = self.me.upgrade() else { return };
        services.defer(Box::new(move || {
            if let Some(entry) = portal.plugins.get(index) {
                portal.store_health(entry, note);
            }
        }));
    }

    /// The items other plugins put in `plugin`'s slots that `member` may see (their
    /// ability, their plugin not switched off), for `portal.extensions` of its templates:
    /// `{ slot: [{ plugin, key, label, link }] }`, links under the community's base.
    pub fn extension_items(
        &self,
        plugin: &PluginEntry,
        community: &crate::db::communities::Community,
        member: &Member,
    ) -> serde_json::Value {
        let now = self.clock.now();
        let base = format!("/c/{}", community.slug);
        let mut out = serde_json::Map::new();
        for (name, point) in &self.extensions.slots {
            if point.declarer != plugin.id() {
                continue;
            }
            let items: Vec<serde_json::Value> = point
                .items
                .iter()
                .filter(|(_, item)| member.abilities.contains(item.ability.as_str()))
                .filter(|(owner, _)| {
                    self.entry_index(owner).is_some_and(|i| self.plugins[i].breaker.admit(now).is_ok())
                })
                .map(|(owner, item)| {
                    serde_json::json!({
                        "plugin": owner,
                        "key": item.key,
                        "label": item.label,
                        "link": format!("{base}{}", item.link),
                    })
                })
                .collect();
            out.insert(name.clone(), serde_json::Value::Array(items));
        }
        serde_json::Value::Object(out)
    }

    /// Delivers one queued event to its subscriber: `Some(true)` when the subscriber
    /// acknowledged it (and that committed), `Some(false)` when it failed (the delivery
    /// waits for its next attempt), `None` when the subscriber cannot be called now
    /// (switched off, or not loaded): its queue waits.
    pub fn deliver(&self, pending: &db::extensions::Pending) -> Option<bool> {
        let now = self.clock.now();
        let index = self.entry_index(&pending.subscriber)?;
        let entry = &self.plugins[index];
        entry.breaker.admit(now).ok()?;
        let community = match self
            .db
            .get()
            .map_err(|e| e.to_string())
            .and_then(|conn| db::communities::by_id(&conn, pending.community).map_err(|e| e.to_string()))
        {
            Ok(Some(community)) => community,
            Ok(None) => return Some(self.delivery_failed(pending, "the community no longer exists")),
            Err(err) => {
                tracing::error!(error = %err, "cannot read the delivery's community");
                return None;
            }
        };
        let payload = match serde_json::from_str(&pending.payload) {
            Ok(payload) => payload,
            // The host wrote it from a JSON value: only a damaged row gets here, and it
            // waits, visibly, for `portal events drop`.
            Err(e) => {
                return Some(self.delivery_failed(pending, &format!("the stored payload is not JSON: {e}")));
            }
        };
        let delivery = Delivery {
            id: pending.id,
            event: pending.event.clone(),
            source: pending.source.clone(),
            at: pending.created_at,
            payload,
        };
        let (ctx, mut services) = match self.open_call(entry, &community, None, SqlAccess::ReadWrite) {
            Ok(opened) => opened,
            Err(err) => {
                tracing::error!(plugin = entry.id(), error = %err, "cannot open the delivery call");
                return None;
            }
        };
        // Another portal process may be delivering it: then this queue waits.
        let claimed = services
            .host_conn()
            .map_err(|e| e.message)
            .and_then(|conn| db::extensions::claim(conn, pending.id).map_err(|e| e.to_string()));
        if claimed != Ok(true) {
            if let Err(err) = claimed {
                tracing::error!(plugin = entry.id(), error = %err, "cannot take the delivery");
            }
            let _ = services.rollback();
            return None;
        }
        let (result, mut services) = entry.plugin.call(&PluginRequest::Deliver { ctx, delivery }, services);
        let health = self.observe(entry, &result).with_refusals(services.take_refusals());
        let after = services.take_after();
        let outcome = match result {
            Ok(PluginResponse::Ack) => {
                let removed = services
                    .host_conn()
                    .map_err(|e| e.message)
                    .and_then(|conn| db::extensions::delivered(conn, pending.id).map_err(|e| e.to_string()));
                match removed {
                    Ok(true) => services.commit().map_err(|e| e.to_string()),
                    Ok(false) => {
                        // Another process delivered it meanwhile: keep nothing of this run.
                        let _ = services.rollback();
                        Ok(())
                    }
                    Err(err) => {
                        let _ = services.rollback();
                        Err(err)
                    }
                }
            }
            other => {
                let _ = services.rollback();
                Err(match other {
                    Ok(PluginResponse::Error(err)) => err.to_string(),
                    Ok(_) => "answered with something other than an acknowledgement".into(),
                    Err(err) => err.explained(),
                })
            }
        };
        self.store_health(entry, health);
        for work in after {
            work();
        }
        Some(match outcome {
            Ok(()) => true,
            Err(why) => self.delivery_failed(pending, &why),
        })
    }

    /// Records a failed delivery attempt; `false`.
    fn delivery_failed(&self, pending: &db::extensions::Pending, why: &str) -> bool {
        let attempts = pending.attempts.saturating_add(1);
        let wait = self.config.plugins.events.backoff_ms(attempts);
        let next = plugin_api::Timestamp(self.clock.now().0.saturating_add(wait));
        tracing::warn!(plugin = %pending.subscriber, event = %pending.event, delivery = pending.id, attempts, retry_in_ms = wait, why, "event delivery failed; it will be tried again");
        let why: String = why.chars().take(500).collect();
        let stored = self.db.write().and_then(|txn| {
            db::extensions::failed(&txn, pending.id, &why, next)?;
            txn.commit()
        });
        if let Err(err) = stored {
            tracing::error!(error = %err, "could not record the failed delivery");
        }
        false
    }
}

impl CheckRunner for Portal {
    fn run_check(
        &self,
        call: &mut DbServices,
        implementer: &str,
        check: CheckRequest,
        cpu_ms: u32,
    ) -> Result<Verdict, String> {
        let index = self.entry_index(implementer).ok_or_else(|| format!("`{implementer}` is not loaded"))?;
        let entry: &PluginEntry = &self.plugins[index];
        if let Err(until) = entry.breaker.admit(self.clock.now()) {
            return Err(format!("`{implementer}` is switched off by its circuit breaker until {}", until.0));
        }
        let community = call.community_record();
        let viewer = call.viewer();
        let mut inner = call.lend(entry.manifest());
        let ctx = inner.host_conn().map_err(|e| e.message).and_then(|conn| {
            self.context(conn, &community, viewer.as_deref(), entry).map_err(|e| e.to_string())
        });
        let ctx = match ctx {
            Ok(ctx) => ctx,
            Err(err) => {
                call.take_back(inner, false);
                return Err(err);
            }
        };
        let (result, mut inner) =
            entry.plugin.call_within(&PluginRequest::Check { ctx, check }, inner, u64::from(cpu_ms));
        let note = self.observe(entry, &result).with_refusals(inner.take_refusals());
        call.take_back(inner, matches!(result, Ok(PluginResponse::Verdict(_))));
        self.health_later(call, index, note);
        match result {
            Ok(PluginResponse::Verdict(verdict)) => Ok(verdict),
            Ok(PluginResponse::Error(err)) => Err(format!("`{implementer}` answered with an error: {err}")),
            Ok(_) => Err(format!("`{implementer}` answered with something other than a verdict")),
            Err(err) => Err(err.explained()),
        }
    }
}
