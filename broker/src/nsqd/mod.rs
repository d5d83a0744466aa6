//! nsqd: topics, channels, the TCP protocol V2 and the HTTP API, embeddable in-process.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use broker::nsqd::{Nsqd, NsqdOptions};
//! let nsqd = Nsqd::start(NsqdOptions {
//!     tcp_address: "127.0.0.1:0".parse()?,
//!     http_address: "127.0.0.1:0".parse()?,
//!     ..NsqdOptions::default()
//! })
//! .await?;
//! println!("nsqd on {} (http {})", nsqd.tcp_addr(), nsqd.http_addr());
//! nsqd.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Layout (mirrors Go nsqd): [`context`] shared state and engine operations, [`topic`],
//! [`channel`], `inflight` (timer structures), [`queue`] (memory queue), [`backend`] (disk seam),
//! `connection` + `protocol_v2` + `identify` (TCP protocol V2), [`http`], [`stats`],
//! [`events`].

pub mod backend;
pub mod channel;
pub mod client;
pub mod context;
pub mod e2e_latency;
pub mod errors;
pub mod events;
pub mod health;
pub mod http;
pub mod queue;
pub mod stats;
pub mod topic;

pub mod cli;
mod connection;
pub mod disk_backend;
mod guid;
mod identify;
mod inflight;
pub mod lookup;
mod lookup_peer;
pub mod metadata;
mod options;
pub mod persist;
mod protocol_v2;
mod statsd;
mod tcp;
// security
mod auth;
mod https;
mod security;
pub mod tls;
mod transport;
mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

pub use backend::{BackendError, BackendFactory, BackendQueue};
pub use context::{EngineError, NsqdContext};
pub use events::NsqdEvent;
pub use inflight::InFlightError;
pub use options::{
    default_node_id, host_name, NsqdOptions, TlsRequired, DEFAULT_OUTPUT_BUFFER_SIZE, VERSION,
};

/// How long shutdown waits for connections and the HTTP server to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why an nsqd could not start.
#[derive(Debug, thiserror::Error)]
pub enum NsqdError {
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("failed to listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Metadata(#[from] metadata::MetadataError),
}

/// A running nsqd. Dropping it stops the listeners and connections (without waiting);
/// [`Nsqd::shutdown`] stops gracefully and waits.
pub struct Nsqd {
    ctx: NsqdContext,
    tracker: TaskTracker,
    tasks: tokio::sync::Mutex<Option<Vec<JoinHandle<()>>>>,
    persistence: parking_lot::Mutex<Option<persist::Persistence>>,
    https_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for Nsqd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nsqd")
            .field("tcp_addr", &self.tcp_addr())
            .field("http_addr", &self.http_addr())
            .finish()
    }
}

impl Nsqd {
    /// Binds the TCP and HTTP listeners and starts serving. With a non-empty `data_path`
    /// topics and channels overflow to go-diskqueue files there and `nsqd.dat` is restored
    /// and kept up to date (see `docs/persistence.md`); with an empty one queues are
    /// in memory only.
    pub async fn start(opts: NsqdOptions) -> Result<Nsqd, NsqdError> {
        Nsqd::start_with_backend(opts, None).await
    }

