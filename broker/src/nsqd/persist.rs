//! Disk persistence for the engine, enabled by a non-empty `--data-path`:
//!
//! * [`DiskBackends`]: the [`BackendFactory`] that gives every non-ephemeral topic (`t`) and
//!   channel (`t:c`) a go-diskqueue compatible [`DiskQueue`] holding messages in the wire
//!   layout (26-byte header + body);
//! * [`Persistence`]: the `--data-path` lock, `nsqd.dat` restore at start (topics, channels,
//!   paused flags) and its atomic rewrite on every lifecycle event and at shutdown.
//!
//! With `--sync-ack` the queues bypass memory and write every record straight to the OS, and
//! publishers wait for [`BackendQueue::commit`] (a group-committed fsync) before `OK`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::collections::HashMap;

use futures::future::BoxFuture;
use nsq_wire::message::{Message, MessageId, MESSAGE_HEADER_LEN};
use nsq_wire::names::{is_valid_channel_name, is_valid_topic_name};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::backend::{BackendError, BackendFactory, BackendQueue};
use super::context::NsqdContext;
use super::health::Health;
use super::metadata::{self, ChannelMetadata, DataDirLock, Metadata, MetadataError, TopicMetadata};
use super::options::NsqdOptions;
use crate::diskqueue::{DiskQueue, DiskQueueError, DiskQueueOptions, ReadHold};

/// The disk queue settings nsqd's options imply.
pub fn queue_options(opts: &NsqdOptions) -> DiskQueueOptions {
    let header = MESSAGE_HEADER_LEN as u32;
    DiskQueueOptions {
        max_bytes_per_file: u64::try_from(opts.max_bytes_per_file).unwrap_or(1).max(1),
        min_msg_size: header,
        max_msg_size: u32::try_from(opts.max_msg_size)
            .unwrap_or(u32::MAX - header)
            .saturating_add(header),
        sync_every: u64::try_from(opts.sync_every).unwrap_or(1).max(1),
        sync_timeout: opts.sync_timeout,
        write_through: opts.sync_ack,
    }
}

fn backend_error(err: DiskQueueError) -> BackendError {
    BackendError::Other(err.to_string())
}

/// Opens one [`DiskQueue`] per topic/channel in the data path.
#[derive(Debug, Clone)]
pub struct DiskBackends {
    data_path: PathBuf,
    options: DiskQueueOptions,
    sync_ack: bool,
    health: Arc<Health>,
}

impl DiskBackends {
    /// Backends in `opts.data_path` with `opts`' disk queue settings; every write's outcome
    /// goes to `health`.
    pub fn new(opts: &NsqdOptions, health: Arc<Health>) -> Self {
        Self {
            data_path: opts.data_path.clone(),
            options: queue_options(opts),
            sync_ack: opts.sync_ack,
            health,
        }
    }
}

impl BackendFactory for DiskBackends {
    fn open(&self, name: &str) -> Result<Box<dyn BackendQueue>, BackendError> {
        let queue = DiskQueue::open(name, &self.data_path, self.options).map_err(backend_error);
        if queue.is_err() {
            self.health.record(&queue);
        }
        Ok(Box::new(DiskBackend {
            queue: queue?,
            sync_ack: self.sync_ack,
            health: self.health.clone(),
            holds: parking_lot::Mutex::default(),
        }))
    }
}

/// A topic's or channel's disk queue. With `--sync-ack` every record read stays held in the
/// disk queue until its message is released (FIN, or written back), so a crash re-delivers
/// in-flight and deferred messages instead of losing them.
struct DiskBackend {
    queue: DiskQueue,
    sync_ack: bool,
    health: Arc<Health>,
    /// The holds of each message read and not yet released (`--sync-ack` only).
    holds: parking_lot::Mutex<Holds>,
}

/// Read holds by message id. An id is read twice when a crash re-reads both the record a
/// message was delivered from and the one a requeue wrote back; settling the message
/// settles both, so the rare second hold waits in `more`.
#[derive(Default)]
struct Holds {
    first: HashMap<MessageId, ReadHold>,
    more: HashMap<MessageId, Vec<ReadHold>>,
}

impl Holds {
    fn insert(&mut self, id: MessageId, hold: ReadHold) {
        if let Some(first) = self.first.insert(id, hold) {
            self.first.insert(id, first);
            self.more.entry(id).or_default().push(hold);
        }
    }

    fn remove(&mut self, id: &MessageId) -> impl Iterator<Item = ReadHold> {
        let first = self.first.remove(id);
        let more = match first.is_some() && !self.more.is_empty() {
            true => self.more.remove(id).unwrap_or_default(),
            false => Vec::new(),
        };
        first.into_iter().chain(more)
    }

