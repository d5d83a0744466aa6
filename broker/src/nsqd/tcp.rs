//! The TCP listener: accepts connections and serves each with protocol V2.

use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use super::connection;
use super::context::NsqdContext;

/// Accepts connections until shutdown; each runs on its own task tracked by `tracker`.
pub(crate) async fn accept_loop(ctx: NsqdContext, listener: TcpListener, tracker: TaskTracker) {
    let shutdown = ctx.shutdown_token().clone();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                tracker.spawn(connection::serve(ctx.clone(), stream, remote));
            }
            Err(err) => {
                // Typically EMFILE: back off briefly instead of spinning.
                tracing::warn!(%err, "TCP: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
