//! The web portal: `app()` builds the router (host pages, static files, and every route
//! that a plugin manifest declares, mounted under `/c/{community}`); handlers run their
//! blocking work (SQLite, plugin calls) off the async threads.
//!
//! - [`pages`]: communities, home, directory, profiles, groups;
//! - [`auth`]: sign-in and sign-out;
//! - [`admin`]: the community admin page (abilities, settings);
//! - [`notifications`]: the bell's page and marking read;
//! - [`preferences`]: a member's preferences, per plugin;
//! - [`plugin_routes`]: plugin pages;
//! - [`live`]: live updates (server-sent events) and the header they refresh;
//! - [`unsubscribe`]: one-click unsubscribe from emails (RFC 8058);
//! - [`session`]: cookies, CSRF, flash; [`error`]: the handlers' error type.
//!
//! Pages are rendered by [`crate::render`], below this layer: the portal's core never
//! calls up into the web layer.

pub mod admin;
pub mod auth;
pub mod error;
pub mod live;
pub mod notifications;
pub mod pages;
pub mod plugin_routes;
pub mod preferences;
pub mod session;
pub mod unsubscribe;

use crate::db::communities::{self, Community};
use crate::portal::{Portal, Slots};
use crate::render::{Layout, ViewerView};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use error::AppError;
use plugin_api::{Flash, HttpMethod, SlotPage};
use serde::Serialize;
use session::Visitor;
use std::collections::BTreeMap;
use std::sync::Arc;

/// First path segments under `/c/{community}` that belong to the host.
pub const RESERVED_SEGMENTS: &[&str] = &[
    "members",
    "groups",
    "sign-in",
    "sign-out",
    "admin",
    "settings",
    "static",
    "notifications",
    "events",
    "live",
];

/// Who may use a host route (what the authorization tests expect of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (public pages, the sign-in form).
    Anyone,
    /// Members of the community signed in to it; others are sent to sign in.
    Member,
    /// The community's administrators; other members get 403.
    Admin,
    /// Whoever holds a valid signed token in the path (one-click unsubscribe): no session
    /// and no CSRF token, by design (RFC 8058); an invalid token gets 404.
    Token,
}

/// One route of the host: the router is built from [`host_routes`], and the authorization
/// tests walk the same table, so a route cannot be added without being checked.
pub struct HostRoute {
    /// `GET` or `POST` (every POST needs the form's CSRF token, but [`Access::Token`]'s).
    pub method: HttpMethod,
    /// The axum path, e.g. `/c/{community}/members/{nickname}`.
    pub path: &'static str,
    /// Who may use it.
    pub access: Access,
    handler: MethodRouter<Arc<Portal>>,
}

/// Every route of the host (plugin routes come from the manifests).
pub fn host_routes() -> Vec<HostRoute> {
    use Access::{Admin, Anyone, Member, Token};
    use HttpMethod::{Get, Post};
    let route = |method, path, access, handler| HostRoute { method, path, access, handler };
    vec![
        route(Get, "/", Anyone, get(pages::index)),
        route(Get, "/static/portal.css", Anyone, get(stylesheet)),
        route(Get, "/static/portal.js", Anyone, get(script)),
        route(Get, "/favicon.svg", Anyone, get(favicon)),
        route(Get, "/c/{community}", Anyone, get(pages::home)),
        route(Get, "/c/{community}/members", Anyone, get(pages::members)),
        route(Get, "/c/{community}/members/{nickname}", Anyone, get(pages::profile)),
        route(Get, "/c/{community}/groups/{nickname}", Anyone, get(pages::group)),
        route(Get, "/c/{community}/sign-in", Anyone, get(auth::sign_in_form)),
        route(Post, "/c/{community}/sign-in", Anyone, post(auth::sign_in)),
        route(Post, "/c/{community}/sign-out", Member, post(auth::sign_out)),
        route(Get, "/c/{community}/admin", Admin, get(admin::page)),
        route(Post, "/c/{community}/admin/abilities", Admin, post(admin::abilities)),
        route(Post, "/c/{community}/admin/settings", Admin, post(admin::settings)),
        route(Get, "/c/{community}/settings/notifications", Member, get(preferences::page)),
        route(Post, "/c/{community}/settings/notifications", Member, post(preferences::save)),
        route(Get, "/c/{community}/settings/unsubscribe/{token}", Token, get(unsubscribe::confirm)),
        route(Post, "/c/{community}/settings/unsubscribe/{token}", Token, post(unsubscribe::unsubscribe)),
        route(Get, "/c/{community}/notifications", Member, get(notifications::page)),
        route(Post, "/c/{community}/notifications/read", Member, post(notifications::mark_read)),
        route(Get, "/c/{community}/events", Member, get(live::events)),
        route(Get, "/c/{community}/live/header", Member, get(live::header)),
    ]
}

