//! [`Selector`]: applies a layer only to requests whose operation starts with one of the
//! given prefixes (e.g. `/admin.` for some gRPC services, `orders.` for some topics).

use crate::transport::Transported;
use crate::BoxError;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use tower::{Layer, Service, ServiceExt};

/// A layer applied by operation prefix.
///
/// ```
/// use framework::middleware::{Selector, TimeoutLayer};
/// use std::time::Duration;
/// let slow_ops_get_a_timeout = Selector::prefix("/reports.", TimeoutLayer::new(Duration::from_secs(5)))
///     .or_prefix("billing/");
/// # drop(slow_ops_get_a_timeout);
/// ```
#[derive(Clone, Debug)]
pub struct Selector<L> {
    prefixes: Arc<[String]>,
    layer: L,
}

impl<L> Selector<L> {
    /// Applies `layer` to operations starting with `prefix`.
    pub fn prefix(prefix: impl Into<String>, layer: L) -> Self {
        Selector {
            prefixes: Arc::from(vec![prefix.into()]),
            layer,
        }
    }

    /// Also applies it to operations starting with `prefix`.
    pub fn or_prefix(self, prefix: impl Into<String>) -> Self {
        let mut prefixes = self.prefixes.to_vec();
        prefixes.push(prefix.into());
        Selector {
            prefixes: Arc::from(prefixes),
            layer: self.layer,
        }
    }
}

impl<S: Clone, L: Layer<S>> Layer<S> for Selector<L> {
    type Service = SelectorService<L::Service, S>;

    fn layer(&self, inner: S) -> Self::Service {
        SelectorService {
            selected: self.layer.layer(inner.clone()),
            plain: inner,
            prefixes: self.prefixes.clone(),
        }
    }
}

/// The service made by [`Selector`].
#[derive(Clone, Debug)]
pub struct SelectorService<A, B> {
    selected: A,
    plain: B,
    prefixes: Arc<[String]>,
}

impl<A, B, R, Resp> Service<R> for SelectorService<A, B>
where
    R: Transported + Send + 'static,
    A: Service<R, Response = Resp> + Clone + Send + 'static,
    A::Error: Into<BoxError>,
    A::Future: Send + 'static,
    B: Service<R, Response = Resp> + Clone + Send + 'static,
    B::Error: Into<BoxError>,
    B::Future: Send + 'static,
    Resp: Send + 'static,
{
    type Response = Resp;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Resp, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is awaited per call on a clone of whichever branch is chosen.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: R) -> Self::Future {
        let selected = req.transport_context().is_some_and(|ctx| {
            self.prefixes
                .iter()
                .any(|prefix| ctx.operation().starts_with(prefix.as_str()))
        });
        if selected {
            let service = self.selected.clone();
            Box::pin(async move { service.oneshot(req).await.map_err(Into::into) })
        } else {
            let service = self.plain.clone();
            Box::pin(async move { service.oneshot(req).await.map_err(Into::into) })
        }
    }
}