    fn clear(&mut self) {
        self.first.clear();
        self.more.clear();
    }
}

impl DiskBackend {
    fn pop(&self) -> Option<(bytes::Bytes, Option<ReadHold>)> {
        if self.sync_ack {
            self.queue.pop_held().map(|(data, hold)| (data, Some(hold)))
        } else {
            self.queue.pop().map(|data| (data, None))
        }
    }
}

impl BackendQueue for DiskBackend {
    fn put(&self, msg: &Message) -> Result<(), BackendError> {
        let result = self
            .queue
            .put_with(|buf| msg.encode(buf))
            .map_err(backend_error);
        self.health.record(&result);
        result
    }

    fn try_read(&self) -> Option<Message> {
        while let Some((record, hold)) = self.pop() {
            match Message::decode(record) {
                Ok(msg) => {
                    if let Some(hold) = hold {
                        self.holds.lock().insert(msg.id, hold);
                    }
                    return Some(msg);
                }
                Err(err) => {
                    tracing::error!(queue = self.queue.name(), %err,
                        "failed to decode message from disk queue; skipping it");
                    if let Some(hold) = hold {
                        self.queue.release(hold);
                    }
                }
            }
        }
        None
    }

    fn release(&self, id: &MessageId) {
        if !self.sync_ack {
            return;
        }
        for hold in self.holds.lock().remove(id) {
            self.queue.release(hold);
        }
    }

    fn release_all(&self) {
        if self.sync_ack {
            self.holds.lock().clear();
            self.queue.release_all();
        }
    }

    fn depth(&self) -> i64 {
        self.queue.depth()
    }

    fn empty(&self) -> Result<(), BackendError> {
        self.holds.lock().clear();
        self.queue.empty().map_err(backend_error)
    }

    fn flush(&self) -> Result<(), BackendError> {
        self.queue.sync_blocking().map_err(backend_error)
    }

    fn close(&self) -> Result<(), BackendError> {
        self.queue.close_blocking().map_err(backend_error)
    }

    fn delete(&self) -> Result<(), BackendError> {
        self.queue.delete().map_err(backend_error)
    }

    fn commit(&self) -> BoxFuture<'static, Result<(), BackendError>> {
        let queue = self.queue.clone();
        let health = self.health.clone();
        Box::pin(async move {
            let result = queue.commit().await.map_err(backend_error);
            health.record(&result);
            result
        })
    }

    fn bypass_memory(&self) -> bool {
        self.sync_ack
    }
}

/// The backend factory handed to the engine.
pub type SharedBackends = Arc<dyn BackendFactory>;

/// The persistence side of a running nsqd: holds the `--data-path` lock and keeps
/// `nsqd.dat` up to date.
#[derive(Debug)]
pub struct Persistence {
    data_path: PathBuf,
    _lock: DataDirLock,
    writer: Option<JoinHandle<()>>,
    /// Serializes `nsqd.dat` writes; `true` once the final one is done, so a rewrite still
    /// running on a blocking thread when the writer task is aborted cannot overwrite it with
    /// an older snapshot.
    final_written: Arc<parking_lot::Mutex<bool>>,
}

impl Persistence {
    /// Locks `opts.data_path` and returns the persistence state with the backend factory,
    /// or `None` when `data_path` is empty (an in-memory broker).
    /// Disk write outcomes go to `health`.
    pub fn open(
        opts: &NsqdOptions,
        health: Arc<Health>,
    ) -> Result<Option<(Persistence, SharedBackends)>, MetadataError> {
        if opts.data_path.as_os_str().is_empty() {
            return Ok(None);
        }
        let lock = DataDirLock::acquire(&opts.data_path)?;
        let persistence = Persistence {
            data_path: opts.data_path.clone(),
            _lock: lock,
            writer: None,
            final_written: Arc::default(),
        };
        Ok(Some((
            persistence,
            Arc::new(DiskBackends::new(opts, health)),
        )))
    }

    /// Recreates the topics and channels of `nsqd.dat` (pausing what was paused), rewrites
    /// it, and starts rewriting it on every topic/channel change.
    pub fn restore(&mut self, ctx: &NsqdContext) -> Result<(), MetadataError> {
        if let Some(saved) = metadata::load(&self.data_path)? {
            load_topics(ctx, saved);
        }
        save(ctx, &self.data_path)?;
        self.writer = Some(tokio::spawn(write_on_change(
            ctx.clone(),
            self.data_path.clone(),
            self.final_written.clone(),
        )));
        Ok(())
    }

