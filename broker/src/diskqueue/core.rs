//! The queue's state machine: positions, the write buffer, the read cursor, file rolling,
//! corruption handling and startup recovery. Plain synchronous code behind one mutex; the
//! async wrapper in `mod.rs` keeps fsyncs off the lock.
//!
//! Writes are buffered in `pending` (whole records for file offsets `pending_start..write.pos`)
//! and written with one `write` call per batch. A reader that catches up with the writer reads
//! straight out of that buffer, so a queue whose consumer keeps up costs no read syscalls.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::holds::{ReadHold, ReadHolds};
use super::meta::{self, Position, QueueMeta};
use super::segment::{scan_records, ReadError, SegmentReader, SizeLimits};
use super::{DiskQueueError, DiskQueueOptions};

/// Write buffer size that triggers a write syscall.
const FLUSH_THRESHOLD: usize = 256 * 1024;

/// A record returned by `peek` and not yet consumed.
struct Peeked {
    data: Bytes,
    next: Position,
}

/// Everything a sync has to do once the lock is released.
pub(crate) struct SyncJob {
    files: Vec<Arc<File>>,
    dir: Option<PathBuf>,
    meta: Option<(PathBuf, QueueMeta)>,
    /// Metadata generation: a job never overwrites metadata of a later generation.
    generation: u64,
    /// Records up to this sequence number are durable once the job succeeds.
    pub seq: u64,
}

impl SyncJob {
    /// A job that does nothing (stands in for one lost with a panicked task).
    pub fn empty() -> Self {
        Self {
            files: Vec::new(),
            dir: None,
            meta: None,
            generation: 0,
            seq: 0,
        }
    }

    /// fsyncs the data files (and the directory if files were created), then writes metadata
    /// unless `written` (the last generation written) shows a newer one already is.
    pub fn run(&self, written: &parking_lot::Mutex<u64>) -> io::Result<()> {
        for file in &self.files {
            file.sync_data()?;
        }
        if let Some(dir) = &self.dir {
            meta::sync_dir(dir)?;
        }
        if let Some((path, meta)) = &self.meta {
            let mut written = written.lock();
            if self.generation > *written {
                meta::write_file_atomic(path, meta.encode().as_bytes())?;
                *written = self.generation;
            }
        }
        Ok(())
    }
}

pub(crate) struct Core {
    name: String,
    dir: PathBuf,
    opts: DiskQueueOptions,
    depth: i64,
    read: Position,
    write: Position,
    reader: Option<SegmentReader>,
    peeked: Option<Peeked>,
    writer: Option<Arc<File>>,
    pending: Vec<u8>,
    pending_start: i64,
    /// The last write failed; cleared by the next successful one.
    write_failing: bool,
    /// Completed write files whose data is written but not yet fsync'ed.
    unsynced: Vec<Arc<File>>,
    dir_dirty: bool,
    meta_dirty: bool,
    /// A roll, read-file switch or repair asks for a sync soon (Go syncs at once there).
    pub sync_requested: bool,
    /// The write buffer went from empty to non-empty: the background task should write it
    /// out soon, so a process crash loses at most a few milliseconds of records.
    pub flush_requested: bool,
    /// Reads and writes since the last sync (go-diskqueue's `count`).
    pub ops_since_sync: u64,
    /// Number of records ever appended through this handle.
    pub write_seq: u64,
    /// Bumped by every metadata snapshot and by `empty`.
    meta_generation: u64,
    /// Number of records ever consumed through this handle (numbers the holds).
    read_seq: u64,
    /// Consumed records not yet settled: the persisted read position stays at the oldest.
    holds: ReadHolds,
    /// The lowest data file number not deleted yet: files below the persisted read position
    /// are deleted, the others wait for their holds to be released.
    oldest_file: i64,
    pub closed: bool,
}

