//! Typed errors that cross the boundary: what a plugin answers instead of a page, and what
//! the host answers instead of a host-call result.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How the host should present a plugin's refusal of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 400: the input is invalid; `message` is shown to the user.
    BadRequest,
    /// 403: the viewer may not do this; `message` is shown to the user.
    Forbidden,
    /// 404: nothing here (also used to hide that something exists).
    NotFound,
    /// 409: the request conflicts with the current state; `message` is shown.
    Conflict,
    /// 500: the plugin failed; `message` goes to the log, not to the user.
    Internal,
}

impl ErrorKind {
    /// The HTTP status code the host answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Internal => 500,
        }
    }
}

/// A plugin's refusal: returned as [`crate::PluginResponse::Error`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginError {
    /// What kind of error this is.
    pub kind: ErrorKind,
    /// A message for the user (or for the log, for [`ErrorKind::Internal`]).
    pub message: String,
}

impl PluginError {
    /// Builds an error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError { kind, message: message.into() }
    }
    /// A 400 with a message for the user.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }
    /// A 404.
    pub fn not_found() -> Self {
        Self::new(ErrorKind::NotFound, "Not found")
    }
    /// A 403 with a message for the user.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    /// A 500 whose message goes to the log.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for PluginError {}

/// Why the host refused or failed a host call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostErrorKind {
    /// The manifest does not declare the capability this call needs.
    CapabilityDenied,
    /// The call is not allowed in this situation (e.g. a write during a GET request, SQL on
    /// a table the plugin does not own).
    NotAllowed,
    /// The call's arguments are invalid.
    Invalid,
    /// The call hit a limit (too many host calls, SQL took too long, payload too big).
    LimitExceeded,
    /// The host does not offer this service in this deployment or situation.
    Unavailable,
    /// Something failed in the host; details are in the host's log.
    Failed,
}

/// The host's refusal or failure of a host call: returned as [`crate::HostReply::Error`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostError {
    /// What kind of error this is.
    pub kind: HostErrorKind,
    /// A message for the plugin author.
    pub message: String,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host call failed ({:?}): {}", self.kind, self.message)
    }
}

impl std::error::Error for HostError {}
