//! The client side of the standard gRPC health service: what `grpc_health_probe` does, for
//! readiness scripts, tests, and one service waiting for another.

use std::time::Duration;

use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

pub use tonic_health::pb::health_check_response::ServingStatus;

/// Asks the health service behind `channel` for the status of `service` (`""`: the whole
/// server). An unknown service is an error with code `NOT_FOUND`, as the protocol says.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use framework::grpc::{health_status, ServingStatus};
///
/// let channel = tonic::transport::Channel::from_static("http://127.0.0.1:9000").connect().await?;
/// if health_status(&channel, "").await? == ServingStatus::Serving {
///     println!("ready");
/// }
/// # Ok(()) }
/// ```
pub async fn health_status(
    channel: &Channel,
    service: &str,
) -> Result<ServingStatus, tonic::Status> {
    let reply = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?
        .into_inner();
    ServingStatus::try_from(reply.status)
        .map_err(|_| tonic::Status::unknown(format!("unknown serving status {}", reply.status)))
}

/// [`wait_for_health`] gave up.
#[derive(Debug, thiserror::Error)]
#[error("health of {service:?} did not become {want:?} within {within:?} (last seen: {last})")]
pub struct HealthWaitTimeout {
    pub service: String,
    pub want: ServingStatus,
    pub within: Duration,
    /// The last status or error the health service gave.
    pub last: String,
}

/// Polls [`health_status`] until `service` reports `want`, for at most `within` (one service
/// waiting for another to become ready, or a test waiting for a state change).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use framework::grpc::{wait_for_health, ServingStatus};
///
/// let channel = tonic::transport::Channel::from_static("http://127.0.0.1:9000").connect().await?;
/// wait_for_health(&channel, "", ServingStatus::Serving, Duration::from_secs(30)).await?;
/// # Ok(()) }
/// ```
pub async fn wait_for_health(
    channel: &Channel,
    service: &str,
    want: ServingStatus,
    within: Duration,
) -> Result<(), HealthWaitTimeout> {
    const POLL: Duration = Duration::from_millis(10);
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last = match tokio::time::timeout_at(deadline, health_status(channel, service)).await {
            Ok(Ok(status)) if status == want => return Ok(()),
            Ok(Ok(status)) => format!("{status:?}"),
            Ok(Err(err)) => err.to_string(),
            Err(_) => "no answer".to_owned(),
        };
        if tokio::time::Instant::now() + POLL > deadline {
            return Err(HealthWaitTimeout {
                service: service.to_owned(),
                want,
                within,
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}
