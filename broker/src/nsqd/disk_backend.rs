//! The disk backends of nsqd's queues ([`DiskBackends`], the engine's [`BackendFactory`]):
//! every non-ephemeral topic (`t`) and channel (`t:c`) gets a go-diskqueue compatible
//! [`DiskQueue`] holding messages in the wire layout (26-byte header + body).
//!
//! With `--sync-ack`:
//! * queues bypass memory and write every record straight to the OS, and publishers wait for
//!   [`BackendQueue::commit`] (a group-committed fsync) before `OK`;
//! * a record read stays *held* in its disk queue until its message is released (FIN, or
//!   written back), so a crash re-delivers in-flight and requeued messages;
//! * a channel's deferred messages (`DPUB`, `REQ` with a delay) also go, with their due time,
//!   to the channel's *deferred journal* `t:c;deferred` (a disk queue of `[8-byte due time, ns
//!   since the Unix epoch][message]` records), held there until due; a restart defers them
//!   again. `;` is not allowed in topic and channel names, so a journal never shares files
//!   with a queue.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::BoxFuture;
use nsq_wire::message::{Message, MessageId, MESSAGE_HEADER_LEN};

use super::backend::{BackendError, BackendFactory, BackendQueue};
use super::health::Health;
use super::inflight::IdMap;
use super::options::NsqdOptions;
use crate::diskqueue::{DiskQueue, DiskQueueError, DiskQueueOptions, ReadHold};

/// Length of the due time in front of each deferred journal record.
const DUE_LEN: u32 = 8;

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

/// The name of a channel queue's deferred journal.
fn journal_name(queue: &str) -> String {
    format!("{queue};deferred")
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

    /// A channel's journal: opened with `--sync-ack`, or without it when one was left by an
    /// earlier run (its messages are deferred again, then it empties).
    fn open_journal(&self, queue: &str) -> Result<Option<DiskQueue>, DiskQueueError> {
        let name = journal_name(queue);
        if !queue.contains(':') || !(self.sync_ack || journal_exists(&self.data_path, &name)) {
            return Ok(None);
        }
        let options = DiskQueueOptions {
            min_msg_size: self.options.min_msg_size + DUE_LEN,
            max_msg_size: self.options.max_msg_size.saturating_add(DUE_LEN),
            write_through: true,
            ..self.options
        };
        DiskQueue::open(name, &self.data_path, options).map(Some)
    }
}

fn journal_exists(dir: &Path, name: &str) -> bool {
    let prefix = format!("{name}.diskqueue.");
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
        })
    })
}

impl BackendFactory for DiskBackends {
    fn open(&self, name: &str) -> Result<Box<dyn BackendQueue>, BackendError> {
        let opened = DiskQueue::open(name, &self.data_path, self.options)
            .and_then(|queue| Ok((queue, self.open_journal(name)?)))
            .map_err(backend_error);
        if opened.is_err() {
            self.health.record(&opened);
        }
        let (queue, journal) = opened?;
        Ok(Box::new(DiskBackend {
            queue,
            journal,
            sync_ack: self.sync_ack,
            health: self.health.clone(),
            holds: parking_lot::Mutex::default(),
        }))
    }
}

/// A topic's or channel's disk queue, and a channel's deferred journal.
struct DiskBackend {
    queue: DiskQueue,
    journal: Option<DiskQueue>,
    sync_ack: bool,
    health: Arc<Health>,
    /// The records held for each message not yet released.
    holds: parking_lot::Mutex<Holds>,
}

/// A held record: in the queue, or in the deferred journal.
#[derive(Debug, Clone, Copy)]
enum Held {
    Queue(ReadHold),
    Journal(ReadHold),
}

/// Held records by message id. An id is read twice when a crash re-reads both the record a
/// message was delivered from and the one a requeue wrote back; releasing the message
/// releases both, so the rare second hold waits in `more`.
#[derive(Default)]
struct Holds {
    first: IdMap<Held>,
    more: IdMap<Vec<Held>>,
}

impl Holds {
    fn insert(&mut self, id: MessageId, held: Held) {
        if let Some(first) = self.first.insert(id, held) {
            self.first.insert(id, first);
            self.more.entry(id).or_default().push(held);
        }
    }

    /// Every hold of `id`, taken out (no allocation in the usual case of one).
    fn remove(&mut self, id: &MessageId) -> impl Iterator<Item = Held> {
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
    fn pop(&self) -> Option<(Bytes, Option<ReadHold>)> {
        if self.sync_ack {
            self.queue.pop_held().map(|(data, hold)| (data, Some(hold)))
        } else {
            self.queue.pop().map(|data| (data, None))
        }
    }

    /// Whether reads are held at all: with `--sync-ack`, or while a journal from an earlier
    /// run is drained.
    fn takes_holds(&self) -> bool {
        self.sync_ack || self.journal.is_some()
    }

    fn release_held(&self, held: Held) {
        match (held, &self.journal) {
            (Held::Queue(hold), _) => self.queue.release(hold),
            (Held::Journal(hold), Some(journal)) => journal.release(hold),
            (Held::Journal(_), None) => {}
        }
    }

    fn record<T>(&self, result: Result<T, DiskQueueError>) -> Result<T, BackendError> {
        let result = result.map_err(backend_error);
        self.health.record(&result);
        result
    }
}

impl BackendQueue for DiskBackend {
    fn put(&self, msg: &Message) -> Result<(), BackendError> {
        self.record(self.queue.put_with(|buf| msg.encode(buf)))
    }

