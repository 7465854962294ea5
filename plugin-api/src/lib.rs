//! # The portal's plugin ABI, version 1
//!
//! Everything a plugin author needs: the wire types that cross the boundary in both
//! directions, the manifest schema, the codec, and (feature `guest`) the SDK. The host
//! (`host`) and every plugin depend on this crate; nothing here depends on them.
//!
//! ## The module
//! A plugin is a core WebAssembly module for `wasm32-unknown-unknown` (no WASI: it has no
//! clock, files, network or randomness of its own) plus a TOML manifest ([`manifest`]).
//!
//! | direction | name | signature |
//! |---|---|---|
//! | export | `portal_abi_version` | `() -> i32`: must return [`ABI_VERSION`] |
//! | export | `portal_alloc` | `(len: i32) -> i32`: a buffer of exactly `len` bytes |
//! | export | `portal_free` | `(ptr: i32, len: i32)`: frees a buffer |
//! | export | `portal_handle` | `(ptr: i32, len: i32) -> i64`: one request in, one response out |
//! | export | `memory` | the linear memory |
//! | import | `portal.host_call` | `(ptr: i32, len: i32) -> i64`: one host call |
//!
//! An `i64` result packs a buffer as `(ptr << 32) | len`.
//!
//! ## Memory ownership
//! - Request: the host gets a buffer from `portal_alloc(len)`, writes the encoded
//!   [`PluginRequest`] into it and calls `portal_handle(ptr, len)`. The guest owns the
//!   buffer from then on and frees it.
//! - Response: `portal_handle` returns a buffer holding the encoded [`PluginResponse`]. The
//!   host copies it out; if it keeps the instance it frees the buffer with `portal_free`.
//! - Host call: the guest passes a buffer it owns holding an encoded [`HostCall`]; the host
//!   only reads it. The host writes the encoded [`HostReply`] into a buffer it gets from
//!   `portal_alloc` and returns it; the guest owns it from then on.
//!
//! The SDK does all of this for you (see [`guest`]).
//!
//! ## Encoding
//! UTF-8 JSON produced by [`codec`] (serde_json). Enums are externally tagged, which
//! serde decodes in one pass: `{"page":{"ctx":...,"page":...}}`, `{"query":{"sql":...}}`,
//! and a variant without fields is a string (`"describe"`, `"now"`, `"done"`). Ids are
//! numbers; times are [`Timestamp`]s in milliseconds.
//!
//! ## Versioning
//! [`ABI_VERSION`] changes when a change is not backwards compatible. The host refuses to
//! load a module whose `portal_abi_version` or whose manifest's `abi_version` differs from
//! its own, with a message that names both versions.
//!
//! ## Requests, and what the host checks first
//! - [`PluginRequest::Describe`] at load: id, version, migrations, templates.
//! - [`PluginRequest::Slots`] once per page render for the slot items the viewer may see.
//! - [`PluginRequest::Page`] for a route of the manifest: the host has already checked
//!   sign-in and the route's ability. GET requests run with read-only SQL.
//! - [`PluginRequest::Job`] when a job is due for a community.
//! - [`PluginRequest::Event`] when something happened in the host.
//! - [`PluginRequest::Check`] when a check point the plugin implements asks for a verdict
//!   (ABI 1.2).
//! - [`PluginRequest::Deliver`] for an event the plugin subscribes to, after the emitting
//!   call committed (ABI 1.2).
//!
//! ## Extending other plugins (ABI 1.2)
//! Events, checks and extension slots let one plugin extend another through the host,
//! declared in both manifests so the operator sees who extends whom: see [`extension`] and
//! the `[[events]]`, `[[subscriptions]]`, `[[extension_points]]`, `[[implements]]` and
//! `[[extension_slots]]` sections of [`manifest`]. Each addition is additive: a module
//! built before them loads and runs unchanged.
//!
//! Every request but `Describe` carries a [`Context`]: the community with its settings, the
//! viewer, the viewer's abilities, the time and a request id.
//!
//! ## Host calls and capabilities
//! Each [`HostCall`] needs a [`Capability`] declared in the manifest
//! ([`HostCall::capability`] is the one mapping). A call without it is answered with
//! [`HostReply::Error`] of kind [`HostErrorKind::CapabilityDenied`]. SQL may only touch
//! the tables and indexes the plugin's own migrations created (named `{plugin id}_...`,
//! and recorded as its own: ownership, not the name, is what the host checks); no schema
//! tables, `ATTACH`, `PRAGMA`, triggers or views, only allow-listed SQL functions, and no
//! writes during a GET.
//! Everything a call does (rows, notifications, queued emails, live updates) commits with
//! the request's transaction, or not at all if the request fails.
//!
//! ## Live updates
//! [`HostCall::Publish`] tells members' open pages that something changed; see [`live`]
//! for topics and how a page region listens to one.
//!
//! ## Errors
//! A plugin answers [`PluginResponse::Error`] with an [`ErrorKind`]: the host shows a
//! 400/403/404/409 page with the message, or a 500 page (the message goes to the log).
//! A trap, a limit hit, or a response that does not decode, does not fit the request or
//! lies outside memory is a failure of the call: its transaction rolls back, the host logs
//! it with the plugin id, and the page renders without that plugin's part.
//!
//! ## Limits (host defaults, set in `portal.toml`)
//! - linear memory: 64 MiB; growing past it traps the call;
//! - CPU: 1 second of execution per call (epoch deadline);
//! - payloads: 1 MiB for every request, response, host call and reply;
//! - host calls: 1,000 per request;
//! - SQL: 500 ms per statement.
//!
//! ## Entry points
//! - [`PluginRequest`] / [`PluginResponse`], [`HostCall`] / [`HostReply`]: the wire types.
//! - [`Context`]: what every request carries.
//! - [`manifest::ManifestFile`]: the manifest schema.
//! - [`codec`], the one encoding.
//! - `guest` (feature): [`guest::Plugin`], [`register_plugin!`], [`guest::host`].

