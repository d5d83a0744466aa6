//! [`HttpServer`]: an axum router as a [`Server`], with `GET /healthz` and, when given
//! [`Metrics`], `GET /metrics` in the Prometheus text format. Binds its address (port 0
//! allowed) and stops gracefully (in-flight requests finish, up to the deadline).
//!
//! Your routes run behind the shared middleware (outermost first): error -> HTTP status
//! (panic -> 500, timeout -> 504), transport [`Context`](crate::Context) (kind `http`,
//! operation `METHOD /matched/{path}`), tracing, metrics, recovery, timeout, your stack.
//!
//! ```
//! use framework::http_server::{HttpConfig, HttpServer};
//! use framework::middleware::Metrics;
//! use axum::{routing::get, Router};
//!
//! let server = HttpServer::new(HttpConfig::default())
//!     .metrics(Metrics::new())
//!     .router(Router::new().route("/hello", get(|| async { "hello" })));
//! # drop(server);
//! ```

mod pipeline;

pub use pipeline::HttpStack;

use crate::app::AppInfo;
use crate::middleware::Metrics;
use crate::server::{drain_until, Endpoint, Server};
use crate::BoxError;
use async_trait::async_trait;
use axum::routing::get;
use axum::Router;
use parking_lot::Mutex;
use serde::Deserialize;
use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// HTTP server settings (the `http` section of a config).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Address to bind; port 0 picks a free port.
    pub address: SocketAddr,
    /// Per-request time limit for your routes (`"5s"`); none by default.
    #[serde(with = "crate::config::duration::option")]
    pub timeout: Option<std::time::Duration>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            address: SocketAddr::from(([0, 0, 0, 0], 8000)),
            timeout: None,
        }
    }
}

struct Running {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// An axum router run by the [`App`](crate::App); see the [module docs](self).
pub struct HttpServer {
    config: HttpConfig,
    router: Mutex<Option<Router>>,
    routes: Mutex<Option<Router>>,
    stack: HttpStack,
    metrics: Option<Metrics>,
    local_addr: Mutex<Option<SocketAddr>>,
    running: Mutex<Option<Running>>,
}

impl HttpServer {
    /// A server answering `GET /healthz` with `ok`.
    pub fn new(config: HttpConfig) -> Self {
        let router = Router::new().route("/healthz", get(|| async { "ok" }));
        HttpServer {
            config,
            router: Mutex::new(Some(router)),
            routes: Mutex::new(Some(Router::new())),
            stack: HttpStack::new(),
            metrics: None,
            local_addr: Mutex::new(None),
            running: Mutex::new(None),
        }
    }

    /// Merges your routes (served behind the middleware).
    pub fn router(self, more: Router) -> Self {
        {
            let mut routes = self.routes.lock();
            if let Some(current) = routes.take() {
                *routes = Some(current.merge(more));
            }
        }
        self
    }

    /// Adds your own middleware, inside the built-in layers.
    pub fn middleware(mut self, stack: HttpStack) -> Self {
        self.stack = stack;
        self
    }

    /// Serves `metrics` at `GET /metrics` and records your routes' requests in them.
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics.clone());
        self.update(|router| {
            router.route(
                "/metrics",
                get(move || {
                    let metrics = metrics.clone();
                    async move {
                        (
                            [(
                                http::header::CONTENT_TYPE,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )],
                            metrics.encode(),
                        )
                    }
                }),
            )
        })
    }

    fn update(self, change: impl FnOnce(Router) -> Router) -> Self {
        {
            let mut router = self.router.lock();
            if let Some(current) = router.take() {
                *router = Some(change(current));
            }
        }
        self
    }

    /// The bound address, once started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self.local_addr.lock()
    }
}

#[async_trait]
impl Server for HttpServer {
    fn name(&self) -> &str {
        "http"
    }

    async fn start(&self, app: &AppInfo) -> Result<(), BoxError> {
        let router = self
            .router
            .lock()
            .take()
            .ok_or("http server already started")?;
        let routes = self.routes.lock().take().unwrap_or_default();
        let pipeline = pipeline::Pipeline {
            stack: self.stack.clone(),
            metrics: self.metrics.clone(),
            timeout: self.config.timeout,
            app: app.clone(),
        };
        let router = router.merge(routes.layer(pipeline));
        let listener = tokio::net::TcpListener::bind(self.config.address).await?;
        let bound = listener.local_addr()?;
        let (shutdown, on_shutdown) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stop = async {
                let _ = on_shutdown.await;
            };
            if let Err(err) = axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(%err, "http server failed");
            }
        });
        *self.local_addr.lock() = Some(bound);
        *self.running.lock() = Some(Running { shutdown, task });
        tracing::info!(address = %bound, "http server listening");
        Ok(())
    }

    async fn stop(&self, deadline: Instant) -> Result<(), BoxError> {
        let Some(running) = self.running.lock().take() else {
            return Ok(());
        };
        let late = "http server did not drain by the deadline";
        drain_until(running.shutdown, running.task, deadline, late).await
    }

    fn endpoint(&self) -> Option<Endpoint> {
        self.local_addr()
            .map(|addr| Endpoint::new(format!("http://{addr}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::Path;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn explode() -> &'static str {
        panic!("route exploded")
    }

    async fn hello(Path(name): Path<String>) -> String {
        let ctx = crate::Context::current();
        let (app, kind, operation) = ctx
            .map(|c| {
                let app = c.app().map(|a| a.name().to_string()).unwrap_or_default();
                (app, c.kind().to_string(), c.operation().to_string())
            })
            .unwrap_or_default();
        format!("hello {name} from {app} via {kind} {operation}")
    }

    async fn get_text(addr: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn serves_health_metrics_and_routes_then_stops() {
        let metrics = Metrics::new();
        let server = HttpServer::new(HttpConfig {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            timeout: Some(std::time::Duration::from_millis(50)),
        })
        .metrics(metrics.clone())
        .router(
            Router::new()
                .route("/hello/:name", get(hello))
                .route("/panic", get(explode))
                .route(
                    "/slow",
                    get(|| async {
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                        "late"
                    }),
                ),
        );
        server
            .start(&AppInfo::new("i", "web", "1", Default::default()))
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        assert!(get_text(addr, "/healthz").await.ends_with("ok"));
        let hello = get_text(addr, "/hello/ann").await;
        assert!(
            hello.ends_with("hello ann from web via http GET /hello/:name"),
            "{hello}"
        );
        assert!(get_text(addr, "/panic").await.starts_with("HTTP/1.1 500"));
        assert!(get_text(addr, "/slow").await.starts_with("HTTP/1.1 504"));
        // Still serving after the panic.
        assert!(get_text(addr, "/hello/bob").await.contains("hello bob"));
        assert_eq!(metrics.requests("http", "GET /hello/:name"), 2);
        assert_eq!(metrics.errors("http", "GET /panic"), 1);
        assert_eq!(metrics.errors("http", "GET /slow"), 1);
        let metrics_page = get_text(addr, "/metrics").await;
        assert!(
            metrics_page.contains("# TYPE framework_requests counter"),
            "{metrics_page}"
        );
        server
            .stop(Instant::now() + std::time::Duration::from_secs(5))
            .await
            .unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
