//! Tower middleware shared by every transport: [`tracing`](TracingLayer) (spans named by
//! operation, parented by propagated trace context), [`recovery`](RecoveryLayer) (a panic
//! becomes an error), [`metrics`](MetricsLayer) (Prometheus), [`timeout`](TimeoutLayer) and
//! a [`selector`](Selector) that applies a layer only to operations with a given prefix.
//!
//! Each layer works on any request that carries a transport [`Context`](crate::Context)
//! (see [`Transported`](crate::transport::Transported)): a broker
//! [`Delivery`](crate::Delivery) or an `http::Request` from the gRPC server. All of them
//! return [`BoxError`](crate::BoxError) errors.

/// The part of `impl Service<R> for SomeService<S>` that every middleware service shares:
/// the inner service's response, [`BoxError`](crate::BoxError) errors, a boxed future and
/// the inner service's readiness (`self.inner`). Each service writes its own `call`.
macro_rules! boxed_service_plumbing {
    () => {
        type Response = S::Response;
        type Error = crate::BoxError;
        type Future = futures::future::BoxFuture<'static, Result<S::Response, crate::BoxError>>;

        fn poll_ready(
            &mut self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), crate::BoxError>> {
            self.inner.poll_ready(cx).map_err(Into::into)
        }
    };
}
pub(crate) use boxed_service_plumbing;

mod metrics;
mod recovery;
mod selector;
mod stack;
mod timeout;
mod tracing;

pub use self::metrics::{Metrics, MetricsLayer, MetricsService};
pub use self::recovery::{Panicked, RecoveryLayer, RecoveryService};
pub use self::selector::{Selector, SelectorService};
pub use self::stack::{BoxService, Stack};
pub use self::timeout::{Elapsed, TimeoutLayer, TimeoutService};
pub use self::tracing::{TracingLayer, TracingService};

/// The operation name of a request, or `"unknown"` when it carries no context.
pub(crate) fn operation_of<R: crate::transport::Transported>(req: &R) -> String {
    req.transport_context()
        .map(|ctx| ctx.operation().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}
