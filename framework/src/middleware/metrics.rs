//! [`MetricsLayer`]: Prometheus metrics per `(kind, operation)`: requests, errors, a latency
//! histogram and requests in flight, exposed in the text format by [`Metrics::encode`].

use crate::transport::{Outcome, Transported};
use crate::BoxError;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;
use tower::{Layer, Service};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    kind: String,
    operation: String,
}

type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms .. ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The request metrics, registered in a Prometheus registry.
///
/// ```
/// use framework::middleware::Metrics;
/// let metrics = Metrics::new();
/// assert!(metrics.encode().contains("# TYPE framework_requests counter"));
/// ```
#[derive(Clone)]
pub struct Metrics {
    requests: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    latency: HistogramFamily,
    in_flight: Family<Labels, Gauge>,
    registry: Arc<parking_lot::Mutex<Registry>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Metrics in their own registry.
    pub fn new() -> Self {
        Metrics::with_registry(Registry::default())
    }

    /// Metrics registered into `registry` (which may already hold other metrics).
    pub fn with_registry(mut registry: Registry) -> Self {
        let requests = Family::<Labels, Counter>::default();
        let errors = Family::<Labels, Counter>::default();
        let latency = HistogramFamily::new_with_constructor(latency_histogram);
        let in_flight = Family::<Labels, Gauge>::default();
        registry.register(
            "framework_requests",
            "Requests handled, by transport kind and operation",
            requests.clone(),
        );
        registry.register(
            "framework_request_errors",
            "Requests that failed, by transport kind and operation",
            errors.clone(),
        );
        registry.register(
            "framework_request_duration_seconds",
            "Request latency in seconds",
            latency.clone(),
        );
        registry.register(
            "framework_requests_in_flight",
            "Requests being handled now",
            in_flight.clone(),
        );
        Metrics {
            requests,
            errors,
            latency,
            in_flight,
            registry: Arc::new(parking_lot::Mutex::new(registry)),
        }
    }

    /// The registry, to register more metrics or serve it.
    pub fn registry(&self) -> Arc<parking_lot::Mutex<Registry>> {
        self.registry.clone()
    }

    /// The registry in the Prometheus text format (for a `/metrics` endpoint).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry.lock());
        out
    }

    /// Requests counted for `(kind, operation)`.
    pub fn requests(&self, kind: &str, operation: &str) -> u64 {
        self.requests.get_or_create(&labels(kind, operation)).get()
    }

    /// Errors counted for `(kind, operation)`.
    pub fn errors(&self, kind: &str, operation: &str) -> u64 {
        self.errors.get_or_create(&labels(kind, operation)).get()
    }

    /// Requests in flight for `(kind, operation)`.
    pub fn in_flight(&self, kind: &str, operation: &str) -> i64 {
        self.in_flight.get_or_create(&labels(kind, operation)).get()
    }
}

fn labels(kind: &str, operation: &str) -> Labels {
    Labels {
        kind: kind.to_string(),
        operation: operation.to_string(),
    }
}

/// Records [`Metrics`] for every request.
#[derive(Clone, Debug)]
pub struct MetricsLayer {
    metrics: Metrics,
}

impl MetricsLayer {
    /// Records into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        MetricsLayer { metrics }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service made by [`MetricsLayer`].
#[derive(Clone, Debug)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Metrics,
}

/// Decrements the in-flight gauge even if the request future is dropped.
struct InFlight {
    gauge: Gauge,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl<S, R> Service<R> for MetricsService<S>
where
    R: Transported,
    S: Service<R>,
    S::Response: Outcome + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    boxed_service_plumbing!();

    fn call(&mut self, req: R) -> Self::Future {
        let labels = match req.transport_context() {
            Some(ctx) => labels(ctx.kind().as_str(), ctx.operation()),
            None => labels("unknown", "unknown"),
        };
        let metrics = self.metrics.clone();
        metrics.requests.get_or_create(&labels).inc();
        let gauge = metrics.in_flight.get_or_create(&labels).clone();
        gauge.inc();
        let in_flight = InFlight { gauge };
        let started = Instant::now();
        let future = self.inner.call(req);
        Box::pin(async move {
            let result = future.await.map_err(Into::into);
            drop(in_flight);
            let failed = match &result {
                Ok(response) => response.is_failure(),
                Err(_) => true,
            };
            if failed {
                metrics.errors.get_or_create(&labels).inc();
            }
            metrics
                .latency
                .get_or_create(&labels)
                .observe(started.elapsed().as_secs_f64());
            result
        })
    }
}
