//! [`Stack`]: an ordered list of layers over a boxed service, kept as a value so servers
//! and brokers can take "the middleware" without being generic over it.

use super::{Metrics, MetricsLayer, RecoveryLayer, TimeoutLayer, TracingLayer};
use crate::transport::{Outcome, Transported};
use crate::BoxError;
use std::sync::Arc;
use std::time::Duration;
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt};

/// A boxed, clonable, thread-safe service with [`BoxError`] errors.
pub type BoxService<Req, Resp> = BoxCloneSyncService<Req, Resp, BoxError>;

type Wrap<Req, Resp> = Arc<dyn Fn(BoxService<Req, Resp>) -> BoxService<Req, Resp> + Send + Sync>;

/// Layers applied to a boxed service; the first added is the outermost, as with
/// `tower::ServiceBuilder`.
///
/// ```
/// use framework::broker::{handler_fn, Delivery, HandlerStack};
/// use framework::middleware::{RecoveryLayer, TimeoutLayer};
/// use std::time::Duration;
///
/// let stack = HandlerStack::new()
///     .layer(RecoveryLayer::new())
///     .layer(TimeoutLayer::new(Duration::from_secs(30)));
/// let handler = stack.apply(handler_fn(|_d: Delivery| async { Ok(()) }));
/// # drop(handler);
/// ```
pub struct Stack<Req, Resp> {
    layers: Vec<Wrap<Req, Resp>>,
}

impl<Req, Resp> Clone for Stack<Req, Resp> {
    fn clone(&self) -> Self {
        Stack {
            layers: self.layers.clone(),
        }
    }
}

impl<Req, Resp> Default for Stack<Req, Resp> {
    fn default() -> Self {
        Stack { layers: Vec::new() }
    }
}

impl<Req: 'static, Resp: 'static> Stack<Req, Resp> {
    /// No layers.
    pub fn new() -> Self {
        Stack::default()
    }

    /// Adds a layer inside the ones added before.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<BoxService<Req, Resp>> + Send + Sync + 'static,
        L::Service: Service<Req, Response = Resp> + Clone + Send + Sync + 'static,
        <L::Service as Service<Req>>::Error: Into<BoxError>,
        <L::Service as Service<Req>>::Future: Send + 'static,
    {
        self.layers.push(Arc::new(move |inner| {
            BoxCloneSyncService::new(layer.layer(inner).map_err(Into::into))
        }));
        self
    }

    /// Whether no layers were added.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Wraps `service` in every layer.
    pub fn apply(&self, service: BoxService<Req, Resp>) -> BoxService<Req, Resp> {
        self.layers
            .iter()
            .rev()
            .fold(service, |inner, wrap| wrap(inner))
    }
}

impl<Req, Resp> Stack<Req, Resp>
where
    Req: Transported + Send + 'static,
    Resp: Outcome + Send + 'static,
{
    /// The standard stack every transport uses, outermost first: tracing, metrics (when
    /// given), recovery, timeout (when given).
    ///
    /// ```
    /// use framework::broker::HandlerStack;
    /// use framework::middleware::Metrics;
    /// use std::time::Duration;
    /// let stack = HandlerStack::standard(Some(Metrics::new()), Some(Duration::from_secs(60)));
    /// # drop(stack);
    /// ```
    pub fn standard(metrics: Option<Metrics>, timeout: Option<Duration>) -> Self {
        let mut stack = Stack::new().layer(TracingLayer::new());
        if let Some(metrics) = metrics {
            stack = stack.layer(MetricsLayer::new(metrics));
        }
        stack = stack.layer(RecoveryLayer::new());
        if let Some(limit) = timeout {
            stack = stack.layer(TimeoutLayer::new(limit));
        }
        stack
    }
}
