//! The plugin's pages: one handler per route name of `manifests/conversations.toml`.

use crate::rules;
use plugin_api::{Context, PageRequest, PageResponse, PluginError, TemplateData};
use serde::Serialize;

/// Dispatches a page request by route name.
pub fn route(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    match request.route.as_str() {
        "about" => about(ctx),
        "preview" => preview(ctx, request),
        _ => Err(PluginError::not_found()),
    }
}

fn render<T: Serialize>(template: &str, title: &str, data: &T) -> Result<PageResponse, PluginError> {
    let data = TemplateData::from_serialize(data)
        .map_err(|e| PluginError::internal(format!("template data: {e}")))?;
    Ok(PageResponse::Render { template: template.to_owned(), title: title.to_owned(), data })
}

#[derive(Serialize)]
struct About<'a> {
    version: &'a str,
    viewer: Option<&'a str>,
    max_message_length: i64,
}

fn about(ctx: &Context) -> Result<PageResponse, PluginError> {
    render(
        "about",
        "About Conversations",
        &About {
            version: env!("CARGO_PKG_VERSION"),
            viewer: ctx.viewer.as_ref().map(|v| v.name.as_str()),
            max_message_length: ctx.community.int_setting("max_message_length", 1000),
        },
    )
}

#[derive(Serialize)]
struct Preview<'a> {
    body: &'a str,
    chars: usize,
    error: Option<String>,
}

/// Checks a draft message against the community's length limit and shows it back.
fn preview(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    let max = usize::try_from(ctx.community.int_setting("max_message_length", 1000)).unwrap_or(0);
    let draft = request.form_value("body").unwrap_or_default();
    let data = match rules::validate_body(draft, max) {
        Ok(body) => Preview { body, chars: body.chars().count(), error: None },
        Err(err) => Preview { body: draft, chars: draft.chars().count(), error: Some(err.message()) },
    };
    render("preview", "Preview", &data)
}
