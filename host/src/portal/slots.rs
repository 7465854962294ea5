//! The slot items of a page: which the member may see, ONE `Slots` call per plugin for
//! their badges and disabled reasons (or a remembered answer), rendered into [`Slots`].

use super::health::HealthNote;
use super::{PluginEntry, Portal, plugin_abilities};
use crate::db::communities::Community;
use crate::db::plugin_store::SqlAccess;
use crate::plugins::CallError;
use crate::slot_cache::SlotKey;
use crate::view::{Member, SlotItem, Slots};
use plugin_api::{Context, PluginRequest, PluginResponse, SlotFill, SlotName, SlotPage};

impl Portal {
    /// The slot items of one page render: the manifest items the member may see, with
    /// ONE `Slots` call per plugin for badges and disabled reasons. A failing plugin's items
    /// are left out and the page renders.
    pub fn slots(&self, community: &Community, member: Option<&Member>, page: &SlotPage) -> Slots {
        self.slots_stored(community, member, page, None)
    }

    /// As [`Portal::slots`], with `plugin`'s items left out and `plugin` not asked: for the
    /// error page of a call in which it just failed (its `Slots` answering then would count
    /// as a recovery and reset its circuit breaker).
    pub fn slots_without(
        &self,
        community: &Community,
        member: Option<&Member>,
        page: &SlotPage,
        plugin: &PluginEntry,
    ) -> Slots {
        self.slots_stored(community, member, page, Some((plugin, None)))
    }

    /// [`Portal::slots_with`], then the plugins' breaker changes stored.
    pub(super) fn slots_stored(
        &self,
        community: &Community,
        member: Option<&Member>,
        page: &SlotPage,
        known: Option<(&PluginEntry, Option<Vec<SlotFill>>)>,
    ) -> Slots {
        let mut health = Vec::new();
        let slots = self.slots_with(community, member, page, known, &mut health);
        for (plugin, note) in health {
            self.store_health(plugin, note);
        }
        slots
    }

    /// As [`Portal::slots`], with the fills of one plugin already known (asked in the
    /// instance that served the page). The plugins' breaker changes go to `health`, to be
    /// stored once no call of this thread holds the turn to write (see [`HealthNote`]).
    pub(super) fn slots_with<'a>(
        &'a self,
        community: &Community,
        member: Option<&Member>,
        page: &SlotPage,
        known: Option<(&PluginEntry, Option<Vec<SlotFill>>)>,
        health: &mut Vec<(&'a PluginEntry, HealthNote)>,
    ) -> Slots {
        let mut slots = Slots::default();
        let Some(member) = member else { return slots };
        for plugin in &self.plugins {
            let items = self.visible_items(plugin, member, page);
            if items.is_empty() {
                continue;
            }
            let fills = match &known {
                Some((p, fills)) if std::ptr::eq(*p, plugin) => fills.clone(),
                _ => self.fill(plugin, community, member, page, &items, health),
            };
            if let Some(fills) = fills {
                self.add_items(&mut slots, community, plugin, &items, &fills, page);
            }
        }
        slots
    }

    /// Where `plugin`'s `Slots` answer for this member and page may be remembered, and for
    /// how long (ms); `None` when the plugin or the operator does not allow it.
    pub(super) fn cacheable(
        &self,
        plugin: &PluginEntry,
        community: &Community,
        member: &Member,
        page: &SlotPage,
    ) -> Option<(SlotKey, i64)> {
        let seconds = plugin.manifest().raw.slots_cache_seconds;
        if !self.config.plugins.slot_cache || seconds == 0 {
            return None;
        }
        let key = SlotKey {
            plugin: plugin.id().to_owned(),
            community: community.id,
            viewer: member.user.id,
            is_admin: member.is_admin(),
            abilities: plugin_abilities(plugin, member),
            page: page.clone(),
        };
        Some((key, i64::from(seconds) * 1000))
    }