    /// Like [`Nsqd::start`], with a factory for the topic/channel backend queues.
    pub async fn start_with_backend(
        opts: NsqdOptions,
        backends: Option<Arc<dyn BackendFactory>>,
    ) -> Result<Nsqd, NsqdError> {
        validate(&opts)?;
        let security = Arc::new(security::Security::new(&opts)?);
        let health = Arc::new(health::Health::default());
        let (mut persistence, backends) = match backends {
            Some(backends) => (None, Some(backends)),
            None => match persist::Persistence::open(&opts, health.clone())? {
                Some((persistence, backends)) => (Some(persistence), Some(backends)),
                None => (None, None),
            },
        };
        let tcp = bind(opts.tcp_address).await?;
        let http = bind(opts.http_address).await?;
        let https = match &security.tls {
            Some(_) => Some(bind(opts.https_address).await?),
            None => None,
        };
        let https_addr = https.as_ref().map(|l| l.local_addr()).transpose()?;
        let plain_tls_required = opts.tls_required == TlsRequired::Yes;
        let (tcp_addr, http_addr) = (tcp.local_addr()?, http.local_addr()?);
        let ctx = NsqdContext::new(opts, tcp_addr, http_addr, backends, health);
        if let Some(persistence) = &mut persistence {
            persistence.restore(&ctx)?;
        }
        let tracker = TaskTracker::new();
        let accept = tokio::spawn(tcp::accept_loop(
            ctx.clone(),
            tcp,
            tracker.clone(),
            security.clone(),
        ));
        let shutdown = ctx.shutdown_token().clone();
        let router = http::router(ctx.clone());
        let mut tasks = Vec::new();
        if let (Some(listener), Some(acceptor)) = (https, security.tls.clone()) {
            let shutdown = shutdown.clone();
            tasks.push(tokio::spawn(https::serve(
                listener,
                acceptor,
                router.clone(),
                shutdown,
            )));
        }
        let router = match https_addr {
            Some(addr) if plain_tls_required => https::tls_required(addr.port()),
            _ => router,
        };
        let http_task = tokio::spawn(async move {
            let server =
                axum::serve(http, router).with_graceful_shutdown(shutdown.cancelled_owned());
            if let Err(err) = server.await {
                tracing::error!(%err, "HTTP server failed");
            }
        });
        ctx.set_lookup(lookup::start_for_nsqd(&ctx, &tracker));
        statsd::spawn(&ctx);
        tracing::info!(tcp = %ctx.tcp_addr(), http = %ctx.http_addr(), version = VERSION, "nsqd started");
        Ok(Nsqd {
            ctx,
            tracker,
            tasks: tokio::sync::Mutex::new(Some({
                tasks.extend([accept, http_task]);
                tasks
            })),
            https_addr,
            persistence: parking_lot::Mutex::new(persistence),
        })
    }

    /// The bound HTTPS address (when a TLS cert and key are configured).
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    /// The bound TCP address.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.ctx.tcp_addr()
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.ctx.http_addr()
    }

    /// The shared state and engine operations.
    pub fn context(&self) -> &NsqdContext {
        &self.ctx
    }

    /// Stops accepting, closes every client connection, then closes every topic and
    /// channel (flushing to their backends). Idempotent; concurrent callers all wait.
    pub async fn shutdown(&self) {
        let mut tasks = self.tasks.lock().await;
        let Some(handles) = tasks.take() else {
            return;
        };
        tracing::info!("nsqd: shutting down");
        self.ctx.shutdown_token().cancel();
        self.tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("nsqd: client connections did not close in time");
        }
        for handle in handles {
            let abort = handle.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, handle).await.is_err() {
                abort.abort();
            }
        }
        let persistence = self.persistence.lock().take();
        if let Some(mut persistence) = persistence {
            persistence.shutdown(&self.ctx);
            self.ctx.close_topics();
            // The data-path lock is released only after every queue is closed.
            drop(persistence);
        } else {
            self.ctx.close_topics();
        }
        tracing::info!("nsqd: stopped");
    }
}

impl Drop for Nsqd {
    fn drop(&mut self) {
        self.ctx.shutdown_token().cancel();
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, NsqdError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| NsqdError::Bind { addr, source })
}

fn validate(opts: &NsqdOptions) -> Result<(), NsqdError> {
    if !(0..1024).contains(&opts.node_id) {
        return Err(NsqdError::InvalidOption(format!(
            "--node-id must be [0,1024), got {}",
            opts.node_id
        )));
    }
    if !(1..=9).contains(&opts.max_deflate_level) {
        return Err(NsqdError::InvalidOption(
            "--max-deflate-level must be [1,9]".into(),
        ));
    }
    if opts.mem_queue_size < 0 {
        return Err(NsqdError::InvalidOption(
            "--mem-queue-size must be >= 0".into(),
        ));
    }
    Ok(())
}
