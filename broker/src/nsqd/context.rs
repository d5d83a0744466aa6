//! [`NsqdContext`]: the state shared by the TCP protocol, the HTTP API and the engine
//! (topics, clients, options, lifecycle events), with the engine operations they call.
//!
//! The topic map is behind a read-write lock that the message hot path avoids: connections
//! cache the `Arc<Topic>`s they publish to, and consumers hold their channel directly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nsq_wire::multi_body::MultiBody;
use nsq_wire::names::{is_valid_channel_name, is_valid_topic_name};
use parking_lot::{Mutex, RwLock};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::backend::{BackendError, BackendFactory};
use super::channel::Channel;
use super::client::{unix_seconds, ClientShared};
use super::events::{NsqdEvent, EVENT_CAPACITY};
use super::health::Health;
use super::options::{NsqdOptions, VERSION};
use super::stats::{ClientStats, StatsFilter, TopicStats};
use super::topic::{PublishError, Topic};

/// Errors of engine operations (mapped to HTTP statuses by the HTTP layer).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("INVALID_TOPIC")]
    InvalidTopic,
    #[error("INVALID_CHANNEL")]
    InvalidChannel,
    #[error("TOPIC_NOT_FOUND")]
    TopicNotFound,
    #[error("CHANNEL_NOT_FOUND")]
    ChannelNotFound,
    #[error("exiting")]
    Exiting,
    #[error("{0}")]
    Backend(#[from] BackendError),
}

impl From<PublishError> for EngineError {
    fn from(err: PublishError) -> Self {
        match err {
            PublishError::Exiting => EngineError::Exiting,
            PublishError::Backend(err) => EngineError::Backend(err),
        }
    }
}

struct Inner {
    opts: Arc<NsqdOptions>,
    tcp_addr: SocketAddr,
    http_addr: SocketAddr,
    start_time: i64,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    clients: Mutex<HashMap<u64, Arc<ClientShared>>>,
    next_client_id: AtomicU64,
    events: broadcast::Sender<NsqdEvent>,
    backends: Option<Arc<dyn BackendFactory>>,
    shutdown: CancellationToken,
    health: Arc<Health>,
    lookup: std::sync::OnceLock<super::lookup::LookupHandle>,
}

/// Shared nsqd state; cheap to clone.
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// use broker::nsqd::{Nsqd, NsqdOptions};
/// let nsqd = Nsqd::start(NsqdOptions {
///     tcp_address: "127.0.0.1:0".parse()?,
///     http_address: "127.0.0.1:0".parse()?,
///     ..NsqdOptions::default()
/// })
/// .await?;
/// let ctx = nsqd.context();
/// ctx.publish("orders", "hello".into())?;
/// assert_eq!(ctx.stats(&Default::default())[0].message_count, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct NsqdContext {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NsqdContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NsqdContext")
            .field("tcp_addr", &self.inner.tcp_addr)
            .field("http_addr", &self.inner.http_addr)
            .finish_non_exhaustive()
    }
}

