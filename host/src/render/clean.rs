//! The HTML sanitizer for what plugin templates render: an allow-list of elements and
//! attributes (ammonia), links relative or http(s), forms, images and scripted fetches to
//! this portal only, and the CSRF token only ever inside the one hidden form field.

use super::csrf::{CSRF_PLACEHOLDER, csrf_field};
use ammonia::{Builder, Url, UrlRelative};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// Elements a plugin page may contain.
const TAGS: &[&str] = &[
    "a",
    "abbr",
    "article",
    "aside",
    "b",
    "blockquote",
    "br",
    "button",
    "caption",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "i",
    "img",
    "input",
    "ins",
    "kbd",
    "label",
    "legend",
    "li",
    "main",
    "mark",
    "meter",
    "nav",
    "ol",
    "optgroup",
    "option",
    "output",
    "p",
    "pre",
    "progress",
    "q",
    "s",
    "samp",
    "section",
    "select",
    "small",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "u",
    "ul",
    "var",
    "wbr",
];

/// Elements removed together with what they contain.
const DROPPED_WITH_CONTENT: &[&str] = &[
    "script",
    "style",
    "template",
    "title",
    "noscript",
    "iframe",
    "noembed",
    "noframes",
    "xmp",
    "plaintext",
    "object",
    "embed",
    "math",
    "svg",
];

/// Attributes any allowed element may have (plus `aria-*` and `data-*`).
const GENERIC: &[&str] = &["class", "id", "role", "title", "dir", "lang", "hidden", "tabindex"];

/// Attributes of particular elements.
const BY_TAG: &[(&str, &[&str])] = &[
    ("a", &["href", "rel", "target", "hreflang"]),
    ("form", &["action", "method", "autocomplete", "novalidate"]),
    (
        "input",
        &[
            "type",
            "name",
            "value",
            "placeholder",
            "maxlength",
            "minlength",
            "required",
            "autocomplete",
            "checked",
            "disabled",
            "readonly",
            "min",
            "max",
            "step",
            "pattern",
            "size",
            "formaction",
            "formmethod",
            "formnovalidate",
            "inputmode",
            "spellcheck",
        ],
    ),
    ("button", &["type", "name", "value", "disabled", "formaction", "formmethod", "formnovalidate"]),
    (
        "textarea",
        &[
            "name",
            "rows",
            "cols",
            "placeholder",
            "maxlength",
            "minlength",
            "required",
            "readonly",
            "disabled",
            "autocomplete",
            "wrap",
            "spellcheck",
        ],
    ),
    ("select", &["name", "multiple", "required", "disabled", "autocomplete", "size"]),
    ("option", &["value", "selected", "disabled", "label"]),
    ("optgroup", &["label", "disabled"]),
    ("label", &["for"]),
    ("output", &["for", "name"]),
    ("time", &["datetime"]),
    ("del", &["datetime"]),
    ("ins", &["datetime"]),
    ("img", &["src", "alt", "width", "height"]),
    ("td", &["colspan", "rowspan", "headers"]),
    ("th", &["colspan", "rowspan", "headers", "scope", "abbr"]),
    ("col", &["span"]),
    ("colgroup", &["span"]),
    ("ol", &["start", "reversed", "type"]),
    ("li", &["value"]),
    ("details", &["open"]),
    ("meter", &["value", "min", "max", "low", "high", "optimum"]),
    ("progress", &["value", "max"]),
];

/// `data-*` attributes the host's script reads from its own layout only.
const HOST_DATA: &[&str] = &["data-live-events", "data-live-header", "data-live-part"];

/// The two sanitizers: plugin page fragments, and the HTML part of plugin emails (which may
/// also carry inline `style`, filtered, since mail clients read no style sheet).
pub struct Cleaner {
    page: Builder<'static>,
    email: Builder<'static>,
}

impl Cleaner {
    /// The sanitizers, configured.
    pub fn new() -> Cleaner {
        Cleaner { page: builder(false), email: builder(true) }
    }