    /// One `Slots` answer: remembered, or asked in a read-only transaction (and remembered
    /// if the plugin allows it); the plugin's breaker change, if any, goes to `health`.
    pub(super) fn fill<'a>(
        &self,
        plugin: &'a PluginEntry,
        community: &Community,
        member: &Member,
        page: &SlotPage,
        items: &[&plugin_api::manifest::SlotSpec],
        health: &mut Vec<(&'a PluginEntry, HealthNote)>,
    ) -> Option<Vec<SlotFill>> {
        let now = self.clock.now();
        // A plugin switched off by its breaker shows no slots, remembered or not.
        plugin.breaker.admit(now).ok()?;
        let cacheable = self.cacheable(plugin, community, member, page);
        self.remembered_or_asked(cacheable, now, self.db.commits(), || {
            let (ctx, services) = self
                .open_call(plugin, community, Some(member), SqlAccess::ReadOnly)
                .map_err(|e| tracing::error!(plugin = plugin.id(), error = %e, "cannot open the slots call"))
                .ok()?;
            let (result, mut services) = plugin.plugin.call(&slots_request(ctx, page, items), services);
            let refusals = services.take_refusals();
            let _ = services.rollback();
            health.push((plugin, self.observe(plugin, &result).with_refusals(refusals)));
            slot_fills(plugin.id(), result)
        })
    }

    /// The remembered answer for `cacheable` if there is one; otherwise what `ask` answers,
    /// remembered when `cacheable` allows it. `began` is the commit count read before the
    /// asking call's transaction began.
    pub(super) fn remembered_or_asked(
        &self,
        cacheable: Option<(SlotKey, i64)>,
        now: plugin_api::Timestamp,
        began: u64,
        ask: impl FnOnce() -> Option<Vec<SlotFill>>,
    ) -> Option<Vec<SlotFill>> {
        if let Some((key, max_age)) = &cacheable
            && let Some(fills) = self.slot_cache.get(key, self.db.commits(), now, *max_age)
        {
            return Some(fills);
        }
        let fills = ask()?;
        if let Some((key, _)) = cacheable {
            self.slot_cache.put(key, fills.clone(), began, self.db.commits(), now);
        }
        Some(fills)
    }

    pub(super) fn visible_items<'p>(
        &self,
        plugin: &'p PluginEntry,
        member: &Member,
        page: &SlotPage,
    ) -> Vec<&'p plugin_api::manifest::SlotSpec> {
        plugin
            .manifest()
            .raw
            .slots
            .iter()
            .filter(|s| member.abilities.contains(s.ability.as_str()))
            .filter(|s| match s.slot {
                SlotName::ProfileActions => page.profile.is_some(),
                SlotName::GroupActions => page.group.is_some(),
                _ => true,
            })
            .collect()
    }

    pub(super) fn add_items(
        &self,
        slots: &mut Slots,
        community: &Community,
        plugin: &PluginEntry,
        items: &[&plugin_api::manifest::SlotSpec],
        fills: &[SlotFill],
        page: &SlotPage,
    ) {
        for spec in items {
            let fill = fills.iter().find(|f| f.key == spec.key);
            if fill.is_some_and(|f| f.hidden) {
                continue;
            }
            let href = spec.link.as_ref().map(|link| {
                let link = link
                    .replace("{profile}", &page.profile.map(|p| p.0.to_string()).unwrap_or_default())
                    .replace("{group}", &page.group.map(|g| g.0.to_string()).unwrap_or_default());
                format!("/c/{}{}", community.slug, link)
            });
            slots.push(
                spec.slot,
                SlotItem {
                    plugin: plugin.id().to_owned(),
                    key: spec.key.clone(),
                    label: spec.label.clone(),
                    href,
                    badge: fill.and_then(|f| f.badge).filter(|b| *b > 0),
                    disabled_reason: fill.and_then(|f| f.disabled_reason.clone()),
                    icon: spec.icon,
                },
            );
        }
    }
}

/// The `Slots` request for these visible items of a page.
pub(super) fn slots_request(
    ctx: Context,
    page: &SlotPage,
    items: &[&plugin_api::manifest::SlotSpec],
) -> PluginRequest {
    PluginRequest::Slots { ctx, page: page.clone(), items: items.iter().map(|s| s.key.clone()).collect() }
}

pub(super) fn slot_fills(plugin: &str, result: Result<PluginResponse, CallError>) -> Option<Vec<SlotFill>> {
    match result {
        Ok(PluginResponse::Slots(fills)) => Some(fills),
        Ok(PluginResponse::Error(err)) => {
            tracing::warn!(plugin, error = %err, "plugin refused to fill its slots; they are left out");
            None
        }
        Ok(_) | Err(_) => None,
    }
}
