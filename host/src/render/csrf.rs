//! The CSRF token in plugin pages: templates only ever see a placeholder, and the host puts
//! the visitor's token into the one exact hidden field `{{csrf_field}}` writes, after the
//! page was cleaned (so no plugin can place the token in an attribute of its choice).

/// The hidden value the host's data gives `portal.csrf` in plugin templates, replaced with
/// the real token only inside the exact hidden field (see `clean`).
pub const CSRF_PLACEHOLDER: &str = "portal-csrf-token";

/// The hidden CSRF field, as the sanitizer writes it, with `value` (already escaped).
pub fn csrf_field(value: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{value}\">")
}
