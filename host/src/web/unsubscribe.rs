//! One-click unsubscribe (RFC 8058) at `/c/{community}/settings/unsubscribe/{token}`, the
//! link of an email's `List-Unsubscribe` header and footer. The signed token
//! ([`crate::unsubscribe`]) names the member, the community, the plugin and the preference;
//! nothing else is needed: no session and no CSRF token (a mail provider's POST carries
//! neither, and the token is the proof). A GET only shows what the link would do, with one
//! button; a POST turns that one preference off for that one member. A token that is not
//! valid, or names another community, a plugin or preference that is not loaded or a
//! member who is gone, gets 404 and changes nothing.

use super::error::AppError;
use super::{Req, community_page};
use crate::db;
use crate::portal::{Portal, Slots};
use crate::unsubscribe::Unsubscribe;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

/// What a valid token unsubscribes.
struct Target {
    what: Unsubscribe,
    member: String,
    plugin: String,
    label: String,
    default: bool,
}

fn invalid() -> AppError {
    AppError {
        status: StatusCode::NOT_FOUND,
        message: "This unsubscribe link is not valid. Use the latest email's link, or sign in and change \
                  your email preferences."
            .into(),
    }
}

/// The target of `token` in this request's community.
fn target(portal: &Portal, req: &Req<'_>, token: &str) -> Result<Target, AppError> {
    let what = portal.unsubscribe.verify(token).ok_or_else(invalid)?;
    if what.community != req.community.id {
        return Err(invalid());
    }
    let plugin = portal.plugins.iter().find(|p| p.id() == what.plugin).ok_or_else(invalid)?;
    let pref =
        plugin.manifest().raw.preferences.iter().find(|p| p.key == what.preference).ok_or_else(invalid)?;
    let conn = portal.db.get()?;
    let user = db::users::by_id(&conn, req.community.id, what.user)?.ok_or_else(invalid)?;
    Ok(Target {
        member: user.name,
        plugin: plugin.manifest().raw.name.clone(),
        label: pref.label.clone(),
        default: pref.default,
        what,
    })
}

fn page(req: &Req<'_>, token: &str, target: &Target, off: bool, done: bool) -> Response {
    let data = json!({
        "base": req.base(),
        "token": token,
        "community": req.community.name,
        "name": target.member,
        "plugin": target.plugin,
        "label": target.label,
        "off": off,
        "done": done,
    });
    req.render(StatusCode::OK, "unsubscribe", "Unsubscribe", &data, &Slots::default())
}

/// `GET /c/{community}/settings/unsubscribe/{token}`: what the link does, and one button.
pub async fn confirm(
    State(portal): State<Arc<Portal>>,
    Path((slug, token)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    community_page(portal, slug, headers, move |portal, req| {
        let target = target(portal, req, &token)?;
        let conn = portal.db.get()?;
        let on = db::preferences::get(&conn, target.what.user, &target.what.plugin, &target.what.preference)?
            .unwrap_or(target.default);
        Ok(page(req, &token, &target, !on, false))
    })
    .await
}

/// `POST /c/{community}/settings/unsubscribe/{token}`: turns the preference off. The body
/// (`List-Unsubscribe=One-Click` from a mail provider or the button) is not needed.
pub async fn unsubscribe(
    State(portal): State<Arc<Portal>>,
    Path((slug, token)): Path<(String, String)>,
    headers: HeaderMap,
    // The one-click body (`List-Unsubscribe=One-Click`) says nothing the token does not;
    // it is read all the same, so that the connection can carry the client's next request
    // (left unread, the server closes it, and a client that reuses it meets a closed
    // connection).
    _body: axum::body::Bytes,
) -> Response {
    community_page(portal, slug, headers, move |portal, req| {
        let target = target(portal, req, &token)?;
        let txn = portal.db.write()?;
        db::preferences::set(&txn, target.what.user, &target.what.plugin, &target.what.preference, false)?;
        txn.commit()?;
        tracing::info!(
            user = target.what.user.0,
            plugin = %target.what.plugin,
            preference = %target.what.preference,
            "unsubscribed by email link"
        );
        Ok(page(req, &token, &target, true, true))
    })
    .await
}
