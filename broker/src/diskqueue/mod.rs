//! A disk-backed FIFO with go-diskqueue's exact on-disk format, so a data directory can move
//! between Go nsqd and ours.
//!
//! * Data files `<name>.diskqueue.<NNNNNN>.dat`: records `[4-byte big-endian length][payload]`.
//! * Metadata `<name>.diskqueue.meta.dat`: `depth\nreadFile,readPos\nwriteFile,writePos\n`.
//! * A corrupt or truncated data file is renamed `<file>.bad`, logged, and reading goes on with
//!   the next file.
//!
//! Built for an async broker: [`DiskQueue::put`] appends to an in-memory batch (one `write`
//! syscall per 256 KiB, no task or channel per message), readers use [`DiskQueue::peek`] /
//! [`DiskQueue::advance`] or the async [`DiskQueue::next`], and fsyncs run on the blocking pool.
//! [`DiskQueue::commit`] is a group commit: callers that wait at the same time share one fsync.
//!
//! Durability follows go-diskqueue: data and metadata are fsync'ed every `sync_every`
//! operations, every `sync_timeout` when something changed, when the write file rolls and on
//! close. [`DiskQueue::put_durable`] additionally returns only once the record is fsync'ed.
//! On open, records written after the last metadata sync (a crash) are found by scanning and
//! are never overwritten.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), broker::diskqueue::DiskQueueError> {
//! use broker::diskqueue::{DiskQueue, DiskQueueOptions};
//! let dir = tempfile::tempdir().unwrap();
//! let opts = DiskQueueOptions { min_msg_size: 1, ..DiskQueueOptions::default() };
//! let queue = DiskQueue::open("orders", dir.path(), opts)?;
//! queue.put(b"hello")?;
//! queue.put_durable(b"world").await?; // OK only after fsync
//! assert_eq!(queue.depth(), 2);
//! assert_eq!(queue.pop().as_deref(), Some(&b"hello"[..]));
//! assert_eq!(queue.next().await.as_deref(), Some(&b"world"[..]));
//! queue.close().await?;
//! # Ok(()) }
//! ```

mod core;
mod holds;
pub mod meta;
mod segment;

#[cfg(test)]
mod held_tests;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use self::core::{Core, SyncJob};
pub use self::holds::ReadHold;
pub(crate) use self::meta::write_file_atomic;
pub use self::meta::{Position, QueueMeta};

/// Tuning of one queue; defaults are Go nsqd's (`--max-bytes-per-file`, `--sync-every`,
/// `--sync-timeout`, and record sizes for a 26-byte message header plus `--max-msg-size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskQueueOptions {
    /// A data file is closed and a new one started before it would exceed this many bytes.
    pub max_bytes_per_file: u64,
    /// Smallest valid record payload.
    pub min_msg_size: u32,
    /// Largest valid record payload.
    pub max_msg_size: u32,
    /// fsync data and metadata after this many reads and writes.
    pub sync_every: u64,
    /// fsync data and metadata this often when anything changed.
    pub sync_timeout: Duration,
    /// Hand every record to the OS as it is put (one `write` per record, like go-diskqueue)
    /// instead of batching: a process crash then loses nothing that was put. `--sync-ack`
    /// uses it. Off: records are batched and written within milliseconds by the queue's
    /// background task (or when 256 KiB accumulate, a reader needs them, or on sync).
    pub write_through: bool,
}

impl Default for DiskQueueOptions {
    fn default() -> Self {
        Self {
            max_bytes_per_file: 100 * 1024 * 1024,
            min_msg_size: 26,
            max_msg_size: 1024 * 1024 + 26,
            sync_every: 2500,
            sync_timeout: Duration::from_secs(2),
            write_through: false,
        }
    }
}

/// A disk queue failure.
#[derive(Debug, thiserror::Error)]
pub enum DiskQueueError {
    /// A filesystem operation failed (no space, permission denied, read-only, ...).
    #[error("diskqueue {queue}: {op} {}: {source}", path.display())]
    Io {
        /// Queue name.
        queue: String,
        /// What was being done.
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The payload is outside the configured size range.
    #[error("invalid message write size ({size}) minMsgSize={min} maxMsgSize={max}")]
    InvalidMessageSize {
        /// Payload size.
        size: usize,
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
    },
    /// The queue was closed or deleted.
    #[error("diskqueue {0}: exiting")]
    Closed(String),
}

/// A handle to one disk queue; clones share the queue.
#[derive(Clone)]
pub struct DiskQueue {
    shared: Arc<Shared>,
}

struct Shared {
    name: String,
    core: Mutex<Core>,
    /// Lets concurrent async committers queue up behind one fsync (group commit).
    sync_lock: tokio::sync::Mutex<()>,
    /// The last metadata generation written: keeps metadata writes in order.
    meta_written: Arc<Mutex<u64>>,
    /// Highest write sequence number known to be fsync'ed.
    synced_seq: AtomicU64,
    readable: Notify,
    sync_wakeup: Arc<Notify>,
    has_sync_task: bool,
}

impl std::fmt::Debug for DiskQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskQueue")
            .field("name", &self.shared.name)
            .field("meta", &self.meta())
            .finish()
    }
}

