//! The one place that renders pages: host templates, and plugin templates in a sandbox.
//! The host's layout and templates live in a registry no plugin template can reach; each
//! plugin gets its own registries (HTML, and plain text for emails), whose partials
//! resolve only to its own templates. Plugin templates are checked when the plugin loads
//! (`check`), rendered under output, work and time caps (`limits`), and what they
//! render is cleaned to an allow-list of HTML (`clean`) before the layout prints it.

mod check;
mod clean;
mod csrf;
mod limits;

pub use check::{HELPERS, MAX_BLOCK_TAGS, MAX_DEPTH, MAX_EXPANDED, Rule};
pub use clean::Cleaner;
pub use limits::{Limit, MAX_OUTPUT_BYTES, MAX_TIME, MAX_WORK, RenderFailure};

use crate::db::communities::Community;
use crate::view::{Member, Slots};
use handlebars::Handlebars;
use plugin_api::{Flash, Template, TemplateData};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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
    ("unsubscribe", include_str!("templates/unsubscribe.hbs")),
];

/// Host and plugin templates, each plugin's in its own registries.
pub struct Templates {
    registry: Handlebars<'static>,
    text: Handlebars<'static>,
    plugins: HashMap<String, PluginTemplates>,
    cleaner: Cleaner,
}

/// One plugin's templates: HTML ones, and those named `*.txt` (the plain-text parts of
/// emails) in a registry that does not HTML-escape.
struct PluginTemplates {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
}

/// Why templates could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// One of the host's own templates does not parse.
    #[error("host template {name}: {source}")]
    Host {
        /// The template.
        name: &'static str,
        /// The parse error.
        source: Box<handlebars::TemplateError>,
    },
    /// A plugin template breaks a sandbox rule.
    #[error(
        "plugin `{plugin}`: template `{template}` is refused by the template sandbox: {rule}. Fix: change \
         `{template}` in what Describe returns (output only escaped `{{{{name}}}}`, name partials of the plugin's \
         own in full, use the allowed helpers); `portal plugin check` finds this before the portal starts"
    )]
    Refused {
        /// The plugin.
        plugin: String,
        /// The template.
        template: String,
        /// The rule it breaks.
        rule: Rule,
    },
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
    /// The document's `<title>`: the page title and the community's name, once (a
    /// community's home is titled by its name alone).
    pub document_title: String,
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

impl Templates {
    /// Registers the host's templates.
    pub fn new() -> Result<Templates, TemplateError> {
        let host = |name: &'static str| move |e| TemplateError::Host { name, source: Box::new(e) };
        let mut registry = Handlebars::new();
        registry.set_strict_mode(false);
        for (name, source) in HOST_TEMPLATES {
            registry.register_template_string(name, *source).map_err(host(name))?;
        }
        registry
            .register_template_string("email_html", include_str!("templates/email_html.hbs"))
            .map_err(host("email_html"))?;
        let mut text = Handlebars::new();
        text.register_escape_fn(handlebars::no_escape);
        text.register_template_string("email_text", include_str!("templates/email_text.hbs"))
            .map_err(host("email_text"))?;
        Ok(Templates { registry, text, plugins: HashMap::new(), cleaner: Cleaner::new() })
    }

    /// Checks a plugin's templates together and registers them in the plugin's own
    /// registries, under their plain names (`about`, `digest.html`, `digest.txt`). A
    /// partial (`{{> about}}`) resolves only to another template of the same plugin and
    /// kind (HTML or `.txt`). Every refusal names the plugin, the template and the rule.
    pub fn register_plugin(&mut self, plugin: &str, templates: &[Template]) -> Result<(), TemplateError> {
        let refused = |template: &str, rule: Rule| TemplateError::Refused {
            plugin: plugin.to_owned(),
            template: template.to_owned(),
            rule,
        };
        // [HTML, text]: each kind is checked as a graph and registered on its own.
        let mut parsed: [BTreeMap<String, handlebars::Template>; 2] = Default::default();
        let mut walked: [BTreeMap<String, check::Walked>; 2] = Default::default();
        for template in templates {
            check::check_name(&template.name).map_err(|rule| refused(&template.name, rule))?;
            check::check_text(&template.source).map_err(|rule| refused(&template.name, rule))?;
            let compiled = handlebars::Template::compile_with_name(&template.source, template.name.clone())
                .map_err(|e| refused(&template.name, Rule::Parse(e.to_string())))?;
            let kind = usize::from(template.name.ends_with(".txt"));
            walked[kind].insert(
                template.name.clone(),
                check::walk(&compiled).map_err(|rule| refused(&template.name, rule))?,
            );
            parsed[kind].insert(template.name.clone(), compiled);
        }
        let build = |parsed: BTreeMap<String, handlebars::Template>,
                     walked: &BTreeMap<String, check::Walked>| {
            let expanded = check::check_graph(walked).map_err(|(template, rule)| refused(&template, rule))?;
            let mut registry = sandbox_registry(Arc::new(expanded));
            for (name, template) in parsed {
                registry.register_template(&name, template);
            }
            Ok::<_, TemplateError>(registry)
        };
        let ([html_parsed, text_parsed], [html_walked, text_walked]) = (parsed, walked);
        let mut html = build(html_parsed, &html_walked)?;
        let mut text = build(text_parsed, &text_walked)?;
        text.register_escape_fn(handlebars::no_escape);
        html.register_helper("csrf_field", Box::new(limits::CsrfField));
        html.register_helper("extension_slot", Box::new(limits::ExtensionSlot));
        self.plugins.insert(plugin.to_owned(), PluginTemplates { html, text });
        Ok(())
    }

