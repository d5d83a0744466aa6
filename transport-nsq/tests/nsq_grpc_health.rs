//! An App running a gRPC server and an `NsqServer`: the gRPC health service reports the
//! NSQ consumers as service `nsq` (and in the overall status `""`): NOT_SERVING while they
//! have no nsqd connection, SERVING once connected, NOT_SERVING again when nsqd goes away.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, init_tracing, producer_for, start_lookupd, start_registered_nsqd};
use framework::broker::{handler_fn, Delivery};
use framework::grpc::{health_status, wait_for_health, GrpcConfig, GrpcServer, ServingStatus};
use framework::{App, SubscribeOptions};
use tokio::time::timeout;
use tonic::transport::Channel;
use transport_nsq::{NsqConfig, NsqServer};

const WAIT: Duration = Duration::from_secs(10);

async fn status(channel: &Channel, service: &str) -> ServingStatus {
    timeout(WAIT, health_status(channel, service))
        .await
        .unwrap()
        .unwrap()
}

async fn wait_status(channel: &Channel, service: &str, want: ServingStatus) {
    if let Err(err) = wait_for_health(channel, service, want, WAIT).await {
        panic!("{err}");
    }
}

#[tokio::test]
async fn grpc_health_follows_the_nsq_consumers_connection() {
    init_tracing();
    let lookupd = start_lookupd().await;

    let mut config = NsqConfig::lookupd([lookupd.http_addr().to_string()]);
    config.connect_timeout = "300ms".into();
    config.create_topics = false;
    for (name, value) in [
        ("lookupd_poll_interval", "100ms"),
        ("reconnect_min_delay", "20ms"),
        ("reconnect_max_delay", "200ms"),
        ("close_timeout", "1s"),
    ] {
        config = config.client_option(name, value);
    }

    let handled = Arc::new(AtomicUsize::new(0));
    let counter = handled.clone();
    let nsq = NsqServer::new(&config).handle(
        "health.t",
        SubscribeOptions::new("c"),
        handler_fn(move |_d: Delivery| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }),
    );
    let grpc = Arc::new(
        GrpcServer::new(GrpcConfig {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..GrpcConfig::default()
        })
        .health_interval(Duration::from_millis(20))
        .health_check("nsq", nsq.health_check()),
    );
    let app = App::builder()
        .name("health-app")
        .signals([])
        .shared_server(grpc.clone())
        .server(nsq)
        .build()
        .await
        .unwrap();
    let stop = app.stop_handle();
    let running = tokio::spawn(app.run());

    eventually(WAIT, || grpc.local_addr().is_some()).await;
    let addr = grpc.local_addr().unwrap();
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    // No nsqd has the topic yet: the consumer has no connection.
    wait_status(&channel, "nsq", ServingStatus::NotServing).await;
    assert_eq!(status(&channel, "").await, ServingStatus::NotServing);

    // An nsqd with the topic registers with lookupd; the next poll connects the consumer.
    let nsqd = start_registered_nsqd(&lookupd).await;
    let producer = producer_for(&nsqd);
    producer.publish("health.t", "hello").await.unwrap();
    wait_status(&channel, "nsq", ServingStatus::Serving).await;
    wait_status(&channel, "", ServingStatus::Serving).await;
    eventually(WAIT, || handled.load(Ordering::SeqCst) == 1).await;

    // nsqd goes away: the consumer loses its only connection.
    producer.stop().await;
    nsqd.shutdown().await;
    wait_status(&channel, "nsq", ServingStatus::NotServing).await;
    assert_eq!(status(&channel, "").await, ServingStatus::NotServing);

    stop.stop();
    timeout(WAIT, running).await.unwrap().unwrap().unwrap();
    lookupd.shutdown().await;
}