impl DiskQueue {
    /// Opens (or creates) queue `name` in the existing directory `data_path`, recovering state
    /// from its metadata and data files. Inside a tokio runtime this also starts the periodic
    /// sync task (`sync_timeout`); it ends when the queue is closed or dropped.
    pub fn open(
        name: impl Into<String>,
        data_path: impl AsRef<Path>,
        options: DiskQueueOptions,
    ) -> Result<Self, DiskQueueError> {
        let name = name.into();
        let core = Core::open(&name, data_path.as_ref(), options)?;
        let runtime = tokio::runtime::Handle::try_current().ok();
        let shared = Arc::new(Shared {
            name,
            core: Mutex::new(core),
            sync_lock: tokio::sync::Mutex::new(()),
            meta_written: Arc::new(Mutex::new(0)),
            synced_seq: AtomicU64::new(0),
            readable: Notify::new(),
            sync_wakeup: Arc::new(Notify::new()),
            has_sync_task: runtime.is_some(),
        });
        if let Some(runtime) = runtime {
            let weak = Arc::downgrade(&shared);
            let wakeup = shared.sync_wakeup.clone();
            runtime.spawn(sync_loop(weak, wakeup, options.sync_timeout));
        }
        Ok(Self { shared })
    }

    /// The queue's name (file name prefix).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Number of unread records.
    pub fn depth(&self) -> i64 {
        self.shared.core.lock().depth()
    }

    /// Current depth and positions (what the next metadata sync writes).
    pub fn meta(&self) -> QueueMeta {
        self.shared.core.lock().meta()
    }

    /// Appends a record (buffered; durable after the next sync). Fails on a closed queue, a
    /// payload outside the size limits, or a disk error.
    pub fn put(&self, data: &[u8]) -> Result<(), DiskQueueError> {
        self.put_with(|buf| buf.extend_from_slice(data))
    }

