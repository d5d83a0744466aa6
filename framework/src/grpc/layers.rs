//! gRPC-specific glue around the shared middleware: the layer that builds the transport
//! [`Context`] from the HTTP/2 request, and the one that turns framework errors (panics,
//! timeouts) into gRPC statuses instead of dropped streams.

use crate::app::AppInfo;
use crate::middleware::{boxed_service_plumbing, Elapsed, Panicked};
use crate::telemetry::headers_from_http;
use crate::transport::{Context, Kind};
use crate::BoxError;
use tonic::body::BoxBody;
use tower::Service;

/// The HTTP request gRPC services receive.
pub type GrpcRequest = http::Request<BoxBody>;
/// The HTTP response gRPC services return.
pub type GrpcResponse = http::Response<BoxBody>;

/// Attaches a [`Context`] (kind `grpc`, operation = `/pkg.Service/Method`, headers =
/// metadata) to each request and runs the call inside [`Context::scope`].
#[derive(Clone)]
pub(crate) struct ContextService<S> {
    pub(crate) inner: S,
    pub(crate) app: Option<AppInfo>,
}

impl<S> Service<GrpcRequest> for ContextService<S>
where
    S: Service<GrpcRequest, Response = GrpcResponse, Error = BoxError>,
    S::Future: Send + 'static,
{
    boxed_service_plumbing!();

    fn call(&mut self, mut req: GrpcRequest) -> Self::Future {
        let context = Context::new(
            Kind::GRPC,
            req.uri().path(),
            headers_from_http(req.headers()),
        )
        .with_app(self.app.clone());
        req.extensions_mut().insert(context.clone());
        let future = self.inner.call(req);
        Box::pin(context.scope(future))
    }
}

/// Converts errors from the middleware into gRPC status responses.
#[derive(Clone)]
pub(crate) struct StatusService<S> {
    pub(crate) inner: S,
}

impl<S> Service<GrpcRequest> for StatusService<S>
where
    S: Service<GrpcRequest, Response = GrpcResponse, Error = BoxError>,
    S::Future: Send + 'static,
{
    boxed_service_plumbing!();

    fn call(&mut self, req: GrpcRequest) -> Self::Future {
        let future = self.inner.call(req);
        Box::pin(async move {
            match future.await {
                Ok(response) => Ok(response),
                Err(err) => Ok(status_of(err).into_http()),
            }
        })
    }
}

/// The gRPC status for a middleware error.
pub fn status_of(err: BoxError) -> tonic::Status {
    if let Some(panicked) = err.downcast_ref::<Panicked>() {
        return tonic::Status::internal(panicked.to_string());
    }
    if let Some(elapsed) = err.downcast_ref::<Elapsed>() {
        return tonic::Status::deadline_exceeded(elapsed.to_string());
    }
    match err.downcast::<tonic::Status>() {
        Ok(status) => *status,
        Err(err) => tonic::Status::internal(err.to_string()),
    }
}