impl Core {
    /// Loads metadata and recovers from an unclean stop.
    pub fn open(name: &str, dir: &Path, opts: DiskQueueOptions) -> Result<Self, DiskQueueError> {
        let meta = load_meta(name, dir)?;
        let mut core = Core {
            name: name.to_owned(),
            dir: dir.to_owned(),
            opts,
            depth: meta.depth,
            read: meta.read,
            write: meta.write,
            reader: None,
            peeked: None,
            writer: None,
            pending: Vec::new(),
            pending_start: meta.write.pos,
            write_failing: false,
            unsynced: Vec::new(),
            dir_dirty: false,
            meta_dirty: false,
            sync_requested: false,
            flush_requested: false,
            ops_since_sync: 0,
            write_seq: 0,
            meta_generation: 0,
            read_seq: 0,
            holds: ReadHolds::default(),
            oldest_file: 0,
            closed: false,
        };
        core.recover()?;
        core.oldest_file = core.read.file;
        Ok(core)
    }

    fn limits(&self) -> SizeLimits {
        SizeLimits {
            min: self.opts.min_msg_size,
            max: self.opts.max_msg_size,
        }
    }

    fn segment(&self, file: i64) -> PathBuf {
        meta::segment_path(&self.dir, &self.name, file)
    }

    fn io_error(&self, op: &'static str, path: PathBuf, source: io::Error) -> DiskQueueError {
        DiskQueueError::Io {
            queue: self.name.clone(),
            op,
            path,
            source,
        }
    }

    /// What a metadata sync writes: with records held, the read position of the oldest and a
    /// depth that counts every record from there on, so a restart reads them again.
    pub fn meta(&self) -> QueueMeta {
        let (depth, read) = match self.holds.oldest() {
            Some((seq, start)) => (self.depth + (self.read_seq - seq) as i64, start),
            None => (self.depth, self.read),
        };
        QueueMeta {
            depth,
            read,
            write: self.write,
        }
    }

    /// Number of held records.
    pub fn held(&self) -> usize {
        self.holds.len()
    }

    pub fn depth(&self) -> i64 {
        self.depth.max(0)
    }

    pub fn has_unread(&self) -> bool {
        self.peeked.is_some() || self.read < self.write
    }

    /// Something changed since the last sync (the `sync_timeout` ticker syncs then).
    pub fn dirty(&self) -> bool {
        self.sync_requested || self.ops_since_sync > 0 || self.meta_dirty
    }

    /// A sync is due now: a roll or repair asked for one, or `sync_every` operations passed.
    pub fn sync_due(&self) -> bool {
        self.sync_requested || self.ops_since_sync >= self.opts.sync_every.max(1)
    }

    /// Hands buffered records to the OS if there are any (no fsync).
    pub fn flush_pending(&mut self) -> Result<(), DiskQueueError> {
        self.flush_requested = false;
        self.flush()
    }

    // ---- recovery -------------------------------------------------------------------------

