//! Host -> guest: the requests a plugin answers ([`PluginRequest`]) and its answers
//! ([`PluginResponse`]). Each request kind has exactly one matching response variant, or
//! [`PluginResponse::Error`].

use crate::context::Context;
use crate::error::PluginError;
use crate::extension::{CheckRequest, Delivery, Verdict};
use crate::ids::{GroupId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One request from the host. The host sends exactly one per call of `portal_handle`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginRequest {
    /// "Who are you?": sent when the plugin is loaded. No context, and no host calls are
    /// allowed while answering. Answer: [`PluginResponse::Described`].
    Describe,
    /// Fill in the dynamic parts of the slot items the host is about to render on one page.
    /// Sent at most once per page render. Answer: [`PluginResponse::Slots`].
    Slots {
        /// The request context.
        ctx: Context,
        /// The page being rendered.
        page: SlotPage,
        /// The keys of the manifest's slot items that the host will render (the viewer has
        /// their abilities). Answer for these only.
        items: Vec<String>,
    },
    /// A request to one of the routes declared in the manifest. Answer:
    /// [`PluginResponse::Page`].
    Page {
        /// The request context.
        ctx: Context,
        /// The page request itself.
        page: PageRequest,
    },
    /// A scheduled job declared in the manifest is due for one community. Answer:
    /// [`PluginResponse::JobDone`].
    Job {
        /// The request context (no viewer).
        ctx: Context,
        /// The job's name in the manifest.
        job: String,
    },
    /// Something happened in the host that the plugin may need to react to. Answer:
    /// [`PluginResponse::Ack`].
    Event {
        /// The request context (no viewer).
        ctx: Context,
        /// What happened.
        event: HostEvent,
    },
    /// A check point this plugin implements (`[[implements]]`) asks for a verdict, inside
    /// the asking call's transaction and under the check point's CPU budget. The context's
    /// viewer is the member whose action is checked. Added in ABI 1.2. Answer:
    /// [`PluginResponse::Verdict`].
    Check {
        /// The request context.
        ctx: Context,
        /// What is checked.
        check: CheckRequest,
    },
    /// An event this plugin subscribes to (`[[subscriptions]]`), or the resolution of a
    /// check of a check point it declares, after the emitting call committed. The plugin's
    /// writes and the host's note that it was delivered commit together when it answers
    /// `Ack`; an error or a failure delivers it again later. Added in ABI 1.2. Answer:
    /// [`PluginResponse::Ack`].
    Deliver {
        /// The request context (no viewer).
        ctx: Context,
        /// The event.
        delivery: Delivery,
    },
}

impl PluginRequest {
    /// The name of the request kind, for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginRequest::Describe => "describe",
            PluginRequest::Slots { .. } => "slots",
            PluginRequest::Page { .. } => "page",
            PluginRequest::Job { .. } => "job",
            PluginRequest::Event { .. } => "event",
            PluginRequest::Check { .. } => "check",
            PluginRequest::Deliver { .. } => "deliver",
        }
    }

    /// Whether `response` is an answer of the right kind for this request (an error is
    /// always of the right kind).
    pub fn accepts(&self, response: &PluginResponse) -> bool {
        matches!(
            (self, response),
            (_, PluginResponse::Error(_))
                | (PluginRequest::Describe, PluginResponse::Described(_))
                | (PluginRequest::Slots { .. }, PluginResponse::Slots(_))
                | (PluginRequest::Page { .. }, PluginResponse::Page(_))
                | (PluginRequest::Job { .. }, PluginResponse::JobDone { .. })
                | (PluginRequest::Event { .. }, PluginResponse::Ack)
                | (PluginRequest::Check { .. }, PluginResponse::Verdict(_))
                | (PluginRequest::Deliver { .. }, PluginResponse::Ack)
        )
    }
}

/// A plugin's answer to one [`PluginRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginResponse {
    /// Answer to [`PluginRequest::Describe`].
    Described(Description),
    /// Answer to [`PluginRequest::Slots`].
    Slots(SlotFills),
    /// Answer to [`PluginRequest::Page`].
    Page(PageResponse),
    /// Answer to [`PluginRequest::Job`].
    JobDone {
        /// A one-line summary for the job log, e.g. "sent 3 digests".
        summary: String,
        /// There is more to do: the host calls the job again at once, in a new instance and
        /// transaction (so a large job works in batches within the per-call limits).
        #[serde(default)]
        more: bool,
    },
    /// Answer to [`PluginRequest::Event`] and [`PluginRequest::Deliver`].
    Ack,
    /// Answer to [`PluginRequest::Check`].
    Verdict(Verdict),
    /// The plugin refuses or failed the request.
    Error(PluginError),
}

/// What a plugin says about itself at load time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    /// Must equal the manifest's `id`.
    pub id: String,
    /// Must equal the manifest's `version`.
    pub version: String,
    /// SQL migrations for the plugin's own tables, applied once each, in `version` order.
    pub migrations: Vec<Migration>,
    /// Handlebars templates the plugin's pages and emails render with.
    pub templates: Vec<Template>,
}

/// One numbered SQL migration. Tables must be named `{plugin id}_...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    /// 1, 2, 3, ...: applied in order, each once.
    pub version: u32,
    /// A short name for the log.
    pub name: String,
    /// The SQL, possibly several statements.
    pub sql: String,
}

