//! nsqlookupd: the discovery service, embeddable in-process.
//!
//! nsqd instances connect over TCP (lookup protocol "V1", [`protocol_v1`]) and register
//! their topics and channels in the in-memory [`registry`]; consumers and operators use the
//! HTTP API ([`http`]) to find producers of a topic and to administer registrations.
//! Nothing is persisted, and lookupd instances never talk to each other.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use broker::lookupd::{Lookupd, LookupdOptions};
//!
//! let lookupd = Lookupd::start(LookupdOptions {
//!     tcp_address: "127.0.0.1:0".parse()?,
//!     http_address: "127.0.0.1:0".parse()?,
//!     ..LookupdOptions::default()
//! })
//! .await?;
//! println!("nsqd registers at {}, clients look up at http://{}/lookup?topic=t",
//!          lookupd.tcp_addr(), lookupd.http_addr());
//! lookupd.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod http;
pub mod peer_info;
pub mod protocol_v1;
pub mod registry;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use protocol_v1::ServerInfo;
use registry::Registry;

/// The version nsqlookupd reports (`/info`, IDENTIFY reply): the NSQ release we match.
pub const VERSION: &str = "1.3.0";

/// nsqlookupd's options; field names are Go's flag names in snake_case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupdOptions {
    /// `--tcp-address`: where nsqd instances register (default `0.0.0.0:4160`).
    pub tcp_address: SocketAddr,
    /// `--http-address`: the discovery/admin HTTP API (default `0.0.0.0:4161`).
    pub http_address: SocketAddr,
    /// `--broadcast-address`: the address this lookupd reports about itself in the
    /// IDENTIFY reply (default: the OS hostname). nsqd uses it to query `/channels`.
    pub broadcast_address: String,
    /// `--inactive-producer-timeout`: a producer silent (no PING) for longer is hidden
    /// from `/lookup` and `/nodes` (default 300 s).
    pub inactive_producer_timeout: Duration,
    /// `--tombstone-lifetime`: how long a tombstone hides a producer of a topic (45 s).
    pub tombstone_lifetime: Duration,
}

impl Default for LookupdOptions {
    /// Go nsqlookupd's defaults.
    fn default() -> Self {
        Self {
            tcp_address: SocketAddr::from(([0, 0, 0, 0], 4160)),
            http_address: SocketAddr::from(([0, 0, 0, 0], 4161)),
            broadcast_address: os_hostname(),
            inactive_producer_timeout: Duration::from_secs(300),
            tombstone_lifetime: Duration::from_secs(45),
        }
    }
}

/// Why a lookupd could not start.
#[derive(Debug, thiserror::Error)]
pub enum LookupdError {
    /// The TCP listener could not be bound.
    #[error("failed to listen on TCP address {address}: {source}")]
    BindTcp {
        /// The requested address.
        address: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The HTTP listener could not be bound.
    #[error("failed to listen on HTTP address {address}: {source}")]
    BindHttp {
        /// The requested address.
        address: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
}

/// A running nsqlookupd (TCP and HTTP listeners). Dropping it stops it without waiting;
/// [`Lookupd::shutdown`] stops it and waits.
#[derive(Debug)]
pub struct Lookupd {
    tcp_addr: SocketAddr,
    http_addr: SocketAddr,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Lookupd {
    /// Binds both listeners and starts serving.
    pub async fn start(options: LookupdOptions) -> Result<Self, LookupdError> {
        let tcp_listener = TcpListener::bind(options.tcp_address)
            .await
            .map_err(|source| LookupdError::BindTcp {
                address: options.tcp_address,
                source,
            })?;
        let http_listener = TcpListener::bind(options.http_address)
            .await
            .map_err(|source| LookupdError::BindHttp {
                address: options.http_address,
                source,
            })?;
        let tcp_addr = local_addr(&tcp_listener, options.tcp_address);
        let http_addr = local_addr(&http_listener, options.http_address);
        let server = Arc::new(ServerInfo {
            registry: Registry::new(
                options.inactive_producer_timeout,
                options.tombstone_lifetime,
            ),
            broadcast_address: options.broadcast_address.clone(),
            hostname: os_hostname(),
            tcp_port: tcp_addr.port(),
            http_port: http_addr.port(),
        });
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(accept_loop(
            tcp_listener,
            Arc::clone(&server),
            stop.clone(),
            tasks.clone(),
        ));
        tasks.spawn(serve_http(http_listener, server, stop.clone()));
        tracing::info!(tcp = %tcp_addr, http = %http_addr, "nsqlookupd listening");
        Ok(Self {
            tcp_addr,
            http_addr,
            stop,
            tasks,
        })
    }

    /// The bound TCP (registration) address.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Stops accepting, closes every connection and waits for all tasks. Idempotent.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Drop for Lookupd {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    server: Arc<ServerInfo>,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.cancelled() => return,
        };
        match accepted {
            Ok((stream, remote)) => {
                tracing::debug!(client = %remote, "lookup TCP connection");
                tasks.spawn(protocol_v1::serve_connection(
                    stream,
                    remote,
                    Arc::clone(&server),
                    stop.clone(),
                ));
            }
            Err(err) => {
                // Typically EMFILE: back off briefly instead of spinning.
                tracing::warn!(%err, "lookup TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_http(listener: TcpListener, server: Arc<ServerInfo>, stop: CancellationToken) {
    let app = http::router(server);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await;
    if let Err(err) = result {
        tracing::error!(%err, "lookupd HTTP server failed");
    }
}

fn local_addr(listener: &TcpListener, requested: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(requested)
}

/// The OS hostname (shared with nsqd so both report the same name).
fn os_hostname() -> String {
    crate::nsqd::host_name()
}
