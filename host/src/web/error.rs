//! The one error type of the web handlers: it logs the cause and shows the visitor a plain
//! page with the right status.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// A handler failure: a status and a message for the visitor (never internal details).
#[derive(Debug)]
pub struct AppError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What the visitor reads.
    pub message: String,
}

impl AppError {
    /// A 404.
    pub fn not_found() -> AppError {
        AppError { status: StatusCode::NOT_FOUND, message: "There is nothing here.".into() }
    }
    /// A 403 with a reason.
    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError { status: StatusCode::FORBIDDEN, message: message.into() }
    }
    /// A 400 with a reason.
    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
    /// A 500; `cause` goes to the log only.
    pub fn internal(cause: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %cause, "request failed");
        AppError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "Something went wrong on our side. Please try again.".into(),
        }
    }
}

impl From<crate::db::DbError> for AppError {
    fn from(err: crate::db::DbError) -> Self {
        AppError::internal(err)
    }
}

impl From<handlebars::RenderError> for AppError {
    fn from(err: handlebars::RenderError) -> Self {
        AppError::internal(err)
    }
}

/// The page shown for an error when the layout cannot be rendered.
pub fn bare_page(status: StatusCode, message: &str) -> Response {
    let escaped = handlebars::html_escape(message);
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{status}</title><link rel=\"stylesheet\" href=\"/static/portal.css\"></head><body><main class=\"container\"><h1>{}</h1><p>{escaped}</p><p><a href=\"/\">Back to the portal</a></p></main></body></html>",
        status.canonical_reason().unwrap_or("Error")
    );
    (status, Html(body)).into_response()
}