/// The whole router.
pub fn app(portal: Arc<Portal>) -> Result<Router, String> {
    let mut by_path: BTreeMap<&str, MethodRouter<Arc<Portal>>> = BTreeMap::new();
    for route in host_routes() {
        let existing = by_path.remove(route.path).unwrap_or_default();
        by_path.insert(route.path, existing.merge(route.handler));
    }
    let host = by_path.into_iter().fold(Router::new(), |router, (path, handler)| router.route(path, handler));
    let plugins = plugin_routes::router(&portal)?;
    let max_body = portal.config.web.max_body_kib.saturating_mul(1024);
    Ok(host
        .merge(plugins)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(portal))
}

/// The policy every response carries: no inline script or style, nothing from other
/// origins, no framing, forms only to this portal.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Adds the security headers to every response; pages (not static files) are not cached.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Any other address: inside a community (`/c/{slug}/...`), that community's "not found"
/// page in the layout, with its header, navigation and the visitor's menu; elsewhere the
/// portal's plain one.
async fn not_found(
    axum::extract::State(portal): axum::extract::State<Arc<Portal>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    match community_of(uri.path()) {
        Some(slug) => in_community(portal, slug, headers, |_, req| req.error(AppError::not_found())).await,
        None => error::bare_page(StatusCode::NOT_FOUND, "There is nothing here."),
    }
}

/// The community slug of a path under `/c/{slug}`.
fn community_of(path: &str) -> Option<String> {
    let slug = path.strip_prefix("/c/")?.split('/').next()?;
    (!slug.is_empty()).then(|| slug.to_owned())
}

async fn stylesheet() -> Response {
    static_file("text/css; charset=utf-8", include_str!("static/portal.css"))
}

async fn script() -> Response {
    static_file("text/javascript; charset=utf-8", include_str!("static/portal.js"))
}