    /// Appends a record whose payload `encode` writes directly into the queue's write buffer
    /// (avoids building the payload separately, e.g. `|buf| message.encode(buf)`).
    pub fn put_with(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<(), DiskQueueError> {
        let wake_syncer = {
            let mut core = self.shared.core.lock();
            core.put_with(encode)?;
            self.wants_sync(&mut core)
        };
        self.shared.readable.notify_waiters();
        if wake_syncer {
            self.shared.sync_wakeup.notify_one();
        }
        Ok(())
    }

    /// Appends a record and returns once it is fsync'ed (group commit).
    pub async fn put_durable(&self, data: &[u8]) -> Result<(), DiskQueueError> {
        self.put(data)?;
        self.commit().await
    }

    /// Waits until every record appended so far is fsync'ed. Concurrent callers share one
    /// fsync: whoever finds the sync lock free syncs for everyone who appended before it.
    /// Metadata is left to the periodic sync; recovery on open finds such records anyway.
    pub async fn commit(&self) -> Result<(), DiskQueueError> {
        let target = self.shared.core.lock().write_seq;
        if self.shared.synced_seq.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let _guard = self.shared.sync_lock.lock().await;
        if self.shared.synced_seq.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        self.run_sync(false).await
    }

    /// fsyncs data and writes metadata now.
    pub async fn sync(&self) -> Result<(), DiskQueueError> {
        let _guard = self.shared.sync_lock.lock().await;
        self.run_sync(true).await
    }

    /// fsyncs data and writes metadata now, blocking the calling thread (for callers outside
    /// async code or holding locks; async code should prefer [`Self::sync`]).
    pub fn sync_blocking(&self) -> Result<(), DiskQueueError> {
        let job = self.shared.core.lock().prepare_sync(true)?;
        let result = job.run(&self.shared.meta_written);
        self.finish_sync(job, result)
    }

    /// Runs one sync on the blocking pool.
    async fn run_sync(&self, with_meta: bool) -> Result<(), DiskQueueError> {
        let job = self.shared.core.lock().prepare_sync(with_meta)?;
        let (job, result) = run_job(job, self.shared.meta_written.clone()).await;
        self.finish_sync(job, result)
    }

    fn finish_sync(&self, job: SyncJob, result: io::Result<()>) -> Result<(), DiskQueueError> {
        match result {
            Ok(()) => {
                self.shared.synced_seq.fetch_max(job.seq, Ordering::AcqRel);
                Ok(())
            }
            Err(source) => {
                self.shared.core.lock().sync_failed(job);
                tracing::error!(queue = %self.shared.name, error = %source, "DISKQUEUE failed to sync");
                Err(DiskQueueError::Io {
                    queue: self.shared.name.clone(),
                    op: "sync",
                    path: PathBuf::new(),
                    source,
                })
            }
        }
    }

    fn wants_sync(&self, core: &mut Core) -> bool {
        let due = core.sync_due();
        if due && !self.shared.has_sync_task {
            // No runtime to sync in the background: do it here, as go-diskqueue's loop would.
            match core.prepare_sync(true) {
                Ok(job) => {
                    if let Err(e) = job.run(&self.shared.meta_written) {
                        tracing::error!(queue = %self.shared.name, error = %e, "DISKQUEUE failed to sync");
                        core.sync_failed(job);
                    }
                }
                Err(e) => {
                    tracing::error!(queue = %self.shared.name, error = %e, "DISKQUEUE failed to sync")
                }
            }
            return false;
        }
        due || core.flush_requested
    }

    /// The next unread record without consuming it (for a single reader; see [`Self::pop`]).
    pub fn peek(&self) -> Option<Bytes> {
        self.shared.core.lock().peek()
    }

    /// Consumes the record the last [`Self::peek`] returned; false if there was none.
    pub fn advance(&self) -> bool {
        let (advanced, wake_syncer) = {
            let mut core = self.shared.core.lock();
            let advanced = core.advance();
            (advanced, self.wants_sync(&mut core))
        };
        if wake_syncer {
            self.shared.sync_wakeup.notify_one();
        }
        advanced
    }

    /// Reads and consumes the next record, if any (safe with several readers).
    pub fn pop(&self) -> Option<Bytes> {
        let (data, wake_syncer) = {
            let mut core = self.shared.core.lock();
            let data = core.peek();
            if data.is_some() {
                core.advance();
            }
            (data, self.wants_sync(&mut core))
        };
        if wake_syncer {
            self.shared.sync_wakeup.notify_one();
        }
        data
    }

    /// Like [`Self::pop`], but the record stays held: until it is [`released`](Self::release),
    /// the persisted read position does not move past it, so after a crash it is read again
    /// (with the records after it: at-least-once). For records whose processing must finish
    /// before they may be forgotten, such as messages in flight to a consumer.
    pub fn pop_held(&self) -> Option<(Bytes, ReadHold)> {
        let (popped, wake_syncer) = {
            let mut core = self.shared.core.lock();
            let popped = match core.peek() {
                Some(data) => core.advance_held().map(|hold| (data, hold)),
                None => None,
            };
            (popped, self.wants_sync(&mut core))
        };
        if wake_syncer {
            self.shared.sync_wakeup.notify_one();
        }
        popped
    }

    /// Settles a record taken with [`Self::pop_held`]; the next metadata sync may then move
    /// the persisted read position past it. Releasing twice is harmless.
    pub fn release(&self, hold: ReadHold) {
        self.shared.core.lock().release(hold);
    }

    /// Settles every held record (before a clean close, once they were written back).
    pub fn release_all(&self) {
        self.shared.core.lock().release_all();
    }

    /// Number of records taken with [`Self::pop_held`] and not released.
    pub fn held(&self) -> usize {
        self.shared.core.lock().held()
    }

    /// Resolves once there is something to read or the queue is closed.
    pub async fn readable(&self) {
        loop {
            let notified = self.shared.readable.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.has_unread_or_closed() {
                return;
            }
            notified.await;
        }
    }

    fn has_unread_or_closed(&self) -> bool {
        let core = self.shared.core.lock();
        core.closed || core.has_unread()
    }

    /// Waits for and consumes the next record; `None` once the queue is closed.
    pub async fn next(&self) -> Option<Bytes> {
        loop {
            if let Some(data) = self.pop() {
                return Some(data);
            }
            if self.shared.core.lock().closed {
                return None;
            }
            self.readable().await;
        }
    }

    /// Discards everything: deletes all data files and the metadata file.
    pub fn empty(&self) -> Result<(), DiskQueueError> {
        self.shared.core.lock().empty(&self.shared.meta_written)
    }

    /// Empties the queue and closes it (topic/channel deletion).
    pub fn delete(&self) -> Result<(), DiskQueueError> {
        let result = {
            let mut core = self.shared.core.lock();
            core.closed = true;
            let result = core.empty(&self.shared.meta_written);
            core.close_files();
            result
        };
        tracing::info!(queue = %self.shared.name, "DISKQUEUE deleted");
        self.wake_all();
        result
    }

    /// Flushes, fsyncs and writes metadata, then refuses further writes. Idempotent.
    pub async fn close(&self) -> Result<(), DiskQueueError> {
        let Some(job) = self.begin_close() else {
            return Ok(());
        };
        let result = match job {
            Ok(job) => self.finish_close(run_job(job, self.shared.meta_written.clone()).await.1),
            Err(e) => Err(e),
        };
        self.end_close(result)
    }

    /// [`Self::close`] on the calling thread (shutdown paths holding locks).
    pub fn close_blocking(&self) -> Result<(), DiskQueueError> {
        let Some(job) = self.begin_close() else {
            return Ok(());
        };
        let result = match job {
            Ok(job) => self.finish_close(job.run(&self.shared.meta_written)),
            Err(e) => Err(e),
        };
        self.end_close(result)
    }

    fn begin_close(&self) -> Option<Result<SyncJob, DiskQueueError>> {
        let mut core = self.shared.core.lock();
        if core.closed {
            return None;
        }
        core.closed = true;
        Some(core.prepare_sync(true))
    }

    fn finish_close(&self, result: io::Result<()>) -> Result<(), DiskQueueError> {
        result.map_err(|source| DiskQueueError::Io {
            queue: self.shared.name.clone(),
            op: "sync",
            path: PathBuf::new(),
            source,
        })
    }

    fn end_close(&self, result: Result<(), DiskQueueError>) -> Result<(), DiskQueueError> {
        self.shared.core.lock().close_files();
        match &result {
            Ok(()) => tracing::info!(queue = %self.shared.name, "DISKQUEUE closed"),
            Err(e) => {
                tracing::error!(queue = %self.shared.name, error = %e, "DISKQUEUE close failed")
            }
        }
        self.wake_all();
        result
    }

    fn wake_all(&self) {
        self.shared.readable.notify_waiters();
        self.shared.sync_wakeup.notify_one();
    }

    /// True once [`Self::close`] or [`Self::delete`] ran.
    pub fn is_closed(&self) -> bool {
        self.shared.core.lock().closed
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Dropped without close: at least hand buffered records to the OS, so a restart
        // recovers them (metadata is rebuilt by the recovery scan).
        let core = self.core.get_mut();
        if !core.closed {
            if let Err(e) = core.flush() {
                tracing::error!(queue = %self.name, error = %e, "DISKQUEUE dropped with unwritten data");
            }
        }
    }
}

async fn run_job(job: SyncJob, written: Arc<Mutex<u64>>) -> (SyncJob, io::Result<()>) {
    let handle = tokio::task::spawn_blocking(move || {
        let result = job.run(&written);
        (job, result)
    });
    match handle.await {
        Ok(done) => done,
        Err(e) => {
            // The job is lost with the panicked task; report it (nothing was marked synced).
            let job = SyncJob::empty();
            (job, Err(io::Error::other(format!("sync task failed: {e}"))))
        }
    }
}

/// go-diskqueue's sync ticker: sync when due (`sync_every`, a roll) or every `timeout` when
/// something changed; in between, write out batched records soon after they arrive.
async fn sync_loop(queue: Weak<Shared>, wakeup: Arc<Notify>, timeout: Duration) {
    let mut ticker = tokio::time::interval(timeout.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        let ticked = tokio::select! {
            _ = ticker.tick() => true,
            _ = wakeup.notified() => false,
        };
        let Some(shared) = queue.upgrade() else {
            return;
        };
        let queue_handle = DiskQueue { shared };
        let sync_now = {
            let mut core = queue_handle.shared.core.lock();
            if core.closed {
                return;
            }
            if let Err(e) = core.flush_pending() {
                tracing::error!(queue = %queue_handle.shared.name, error = %e,
                    "DISKQUEUE failed to write buffered records");
            }
            core.sync_due() || (ticked && core.dirty())
        };
        if sync_now {
            // Errors are logged inside; the next tick retries.
            let _ = queue_handle.sync().await;
        }
    }
}
