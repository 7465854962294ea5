//! Who is asking: cookies, the signed-in member of the community, the CSRF token
//! (double-submit: a cookie and a form field that must match) and one-time flash messages.

use crate::auth;
use crate::db::{self, communities::Community};
use crate::portal::{Member, Portal};
use axum::http::HeaderMap;
use plugin_api::{Flash, FlashKind};

/// Cookie names.
pub const SESSION_COOKIE: &str = "portal_session";
/// The CSRF cookie.
pub const CSRF_COOKIE: &str = "portal_csrf";
/// The flash cookie.
pub const FLASH_COOKIE: &str = "portal_flash";

/// The value of cookie `name`.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value with the portal's attributes (HttpOnly, SameSite=Lax, Path=/,
/// Secure when the portal is served over https). `max_age` 0 deletes the cookie.
pub fn set_cookie(portal: &Portal, name: &str, value: &str, max_age_s: i64) -> String {
    let secure = if portal.config.public_url.starts_with("https://") { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}")
}

/// The person behind a request to one community's pages.
pub struct Visitor {
    /// The signed-in member of this community, if any.
    pub member: Option<Member>,
    /// The session id, if any.
    pub session_id: Option<String>,
    /// The CSRF token forms must carry.
    pub csrf: String,
    /// Cookies to set on the response (a new CSRF token, a consumed flash).
    pub set_cookies: Vec<String>,
    /// A one-time message from the previous request.
    pub flash: Option<Flash>,
}

impl Visitor {
    /// Reads the visitor from the request's cookies. A session of another community's
    /// member counts as signed out here.
    pub fn read(
        portal: &Portal,
        headers: &HeaderMap,
        community: Option<&Community>,
    ) -> db::DbResult<Visitor> {
        let mut set_cookies = Vec::new();
        let csrf = match cookie(headers, CSRF_COOKIE)
            .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            Some(token) => token.to_owned(),
            None => {
                let token = auth::random_token().map_err(|e| db::DbError::Invalid(e.to_string()))?;
                set_cookies.push(set_cookie(portal, CSRF_COOKIE, &token, 60 * 60 * 24 * 30));
                token
            }
        };
        let flash = cookie(headers, FLASH_COOKIE).and_then(decode_flash);
        if flash.is_some() {
            set_cookies.push(set_cookie(portal, FLASH_COOKIE, "", 0));
        }
        let session_id = cookie(headers, SESSION_COOKIE).map(str::to_owned);
        let mut member = None;
        if let (Some(id), Some(community)) = (&session_id, community) {
            let conn = portal.db.get()?;
            if let Some(user_id) = db::sessions::user_of(&conn, id, portal.clock.now())?
                && let Some(user) = db::users::by_id(&conn, community.id, user_id)?
            {
                member = Some(portal.member(&conn, user)?);
            }
        }
        Ok(Visitor { member, session_id, csrf, set_cookies, flash })
    }

    /// Whether a submitted form carries this visitor's CSRF token.
    pub fn csrf_ok(&self, form: &[(String, String)]) -> bool {
        form.iter().any(|(k, v)| k == "csrf" && auth::tokens_equal(v, &self.csrf))
    }
}

/// A flash cookie's value.
pub fn encode_flash(flash: &Flash) -> String {
    let kind = match flash.kind {
        FlashKind::Success => "s",
        FlashKind::Info => "i",
        FlashKind::Error => "e",
    };
    let message: String = serde_urlencoded::to_string([("m", flash.message.as_str())]).unwrap_or_default();
    format!("{kind}.{}", message.trim_start_matches("m="))
}

fn decode_flash(value: &str) -> Option<Flash> {
    let (kind, message) = value.split_once('.')?;
    let kind = match kind {
        "s" => FlashKind::Success,
        "i" => FlashKind::Info,
        "e" => FlashKind::Error,
        _ => return None,
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("m={message}")).ok()?;
    let message = pairs.into_iter().next()?.1;
    let message: String = message.chars().take(300).collect();
    Some(Flash { kind, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_round_trips_through_a_cookie_value() {
        let flash = Flash { kind: FlashKind::Success, message: "Saved; <b>all</b> = 100% ✓".into() };
        let value = encode_flash(&flash);
        assert!(value.bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b','), "{value}");
        assert_eq!(decode_flash(&value), Some(flash));
    }
}
