//! nsqd's HTTP API (see `spec/nsqd-http.md`): `/ping`, `/info`, `/stats`, `/pub`, `/mpub`,
//! topic and channel administration and `/config/:opt`, with nsqd's "V1" response format,
//! status codes and error messages.
//!
//! Handlers read arguments from the query string only; bodies carry data for `/pub`, `/mpub`
//! and `PUT /config/:opt`. Unknown paths are 404 `NOT_FOUND`, known paths with another method
//! 405 `METHOD_NOT_ALLOWED`.

mod admin;
mod body;
mod config;
mod info;
mod log_level;
mod params;
mod publish;
mod response;
pub mod stats;

use std::panic::AssertUnwindSafe;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::{HeaderValue, ALLOW};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use futures::FutureExt;

use super::context::NsqdContext;
pub use log_level::install_log_level_setter;
pub use response::{ApiError, ApiResult, Reply, NSQ_CONTENT_TYPE};

/// The nsqd HTTP routes, sharing `ctx` with the TCP side.
pub fn router(ctx: NsqdContext) -> Router {
    Router::new()
        .route("/ping", only(get(info::ping), "GET"))
        .route("/info", only(get(info::info), "GET"))
        .route("/stats", only(get(info::stats), "GET"))
        .route("/metrics", only(get(crate::metrics::nsqd::handler), "GET"))
        .route("/pub", only(post(publish::publish), "POST"))
        .route("/mpub", only(post(publish::multi_publish), "POST"))
        .route("/topic/create", only(post(admin::topic_create), "POST"))
        .route("/topic/delete", only(post(admin::topic_delete), "POST"))
        .route("/topic/empty", only(post(admin::topic_empty), "POST"))
        .route("/topic/pause", only(post(admin::topic_pause), "POST"))
        .route("/topic/unpause", only(post(admin::topic_unpause), "POST"))
        .route("/channel/create", only(post(admin::channel_create), "POST"))
        .route("/channel/delete", only(post(admin::channel_delete), "POST"))
        .route("/channel/empty", only(post(admin::channel_empty), "POST"))
        .route("/channel/pause", only(post(admin::channel_pause), "POST"))
        .route(
            "/channel/unpause",
            only(post(admin::channel_unpause), "POST"),
        )
        .route(
            "/config/:opt",
            only(get(config::get_option).put(config::put_option), "GET, PUT"),
        )
        .fallback(not_found)
        // Bodies are bounded by each handler (max-msg-size / max-body-size), not by axum.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(catch_panic))
        .with_state(ctx)
}

/// A panicking handler answers 500 `INTERNAL_ERROR` (as nsqd's router does) instead of
/// dropping the connection.
async fn catch_panic(req: Request, next: Next) -> Response {
    match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!("HTTP handler panicked");
            ApiError::internal().into_response()
        }
    }
}

/// Adds nsqd's reply for other methods on a known path: 405 with an `Allow` header (and
/// 200 to `OPTIONS`, as Go's router does).
fn only(route: MethodRouter<NsqdContext>, allow: &'static str) -> MethodRouter<NsqdContext> {
    route.fallback(move |req: Request| async move {
        let mut response = if req.method() == Method::OPTIONS {
            StatusCode::OK.into_response()
        } else {
            ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                message: "METHOD_NOT_ALLOWED",
            }
            .into_response()
        };
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        response
    })
}

async fn not_found() -> Response {
    ApiError::not_found("NOT_FOUND").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn panicking_handler_is_internal_error() {
        async fn boom() -> &'static str {
            panic!("handler bug")
        }
        let app = Router::new()
            .route("/boom", get(boom))
            .layer(middleware::from_fn(catch_panic));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let resp = reqwest::get(format!("http://{addr}/boom")).await.unwrap();
        assert_eq!(resp.status(), 500);
        assert_eq!(
            resp.text().await.unwrap(),
            r#"{"message":"INTERNAL_ERROR"}"#
        );
        server.abort();
    }
}
