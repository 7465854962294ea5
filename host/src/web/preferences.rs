//! The member's preferences page (`/c/{community}/settings/notifications`): the on/off
//! preferences that the plugins the member can use declare in their manifests.

use super::error::AppError;
use super::{Req, community_page, value};
use crate::db;
use crate::portal::Portal;
use axum::extract::{Path, RawForm, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use plugin_api::{Flash, FlashKind, SlotPage};
use serde_json::json;
use std::sync::Arc;

/// The plugins the member may use (any of their abilities), with their preferences.
fn visible<'p>(portal: &'p Portal, req: &Req<'_>) -> Vec<&'p crate::portal::PluginEntry> {
    let Some(member) = &req.visitor.member else { return Vec::new() };
    portal
        .plugins
        .iter()
        .filter(|p| !p.manifest().raw.preferences.is_empty())
        .filter(|p| p.manifest().raw.abilities.iter().any(|a| member.abilities.contains(a.name.as_str())))
        .collect()
}

/// `GET /c/{community}/settings/notifications`.
pub async fn page(
    State(portal): State<Arc<Portal>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    community_page(portal, slug, headers, move |portal, req| {
        let Some(member) = req.visitor.member.clone() else {
            return Ok(req.to_sign_in(&format!("{}/settings/notifications", req.base())));
        };
        let conn = portal.db.get()?;
        let mut plugins = Vec::new();
        for plugin in visible(portal, req) {
            let mut prefs = Vec::new();
            for pref in &plugin.manifest().raw.preferences {
                let on = db::preferences::get(&conn, member.user.id, plugin.id(), &pref.key)?
                    .unwrap_or(pref.default);
                prefs.push(json!({ "key": pref.key, "label": pref.label, "on": on }));
            }
            plugins
                .push(json!({ "id": plugin.id(), "name": plugin.manifest().raw.name, "preferences": prefs }));
        }
        let data = json!({ "base": req.base(), "csrf": req.visitor.csrf, "plugins": plugins });
        let slots = portal.slots(&req.community, Some(&member), &SlotPage::default());
        Ok(req.render(StatusCode::OK, "preferences", "Preferences", &data, &slots))
    })
    .await
}

/// `POST /c/{community}/settings/notifications`: `plugin`, then a checkbox per preference.
pub async fn save(
    State(portal): State<Arc<Portal>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    community_page(portal, slug, headers, move |portal, req| {
        let Some(member) = req.visitor.member.clone() else {
            return Ok(req.to_sign_in(&format!("{}/settings/notifications", req.base())));
        };
        let form = req.form(&body)?;
        let plugin_id = value(&form, "plugin").unwrap_or_default();
        let plugin =
            visible(portal, req).into_iter().find(|p| p.id() == plugin_id).ok_or_else(AppError::not_found)?;
        let txn = portal.db.write()?;
        for pref in &plugin.manifest().raw.preferences {
            let on = value(&form, &pref.key).is_some_and(|v| v == "on");
            db::preferences::set(&txn, member.user.id, plugin.id(), &pref.key, on)?;
        }
        txn.commit()?;
        let flash = Flash { kind: FlashKind::Success, message: "Your preferences are saved.".into() };
        Ok(req.redirect("/settings/notifications", Some(&flash)))
    })
    .await
}
