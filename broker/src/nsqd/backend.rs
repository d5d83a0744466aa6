//! The seam between a topic's or channel's queue and its persistent backend: the
//! [`BackendQueue`] trait (the disk queue implements it) and the [`BackendFactory`] that opens
//! one per queue. The memory side lives in [`super::queue`].

use std::time::SystemTime;

use nsq_wire::message::{Message, MessageId};

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
    /// The message `id` that [`Self::try_read`] returned is settled (finished, or written back
    /// to a queue): its record no longer has to survive a crash. Backends that keep read
    /// records until then (`--sync-ack`) let them go here; the default does nothing.
    fn release(&self, _id: &MessageId) {}
    /// Every message read so far is settled (see [`Self::release`]).
    fn release_all(&self) {}
    /// Records a message deferred until `due` (`DPUB`, `REQ` with a delay), so that it
    /// survives a crash with its due time; a record of it read earlier is settled (this one
    /// replaces it). It is settled by [`Self::release`] once due and written to the queue.
    /// The default keeps deferred messages in memory only, as nsqd does.
    fn defer(&self, _msg: &Message, _due: SystemTime) -> Result<(), BackendError> {
        Ok(())
    }
    /// The deferred messages an earlier run recorded with [`Self::defer`] and did not
    /// settle, with their due times (read once, when the channel is created).
    fn take_deferred(&self) -> Vec<(Message, SystemTime)> {
        Vec::new()
    }
}

/// Opens the backend of a queue; `name` is `topic` or `topic:channel` (go-diskqueue names).
pub trait BackendFactory: Send + Sync + 'static {
    fn open(&self, name: &str) -> Result<Box<dyn BackendQueue>, BackendError>;
}