    /// Cleans a rendered plugin page fragment, then puts `csrf` (the visitor's token) into
    /// the exact hidden field `{{csrf_field}}` (or the same markup) writes, and nowhere else.
    pub fn page(&self, html: &str, csrf: &str) -> String {
        let cleaned = escape_quotes_in_text(&self.page.clean(html).to_string());
        let field = csrf_field(CSRF_PLACEHOLDER);
        if cleaned.contains(&field) {
            cleaned.replace(&field, &csrf_field(&handlebars::html_escape(csrf)))
        } else {
            cleaned
        }
    }

    /// Cleans the rendered HTML part of a plugin email.
    pub fn email(&self, html: &str) -> String {
        escape_quotes_in_text(&self.email.clean(html).to_string())
    }
}

impl Default for Cleaner {
    fn default() -> Cleaner {
        Cleaner::new()
    }
}

/// Escapes `"` in text, as handlebars did and the HTML serializer does not: a quote from
/// data then reads `&quot;` as before, which checks that look for attribute-like text
/// (`href="javascript:`) in a page rely on. (`'`, `` ` `` and `=`, which handlebars also
/// escapes, stay as the serializer writes them, so the template's own text is unchanged.)
/// The serializer's output is regular: text never holds a raw `<`, and every attribute
/// value is in double quotes with `"` escaped, so three states follow it exactly.
fn escape_quotes_in_text(html: &str) -> String {
    enum At {
        Text,
        Tag,
        Value,
    }
    let mut out = String::with_capacity(html.len() + html.len() / 32);
    let mut at = At::Text;
    for c in html.chars() {
        match (&at, c) {
            (At::Text, '<') => at = At::Tag,
            (At::Text, '"') => {
                out.push_str("&quot;");
                continue;
            }
            (At::Tag, '"') => at = At::Value,
            (At::Tag, '>') => at = At::Text,
            (At::Value, '"') => at = At::Tag,
            _ => {}
        }
        out.push(c);
    }
    out
}

fn builder(email: bool) -> Builder<'static> {
    let mut b = Builder::empty();
    let mut generic: HashSet<&'static str> = GENERIC.iter().copied().collect();
    if email {
        generic.insert("style");
    }
    let by_tag: HashMap<&'static str, HashSet<&'static str>> =
        BY_TAG.iter().map(|(tag, attrs)| (*tag, attrs.iter().copied().collect())).collect();
    b.tags(TAGS.iter().copied().collect())
        .clean_content_tags(DROPPED_WITH_CONTENT.iter().copied().collect())
        .generic_attributes(generic)
        .generic_attribute_prefixes(["aria-", "data-"].into_iter().collect())
        .tag_attributes(by_tag)
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .url_relative(UrlRelative::PassThrough)
        .link_rel(None)
        .strip_comments(true)
        .attribute_filter(move |element, attribute, value| filter(email, element, attribute, value));
    b
}

/// The checks that need the attribute's value.
fn filter<'a>(email: bool, element: &str, attribute: &str, value: &'a str) -> Option<Cow<'a, str>> {
    let keep = match (element, attribute) {
        // Forms post, images load and the search script fetches only from this portal.
        ("form", "action") | (_, "formaction") | ("img", "src") | (_, "data-search-url") => {
            same_origin(value)
        }
        (_, "target") => matches!(value, "_blank" | "_self"),
        (_, "style") => email && safe_style(value),
        (_, name) => !HOST_DATA.contains(&name),
    };
    keep.then_some(Cow::Borrowed(value))
}

/// Whether `url`, resolved against a page of this portal, stays on this portal.
fn same_origin(url: &str) -> bool {
    let Ok(base) = Url::parse("https://portal.invalid/c/community/") else { return false };
    base.join(url)
        .is_ok_and(|u| u.scheme() == "https" && u.host_str() == Some("portal.invalid") && u.port().is_none())
}

/// Inline style (emails only) without anything that loads or escapes: no `url(`, no
/// `image-set(`, no `expression(`, no `@import`, no backslash escapes, no comments.
fn safe_style(style: &str) -> bool {
    let lower = style.to_ascii_lowercase();
    let allowed = |c: char| c.is_ascii_alphanumeric() || " #%.,:;()'\"!-_".contains(c);
    lower.chars().all(allowed) && !["url(", "image", "expression", "src("].iter().any(|n| lower.contains(n))
}
