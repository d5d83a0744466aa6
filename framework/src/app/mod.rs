//! The [`App`]: runs [`Server`]s with lifecycle hooks, signal handling and a stop deadline.
//!
//! `run` does, in order: before-start hooks; start every server concurrently (if one fails,
//! the others are stopped and its error returned); after-start hooks; wait for a signal,
//! [`StopHandle::stop`] or a server failing; then before-stop hooks and stopping every
//! server concurrently, all within the stop deadline; after-stop hooks; provider cleanups
//! in reverse order.
//!
//! ```
//! use framework::{App, AppInfo, BoxError, ProviderSet, Resolver, Server};
//! use std::sync::Arc;
//! use tokio::time::Instant;
//!
//! struct Greeter { greeting: String }
//!
//! /// Stands in for a gRPC or NSQ server.
//! struct GreeterServer { greeter: Arc<Greeter> }
//!
//! #[async_trait::async_trait]
//! impl Server for GreeterServer {
//!     async fn start(&self, app: &AppInfo) -> Result<(), BoxError> {
//!         tracing::info!(app = app.name(), greeting = %self.greeter.greeting, "serving");
//!         Ok(())
//!     }
//!     async fn stop(&self, _deadline: Instant) -> Result<(), BoxError> { Ok(()) }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), BoxError> {
//!     let providers = ProviderSet::new()
//!         .provide(|_r: Resolver| async { Ok(Greeter { greeting: "hello".into() }) });
//!     let app = App::builder()
//!         .name("greeter")
//!         .version("1.0.0")
//!         .providers(providers)
//!         .server_with(|c| Ok(GreeterServer { greeter: c.get::<Greeter>()? }))
//!         .after_start(|info| async move {
//!             tracing::info!(name = info.name(), "started");
//!             Ok(())
//!         })
//!         .build()
//!         .await?;
//!     app.stop_handle().stop(); // a real service waits for SIGTERM instead
//!     app.run().await?;
//!     Ok(())
//! }
//! ```

mod builder;
mod info;
mod signal;

pub use builder::AppBuilder;
pub use info::AppInfo;
pub use signal::Signal;

use crate::provider::{Container, ProvideError};
use crate::server::Server;
use crate::BoxError;
use futures::future::{select_all, BoxFuture};
use futures::stream::{FuturesUnordered, StreamExt};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

type Hook = Box<dyn Fn(AppInfo) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// Where in the lifecycle a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookStage {
    /// Before servers start.
    BeforeStart,
    /// After all servers started.
    AfterStart,
    /// Before servers stop.
    BeforeStop,
    /// After servers stopped.
    AfterStop,
}

impl fmt::Display for HookStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HookStage::BeforeStart => "before-start",
            HookStage::AfterStart => "after-start",
            HookStage::BeforeStop => "before-stop",
            HookStage::AfterStop => "after-stop",
        })
    }
}

#[derive(Default)]
struct Hooks {
    before_start: Vec<Hook>,
    after_start: Vec<Hook>,
    before_stop: Vec<Hook>,
    after_stop: Vec<Hook>,
}

impl Hooks {
    fn add(&mut self, stage: HookStage, hook: Hook) {
        self.stage_mut(stage).push(hook);
    }

    fn stage_mut(&mut self, stage: HookStage) -> &mut Vec<Hook> {
        match stage {
            HookStage::BeforeStart => &mut self.before_start,
            HookStage::AfterStart => &mut self.after_start,
            HookStage::BeforeStop => &mut self.before_stop,
            HookStage::AfterStop => &mut self.after_stop,
        }
    }

    fn stage(&self, stage: HookStage) -> &[Hook] {
        match stage {
            HookStage::BeforeStart => &self.before_start,
            HookStage::AfterStart => &self.after_start,
            HookStage::BeforeStop => &self.before_stop,
            HookStage::AfterStop => &self.after_stop,
        }
    }
}

