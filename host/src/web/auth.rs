//! Sign-in and sign-out. A new session id at every sign-in; sign-out deletes the session
//! on the server.

use super::error::AppError;
use super::session::{self, SESSION_COOKIE};
use super::{Req, community_page, in_community, is_local_path, pairs, value};
use crate::db;
use crate::portal::{Portal, Slots};
use axum::Extension;
use axum::extract::{ConnectInfo, Path, RawForm, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How long a session lasts.
const SESSION_DAYS: i64 = 14;

#[derive(Serialize)]
struct Form<'a> {
    base: String,
    csrf: &'a str,
    email: &'a str,
    next: &'a str,
    error: Option<&'a str>,
}

fn form_page(req: &Req<'_>, status: StatusCode, email: &str, next: &str, error: Option<&str>) -> Response {
    let data = Form { base: req.base(), csrf: &req.visitor.csrf, email, next, error };
    req.render(status, "sign_in", "Sign in", &data, &Slots::default())
}

/// The `next` target if it is a page of this community, else the community's home.
fn next_target(req: &Req<'_>, next: Option<&str>) -> String {
    let base = req.base();
    next.filter(|n| is_local_path(n) && (n == &base || n.starts_with(&format!("{base}/"))))
        .map_or(base, str::to_owned)
}

/// `GET /c/{community}/sign-in`.
pub async fn sign_in_form(
    State(portal): State<Arc<Portal>>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    in_community(portal, slug, headers, move |_, req| {
        let query = pairs(query.unwrap_or_default().as_bytes());
        let next = next_target(req, value(&query, "next"));
        form_page(req, StatusCode::OK, "", &next, None)
    })
    .await
}

/// `POST /c/{community}/sign-in`. Wrong passwords per account and attempts per client
/// address are limited (`[web.sign_in]`); past the limit the answer is 429 with
/// `Retry-After`, before the password is even checked.
pub async fn sign_in(
    State(portal): State<Arc<Portal>>,
    Path(slug): Path<String>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let peer = client.map(|Extension(ConnectInfo(addr))| addr.ip());
    let address = client_address(peer, &headers, &portal.config.web.trusted_proxies);
    community_page(portal, slug, headers, move |portal, req| {
        let form = req.form(&body)?;
        let email = value(&form, "email").unwrap_or_default().trim();
        let password = value(&form, "password").unwrap_or_default();
        let next = next_target(req, value(&form, "next"));
        let limits = &portal.config.web.sign_in;
        let window = Duration::from_secs(limits.window_seconds);
        let account_key = format!("sign-in:{}:{}", req.community.id, email.to_lowercase());
        let address_key = address.map(|ip| format!("sign-in-from:{ip}"));
        let allowed = portal.limits.check(&account_key, limits.failures_per_account).and_then(|()| {
            address_key
                .as_ref()
                .map_or(Ok(()), |key| portal.limits.take(key, limits.attempts_per_address, window))
        });
        if let Err(limited) = allowed {
            tracing::warn!(community = %req.community.slug, ?address, "sign-in rate limited");
            return Ok(super::plugin_routes::too_many_requests(
                req,
                limited,
                "Too many sign-in attempts. Please wait before trying again.",
            ));
        }
        let conn = portal.db.get()?;
        let found = db::users::by_email_with_hash(&conn, req.community.id, email)?;
        let user = match found {
            Some((user, hash)) if crate::auth::verify_password(password, &hash) => {
                portal.limits.clear(&account_key);
                user
            }
            _ => {
                portal.limits.record(&account_key, window);
                return Ok(form_page(
                    req,
                    StatusCode::UNAUTHORIZED,
                    email,
                    &next,
                    Some("That email and password do not match an account of this community."),
                ));
            }
        };
        // A fresh session id at every sign-in; the old session, if any, ends.
        let id = crate::auth::random_token().map_err(AppError::internal)?;
        let now = portal.clock.now();
        let expires = plugin_api::Timestamp(now.0 + SESSION_DAYS * 86_400_000);
        let txn = portal.db.write()?;
        if let Some(old) = &req.visitor.session_id {
            db::sessions::delete(&txn, old)?;
        }
        db::sessions::create(&txn, &id, user.id, now, expires)?;
        txn.commit()?;
        tracing::info!(user = %user.id, community = %req.community.slug, "signed in");
        let mut response = Redirect::to(&next).into_response();
        let cookie = session::set_cookie(portal, SESSION_COOKIE, &id, SESSION_DAYS * 86_400);
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
        Ok(response)
    })
    .await
}

/// `POST /c/{community}/sign-out`.
pub async fn sign_out(
    State(portal): State<Arc<Portal>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    community_page(portal, slug, headers, move |portal, req| {
        req.form(&body)?;
        if let Some(id) = &req.visitor.session_id {
            let txn = portal.db.write()?;
            db::sessions::delete(&txn, id)?;
            txn.commit()?;
        }
        let flash =
            plugin_api::Flash { kind: plugin_api::FlashKind::Info, message: "You are signed out.".into() };
        let mut response = req.redirect("", Some(&flash));
        if let Ok(value) = HeaderValue::from_str(&session::set_cookie(portal, SESSION_COOKIE, "", 0)) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
        Ok(response)
    })
    .await
}

/// The client's address: the connection's, or, when that is one of the `trusted` proxies,
/// the last address in `X-Forwarded-For` that is not itself a trusted proxy (the one the
/// nearest proxy appended; a client may write anything before it). A value that is not an
/// address counts as the proxy's own, which only makes the limit stricter.
pub fn client_address(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return Some(ip),
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().expect("header value"));
        }
        headers
    }

    #[test]
    fn the_client_address_comes_from_a_trusted_proxy_only() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let other_proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let trusted = [proxy, other_proxy];
        // No proxy trusted: the connection's address, whatever the header says.
        assert_eq!(client_address(Some(proxy), &forwarded(&["203.0.113.9"]), &[]), Some(proxy));
        // From a trusted proxy: the address it appended.
        assert_eq!(client_address(Some(proxy), &forwarded(&["203.0.113.9"]), &trusted), Some(client));
        // A client's forged entries come before the proxy's; proxies behind proxies skip.
        let chain = forwarded(&["1.2.3.4, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(client_address(Some(proxy), &chain, &trusted), Some(client));
        // Not from a trusted proxy: the header is not read.
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(client_address(Some(stranger), &forwarded(&["203.0.113.9"]), &trusted), Some(stranger));
        // Nothing usable: the proxy's own address.
        assert_eq!(client_address(Some(proxy), &forwarded(&["unknown"]), &trusted), Some(proxy));
        assert_eq!(client_address(Some(proxy), &HeaderMap::new(), &trusted), Some(proxy));
        assert_eq!(client_address(None, &HeaderMap::new(), &trusted), None);
    }
}
