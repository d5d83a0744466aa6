//! [`RecoveryLayer`]: a panic in a handler becomes a [`Panicked`] error for that request;
//! the process (and the server) keeps serving.

use super::operation_of;
use crate::transport::Transported;
use crate::BoxError;
use futures::future::FutureExt;
use std::any::Any;
use std::panic::AssertUnwindSafe;
use tower::{Layer, Service};

/// A handler panicked.
#[derive(Debug, thiserror::Error)]
#[error("handler for {operation} panicked: {message}")]
pub struct Panicked {
    /// The operation whose handler panicked.
    pub operation: String,
    /// The panic message.
    pub message: String,
}

/// Catches panics: a panic in a handler becomes a [`Panicked`] error for that request.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecoveryLayer;

impl RecoveryLayer {
    /// The layer.
    pub fn new() -> Self {
        RecoveryLayer
    }
}

impl<S> Layer<S> for RecoveryLayer {
    type Service = RecoveryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecoveryService { inner }
    }
}

/// The service made by [`RecoveryLayer`].
#[derive(Clone, Debug)]
pub struct RecoveryService<S> {
    inner: S,
}

impl<S, R> Service<R> for RecoveryService<S>
where
    R: Transported,
    S: Service<R>,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    boxed_service_plumbing!();

    fn call(&mut self, req: R) -> Self::Future {
        let operation = operation_of(&req);
        let inner = &mut self.inner;
        let future = match std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(req))) {
            Ok(future) => future,
            Err(payload) => {
                return futures::future::ready(Err(panicked(operation, payload))).boxed()
            }
        };
        Box::pin(async move {
            match AssertUnwindSafe(future).catch_unwind().await {
                Ok(result) => result.map_err(Into::into),
                Err(payload) => Err(panicked(operation, payload)),
            }
        })
    }
}

fn panicked(operation: String, payload: Box<dyn Any + Send>) -> BoxError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string());
    tracing::error!(%operation, panic = %message, "handler panicked; request failed");
    Box::new(Panicked { operation, message })
}
