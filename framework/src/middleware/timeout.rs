//! [`TimeoutLayer`]: a request that takes longer than its limit fails with [`Elapsed`].

use super::operation_of;
use crate::transport::Transported;
use crate::BoxError;
use std::time::Duration;
use tower::{Layer, Service};

/// A request ran out of time.
#[derive(Debug, thiserror::Error)]
#[error("{operation} timed out after {after:?}")]
pub struct Elapsed {
    /// The operation.
    pub operation: String,
    /// The limit.
    pub after: Duration,
}

/// Limits each request to a duration.
#[derive(Clone, Copy, Debug)]
pub struct TimeoutLayer {
    limit: Duration,
}

impl TimeoutLayer {
    /// Requests fail after `limit`.
    pub fn new(limit: Duration) -> Self {
        TimeoutLayer { limit }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService {
            inner,
            limit: self.limit,
        }
    }
}

/// The service made by [`TimeoutLayer`].
#[derive(Clone, Debug)]
pub struct TimeoutService<S> {
    inner: S,
    limit: Duration,
}

impl<S, R> Service<R> for TimeoutService<S>
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
        let limit = self.limit;
        let future = self.inner.call(req);
        Box::pin(async move {
            match tokio::time::timeout(limit, future).await {
                Ok(result) => result.map_err(Into::into),
                Err(_) => Err(Box::new(Elapsed {
                    operation,
                    after: limit,
                }) as BoxError),
            }
        })
    }
}
