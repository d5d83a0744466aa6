//! The shared middleware around an [`HttpServer`](super::HttpServer)'s routes, as one axum
//! layer: errors become HTTP statuses, each request gets a transport [`Context`].

use crate::app::AppInfo;
use crate::middleware::{BoxService, Elapsed, Metrics, Panicked, Stack};
use crate::telemetry::headers_from_http;
use crate::transport::{Context, Kind};
use crate::BoxError;
use axum::body::Body;
use axum::extract::MatchedPath;
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use futures::future::BoxFuture;
use http::StatusCode;
use std::convert::Infallible;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt};

/// Middleware for HTTP requests; see [`Stack`].
pub type HttpStack = Stack<http::Request<Body>, Response>;

#[derive(Clone)]
pub(super) struct Pipeline {
    pub(super) stack: HttpStack,
    pub(super) metrics: Option<Metrics>,
    pub(super) timeout: Option<Duration>,
    pub(super) app: AppInfo,
}

impl Layer<Route> for Pipeline {
    type Service = PipelineService;

    fn layer(&self, route: Route) -> PipelineService {
        let route = BoxCloneSyncService::new(ServiceExt::<http::Request<Body>>::map_err(
            route,
            |never: Infallible| match never {},
        ));
        let builtin = HttpStack::standard(self.metrics.clone(), self.timeout);
        PipelineService {
            inner: builtin.apply(self.stack.apply(route)),
            app: self.app.clone(),
        }
    }
}

#[derive(Clone)]
pub(super) struct PipelineService {
    inner: BoxService<http::Request<Body>, Response>,
    app: AppInfo,
}

impl Service<http::Request<Body>> for PipelineService {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        let path = req
            .extensions()
            .get::<MatchedPath>()
            .map(|matched| matched.as_str().to_string())
            .unwrap_or_else(|| req.uri().path().to_string());
        let operation = format!("{} {}", req.method(), path);
        let context = Context::new(Kind::HTTP, operation, headers_from_http(req.headers()))
            .with_app(Some(self.app.clone()));
        req.extensions_mut().insert(context.clone());
        let inner = self.inner.clone();
        Box::pin(context.scope(async move {
            match inner.oneshot(req).await {
                Ok(response) => Ok(response),
                Err(err) => Ok(error_response(err)),
            }
        }))
    }
}

fn error_response(err: BoxError) -> Response {
    let status = if err.is::<Elapsed>() {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let message = if err.is::<Panicked>() {
        "internal error".to_string()
    } else {
        err.to_string()
    };
    (status, message).into_response()
}
