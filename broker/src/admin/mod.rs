//! nsqadmin: a web UI and JSON API over the cluster's lookupd and nsqd HTTP APIs, with Go
//! nsqadmin's page URLs (`/`, `/topics/:topic`, `/topics/:topic/:channel`, `/nodes`,
//! `/nodes/:node`, `/counter`, `/lookup`) and `/api/...` paths.
//!
//! The UI is a small static app embedded in the binary (no CDN); it polls the JSON API to
//! refresh live. nsqadmin keeps no state of its own: every request reads the cluster.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use broker::admin::{Admin, AdminOptions};
//!
//! let admin = Admin::start(AdminOptions {
//!     http_address: "127.0.0.1:0".parse()?,
//!     lookupd_http_addresses: vec!["127.0.0.1:4161".into()],
//!     ..AdminOptions::default()
//! })
//! .await?;
//! println!("open http://{}/", admin.http_addr());
//! admin.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod api;
pub mod cluster;
mod http;
pub mod model;
mod pages;
pub mod stats;
pub mod upstream;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The version nsqadmin reports: the NSQ release we match.
pub const VERSION: &str = "1.3.0";

/// nsqadmin's options; field names are Go's flag names in snake_case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminOptions {
    /// `--http-address` (default `0.0.0.0:4171`).
    pub http_address: SocketAddr,
    /// `--lookupd-http-address` (repeatable): read the cluster from these lookupds.
    pub lookupd_http_addresses: Vec<String>,
    /// `--nsqd-http-address` (repeatable): or read it from these nsqds directly.
    pub nsqd_http_addresses: Vec<String>,
    /// `--base-path`: URL prefix nsqadmin is served under (default `/`).
    pub base_path: String,
    /// `--http-client-connect-timeout` for upstream calls (default 2 s).
    pub http_client_connect_timeout: Duration,
    /// `--http-client-request-timeout` for upstream calls (default 5 s).
    pub http_client_request_timeout: Duration,
    /// `--notification-http-endpoint`: admin actions are POSTed here as JSON.
    pub notification_http_endpoint: Option<String>,
    /// `--acl-http-header`: the header naming the user (default `X-Forwarded-User`).
    pub acl_http_header: String,
    /// `--admin-user` (repeatable): when set, only these users may act.
    pub admin_users: Vec<String>,
    /// `--allow-config-from-cidr`: who may use `/config` (default `127.0.0.1/8`).
    pub allow_config_from_cidr: String,
}

impl Default for AdminOptions {
    /// Go nsqadmin's defaults (no upstream addresses: one kind must be given).
    fn default() -> Self {
        Self {
            http_address: SocketAddr::from(([0, 0, 0, 0], 4171)),
            lookupd_http_addresses: Vec::new(),
            nsqd_http_addresses: Vec::new(),
            base_path: "/".into(),
            http_client_connect_timeout: Duration::from_secs(2),
            http_client_request_timeout: Duration::from_secs(5),
            notification_http_endpoint: None,
            acl_http_header: "X-Forwarded-User".into(),
            admin_users: Vec::new(),
            allow_config_from_cidr: "127.0.0.1/8".into(),
        }
    }
}

/// Why nsqadmin could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The options contradict each other (Go nsqadmin refuses these too).
    #[error("invalid options: {0}")]
    InvalidOptions(&'static str),
    /// The HTTP client could not be built.
    #[error("failed to build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// The listener could not be bound.
    #[error("failed to listen on HTTP address {address}: {source}")]
    Bind {
        /// The requested address.
        address: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
}

/// A running nsqadmin. Dropping it stops it without waiting; [`Admin::shutdown`] waits.
#[derive(Debug)]
pub struct Admin {
    http_addr: SocketAddr,
    base_path: String,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Admin {
    /// Validates the options, binds the listener and starts serving.
    pub async fn start(options: AdminOptions) -> Result<Self, AdminError> {
        validate(&options)?;
        let base_path = normalize_base_path(&options.base_path);
        let upstream = upstream::Upstream::new(
            options.http_client_connect_timeout,
            options.http_client_request_timeout,
        )?;
        let listener = TcpListener::bind(options.http_address)
            .await
            .map_err(|source| AdminError::Bind {
                address: options.http_address,
                source,
            })?;
        let http_addr = listener.local_addr().unwrap_or(options.http_address);
        let state = Arc::new(http::AdminState::new(
            cluster::Cluster::new(upstream),
            AdminOptions {
                base_path: base_path.clone(),
                ..options
            },
        ));
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(http::serve(listener, state, stop.clone()));
        tracing::info!(http = %http_addr, "nsqadmin listening");
        Ok(Self {
            http_addr,
            base_path,
            stop,
            tasks,
        })
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The UI's root URL, e.g. `http://127.0.0.1:4171/`.
    pub fn url(&self) -> String {
        format!("http://{}{}/", self.http_addr, self.base_path)
    }

    /// Stops serving and waits for the server task. Idempotent.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn validate(options: &AdminOptions) -> Result<(), AdminError> {
    let lookupds = !options.lookupd_http_addresses.is_empty();
    let nsqds = !options.nsqd_http_addresses.is_empty();
    match (lookupds, nsqds) {
        (false, false) => Err(AdminError::InvalidOptions(
            "--nsqd-http-address or --lookupd-http-address required",
        )),
        (true, true) => Err(AdminError::InvalidOptions(
            "use --nsqd-http-address or --lookupd-http-address not both",
        )),
        _ => Ok(()),
    }
}

/// `/`, `` → `` (served at the root); `admin/` → `/admin`.
fn normalize_base_path(base_path: &str) -> String {
    let trimmed = base_path.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_normalize() {
        assert_eq!(normalize_base_path("/"), "");
        assert_eq!(normalize_base_path(""), "");
        assert_eq!(normalize_base_path("admin/"), "/admin");
        assert_eq!(normalize_base_path("/a/b/"), "/a/b");
    }

    #[test]
    fn exactly_one_kind_of_upstream() {
        assert!(validate(&AdminOptions::default()).is_err());
        let both = AdminOptions {
            lookupd_http_addresses: vec!["a:1".into()],
            nsqd_http_addresses: vec!["b:2".into()],
            ..AdminOptions::default()
        };
        assert!(validate(&both).is_err());
        let one = AdminOptions {
            nsqd_http_addresses: vec!["b:2".into()],
            ..AdminOptions::default()
        };
        assert!(validate(&one).is_ok());
    }
}
