//! A topic: accepts published messages and copies each one to every channel that exists
//! when it is distributed. Without channels (or while paused) messages wait in the topic's
//! own queue; a drain task moves that backlog once distribution is possible again.
//!
//! Publishing distributes synchronously (no task hop) when the backlog is empty, so a
//! message body is allocated once and each channel gets a cheap clone of it: an MPUB
//! travels as one [`MessageRun`], never unpacked until a consumer takes its messages.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nsq_wire::message::Message;
use nsq_wire::multi_body::MultiBody;
use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::backend::{BackendError, BackendFactory};
use super::channel::{Channel, ChannelLimits, SubError};
use super::client::ClientShared;
use super::e2e_latency::E2eLatency;
use super::events::NsqdEvent;
use super::guid::{now_ns, IdGenerator};
use super::options::NsqdOptions;
use super::queue::{Entry, MessageQueue, MessageRun, Queued};
use super::stats::TopicStats;

/// How many backlog messages the drain task moves per lock acquisition (at least one
/// whole entry).
const DRAIN_BATCH: usize = 256;

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("exiting")]
    Exiting,
    #[error("{0}")]
    Backend(#[from] BackendError),
}

struct TopicState {
    channels: BTreeMap<String, Arc<Channel>>,
    paused: bool,
    backlog: MessageQueue,
    draining: bool,
}

impl TopicState {
    fn distributable(&self) -> bool {
        !self.paused && !self.channels.is_empty()
    }
}

/// One topic.
pub struct Topic {
    name: String,
    ephemeral: bool,
    opts: Arc<NsqdOptions>,
    backends: Option<Arc<dyn BackendFactory>>,
    events: broadcast::Sender<NsqdEvent>,
    /// The broker's shutdown token; channels' timer tasks stop with it.
    shutdown: CancellationToken,
    state: Mutex<TopicState>,
    ids: IdGenerator,
    message_count: AtomicU64,
    message_bytes: AtomicU64,
    exiting: AtomicBool,
}

impl std::fmt::Debug for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Topic {
    pub(crate) fn new(
        name: &str,
        opts: Arc<NsqdOptions>,
        backends: Option<Arc<dyn BackendFactory>>,
        events: broadcast::Sender<NsqdEvent>,
        shutdown: CancellationToken,
    ) -> Result<Arc<Topic>, BackendError> {
        let ephemeral = nsq_wire::names::is_ephemeral(name);
        let backend = match (&backends, ephemeral) {
            (Some(factory), false) => Some(factory.open(name)?),
            _ => None,
        };
        let mem = usize::try_from(opts.mem_queue_size).unwrap_or(0);
        Ok(Arc::new(Topic {
            name: name.to_owned(),
            ephemeral,
            ids: IdGenerator::new(opts.node_id),
            opts,
            backends,
            events,
            shutdown,
            state: Mutex::new(TopicState {
                channels: BTreeMap::new(),
                paused: false,
                backlog: MessageQueue::new(name.to_owned(), mem, ephemeral, backend),
                draining: false,
            }),
            message_count: AtomicU64::new(0),
            message_bytes: AtomicU64::new(0),
            exiting: AtomicBool::new(false),
        }))
    }

    /// The topic name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the name ends in `#ephemeral`.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// Whether the topic is being deleted or the broker is shutting down.
    pub fn is_exiting(&self) -> bool {
        self.exiting.load(Ordering::Acquire)
    }

    /// Whether distribution is paused.
    pub fn is_paused(&self) -> bool {
        self.state.lock().paused
    }

    /// Publishes one message (PUB, DPUB with a non-zero `defer`).
    /// `Ok` means it is in a channel, the topic queue or its backend.
    pub fn publish(self: &Arc<Self>, body: Bytes, defer: Duration) -> Result<(), PublishError> {
        let bytes = body.len() as u64;
        let msg = Message {
            timestamp: now_ns(),
            attempts: 0,
            id: self.ids.next_id(),
            body,
        };
        self.accept(Entry::One(Queued { msg, defer }), 1, bytes)
    }

    /// Publishes the messages of an MPUB; they get one timestamp and consecutive ids.
    /// `Ok` means every message is in a channel, the topic queue or its backend.
    pub fn publish_multi(self: &Arc<Self>, bodies: MultiBody) -> Result<(), PublishError> {
        if bodies.is_empty() {
            return Ok(());
        }
        let count = bodies.len();
        let bytes = bodies.body_bytes() as u64;
        let run = MessageRun::new(bodies, self.ids.next_block(count), now_ns());
        self.accept(Entry::Run(run), count as u64, bytes)
    }