    fn try_read(&self) -> Option<Message> {
        while let Some((record, hold)) = self.pop() {
            match Message::decode(record) {
                Ok(msg) => {
                    if let Some(hold) = hold {
                        self.holds.lock().insert(msg.id, Held::Queue(hold));
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

    fn depth(&self) -> i64 {
        self.queue.depth()
    }

    fn empty(&self) -> Result<(), BackendError> {
        self.holds.lock().clear();
        if let Some(journal) = &self.journal {
            self.record(journal.empty())?;
        }
        self.queue.empty().map_err(backend_error)
    }

    fn flush(&self) -> Result<(), BackendError> {
        if let Some(journal) = &self.journal {
            journal.sync_blocking().map_err(backend_error)?;
        }
        self.queue.sync_blocking().map_err(backend_error)
    }

    fn close(&self) -> Result<(), BackendError> {
        if let Some(journal) = &self.journal {
            // A clean shutdown wrote the deferred messages to the queue and released them:
            // an empty journal leaves no files behind.
            let result = if journal.depth() == 0 && journal.held() == 0 {
                journal.delete()
            } else {
                journal.close_blocking()
            };
            result.map_err(backend_error)?;
        }
        self.queue.close_blocking().map_err(backend_error)
    }

    fn delete(&self) -> Result<(), BackendError> {
        if let Some(journal) = &self.journal {
            journal.delete().map_err(backend_error)?;
        }
        self.queue.delete().map_err(backend_error)
    }

    fn commit(&self) -> BoxFuture<'static, Result<(), BackendError>> {
        let queue = self.queue.clone();
        let journal = self.journal.clone();
        let health = self.health.clone();
        Box::pin(async move {
            let mut result = queue.commit().await;
            if let (Ok(()), Some(journal)) = (&result, journal) {
                result = journal.commit().await;
            }
            let result = result.map_err(backend_error);
            health.record(&result);
            result
        })
    }

    fn bypass_memory(&self) -> bool {
        self.sync_ack
    }

    fn release(&self, id: &MessageId) {
        if !self.takes_holds() {
            return;
        }
        let held = self.holds.lock().remove(id);
        for held in held {
            self.release_held(held);
        }
    }

    fn release_all(&self) {
        if !self.takes_holds() {
            return;
        }
        self.holds.lock().clear();
        self.queue.release_all();
        if let Some(journal) = &self.journal {
            journal.release_all();
        }
    }

    fn defer(&self, msg: &Message, due: SystemTime) -> Result<(), BackendError> {
        let Some(journal) = self.journal.as_ref().filter(|_| self.sync_ack) else {
            return Ok(());
        };
        let due_ns = due
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.record(journal.put_with(|buf| {
            buf.extend_from_slice(&due_ns.to_be_bytes());
            msg.encode(buf);
        }))?;
        // Only this method and `take_deferred` (at start) read the journal, so the next
        // unread record is the one just written: hold it until the message is due. The
        // record a requeued message was read from is settled: the journal has it now.
        let Some((_, hold)) = journal.pop_held() else {
            return Ok(());
        };
        let earlier = {
            let mut holds = self.holds.lock();
            let earlier: Vec<Held> = holds.remove(&msg.id).collect();
            holds.insert(msg.id, Held::Journal(hold));
            earlier
        };
        for held in earlier {
            self.release_held(held);
        }
        Ok(())
    }

    fn take_deferred(&self) -> Vec<(Message, SystemTime)> {
        let Some(journal) = &self.journal else {
            return Vec::new();
        };
        let mut restored = Vec::new();
        while let Some((record, hold)) = journal.pop_held() {
            match decode_deferred(record) {
                Some((msg, due)) => {
                    self.holds.lock().insert(msg.id, Held::Journal(hold));
                    restored.push((msg, due));
                }
                None => {
                    tracing::error!(
                        queue = journal.name(),
                        "failed to decode deferred message from journal; skipping it"
                    );
                    journal.release(hold);
                }
            }
        }
        if !restored.is_empty() {
            tracing::info!(
                queue = journal.name(),
                count = restored.len(),
                "deferred messages restored"
            );
        }
        restored
    }
}

/// A journal record: `[due time, ns since the Unix epoch][message]`.
fn decode_deferred(record: Bytes) -> Option<(Message, SystemTime)> {
    let due: [u8; 8] = record.get(..8)?.try_into().ok()?;
    let due = UNIX_EPOCH + Duration::from_nanos(u64::from_be_bytes(due));
    let msg = Message::decode(record.slice(8..)).ok()?;
    Some((msg, due))
}

#[cfg(test)]
mod tests;
