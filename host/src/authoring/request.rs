//! The request file of `portal plugin run`: one JSON object saying who calls, where, and
//! which request. The request names its kind the way the wire does (`"describe"`,
//! `{"page": {...}}`, `{"slots": {...}}`, `{"job": {...}}`, `{"event": {...}}`,
//! `{"check": {...}}`, `{"deliver": {...}}`), so a new
//! request kind of the ABI is one more variant of [`RunRequest`]. Unknown fields are
//! errors, and every error names the field (`request.page.route`).
//!
//! ```json
//! {
//!   "community": "riverside",
//!   "as": "ada@riverside.example",
//!   "abilities": ["conversations.use"],
//!   "request": { "page": { "route": "about" } }
//! }
//! ```

use plugin_api::{HostEvent, HttpMethod, SlotPage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole request file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFile {
    /// The community's slug; default: the first community of the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
    /// Who calls: a member's email, nickname or numeric id in that community. Leave it out
    /// for a visitor; jobs and events never have one.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The plugin's abilities the member has for this run, instead of what the database
    /// grants them (nothing is written). Default: the database's grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abilities: Option<Vec<String>>,
    /// The request.
    pub request: RunRequest,
}

/// The request to send: one per kind of [`plugin_api::PluginRequest`]; the host builds the
/// context (community, settings, viewer, abilities, time, request id) as the portal does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RunRequest {
    /// `"describe"`: what the plugin answers at load (no host calls allowed).
    Describe,
    /// `{"slots": {...}}`: the slot items of one page.
    Slots(SlotsCall),
    /// `{"page": {...}}`: a routed request.
    Page(PageCall),
    /// `{"job": {"name": "digest"}}`: one run of a scheduled job.
    Job(JobCall),
    /// `{"event": {"member_removed": {"user": 3}}}`: a host event.
    Event(HostEvent),
    /// A check of a check point the plugin implements (ABI 1.2):
    /// `{"check": {"point": "conversations.check_message", "check": 1, "subject": {...}}}`.
    /// The member (`as`) is the one whose action is checked.
    Check(plugin_api::CheckRequest),
    /// An event delivered to a subscriber (ABI 1.2): `{"deliver": {"id": 1, "event":
    /// "conversations.message_posted", "source": "conversations", "at": 0, "payload": {...}}}`.
    Deliver(plugin_api::Delivery),
}

/// A `Slots` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotsCall {
    /// The page: `{"profile": 3}` or `{"group": 2}`; default: a page with neither.
    #[serde(default)]
    pub page: SlotPage,
    /// The manifest's slot keys to ask for; default: every item the member may see there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
}

/// A `Page` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageCall {
    /// The route's `name` in the manifest.
    pub route: String,
    /// `GET` or `POST`; default: the route's own method (a different one is an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
    /// Path parameters, e.g. `{"id": "7"}` for `/notes/{id}`.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Query string pairs, in order: `[["q", "ada"]]`.
    #[serde(default)]
    pub query: Vec<(String, String)>,
    /// Form fields of a POST, in order: `[["body", "hello"]]` (no CSRF token needed).
    #[serde(default)]
    pub form: Vec<(String, String)>,
}

/// A `Job` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobCall {
    /// The job's `name` in the manifest.
    pub name: String,
}

/// A request file that cannot be used: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: field `{field}`: {message}")]
pub struct RequestError {
    /// The file (or `-` for standard input).
    pub source_name: String,
    /// The field, e.g. `request.page.route` (`.` for the whole file).
    pub field: String,
    /// What is wrong, and what would be right.
    pub message: String,
}

impl RequestFile {
    /// Parses a request file; an error names the field, the line and the column.
    pub fn parse(text: &str, source_name: &str) -> Result<RequestFile, RequestError> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.to_string();
            let message = if message.contains("unknown variant") && field.ends_with("request") {
                format!("{message}; a request is \"describe\", {{\"slots\": ...}}, {{\"page\": ...}}, {{\"job\": ...}}, {{\"event\": ...}}, {{\"check\": ...}} or {{\"deliver\": ...}}")
            } else {
                message
            };
            RequestError { source_name: source_name.to_owned(), field, message }
        })
    }

    /// The kind of the request, as the wire names it.
    pub fn kind(&self) -> &'static str {
        match self.request {
            RunRequest::Describe => "describe",
            RunRequest::Slots(_) => "slots",
            RunRequest::Page(_) => "page",
            RunRequest::Job(_) => "job",
            RunRequest::Event(_) => "event",
            RunRequest::Check(_) => "check",
            RunRequest::Deliver(_) => "deliver",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> RequestError {
        RequestFile::parse(text, "req.json").expect_err("refused")
    }

    #[test]
    fn every_kind_parses_and_defaults_apply() {
        let file =
            RequestFile::parse(r#"{"as": "ada", "request": {"page": {"route": "about"}}}"#, "-").unwrap();
        assert_eq!(file.member.as_deref(), Some("ada"));
        assert!(matches!(&file.request, RunRequest::Page(p) if p.route == "about" && p.method.is_none()));
        for (text, kind) in [
            (r#"{"request": "describe"}"#, "describe"),
            (r#"{"request": {"slots": {}}}"#, "slots"),
            (r#"{"request": {"slots": {"page": {"profile": 3}, "items": ["x"]}}}"#, "slots"),
            (r#"{"request": {"job": {"name": "digest"}}}"#, "job"),
            (r#"{"request": {"event": {"member_removed": {"user": 3}}}}"#, "event"),
        ] {
            assert_eq!(RequestFile::parse(text, "-").unwrap().kind(), kind, "{text}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let e = error(r#"{"request": {"page": {"route": "about", "method": "PUT"}}}"#);
        assert_eq!(e.field, "request.page.method");
        assert!(
            e.to_string().starts_with("req.json: field `request.page.method`: unknown variant `PUT`"),
            "{e}"
        );
        let e = error(r#"{"request": {"page": {"route": "about", "quer": []}}}"#);
        assert_eq!(e.field, "request.page.quer");
        assert!(e.message.contains("unknown field `quer`, expected one of `route`, `method`"), "{e}");
        let e = error(r#"{"request": {"pages": {}}}"#);
        assert_eq!(e.field, "request");
        assert!(e.message.contains("\"describe\", {\"slots\": ...}"), "{e}");
        let e = error(r#"{"as": 3, "request": "describe"}"#);
        assert_eq!(e.field, "as");
        let e = error(r#"{"community": "x"}"#);
        assert!(e.message.contains("missing field `request`"), "{e}");
    }
}
