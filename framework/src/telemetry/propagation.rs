//! W3C trace context and baggage propagation through message [`Headers`], `http` headers
//! and tonic metadata. Always uses the W3C propagators (not the global one), so propagation
//! works even when [`init`](super::init) was not called.

use crate::broker::Headers;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use std::sync::LazyLock;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

static PROPAGATOR: LazyLock<TextMapCompositePropagator> = LazyLock::new(w3c_propagator);

/// `traceparent`/`tracestate` plus `baggage`.
pub fn w3c_propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

struct HeadersInjector<'a>(&'a mut Headers);

impl Injector for HeadersInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value);
    }
}

struct HeadersExtractor<'a>(&'a Headers);

impl Extractor for HeadersExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().collect()
    }
}

/// Writes the trace context of `cx` into `headers`.
pub fn inject_context(cx: &opentelemetry::Context, headers: &mut Headers) {
    PROPAGATOR.inject_context(cx, &mut HeadersInjector(headers));
}

/// Writes the trace context of the current `tracing` span into `headers` (nothing when no
/// OpenTelemetry layer is installed or no span is active).
pub fn inject_current(headers: &mut Headers) {
    inject_context(&tracing::Span::current().context(), headers);
}

/// Reads a trace context from `headers` (an empty context when there is none).
pub fn extract_context(headers: &Headers) -> opentelemetry::Context {
    PROPAGATOR.extract(&HeadersExtractor(headers))
}

/// Copies `http` headers into [`Headers`] (values that are not visible ASCII are skipped).
pub fn headers_from_http(map: &http::HeaderMap) -> Headers {
    map.iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect()
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) else {
            return;
        };
        self.0.insert(key, value);
    }
}

struct MetadataExtractor<'a>(&'a MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|key| match key {
                tonic::metadata::KeyRef::Ascii(key) => Some(key.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// Writes the current span's trace context into outgoing gRPC metadata.
pub fn inject_current_metadata(metadata: &mut MetadataMap) {
    let cx = tracing::Span::current().context();
    PROPAGATOR.inject_context(&cx, &mut MetadataInjector(metadata));
}

/// Reads a trace context from incoming gRPC metadata.
pub fn extract_metadata(metadata: &MetadataMap) -> opentelemetry::Context {
    PROPAGATOR.extract(&MetadataExtractor(metadata))
}

/// A tonic client interceptor that propagates the current trace context:
/// `GreeterClient::with_interceptor(channel, TracePropagationInterceptor)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracePropagationInterceptor;

impl tonic::service::Interceptor for TracePropagationInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        inject_current_metadata(request.metadata_mut());
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn headers_round_trip_traceparent() {
        let headers: Headers = [("traceparent", TRACEPARENT)].into_iter().collect();
        let cx = extract_context(&headers);
        let span_context = cx.span().span_context().clone();
        assert_eq!(
            span_context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let mut out = Headers::new();
        inject_context(&cx, &mut out);
        assert_eq!(out.get("traceparent"), Some(TRACEPARENT));
    }

    #[test]
    fn metadata_round_trip_traceparent() {
        let mut metadata = MetadataMap::new();
        metadata.insert("traceparent", TRACEPARENT.parse().unwrap());
        let cx = extract_metadata(&metadata);
        assert!(cx.span().span_context().is_remote());
        let mut out = MetadataMap::new();
        PROPAGATOR.inject_context(&cx, &mut MetadataInjector(&mut out));
        assert_eq!(out.get("traceparent").unwrap(), TRACEPARENT);
    }

    #[test]
    fn no_trace_context_extracts_invalid_span() {
        let cx = extract_context(&Headers::new());
        assert!(!cx.span().span_context().is_valid());
    }
}
