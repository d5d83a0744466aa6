//! Telemetry in one call: [`init`] installs a `tracing` subscriber (text or JSON logs with
//! an env filter) with an OpenTelemetry layer, so spans carry trace ids and continue
//! incoming trace context; spans are exported over OTLP/gRPC only when an endpoint is
//! configured. [`propagation`] moves W3C `traceparent`/`tracestate`/
//! `baggage` through message headers and gRPC metadata.

pub mod propagation;

pub use propagation::{
    extract_context, extract_metadata, headers_from_http, inject_context, inject_current,
    inject_current_metadata, TracePropagationInterceptor,
};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use serde::Deserialize;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// What [`init`] sets up; deserializable from the `telemetry` section of a config.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// `service.name` of exported spans.
    pub service_name: String,
    /// Log format.
    pub format: LogFormat,
    /// Env-filter directives used when `RUST_LOG` is unset, e.g. `info,framework=debug`.
    pub filter: String,
    /// OTLP/gRPC collector endpoint, e.g. `http://127.0.0.1:4317`; `None` exports nothing.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            service_name: "service".to_string(),
            format: LogFormat::Text,
            filter: "info".to_string(),
            otlp_endpoint: None,
        }
    }
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter directives do not parse.
    #[error("bad log filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// The OTLP exporter could not be built.
    #[error("otlp exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// A global subscriber is already installed.
    #[error("a tracing subscriber is already installed: {0}")]
    AlreadyInstalled(#[from] tracing_subscriber::util::TryInitError),
}

/// Keeps telemetry running; [`shutdown`](Self::shutdown) (or dropping it) flushes and shuts
/// down the span exporter.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    exports: bool,
}

impl TelemetryGuard {
    /// Whether spans are exported over OTLP.
    pub fn exports_spans(&self) -> bool {
        self.exports
    }

    /// Flushes and shuts down the exporter without blocking the async runtime (prefer this
    /// to dropping the guard inside a current-thread runtime, where the exporter's network
    /// task could not run during the flush).
    pub async fn shutdown(mut self) {
        let Some(provider) = self.provider.take() else {
            return;
        };
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%err, "flushing spans at shutdown failed"),
            Err(err) => tracing::warn!(%err, "span flush task failed"),
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(err) = provider.shutdown() {
                tracing::warn!(%err, "flushing spans at shutdown failed");
            }
        }
    }
}

/// Installs the global subscriber; call once at the start of `main` (inside the tokio
/// runtime when an OTLP endpoint is set).
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let filter = match EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(_) => EnvFilter::try_new(&config.filter)?,
    };
    let logs = match config.format {
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer().json().boxed(),
    };
    // Spans always get OpenTelemetry ids so incoming trace context is continued and
    // propagated; they are exported only when an endpoint is configured.
    let provider = match &config.otlp_endpoint {
        Some(endpoint) => otlp_provider(&config.service_name, endpoint)?,
        None => SdkTracerProvider::builder().build(),
    };
    let spans =
        tracing_opentelemetry::layer().with_tracer(provider.tracer(config.service_name.clone()));
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(spans)
        .try_init()?;
    opentelemetry::global::set_text_map_propagator(propagation::w3c_propagator());
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(TelemetryGuard {
        provider: Some(provider),
        exports: config.otlp_endpoint.is_some(),
    })
}

fn otlp_provider(service_name: &str, endpoint: &str) -> Result<SdkTracerProvider, TelemetryError> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()?;
    let resource = Resource::builder()
        .with_service_name(service_name.to_string())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}
