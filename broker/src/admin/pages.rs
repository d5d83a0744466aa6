//! The UI: Go nsqadmin's page URLs all serve one HTML shell, and the embedded static app
//! (`assets/`) renders the page for the URL from the JSON API. Nothing is loaded from
//! outside the binary.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::http::{AdminState, ApiError};
use super::VERSION;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const FAVICON_SVG: &str = include_str!("assets/favicon.svg");

pub(crate) fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route("/", get(index))
        .route("/topics", get(index))
        .route("/topics/:topic", get(index))
        .route("/topics/:topic/:channel", get(index))
        .route("/nodes", get(index))
        .route("/nodes/:node", get(index))
        .route("/counter", get(index))
        .route("/lookup", get(index))
        .route("/static/:asset", get(asset))
}

pub(crate) async fn index(State(state): State<Arc<AdminState>>) -> Response {
    let (base_path, lookupd) = {
        let options = state.options.read();
        (
            options.base_path.clone(),
            options.lookupd_http_addresses.join(","),
        )
    };
    let html = INDEX_HTML
        .replace("{{BASE_PATH}}", &escape_html(&base_path))
        .replace("{{VERSION}}", VERSION)
        .replace("{{LOOKUPD}}", &escape_html(&lookupd));
    let mut response = html.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

async fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "favicon.svg" => (FAVICON_SVG, "image/svg+xml"),
        _ => return ApiError::not_found("NOT_FOUND").into_response(),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Escapes text for an HTML attribute or element body.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn the_shell_references_only_embedded_assets() {
        assert!(INDEX_HTML.contains("{{BASE_PATH}}/static/app.js"));
        assert!(!INDEX_HTML.contains("http://") && !INDEX_HTML.contains("https://"));
        assert!(!APP_JS.contains("https://") && !APP_CSS.contains("https://"));
    }
}
