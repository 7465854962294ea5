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

/// Why one call into a plugin failed. The call's effects are rolled back.
#[derive(Debug, thiserror::Error)]
#[error("plugin `{plugin}`: {reason}")]
pub struct CallError {
    /// The plugin id.
    pub plugin: String,
    /// What went wrong.
    pub reason: CallFailure,
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
    #[error("answered a `{request}` request with a response of another kind")]
    WrongResponse {
        /// The request kind.
        request: &'static str,
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
