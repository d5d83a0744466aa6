//! The gRPC server: port 0, health, reflection, middleware (context, recovery, metrics,
//! trace propagation through metadata), TLS, graceful stop.

mod support;

use framework::grpc::{GrpcConfig, GrpcServer, TlsConfig};
use framework::middleware::Metrics;
use framework::{App, AppInfo, Context, Server};
use futures::future::BoxFuture;
use opentelemetry::trace::TraceContextExt;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
use support::grpc::{connect, stop};
use tokio::time::timeout;
use tonic::body::BoxBody;
use tonic::codec::ProstCodec;
use tonic::server::{NamedService, UnaryService};
use tonic::transport::{Channel, ClientTlsConfig};
use tonic_health::pb::health_check_response::ServingStatus;
use tracing_opentelemetry::OpenTelemetrySpanExt;

#[derive(Clone, PartialEq, prost::Message)]
struct Echo {
    #[prost(string, tag = "1")]
    text: String,
}

/// A hand-written tonic service (no codegen needed): `/test.Probe/<Method>`.
#[derive(Clone)]
struct Probe;

impl NamedService for Probe {
    const NAME: &'static str = "test.Probe";
}

struct Method(String);

impl UnaryService<Echo> for Method {
    type Response = Echo;
    type Future = BoxFuture<'static, Result<tonic::Response<Echo>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<Echo>) -> Self::Future {
        let method = self.0.clone();
        Box::pin(async move {
            match method.as_str() {
                "/test.Probe/Panic" => panic!("probe exploded"),
                "/test.Probe/Fail" => Err(tonic::Status::invalid_argument("bad")),
                "/test.Probe/Slow" => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok(tonic::Response::new(request.into_inner()))
                }
                _ => {
                    let ctx =
                        Context::current().ok_or_else(|| tonic::Status::internal("no context"))?;
                    let trace_id = tracing::Span::current()
                        .context()
                        .span()
                        .span_context()
                        .trace_id();
                    let app = ctx.app().map(AppInfo::name).unwrap_or("none").to_string();
                    let text = format!("{} {} {} {}", ctx.kind(), ctx.operation(), app, trace_id);
                    Ok(tonic::Response::new(Echo { text }))
                }
            }
        })
    }
}

impl tower::Service<http::Request<BoxBody>> for Probe {
    type Response = http::Response<BoxBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<BoxBody>) -> Self::Future {
        let method = Method(req.uri().path().to_string());
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Echo, Echo>::default());
            Ok(grpc.unary(method, req).await)
        })
    }
}

