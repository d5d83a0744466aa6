//! Health checks of other parts of a service, reported by the gRPC health service: the part
//! by its name, and the overall status `""` only SERVING while every check passes.

mod support;

use framework::grpc::{health_status, wait_for_health, GrpcServer, ServingStatus};
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::grpc::{loopback, stop};
use tokio::time::timeout;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const WAIT: Duration = Duration::from_secs(5);

async fn status(channel: &Channel, service: &str) -> ServingStatus {
    timeout(WAIT, health_status(channel, service))
        .await
        .unwrap()
        .unwrap()
}

async fn eventually(channel: &Channel, service: &str, want: ServingStatus) {
    if let Err(err) = wait_for_health(channel, service, want, WAIT).await {
        panic!("{err}");
    }
}

async fn started(server: GrpcServer) -> (Arc<GrpcServer>, Channel) {
    support::grpc::started(server, "health-app").await
}

#[tokio::test]
async fn a_failing_check_is_not_serving_and_holds_the_overall_status_down() {
    let consumers_up = Arc::new(AtomicBool::new(false));
    let flag = consumers_up.clone();
    let server = GrpcServer::new(loopback())
        .health_interval(Duration::from_millis(20))
        .health_check("nsq", move || flag.load(Ordering::Relaxed))
        .health_check("cache", || true);
    let (server, channel) = started(server).await;

    // Reported before `start` returned, not only after the first interval.
    assert_eq!(status(&channel, "nsq").await, ServingStatus::NotServing);
    assert_eq!(status(&channel, "").await, ServingStatus::NotServing);
    assert_eq!(status(&channel, "cache").await, ServingStatus::Serving);

    let mut watch = HealthClient::new(channel.clone())
        .watch(HealthCheckRequest {
            service: "nsq".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = timeout(WAIT, watch.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::NotServing as i32);

    consumers_up.store(true, Ordering::Relaxed);
    let next = timeout(WAIT, watch.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(next.status, ServingStatus::Serving as i32);
    eventually(&channel, "", ServingStatus::Serving).await;

    // Losing the part takes the overall status down again.
    consumers_up.store(false, Ordering::Relaxed);
    eventually(&channel, "nsq", ServingStatus::NotServing).await;
    assert_eq!(status(&channel, "").await, ServingStatus::NotServing);
    assert_eq!(status(&channel, "cache").await, ServingStatus::Serving);

    // An open Watch stream would hold the graceful stop until its deadline.
    drop(watch);
    stop(&server).await;
}

#[tokio::test]
async fn without_checks_the_overall_status_is_serving() {
    let (server, channel) = started(GrpcServer::new(loopback())).await;
    assert_eq!(status(&channel, "").await, ServingStatus::Serving);
    stop(&server).await;
}