    fn accept(self: &Arc<Self>, entry: Entry, count: u64, bytes: u64) -> Result<(), PublishError> {
        let mut st = self.state.lock();
        if self.is_exiting() {
            return Err(PublishError::Exiting);
        }
        if st.distributable() && st.backlog.is_empty() {
            distribute(&st, std::slice::from_ref(&entry))?;
        } else {
            let kept = st.backlog.push_entry(entry)?;
            if kept < count as usize {
                tracing::debug!(topic = %self.name, dropped = count as usize - kept, "ephemeral topic queue full, messages dropped");
            }
            self.start_drain(&mut st);
        }
        drop(st);
        self.message_count.fetch_add(count, Ordering::Relaxed);
        self.message_bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// With `--sync-ack`: waits until everything published so far is fsync'ed in this
    /// topic's and its channels' disk queues (group commit). Otherwise returns at once.
    pub async fn sync_ack(&self) -> Result<(), PublishError> {
        if !self.opts.sync_ack {
            return Ok(());
        }
        let barriers: Vec<_> = {
            let st = self.state.lock();
            st.backlog
                .commit()
                .into_iter()
                .chain(st.channels.values().filter_map(|c| c.commit()))
                .collect()
        };
        for barrier in barriers {
            barrier.await?;
        }
        Ok(())
    }

    /// An existing channel.
    pub fn channel(&self, name: &str) -> Option<Arc<Channel>> {
        self.state.lock().channels.get(name).cloned()
    }

    /// All channels, sorted by name.
    pub fn channels(&self) -> Vec<Arc<Channel>> {
        self.state.lock().channels.values().cloned().collect()
    }

    /// Returns the channel, creating it (and starting backlog distribution) if needed.
    pub fn get_or_create_channel(
        self: &Arc<Self>,
        name: &str,
    ) -> Result<Arc<Channel>, BackendError> {
        let mut st = self.state.lock();
        self.channel_locked(&mut st, name)
    }

    /// SUB: get or create the channel and add the consumer, atomically with respect to
    /// ephemeral auto-deletion.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        name: &str,
        client: Arc<ClientShared>,
    ) -> Result<Arc<Channel>, SubError> {
        let mut st = self.state.lock();
        if self.is_exiting() {
            return Err(SubError::Exiting);
        }
        let channel = self.channel_locked(&mut st, name).map_err(|err| {
            tracing::error!(topic = %self.name, channel = name, %err, "opening channel backend");
            SubError::Exiting
        })?;
        channel.add_consumer(client)?;
        Ok(channel)
    }

    /// Removes an ephemeral channel if it has no consumers left; returns whether it did.
    pub(crate) fn remove_channel_if_unused(&self, name: &str) -> bool {
        let mut st = self.state.lock();
        let Some(channel) = st.channels.get(name) else {
            return false;
        };
        if channel.consumer_count() > 0 {
            return false;
        }
        if let Some(channel) = st.channels.remove(name) {
            channel.delete();
            let _ = self.events.send(NsqdEvent::ChannelDeleted {
                topic: self.name.clone(),
                channel: name.to_owned(),
            });
        }
        true
    }

    /// Deletes a channel (closing its consumers); `false` if it does not exist.
    pub fn delete_channel(&self, name: &str) -> bool {
        let removed = self.state.lock().channels.remove(name);
        match removed {
            Some(channel) => {
                channel.delete();
                let _ = self.events.send(NsqdEvent::ChannelDeleted {
                    topic: self.name.clone(),
                    channel: name.to_owned(),
                });
                true
            }
            None => false,
        }
    }

    /// Whether the topic has no channels.
    pub fn has_no_channels(&self) -> bool {
        self.state.lock().channels.is_empty()
    }

    /// Stops distribution to channels.
    pub fn pause(&self) {
        self.state.lock().paused = true;
        let _ = self.events.send(NsqdEvent::TopicPaused {
            topic: self.name.clone(),
        });
    }

    /// Resumes distribution (and drains what accumulated).
    pub fn unpause(self: &Arc<Self>) {
        let mut st = self.state.lock();
        st.paused = false;
        self.start_drain(&mut st);
        drop(st);
        let _ = self.events.send(NsqdEvent::TopicUnpaused {
            topic: self.name.clone(),
        });
    }

    /// Drops the topic's own backlog (memory and backend); channels are untouched.
    pub fn empty(&self) -> Result<(), BackendError> {
        self.state.lock().backlog.empty()
    }

