//! The TCP listener: accepts connections and serves each with protocol V2, up to
//! `--max-connections` at once.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use super::connection;
use super::context::NsqdContext;
use super::security::Security;

/// Accepts connections until shutdown; each runs on its own task tracked by `tracker`.
pub(crate) async fn accept_loop(
    ctx: NsqdContext,
    listener: TcpListener,
    tracker: TaskTracker,
    security: Arc<Security>,
) {
    let shutdown = ctx.shutdown_token().clone();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                let Ok(permit) = security.admit() else {
                    tracing::warn!(
                        %remote,
                        max = ctx.options().max_connections,
                        "TCP: connection refused: --max-connections reached"
                    );
                    drop(stream);
                    continue;
                };
                let serve = connection::serve(ctx.clone(), stream, remote, security.clone());
                tracker.spawn(async move {
                    serve.await;
                    drop(permit);
                });
            }
            Err(err) => {
                // Typically EMFILE: back off briefly instead of spinning.
                tracing::warn!(%err, "TCP: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
