//! A channel: its own queue of every message of its topic, shared by its consumers
//! (load-balanced by RDY), with in-flight and deferred messages driven by one timer task.
//!
//! Locking: one mutex per channel, held only for short synchronous sections; it is never
//! held while taking a topic lock (topic → channel is the only nesting).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nsq_wire::message::{Message, MessageId};
use parking_lot::Mutex;
use rand::Rng;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backend::{BackendError, BackendQueue};
use super::client::ClientShared;
use super::e2e_latency::E2eLatency;
use super::inflight::{DeferredQueue, InFlight, InFlightError, InFlightTable};
use super::queue::{Entry, MessageQueue, PushOutcome, Queued};
use super::stats::ChannelStats;

/// Why a SUB could not join a channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubError {
    #[error("consumers for {topic}:{channel} exceeds limit of {limit}")]
    TooManyConsumers {
        topic: String,
        channel: String,
        limit: i64,
    },
    #[error("exiting")]
    Exiting,
}

/// Limits a channel applies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelLimits {
    pub mem_queue_size: usize,
    pub max_msg_timeout: Duration,
    pub max_channel_consumers: i64,
}

struct ChannelState {
    queue: MessageQueue,
    in_flight: InFlightTable,
    deferred: DeferredQueue,
    consumers: HashMap<u64, Arc<ClientShared>>,
    /// Consumers that found the queue empty while ready, in arrival order. Each queued
    /// message wakes one of them that is still ready (see [`wake_hungry`]).
    hungry: VecDeque<Arc<ClientShared>>,
    paused: bool,
    /// The due time the timer task currently sleeps until.
    timer_target: Option<Instant>,
}

/// One channel of a topic.
pub struct Channel {
    topic_name: String,
    name: String,
    ephemeral: bool,
    limits: ChannelLimits,
    state: Mutex<ChannelState>,
    timer_wake: Notify,
    closed: CancellationToken,
    exiting: AtomicBool,
    message_count: AtomicU64,
    requeue_count: AtomicU64,
    timeout_count: AtomicU64,
    e2e: E2eLatency,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("topic", &self.topic_name)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// Creates the channel and starts its timer task, which ends when the channel is
    /// deleted or closed, or when `closed` (a child of the broker's shutdown token) fires.
    pub(crate) fn new(
        topic_name: &str,
        name: &str,
        limits: ChannelLimits,
        backend: Option<Box<dyn BackendQueue>>,
        closed: CancellationToken,
        e2e: E2eLatency,
    ) -> Arc<Channel> {
        let ephemeral = nsq_wire::names::is_ephemeral(name);
        let queue = MessageQueue::new(
            format!("{topic_name}:{name}"),
            limits.mem_queue_size,
            ephemeral,
            backend,
        );
        let deferred = restore_deferred(&queue);
        let channel = Arc::new(Channel {
            topic_name: topic_name.to_owned(),
            name: name.to_owned(),
            ephemeral,
            limits,
            state: Mutex::new(ChannelState {
                queue,
                in_flight: InFlightTable::default(),
                deferred,
                consumers: HashMap::new(),
                hungry: VecDeque::new(),
                paused: false,
                timer_target: None,
            }),
            timer_wake: Notify::new(),
            closed,
            exiting: AtomicBool::new(false),
            message_count: AtomicU64::new(0),
            requeue_count: AtomicU64::new(0),
            timeout_count: AtomicU64::new(0),
            e2e,
        });
        tokio::spawn(run_timers(channel.clone()));
        channel
    }

    /// The channel name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name of the topic it belongs to.
    pub fn topic_name(&self) -> &str {
        &self.topic_name
    }

    /// Whether the name ends in `#ephemeral`.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// Whether deliveries are paused.
    pub fn is_paused(&self) -> bool {
        self.state.lock().paused
    }

    /// Whether the channel is being deleted.
    pub fn is_exiting(&self) -> bool {
        self.exiting.load(Ordering::Acquire)
    }

    /// Number of subscribed consumers.
    pub fn consumer_count(&self) -> usize {
        self.state.lock().consumers.len()
    }

