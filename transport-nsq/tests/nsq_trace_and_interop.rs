//! Across NSQ, through the embedded nsqd: a trace started at publish is the parent of the
//! consumer span; a plain producer (pynsq, no envelope) reaches a raw-bytes subscriber.

mod common;
#[path = "../../broker/tests/interop/mod.rs"]
mod interop;

use std::sync::Arc;
use std::time::Duration;

use framework::subscriber::{Inject, Subscriber};
use framework::{subscriber, AppInfo, Broker, Message, PublishOptions, Server};
use opentelemetry::trace::{SpanKind, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use parking_lot::Mutex;
use tokio::time::Instant;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use transport_nsq::{NsqConfig, NsqServer};

use common::{connected_broker, container_with, nsq_config, settle, start_nsqd};

const WAIT: Duration = Duration::from_secs(10);

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

/// (trace id seen in the handler, body, headers empty?)
#[derive(Default)]
struct Received(Mutex<Vec<(TraceId, Vec<u8>, bool)>>);

#[subscriber(topic = "audit", channel = "store", codec = "raw")]
async fn store_audit(
    message: Message,
    received: Inject<Received>,
) -> Result<(), std::convert::Infallible> {
    let trace = tracing::Span::current()
        .context()
        .span()
        .span_context()
        .trace_id();
    received
        .0
        .lock()
        .push((trace, message.body.to_vec(), message.headers.is_empty()));
    Ok(())
}

#[subscriber(topic = "legacy", channel = "bytes", codec = "raw")]
async fn legacy_bytes(
    body: bytes::Bytes,
    received: Inject<Received>,
) -> Result<(), std::convert::Infallible> {
    received
        .0
        .lock()
        .push((TraceId::INVALID, body.to_vec(), true));
    Ok(())
}

fn app() -> AppInfo {
    AppInfo::new("trace-1", "nsq-trace-test", "0.0.0", Default::default())
}

/// A started server running `subscriber` with a shared [`Received`] to record into.
async fn started_server(
    config: &NsqConfig,
    subscriber: impl Subscriber,
) -> (NsqServer, Arc<Received>) {
    let (container, received) = container_with(Received::default()).await;
    let server = NsqServer::new(config)
        .container(&container)
        .subscribe(subscriber);
    server.start(&app()).await.unwrap();
    (server, received)
}

#[tokio::test(flavor = "current_thread")]
async fn trace_started_at_publish_is_the_parent_of_the_consumer_span() {
    let exporter = InMemoryExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _default = tracing::subscriber::set_default(subscriber);

    let nsqd = start_nsqd().await;
    let config = nsq_config(&nsqd);
    let (server, received) = started_server(&config, store_audit).await;
    let broker = connected_broker(&config).await;

    let publish_span = tracing::info_span!("create_order");
    let publish_context = publish_span.context().span().span_context().clone();
    assert!(publish_context.is_valid());
    broker
        .publish(
            "audit",
            Message::new("order o-1 created"),
            PublishOptions::default(),
        )
        .instrument(publish_span.clone())
        .await
        .unwrap();
    drop(publish_span);
    settle(WAIT, || !received.0.lock().is_empty()).await;
    server.stop(Instant::now() + WAIT).await.unwrap();
    provider.force_flush().unwrap();

    let (trace_in_handler, body, _) = received.0.lock()[0].clone();
    assert_eq!(body, b"order o-1 created");
    assert_eq!(trace_in_handler, publish_context.trace_id());
    let spans = exporter.spans.lock().clone();
    let consumer = spans
        .iter()
        .find(|span| span.name == "audit/store")
        .unwrap_or_else(|| {
            panic!(
                "no consumer span in {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(consumer.span_context.trace_id(), publish_context.trace_id());
    assert_eq!(consumer.parent_span_id, publish_context.span_id());
    assert_eq!(consumer.span_kind, SpanKind::Consumer);
    broker.disconnect().await.unwrap();
    nsqd.shutdown().await;
}

#[tokio::test]
async fn plain_pynsq_producer_reaches_a_raw_bytes_subscriber() {
    let Some(python) = interop::python() else {
        return;
    };
    let nsqd = start_nsqd().await;
    let config = nsq_config(&nsqd);
    let (server, received) = started_server(&config, legacy_bytes).await;

    // Bytes that are not an envelope, including a zero byte and invalid UTF-8.
    let bodies: Vec<Vec<u8>> = vec![b"hello from pynsq".to_vec(), vec![0x00, 0xff, 0x10, b'x']];
    let hex: Vec<String> = bodies
        .iter()
        .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
        .collect();
    let mut args = vec![
        "--nsqd".to_string(),
        nsqd.tcp_addr().to_string(),
        "--topic".into(),
        "legacy".into(),
        "--mode".into(),
        "mpub".into(),
    ];
    args.extend(hex);
    let run = interop::run_python(&python, "pynsq_writer.py", &args).await;
    run.ok_json();
    settle(WAIT, || received.0.lock().len() >= 2).await;
    let mut got: Vec<Vec<u8>> = received.0.lock().iter().map(|r| r.1.clone()).collect();
    got.sort();
    let mut want = bodies;
    want.sort();
    assert_eq!(got, want);
    server.stop(Instant::now() + WAIT).await.unwrap();
    nsqd.shutdown().await;
}