    /// Final `nsqd.dat` write at shutdown.
    pub fn shutdown(&mut self, ctx: &NsqdContext) {
        if let Some(writer) = self.writer.take() {
            writer.abort();
        }
        let mut final_written = self.final_written.lock();
        if let Err(err) = save(ctx, &self.data_path) {
            tracing::error!(%err, "failed to persist metadata at shutdown");
        }
        *final_written = true;
    }
}

fn load_topics(ctx: &NsqdContext, saved: Metadata) {
    for saved_topic in saved.topics {
        if !is_valid_topic_name(&saved_topic.name) {
            tracing::warn!(topic = %saved_topic.name, "skipping creation of invalid topic");
            continue;
        }
        let topic = match ctx.get_or_create_topic(&saved_topic.name) {
            Ok(topic) => topic,
            Err(err) => {
                tracing::error!(topic = %saved_topic.name, %err, "failed to restore topic");
                continue;
            }
        };
        // Paused before its channels exist, so nothing is distributed in between.
        if saved_topic.paused {
            topic.pause();
        }
        for saved_channel in saved_topic.channels {
            if !is_valid_channel_name(&saved_channel.name) {
                tracing::warn!(channel = %saved_channel.name, "skipping creation of invalid channel");
                continue;
            }
            match topic.get_or_create_channel(&saved_channel.name) {
                Ok(channel) if saved_channel.paused => channel.pause(),
                Ok(_) => {}
                Err(err) => tracing::error!(topic = %saved_topic.name,
                    channel = %saved_channel.name, %err, "failed to restore channel"),
            }
        }
    }
}

/// The non-ephemeral topics and channels with their paused flags.
pub fn snapshot(ctx: &NsqdContext) -> Metadata {
    let topics = ctx
        .topics()
        .into_iter()
        .filter(|topic| !topic.is_ephemeral())
        .map(|topic| TopicMetadata {
            name: topic.name().to_owned(),
            paused: topic.is_paused(),
            channels: topic
                .channels()
                .into_iter()
                .filter(|channel| !channel.is_ephemeral())
                .map(|channel| ChannelMetadata {
                    name: channel.name().to_owned(),
                    paused: channel.is_paused(),
                })
                .collect(),
        })
        .collect();
    Metadata::new(topics)
}

fn save(ctx: &NsqdContext, data_path: &Path) -> Result<(), MetadataError> {
    metadata::save(data_path, &snapshot(ctx))
}

/// Rewrites `nsqd.dat` after lifecycle events; a burst of events costs one write.
async fn write_on_change(
    ctx: NsqdContext,
    data_path: PathBuf,
    final_written: Arc<parking_lot::Mutex<bool>>,
) {
    let mut events = ctx.events();
    let mut last_written = snapshot(&ctx);
    loop {
        tokio::select! {
            _ = ctx.shutdown_token().cancelled() => return,
            event = events.recv() => match event {
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
        while events.try_recv().is_ok() {}
        let current = snapshot(&ctx);
        if current == last_written {
            continue;
        }
        let path = data_path.clone();
        let to_write = current.clone();
        let gate = final_written.clone();
        let result = tokio::task::spawn_blocking(move || {
            let final_written = gate.lock();
            if *final_written {
                return Ok(());
            }
            metadata::save(&path, &to_write)
        })
        .await;
        match result {
            Ok(Ok(())) => {
                ctx.set_health(None);
                last_written = current;
            }
            Ok(Err(err)) => {
                tracing::error!(%err, "failed to persist metadata");
                ctx.set_health(Some(err.to_string()));
            }
            Err(err) => tracing::error!(%err, "metadata writer task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_of_an_id_read_twice_are_released_together() {
        let dir = tempfile::tempdir().unwrap();
        let opts = DiskQueueOptions {
            min_msg_size: 1,
            ..DiskQueueOptions::default()
        };
        let queue = DiskQueue::open("q", dir.path(), opts).unwrap();
        for body in [b"a", b"b", b"c"] {
            queue.put(body).unwrap();
        }
        let (x, y) = (MessageId::from_u64(1), MessageId::from_u64(2));
        let mut holds = Holds::default();
        for id in [x, x, y] {
            let (_, hold) = queue.pop_held().unwrap();
            holds.insert(id, hold);
        }
        let released: Vec<_> = holds.remove(&x).collect();
        assert_eq!(released.len(), 2);
        assert_eq!(holds.remove(&x).count(), 0);
        assert_eq!(holds.remove(&y).count(), 1);
        assert!(holds.more.is_empty());
    }
}
