//! A gRPC server in tests: bound to a free loopback port, started, connected, stopped.

use framework::grpc::{GrpcConfig, GrpcServer};
use framework::{AppInfo, Server};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tonic::transport::Channel;

/// Settings that bind 127.0.0.1 on a free port.
pub fn loopback() -> GrpcConfig {
    GrpcConfig {
        address: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..GrpcConfig::default()
    }
}

/// A plaintext channel to `addr`.
pub async fn connect(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Starts `server` for the app named `app_name` and connects to the port it bound.
pub async fn started(server: GrpcServer, app_name: &str) -> (Arc<GrpcServer>, Channel) {
    let server = Arc::new(server);
    let info = AppInfo::new("id-1", app_name, "1.0", Default::default());
    server.start(&info).await.unwrap();
    let addr = server.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    (server, connect(addr).await)
}

/// Stops `server` gracefully, with 5 s to drain.
pub async fn stop(server: &GrpcServer) {
    server
        .stop(Instant::now() + Duration::from_secs(5))
        .await
        .unwrap();
}
