//! [`TracingLayer`]: one span per request, named by the operation (`otel.name`), a server
//! span for gRPC and a consumer span for brokers, parented by the W3C trace context found in
//! the request's headers.

use crate::telemetry::extract_context;
use crate::transport::{Outcome, Transported};
use crate::BoxError;
use opentelemetry::trace::TraceContextExt;
use tower::{Layer, Service};
use tracing::field::Empty;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Wraps each request in a span named by its operation (server span for gRPC/HTTP,
/// consumer span for brokers), parented by the trace context in its headers.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingLayer;

impl TracingLayer {
    /// The layer.
    pub fn new() -> Self {
        TracingLayer
    }
}

impl<S> Layer<S> for TracingLayer {
    type Service = TracingService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TracingService { inner }
    }
}

/// The service made by [`TracingLayer`].
#[derive(Clone, Debug)]
pub struct TracingService<S> {
    inner: S,
}

impl<S, R> Service<R> for TracingService<S>
where
    R: Transported,
    S: Service<R>,
    S::Response: Outcome + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    boxed_service_plumbing!();

    fn call(&mut self, req: R) -> Self::Future {
        let span = request_span(&req);
        let future = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        let record_on = span.clone();
        Box::pin(
            async move {
                let result = future.await.map_err(Into::into);
                match &result {
                    Ok(response) if response.is_failure() => {
                        record_on.record("otel.status_code", "ERROR");
                    }
                    Ok(_) => {}
                    Err(err) => {
                        record_on.record("otel.status_code", "ERROR");
                        record_on.record("error", tracing::field::display(err));
                    }
                }
                result
            }
            .instrument(span),
        )
    }
}

fn request_span<R: Transported>(req: &R) -> tracing::Span {
    let Some(ctx) = req.transport_context() else {
        return tracing::info_span!("request", otel.name = "unknown", error = Empty);
    };
    let span_kind = if ctx.kind().is_broker() {
        "consumer"
    } else {
        "server"
    };
    let span = tracing::info_span!(
        "request",
        otel.name = ctx.operation(),
        otel.kind = span_kind,
        otel.status_code = Empty,
        transport.kind = ctx.kind().as_str(),
        operation = ctx.operation(),
        error = Empty,
    );
    let parent = extract_context(ctx.headers());
    if parent.span().span_context().is_valid() {
        span.set_parent(parent);
    }
    span
}
