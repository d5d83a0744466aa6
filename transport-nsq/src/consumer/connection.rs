//! One consumer connection's life: connect and subscribe, forward messages to the handler
//! dispatcher, report to the coordinator, and (for directly configured nsqd) reconnect with
//! capped exponential backoff plus jitter after a loss.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::message::{ConnShared, Message, Shared};
use super::Event;
use crate::conn::{self, ConnEvent};

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// Where an nsqd address came from; decides what happens after the connection is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Configured directly: reconnect with backoff.
    Direct,
    /// Discovered through lookupd: do not reconnect; lookupd will list it again if alive.
    Lookupd,
}

/// Delay before reconnect attempt `attempt` (1-based): `min × 2^(attempt-1)`, capped, with
/// ±25% jitter so a fleet of consumers does not reconnect in lockstep.
pub(crate) fn reconnect_delay(
    min: Duration,
    max: Duration,
    attempt: u32,
    rng: &mut impl Rng,
) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let base = min.saturating_mul(1u32 << exp).min(max);
    base.mul_f64(rng.gen_range(0.75..=1.25)).min(max)
}

/// Runs connections to `addr` until stopped (or, for lookupd sources, until the first loss).
pub(crate) async fn supervise(
    addr: String,
    source: Source,
    shared: Arc<Shared>,
    dispatch: mpsc::UnboundedSender<Message>,
    stopping: CancellationToken,
) {
    let config = &shared.config;
    let mut failures: u32 = 0;
    loop {
        if stopping.is_cancelled() {
            break;
        }
        let subscribe = Some((shared.topic.as_str(), shared.channel.as_str()));
        let connected = tokio::select! {
            _ = stopping.cancelled() => break,
            c = conn::connect(&addr, config, subscribe) => c,
        };
        match connected {
            Ok(connection) => {
                failures = 0;
                run(connection, &shared, &dispatch).await;
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(nsqd = %addr, error = %e, "consumer connection failed");
            }
        }
        if source == Source::Lookupd || stopping.is_cancelled() {
            break;
        }
        let delay = reconnect_delay(
            config.reconnect_min_delay,
            config.reconnect_max_delay,
            failures.max(1),
            &mut rand::thread_rng(),
        );
        tracing::info!(nsqd = %addr, ?delay, "reconnecting");
        tokio::select! {
            _ = stopping.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    let _ = shared.events.send(Event::SupervisorEnded { addr, source });
}

async fn run(
    mut connection: conn::Connection,
    shared: &Arc<Shared>,
    dispatch: &mpsc::UnboundedSender<Message>,
) {
    let id = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
    let conn = Arc::new(ConnShared::new(
        id,
        connection.addr.clone(),
        connection.writer.clone(),
        connection.info.clone(),
    ));
    tracing::info!(nsqd = %conn.addr, conn = id, topic = %shared.topic, channel = %shared.channel, "subscribed");
    let _ = shared.events.send(Event::Connected { conn: conn.clone() });
    while let Some(event) = connection.events.recv().await {
        match event {
            ConnEvent::Message(wire) => {
                shared.counters.received.fetch_add(1, Ordering::Relaxed);
                let message = Message::received(wire, conn.clone(), shared.clone());
                let _ = shared.events.send(Event::MessageReceived { conn: id });
                if dispatch.send(message.clone()).is_err() {
                    // The consumer is gone; give the message back right away.
                    message.requeue_without_backoff(Some(Duration::ZERO));
                }
            }
            ConnEvent::Response(data) if data.as_ref() == nsq_wire::CLOSE_WAIT => {
                let _ = shared.events.send(Event::CloseWait { conn: id });
            }
            ConnEvent::Response(data) => {
                tracing::debug!(nsqd = %conn.addr, response = %String::from_utf8_lossy(&data), "response");
            }
            ConnEvent::Error(data) => {
                let err = crate::error::Error::broker(&conn.addr, &data);
                match nsq_wire::error::ErrorCode::from_frame_data(&data) {
                    Some(code) if !code.is_fatal() => {
                        tracing::debug!(nsqd = %conn.addr, error = %err, "non-fatal error")
                    }
                    _ => tracing::error!(nsqd = %conn.addr, error = %err, "nsqd error"),
                }
            }
            ConnEvent::Closed(reason) => {
                match reason {
                    Some(e) => tracing::warn!(nsqd = %conn.addr, error = %e, "connection lost"),
                    None => tracing::info!(nsqd = %conn.addr, "connection closed"),
                }
                break;
            }
        }
    }
    connection.closed.cancel();
    conn.mark_closed();
    shared.answered.notify_waiters();
    let _ = shared.events.send(Event::Disconnected { conn: id });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn reconnect_delay_grows_and_caps() {
        let mut rng = StdRng::seed_from_u64(5);
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        let d1 = reconnect_delay(min, max, 1, &mut rng);
        assert!(d1 >= Duration::from_millis(75) && d1 <= Duration::from_millis(125));
        let d4 = reconnect_delay(min, max, 4, &mut rng);
        assert!(d4 >= Duration::from_millis(600) && d4 <= Duration::from_millis(1000));
        for attempt in [10, 100, u32::MAX] {
            assert!(reconnect_delay(min, max, attempt, &mut rng) <= max);
        }
    }
}