    /// Renders a host template.
    pub fn render<T: Serialize>(&self, name: &str, data: &T) -> Result<String, handlebars::RenderError> {
        self.registry.render(name, data)
    }

    /// Renders a plugin's template with its data plus `portal`, which the host sets:
    /// `portal.base` (`/c/{slug}`), `portal.csrf` (for the hidden `csrf` field every form
    /// must carry; `{{csrf_field}}` writes that field), `portal.community` and
    /// `portal.viewer`, and `portal.extensions`: the items other plugins put in the
    /// plugin's slots (`{{extension_slot ...}}` renders them). The result is cleaned
    /// ([`Cleaner::page`]) and ready for [`Self::page`].
    #[allow(clippy::too_many_arguments)]
    pub fn render_plugin(
        &self,
        plugin: &str,
        template: &str,
        data: &TemplateData,
        community: &Community,
        member: &Member,
        csrf: &str,
        extensions: Value,
    ) -> Result<String, RenderFailure> {
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
                    "csrf": csrf::CSRF_PLACEHOLDER,
                    "community": { "slug": community.slug, "name": community.name },
                    "viewer": { "id": member.user.id, "name": member.user.name },
                    "extensions": extensions,
                }),
            );
        }
        let registries = self.plugin(plugin, template)?;
        let html = limits::render_capped(&limits::Budget::new(), &registries.html, plugin, template, &data)?;
        Ok(self.cleaner.page(&html, csrf))
    }

    /// Renders a plugin's email `template` (`{template}.html` and `{template}.txt`) with its
    /// data plus `portal.url` (the community's absolute address) and `portal.community`,
    /// inside the host's email layout: its footer has the one-click `unsubscribe_url` (when
    /// a preference governs the email), the preferences link, and says that replies are not
    /// read. The HTML part is cleaned ([`Cleaner::email`]) before the layout prints it.
    pub fn render_email(
        &self,
        plugin: &str,
        template: &str,
        data: &TemplateData,
        community: &Community,
        public_url: &str,
        unsubscribe_url: Option<&str>,
    ) -> Result<RenderedEmail, RenderFailure> {
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
        let (html_name, text_name) = (format!("{template}.html"), format!("{template}.txt"));
        let registries = self.plugin(plugin, &html_name)?;
        let budget = limits::Budget::new();
        let html = limits::render_capped(&budget, &registries.html, plugin, &html_name, &data)?;
        let text = limits::render_capped(&budget, &registries.text, plugin, &text_name, &data)?;
        let html = self.cleaner.email(&html);
        let wrap = json!({
            "community": { "name": community.name },
            "url": url,
            "preferences_url": preferences_url,
            "unsubscribe_url": unsubscribe_url,
        });
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

    fn plugin(&self, plugin: &str, template: &str) -> Result<&PluginTemplates, RenderFailure> {
        self.plugins.get(plugin).ok_or_else(|| RenderFailure::NoTemplate {
            plugin: plugin.to_owned(),
            template: template.to_owned(),
        })
    }

    /// Renders `content` (already-rendered, cleaned HTML) inside the layout.
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

/// A registry for one plugin's templates of one kind: the allowed helpers only, `each`
/// metered, nothing that logs or looks up dynamically.
fn sandbox_registry(expanded: Arc<check::Expanded>) -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(false);
    for builtin in ["log", "lookup", "raw"] {
        registry.unregister_helper(builtin);
    }
    registry.register_helper("each", Box::new(limits::MeteredEach { expanded }));
    registry
}

#[cfg(test)]
mod tests;
