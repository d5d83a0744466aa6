//! Prometheus `/metrics` for nsqd and nsqlookupd (nsqio/nsq#732): the numbers `/stats` and
//! `/nodes` show, rendered in the OpenMetrics text format Prometheus scrapes, plus process
//! statistics. Built fresh from a snapshot on every scrape; nothing is kept between scrapes.
//!
//! ```
//! use broker::metrics::Exposition;
//!
//! let mut metrics = Exposition::new();
//! metrics.gauge("nsq_topic_depth", "Messages queued in the topic", [(vec![("topic", "t".to_string())], 3)]);
//! let text = metrics.finish();
//! assert!(text.contains("nsq_topic_depth{topic=\"t\"} 3"));
//! ```

pub mod lookupd;
pub mod nsqd;
pub mod process;

use std::sync::atomic::AtomicU64;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry};

/// The content type of the exposition (OpenMetrics text, which Prometheus prefers).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Label pairs of one sample.
pub type Labels = Vec<(&'static str, String)>;

type LabelSet = Vec<(String, String)>;

fn label_set(labels: Labels) -> LabelSet {
    labels.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// One scrape's worth of metric families.
#[derive(Default)]
pub struct Exposition {
    registry: Registry,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Self {
        Self::default()
    }

    /// An integer gauge family.
    pub fn gauge(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, i64)>,
    ) {
        self.add::<Gauge, _>(name, help, samples, |g, v| {
            g.set(v);
        });
    }

    /// A float gauge family.
    pub fn gauge_f64(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, f64)>,
    ) {
        self.add::<Gauge<f64, AtomicU64>, _>(name, help, samples, |g, v| {
            g.set(v);
        });
    }

    /// A counter family (`_total` is appended to `name`).
    pub fn counter(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, u64)>,
    ) {
        self.add::<Counter, _>(name, help, samples, |c, v| {
            c.inc_by(v);
        });
    }

    /// A float counter family (`_total` is appended to `name`).
    pub fn counter_f64(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, f64)>,
    ) {
        self.add::<Counter<f64, AtomicU64>, _>(name, help, samples, |c, v| {
            c.inc_by(v);
        });
    }

    /// Registers one unlabelled metric, or a labelled family.
    fn add<M, V>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, V)>,
        set: impl Fn(&M, V),
    ) where
        M: Metric + prometheus_client::metrics::TypedMetric + Default + Clone,
    {
        // prometheus-client appends the final period itself.
        let help = help.trim_end_matches('.');
        let mut samples: Vec<(Labels, V)> = samples.into_iter().collect();
        if samples.len() == 1 && samples[0].0.is_empty() {
            let metric = M::default();
            if let Some((_, value)) = samples.pop() {
                set(&metric, value);
            }
            self.registry.register(name, help, metric);
            return;
        }
        let family = Family::<LabelSet, M>::default();
        for (labels, value) in samples {
            set(&family.get_or_create(&label_set(labels)), value);
        }
        self.registry.register(name, help, family);
    }

    /// The text exposition.
    pub fn finish(self) -> String {
        let mut text = String::new();
        if let Err(err) = encode(&mut text, &self.registry) {
            tracing::error!(%err, "failed to encode metrics");
        }
        text
    }

    /// The exposition as an HTTP reply.
    pub fn into_response(self) -> Response {
        let mut response = self.finish().into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        response
    }
}