impl NsqdContext {
    pub(crate) fn new(
        opts: NsqdOptions,
        tcp_addr: SocketAddr,
        http_addr: SocketAddr,
        backends: Option<Arc<dyn BackendFactory>>,
        health: Arc<Health>,
    ) -> Self {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        NsqdContext {
            inner: Arc::new(Inner {
                opts: Arc::new(opts),
                tcp_addr,
                http_addr,
                start_time: unix_seconds(),
                topics: RwLock::new(HashMap::new()),
                clients: Mutex::new(HashMap::new()),
                next_client_id: AtomicU64::new(1),
                events,
                backends,
                shutdown: CancellationToken::new(),
                health,
                lookup: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The options this nsqd runs with.
    pub fn options(&self) -> &NsqdOptions {
        &self.inner.opts
    }

    /// The bound TCP address.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.inner.tcp_addr
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.inner.http_addr
    }

    /// Start time in Unix seconds.
    pub fn start_time(&self) -> i64 {
        self.inner.start_time
    }

    /// The reported version.
    pub fn version(&self) -> &'static str {
        VERSION
    }

    /// `"OK"` or `"NOK - <error>"` (Go's `GetHealth`).
    pub fn health(&self) -> String {
        self.inner.health.status()
    }

    /// The error of the last disk write, if it failed.
    pub fn health_error(&self) -> Option<String> {
        self.inner.health.error()
    }

    /// Whether the last disk write succeeded.
    pub fn is_healthy(&self) -> bool {
        self.inner.health.error().is_none()
    }

    /// Records a disk failure (or recovery with `None`), as Go's `SetHealth`.
    pub fn set_health(&self, error: Option<String>) {
        self.inner.health.set(error);
    }

    /// The lookupd client (`--lookupd-tcp-address` peers: status, runtime address changes),
    /// once nsqd has started it.
    pub fn lookup(&self) -> Option<&super::lookup::LookupHandle> {
        self.inner.lookup.get()
    }

    pub(crate) fn set_lookup(&self, handle: super::lookup::LookupHandle) {
        if self.inner.lookup.set(handle).is_err() {
            tracing::warn!("lookupd client already started");
        }
    }

    /// Subscribes to topic/channel lifecycle events.
    pub fn events(&self) -> broadcast::Receiver<NsqdEvent> {
        self.inner.events.subscribe()
    }

    /// Announces a lifecycle change made outside a topic (channel pause/unpause), so
    /// `nsqd.dat` and other listeners see it.
    pub fn emit(&self, event: NsqdEvent) {
        let _ = self.inner.events.send(event);
    }

    /// Cancelled when the broker shuts down.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// An existing topic.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.inner.topics.read().get(name).cloned()
    }

    /// All topics, sorted by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        let mut topics: Vec<_> = self.inner.topics.read().values().cloned().collect();
        topics.sort_by(|a, b| a.name().cmp(b.name()));
        topics
    }

    /// Returns the topic, creating it if needed (validates the name).
    pub fn get_or_create_topic(&self, name: &str) -> Result<Arc<Topic>, EngineError> {
        if let Some(topic) = self.topic(name) {
            return Ok(topic);
        }
        if !is_valid_topic_name(name) {
            return Err(EngineError::InvalidTopic);
        }
        if self.inner.shutdown.is_cancelled() {
            return Err(EngineError::Exiting);
        }
        let mut topics = self.inner.topics.write();
        if let Some(topic) = topics.get(name) {
            return Ok(topic.clone());
        }
        let topic = Topic::new(
            name,
            self.inner.opts.clone(),
            self.inner.backends.clone(),
            self.inner.events.clone(),
            self.inner.shutdown.clone(),
        )?;
        topics.insert(name.to_owned(), topic.clone());
        drop(topics);
        tracing::info!(topic = name, "TOPIC: created");
        let _ = self.inner.events.send(NsqdEvent::TopicCreated {
            topic: name.to_owned(),
        });
        Ok(topic)
    }

    /// Deletes a topic and all its channels.
    pub fn delete_topic(&self, name: &str) -> Result<(), EngineError> {
        let topic = self
            .inner
            .topics
            .write()
            .remove(name)
            .ok_or(EngineError::TopicNotFound)?;
        topic.delete();
        tracing::info!(topic = name, "TOPIC: deleted");
        let _ = self.inner.events.send(NsqdEvent::TopicDeleted {
            topic: name.to_owned(),
        });
        Ok(())
    }

    /// Creates a channel on an existing topic (HTTP `/channel/create`).
    pub fn create_channel(&self, topic: &str, channel: &str) -> Result<Arc<Channel>, EngineError> {
        if !is_valid_channel_name(channel) {
            return Err(EngineError::InvalidChannel);
        }
        let topic = self.topic(topic).ok_or(EngineError::TopicNotFound)?;
        Ok(topic.get_or_create_channel(channel)?)
    }

    /// An existing channel.
    pub fn channel(&self, topic: &str, channel: &str) -> Result<Arc<Channel>, EngineError> {
        let topic = self.topic(topic).ok_or(EngineError::TopicNotFound)?;
        topic.channel(channel).ok_or(EngineError::ChannelNotFound)
    }

