//! Who extends whom: the loaded plugins' events, subscriptions, check points,
//! implementations and extension slots, indexed once at start and checked against each
//! other (an implementation, subscription or slot item must name something a loaded
//! plugin declares).

use plugin_api::manifest::{ExtensionKind, ExtensionSlotSpec, ManifestFile};
use plugin_api::{AbilityName, FailurePolicy};
use std::collections::BTreeMap;

/// A plugin that receives an event, in communities where `ability` is granted to anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// The subscribing plugin.
    pub plugin: String,
    /// The ability that switches the subscription on in a community.
    pub ability: AbilityName,
}

/// A check point with its implementers, in load order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckPoint {
    /// The plugin that declares it (and is told the resolutions).
    pub declarer: String,
    /// What an implementer's failure means.
    pub on_failure: FailurePolicy,
    /// Each implementer's CPU budget.
    pub cpu_ms: u32,
    /// The implementers: plugin and the ability that switches it on in a community.
    pub implementers: Vec<Subscriber>,
}

/// A slot point with the items other plugins put in it, in load order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotPoint {
    /// The plugin that declares it (its templates place it).
    pub declarer: String,
    /// The parameters each placement gives.
    pub params: Vec<String>,
    /// The items: plugin and item.
    pub items: Vec<(String, ExtensionSlotSpec)>,
}

/// The index of the loaded plugins' extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    /// Declared events (full name -> declaring plugin).
    pub events: BTreeMap<String, String>,
    /// Subscribers per event.
    pub subscribers: BTreeMap<String, Vec<Subscriber>>,
    /// Check points.
    pub checks: BTreeMap<String, CheckPoint>,
    /// Slot points.
    pub slots: BTreeMap<String, SlotPoint>,
}

impl Index {
    /// Indexes `manifests` (in load order) and checks that every implementation,
    /// subscription and extension slot item names what some manifest declares; the error
    /// names the plugin, the section and the missing name, with what is declared.
    pub fn build<'m>(manifests: impl IntoIterator<Item = &'m ManifestFile> + Clone) -> Result<Index, String> {
        let mut index = Index::default();
        for m in manifests.clone() {
            for event in &m.events {
                index.events.insert(event.name.clone(), m.id.clone());
            }
            for point in &m.extension_points {
                match point.kind {
                    ExtensionKind::Check => {
                        index.checks.insert(
                            point.name.clone(),
                            CheckPoint {
                                declarer: m.id.clone(),
                                on_failure: point.on_failure.unwrap_or(FailurePolicy::Allow),
                                cpu_ms: point.cpu_ms.unwrap_or(plugin_api::manifest::DEFAULT_CHECK_CPU_MS),
                                implementers: Vec::new(),
                            },
                        );
                    }
                    ExtensionKind::Slot => {
                        index.slots.insert(
                            point.name.clone(),
                            SlotPoint {
                                declarer: m.id.clone(),
                                params: point.params.clone(),
                                items: Vec::new(),
                            },
                        );
                    }
                }
            }
        }
        let names = |map: Vec<&String>| {
            if map.is_empty() {
                "none".to_owned()
            } else {
                map.into_iter().cloned().collect::<Vec<_>>().join(", ")
            }
        };
        for m in manifests {
            for (i, sub) in m.subscriptions.iter().enumerate() {
                if index.events.get(&sub.event) == Some(&m.id) {
                    return Err(format!(
                        "plugin `{}` subscribes to its own event `{}` (subscriptions[{i}]): do the work in the call that emits it",
                        m.id, sub.event
                    ));
                }
                if !index.events.contains_key(&sub.event) {
                    return Err(format!(
                        "plugin `{}` subscribes to `{}` (subscriptions[{i}]), which no loaded plugin declares; declared events: {}",
                        m.id,
                        sub.event,
                        names(index.events.keys().collect())
                    ));
                }
                index
                    .subscribers
                    .entry(sub.event.clone())
                    .or_default()
                    .push(Subscriber { plugin: m.id.clone(), ability: sub.ability.clone() });
            }
            for (i, imp) in m.implements.iter().enumerate() {
                let Some(point) = index.checks.get_mut(&imp.point) else {
                    let also = if index.slots.contains_key(&imp.point) {
                        " (it is a slot: put items in it with [[extension_slots]])"
                    } else {
                        ""
                    };
                    return Err(format!(
                        "plugin `{}` implements `{}` (implements[{i}]), which no loaded plugin declares as a check point{also}; declared check points: {}",
                        m.id,
                        imp.point,
                        names(index.checks.keys().collect())
                    ));
                };
                if point.declarer == m.id {
                    return Err(format!(
                        "plugin `{}` implements its own check point `{}` (implements[{i}]): check in the call that asks",
                        m.id, imp.point
                    ));
                }
                point.implementers.push(Subscriber { plugin: m.id.clone(), ability: imp.ability.clone() });
            }
            for (i, item) in m.extension_slots.iter().enumerate() {
                let Some(point) = index.slots.get_mut(&item.point) else {
                    let also = if index.checks.contains_key(&item.point) {
                        " (it is a check point: answer it with [[implements]])"
                    } else {
                        ""
                    };
                    return Err(format!(
                        "plugin `{}` puts `{}` in slot `{}` (extension_slots[{i}]), which no loaded plugin declares as a slot{also}; declared slots: {}",
                        m.id,
                        item.key,
                        item.point,
                        names(index.slots.keys().collect())
                    ));
                };
                if let Some(unknown) = placeholders(&item.link).find(|p| !point.params.iter().any(|q| q == p))
                {
                    return Err(format!(
                        "plugin `{}`: the link of `{}` (extension_slots[{i}]) uses `{{{unknown}}}`, which slot `{}` does not give; it gives: {}",
                        m.id,
                        item.key,
                        item.point,
                        names(point.params.iter().collect())
                    ));
                }
                point.items.push((m.id.clone(), item.clone()));
            }
        }
        Ok(index)
    }

    /// The check point `point` if `plugin` declares it.
    pub fn check_of(&self, plugin: &str, point: &str) -> Option<&CheckPoint> {
        self.checks.get(point).filter(|p| p.declarer == plugin)
    }
}