pub mod codec;
pub mod context;
pub mod error;
pub mod extension;
pub mod host_call;
pub mod ids;
pub mod live;
pub mod manifest;
pub mod request;
pub mod time;

#[cfg(feature = "guest")]
pub mod guest;

pub use context::{AbilityName, CommunityInfo, Context, SettingValue, Viewer};
pub use error::{ErrorKind, HostError, HostErrorKind, PluginError};
pub use extension::{CheckId, CheckOutcome, CheckRequest, Decision, Delivery, FailurePolicy, Verdict};
pub use host_call::{
    Capability, DirectoryEntry, EmailKind, EmailOptions, GroupInfo, HostCall, HostReply, LogLevel,
    MemberInfo, SqlValue,
};
pub use ids::{ActorRef, CommunityId, GroupId, Timestamp, UserId};
pub use request::{
    Description, Flash, FlashKind, HostEvent, HttpMethod, Migration, PageRequest, PageResponse,
    PluginRequest, PluginResponse, SlotFill, SlotFills, SlotName, SlotPage, Template, TemplateData,
};

/// The plugin guide `docs/plugin-first-steps.md` (its `rust` code blocks) compiles as doc
/// tests, so the guide cannot drift from the SDK.
#[cfg(all(doctest, feature = "guest"))]
#[doc = include_str!("../../docs/plugin-first-steps.md")]
pub struct ReadmeGuide;

/// The plugin authors' guide (`docs/plugin-authors.md`): its `rust` code blocks compile as
/// doc tests too.
#[cfg(all(doctest, feature = "guest"))]
#[doc = include_str!("../../docs/plugin-authors.md")]
pub struct AuthorsGuide;

/// The ABI version this crate describes. A module's `portal_abi_version` export and its
/// manifest's `abi_version` must both equal it.
pub const ABI_VERSION: u32 = 1;

/// Names of the wasm exports and import, so host and guest cannot disagree on spelling.
pub mod names {
    /// Export: `() -> i32`.
    pub const ABI_VERSION: &str = "portal_abi_version";
    /// Export: `(len) -> ptr`.
    pub const ALLOC: &str = "portal_alloc";
    /// Export: `(ptr, len)`.
    pub const FREE: &str = "portal_free";
    /// Export: `(ptr, len) -> packed`.
    pub const HANDLE: &str = "portal_handle";
    /// Export: the linear memory.
    pub const MEMORY: &str = "memory";
    /// Import module.
    pub const IMPORT_MODULE: &str = "portal";
    /// Import: `(ptr, len) -> packed`.
    pub const HOST_CALL: &str = "host_call";
}

/// Packs a buffer as the ABI's `i64`: `(ptr << 32) | len`.
pub fn pack(ptr: u32, len: u32) -> u64 {
    (u64::from(ptr) << 32) | u64::from(len)
}

