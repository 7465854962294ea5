//! What every handler needs from the call it serves: the signed-in member, host errors
//! turned into plugin errors, and the two page answers (render, redirect with a flash).

use plugin_api::{Context, Flash, FlashKind, HostError, PageResponse, PluginError, TemplateData, UserId};
use serde::Serialize;

/// A failed host call: a 500 whose message goes to the log.
pub fn host_error(err: HostError) -> PluginError {
    PluginError::internal(err.to_string())
}

/// The signed-in member.
pub fn me(ctx: &Context) -> Result<UserId, PluginError> {
    ctx.viewer.as_ref().map(|v| v.id).ok_or_else(PluginError::not_found)
}

/// Renders one of the plugin's templates.
pub fn render<T: Serialize>(template: &str, title: &str, data: &T) -> Result<PageResponse, PluginError> {
    let data = TemplateData::from_serialize(data)
        .map_err(|e| PluginError::internal(format!("template data: {e}")))?;
    Ok(PageResponse::Render { template: template.to_owned(), title: title.to_owned(), data })
}

/// Redirects to `to` (a path in the community) with a flash message.
pub fn redirect(to: &str, kind: FlashKind, message: &str) -> Result<PageResponse, PluginError> {
    Ok(PageResponse::Redirect { to: to.to_owned(), flash: Some(Flash { kind, message: message.to_owned() }) })
}