/// The `{name}` placeholders of a link.
pub fn placeholders(link: &str) -> impl Iterator<Item = &str> {
    link.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> ManifestFile {
        toml::from_str(text).unwrap()
    }

    const DECLARER: &str = r#"
id = "conversations"
name = "C"
version = "0.1.0"
abi_version = 1
wasm = "c.wasm"
[[events]]
name = "conversations.message_posted"
description = "a message"
payload = "conversations_api::MessagePosted"
[[extension_points]]
name = "conversations.check_message"
kind = "check"
description = "check"
on_failure = "refuse"
cpu_ms = 20
[[extension_points]]
name = "conversations.message_actions"
kind = "slot"
description = "actions"
params = ["conversation", "message"]
"#;

    const IMPLEMENTER: &str = r#"
id = "moderation"
name = "M"
version = "0.1.0"
abi_version = 1
wasm = "m.wasm"
[[subscriptions]]
event = "conversations.message_posted"
ability = "moderation.report"
[[implements]]
point = "conversations.check_message"
ability = "moderation.check"
[[extension_slots]]
point = "conversations.message_actions"
key = "report"
label = "Report"
link = "/moderation/report?conversation={conversation}&message={message}"
ability = "moderation.report"
"#;

    #[test]
    fn implementers_subscribers_and_items_are_indexed() {
        let (c, m) = (manifest(DECLARER), manifest(IMPLEMENTER));
        let index = Index::build([&c, &m]).unwrap();
        let point = index.check_of("conversations", "conversations.check_message").unwrap();
        assert_eq!(point.on_failure, FailurePolicy::Refuse);
        assert_eq!(point.cpu_ms, 20);
        assert_eq!(point.implementers[0].plugin, "moderation");
        assert!(index.check_of("moderation", "conversations.check_message").is_none());
        assert_eq!(index.subscribers["conversations.message_posted"][0].plugin, "moderation");
        assert_eq!(index.slots["conversations.message_actions"].items[0].1.key, "report");
    }

    #[test]
    fn naming_what_nobody_declares_is_refused_by_name() {
        let m = manifest(IMPLEMENTER);
        let err = Index::build([&m]).unwrap_err();
        assert!(err.contains("`moderation` subscribes to `conversations.message_posted`"), "{err}");
        let c = manifest(DECLARER);
        let typo = manifest(
            &IMPLEMENTER
                .replace("point = \"conversations.check_message\"", "point = \"conversations.check_mesage\""),
        );
        let err = Index::build([&c, &typo]).unwrap_err();
        assert!(
            err.contains(
                "implements `conversations.check_mesage` (implements[0]), which no loaded plugin declares"
            ),
            "{err}"
        );
        assert!(err.contains("declared check points: conversations.check_message"), "{err}");
        let slot = manifest(&IMPLEMENTER.replace("{message}", "{author}"));
        let err = Index::build([&c, &slot]).unwrap_err();
        assert!(
            err.contains("uses `{author}`, which slot `conversations.message_actions` does not give"),
            "{err}"
        );
    }
}
