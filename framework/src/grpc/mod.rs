//! [`GrpcServer`]: a tonic server as a [`Server`]: binds its address (port 0 allowed; the
//! bound address is readable), serves the gRPC health service (with the
//! [`health_check`](GrpcServer::health_check)s of other parts of the service) and reflection, optional
//! TLS, the shared middleware stack (context, tracing, metrics, recovery, timeout, plus
//! your layers) and a graceful stop that drains requests until the deadline.
//!
//! ```no_run
//! use framework::grpc::{GrpcConfig, GrpcServer};
//! use framework::middleware::Metrics;
//! # fn service() -> tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health> { tonic_health::server::health_reporter().1 }
//!
//! let config = GrpcConfig { address: "127.0.0.1:9000".parse().unwrap(), ..GrpcConfig::default() };
//! let server = GrpcServer::new(config)
//!     .metrics(Metrics::new())
//!     .add_service(service());  // e.g. GreeterServer::new(MyGreeter)
//! # drop(server);
//! ```

mod layers;
mod probe;

pub use layers::{status_of, GrpcRequest, GrpcResponse};
pub use probe::{health_status, wait_for_health, HealthWaitTimeout, ServingStatus};

use crate::app::AppInfo;
use crate::health::{HealthCheck, HealthChecks};
use crate::middleware::{BoxService, Metrics, Stack};
use crate::server::{drain_until, Endpoint, Server};
use crate::BoxError;
use async_trait::async_trait;
use layers::{ContextService, StatusService};
use parking_lot::Mutex;
use serde::Deserialize;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::server::NamedService;
use tonic::service::{Routes, RoutesBuilder};
use tonic::transport::server::TcpIncoming;
use tonic_health::server::HealthReporter;
use tower::util::BoxCloneSyncService;
use tower::Service;

/// Middleware for gRPC requests; see [`Stack`].
pub type GrpcStack = Stack<GrpcRequest, GrpcResponse>;

/// TLS files (PEM).
#[derive(Clone, Debug, Deserialize)]
pub struct TlsConfig {
    /// Certificate chain.
    pub cert_file: PathBuf,
    /// Private key.
    pub key_file: PathBuf,
    /// When set, clients must present a certificate signed by this CA (mutual TLS).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// gRPC server settings (the `grpc` section of a config).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct GrpcConfig {
    /// Address to bind; port 0 picks a free port (see [`GrpcServer::local_addr`]).
    pub address: SocketAddr,
    /// Per-request time limit (`"5s"`); none by default.
    #[serde(with = "crate::config::duration::option")]
    pub timeout: Option<Duration>,
    /// Serve the reflection service.
    pub reflection: bool,
    /// TLS; plaintext when absent.
    pub tls: Option<TlsConfig>,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            address: SocketAddr::from(([0, 0, 0, 0], 9000)),
            timeout: None,
            reflection: true,
            tls: None,
        }
    }
}

/// Why the gRPC server could not start.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// Binding the address failed.
    #[error("binding {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A TLS file could not be read.
    #[error("reading TLS file {path}: {source}")]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Tonic rejected the configuration.
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The reflection service could not be built from the descriptors.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The listener could not be set up.
    #[error("grpc listener: {0}")]
    Listener(#[source] BoxError),
    /// `start` was called twice.
    #[error("grpc server already started")]
    AlreadyStarted,
}

struct Running {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
    /// Polls the health checks; aborted at stop.
    health_task: JoinHandle<()>,
}

/// A tonic server run by the [`App`](crate::App); see the [module docs](self).
pub struct GrpcServer {
    config: GrpcConfig,
    routes: Mutex<Option<RoutesBuilder>>,
    descriptor_sets: Vec<Vec<u8>>,
    stack: GrpcStack,
    metrics: Option<Metrics>,
    health: HealthReporter,
    health_checks: HealthChecks,
    health_interval: Duration,
    local_addr: Mutex<Option<SocketAddr>>,
    running: Mutex<Option<Running>>,
    /// `Some(error)` once the serve task ended on its own.
    ended: watch::Sender<Option<String>>,
}

