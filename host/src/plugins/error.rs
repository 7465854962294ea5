//! Typed errors of the plugin runtime: why a plugin could not be loaded ([`LoadError`]) and
//! why one call failed ([`CallError`]). Both name the plugin.

use super::manifest::ManifestError;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The module file could not be read.
    #[error("plugin `{plugin}`: cannot read {path}: {source}")]
    Read {
        /// The plugin id.
        plugin: String,
        /// The module path.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The module is not valid WebAssembly, or does not fit the ABI.
    #[error("plugin `{plugin}`: {message}")]
    Module {
        /// The plugin id.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    /// The plugin's own description disagrees with its manifest.
    #[error("plugin `{plugin}`: the manifest says {field} `{manifest}`, but the module says `{module}`")]
    Mismatch {
        /// The plugin id.
        plugin: String,
        /// `id`, `version` or `abi_version`.
        field: &'static str,
        /// The manifest's value.
        manifest: String,
        /// The module's value.
        module: String,
    },
    /// Running `Describe` failed.
    #[error("plugin `{plugin}`: Describe failed: {source}")]
    Describe {
        /// The plugin id.
        plugin: String,
        /// The cause.
        source: Box<CallError>,
    },
}

/// Why one call into a plugin failed. The call's effects are rolled back. Shown, it names
/// the plugin, the call, the rule it broke and the fix ([`CallFailure::fix`]).
#[derive(Debug, thiserror::Error)]
#[error("plugin `{plugin}`: {}", self.explained())]
pub struct CallError {
    /// The plugin id.
    pub plugin: String,
    /// The call, e.g. "page request (route `about`)" ([`call_name`]).
    pub call: String,
    /// What went wrong.
    pub reason: CallFailure,
}

impl CallError {
    /// The call, the rule and the fix, without the plugin (for `portal plugin status`,
    /// which names the plugin already).
    pub fn explained(&self) -> String {
        format!("{}: {}. Fix: {}", self.call, self.reason, self.reason.fix())
    }
}

/// How a request is named in errors: "page request (route `about`, GET)", "job `digest`".
pub fn call_name(request: &plugin_api::PluginRequest) -> String {
    use plugin_api::PluginRequest;
    match request {
        PluginRequest::Describe => "describe request".into(),
        PluginRequest::Slots { items, .. } => format!("slots request (items {})", items.join(", ")),
        PluginRequest::Page { page, .. } => {
            let method = match page.method {
                plugin_api::HttpMethod::Get => "GET",
                plugin_api::HttpMethod::Post => "POST",
            };
            format!("page request (route `{}`, {method})", page.route)
        }
        PluginRequest::Job { job, .. } => format!("job `{job}`"),
        PluginRequest::Event { event, .. } => {
            let name = serde_json::to_value(event)
                .ok()
                .and_then(|v| v.as_object().and_then(|o| o.keys().next().cloned()))
                .unwrap_or_else(|| "?".into());
            format!("event `{name}`")
        }
        PluginRequest::Check { check, .. } => format!("check `{}` (check {})", check.point, check.check),
        PluginRequest::Deliver { delivery, .. } => {
            format!("delivery of `{}` (delivery {})", delivery.event, delivery.id)
        }
    }
}

/// What went wrong in a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallFailure {
    /// The CPU cap was hit.
    #[error("ran out of CPU time (limit {limit_ms} ms)")]
    Timeout {
        /// The limit.
        limit_ms: u64,
    },
    /// The memory cap was hit.
    #[error("tried to grow its memory past the limit of {limit_mib} MiB")]
    MemoryLimit {
        /// The limit.
        limit_mib: u64,
    },
    /// The guest trapped (a panic, `unreachable`, an out-of-bounds access, ...).
    #[error("trapped: {message}")]
    Trap {
        /// The trap and its backtrace, as wasmtime describes it.
        message: String,
    },
    /// Too many host calls in one call.
    #[error("made more than {limit} host calls in one request")]
    TooManyHostCalls {
        /// The limit.
        limit: u32,
    },
    /// A payload crossing the boundary was too large.
    #[error("{what} of {len} bytes is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// Which payload.
        what: &'static str,
        /// Its size.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A pointer/length from the guest lies outside its memory.
    #[error("{what} at {ptr:#x}+{len} lies outside its memory")]
    OutOfBounds {
        /// Which buffer.
        what: &'static str,
        /// The pointer.
        ptr: u32,
        /// The length.
        len: u32,
    },
    /// The response did not decode.
    #[error("returned a malformed response: {message}")]
    MalformedResponse {
        /// The decoding error.
        message: String,
    },
    /// The response is of the wrong kind for the request.
    #[error(
        "answered a `{request}` request with `{response}`; the rule: each request kind has one answer (or `error`)"
    )]
    WrongResponse {
        /// The request kind.
        request: &'static str,
        /// The kind of response it gave.
        response: &'static str,
    },
    /// Every instance slot is busy.
    #[error("could not be instantiated: {message}")]
    Instantiate {
        /// The cause.
        message: String,
    },
    /// The host failed to encode the request (a bug in the host).
    #[error("could not be called: {message}")]
    Internal {
        /// The cause.
        message: String,
    },
}

impl CallFailure {
    /// What the plugin author can do about it.
    pub fn fix(&self) -> String {
        match self {
            CallFailure::Timeout { .. } => "do less in one call: page through large tables with LIMIT, answer a job \
                 with `more = true` to go on in a fresh call, look for a loop that never ends \
                 (`portal plugin run` shows the time of every host call; the limit is \
                 `plugins.runtime.limits.cpu_ms` in portal.toml)"
                .into(),
            CallFailure::MemoryLimit { .. } => "hold less at once: query in pages, build smaller responses \
                 (`portal plugin run` prints the peak memory; the limit is `plugins.runtime.limits.memory_mib`)"
                .into(),
            CallFailure::Trap { .. } => "a panic's message is in the plugin's log line just before (the SDK \
                 logs it); `portal plugin run` replays the call with every host call it made"
                .into(),
            CallFailure::TooManyHostCalls { .. } => "batch: one query with `IN (...)` or a join instead of one \
                 per row, `members` with up to 1,000 ids at once (the limit is \
                 `plugins.runtime.limits.max_host_calls`)"
                .into(),
            CallFailure::PayloadTooLarge { .. } => "send less in one message: paginate pages and query results \
                 (the limit is `plugins.runtime.limits.max_payload_bytes`)"
                .into(),
            CallFailure::OutOfBounds { .. } | CallFailure::MalformedResponse { .. } => {
                "let the SDK encode answers (`plugin_api::register_plugin!`), built against the \
                 portal's `plugin-api`"
                    .into()
            }
            CallFailure::WrongResponse { request, .. } => format!(
                "answer a `{request}` request with its own kind: describe -> `described`, slots -> \
                 `slots`, page -> `page`, job -> `job_done`, event -> `ack`, or `error` for any"
            ),
            CallFailure::Instantiate { .. } => "check that the module's initial memory fits \
                 `plugins.runtime.limits.memory_mib`; if every instance slot was busy, raise \
                 `plugins.runtime.pool_slots`"
                .into(),
            CallFailure::Internal { .. } => "this is the portal's fault: report it with the log".into(),
        }
    }
}
