//! The queue behind every topic and channel: a bounded memory queue (`--mem-queue-size`)
//! plus an optional [`BackendQueue`] (the disk queue plugs in here).
//!
//! Overflow policy when the memory queue is full:
//! * with a backend: the message goes to the backend;
//! * ephemeral (never has a backend): the message is dropped, as nsqd does;
//! * non-ephemeral without a backend (no disk queue configured yet): the memory queue keeps
//!   growing past `mem_queue_size` so that no acknowledged message is lost. A warning is
//!   logged the first time this happens for a queue. This is a deliberate deviation until
//!   the disk backend is plugged in through [`BackendFactory`].

use std::collections::VecDeque;
use std::time::Duration;

use nsq_wire::message::Message;

/// Errors of a backend queue.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

/// A persistent FIFO of messages (go-diskqueue in Go nsqd). Implementations encode a
/// message in the wire layout ([`Message::encode`]) and must be cheap to call while the
/// owning topic/channel lock is held (buffer internally if needed).
pub trait BackendQueue: Send + Sync + 'static {
    /// Appends a message (attempts included).
    fn put(&self, msg: &Message) -> Result<(), BackendError>;
    /// Takes the oldest message, if any is readable right now.
    fn try_read(&self) -> Option<Message>;
    /// Number of unread messages.
    fn depth(&self) -> i64;
    /// Drops every message.
    fn empty(&self) -> Result<(), BackendError>;
    /// Makes written messages durable (fsync).
    fn flush(&self) -> Result<(), BackendError>;
    /// Flushes and closes, keeping the data (shutdown).
    fn close(&self) -> Result<(), BackendError>;
    /// Closes and removes all data (topic/channel deletion).
    fn delete(&self) -> Result<(), BackendError>;
    /// Resolves once every message put so far is fsync'ed (group commit; `--sync-ack`).
    fn commit(&self) -> futures::future::BoxFuture<'static, Result<(), BackendError>> {
        Box::pin(std::future::ready(Ok(())))
    }
    /// Whether every message must go to this backend, never to memory (`--sync-ack`).
    fn bypass_memory(&self) -> bool {
        false
    }
}

/// Opens the backend of a queue; `name` is `topic` or `topic:channel` (go-diskqueue names).
pub trait BackendFactory: Send + Sync + 'static {
    fn open(&self, name: &str) -> Result<Box<dyn BackendQueue>, BackendError>;
}

/// A message waiting in a queue, with the defer it still has to serve (topics only: DPUB
/// messages keep their defer until a channel receives them).
#[derive(Debug, Clone)]
pub struct Queued {
    pub msg: Message,
    pub defer: Duration,
}

/// What happened to a pushed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Memory,
    Backend,
    /// Ephemeral queue full: dropped.
    Dropped,
    /// Non-ephemeral, no backend, memory full: kept in memory anyway.
    Overflowed,
}

/// Memory queue + optional backend.
pub struct MessageQueue {
    name: String,
    memory: VecDeque<Queued>,
    mem_limit: usize,
    ephemeral: bool,
    backend: Option<Box<dyn BackendQueue>>,
    warned_overflow: bool,
    /// Alternates reads between memory and backend when both hold messages, so neither
    /// starves (nsqd selects randomly between the two).
    prefer_backend: bool,
}

impl MessageQueue {
    /// A queue named `name` (for logs) holding up to `mem_limit` messages in memory.
    pub fn new(
        name: String,
        mem_limit: usize,
        ephemeral: bool,
        backend: Option<Box<dyn BackendQueue>>,
    ) -> Self {
        let bypass = backend.as_ref().is_some_and(|b| b.bypass_memory());
        MessageQueue {
            name,
            memory: VecDeque::new(),
            mem_limit: if bypass { 0 } else { mem_limit },
            ephemeral,
            backend,
            warned_overflow: false,
            prefer_backend: false,
        }
    }

