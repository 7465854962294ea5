//! Live updates in the browser: `GET /c/{community}/events`, the signed-in member's stream
//! of server-sent events, and `GET /c/{community}/live/header`, the header fragment (bell,
//! avatar menu and badges) that `static/portal.js` copies into the open page when an event
//! arrives. Pages work the same without them: a reload shows everything.

use super::in_community;
use super::plugin_routes::too_many_requests;
use crate::portal::Portal;
use crate::rate_limit::Limited;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use plugin_api::SlotPage;
use plugin_api::live::LiveUpdate;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How often an idle stream sends a comment, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(20);

/// `GET /c/{community}/events`: `update` events carrying a [`LiveUpdate`] (JSON), and a
/// `resync` event when the stream fell behind (the page should refresh everything live).
pub async fn events(
    State(portal): State<Arc<Portal>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    in_community(portal, slug, headers, |portal, req| {
        let Some(member) = req.visitor.member.as_ref() else {
            return req.to_sign_in(&req.base());
        };
        let Some(updates) = portal.live.subscribe(req.community.id, member.user.id) else {
            let limited = Limited { retry_after_secs: 60 };
            return too_many_requests(req, limited, "Too many open pages are following updates.");
        };
        let closing = portal.live.closing();
        let resyncs = portal.live.resyncs();
        // The stream is polled on the async threads, after this closure returned.
        let stream = futures_util::stream::unfold(
            (updates, closing, resyncs),
            |(mut updates, mut closing, mut resyncs)| async move {
                let event = tokio::select! {
                    _ = closing.wait_for(|closing| *closing) => return None,
                    changed = resyncs.changed() => match changed {
                        Ok(()) => Event::default().event("resync").data("{}"),
                        Err(_) => return None,
                    },
                    received = updates.recv() => match received {
                        Ok(update) => update_event(&update),
                        Err(RecvError::Lagged(_)) => Event::default().event("resync").data("{}"),
                        Err(RecvError::Closed) => return None,
                    },
                };
                Some((Ok::<Event, Infallible>(event), (updates, closing, resyncs)))
            },
        );
        Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response()
    })
    .await
}

fn update_event(update: &LiveUpdate) -> Event {
    let data = serde_json::to_string(update).unwrap_or_else(|_| "{}".into());
    Event::default().event("update").data(data)
}

/// `GET /c/{community}/live/header`: the member's corner of the header, alone.
pub async fn header(
    State(portal): State<Arc<Portal>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    in_community(portal, slug, headers, |portal, req| {
        let Some(member) = req.visitor.member.as_ref() else {
            return req.to_sign_in(&req.base());
        };
        let slots = portal.slots(&req.community, Some(member), &SlotPage::default());
        match portal.templates.render("header_account", &req.layout("", &slots)) {
            Ok(html) => (StatusCode::OK, Html(html)).into_response(),
            Err(e) => req.error(super::error::AppError::internal(e)),
        }
    })
    .await
}