    /// Makes loaded positions safe to use: data written after the last metadata sync (a crash,
    /// or Go's unsynced writes) is counted and never overwritten, missing files are skipped.
    fn recover(&mut self) -> Result<(), DiskQueueError> {
        if self.read > self.write {
            tracing::error!(
                queue = %self.name, meta = %self.meta(),
                "DISKQUEUE read position is past write position, corruption; skipping to next file"
            );
            self.skip_to_next_rw_file();
        }
        let existing = self.list_segments()?;
        let limits = self.limits();
        let mut recovered = 0i64;
        let mut move_writer = false;

        let write_path = self.segment(self.write.file);
        match fs::metadata(&write_path) {
            Ok(m) if (m.len() as i64) > self.write.pos => {
                let scan = scan_records(&write_path, self.write.pos, limits)
                    .map_err(|e| self.io_error("scan", write_path.clone(), e))?;
                recovered += scan.records;
                move_writer = true;
            }
            Ok(m) if (m.len() as i64) < self.write.pos => {
                tracing::warn!(queue = %self.name, file = %write_path.display(), size = m.len(),
                    write_pos = self.write.pos, "DISKQUEUE write file is shorter than metadata says");
                move_writer = true;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => move_writer = self.write.pos > 0,
            Err(e) => return Err(self.io_error("stat", write_path, e)),
        }

        let mut last_later = None;
        for &num in existing.range(self.write.file + 1..) {
            let path = self.segment(num);
            let scan =
                scan_records(&path, 0, limits).map_err(|e| self.io_error("scan", path, e))?;
            recovered += scan.records;
            last_later = Some(num);
        }
        if let Some(last) = last_later {
            self.write = Position::new(last + 1, 0);
        } else if move_writer {
            self.write = Position::new(self.write.file + 1, 0);
        }
        self.pending_start = self.write.pos;

        if !existing.contains(&self.read.file) && self.read < self.write {
            if let Some(&first) = existing.range(self.read.file..self.write.file).next() {
                tracing::warn!(queue = %self.name, from = self.read.file, to = first,
                    "DISKQUEUE read file missing, continuing with next existing file");
                self.read = Position::new(first, 0);
            }
        }
        if recovered > 0 || move_writer || last_later.is_some() {
            tracing::warn!(queue = %self.name, recovered, meta = %self.meta(),
                "DISKQUEUE found data written after the last metadata sync; writing continues in a new file");
            self.depth += recovered;
            self.meta_dirty = true;
            self.sync_requested = true;
        }
        Ok(())
    }

    fn list_segments(&self) -> Result<BTreeSet<i64>, DiskQueueError> {
        let entries =
            fs::read_dir(&self.dir).map_err(|e| self.io_error("list", self.dir.clone(), e))?;
        let mut found = BTreeSet::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io_error("list", self.dir.clone(), e))?;
            if let Some(num) = entry
                .file_name()
                .to_str()
                .and_then(|n| meta::segment_number(&self.name, n))
            {
                found.insert(num);
            }
        }
        Ok(found)
    }

    // ---- writing --------------------------------------------------------------------------

    /// Appends one record whose payload `encode` writes straight into the write buffer (no
    /// intermediate allocation); returns its sequence number.
    pub fn put_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<u64, DiskQueueError> {
        if self.closed {
            return Err(DiskQueueError::Closed(self.name.clone()));
        }
        if self.write_failing {
            // The disk is failing: retry the backlog first and refuse new records until it
            // succeeds, so publishers hear about the error (Go fails each write at once).
            self.flush()?;
        }
        let mut before = self.pending.len();
        self.pending.extend_from_slice(&[0; 4]);
        encode(&mut self.pending);
        let size = self.pending.len() - before - 4;
        if !self.limits().allows(size as i64) {
            self.pending.truncate(before);
            return Err(DiskQueueError::InvalidMessageSize {
                size,
                min: self.opts.min_msg_size,
                max: self.opts.max_msg_size,
            });
        }
        self.pending[before..before + 4].copy_from_slice(&(size as u32).to_be_bytes());
        let total = 4 + size as i64;
        if self.write.pos > 0 && self.write.pos + total > self.opts.max_bytes_per_file as i64 {
            // The record starts the next file; everything before it goes to the current one.
            let record = self.pending.split_off(before);
            self.roll_write_file()?;
            before = self.pending.len();
            self.pending.extend_from_slice(&record);
        }
        self.write.pos += total;
        if self.opts.write_through || self.pending.len() >= FLUSH_THRESHOLD {
            if let Err(e) = self.flush() {
                // This record is refused; earlier buffered ones stay queued for the next flush.
                self.pending.truncate(before);
                self.write.pos -= total;
                return Err(e);
            }
        }
        self.flush_requested |= before == 0 && !self.pending.is_empty();
        self.depth += 1;
        self.write_seq += 1;
        self.ops_since_sync += 1;
        self.meta_dirty = true;
        Ok(self.write_seq)
    }

    fn open_writer(&mut self) -> Result<Arc<File>, DiskQueueError> {
        if let Some(file) = &self.writer {
            return Ok(file.clone());
        }
        let path = self.segment(self.write.file);
        let existed = path.exists();
        let file = meta::open_for_write(&path).map_err(|e| self.io_error("open", path, e))?;
        self.dir_dirty |= !existed;
        let file = Arc::new(file);
        self.writer = Some(file.clone());
        Ok(file)
    }

    /// Writes the buffered records to the current write file (no fsync).
    pub fn flush(&mut self) -> Result<(), DiskQueueError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let file = match self.open_writer() {
            Ok(file) => file,
            Err(e) => {
                self.write_failing = true;
                return Err(e);
            }
        };
        if let Err(e) = write_all_at(&file, &self.pending, self.pending_start) {
            // Positional writes make a retry rewrite the same bytes, so nothing is corrupted;
            // a reader must not keep whatever partial bytes it may have buffered.
            self.writer = None;
            self.write_failing = true;
            if self.reader.as_ref().map(|r| r.file_num) == Some(self.write.file) {
                self.reader = None;
            }
            return Err(self.io_error("write", self.segment(self.write.file), e));
        }
        self.pending_start += self.pending.len() as i64;
        self.pending.clear();
        self.write_failing = false;
        Ok(())
    }

    fn roll_write_file(&mut self) -> Result<(), DiskQueueError> {
        self.flush()?;
        if let Some(file) = self.writer.take() {
            self.unsynced.push(file);
        }
        if let Some(reader) = &mut self.reader {
            if reader.file_num == self.write.file {
                reader.end = Some(self.write.pos);
            }
        }
        self.write = Position::new(self.write.file + 1, 0);
        self.pending_start = 0;
        self.meta_dirty = true;
        self.sync_requested = true;
        Ok(())
    }

    // ---- reading --------------------------------------------------------------------------

    /// The next unread record, without consuming it. Corrupt files are renamed `.bad` and
    /// skipped here, so this only returns `None` when the queue has nothing left to read.
    pub fn peek(&mut self) -> Option<Bytes> {
        loop {
            if let Some(peeked) = &self.peeked {
                return Some(peeked.data.clone());
            }
            if self.read >= self.write {
                return None;
            }
            if self.read.file == self.write.file && self.read.pos >= self.pending_start {
                self.peeked = Some(self.peek_pending());
                continue;
            }
            match self.read_from_file() {
                Ok(Some(peeked)) => self.peeked = Some(peeked),
                Ok(None) => {}
                Err(e) => self.handle_read_error(e),
            }
        }
    }

    fn peek_pending(&self) -> Peeked {
        let offset = (self.read.pos - self.pending_start) as usize;
        let mut len = [0u8; 4];
        len.copy_from_slice(&self.pending[offset..offset + 4]);
        let size = u32::from_be_bytes(len) as usize;
        let data = Bytes::copy_from_slice(&self.pending[offset + 4..offset + 4 + size]);
        Peeked {
            data,
            next: Position::new(self.read.file, self.read.pos + 4 + size as i64),
        }
    }

    /// Reads the record at the read position from disk; `Ok(None)` when a completed file was
    /// exhausted and the read position moved on.
    fn read_from_file(&mut self) -> Result<Option<Peeked>, ReadError> {
        let complete = self.read.file < self.write.file;
        if self.reader.as_ref().map(|r| r.file_num) != Some(self.read.file) {
            let path = self.segment(self.read.file);
            self.reader = Some(SegmentReader::open(
                &path,
                self.read.file,
                self.read.pos,
                complete,
            )?);
            tracing::info!(queue = %self.name, file = %path.display(), "DISKQUEUE opened for reading");
        }
        let limits = self.limits();
        let unknown_end = complete && self.reader.as_ref().is_some_and(|r| r.end.is_none());
        let stat_end = if unknown_end {
            Some(fs::metadata(self.segment(self.read.file))?.len() as i64)
        } else {
            None
        };
        let reader = self
            .reader
            .as_mut()
            .ok_or_else(|| ReadError::Io(io::Error::other("reader vanished after open")))?;
        if complete {
            let end = reader.end.or(stat_end).unwrap_or(0);
            reader.end = Some(end);
            if self.read.pos >= end {
                self.finish_read_file();
                return Ok(None);
            }
        }
        let data = reader.read_at(self.read.pos, limits)?;
        let next = Position::new(self.read.file, self.read.pos + 4 + data.len() as i64);
        Ok(Some(Peeked { data, next }))
    }

    /// Consumes the record `peek` returned and holds it until [`Self::release`].
    pub fn advance_held(&mut self) -> Option<ReadHold> {
        let start = self.read;
        let seq = self.read_seq;
        self.advance().then(|| self.holds.hold(seq, start))
    }

    /// Settles a held record: the persisted read position may move past it.
    pub fn release(&mut self, hold: ReadHold) {
        if self.holds.release(hold) {
            self.meta_dirty = true;
            self.remove_settled_files();
        }
    }

    /// Settles every held record.
    pub fn release_all(&mut self) {
        if self.holds.len() > 0 {
            self.holds.clear();
            self.meta_dirty = true;
            self.remove_settled_files();
        }
    }

    /// Consumes the record `peek` returned. Returns false when nothing was peeked.
    pub fn advance(&mut self) -> bool {
        let Some(peeked) = self.peeked.take() else {
            return false;
        };
        self.read_seq += 1;
        self.read = peeked.next;
        self.depth -= 1;
        self.ops_since_sync += 1;
        self.meta_dirty = true;
        if self.read.file < self.write.file && self.completed_file_exhausted() {
            self.finish_read_file();
        }
        self.check_tail();
        true
    }

    fn completed_file_exhausted(&mut self) -> bool {
        let end = match &self.reader {
            Some(r) if r.file_num == self.read.file && r.end.is_some() => r.end,
            _ => fs::metadata(self.segment(self.read.file))
                .ok()
                .map(|m| m.len() as i64),
        };
        end.is_none_or(|end| self.read.pos >= end)
    }

    /// Moves reading to the next file; the exhausted one is deleted unless a record in it is
    /// still held.
    fn finish_read_file(&mut self) {
        self.reader = None;
        self.read = Position::new(self.read.file + 1, 0);
        self.remove_settled_files();
        self.meta_dirty = true;
        self.sync_requested = true;
        self.check_tail();
    }

    /// Deletes the data files that lie wholly before the persisted read position.
    fn remove_settled_files(&mut self) {
        let keep_from = match self.holds.oldest() {
            Some((_, start)) => start.file.min(self.read.file),
            None => self.read.file,
        };
        while self.oldest_file < keep_from {
            let path = self.segment(self.oldest_file);
            if let Err(e) = fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::error!(queue = %self.name, file = %path.display(), error = %e,
                        "DISKQUEUE failed to remove finished data file");
                }
            }
            self.oldest_file += 1;
            self.dir_dirty = true;
        }
    }

    fn handle_read_error(&mut self, error: ReadError) {
        self.reader = None;
        let path = self.segment(self.read.file);
        if let ReadError::Io(e) = &error {
            if e.kind() == io::ErrorKind::NotFound && self.read.file < self.write.file {
                tracing::warn!(queue = %self.name, file = %path.display(),
                    "DISKQUEUE data file missing, skipping to next file");
                self.read = Position::new(self.read.file + 1, 0);
                self.remove_settled_files();
                self.meta_dirty = true;
                return;
            }
        }
        tracing::error!(queue = %self.name, file = %path.display(), pos = self.read.pos,
            error = %error, "DISKQUEUE error reading");
        if self.read.file == self.write.file {
            // The write file is unreadable: keep writing, but into a fresh file. Records still
            // in the write buffer move along with it.
            self.writer = None;
            self.write = Position::new(self.write.file + 1, self.pending.len() as i64);
            self.pending_start = 0;
        }
        let bad = PathBuf::from(format!("{}.bad", path.display()));
        tracing::warn!(queue = %self.name, bad = %bad.display(),
            "DISKQUEUE jump to next file and saving bad file");
        if let Err(e) = fs::rename(&path, &bad) {
            tracing::error!(queue = %self.name, file = %path.display(), error = %e,
                "DISKQUEUE failed to rename bad file");
        }
        self.read = Position::new(self.read.file + 1, 0);
        self.remove_settled_files();
        self.dir_dirty = true;
        self.meta_dirty = true;
        self.sync_requested = true;
        self.check_tail();
    }

    /// go-diskqueue's `checkTailCorruption`: at the end of the queue depth must be 0.
    fn check_tail(&mut self) {
        if self.read == self.write && self.peeked.is_none() && self.depth != 0 {
            tracing::error!(queue = %self.name, depth = self.depth,
                "DISKQUEUE depth at tail is not 0, metadata corruption; resetting to 0");
            self.depth = 0;
            self.meta_dirty = true;
        }
    }

    // ---- whole-queue operations -----------------------------------------------------------

    /// Deletes every data file and the metadata file; numbering continues after the old write
    /// file, with depth 0.
    pub fn empty(&mut self, written: &parking_lot::Mutex<u64>) -> Result<(), DiskQueueError> {
        tracing::info!(queue = %self.name, "DISKQUEUE emptying");
        // Syncs prepared before this point must not resurrect the metadata file.
        self.meta_generation += 1;
        let mut written = written.lock();
        *written = self.meta_generation;
        let mut first_error = None;
        let remove = |path: PathBuf, first_error: &mut Option<DiskQueueError>| {
            if let Err(e) = fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound && first_error.is_none() {
                    *first_error = Some(DiskQueueError::Io {
                        queue: self.name.clone(),
                        op: "remove",
                        path,
                        source: e,
                    });
                }
            }
        };
        for num in self.oldest_file.min(self.read.file)..=self.write.file {
            remove(self.segment(num), &mut first_error);
        }
        remove(meta::meta_path(&self.dir, &self.name), &mut first_error);
        self.skip_to_next_rw_file();
        self.dir_dirty = true;
        self.meta_dirty = false;
        self.ops_since_sync = 0;
        first_error.map_or(Ok(()), Err)
    }

    fn skip_to_next_rw_file(&mut self) {
        self.reader = None;
        self.peeked = None;
        self.writer = None;
        self.unsynced.clear();
        self.pending.clear();
        self.write = Position::new(self.write.file + 1, 0);
        self.read = self.write;
        self.oldest_file = self.read.file;
        self.holds.clear();
        self.pending_start = 0;
        self.depth = 0;
    }

    /// Flushes the write buffer and describes the fsyncs (and, with `with_meta`, the metadata
    /// write) that make everything appended so far durable.
    pub fn prepare_sync(&mut self, with_meta: bool) -> Result<SyncJob, DiskQueueError> {
        self.flush()?;
        let mut files = std::mem::take(&mut self.unsynced);
        files.extend(self.writer.clone());
        let dir = std::mem::take(&mut self.dir_dirty).then(|| self.dir.clone());
        let meta = with_meta.then(|| (meta::meta_path(&self.dir, &self.name), self.meta()));
        if with_meta {
            self.meta_generation += 1;
            self.meta_dirty = false;
            self.ops_since_sync = 0;
            self.sync_requested = false;
        }
        Ok(SyncJob {
            files,
            dir,
            meta,
            generation: self.meta_generation,
            seq: self.write_seq,
        })
    }

    /// Puts back what a failed sync job took, so the next sync retries it.
    pub fn sync_failed(&mut self, job: SyncJob) {
        let current = self.writer.as_ref();
        for file in job.files {
            if current.is_none_or(|w| !Arc::ptr_eq(w, &file)) {
                self.unsynced.push(file);
            }
        }
        self.dir_dirty |= job.dir.is_some();
        if job.meta.is_some() {
            self.meta_dirty = true;
            self.sync_requested = true;
        }
    }

    /// Releases file handles; the caller has synced.
    pub fn close_files(&mut self) {
        self.reader = None;
        self.writer = None;
        self.unsynced.clear();
    }
}

fn load_meta(name: &str, dir: &Path) -> Result<QueueMeta, DiskQueueError> {
    let path = meta::meta_path(dir, name);
    match fs::read_to_string(&path) {
        Ok(text) => match QueueMeta::parse(&text) {
            Ok(meta) => Ok(meta),
            Err(e) => {
                // Like Go: start from zero; recovery then finds the existing data files.
                tracing::error!(queue = name, file = %path.display(), error = %e,
                    "DISKQUEUE failed to retrieve metadata");
                Ok(QueueMeta::default())
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(QueueMeta::default()),
        Err(e) => Err(DiskQueueError::Io {
            queue: name.to_owned(),
            op: "read",
            path,
            source: e,
        }),
    }
}

#[cfg(unix)]
fn write_all_at(file: &File, buf: &[u8], offset: i64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(buf, offset as u64)
}

#[cfg(not(unix))]
fn write_all_at(mut file: &File, buf: &[u8], offset: i64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(offset as u64))?;
    file.write_all(buf)
}