/// Why the App failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Providers could not be resolved.
    #[error("providers: {0}")]
    Provide(#[source] ProvideError),
    /// A server factory failed.
    #[error("building a server: {0}")]
    ServerBuild(#[source] BoxError),
    /// Signal handlers could not be installed.
    #[error("installing signal handlers: {0}")]
    Signal(#[source] std::io::Error),
    /// A hook failed.
    #[error("{stage} hook failed: {source}")]
    Hook {
        /// Which hook.
        stage: HookStage,
        /// Its error.
        #[source]
        source: BoxError,
    },
    /// A server failed to start (the others were stopped).
    #[error("server {server} failed to start: {source}")]
    Start {
        /// The server's name.
        server: String,
        /// Its error.
        #[source]
        source: BoxError,
    },
    /// A server stopped serving on its own.
    #[error("server {server} failed: {source}")]
    Serve {
        /// The server's name.
        server: String,
        /// Its error.
        #[source]
        source: BoxError,
    },
    /// A server's stop returned an error.
    #[error("server {server} failed to stop: {source}")]
    Stop {
        /// The server's name.
        server: String,
        /// Its error.
        #[source]
        source: BoxError,
    },
    /// Servers still running at the stop deadline (they were abandoned).
    #[error("stop deadline of {timeout:?} exceeded by {servers:?}")]
    StopDeadline {
        /// The deadline.
        timeout: Duration,
        /// Servers that had not stopped.
        servers: Vec<String>,
    },
}

/// Asks a running [`App`] to stop, from anywhere (tests, admin endpoints, hooks).
#[derive(Clone, Debug)]
pub struct StopHandle {
    sender: Arc<watch::Sender<bool>>,
}

impl StopHandle {
    fn new() -> Self {
        StopHandle {
            sender: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Requests a graceful stop. Servers still starting are not waited for; requested
    /// before `run`, the App stops without serving.
    pub fn stop(&self) {
        self.sender.send_replace(true);
    }

    async fn requested(&self) {
        let mut receiver = self.sender.subscribe();
        // The sender lives in self, so the channel cannot close while we wait.
        let _ = receiver.wait_for(|stop| *stop).await;
    }
}

/// Why the App is stopping.
enum StopReason {
    Requested,
    Signal(Signal),
    ServerFailed { server: String, source: BoxError },
}

/// A service: servers plus lifecycle; see the [module docs](self).
pub struct App {
    info: AppInfo,
    servers: Vec<Arc<dyn Server>>,
    container: Container,
    hooks: Hooks,
    signals: Vec<Signal>,
    stop_timeout: Duration,
    stop: StopHandle,
}

impl App {
    /// Starts building an App.
    pub fn builder() -> AppBuilder {
        AppBuilder::default()
    }

    /// The App's identity.
    pub fn info(&self) -> &AppInfo {
        &self.info
    }

    /// The resolved providers.
    pub fn container(&self) -> &Container {
        &self.container
    }

    /// A handle that stops the App.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Runs until a signal, [`StopHandle::stop`] or a server failure, then stops gracefully.
    pub async fn run(self) -> Result<(), AppError> {
        let info = self.info.clone();
        info.scope(self.run_scoped()).await
    }

    async fn run_scoped(self) -> Result<(), AppError> {
        let signal = match signal::listen(&self.signals) {
            Ok(signal) => signal,
            Err(err) => return self.abort(AppError::Signal(err)).await,
        };
        if let Err(source) = self.run_hooks(HookStage::BeforeStart).await {
            let stage = HookStage::BeforeStart;
            return self.abort(AppError::Hook { stage, source }).await;
        }
        let mut signal = signal;
        let started = tokio::select! {
            biased;
            started = self.start_servers() => started,
            _ = self.stop.requested() => Err(None),
            received = &mut signal => {
                tracing::info!(signal = ?received, "signal received while starting");
                Err(None)
            }
        };
        match started {
            Ok(()) => {}
            Err(Some(err)) => {
                let _ = self.stop_servers(self.deadline()).await;
                return self.abort(err).await;
            }
            // Stopped while starting: a normal, graceful stop.
            Err(None) => return self.shut_down().await,
        }
        tracing::info!(app = self.info.name(), id = self.info.id(), "started");
        let reason = match self.run_hooks(HookStage::AfterStart).await {
            Ok(()) => self.wait_for_stop(signal).await,
            Err(source) => Err(AppError::Hook {
                stage: HookStage::AfterStart,
                source,
            }),
        };
        let stopped = self.shut_down().await;
        reason.and(stopped)
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.stop_timeout
    }

    async fn abort(&self, err: AppError) -> Result<(), AppError> {
        self.container.cleanup().await;
        Err(err)
    }

    async fn run_hooks(&self, stage: HookStage) -> Result<(), BoxError> {
        for hook in self.hooks.stage(stage) {
            hook(self.info.clone()).await?;
        }
        Ok(())
    }

    /// `Err(Some(_))`: a server failed to start.
    async fn start_servers(&self) -> Result<(), Option<AppError>> {
        let mut starting: FuturesUnordered<_> = self
            .servers
            .iter()
            .map(|server| async move { (server, server.start(&self.info).await) })
            .collect();
        while let Some((server, result)) = starting.next().await {
            if let Err(source) = result {
                let server = server.name().to_string();
                tracing::error!(%server, %source, "server failed to start; stopping the others");
                return Err(Some(AppError::Start { server, source }));
            }
        }
        let endpoints = self.servers.iter().filter_map(|s| s.endpoint()).collect();
        self.info.set_endpoints(endpoints);
        Ok(())
    }

    async fn wait_for_stop(&self, signal: BoxFuture<'static, Signal>) -> Result<(), AppError> {
        let reason = tokio::select! {
            received = signal => StopReason::Signal(received),
            _ = self.stop.requested() => StopReason::Requested,
            failed = self.first_server_failure() => failed,
        };
        match reason {
            StopReason::Requested => {
                tracing::info!("stop requested");
                Ok(())
            }
            StopReason::Signal(signal) => {
                tracing::info!(?signal, "signal received; stopping");
                Ok(())
            }
            StopReason::ServerFailed { server, source } => {
                tracing::error!(%server, %source, "server failed; stopping");
                Err(AppError::Serve { server, source })
            }
        }
    }

    async fn first_server_failure(&self) -> StopReason {
        if self.servers.is_empty() {
            return std::future::pending().await;
        }
        let serving = self.servers.iter().map(|server| {
            Box::pin(async move {
                let result = server.serving().await;
                (server.name().to_string(), result)
            })
        });
        let ((server, result), _, _) = select_all(serving).await;
        let source = result
            .err()
            .unwrap_or_else(|| "stopped serving on its own".into());
        StopReason::ServerFailed { server, source }
    }

    /// Before-stop hooks and server stops share the deadline; after-stop hooks and
    /// cleanups run afterwards.
    async fn shut_down(&self) -> Result<(), AppError> {
        let deadline = self.deadline();
        let mut first_error = None;
        let hooks = tokio::time::timeout_at(deadline, self.run_hooks(HookStage::BeforeStop)).await;
        match hooks {
            Ok(Ok(())) => {}
            Ok(Err(source)) => {
                tracing::error!(%source, "before-stop hook failed");
                first_error.get_or_insert(AppError::Hook {
                    stage: HookStage::BeforeStop,
                    source,
                });
            }
            Err(_) => tracing::error!("before-stop hooks ran past the stop deadline"),
        }
        if let Err(err) = self.stop_servers(deadline).await {
            first_error.get_or_insert(err);
        }
        if let Err(source) = self.run_hooks(HookStage::AfterStop).await {
            tracing::error!(%source, "after-stop hook failed");
            first_error.get_or_insert(AppError::Hook {
                stage: HookStage::AfterStop,
                source,
            });
        }
        self.container.cleanup().await;
        tracing::info!(app = self.info.name(), "stopped");
        first_error.map_or(Ok(()), Err)
    }

    async fn stop_servers(&self, deadline: Instant) -> Result<(), AppError> {
        let stops = self.servers.iter().map(|server| async move {
            let result = tokio::time::timeout_at(deadline, server.stop(deadline)).await;
            (server.name().to_string(), result)
        });
        let mut late = Vec::new();
        let mut failed = None;
        for (server, result) in futures::future::join_all(stops).await {
            match result {
                Ok(Ok(())) => {}
                Ok(Err(source)) => {
                    tracing::error!(%server, %source, "server failed to stop");
                    failed.get_or_insert(AppError::Stop { server, source });
                }
                Err(_) => {
                    tracing::error!(%server, "server did not stop by the deadline; abandoned");
                    late.push(server);
                }
            }
        }
        if !late.is_empty() {
            return Err(AppError::StopDeadline {
                timeout: self.stop_timeout,
                servers: late,
            });
        }
        failed.map_or(Ok(()), Err)
    }
}
