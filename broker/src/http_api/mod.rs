//! NSQ's HTTP API conventions shared by nsqd, nsqlookupd and nsqadmin (Go's
//! `internal/http_api`): the "V1" reply format ([`Reply`], [`ApiError`]), query-string
//! parameters ([`Params`]) and the router pieces every daemon uses: `404 NOT_FOUND` for unknown
//! paths, `405 METHOD_NOT_ALLOWED` with `Allow` for other methods on a known path (`200` to
//! `OPTIONS`, as Go's router does), and `500 INTERNAL_ERROR` instead of a dropped connection when
//! a handler panics.
//!
//! ```
//! use axum::routing::get;
//! use broker::http_api::{self, ApiResult, Reply};
//!
//! async fn hello() -> ApiResult {
//!     Reply::json(&serde_json::json!({ "hello": "world" }))
//! }
//!
//! let app: axum::Router = http_api::finish(
//!     axum::Router::new().route("/hello", http_api::only(get(hello), "GET")),
//! );
//! ```

mod params;
mod response;

use std::panic::AssertUnwindSafe;

use axum::extract::Request;
use axum::http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use futures::FutureExt;

pub use params::{parse_bool_param, Params};
pub use response::{ApiError, ApiResult, Reply, NSQ_CONTENT_TYPE};

/// Adds the reply for other methods on a known path: 405 `METHOD_NOT_ALLOWED` with an `Allow`
/// header listing `allow` (and 200 to `OPTIONS`, as Go's router does).
pub fn only<S>(route: MethodRouter<S>, allow: &'static str) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    route.fallback(move |req: Request| async move {
        let mut response = if req.method() == Method::OPTIONS {
            StatusCode::OK.into_response()
        } else {
            ApiError::method_not_allowed().into_response()
        };
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        response
    })
}

/// Finishes a router: unknown paths answer 404 `NOT_FOUND` and panicking handlers 500
/// `INTERNAL_ERROR`.
pub fn finish<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .fallback(not_found)
        .layer(middleware::from_fn(catch_panic))
}

/// Router fallback: 404 `{"message":"NOT_FOUND"}`.
pub async fn not_found() -> ApiError {
    ApiError::not_found("NOT_FOUND")
}

/// A plain-text reply without the V1 header (`/ping`'s format).
pub fn plain_text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut response = (status, body.into()).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A panicking handler answers 500 `INTERNAL_ERROR` (as Go's routers do) instead of dropping
/// the connection.
async fn catch_panic(req: Request, next: Next) -> Response {
    match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!("HTTP handler panicked");
            ApiError::internal().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::{get, post};

    use super::*;

    async fn serve(app: Router) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (addr, server)
    }

    #[tokio::test]
    async fn panicking_handler_is_internal_error() {
        async fn boom() -> &'static str {
            panic!("handler bug")
        }
        let (addr, server) = serve(finish(Router::new().route("/boom", get(boom)))).await;
        let resp = reqwest::get(format!("http://{addr}/boom")).await.unwrap();
        assert_eq!(resp.status(), 500);
        assert_eq!(
            resp.text().await.unwrap(),
            r#"{"message":"INTERNAL_ERROR"}"#
        );
        server.abort();
    }

    #[tokio::test]
    async fn unknown_paths_and_methods_answer_like_go() {
        let app = finish(Router::new().route("/p", only(post(|| async { "OK" }), "POST")));
        let (addr, server) = serve(app).await;
        let client = reqwest::Client::new();
        let missing = client.get(format!("http://{addr}/x")).send().await.unwrap();
        assert_eq!(missing.status(), 404);
        assert_eq!(missing.headers()["x-nsq-content-type"], "nsq; version=1.0");
        assert_eq!(missing.text().await.unwrap(), r#"{"message":"NOT_FOUND"}"#);
        let wrong = client.get(format!("http://{addr}/p")).send().await.unwrap();
        assert_eq!(wrong.status(), 405);
        assert_eq!(wrong.headers()["allow"], "POST");
        assert_eq!(
            wrong.text().await.unwrap(),
            r#"{"message":"METHOD_NOT_ALLOWED"}"#
        );
        let options = client
            .request(Method::OPTIONS, format!("http://{addr}/p"))
            .send()
            .await
            .unwrap();
        assert_eq!(options.status(), 200);
        assert_eq!(options.headers()["allow"], "POST");
        server.abort();
    }
}
