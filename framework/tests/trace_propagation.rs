//! A trace started at publish continues in the subscriber's span: the traceparent rides in
//! the message headers through the envelope, and the tracing middleware parents the
//! consumer span on it. Spans are captured with an in-memory exporter.

mod support;

use framework::broker::{handler_fn, Delivery, HandlerStack, MemoryBroker};
use framework::middleware::TracingLayer;
use framework::{Broker, Message, PublishOptions, SubscribeOptions};
use opentelemetry::trace::{SpanKind, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use parking_lot::Mutex;
use std::sync::Arc;
use support::broker::{settle, subscribe};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// Keeps every exported span in memory.
#[derive(Clone, Debug, Default)]
struct InMemoryExporter {
    spans: Arc<Mutex<Vec<SpanData>>>,
}

impl SpanExporter for InMemoryExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.spans.lock().extend(batch);
        futures::future::ready(Ok(()))
    }
}

#[tokio::test]
async fn trace_id_set_on_publish_arrives_in_the_handler_span() {
    let exporter = InMemoryExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _default = tracing::subscriber::set_default(subscriber);

    let broker = MemoryBroker::with_middleware(HandlerStack::new().layer(TracingLayer::new()));
    broker.connect().await.unwrap();
    let seen_in_handler: Arc<Mutex<Option<TraceId>>> = Arc::default();
    let seen = seen_in_handler.clone();
    let handler = handler_fn(move |_d: Delivery| {
        let seen = seen.clone();
        async move {
            let cx = tracing::Span::current().context();
            *seen.lock() = Some(cx.span().span_context().trace_id());
            Ok(())
        }
    });
    subscribe(&broker, "orders", SubscribeOptions::new("email"), handler).await;

    let publish_span = tracing::info_span!("create_order");
    let publish_context = publish_span.context().span().span_context().clone();
    assert!(publish_context.is_valid());
    broker
        .publish("orders", Message::new("o-1"), PublishOptions::default())
        .instrument(publish_span.clone())
        .await
        .unwrap();
    drop(publish_span);
    settle(&broker).await;
    provider.force_flush().unwrap();

    assert_eq!(*seen_in_handler.lock(), Some(publish_context.trace_id()));
    let spans = exporter.spans.lock();
    let consumer = spans
        .iter()
        .find(|span| span.name == "orders/email")
        .unwrap_or_else(|| {
            panic!(
                "no consumer span in {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(consumer.span_context.trace_id(), publish_context.trace_id());
    assert_eq!(consumer.parent_span_id, publish_context.span_id());
    assert_eq!(consumer.span_kind, SpanKind::Consumer);
    assert!(spans.iter().any(|span| span.name == "create_order"));
}
