//! What every handler needs from the call it serves: the signed-in member, their name,
//! and host errors turned into plugin errors.

use plugin_api::{Context, HostError, PluginError, UserId};

/// A failed host call: logged, shown as an internal error.
pub fn host_error(err: HostError) -> PluginError {
    PluginError::internal(err.to_string())
}

/// The signed-in member.
pub fn me(ctx: &Context) -> Result<UserId, PluginError> {
    ctx.viewer.as_ref().map(|v| v.id).ok_or_else(PluginError::not_found)
}

/// The signed-in member's display name.
pub fn viewer_name(ctx: &Context) -> String {
    ctx.viewer.as_ref().map(|v| v.name.clone()).unwrap_or_default()
}
