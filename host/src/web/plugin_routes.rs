//! Plugin pages: every route a manifest declares is mounted at `/c/{community}{path}`.
//! Before calling the plugin, the host checks that the visitor is signed in to this
//! community (else: the sign-in page), has the route's ability (else: 403) and, for a POST,
//! sent the form's CSRF token. Then it renders the plugin's answer in the layout, follows
//! its redirect, or shows the error page its error kind asks for.

use super::error::AppError;
use super::{RESERVED_SEGMENTS, Req, blocking, pairs};
use crate::portal::{PageOutcome, PluginEntry, Portal};
use crate::rate_limit::Limited;
use axum::Router;
use axum::extract::{OriginalUri, Path, RawForm, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use plugin_api::{ErrorKind, HttpMethod, PageRequest, SettingValue, SlotPage};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Which plugin route a request is for.
#[derive(Clone)]
struct Target {
    plugin: usize,
    route: String,
    method: HttpMethod,
}

/// The router of every plugin route. Refuses routes that would shadow host pages or
/// another plugin's routes.
pub fn router(portal: &Portal) -> Result<Router<Arc<Portal>>, String> {
    let mut by_path: BTreeMap<String, MethodRouter<Arc<Portal>>> = BTreeMap::new();
    let mut owner_of_segment: HashMap<String, String> = HashMap::new();
    for (index, plugin) in portal.plugins.iter().enumerate() {
        for route in &plugin.manifest().raw.routes {
            let first = route.path.trim_start_matches('/').split('/').next().unwrap_or_default().to_owned();
            if first.is_empty() || first.starts_with('{') || RESERVED_SEGMENTS.contains(&first.as_str()) {
                return Err(format!(
                    "plugin `{}`: route `{}` ({}) would shadow the portal's own pages; start it with a segment of its own",
                    plugin.id(),
                    route.name,
                    route.path
                ));
            }
            if let Some(other) = owner_of_segment.insert(first.clone(), plugin.id().to_owned())
                && other != plugin.id()
            {
                return Err(format!(
                    "plugins `{other}` and `{}` both declare routes under /{first}",
                    plugin.id()
                ));
            }
            let target = Target { plugin: index, route: route.name.clone(), method: route.method };
            let handler = move |state: State<Arc<Portal>>,
                                path: Path<HashMap<String, String>>,
                                uri: OriginalUri,
                                query: RawQuery,
                                headers: HeaderMap,
                                form: RawForm| {
                handle(state, path, uri, query, headers, form, target.clone())
            };
            let path = format!("/c/{{community}}{}", route.path);
            let existing = by_path.remove(&path).unwrap_or_default();
            let method_router = match route.method {
                HttpMethod::Get => existing.merge(get(handler)),
                HttpMethod::Post => existing.merge(post(handler)),
            };
            by_path.insert(path, method_router);
        }
    }
    // axum refuses conflicting routes by panicking; turn that into a start-up error.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        by_path
            .into_iter()
            .fold(Router::new(), |router, (path, method_router)| router.route(&path, method_router))
    }))
    .map_err(|_| "two plugin routes conflict (same path shape with different parameter names)".to_owned())
}

async fn handle(
    State(portal): State<Arc<Portal>>,
    Path(mut params): Path<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    RawForm(body): RawForm,
    target: Target,
) -> Response {
    blocking(portal, move |portal| {
        let slug = params.remove("community").unwrap_or_default();
        let req = match Req::new(portal, &slug, &headers) {
            Ok(req) => req,
            Err(response) => return response,
        };
        let Some(plugin) = portal.plugins.get(target.plugin) else {
            return req.error(AppError::not_found());
        };
        let Some(member) = req.visitor.member.clone() else {
            let next = if target.method == HttpMethod::Get { uri.to_string() } else { req.base() };
            return req.to_sign_in(&next);
        };
        let Some(spec) = plugin.manifest().raw.routes.iter().find(|r| r.name == target.route) else {
            return req.error(AppError::not_found());
        };
        if !member.abilities.contains(spec.ability.as_str()) {
            return req.error(AppError::forbidden("You do not have access to this part of the community."));
        }
        if let Some(setting) = &spec.rate_limit
            && let Err(limited) = take_rate_limit(portal, &req, plugin, setting, member.user.id)
        {
            tracing::info!(plugin = plugin.id(), route = %target.route, user = %member.user.id, "rate limited");
            return too_many_requests(
                &req,
                limited,
                "You are doing this too often. Please wait a moment and try again.",
            );
        }
        let mut form = pairs(&body);
        if target.method == HttpMethod::Post {
            if let Err(e) = req.check_csrf(&form) {
                return req.error(e);
            }
            form.retain(|(k, _)| k != "csrf");
        }
        let request = PageRequest {
            route: target.route.clone(),
            method: target.method,
            params: params.into_iter().collect(),
            query: pairs(query.unwrap_or_default().as_bytes()),
            form,
        };
        match portal.page(plugin, &req.community, &member, request, &SlotPage::default(), &req.visitor.csrf) {
            PageOutcome::Render { html, title, slots } => req.in_layout(StatusCode::OK, &title, &html, &slots),
            PageOutcome::Redirect { to, flash } => req.redirect(&to, flash.as_ref()),
            PageOutcome::Refused(err) => {
                let status = StatusCode::from_u16(err.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let message = match err.kind {
                    ErrorKind::NotFound => "There is nothing here.".to_owned(),
                    ErrorKind::Internal => {
                        tracing::warn!(plugin = plugin.id(), error = %err.message, "plugin reported an internal error");
                        "This part of the community is not available right now.".to_owned()
                    }
                    _ => err.message,
                };
                req.error(AppError { status, message })
            }
            PageOutcome::SwitchedOff(until) => {
                let seconds = (until.0 - portal.clock.now().0).max(1000) / 1000;
                let mut response = req.error_without(plugin, AppError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: "This part of the community is switched off for a moment after repeated errors. Please try again in a minute.".into(),
                });
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                response
            }
            PageOutcome::Failed => req.error_without(plugin, AppError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "This part of the community is not available right now. Please try again later.".into(),
            }),
        }
    })
    .await
}

/// Counts one call of a rate-limited route for `user`; the limit is the community's value
/// of the integer `setting`, and routes naming the same setting share one allowance.
fn take_rate_limit(
    portal: &Portal,
    req: &Req<'_>,
    plugin: &PluginEntry,
    setting: &str,
    user: plugin_api::UserId,
) -> Result<(), Limited> {
    let limit = portal
        .db
        .get()
        .ok()
        .and_then(|conn| portal.settings(&conn, &req.community, plugin).ok())
        .and_then(|settings| match settings.get(setting) {
            Some(SettingValue::Int(n)) => u32::try_from(*n).ok(),
            _ => None,
        })
        .unwrap_or(u32::MAX);
    let key = format!("route:{}:{}:{setting}:{user}", req.community.id, plugin.id());
    portal.limits.take(&key, limit, Duration::from_secs(60))
}

/// The 429 page with its `Retry-After`.
pub fn too_many_requests(req: &Req<'_>, limited: Limited, message: &str) -> Response {
    let message = format!("{message} (Try again in {} seconds.)", limited.retry_after_secs);
    let mut response = req.error(AppError { status: StatusCode::TOO_MANY_REQUESTS, message });
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(limited.retry_after_secs));
    response
}
