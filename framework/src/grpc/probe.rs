//! The client side of the standard gRPC health service: what `grpc_health_probe` does, for
//! readiness scripts, tests, and one service waiting for another.

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
