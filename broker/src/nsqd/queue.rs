//! The queue behind every topic and channel: a bounded memory queue (`--mem-queue-size`,
//! counted in messages) plus an optional [`BackendQueue`] (the disk queue plugs in here).
//!
//! Memory layout: an MPUB stays one [`MessageRun`] entry (its bodies in their wire record
//! layout in one shared buffer, one timestamp, consecutive ids), so a queued message costs
//! its body plus 4 bytes rather than a full [`Message`] each. Single messages (PUB, DPUB,
//! requeues, timeouts, disk reads) are [`Entry::One`].
//!
//! Overflow policy when the memory queue is full:
//! * with a backend: the message goes to the backend;
//! * ephemeral (never has a backend): the message is dropped, as nsqd does;
//! * non-ephemeral without a backend (an embedded broker without a data path): the memory
//!   queue keeps growing past `mem_queue_size` so that no acknowledged message is lost. A
//!   warning is logged the first time this happens for a queue.

use std::collections::VecDeque;
use std::time::Duration;

use nsq_wire::message::{Message, MessageId};
use nsq_wire::multi_body::MultiBody;

use super::backend::{BackendError, BackendQueue};

/// A message waiting in a queue, with the defer it still has to serve (topics only: DPUB
/// messages keep their defer until a channel receives them).
#[derive(Debug, Clone)]
pub struct Queued {
    pub msg: Message,
    pub defer: Duration,
}

/// The not yet delivered messages of one MPUB: attempts 0, one timestamp, ids `next_id..`.
#[derive(Debug, Clone)]
pub struct MessageRun {
    bodies: MultiBody,
    next_id: u64,
    timestamp: i64,
}

impl MessageRun {
    /// A run whose first message gets id `first_id`, the next `first_id + 1`, and so on.
    pub fn new(bodies: MultiBody, first_id: u64, timestamp: i64) -> Self {
        MessageRun {
            bodies,
            next_id: first_id,
            timestamp,
        }
    }

    /// Messages left.
    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    /// Whether no message is left.
    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }

    /// Takes the next message.
    pub fn pop_front(&mut self) -> Option<Message> {
        let body = self.bodies.pop_front()?;
        let id = MessageId::from_u64(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        Some(Message {
            timestamp: self.timestamp,
            attempts: 0,
            id,
            body,
        })
    }

    /// Splits off the first `n` messages; `self` keeps the rest.
    pub fn split_to(&mut self, n: usize) -> MessageRun {
        let bodies = self.bodies.split_to(n);
        let front = MessageRun {
            next_id: self.next_id,
            timestamp: self.timestamp,
            bodies,
        };
        self.next_id = self.next_id.wrapping_add(front.len() as u64);
        front
    }

    /// The messages one by one.
    pub fn into_messages(mut self) -> impl Iterator<Item = Message> {
        std::iter::from_fn(move || self.pop_front())
    }
}

/// One element of a memory queue.
#[derive(Debug, Clone)]
pub enum Entry {
    One(Queued),
    Run(MessageRun),
}

impl Entry {
    /// An undeferred single message.
    pub fn now(msg: Message) -> Self {
        Entry::One(Queued {
            msg,
            defer: Duration::ZERO,
        })
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        match self {
            Entry::One(_) => 1,
            Entry::Run(run) => run.len(),
        }
    }