async fn favicon() -> Response {
    static_file("image/svg+xml", include_str!("static/favicon.svg"))
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// Runs blocking work (database, plugins) on the blocking pool.
pub async fn blocking(
    portal: Arc<Portal>,
    work: impl FnOnce(&Portal) -> Response + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(move || work(&portal)).await {
        Ok(response) => response,
        Err(err) => {
            tracing::error!(error = %err, "request task failed");
            error::bare_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.")
        }
    }
}

/// Runs a community page's handler on the blocking pool with its [`Req`] (the community
/// and the visitor); an unknown community gets its error page without the handler.
pub async fn in_community(
    portal: Arc<Portal>,
    slug: String,
    headers: HeaderMap,
    page: impl FnOnce(&Portal, &Req<'_>) -> Response + Send + 'static,
) -> Response {
    blocking(portal, move |portal| match Req::new(portal, &slug, &headers) {
        Ok(req) => page(portal, &req),
        Err(response) => response,
    })
    .await
}

/// A page (or form POST) of a community: runs `page` for the community and the visitor
/// and shows its error, if it fails, inside the layout. Every handler that can fail is
/// written as one `page` returning `Result`; a form reads its fields with [`Req::form`].
pub async fn community_page(
    portal: Arc<Portal>,
    slug: String,
    headers: HeaderMap,
    page: impl FnOnce(&Portal, &Req<'_>) -> Result<Response, AppError> + Send + 'static,
) -> Response {
    in_community(portal, slug, headers, move |portal, req| req.respond(page(portal, req))).await
}

/// One request to a community's pages: the portal, the community and the visitor.
pub struct Req<'p> {
    /// The portal.
    pub portal: &'p Portal,
    /// The community.
    pub community: Community,
    /// Who is asking.
    pub visitor: Visitor,
}

impl<'p> Req<'p> {
    /// Finds the community and reads the visitor; a response for an unknown community.
    #[allow(clippy::result_large_err, reason = "the error is the response itself, built once per request")]
    pub fn new(portal: &'p Portal, slug: &str, headers: &HeaderMap) -> Result<Req<'p>, Response> {
        let found =
            portal.db.get().map_err(AppError::from).and_then(|conn| Ok(communities::by_slug(&conn, slug)?));
        let community = match found {
            Ok(Some(c)) => c,
            Ok(None) => return Err(error::bare_page(StatusCode::NOT_FOUND, "There is no such community.")),
            Err(e) => return Err(error::bare_page(e.status, &e.message)),
        };
        match Visitor::read(portal, headers, Some(&community)) {
            Ok(visitor) => Ok(Req { portal, community, visitor }),
            Err(e) => {
                let e = AppError::from(e);
                Err(error::bare_page(e.status, &e.message))
            }
        }
    }

    /// The community's base path, `/c/{slug}`.
    pub fn base(&self) -> String {
        format!("/c/{}", self.community.slug)
    }

    /// Renders host template `template` with `data` inside the layout.
    pub fn render<T: Serialize>(
        &self,
        status: StatusCode,
        template: &str,
        title: &str,
        data: &T,
        slots: &Slots,
    ) -> Response {
        match self.portal.templates.render(template, data) {
            Ok(content) => self.in_layout(status, title, &content, slots),
            Err(e) => self.error(AppError::from(e)),
        }
    }

    /// What the layout shows around a page of this request.
    pub fn layout<'a>(&'a self, title: &'a str, slots: &'a Slots) -> Layout<'a> {
        let notifications = match (&self.visitor.member, self.portal.db.get()) {
            (Some(member), Ok(conn)) => {
                crate::db::notifications::unread_count(&conn, member.user.id).unwrap_or(0)
            }
            _ => 0,
        };
        let document_title = if title == self.community.name {
            title.to_owned()
        } else {
            format!("{title} · {}", self.community.name)
        };
        Layout {
            title,
            document_title,
            community: Some(&self.community),
            viewer: self.visitor.member.as_ref().map(|m| ViewerView::of(m, notifications)),
            slots,
            flash: self.visitor.flash.as_ref(),
            csrf: &self.visitor.csrf,
        }
    }

    /// Wraps already-rendered `content` in the layout.
    pub fn in_layout(&self, status: StatusCode, title: &str, content: &str, slots: &Slots) -> Response {
        let layout = self.layout(title, slots);
        match self.portal.templates.page(&layout, content) {
            Ok(html) => self.with_cookies((status, Html(html)).into_response()),
            Err(e) => {
                let e = AppError::internal(e);
                error::bare_page(e.status, &e.message)
            }
        }
    }

    /// An error page inside the layout, with the plugins' header and footer entries (a
    /// plugin that fails leaves its entries out, as on any page).
    pub fn error(&self, err: AppError) -> Response {
        let slots = self.portal.slots(&self.community, self.visitor.member.as_ref(), &SlotPage::default());
        self.error_page(err, &slots)
    }

    /// The error page of a call in which `plugin` failed: the other plugins' entries, and
    /// `plugin` not asked again (see [`Portal::slots_without`]).
    pub fn error_without(&self, plugin: &crate::portal::PluginEntry, err: AppError) -> Response {
        let member = self.visitor.member.as_ref();
        let slots = self.portal.slots_without(&self.community, member, &SlotPage::default(), plugin);
        self.error_page(err, &slots)
    }

    fn error_page(&self, err: AppError, slots: &Slots) -> Response {
        #[derive(Serialize)]
        struct Data<'a> {
            status: u16,
            title: &'a str,
            message: &'a str,
            base: String,
            community: &'a str,
            signed_in: bool,
        }
        let title = match err.status {
            StatusCode::NOT_FOUND => "Page not found",
            StatusCode::FORBIDDEN => "You cannot open this page",
            StatusCode::TOO_MANY_REQUESTS => "Slow down a little",
            StatusCode::BAD_REQUEST => "This request is not complete",
            StatusCode::CONFLICT => "This was already done",
            s if s.is_server_error() => "Something went wrong",
            s => s.canonical_reason().unwrap_or("Error"),
        };
        let data = Data {
            status: err.status.as_u16(),
            title,
            message: &err.message,
            base: self.base(),
            community: &self.community.name,
            signed_in: self.visitor.member.is_some(),
        };
        match self.portal.templates.render("error", &data) {
            Ok(content) => self.in_layout(err.status, title, &content, slots),
            Err(_) => error::bare_page(err.status, &err.message),
        }
    }

    /// Renders the result of a handler: the page, or its error inside the layout.
    pub fn respond(&self, result: Result<Response, AppError>) -> Response {
        result.unwrap_or_else(|e| self.error(e))
    }

    /// A 303 redirect to `to` (a path inside the community), with a flash message.
    pub fn redirect(&self, to: &str, flash: Option<&Flash>) -> Response {
        let target = if is_local_path(to) { format!("{}{}", self.base(), to) } else { self.base() };
        let mut response = Redirect::to(&target).into_response();
        if let Some(flash) = flash {
            self.add_cookie(
                &mut response,
                &session::set_cookie(self.portal, session::FLASH_COOKIE, &session::encode_flash(flash), 60),
            );
        }
        self.with_cookies(response)
    }

    /// Sends the visitor to the sign-in page, to come back to `next` afterwards.
    pub fn to_sign_in(&self, next: &str) -> Response {
        let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
        self.with_cookies(Redirect::to(&format!("{}/sign-in?{query}", self.base())).into_response())
    }

    fn with_cookies(&self, mut response: Response) -> Response {
        for cookie in &self.visitor.set_cookies {
            self.add_cookie(&mut response, cookie);
        }
        response
    }

    fn add_cookie(&self, response: &mut Response, cookie: &str) {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }

    /// The fields of a submitted form (`application/x-www-form-urlencoded`), once its CSRF
    /// token is checked: every form POST of the portal reads its fields this way.
    pub fn form(&self, body: &[u8]) -> Result<Vec<(String, String)>, AppError> {
        let form = pairs(body);
        self.check_csrf(&form)?;
        Ok(form)
    }

    /// Checks the CSRF token of a submitted form.
    pub fn check_csrf(&self, form: &[(String, String)]) -> Result<(), AppError> {
        if self.visitor.csrf_ok(form) {
            Ok(())
        } else {
            Err(AppError::forbidden("This form has expired. Go back, reload the page and submit it again."))
        }
    }
}

