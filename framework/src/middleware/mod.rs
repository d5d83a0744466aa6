//! Tower middleware shared by every transport: [`tracing`](TracingLayer) (spans named by
//! operation, parented by propagated trace context), [`recovery`](RecoveryLayer) (a panic
//! becomes an error), [`metrics`](MetricsLayer) (Prometheus), [`timeout`](TimeoutLayer) and
//! a [`selector`](Selector) that applies a layer only to operations with a given prefix.
//!
//! Each layer works on any request that carries a transport [`Context`](crate::Context)
//! (see [`Transported`](crate::transport::Transported)): a broker
//! [`Delivery`](crate::Delivery) or an `http::Request` from the gRPC server. All of them
//! return [`BoxError`](crate::BoxError) errors.

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