    /// Whether it holds no message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What happened to a pushed single message.
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
    memory: VecDeque<Entry>,
    /// Messages in `memory` (a run counts each of its messages).
    mem_len: usize,
    mem_limit: usize,
    ephemeral: bool,
    backend: Option<Box<dyn BackendQueue>>,
    /// False once a backend read came back empty, until the next backend write: only this
    /// queue writes to its backend, so reads (which take the backend's lock) can be skipped.
    backend_unread: bool,
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
            mem_len: 0,
            mem_limit: if bypass { 0 } else { mem_limit },
            ephemeral,
            backend_unread: backend.is_some(),
            backend,
            warned_overflow: false,
            prefer_backend: false,
        }
    }

    /// Changes how many messages memory holds (ephemeral channels with `--mem-queue-size=0`
    /// hand messages only to consumers waiting right now, as nsqd's unbuffered Go channel).
    pub fn set_mem_limit(&mut self, mem_limit: usize) {
        self.mem_limit = mem_limit;
    }

    /// Appends a message following the overflow policy of the module docs.
    pub fn push(&mut self, item: Queued) -> Result<PushOutcome, BackendError> {
        if self.mem_len < self.mem_limit {
            self.push_memory(Entry::One(item));
            return Ok(PushOutcome::Memory);
        }
        if let Some(backend) = &self.backend {
            self.backend_unread = true;
            backend.put(&item.msg)?;
            return Ok(PushOutcome::Backend);
        }
        if self.ephemeral {
            return Ok(PushOutcome::Dropped);
        }
        self.warn_overflow();
        self.push_memory(Entry::One(item));
        Ok(PushOutcome::Overflowed)
    }

    /// Appends a run: what fits in memory stays one entry, the rest follows the overflow
    /// policy. Returns how many messages were kept (the others were dropped: ephemeral).
    pub fn push_run(&mut self, mut run: MessageRun) -> Result<usize, BackendError> {
        let total = run.len();
        let room = self.mem_limit.saturating_sub(self.mem_len);
        if room >= total {
            self.push_memory(Entry::Run(run));
            return Ok(total);
        }
        if room > 0 {
            let front = run.split_to(room);
            self.push_memory(Entry::Run(front));
        }
        if let Some(backend) = &self.backend {
            self.backend_unread = true;
            for msg in run.into_messages() {
                backend.put(&msg)?;
            }
            return Ok(total);
        }
        if self.ephemeral {
            return Ok(room);
        }
        self.warn_overflow();
        self.push_memory(Entry::Run(run));
        Ok(total)
    }

    /// Appends any entry; returns how many of its messages were kept.
    pub fn push_entry(&mut self, entry: Entry) -> Result<usize, BackendError> {
        match entry {
            Entry::One(item) => Ok(usize::from(self.push(item)? != PushOutcome::Dropped)),
            Entry::Run(run) => self.push_run(run),
        }
    }

    /// Takes the next message from memory or backend.
    pub fn pop(&mut self) -> Option<Queued> {
        if self.take_from_backend_first() {
            if let Some(msg) = self.read_backend() {
                return Some(Queued {
                    msg,
                    defer: Duration::ZERO,
                });
            }
        }
        let front = self.memory.front_mut()?;
        let item = match front {
            Entry::One(_) => match self.memory.pop_front() {
                Some(Entry::One(item)) => item,
                _ => return None,
            },
            Entry::Run(run) => {
                let msg = run.pop_front()?;
                if run.is_empty() {
                    self.memory.pop_front();
                }
                Queued {
                    msg,
                    defer: Duration::ZERO,
                }
            }
        };
        self.mem_len -= 1;
        Some(item)
    }

    /// Takes the next whole entry (a memory run stays whole; backend messages come one by
    /// one), for moving a backlog without unpacking it.
    pub fn pop_entry(&mut self) -> Option<Entry> {
        if self.take_from_backend_first() {
            if let Some(msg) = self.read_backend() {
                return Some(Entry::now(msg));
            }
        }
        let entry = self.memory.pop_front()?;
        self.mem_len -= entry.len();
        Some(entry)
    }

    /// Memory + backend depth.
    pub fn depth(&self) -> i64 {
        self.mem_len as i64 + self.backend_depth()
    }

    /// Backend depth.
    pub fn backend_depth(&self) -> i64 {
        match &self.backend {
            Some(backend) if self.backend_unread => backend.depth(),
            _ => 0,
        }
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.mem_len == 0 && self.backend_depth() == 0
    }

    /// The backend's durability barrier ([`BackendQueue::commit`]), if there is a backend.
    pub fn commit(&self) -> Option<futures::future::BoxFuture<'static, Result<(), BackendError>>> {
        self.backend.as_ref().map(|b| b.commit())
    }

    /// Drops everything (memory and backend).
    pub fn empty(&mut self) -> Result<(), BackendError> {
        self.clear_memory();
        match &self.backend {
            Some(backend) => backend.empty(),
            None => Ok(()),
        }
    }

    /// Shutdown hook: writes the memory queue to the backend (if any), then closes it.
    /// Without a backend the memory content is discarded (in-memory broker).
    pub fn flush_and_close(&mut self, extra: Vec<Message>) -> Result<(), BackendError> {
        let Some(backend) = &self.backend else {
            self.clear_memory();
            return Ok(());
        };
        self.mem_len = 0;
        for entry in self.memory.drain(..) {
            match entry {
                Entry::One(item) => backend.put(&item.msg)?,
                Entry::Run(run) => {
                    for msg in run.into_messages() {
                        backend.put(&msg)?;
                    }
                }
            }
        }
        for msg in extra {
            backend.put(&msg)?;
        }
        // Everything read from the backend is queued again behind its write position.
        backend.release_all();
        backend.close()
    }

    /// A message this queue handed out is settled ([`BackendQueue::release`]).
    pub fn release(&self, id: &MessageId) {
        if let Some(backend) = &self.backend {
            backend.release(id);
        }
    }

    /// Records a deferred message with the backend ([`BackendQueue::defer`]).
    pub fn defer(&self, msg: &Message, due: std::time::SystemTime) -> Result<(), BackendError> {
        match &self.backend {
            Some(backend) => backend.defer(msg, due),
            None => Ok(()),
        }
    }

    /// Deferred messages an earlier run left with the backend ([`BackendQueue::take_deferred`]).
    pub fn take_deferred(&self) -> Vec<(Message, std::time::SystemTime)> {
        self.backend
            .as_ref()
            .map(|backend| backend.take_deferred())
            .unwrap_or_default()
    }

    /// Every message this queue handed out is settled ([`BackendQueue::release_all`]).
    pub fn release_all(&self) {
        if let Some(backend) = &self.backend {
            backend.release_all();
        }
    }

    /// Deletion hook: drops everything and removes the backend's data.
    pub fn delete(&mut self) -> Result<(), BackendError> {
        self.clear_memory();
        match self.backend.take() {
            Some(backend) => backend.delete(),
            None => Ok(()),
        }
    }

    fn read_backend(&mut self) -> Option<Message> {
        if !self.backend_unread {
            return None;
        }
        let backend = self.backend.as_ref()?;
        let msg = backend.try_read();
        if msg.is_none() {
            // Written but not yet readable still counts as unread.
            self.backend_unread = backend.depth() > 0;
        }
        msg
    }

    fn push_memory(&mut self, entry: Entry) {
        self.mem_len += entry.len();
        self.memory.push_back(entry);
    }

    fn clear_memory(&mut self) {
        self.memory.clear();
        self.mem_len = 0;
    }

    fn take_from_backend_first(&mut self) -> bool {
        let backend_first = self.prefer_backend || self.memory.is_empty();
        self.prefer_backend = !self.prefer_backend;
        backend_first
    }

    fn warn_overflow(&mut self) {
        if !self.warned_overflow {
            self.warned_overflow = true;
            tracing::warn!(
                queue = %self.name,
                mem_queue_size = self.mem_limit,
                "memory queue full and no disk backend configured; keeping messages in memory"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

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

    fn run(first_id: u64, n: usize) -> MessageRun {
        let bodies: Vec<Bytes> = (0..n).map(|i| Bytes::from(format!("m{i}"))).collect();
        MessageRun::new(MultiBody::from_bodies(&bodies), first_id, 42)
    }

    #[test]
    fn ephemeral_drops_when_full() {
        let mut q = MessageQueue::new("t#ephemeral".into(), 2, true, None);
        assert_eq!(q.push(item(1)).unwrap(), PushOutcome::Memory);
        assert_eq!(q.push(item(2)).unwrap(), PushOutcome::Memory);
        assert_eq!(q.push(item(3)).unwrap(), PushOutcome::Dropped);
        assert_eq!(q.push_run(run(10, 3)).unwrap(), 0);
        assert_eq!(q.depth(), 2);
    }

    #[test]
    fn ephemeral_run_keeps_what_fits() {
        let mut q = MessageQueue::new("t#ephemeral".into(), 4, true, None);
        assert_eq!(q.push_run(run(10, 3)).unwrap(), 3);
        assert_eq!(q.push_run(run(20, 3)).unwrap(), 1);
        let ids: Vec<MessageId> = std::iter::from_fn(|| q.pop()).map(|q| q.msg.id).collect();
        let want: Vec<MessageId> = [10, 11, 12, 20].map(MessageId::from_u64).to_vec();
        assert_eq!(ids, want);
    }

    #[test]
    fn durable_without_backend_keeps_messages() {
        let mut q = MessageQueue::new("t".into(), 1, false, None);
        q.push(item(1)).unwrap();
        assert_eq!(q.push(item(2)).unwrap(), PushOutcome::Overflowed);
        assert_eq!(q.push_run(run(3, 2)).unwrap(), 2);
        assert_eq!(q.depth(), 4);
        let ids: Vec<MessageId> = std::iter::from_fn(|| q.pop()).map(|q| q.msg.id).collect();
        assert_eq!(ids, [1, 2, 3, 4].map(MessageId::from_u64).to_vec());
        assert!(q.is_empty());
    }

    #[test]
    fn run_messages_carry_consecutive_ids_and_one_timestamp() {
        let mut q = MessageQueue::new("t".into(), 100, false, None);
        q.push_run(run(7, 3)).unwrap();
        let messages: Vec<Message> = std::iter::from_fn(|| q.pop()).map(|q| q.msg).collect();
        assert_eq!(messages.len(), 3);
        for (i, msg) in messages.iter().enumerate() {
            assert_eq!(msg.id, MessageId::from_u64(7 + i as u64));
            assert_eq!(msg.timestamp, 42);
            assert_eq!(msg.attempts, 0);
            assert_eq!(msg.body, Bytes::from(format!("m{i}")));
        }
    }

    /// A backend that keeps messages in a vector.
    #[derive(Default)]
    struct VecBackend(parking_lot::Mutex<VecDeque<Message>>);

    impl BackendQueue for VecBackend {
        fn put(&self, msg: &Message) -> Result<(), BackendError> {
            self.0.lock().push_back(msg.clone());
            Ok(())
        }
        fn try_read(&self) -> Option<Message> {
            self.0.lock().pop_front()
        }
        fn depth(&self) -> i64 {
            self.0.lock().len() as i64
        }
        fn empty(&self) -> Result<(), BackendError> {
            self.0.lock().clear();
            Ok(())
        }
        fn flush(&self) -> Result<(), BackendError> {
            Ok(())
        }
        fn close(&self) -> Result<(), BackendError> {
            Ok(())
        }
        fn delete(&self) -> Result<(), BackendError> {
            self.empty()
        }
    }

    #[test]
    fn run_overflowing_memory_spills_the_rest_to_the_backend() {
        let backend = Box::new(VecBackend::default());
        let mut q = MessageQueue::new("t".into(), 3, false, Some(backend));
        assert_eq!(q.push_run(run(100, 5)).unwrap(), 5);
        assert_eq!(q.depth(), 5);
        assert_eq!(q.backend_depth(), 2);
        let mut ids: Vec<u64> = std::iter::from_fn(|| q.pop())
            .map(|q| u64::from_str_radix(&q.msg.id.to_string(), 16).unwrap())
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![100, 101, 102, 103, 104]);
    }

    #[test]
    fn flush_and_close_writes_every_memory_message_to_the_backend() {
        let mut q = MessageQueue::new("t".into(), 10, false, Some(Box::new(VecBackend::default())));
        q.push_run(run(1, 4)).unwrap();
        q.push(item(9)).unwrap();
        q.pop();
        q.flush_and_close(vec![item(20).msg]).unwrap();
        assert_eq!(q.depth(), 5);
    }

    #[test]
    fn pop_entry_keeps_runs_whole() {
        let mut q = MessageQueue::new("t".into(), 100, false, None);
        q.push_run(run(1, 5)).unwrap();
        q.push(item(9)).unwrap();
        assert_eq!(q.pop_entry().map(|e| e.len()), Some(5));
        assert_eq!(q.depth(), 1);
        assert_eq!(q.pop_entry().map(|e| e.len()), Some(1));
        assert!(q.pop_entry().is_none());
    }
}