async fn call(
    channel: Channel,
    method: &'static str,
    metadata: &[(&'static str, &str)],
) -> Result<Echo, tonic::Status> {
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(Echo { text: "hi".into() });
    for (key, value) in metadata {
        request.metadata_mut().insert(*key, value.parse().unwrap());
    }
    let path = http::uri::PathAndQuery::from_static(method);
    client
        .unary(request, path, ProstCodec::<Echo, Echo>::default())
        .await
        .map(tonic::Response::into_inner)
}

/// One global subscriber with an OpenTelemetry layer, installed before any test creates a
/// span (thread-local subscribers race with other tests on tracing's callsite cache).
fn init_tracing() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "test");
        let subscriber = tracing_subscriber::layer::SubscriberExt::with(
            tracing_subscriber::registry(),
            tracing_opentelemetry::layer().with_tracer(tracer),
        );
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

fn loopback() -> GrpcConfig {
    init_tracing();
    support::grpc::loopback()
}

async fn started(server: GrpcServer) -> (Arc<GrpcServer>, Channel) {
    support::grpc::started(server, "probe-app").await
}

/// The probe service behind the default middleware, recording into `metrics`.
fn probe_with_metrics(metrics: &Metrics) -> GrpcServer {
    GrpcServer::new(loopback())
        .metrics(metrics.clone())
        .add_service(Probe)
}

#[tokio::test]
async fn serves_health_and_context_with_app_info_and_metadata_trace_context() {
    let metrics = Metrics::new();
    let (server, channel) = started(probe_with_metrics(&metrics)).await;

    let health = framework::grpc::health_status(&channel, "").await.unwrap();
    assert_eq!(health, ServingStatus::Serving);

    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let reply = call(
        channel.clone(),
        "/test.Probe/Context",
        &[("traceparent", traceparent)],
    )
    .await
    .unwrap();
    assert_eq!(
        reply.text,
        "grpc /test.Probe/Context probe-app 4bf92f3577b34da6a3ce929d0e0e4736"
    );

    let failed = call(channel.clone(), "/test.Probe/Fail", &[])
        .await
        .unwrap_err();
    assert_eq!(failed.code(), tonic::Code::InvalidArgument);
    assert_eq!(metrics.requests("grpc", "/test.Probe/Context"), 1);
    assert_eq!(metrics.errors("grpc", "/test.Probe/Context"), 0);
    assert_eq!(metrics.errors("grpc", "/test.Probe/Fail"), 1);
    assert_eq!(metrics.in_flight("grpc", "/test.Probe/Context"), 0);
    let exposition = metrics.encode();
    assert!(exposition.contains("framework_request_duration_seconds_count{kind=\"grpc\",operation=\"/test.Probe/Context\"} 1"), "{exposition}");

    stop(&server).await;
}

#[tokio::test]
async fn a_panicking_method_becomes_internal_and_the_server_keeps_serving() {
    let metrics = Metrics::new();
    let (server, channel) = started(probe_with_metrics(&metrics)).await;
    let status = call(channel.clone(), "/test.Probe/Panic", &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Internal);
    assert!(
        status.message().contains("probe exploded"),
        "{}",
        status.message()
    );
    assert_eq!(metrics.errors("grpc", "/test.Probe/Panic"), 1);
    let reply = call(channel, "/test.Probe/Context", &[]).await.unwrap();
    assert!(reply.text.starts_with("grpc /test.Probe/Context"));
    stop(&server).await;
}

#[tokio::test]
async fn timeout_maps_to_deadline_exceeded() {
    let config = GrpcConfig {
        timeout: Some(Duration::from_millis(50)),
        ..loopback()
    };
    let (server, channel) = started(GrpcServer::new(config).add_service(Probe)).await;
    let status = call(channel, "/test.Probe/Slow", &[]).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
    stop(&server).await;
}

#[tokio::test]
async fn reflection_lists_registered_services() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let (server, channel) = started(GrpcServer::new(loopback())).await;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(futures::stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    stop(&server).await;
}

#[tokio::test]
async fn tls_serves_clients_that_trust_the_certificate() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let config = GrpcConfig {
        tls: Some(TlsConfig {
            cert_file: data.join("test-cert.pem"),
            key_file: data.join("test-key.pem"),
            client_ca_file: None,
        }),
        ..loopback()
    };
    let server = Arc::new(GrpcServer::new(config).add_service(Probe));
    server
        .start(&AppInfo::new("i", "tls-app", "1", Default::default()))
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    assert_eq!(
        server.endpoint().unwrap().as_str(),
        format!("grpcs://{addr}")
    );
    let ca =
        tonic::transport::Certificate::from_pem(std::fs::read(data.join("test-cert.pem")).unwrap());
    let tls = ClientTlsConfig::new()
        .ca_certificate(ca)
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let reply = call(channel, "/test.Probe/Context", &[]).await.unwrap();
    assert!(reply.text.contains("tls-app"), "{}", reply.text);
    stop(&server).await;
}

#[tokio::test]
async fn app_runs_the_grpc_server_and_stops_it_gracefully() {
    let server = Arc::new(GrpcServer::new(loopback()).add_service(Probe));
    let app = App::builder()
        .name("grpc-app")
        .signals([])
        .shared_server(server.clone())
        .build()
        .await
        .unwrap();
    let stop = app.stop_handle();
    let info = app.info().clone();
    let running = tokio::spawn(app.run());
    let addr = timeout(Duration::from_secs(5), async {
        loop {
            if let Some(addr) = server.local_addr() {
                return addr;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let channel = connect(addr).await;
    // A slow call in flight when the stop arrives still completes.
    let slow = tokio::spawn(call(channel.clone(), "/test.Probe/Slow", &[]));
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.stop();
    assert_eq!(slow.await.unwrap().unwrap().text, "hi");
    timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(info.endpoints()[0].as_str(), format!("grpc://{addr}"));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening after stop"
    );
}
