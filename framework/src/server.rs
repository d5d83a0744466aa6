//! The [`Server`] trait: anything the [`App`](crate::App) starts and stops (a gRPC server,
//! an NSQ consumer group, ...).

use crate::app::AppInfo;
use crate::BoxError;
use async_trait::async_trait;
use std::fmt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Where a server can be reached, e.g. `grpc://127.0.0.1:9000`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint(String);

impl Endpoint {
    /// An endpoint from a URL-like string.
    pub fn new(url: impl Into<String>) -> Self {
        Endpoint(url.into())
    }

    /// The endpoint as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A server run by an [`App`](crate::App).
///
/// The contract:
/// - [`start`](Server::start) returns once the server is **ready** (listening, consumers
///   connected) and keeps serving in background tasks; an error means it could not start.
/// - [`stop`](Server::stop) stops accepting work, drains what is in flight, and returns by
///   `deadline` (the App also enforces the deadline). It must be safe to call when `start`
///   failed or never ran, and more than once.
/// - [`serving`](Server::serving) resolves if the server stops on its own after a
///   successful start (a fatal error); the App then stops everything.
///
/// ```
/// use framework::{Server, AppInfo, BoxError};
/// use tokio::time::Instant;
///
/// struct Ticker;
///
/// #[async_trait::async_trait]
/// impl Server for Ticker {
///     async fn start(&self, _app: &AppInfo) -> Result<(), BoxError> { Ok(()) }
///     async fn stop(&self, _deadline: Instant) -> Result<(), BoxError> { Ok(()) }
/// }
/// ```
#[async_trait]
pub trait Server: Send + Sync + 'static {
    /// A short name for logs and errors.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// Starts serving; returns when ready.
    async fn start(&self, app: &AppInfo) -> Result<(), BoxError>;

    /// Stops serving, draining in-flight work until `deadline`.
    async fn stop(&self, deadline: Instant) -> Result<(), BoxError>;

    /// Where the server can be reached, once started.
    fn endpoint(&self) -> Option<Endpoint> {
        None
    }

    /// Resolves when the server has stopped serving on its own (after a successful start).
    /// The default never resolves.
    async fn serving(&self) -> Result<(), BoxError> {
        std::future::pending().await
    }
}

/// A graceful stop for a server serving in a background `task`: signals `shutdown`, then
/// waits for the task until `deadline`; past it the task is aborted and `late` is the error.
pub(crate) async fn drain_until<T>(
    shutdown: oneshot::Sender<()>,
    mut task: JoinHandle<T>,
    deadline: Instant,
    late: &'static str,
) -> Result<(), BoxError> {
    // The receiver is gone only if the task already ended.
    let _ = shutdown.send(());
    match tokio::time::timeout_at(deadline, &mut task).await {
        Ok(_) => Ok(()),
        Err(_) => {
            task.abort();
            Err(late.into())
        }
    }
}