    /// Appends a message following the overflow policy of the module docs.
    pub fn push(&mut self, item: Queued) -> Result<PushOutcome, BackendError> {
        if self.memory.len() < self.mem_limit {
            self.memory.push_back(item);
            return Ok(PushOutcome::Memory);
        }
        if let Some(backend) = &self.backend {
            backend.put(&item.msg)?;
            return Ok(PushOutcome::Backend);
        }
        if self.ephemeral {
            return Ok(PushOutcome::Dropped);
        }
        if !self.warned_overflow {
            self.warned_overflow = true;
            tracing::warn!(
                queue = %self.name,
                mem_queue_size = self.mem_limit,
                "memory queue full and no disk backend configured; keeping messages in memory"
            );
        }
        self.memory.push_back(item);
        Ok(PushOutcome::Overflowed)
    }

    /// Whether a message would be dropped right now (ephemeral, memory full).
    pub fn is_full_ephemeral(&self) -> bool {
        self.ephemeral && self.backend.is_none() && self.memory.len() >= self.mem_limit
    }

    /// Takes the next message from memory or backend.
    pub fn pop(&mut self) -> Option<Queued> {
        let backend_first = self.prefer_backend || self.memory.is_empty();
        self.prefer_backend = !self.prefer_backend;
        if backend_first {
            if let Some(msg) = self.backend.as_ref().and_then(|b| b.try_read()) {
                return Some(Queued {
                    msg,
                    defer: Duration::ZERO,
                });
            }
        }
        self.memory.pop_front()
    }

    /// Memory + backend depth.
    pub fn depth(&self) -> i64 {
        self.memory.len() as i64 + self.backend_depth()
    }

    /// Backend depth.
    pub fn backend_depth(&self) -> i64 {
        self.backend.as_ref().map_or(0, |b| b.depth())
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.depth() == 0
    }

    /// The backend's durability barrier ([`BackendQueue::commit`]), if there is a backend.
    pub fn commit(&self) -> Option<futures::future::BoxFuture<'static, Result<(), BackendError>>> {
        self.backend.as_ref().map(|b| b.commit())
    }

    /// Drops everything (memory and backend).
    pub fn empty(&mut self) -> Result<(), BackendError> {
        self.memory.clear();
        match &self.backend {
            Some(backend) => backend.empty(),
            None => Ok(()),
        }
    }

    /// Shutdown hook: writes the memory queue to the backend (if any), then closes it.
    /// Without a backend the memory content is discarded (in-memory broker).
    pub fn flush_and_close(&mut self, extra: Vec<Message>) -> Result<(), BackendError> {
        let Some(backend) = &self.backend else {
            self.memory.clear();
            return Ok(());
        };
        for item in self.memory.drain(..) {
            backend.put(&item.msg)?;
        }
        for msg in extra {
            backend.put(&msg)?;
        }
        backend.close()
    }

    /// Deletion hook: drops everything and removes the backend's data.
    pub fn delete(&mut self) -> Result<(), BackendError> {
        self.memory.clear();
        match self.backend.take() {
            Some(backend) => backend.delete(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use nsq_wire::message::MessageId;

    fn item(n: u64) -> Queued {
        Queued {
            msg: Message {
                timestamp: 0,
                attempts: 0,
                id: MessageId::from_u64(n),
                body: Bytes::from_static(b"x"),
            },
            defer: Duration::ZERO,
        }
    }

    #[test]
    fn ephemeral_drops_when_full() {
        let mut q = MessageQueue::new("t#ephemeral".into(), 2, true, None);
        assert_eq!(q.push(item(1)).unwrap(), PushOutcome::Memory);
        assert_eq!(q.push(item(2)).unwrap(), PushOutcome::Memory);
        assert!(q.is_full_ephemeral());
        assert_eq!(q.push(item(3)).unwrap(), PushOutcome::Dropped);
        assert_eq!(q.depth(), 2);
    }

    #[test]
    fn durable_without_backend_keeps_messages() {
        let mut q = MessageQueue::new("t".into(), 1, false, None);
        q.push(item(1)).unwrap();
        assert_eq!(q.push(item(2)).unwrap(), PushOutcome::Overflowed);
        assert_eq!(q.depth(), 2);
        assert_eq!(q.pop().unwrap().msg.id, MessageId::from_u64(1));
        assert_eq!(q.pop().unwrap().msg.id, MessageId::from_u64(2));
        assert!(q.pop().is_none());
    }
}