    /// Receives messages from the topic; a single message with a non-zero defer goes to
    /// the deferred set. A backend (disk) write error is returned after the remaining
    /// entries were tried.
    pub(crate) fn put<I>(&self, entries: I) -> Result<(), BackendError>
    where
        I: IntoIterator<Item = Entry>,
    {
        let mut st = self.state.lock();
        let mut queued = 0;
        let mut result = Ok(());
        let now = Instant::now();
        if self.ephemeral && self.limits.mem_queue_size == 0 {
            let waiting = st.hungry.iter().filter(|c| c.is_ready()).count();
            st.queue.set_mem_limit(waiting);
        }
        for entry in entries {
            self.message_count
                .fetch_add(entry.len() as u64, Ordering::Relaxed);
            let pushed = match entry {
                Entry::One(Queued { msg, defer }) if !defer.is_zero() => {
                    let recorded = st.queue.defer(&msg, SystemTime::now() + defer);
                    st.deferred.push(msg, now + defer);
                    self.arm_timer(&mut st, now + defer);
                    recorded.map(|()| 0)
                }
                entry => st.queue.push_entry(entry),
            };
            match pushed {
                Ok(deliverable) => queued += deliverable,
                Err(err) => {
                    tracing::error!(topic = %self.topic_name, channel = %self.name, %err, "writing to channel backend");
                    result = Err(err);
                }
            }
        }
        wake_hungry(&mut st, queued);
        result
    }