    /// Deletes a channel; an ephemeral topic left without channels is deleted too.
    pub fn delete_channel(&self, topic_name: &str, channel: &str) -> Result<(), EngineError> {
        let topic = self.topic(topic_name).ok_or(EngineError::TopicNotFound)?;
        if !topic.delete_channel(channel) {
            return Err(EngineError::ChannelNotFound);
        }
        self.delete_ephemeral_topic_if_unused(&topic);
        Ok(())
    }

    /// Publishes one message (HTTP `/pub`).
    pub fn publish(&self, topic: &str, body: Bytes) -> Result<(), EngineError> {
        self.publish_deferred(topic, body, Duration::ZERO)
    }

    /// Publishes one message delivered after `defer` (HTTP `/pub?defer=`).
    pub fn publish_deferred(
        &self,
        topic: &str,
        body: Bytes,
        defer: Duration,
    ) -> Result<(), EngineError> {
        let topic = self.get_or_create_topic(topic)?;
        Ok(topic.publish(body, defer)?)
    }

    /// Publishes several messages atomically with respect to validation (HTTP `/mpub`).
    pub fn publish_multi(&self, topic: &str, bodies: Vec<Bytes>) -> Result<(), EngineError> {
        let topic = self.get_or_create_topic(topic)?;
        Ok(topic.publish_multi(MultiBody::from_bodies(&bodies))?)
    }

    /// Topic statistics, sorted by topic name, filtered as `/stats` does.
    pub fn stats(&self, filter: &StatsFilter) -> Vec<TopicStats> {
        self.topics()
            .into_iter()
            .filter(|t| filter.topic.as_deref().is_none_or(|f| t.name() == f))
            .filter(|t| {
                filter
                    .channel
                    .as_deref()
                    .is_none_or(|c| t.channel(c).is_some())
            })
            .map(|t| t.stats(filter.channel.as_deref(), filter.include_clients))
            .collect()
    }

    /// Every TCP connection that has published at least once (`/stats` `producers`).
    pub fn producers(&self) -> Vec<ClientStats> {
        let mut clients: Vec<_> = self.inner.clients.lock().values().cloned().collect();
        clients.sort_by_key(|c| c.id);
        clients
            .iter()
            .filter(|c| c.has_published())
            .map(|c| c.stats())
            .collect()
    }

    /// Every connected TCP client.
    pub fn clients(&self) -> Vec<Arc<ClientShared>> {
        self.inner.clients.lock().values().cloned().collect()
    }

    pub(crate) fn register_client(&self, remote_addr: SocketAddr) -> Arc<ClientShared> {
        let id = self.inner.next_client_id.fetch_add(1, Ordering::Relaxed);
        let client = Arc::new(ClientShared::new(
            id,
            remote_addr,
            self.inner.shutdown.child_token(),
        ));
        self.inner.clients.lock().insert(id, client.clone());
        client
    }

    pub(crate) fn unregister_client(&self, id: u64) {
        self.inner.clients.lock().remove(&id);
    }

    /// A consumer left its channel: ephemeral channels (and then ephemeral topics) without
    /// consumers are deleted.
    pub(crate) fn unsubscribe(&self, topic: &Arc<Topic>, channel: &Arc<Channel>, client_id: u64) {
        let remaining = channel.remove_consumer(client_id);
        if remaining > 0 || !channel.is_ephemeral() || channel.is_exiting() {
            return;
        }
        if topic.remove_channel_if_unused(channel.name()) {
            self.delete_ephemeral_topic_if_unused(topic);
        }
    }

    fn delete_ephemeral_topic_if_unused(&self, topic: &Arc<Topic>) {
        if !topic.is_ephemeral() || !topic.has_no_channels() {
            return;
        }
        let mut topics = self.inner.topics.write();
        let still_same = topics
            .get(topic.name())
            .is_some_and(|t| Arc::ptr_eq(t, topic) && t.has_no_channels());
        if still_same {
            topics.remove(topic.name());
            drop(topics);
            topic.delete();
            let _ = self.inner.events.send(NsqdEvent::TopicDeleted {
                topic: topic.name().to_owned(),
            });
        }
    }

    /// Shutdown: stop everything, then close every topic (flushing to backends).
    pub(crate) fn close_topics(&self) {
        let topics: Vec<_> = self.inner.topics.read().values().cloned().collect();
        for topic in topics {
            topic.close();
        }
    }
}
