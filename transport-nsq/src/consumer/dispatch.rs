//! Runs the handler for each message: at most `concurrency` at once, exhausted messages to
//! the hook (then FIN), optional automatic TOUCH while a handler runs, and the automatic
//! FIN/REQ afterwards. A panicking handler requeues its message with backoff.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{mpsc, Semaphore};

use super::handler::{ExhaustedHook, Handler, HandlerError};
use super::message::Message;

pub(crate) struct Dispatcher {
    pub handler: Arc<dyn Handler>,
    pub on_exhausted: Option<ExhaustedHook>,
    pub concurrency: usize,
    pub max_attempts: u16,
    pub auto_touch: bool,
}

impl Dispatcher {
    /// Receives messages until every sender is gone.
    pub async fn run(self, mut messages: mpsc::UnboundedReceiver<Message>) {
        if self.concurrency <= 1 {
            // One at a time (the default): run the handler right here, with no task and no
            // permit per message.
            while let Some(message) = messages.recv().await {
                self.handle(message).await;
            }
            return;
        }
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(this.concurrency.max(1)));
        while let Some(message) = messages.recv().await {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let this = this.clone();
            tokio::spawn(async move {
                this.handle(message).await;
                drop(permit);
            });
        }
    }

    async fn handle(&self, message: Message) {
        if message.has_responded() {
            // Its connection closed while it waited for a handler slot.
            return;
        }
        if self.max_attempts > 0 && message.attempts() > self.max_attempts {
            tracing::warn!(id = %message.id(), attempts = message.attempts(), max = self.max_attempts,
                "message exceeded max_attempts, finishing it without handling");
            if let Some(hook) = &self.on_exhausted {
                let hooked = AssertUnwindSafe(hook(message.clone())).catch_unwind().await;
                if hooked.is_err() {
                    tracing::error!(id = %message.id(), "exhausted-message hook panicked");
                }
            }
            message.finish();
            return;
        }
        let run = AssertUnwindSafe(self.handler.handle(message.clone())).catch_unwind();
        let outcome = if self.auto_touch {
            with_touch(run, &message).await
        } else {
            run.await
        };
        if !message.is_auto_response_enabled() {
            return;
        }
        match outcome {
            Ok(Ok(())) => {
                message.finish();
            }
            Ok(Err(e)) => requeue(&message, &e),
            Err(_) => {
                tracing::error!(id = %message.id(), "handler panicked; requeueing");
                message.requeue(None);
            }
        }
    }
}

fn requeue(message: &Message, error: &HandlerError) {
    tracing::warn!(id = %message.id(), attempts = message.attempts(), error = %error, "handler failed; requeueing");
    message.requeue_with(error.requeue_delay(), error.backoff());
}

/// Awaits `run`, sending TOUCH every half message timeout until it completes.
async fn with_touch<F: std::future::Future>(run: F, message: &Message) -> F::Output {
    let period = (message.msg_timeout() / 2).max(Duration::from_millis(100));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tokio::pin!(run);
    loop {
        tokio::select! {
            out = &mut run => return out,
            _ = ticker.tick() => {
                tracing::debug!(id = %message.id(), "auto TOUCH");
                message.touch();
            }
        }
    }
}
