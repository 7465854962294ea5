//! The one place that renders pages: host and plugin templates (handlebars, HTML-escaped),
//! wrapped in the portal layout. Plugin templates are checked when the plugin loads: no
//! raw output (`{{{`, `{{&`), no scripts, no inline event handlers, no `javascript:`.

use crate::db::communities::Community;
use crate::portal::{Member, Slots};
use handlebars::Handlebars;
use plugin_api::{Flash, Template, TemplateData};
use serde::Serialize;
use serde_json::{Value, json};

/// The host's templates, by name.
const HOST_TEMPLATES: &[(&str, &str)] = &[
    ("layout", include_str!("templates/layout.hbs")),
    ("index", include_str!("templates/index.hbs")),
    ("home", include_str!("templates/home.hbs")),
    ("members", include_str!("templates/members.hbs")),
    ("profile", include_str!("templates/profile.hbs")),
    ("group", include_str!("templates/group.hbs")),
    ("sign_in", include_str!("templates/sign_in.hbs")),
    ("admin", include_str!("templates/admin.hbs")),
    ("preferences", include_str!("templates/preferences.hbs")),
    ("notifications", include_str!("templates/notifications.hbs")),
    ("error", include_str!("templates/error.hbs")),
    ("slot_actions", include_str!("templates/slot_actions.hbs")),
    ("header_account", include_str!("templates/header_account.hbs")),
];

/// Host and plugin templates. Plugin templates named `*.txt` are the plain-text parts of
/// emails: they live in a second registry that does not HTML-escape.
pub struct Templates {
    registry: Handlebars<'static>,
    text: Handlebars<'static>,
}

/// A rendered email: subject, plain-text and HTML parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// What the layout shows around a page.
#[derive(Serialize)]
pub struct Layout<'a> {
    /// The page title.
    pub title: &'a str,
    /// The community, on community pages.
    pub community: Option<&'a Community>,
    /// The signed-in member.
    pub viewer: Option<ViewerView>,
    /// Plugin contributions.
    pub slots: &'a Slots,
    /// A one-time message.
    pub flash: Option<&'a Flash>,
    /// The CSRF token for forms.
    pub csrf: &'a str,
}

/// The signed-in member as templates see them.
#[derive(Serialize)]
pub struct ViewerView {
    /// Display name.
    pub name: String,
    /// Handle.
    pub nickname: String,
    /// Avatar initials.
    pub initials: String,
    /// Community admin.
    pub is_admin: bool,
    /// Unread in-app notifications (the bell).
    pub notifications: u32,
}

impl ViewerView {
    /// The view of `member`, who has `notifications` unread notifications.
    pub fn of(member: &Member, notifications: u32) -> ViewerView {
        ViewerView {
            name: member.user.name.clone(),
            nickname: member.user.nickname.clone(),
            initials: member.user.initials(),
            is_admin: member.is_admin(),
            notifications,
        }
    }
}

/// Why a plugin template is refused.
pub fn check_plugin_template(source: &str) -> Result<(), String> {
    let lower = source.to_ascii_lowercase();
    let forbidden = [
        ("{{{", "raw output `{{{...}}}`"),
        ("{{&", "raw output `{{&...}}`"),
        ("<script", "a <script> element"),
        ("javascript:", "a javascript: URL"),
        ("<iframe", "an <iframe>"),
        ("<object", "an <object>"),
        ("<embed", "an <embed>"),
        ("srcdoc", "a srcdoc attribute"),
    ];
    for (needle, what) in forbidden {
        if lower.contains(needle) {
            return Err(format!("uses {what}; plugin templates may only output escaped data"));
        }
    }
    let bytes = lower.as_bytes();
    for (i, _) in lower.match_indices("on") {
        let before = if i == 0 { b' ' } else { bytes[i - 1] };
        let rest = &lower[i + 2..];
        let name_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let after = rest[name_len..].trim_start();
        if before.is_ascii_whitespace()
            && name_len > 0
            && after.starts_with('=')
            && lower[..i].rfind('<') > lower[..i].rfind('>')
        {
            return Err(format!("uses an inline event handler `on{}`", &rest[..name_len]));
        }
    }
    Ok(())
}

fn plugin_name(plugin: &str, template: &str) -> String {
    format!("plugin/{plugin}/{template}")
}

