//! The community admin page: which abilities are granted to whom (grant and revoke), and
//! the plugins' settings for this community. Community admins only.

use super::error::AppError;
use super::{Req, community_page, value};
use crate::abilities::{self, AbilityError};
use crate::plugin_settings;
use crate::portal::Portal;
use axum::extract::{Path, RawForm, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use plugin_api::manifest::SettingSpec;
use plugin_api::{Flash, FlashKind, SettingValue};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

fn require_admin(req: &Req<'_>) -> Result<(), AppError> {
    match &req.visitor.member {
        Some(m) if m.is_admin() => Ok(()),
        Some(_) => Err(AppError::forbidden("Only the community's administrators can see this page.")),
        None => Err(AppError {
            status: StatusCode::UNAUTHORIZED,
            message: "Sign in as an administrator first.".into(),
        }),
    }
}

/// `GET /c/{community}/admin`.
pub async fn page(
    State(portal): State<Arc<Portal>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    community_page(portal, slug, headers, move |portal, req| {
        if req.visitor.member.is_none() {
            return Ok(req.to_sign_in(&format!("{}/admin", req.base())));
        }
        require_admin(req)?;
        let conn = portal.db.get()?;
        let grants = abilities::list(&conn, &req.community).map_err(AppError::internal)?;
        let granted_somewhere: BTreeSet<&str> = grants.iter().map(|(g, _)| g.ability.as_str()).collect();
        let requirements = portal.ability_requirements();
        let mut plugins = Vec::new();
        for plugin in &portal.plugins {
            let settings = portal.settings(&conn, &req.community, plugin)?;
            let abilities: Vec<_> = plugin
                .manifest()
                .raw
                .abilities
                .iter()
                .map(|a| {
                    let granted: Vec<_> = grants
                        .iter()
                        .filter(|(g, _)| g.ability == a.name.as_str())
                        .map(|(_, shown)| json!({ "grantee": shown }))
                        .collect();
                    let unmet = abilities::unmet(requirements, a.name.as_str(), &granted_somewhere);
                    json!({
                        "name": a.name, "label": a.label, "description": a.description, "grants": granted,
                        "off": granted.is_empty(),
                        "requires": a.requires.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "),
                        "no_effect": (!granted.is_empty() && !unmet.is_empty()).then(|| unmet.join(", ")),
                    })
                })
                .collect();
            let settings: Vec<_> = plugin
                .manifest()
                .raw
                .settings
                .iter()
                .map(|(name, spec)| setting_view(name, spec, settings.get(name)))
                .collect();
            let links = extension_lines(portal.extensions(), plugin.id());
            let queue = crate::db::extensions::queue_status(&conn, plugin.id(), Some(req.community.id))?;
            let queue = (queue.waiting > 0).then(|| {
                json!({ "waiting": queue.waiting, "failing": queue.failing, "error": queue.worst.map(|w| w.3) })
            });
            plugins.push(json!({
                "id": plugin.id(), "name": plugin.manifest().raw.name, "abilities": abilities,
                "settings": settings, "links": links, "queue": queue,
            }));
        }
        let data = json!({ "base": req.base(), "csrf": req.visitor.csrf, "plugins": plugins, "community": req.community });
        let slots = portal.slots(&req.community, req.visitor.member.as_ref(), &Default::default());
        Ok(req.render(StatusCode::OK, "admin", "Administration", &data, &slots))
    })
    .await
}

/// How `plugin` works with the other loaded plugins, one sentence each: the checks it
/// asks (with what an implementer's failure means), the checks it answers, the events it
/// emits and receives, the slots it offers and fills.
fn extension_lines(index: &crate::extensions::Index, plugin: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let names =
        |list: Vec<&str>| if list.is_empty() { "no loaded plugin".to_owned() } else { list.join(", ") };
    for (name, point) in &index.checks {
        if point.declarer == plugin {
            let policy = match point.on_failure {
                plugin_api::FailurePolicy::Allow => "it is allowed (fail open)",
                plugin_api::FailurePolicy::Refuse => {
                    "it is refused and the author asked to try again (fail closed)"
                }
            };
            let who = names(point.implementers.iter().map(|i| i.plugin.as_str()).collect());
            lines.push(format!(
                "Asks other plugins to check before storing ({name}): {who}. Each has {} ms; if one fails or runs out of time, {policy}.",
                point.cpu_ms
            ));
        } else if let Some(i) = point.implementers.iter().find(|i| i.plugin == plugin) {
            lines.push(format!(
                "Checks for {} ({name}) where {} is granted: it may allow, refuse or hold for review.",
                point.declarer, i.ability
            ));
        }
    }
    for (event, subscribers) in &index.subscribers {
        if let Some(s) = subscribers.iter().find(|s| s.plugin == plugin) {
            lines.push(format!("Receives {event} where {} is granted.", s.ability));
        }
        if index.events.get(event).is_some_and(|d| d == plugin) {
            let who = names(subscribers.iter().map(|s| s.plugin.as_str()).collect());
            lines.push(format!("Tells other plugins {event}: {who}."));
        }
    }
    for (name, slot) in &index.slots {
        for (owner, item) in &slot.items {
            if owner == plugin {
                lines.push(format!(
                    "Adds “{}” to {name} of {} (needs {}).",
                    item.label, slot.declarer, item.ability
                ));
            }
        }
    }
    lines
}

fn setting_view(name: &str, spec: &SettingSpec, value: Option<&SettingValue>) -> serde_json::Value {
    let (kind, label, shown) = match (spec, value) {
        (SettingSpec::Integer { label, min, max, .. }, Some(SettingValue::Int(v))) => {
            return json!({ "name": name, "label": label, "integer": true, "value": v, "min": min, "max": max });
        }
        (SettingSpec::Boolean { label, .. }, Some(SettingValue::Bool(v))) => {
            return json!({ "name": name, "label": label, "boolean": true, "checked": v });
        }
        (SettingSpec::Duration { label, .. }, Some(SettingValue::Int(secs))) => {
            ("duration", label, humanize(*secs))
        }
        (SettingSpec::Url { label, .. }, Some(SettingValue::Text(v))) => ("url", label, v.clone()),
        (spec, _) => ("text", spec_label(spec), String::new()),
    };
    json!({ "name": name, "label": label, kind: true, "value": shown })
}

fn spec_label(spec: &SettingSpec) -> &String {
    match spec {
        SettingSpec::Integer { label, .. }
        | SettingSpec::Boolean { label, .. }
        | SettingSpec::Duration { label, .. }
        | SettingSpec::Url { label, .. } => label,
    }
}

fn humanize(secs: i64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// `POST /c/{community}/admin/abilities`: `action=grant|revoke`, `ability`, `grantee`.
pub async fn abilities(
    State(portal): State<Arc<Portal>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    community_page(portal, slug, headers, move |portal, req| {
        require_admin(req)?;
        let form = req.form(&body)?;
        let ability = value(&form, "ability").unwrap_or_default();
        let grantee = value(&form, "grantee").unwrap_or_default();
        let known = portal.declared_abilities();
        let txn = portal.db.write()?;
        let outcome = match value(&form, "action") {
            Some("grant") => {
                abilities::grant(&txn, &req.community, &known, ability, grantee, portal.clock.now()).map(
                    |added| {
                        if added {
                            format!("Granted {ability} to {grantee}.")
                        } else {
                            format!("{grantee} already had {ability}.")
                        }
                    },
                )
            }
            Some("revoke") => {
                abilities::revoke(&txn, &req.community, &known, ability, grantee).map(|removed| {
                    if removed {
                        format!("Revoked {ability} from {grantee}.")
                    } else {
                        format!("{grantee} did not have {ability}.")
                    }
                })
            }
            _ => return Err(AppError::bad_request("Choose grant or revoke.")),
        };
        let flash = match outcome {
            Ok(message) => {
                txn.commit()?;
                Flash { kind: FlashKind::Success, message }
            }
            Err(AbilityError::Db(e)) => return Err(e.into()),
            Err(e) => Flash { kind: FlashKind::Error, message: e.to_string() },
        };
        Ok(req.redirect("/admin", Some(&flash)))
    })
    .await
}

/// `POST /c/{community}/admin/settings`: `plugin`, then one field per setting.
pub async fn settings(
    State(portal): State<Arc<Portal>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    community_page(portal, slug, headers, move |portal, req| {
        require_admin(req)?;
        let form = req.form(&body)?;
        let plugin_id = value(&form, "plugin").unwrap_or_default();
        let plugin = portal.plugins.iter().find(|p| p.id() == plugin_id).ok_or_else(AppError::not_found)?;
        let txn = portal.db.write()?;
        let mut errors = Vec::new();
        for name in plugin.manifest().raw.settings.keys() {
            let raw = value(&form, name).unwrap_or_default();
            match plugin_settings::set(&txn, &req.community, plugin.manifest(), name, raw) {
                Ok(()) => {}
                Err(plugin_settings::SettingError::Db(e)) => return Err(e.into()),
                Err(e) => errors.push(e.to_string()),
            }
        }
        txn.commit()?;
        let flash = if errors.is_empty() {
            Flash {
                kind: FlashKind::Success,
                message: format!("Saved the settings of {}.", plugin.manifest().raw.name),
            }
        } else {
            Flash { kind: FlashKind::Error, message: format!("Not saved: {}", errors.join("; ")) }
        };
        Ok(req.redirect("/admin", Some(&flash)))
    })
    .await
}