/// A handlebars template shipped by the plugin. User text in `data` is always escaped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    /// The name that [`PageResponse::Render`] refers to.
    pub name: String,
    /// The handlebars source.
    pub source: String,
}

/// A named place in the portal's layout where plugins contribute UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SlotName {
    /// An entry in the avatar dropdown of the header.
    #[serde(rename = "header.user_menu")]
    HeaderUserMenu,
    /// A badge (a count) on the avatar in the header.
    #[serde(rename = "header.avatar_badge")]
    HeaderAvatarBadge,
    /// An entry in the "My account" section of the footer.
    #[serde(rename = "footer.my_account")]
    FooterMyAccount,
    /// A button on a member's profile page.
    #[serde(rename = "profile.actions")]
    ProfileActions,
    /// A button or link on a group's page.
    #[serde(rename = "group.actions")]
    GroupActions,
    /// An icon link in the header, beside the bell (e.g. an envelope to the inbox that
    /// turns gold with a count when something is unread). The manifest names the icon;
    /// the host draws it. Added in ABI 1.1.
    #[serde(rename = "header.icons")]
    HeaderIcons,
}

impl SlotName {
    /// Every slot, in layout order.
    pub const ALL: [SlotName; 6] = [
        SlotName::HeaderIcons,
        SlotName::HeaderUserMenu,
        SlotName::HeaderAvatarBadge,
        SlotName::FooterMyAccount,
        SlotName::ProfileActions,
        SlotName::GroupActions,
    ];

    /// The name used in manifests, e.g. `profile.actions`.
    pub fn as_str(self) -> &'static str {
        match self {
            SlotName::HeaderUserMenu => "header.user_menu",
            SlotName::HeaderAvatarBadge => "header.avatar_badge",
            SlotName::FooterMyAccount => "footer.my_account",
            SlotName::ProfileActions => "profile.actions",
            SlotName::GroupActions => "group.actions",
            SlotName::HeaderIcons => "header.icons",
        }
    }
}

impl fmt::Display for SlotName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The page whose slots are being filled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlotPage {
    /// The member whose profile is shown, on a profile page.
    pub profile: Option<UserId>,
    /// The group shown, on a group page.
    pub group: Option<GroupId>,
}

/// The dynamic part of one slot item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotFill {
    /// The item's `key` in the manifest.
    pub key: String,
    /// A count to show as a badge; `None` or `Some(0)` shows none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<u32>,
    /// Show the item disabled, with this reason as its explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Leave the item out on this page (e.g. "Message" on one's own profile).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
}

impl SlotFill {
    /// An item shown as declared, with no badge.
    pub fn shown(key: impl Into<String>) -> Self {
        SlotFill { key: key.into(), badge: None, disabled_reason: None, hidden: false }
    }
}

/// The answer to [`PluginRequest::Slots`]. Items the plugin does not mention are shown as
/// declared in the manifest.
pub type SlotFills = Vec<SlotFill>;

/// An HTTP method of a plugin route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// A read: the plugin's SQL runs read-only.
    Get,
    /// A write, from a form with a valid CSRF token.
    Post,
}

/// A request to a plugin route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// The route's `name` in the manifest.
    pub route: String,
    /// GET or POST.
    pub method: HttpMethod,
    /// Path parameters (`{id}` in the route's path).
    pub params: BTreeMap<String, String>,
    /// Query string pairs, in order; a name may repeat.
    pub query: Vec<(String, String)>,
    /// Form fields of a POST, in order; a name may repeat. The CSRF token is removed.
    pub form: Vec<(String, String)>,
}

impl PageRequest {
    /// A path parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
    /// The first query value named `name`.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }
    /// Every query value named `name`, in order.
    pub fn query_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// The first form value named `name`.
    pub fn form_value(&self, name: &str) -> Option<&str> {
        first(&self.form, name)
    }
    /// Every form value named `name`, in order.
    pub fn form_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.form.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Data for a template: any JSON object. User text in it is escaped by the host when it
/// renders the template.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TemplateData(pub serde_json::Value);

impl TemplateData {
    /// Serializes `value` as template data.
    pub fn from_serialize<T: Serialize>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_value(value).map(TemplateData)
    }
}

/// How a flash message looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlashKind {
    /// Something worked.
    Success,
    /// Neutral information.
    Info,
    /// Something did not work.
    Error,
}

/// A one-time message shown on the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    /// How it looks.
    pub kind: FlashKind,
    /// The text (escaped).
    pub message: String,
}

/// The answer to a page request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageResponse {
    /// Render one of the plugin's templates inside the portal layout.
    Render {
        /// A template name from [`Description::templates`].
        template: String,
        /// The page title.
        title: String,
        /// The template's data.
        data: TemplateData,
    },
    /// Redirect the browser. `to` is a path inside the community (`/conversations/7`) and
    /// never another host.
    Redirect {
        /// The target path, relative to the community root.
        to: String,
        /// A message shown on the next page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        flash: Option<Flash>,
    },
}

/// Host events a plugin may react to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostEvent {
    /// A member left or was removed from the community.
    MemberRemoved {
        /// The member.
        user: UserId,
    },
    /// A member was removed from a group.
    GroupMemberRemoved {
        /// The group.
        group: GroupId,
        /// The member.
        user: UserId,
    },
}