    /// The channel queue's durability barrier (`--sync-ack`), if it has a backend.
    pub(crate) fn commit(
        &self,
    ) -> Option<futures::future::BoxFuture<'static, Result<(), BackendError>>> {
        self.state.lock().queue.commit()
    }

    /// Adds a consumer (SUB).
    pub fn add_consumer(&self, client: Arc<ClientShared>) -> Result<(), SubError> {
        let mut st = self.state.lock();
        if self.is_exiting() {
            return Err(SubError::Exiting);
        }
        let limit = self.limits.max_channel_consumers;
        if limit > 0 && st.consumers.len() as i64 >= limit {
            return Err(SubError::TooManyConsumers {
                topic: self.topic_name.clone(),
                channel: self.name.clone(),
                limit,
            });
        }
        st.consumers.insert(client.id, client);
        Ok(())
    }

    /// Removes a consumer (disconnect); returns how many remain. Its in-flight messages stay
    /// in flight until they time out, as in nsqd.
    pub fn remove_consumer(&self, client_id: u64) -> usize {
        let mut st = self.state.lock();
        st.consumers.remove(&client_id);
        st.hungry.retain(|c| c.id != client_id);
        kick(&mut st);
        st.consumers.len()
    }

    /// A consumer became less ready (lower RDY, CLS): a wake-up it received may now go
    /// unused, so hand one to another waiting consumer if messages are queued.
    pub(crate) fn kick(&self) {
        kick(&mut self.state.lock());
    }

    /// Takes up to `max` messages for `client`, marking them in flight. When the queue runs
    /// dry the client is registered to be woken by the next message.
    pub fn take(
        &self,
        client: &Arc<ClientShared>,
        max: usize,
        sample_rate: i32,
        msg_timeout: Duration,
        out: &mut Vec<Message>,
    ) {
        let mut st = self.state.lock();
        if st.paused || self.is_exiting() {
            return;
        }
        let now = Instant::now();
        let deadline = now + msg_timeout;
        let start = out.len();
        while out.len() - start < max {
            let Some(item) = st.queue.pop() else {
                if !st.hungry.iter().any(|c| c.id == client.id) {
                    st.hungry.push_back(client.clone());
                }
                break;
            };
            if sample_rate > 0 && rand::thread_rng().gen_range(0..100) > sample_rate {
                // Sampled out: the message is dropped for good, as nsqd does (a second copy
                // of a message in flight stays held for that delivery; see below).
                if !st.in_flight.contains(&item.msg.id) {
                    st.queue.release(&item.msg.id);
                }
                continue;
            }
            let mut msg = item.msg;
            msg.attempts = msg.attempts.wrapping_add(1);
            let delivery = InFlight {
                msg: msg.clone(),
                client_id: client.id,
                deadline,
                delivered_at: now,
            };
            if !st.in_flight.insert(delivery) {
                // A second copy of a message in flight: after a crash `--sync-ack` re-reads
                // both the record it was delivered from and the one a requeue wrote back.
                // Settling the delivery in flight settles both.
                continue;
            }
            out.push(msg);
        }
        let taken = out.len() - start;
        if taken > 0 {
            client.in_flight.fetch_add(taken as i64, Ordering::AcqRel);
            self.arm_timer(&mut st, deadline);
        }
    }

    /// FIN: the message is done.
    pub fn finish(&self, client: &ClientShared, id: &MessageId) -> Result<(), InFlightError> {
        let mut st = self.state.lock();
        let entry = st.in_flight.remove_owned(id, client.id)?;
        st.queue.release(id);
        self.e2e.record(entry.msg.timestamp);
        client.in_flight.fetch_sub(1, Ordering::AcqRel);
        client.finish_count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// REQ: back to the queue now (`delay` zero) or after `delay`.
    pub(crate) fn requeue(
        &self,
        client: &ClientShared,
        id: &MessageId,
        delay: Duration,
    ) -> Result<(), InFlightError> {
        let mut st = self.state.lock();
        if self.is_exiting() {
            return Err(InFlightError::Exiting);
        }
        let entry = st.in_flight.remove_owned(id, client.id)?;
        client.in_flight.fetch_sub(1, Ordering::AcqRel);
        client.requeue_count.fetch_add(1, Ordering::Relaxed);
        self.requeue_count.fetch_add(1, Ordering::Relaxed);
        if delay.is_zero() {
            let queued = usize::from(self.enqueue(&mut st, entry.msg));
            wake_hungry(&mut st, queued);
        } else {
            if let Err(err) = st.queue.defer(&entry.msg, SystemTime::now() + delay) {
                // The record it was delivered from stays held: a crash delivers it at once.
                tracing::error!(topic = %self.topic_name, channel = %self.name, %err, "recording a requeue delay");
            }
            let due = Instant::now() + delay;
            st.deferred.push(entry.msg, due);
            self.arm_timer(&mut st, due);
        }
        Ok(())
    }

    /// TOUCH: new deadline = now + `msg_timeout`, capped at delivery + max-msg-timeout.
    pub(crate) fn touch(
        &self,
        client: &ClientShared,
        id: &MessageId,
        msg_timeout: Duration,
    ) -> Result<(), InFlightError> {
        let max = self.limits.max_msg_timeout;
        let mut st = self.state.lock();
        let deadline = st.in_flight.touch(id, client.id, |entry| {
            let wanted = Instant::now() + msg_timeout;
            wanted.min(entry.delivered_at + max)
        })?;
        self.arm_timer(&mut st, deadline);
        Ok(())
    }

    /// Stops deliveries to every consumer.
    pub fn pause(&self) {
        self.state.lock().paused = true;
    }

    /// Resumes deliveries.
    pub fn unpause(&self) {
        let mut st = self.state.lock();
        st.paused = false;
        for client in st.consumers.values() {
            client.wake.notify_one();
        }
    }

    /// Drops queued, in-flight and deferred messages; consumers' in-flight counts reset.
    pub fn empty(&self) -> Result<(), BackendError> {
        let mut st = self.state.lock();
        st.in_flight.drain();
        st.deferred.drain();
        for client in st.consumers.values() {
            client.in_flight.store(0, Ordering::Release);
            client.wake.notify_one();
        }
        st.queue.empty()
    }

    /// Deletion: closes every consumer connection, drops all messages and backend data.
    pub(crate) fn delete(&self) {
        self.exiting.store(true, Ordering::Release);
        let mut st = self.state.lock();
        for client in st.consumers.values() {
            client.close.cancel();
        }
        st.consumers.clear();
        st.hungry.clear();
        st.in_flight.drain();
        st.deferred.drain();
        if let Err(err) = st.queue.delete() {
            tracing::error!(topic = %self.topic_name, channel = %self.name, %err, "deleting channel backend");
        }
        self.closed.cancel();
    }

    /// Shutdown: writes queued, in-flight and deferred messages to the backend (if any)
    /// and closes it; stops the timer task.
    pub(crate) fn close(&self) {
        self.exiting.store(true, Ordering::Release);
        let mut st = self.state.lock();
        let mut extra: Vec<Message> = st.in_flight.drain().into_iter().map(|e| e.msg).collect();
        extra.extend(st.deferred.drain());
        if let Err(err) = st.queue.flush_and_close(extra) {
            tracing::error!(topic = %self.topic_name, channel = %self.name, %err, "closing channel backend");
        }
        self.closed.cancel();
    }

    /// The `/stats` view.
    pub fn stats(&self, include_clients: bool) -> ChannelStats {
        let (depth, backend_depth, in_flight, deferred, consumers, paused) = {
            let st = self.state.lock();
            (
                st.queue.depth(),
                st.queue.backend_depth(),
                st.in_flight.len() as i64,
                st.deferred.len() as i64,
                st.consumers.values().cloned().collect::<Vec<_>>(),
                st.paused,
            )
        };
        let mut consumers = consumers;
        consumers.sort_by_key(|c| c.id);
        ChannelStats {
            channel_name: self.name.clone(),
            depth,
            backend_depth,
            in_flight_count: in_flight,
            deferred_count: deferred,
            message_count: self.message_count.load(Ordering::Relaxed),
            requeue_count: self.requeue_count.load(Ordering::Relaxed),
            timeout_count: self.timeout_count.load(Ordering::Relaxed),
            client_count: consumers.len() as i64,
            clients: include_clients.then(|| consumers.iter().map(|c| c.stats()).collect()),
            paused,
            e2e_processing_latency: self.e2e.stats(),
        }
    }

    /// The e2e latency recorder (a topic merges its channels').
    pub(crate) fn e2e_latency(&self) -> &E2eLatency {
        &self.e2e
    }

    /// Puts a message back on the queue (requeue, timeout, due deferred); returns whether
    /// it is now deliverable. A backend write error is logged: the message was in flight or
    /// deferred, and there is no client to answer. Once queued again, the record it was read
    /// from (`--sync-ack`) is released.
    fn enqueue(&self, st: &mut ChannelState, msg: Message) -> bool {
        let id = msg.id;
        let item = Queued {
            msg,
            defer: Duration::ZERO,
        };
        match st.queue.push(item) {
            Ok(PushOutcome::Dropped) => false,
            Ok(_) => {
                st.queue.release(&id);
                true
            }
            Err(err) => {
                tracing::error!(topic = %self.topic_name, channel = %self.name, %err, "writing to channel backend");
                false
            }
        }
    }

    /// Makes sure the timer task wakes by `due`.
    fn arm_timer(&self, st: &mut ChannelState, due: Instant) {
        if st.timer_target.is_none_or(|target| due < target) {
            st.timer_target = Some(due);
            self.timer_wake.notify_one();
        }
    }

    /// Handles expired in-flight messages and due deferred ones; returns the next due time.
    fn process_timers(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut st = self.state.lock();
        let mut queued = 0;
        while let Some(entry) = st.in_flight.pop_expired(now) {
            self.timeout_count.fetch_add(1, Ordering::Relaxed);
            if let Some(owner) = st.consumers.get(&entry.client_id) {
                owner.in_flight.fetch_sub(1, Ordering::AcqRel);
                owner.wake.notify_one();
            }
            queued += usize::from(self.enqueue(&mut st, entry.msg));
        }
        while let Some(msg) = st.deferred.pop_due(now) {
            queued += usize::from(self.enqueue(&mut st, msg));
        }
        wake_hungry(&mut st, queued);
        let next = match (st.in_flight.next_deadline(), st.deferred.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        st.timer_target = next;
        next
    }
}

/// The deferred messages a crashed run left with the queue's backend (`--sync-ack`), each
/// due when it was due before (at once if that time has passed).
fn restore_deferred(queue: &MessageQueue) -> DeferredQueue {
    let mut deferred = DeferredQueue::default();
    let (now, wall_now) = (Instant::now(), SystemTime::now());
    for (msg, due) in queue.take_deferred() {
        let wait = due.duration_since(wall_now).unwrap_or(Duration::ZERO);
        deferred.push(msg, now + wait);
    }
    deferred
}

/// Wakes up to `count` waiting consumers that are still ready. Consumers that stopped
/// being ready are dropped from the list: they register again the next time they find
/// the queue empty while ready. A woken consumer that loses readiness before it runs is
/// covered by [`kick`].
fn wake_hungry(st: &mut ChannelState, mut count: usize) {
    while count > 0 {
        let Some(client) = st.hungry.pop_front() else {
            return;
        };
        if client.is_ready() {
            client.wake.notify_one();
            count -= 1;
        }
    }
}

fn kick(st: &mut ChannelState) {
    if !st.queue.is_empty() {
        wake_hungry(st, 1);
    }
}

/// The channel's timer task: sleeps until the earliest in-flight deadline or deferred due
/// time, or until woken because an earlier one was added.
async fn run_timers(channel: Arc<Channel>) {
    loop {
        let next = channel.process_timers();
        let sleep = async {
            match next {
                Some(due) => tokio::time::sleep_until(due).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = channel.closed.cancelled() => return,
            _ = channel.timer_wake.notified() => {}
            _ = sleep => {}
        }
    }
}

#[cfg(test)]
mod tests;