impl GrpcServer {
    /// A server with health checking; add services with [`add_service`](Self::add_service).
    pub fn new(config: GrpcConfig) -> Self {
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service);
        GrpcServer {
            config,
            routes: Mutex::new(Some(routes)),
            descriptor_sets: vec![tonic_health::pb::FILE_DESCRIPTOR_SET.to_vec()],
            stack: GrpcStack::new(),
            metrics: None,
            health,
            health_checks: HealthChecks::default(),
            health_interval: crate::health::DEFAULT_INTERVAL,
            local_addr: Mutex::new(None),
            running: Mutex::new(None),
            ended: watch::Sender::new(None),
        }
    }

    /// Adds a tonic service (e.g. `GreeterServer::new(impl)`).
    pub fn add_service<S>(self, service: S) -> Self
    where
        S: Service<GrpcRequest, Response = GrpcResponse, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        if let Some(routes) = self.routes.lock().as_mut() {
            routes.add_service(service);
        }
        self
    }

    /// Registers an encoded `FileDescriptorSet` for reflection (from `tonic-build`'s
    /// `file_descriptor_set_path` or protox).
    pub fn file_descriptor_set(mut self, encoded: impl Into<Vec<u8>>) -> Self {
        self.descriptor_sets.push(encoded.into());
        self
    }

    /// Records Prometheus metrics for every request.
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Adds your own middleware, inside the built-in layers.
    pub fn middleware(mut self, stack: GrpcStack) -> Self {
        self.stack = stack;
        self
    }

    /// Reports another part of the service (e.g. `NsqServer::health_check()`) in the health
    /// service as `name`, and makes the overall status (`""`) `SERVING` only while every
    /// check passes; see [`crate::health`].
    pub fn health_check(mut self, name: impl Into<String>, check: impl HealthCheck) -> Self {
        self.health_checks.add(name.into(), Arc::new(check));
        self
    }

    /// How often health checks are asked (default 1 s).
    pub fn health_interval(mut self, interval: Duration) -> Self {
        self.health_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The health reporter, to mark individual services (not) serving.
    pub fn health_reporter(&self) -> HealthReporter {
        self.health.clone()
    }

    /// The bound address, once started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self.local_addr.lock()
    }

    fn routes(&self) -> Result<Routes, GrpcError> {
        let mut routes = self.routes.lock().take().ok_or(GrpcError::AlreadyStarted)?;
        if self.config.reflection {
            let mut reflection = tonic_reflection::server::Builder::configure();
            for set in &self.descriptor_sets {
                reflection = reflection.register_encoded_file_descriptor_set(set);
            }
            routes.add_service(reflection.build_v1()?);
        }
        Ok(routes.routes())
    }

    fn tls(&self) -> Result<Option<tonic::transport::ServerTlsConfig>, GrpcError> {
        let Some(tls) = &self.config.tls else {
            return Ok(None);
        };
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| GrpcError::TlsFile {
                path: path.clone(),
                source,
            })
        };
        let identity =
            tonic::transport::Identity::from_pem(read(&tls.cert_file)?, read(&tls.key_file)?);
        let mut config = tonic::transport::ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &tls.client_ca_file {
            config = config.client_ca_root(tonic::transport::Certificate::from_pem(read(ca)?));
        }
        Ok(Some(config))
    }

    async fn start_serving(&self, app: &AppInfo) -> Result<(), GrpcError> {
        let address = self.config.address;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| GrpcError::Bind { address, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| GrpcError::Bind { address, source })?;
        let incoming =
            TcpIncoming::from_listener(listener, true, None).map_err(GrpcError::Listener)?;
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = self.tls()? {
            builder = builder.tls_config(tls)?;
        }
        let pipeline = Pipeline {
            stack: self.stack.clone(),
            metrics: self.metrics.clone(),
            timeout: self.config.timeout,
            app: app.clone(),
        };
        let router = builder
            .layer(tower::layer::layer_fn(move |routes: Routes| {
                pipeline.wrap(routes)
            }))
            .add_routes(self.routes()?);
        // Reported before `start` returns: `""` is SERVING from now on unless a check fails.
        let mut reporter = self.health.clone();
        let reported = self.health_checks.report(&mut reporter, None).await;
        let health_task = tokio::spawn(self.health_checks.clone().run(
            reporter,
            self.health_interval,
            reported,
        ));
        let (shutdown, on_shutdown) = oneshot::channel::<()>();
        let ended = self.ended.clone();
        let task = tokio::spawn(async move {
            let stop = async {
                let _ = on_shutdown.await;
            };
            let result = router.serve_with_incoming_shutdown(incoming, stop).await;
            let outcome = match result {
                Ok(()) => "stopped serving".to_string(),
                Err(err) => err.to_string(),
            };
            ended.send_replace(Some(outcome));
        });
        *self.local_addr.lock() = Some(bound);
        *self.running.lock() = Some(Running {
            shutdown,
            task,
            health_task,
        });
        tracing::info!(address = %bound, "grpc server listening");
        Ok(())
    }
}

/// What wraps the routes: built-in layers, outermost first (status mapping, context,
/// tracing, metrics, recovery, timeout), then the user's stack.
#[derive(Clone)]
struct Pipeline {
    stack: GrpcStack,
    metrics: Option<Metrics>,
    timeout: Option<Duration>,
    app: AppInfo,
}

impl Pipeline {
    fn wrap(&self, routes: Routes) -> BoxService<GrpcRequest, GrpcResponse> {
        let builtin = GrpcStack::standard(self.metrics.clone(), self.timeout);
        let inner = builtin.apply(self.stack.apply(BoxCloneSyncService::new(routes)));
        let with_context = ContextService {
            inner,
            app: Some(self.app.clone()),
        };
        BoxCloneSyncService::new(StatusService {
            inner: with_context,
        })
    }
}

#[async_trait]
impl Server for GrpcServer {
    fn name(&self) -> &str {
        "grpc"
    }

    async fn start(&self, app: &AppInfo) -> Result<(), BoxError> {
        Ok(self.start_serving(app).await?)
    }

    async fn stop(&self, deadline: Instant) -> Result<(), BoxError> {
        let Some(mut running) = self.running.lock().take() else {
            return Ok(());
        };
        running.health_task.abort();
        let _ = (&mut running.health_task).await;
        self.health_checks
            .report_stopped(&mut self.health.clone())
            .await;
        drain_until(
            running.shutdown,
            running.task,
            deadline,
            "grpc server did not drain by the deadline; connections closed",
        )
        .await
    }

    fn endpoint(&self) -> Option<Endpoint> {
        let scheme = if self.config.tls.is_some() {
            "grpcs"
        } else {
            "grpc"
        };
        self.local_addr()
            .map(|addr| Endpoint::new(format!("{scheme}://{addr}")))
    }

    async fn serving(&self) -> Result<(), BoxError> {
        let mut ended = self.ended.subscribe();
        // The sender lives in self, so the channel cannot close while we wait.
        let outcome = ended
            .wait_for(Option::is_some)
            .await
            .map(|outcome| outcome.clone().unwrap_or_default())
            .unwrap_or_default();
        Err(outcome.into())
    }
}
