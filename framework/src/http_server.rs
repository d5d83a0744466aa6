//! [`HttpServer`]: an axum router as a [`Server`], with `GET /healthz` and, when given
//! [`Metrics`], `GET /metrics` in the Prometheus text format. Binds its address (port 0
//! allowed) and stops gracefully (in-flight requests finish, up to the deadline).
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

use crate::app::AppInfo;
use crate::middleware::Metrics;
use crate::server::{Endpoint, Server};
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
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            address: SocketAddr::from(([0, 0, 0, 0], 8000)),
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
            local_addr: Mutex::new(None),
            running: Mutex::new(None),
        }
    }

    /// Merges your routes.
    pub fn router(self, routes: Router) -> Self {
        self.update(|router| router.merge(routes))
    }

    /// Serves `metrics` at `GET /metrics`.
    pub fn metrics(self, metrics: Metrics) -> Self {
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

    async fn start(&self, _app: &AppInfo) -> Result<(), BoxError> {
        let router = self
            .router
            .lock()
            .take()
            .ok_or("http server already started")?;
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
        // The receiver is gone only if the task already ended.
        let _ = running.shutdown.send(());
        let mut task = running.task;
        match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(_) => Ok(()),
            Err(_) => {
                task.abort();
                Err("http server did not drain by the deadline".into())
            }
        }
    }

    fn endpoint(&self) -> Option<Endpoint> {
        self.local_addr()
            .map(|addr| Endpoint::new(format!("http://{addr}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
        })
        .metrics(metrics)
        .router(Router::new().route("/hello", get(|| async { "hello" })));
        server
            .start(&AppInfo::new("i", "web", "1", Default::default()))
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        assert!(get_text(addr, "/healthz").await.ends_with("ok"));
        assert!(get_text(addr, "/hello").await.ends_with("hello"));
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
