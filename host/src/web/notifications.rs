//! In-app notifications: the page that lists them, and marking one or all read. The
//! header's bell (in the layout) shows the unread count.

use super::error::AppError;
use super::{community_page, pairs, value};
use crate::db;
use crate::portal::Portal;
use axum::extract::{Path, RawForm, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use plugin_api::live::LiveUpdate;
use plugin_api::{Flash, FlashKind, SlotPage};
use serde_json::json;
use std::sync::Arc;

/// Notifications per page.
const PAGE_SIZE: u32 = 30;

/// `GET /c/{community}/notifications?page=`.
pub async fn page(
    State(portal): State<Arc<Portal>>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    community_page(portal, slug, headers, move |portal, req| {
        let Some(member) = req.visitor.member.clone() else {
            return Ok(req.to_sign_in(&format!("{}/notifications", req.base())));
        };
        let query = pairs(query.unwrap_or_default().as_bytes());
        let conn = portal.db.get()?;
        let page = value(&query, "page").and_then(|p| p.parse::<u32>().ok()).unwrap_or(1).clamp(1, 10_000);
        let total = db::notifications::count(&conn, member.user.id)?;
        let list = db::notifications::list(&conn, member.user.id, PAGE_SIZE, (page - 1) * PAGE_SIZE)?;
        let now = portal.clock.now();
        let items: Vec<_> = list
            .iter()
            .map(|n| {
                json!({
                    "id": n.id,
                    "text": n.text,
                    "href": format!("{}{}", req.base(), n.link),
                    "when": plugin_api::time::Moment::of(n.created_at, now),
                    "read": n.read,
                })
            })
            .collect();
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        let data = json!({
            "base": req.base(),
            "csrf": req.visitor.csrf,
            "notifications": items,
            "any_unread": list.iter().any(|n| !n.read),
            "page": page,
            "pages": pages,
            "prev": (page > 1).then(|| format!("{}/notifications?page={}", req.base(), page - 1)),
            "next": (page < pages).then(|| format!("{}/notifications?page={}", req.base(), page + 1)),
        });
        let slots = portal.slots(&req.community, Some(&member), &SlotPage::default());
        Ok(req.render(StatusCode::OK, "notifications", "Notifications", &data, &slots))
    })
    .await
}

/// `POST /c/{community}/notifications/read`: `id=N`, or `all=1`.
pub async fn mark_read(
    State(portal): State<Arc<Portal>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    community_page(portal, slug, headers, move |portal, req| {
        let Some(member) = req.visitor.member.clone() else {
            return Ok(req.to_sign_in(&format!("{}/notifications", req.base())));
        };
        let form = req.form(&body)?;
        let now = portal.clock.now();
        // The member's other open pages refresh their bell, in this process and the others.
        let refresh_bell = || portal.live.send(req.community.id, [(member.user.id, LiveUpdate::default())]);
        let mut txn = portal.db.write()?;
        txn.announce(db::announce::Announcement {
            live: vec![db::announce::LiveBatch {
                community: req.community.id,
                topics: Vec::new(),
                users: vec![member.user.id],
            }],
            deliveries: false,
        });
        if value(&form, "all").is_some() {
            db::notifications::mark_all_read(&txn, member.user.id, now)?;
            txn.commit()?;
            refresh_bell();
            let flash =
                Flash { kind: FlashKind::Success, message: "All notifications are marked read.".into() };
            return Ok(req.redirect("/notifications", Some(&flash)));
        }
        let id = value(&form, "id").and_then(|id| id.parse().ok()).ok_or_else(AppError::not_found)?;
        if !db::notifications::mark_read(&txn, member.user.id, id, now)? {
            return Err(AppError::not_found());
        }
        txn.commit()?;
        refresh_bell();
        Ok(req.redirect("/notifications", None))
    })
    .await
}
