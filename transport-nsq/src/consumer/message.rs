//! A received message and the ways to answer it (FIN, REQ, TOUCH), on the connection it
//! arrived on. Each message can be answered once; later answers are local no-ops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use nsq_wire::command::Command;
use nsq_wire::message::MessageId;
use tokio::sync::{mpsc, Notify};

use super::Event;
use crate::backoff::Signal;
use crate::config::Config;
use crate::conn::{CommandSender, ServerInfo};

/// Counters shared by a consumer and its messages.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub received: AtomicU64,
    pub finished: AtomicU64,
    pub requeued: AtomicU64,
    pub connections: AtomicUsize,
}

/// State shared by a consumer's tasks and messages.
pub(crate) struct Shared {
    pub topic: String,
    pub channel: String,
    pub config: Config,
    pub counters: Counters,
    pub events: mpsc::UnboundedSender<Event>,
    /// Signalled on every answer, so drain can wait for in-flight messages.
    pub answered: Notify,
}

/// One subscribed connection, as messages see it.
pub(crate) struct ConnShared {
    pub id: u64,
    pub addr: String,
    pub writer: CommandSender,
    pub info: ServerInfo,
    in_flight: Mutex<HashMap<MessageId, Message>>,
    open: AtomicBool,
}

impl ConnShared {
    pub fn new(id: u64, addr: String, writer: CommandSender, info: ServerInfo) -> Self {
        Self {
            id,
            addr,
            writer,
            info,
            in_flight: Mutex::new(HashMap::new()),
            open: AtomicBool::new(true),
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, HashMap<MessageId, Message>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Messages received on this connection and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.registry().len()
    }

    /// Unanswered messages (for drain's final requeue).
    pub fn unanswered(&self) -> Vec<Message> {
        self.registry().values().cloned().collect()
    }

    /// The connection closed: its messages can no longer be answered (nsqd will time them
    /// out and redeliver them).
    pub fn mark_closed(&self) {
        self.open.store(false, Ordering::Release);
        let dropped: Vec<Message> = self.registry().drain().map(|(_, m)| m).collect();
        for m in dropped {
            m.inner.answered.store(true, Ordering::Release);
        }
    }
}

/// A message delivered to a consumer.
///
/// Cloning is cheap; all clones refer to the same delivery.
#[derive(Clone)]
pub struct Message {
    inner: Arc<Inner>,
}

struct Inner {
    wire: nsq_wire::message::Message,
    conn: Arc<ConnShared>,
    shared: Arc<Shared>,
    answered: AtomicBool,
    auto_response: AtomicBool,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id())
            .field("attempts", &self.attempts())
            .field("nsqd", &self.nsqd_address())
            .field("body_len", &self.body().len())
            .finish()
    }
}

impl Message {
    /// Registers a newly received message as in flight on `conn`.
    pub(crate) fn received(
        wire: nsq_wire::message::Message,
        conn: Arc<ConnShared>,
        shared: Arc<Shared>,
    ) -> Self {
        let id = wire.id;
        let message = Self {
            inner: Arc::new(Inner {
                wire,
                conn: conn.clone(),
                shared,
                answered: AtomicBool::new(false),
                auto_response: AtomicBool::new(true),
            }),
        };
        conn.registry().insert(id, message.clone());
        message
    }

    /// The message id (16 ASCII bytes).
    pub fn id(&self) -> MessageId {
        self.inner.wire.id
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.inner.wire.body
    }

    /// Delivery attempts including this one.
    pub fn attempts(&self) -> u16 {
        self.inner.wire.attempts
    }

    /// Publish time, nanoseconds since the Unix epoch.
    pub fn timestamp(&self) -> i64 {
        self.inner.wire.timestamp
    }

    /// The nsqd this message came from.
    pub fn nsqd_address(&self) -> &str {
        &self.inner.conn.addr
    }

    /// This connection's message timeout (nsqd's IDENTIFY reply).
    pub fn msg_timeout(&self) -> Duration {
        self.inner.conn.info.msg_timeout
    }

    /// Stop the consumer from answering automatically after the handler returns.
    pub fn disable_auto_response(&self) {
        self.inner.auto_response.store(false, Ordering::Release);
    }

    /// Whether the consumer answers automatically.
    pub fn is_auto_response_enabled(&self) -> bool {
        self.inner.auto_response.load(Ordering::Acquire)
    }

    /// Whether the message has been answered (or its connection lost).
    pub fn has_responded(&self) -> bool {
        self.inner.answered.load(Ordering::Acquire)
    }

    /// `FIN`: done. Returns false if the message was already answered.
    pub fn finish(&self) -> bool {
        self.answer(Command::Fin(self.id()), Signal::Success)
    }

    /// `REQ` with backoff. `None` uses go-nsq's computed delay:
    /// `default_requeue_delay × attempts`, capped at `max_requeue_delay`.
    pub fn requeue(&self, delay: Option<Duration>) -> bool {
        self.requeue_with(delay, true)
    }

    /// `REQ` without triggering backoff (go-nsq `RequeueWithoutBackoff`).
    pub fn requeue_without_backoff(&self, delay: Option<Duration>) -> bool {
        self.requeue_with(delay, false)
    }

    pub(crate) fn requeue_with(&self, delay: Option<Duration>, backoff: bool) -> bool {
        let delay = delay.unwrap_or_else(|| self.computed_requeue_delay());
        let timeout_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        let signal = if backoff {
            Signal::Failure
        } else {
            Signal::Continue
        };
        self.answer(
            Command::Req {
                id: self.id(),
                timeout_ms,
            },
            signal,
        )
    }

    /// go-nsq's delay for `Requeue(-1)`.
    pub fn computed_requeue_delay(&self) -> Duration {
        let config = &self.inner.shared.config;
        config
            .default_requeue_delay
            .saturating_mul(u32::from(self.attempts()))
            .min(config.max_requeue_delay)
    }

    /// `TOUCH`: resets nsqd's timeout for this message. Ignored once answered.
    pub fn touch(&self) -> bool {
        if self.has_responded() {
            return false;
        }
        self.inner
            .conn
            .writer
            .send(Command::Touch(self.id()))
            .is_ok()
    }

    fn answer(&self, command: Command, signal: Signal) -> bool {
        if self.inner.answered.swap(true, Ordering::AcqRel) {
            return false;
        }
        let conn = &self.inner.conn;
        conn.registry().remove(&self.id());
        let shared = &self.inner.shared;
        let sent = conn.open.load(Ordering::Acquire) && conn.writer.send(command).is_ok();
        if sent {
            let counter = match signal {
                Signal::Success => &shared.counters.finished,
                _ => &shared.counters.requeued,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let _ = shared.events.send(Event::Answered {
                conn: conn.id,
                signal,
            });
        }
        shared.answered.notify_waiters();
        sent
    }
}