impl Templates {
    /// Registers the host's templates.
    pub fn new() -> Result<Templates, String> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(false);
        for (name, source) in HOST_TEMPLATES {
            registry
                .register_template_string(name, *source)
                .map_err(|e| format!("host template {name}: {e}"))?;
        }
        registry
            .register_template_string("email_html", include_str!("templates/email_html.hbs"))
            .map_err(|e| format!("host template email_html: {e}"))?;
        let mut text = Handlebars::new();
        text.register_escape_fn(handlebars::no_escape);
        text.register_template_string("email_text", include_str!("templates/email_text.hbs"))
            .map_err(|e| format!("host template email_text: {e}"))?;
        Ok(Templates { registry, text })
    }

    /// Checks and registers one of a plugin's templates.
    pub fn register_plugin(&mut self, plugin: &str, template: &Template) -> Result<(), String> {
        if template.name.ends_with(".txt") {
            return self
                .text
                .register_template_string(&plugin_name(plugin, &template.name), &template.source)
                .map_err(|e| format!("plugin `{plugin}`: template `{}` does not parse: {e}", template.name));
        }
        check_plugin_template(&template.source)
            .map_err(|m| format!("plugin `{plugin}`: template `{}` {m}", template.name))?;
        self.registry
            .register_template_string(&plugin_name(plugin, &template.name), &template.source)
            .map_err(|e| format!("plugin `{plugin}`: template `{}` does not parse: {e}", template.name))
    }

    /// Renders a host template.
    pub fn render<T: Serialize>(&self, name: &str, data: &T) -> Result<String, handlebars::RenderError> {
        self.registry.render(name, data)
    }

    /// Renders a plugin's template with its data plus `portal`, which the host sets:
    /// `portal.base` (`/c/{slug}`), `portal.csrf` (the token every form must carry as a
    /// `csrf` field), `portal.community` and `portal.viewer`.
    pub fn render_plugin(
        &self,
        plugin: &str,
        template: &str,
        data: &TemplateData,
        community: &Community,
        member: &Member,
        csrf: &str,
    ) -> Result<String, handlebars::RenderError> {
        let mut data = match &data.0 {
            Value::Object(map) => Value::Object(map.clone()),
            Value::Null => json!({}),
            other => json!({ "data": other }),
        };
        if let Value::Object(map) = &mut data {
            map.insert(
                "portal".into(),
                json!({
                    "base": format!("/c/{}", community.slug),
                    "csrf": csrf,
                    "community": { "slug": community.slug, "name": community.name },
                    "viewer": { "id": member.user.id, "name": member.user.name },
                }),
            );
        }
        self.registry.render(&plugin_name(plugin, template), &data)
    }

    /// Renders a plugin's email `template` (`{template}.html` and `{template}.txt`) with its
    /// data plus `portal.url` (the community's absolute address) and `portal.community`,
    /// inside the host's email layout with the preferences (unsubscribe) link.
    pub fn render_email(
        &self,
        plugin: &str,
        template: &str,
        data: &TemplateData,
        community: &Community,
        public_url: &str,
    ) -> Result<RenderedEmail, handlebars::RenderError> {
        let url = format!("{}/c/{}", public_url.trim_end_matches('/'), community.slug);
        let preferences_url = format!("{url}/settings/notifications");
        let mut data = match &data.0 {
            Value::Object(map) => Value::Object(map.clone()),
            other => json!({ "data": other }),
        };
        if let Value::Object(map) = &mut data {
            map.insert(
                "portal".into(),
                json!({ "url": url, "community": { "name": community.name, "slug": community.slug } }),
            );
        }
        let html = self.registry.render(&plugin_name(plugin, &format!("{template}.html")), &data)?;
        let text = self.text.render(&plugin_name(plugin, &format!("{template}.txt")), &data)?;
        let wrap = json!({ "community": { "name": community.name }, "url": url, "preferences_url": preferences_url });
        let with = |content: &str| {
            let mut w = wrap.clone();
            if let Value::Object(map) = &mut w {
                map.insert("content".into(), Value::String(content.to_owned()));
            }
            w
        };
        Ok(RenderedEmail {
            html: self.registry.render("email_html", &with(&html))?,
            text: self.text.render("email_text", &with(&text))?,
        })
    }

    /// Renders `content` (already-rendered HTML) inside the layout.
    pub fn page(&self, layout: &Layout<'_>, content: &str) -> Result<String, handlebars::RenderError> {
        #[derive(Serialize)]
        struct Page<'a> {
            #[serde(flatten)]
            layout: &'a Layout<'a>,
            content: &'a str,
        }
        self.registry.render("layout", &Page { layout, content })
    }
}

#[cfg(test)]
mod tests {
    use super::check_plugin_template;

    #[test]
    fn plugin_templates_cannot_emit_markup_or_script() {
        assert!(check_plugin_template("<p class=\"note\">{{body}}</p>").is_ok());
        assert!(check_plugin_template("<button>Only once</button>").is_ok());
        for bad in [
            "{{{body}}}",
            "{{& body}}",
            "<SCRIPT>alert(1)</SCRIPT>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<img src=x onerror=\"alert(1)\">",
            "<div\nonclick = 'x'>",
        ] {
            assert!(check_plugin_template(bad).is_err(), "{bad}");
        }
    }
}
