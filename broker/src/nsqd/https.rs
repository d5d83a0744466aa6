//! The HTTPS listener (`--https-address`, opened when a TLS cert and key are configured)
//! serving the same routes as plain HTTP, and `--tls-required=true`'s answer on the plain
//! listener: 403 `{"message": "TLS_REQUIRED", "https_port": <port>}`.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Serves `router` over TLS on `listener` until `shutdown`.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(%err, "HTTPS: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let handshake =
                tokio::time::timeout(std::time::Duration::from_secs(5), acceptor.accept(stream));
            let tls = match handshake.await {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    tracing::debug!(%remote, %err, "HTTPS: TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let router = router.clone();
                    async move {
                        let resp = router.oneshot(req.map(Body::new)).await;
                        Ok::<_, Infallible>(resp.unwrap_or_else(|never| match never {}))
                    }
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service);
            tokio::select! {
                result = conn => {
                    if let Err(err) = result {
                        tracing::debug!(%remote, %err, "HTTPS: connection error");
                    }
                }
                _ = shutdown.cancelled() => {}
            }
        });
    }
}

/// Answers every request with nsqd's hand-formatted 403 `TLS_REQUIRED` body.
pub(crate) fn tls_required(https_port: u16) -> Router {
    let body = format!("{{\"message\": \"TLS_REQUIRED\", \"https_port\": {https_port}}}");
    Router::new().fallback(move |_req: Request| {
        let body = body.clone();
        async move {
            Response::builder()
                .status(StatusCode::FORBIDDEN)
                .header("X-NSQ-Content-Type", "nsq; version=1.0")
                .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
                .body(Body::from(body))
                .unwrap_or_else(|_| Response::new(Body::empty()))
        }
    })
}