/// Whether `to` is a path inside the community (no scheme, no other host, and no `.` or
/// `..` segment, raw or percent-encoded however many times, that a browser would use to
/// leave the community's path).
pub fn is_local_path(to: &str) -> bool {
    let path = to.split(['?', '#']).next().unwrap_or_default();
    to.starts_with('/')
        && !to.starts_with("//")
        && !to.contains('\\')
        && !to.contains("://")
        && !to.chars().any(char::is_control)
        && path.split('/').all(segment_stays)
}

/// A path segment that, decoded as a browser may decode it, is neither `.` nor `..` and
/// hides no `/` or `\\`.
fn segment_stays(segment: &str) -> bool {
    let mut text = segment.to_owned();
    for _ in 0..4 {
        let lower = text.to_ascii_lowercase();
        if matches!(lower.as_str(), "." | "..") || lower.contains('/') || lower.contains('\\') {
            return false;
        }
        let decoded = percent_decode(&text);
        if decoded == text {
            return true;
        }
        text = decoded;
    }
    false
}

/// `%XX` sequences decoded to bytes (invalid UTF-8 replaced).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes an `application/x-www-form-urlencoded` body or query into pairs, in order,
/// without NUL characters (no text a person types holds one, and PostgreSQL cannot store
/// one in text: dropped here, every engine stores the same).
pub fn pairs(bytes: &[u8]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).unwrap_or_default();
    for (key, value) in &mut pairs {
        if key.contains('\0') {
            key.retain(|c| c != '\0');
        }
        if value.contains('\0') {
            value.retain(|c| c != '\0');
        }
    }
    pairs
}

/// The first value named `name`.
pub fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::{community_of, is_local_path};

    #[test]
    fn unknown_addresses_inside_a_community_name_it() {
        assert_eq!(community_of("/c/riverside/no-such-page").as_deref(), Some("riverside"));
        assert_eq!(community_of("/c/riverside/").as_deref(), Some("riverside"));
        assert_eq!(community_of("/c/"), None);
        assert_eq!(community_of("/nothing"), None);
        assert_eq!(community_of("/static/x.css"), None);
    }

    #[test]
    fn only_local_paths_are_redirect_targets() {
        assert!(is_local_path("/conversations/7?x=1"));
        assert!(is_local_path("/conversations/new?to=a%2Fb&x=..#latest"));
        assert!(is_local_path("/notes/..x/%2e%2ex"));
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "evil",
            "/a\nb",
            "",
            "/../hilltop/members",
            "/x/..",
            "/%2e%2e/hilltop",
            "/%2E./hilltop",
            "/.%2e/hilltop",
            "/%252e%252e/hilltop",
            "/%25252E%25252E/hilltop",
            "/a/%2f%2fevil.example",
            "/a%5c..%5c",
            "/./x",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }
}