/// Unpacks the ABI's `i64` into `(ptr, len)`.
pub fn unpack(packed: u64) -> (u32, u32) {
    ((packed >> 32) as u32, (packed & 0xffff_ffff) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        assert_eq!(unpack(pack(0x1234, 0xffff_ffff)), (0x1234, 0xffff_ffff));
        assert_eq!(unpack(pack(u32::MAX, 0)), (u32::MAX, 0));
    }

    #[test]
    fn every_call_maps_to_a_capability_in_the_manifest_vocabulary() {
        let call = HostCall::Query { sql: "select 1".into(), params: vec![SqlValue::Int(1)] };
        assert_eq!(call.capability(), Capability::Sql);
        let bytes = codec::encode(&call).unwrap();
        let back: HostCall = codec::decode(&bytes).unwrap();
        assert_eq!(back, call);
    }

    #[test]
    fn request_wire_format_is_tagged() {
        let bytes = codec::encode(&PluginRequest::Describe).unwrap();
        assert_eq!(bytes, br#""describe""#);
        let call = HostCall::Log { level: LogLevel::Info, message: "hi".into() };
        assert_eq!(codec::encode(&call).unwrap(), br#"{"log":{"level":"info","message":"hi"}}"#);
    }

    #[test]
    fn sql_values_round_trip() {
        let values = vec![
            SqlValue::Null,
            SqlValue::Int(-3),
            SqlValue::Int(i64::MAX),
            SqlValue::Real(1.5),
            SqlValue::Text("x \"quoted\" \u{e9}".into()),
            SqlValue::Blob(vec![0, 7, 255]),
        ];
        let bytes = codec::encode(&values).unwrap();
        let expected = r#"[null,-3,9223372036854775807,1.5,"x \"quoted\" é",[0,7,255]]"#;
        assert_eq!(std::str::from_utf8(&bytes).unwrap(), expected);
        let back: Vec<SqlValue> = codec::decode(&bytes).unwrap();
        assert_eq!(back, values);
        // Past i64 a number is a real, as it was with `#[serde(untagged)]`.
        let big: SqlValue = codec::decode(b"18446744073709551615").unwrap();
        assert_eq!(big, SqlValue::Real(18_446_744_073_709_551_615_u64 as f64));
        assert!(codec::decode::<SqlValue>(b"true").is_err());
        assert!(codec::decode::<SqlValue>(b"[256]").is_err());
        assert!(codec::decode::<SqlValue>(br#"{"a":1}"#).is_err());
    }

    #[test]
    fn send_email_options_are_additive_on_the_wire() {
        // A plugin built before the options existed sends none: it still decodes.
        let old = br#"{"send_email":{"to":7,"subject":"s","template":"t","data":{"a":1}}}"#;
        let call: HostCall = codec::decode(old).unwrap();
        let HostCall::SendEmail { options, .. } = &call else { panic!("{call:?}") };
        assert_eq!(*options, EmailOptions::default());
        // Default options are not sent, so an older host reads a newer plugin's plain email.
        assert_eq!(codec::encode(&call).unwrap(), old.to_vec());
        let with = HostCall::SendEmail {
            to: UserId(7),
            subject: "s".into(),
            template: "t".into(),
            data: TemplateData(serde_json::json!({})),
            options: EmailOptions {
                preference: Some("email_digest".into()),
                kind: EmailKind::Bulk,
                thread: Some("conversation/3".into()),
            },
        };
        let bytes = codec::encode(&with).unwrap();
        assert!(
            std::str::from_utf8(&bytes).unwrap().contains(
                r#""options":{"preference":"email_digest","kind":"bulk","thread":"conversation/3"}"#
            ),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(codec::decode::<HostCall>(&bytes).unwrap(), with);
        // An option this host does not know is refused, not silently dropped.
        let unknown =
            br#"{"send_email":{"to":7,"subject":"s","template":"t","data":{},"options":{"priority":1}}}"#;
        assert!(codec::decode::<HostCall>(unknown).is_err());
    }

    #[test]
    fn setting_values_round_trip() {
        let values =
            vec![SettingValue::Bool(true), SettingValue::Int(-1000), SettingValue::Text("https://x".into())];
        let bytes = codec::encode(&values).unwrap();
        assert_eq!(bytes, br#"[true,-1000,"https://x"]"#);
        assert_eq!(codec::decode::<Vec<SettingValue>>(&bytes).unwrap(), values);
        assert!(codec::decode::<SettingValue>(b"1.5").is_err());
        assert!(codec::decode::<SettingValue>(b"null").is_err());
        assert!(codec::decode::<SettingValue>(b"18446744073709551615").is_err());
    }
}