    /// The `/stats` view; `channel_filter` keeps only that channel.
    pub fn stats(&self, channel_filter: Option<&str>, include_clients: bool) -> TopicStats {
        let (channels, depth, backend_depth, paused) = {
            let st = self.state.lock();
            (
                st.channels.values().cloned().collect::<Vec<_>>(),
                st.backlog.depth(),
                st.backlog.backend_depth(),
                st.paused,
            )
        };
        TopicStats {
            topic_name: self.name.clone(),
            channels: channels
                .iter()
                .filter(|c| channel_filter.is_none_or(|f| c.name() == f))
                .map(|c| c.stats(include_clients))
                .collect(),
            depth,
            backend_depth,
            message_count: self.message_count.load(Ordering::Relaxed),
            message_bytes: self.message_bytes.load(Ordering::Relaxed),
            paused,
            e2e_processing_latency: E2eLatency::merged(channels.iter().map(|c| c.e2e_latency())),
        }
    }

    /// Deletion: every channel is deleted (consumers closed), backlog and backend dropped.
    pub(crate) fn delete(&self) {
        self.exiting.store(true, Ordering::Release);
        let mut st = self.state.lock();
        let channels = std::mem::take(&mut st.channels);
        if let Err(err) = st.backlog.delete() {
            tracing::error!(topic = %self.name, %err, "deleting topic backend");
        }
        drop(st);
        for (name, channel) in channels {
            channel.delete();
            let _ = self.events.send(NsqdEvent::ChannelDeleted {
                topic: self.name.clone(),
                channel: name,
            });
        }
    }

    /// Shutdown: closes channels (flushing to their backends) and the topic backlog.
    pub(crate) fn close(&self) {
        self.exiting.store(true, Ordering::Release);
        let mut st = self.state.lock();
        for channel in st.channels.values() {
            channel.close();
        }
        if let Err(err) = st.backlog.flush_and_close(Vec::new()) {
            tracing::error!(topic = %self.name, %err, "closing topic backend");
        }
    }

    fn channel_locked(
        self: &Arc<Self>,
        st: &mut TopicState,
        name: &str,
    ) -> Result<Arc<Channel>, BackendError> {
        if let Some(channel) = st.channels.get(name) {
            return Ok(channel.clone());
        }
        let ephemeral = nsq_wire::names::is_ephemeral(name);
        let backend = match (&self.backends, ephemeral) {
            (Some(factory), false) => Some(factory.open(&format!("{}:{}", self.name, name))?),
            _ => None,
        };
        let limits = ChannelLimits {
            mem_queue_size: usize::try_from(self.opts.mem_queue_size).unwrap_or(0),
            max_msg_timeout: self.opts.max_msg_timeout,
            max_channel_consumers: self.opts.max_channel_consumers,
        };
        let channel = Channel::new(
            &self.name,
            name,
            limits,
            backend,
            self.shutdown.child_token(),
            E2eLatency::from_options(&self.opts),
        );
        st.channels.insert(name.to_owned(), channel.clone());
        let _ = self.events.send(NsqdEvent::ChannelCreated {
            topic: self.name.clone(),
            channel: name.to_owned(),
        });
        self.start_drain(st);
        Ok(channel)
    }

    /// Spawns the drain task if there is a backlog that can now be distributed.
    fn start_drain(self: &Arc<Self>, st: &mut TopicState) {
        if st.draining || !st.distributable() || st.backlog.is_empty() {
            return;
        }
        st.draining = true;
        let topic = self.clone();
        tokio::spawn(async move { topic.drain().await });
    }

    async fn drain(self: Arc<Self>) {
        loop {
            {
                let mut st = self.state.lock();
                if self.is_exiting() || !st.distributable() {
                    st.draining = false;
                    return;
                }
                let mut batch = Vec::new();
                let mut moved = 0;
                while moved < DRAIN_BATCH {
                    match st.backlog.pop_entry() {
                        Some(entry) => {
                            moved += entry.len();
                            batch.push(entry);
                        }
                        None => break,
                    }
                }
                if batch.is_empty() {
                    st.draining = false;
                    return;
                }
                if let Err(err) = distribute(&st, &batch) {
                    tracing::error!(topic = %self.name, %err, "failed to write backlog to a channel");
                }
                // The channels have their copies (`--sync-ack`: on their disk queues).
                st.backlog.release_all();
            }
            tokio::task::yield_now().await;
        }
    }
}

/// Copies each entry to every channel (a clone shares the bodies); returns the first channel
/// backend error (every channel is still tried).
fn distribute(st: &TopicState, entries: &[Entry]) -> Result<(), BackendError> {
    let mut result = Ok(());
    for channel in st.channels.values() {
        if let Err(err) = channel.put(entries.iter().cloned()) {
            if result.is_ok() {
                result = Err(err);
            }
        }
    }
    result
}
