//! nsqd's side of discovery (Go's `nsqd/lookup.go`): keep every configured nsqlookupd
//! informed of this nsqd's topics and channels.
//!
//! One task per lookupd address. Each connects at start (IDENTIFY, then REGISTER of every
//! topic and channel), forwards topic/channel lifecycle events as REGISTER/UNREGISTER,
//! PINGs every `ping_interval` (15 s in Go), and after any failure reconnects and
//! re-registers everything: at once if the lookupd is reachable again, else at the next
//! ping. Missed lifecycle events (a lagging broadcast receiver) also force a full
//! re-registration. When a topic appears at runtime, its channels known to any lookupd are
//! pre-created ([`LookupHandle::channels_for_topic`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use nsq_wire::lookup::LookupCommand;
use parking_lot::{Mutex, RwLock};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::context::NsqdContext;
use super::events::NsqdEvent;
use super::lookup_peer::LookupPeer;
pub use super::lookup_peer::{
    LookupIdentity, LookupPeerStatus, LookupdInfo, NsqdTopology, PeerError,
};
use super::options::VERSION;

/// Go nsqd's lookupd heartbeat interval.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(15);

/// Settings shared by every lookupd connection of one nsqd.
#[derive(Debug, Clone)]
pub struct LookupConfig {
    /// What nsqd says about itself in IDENTIFY.
    pub identity: LookupIdentity,
    /// Upper bound of a lookupd reply (nsqd's `--max-body-size`).
    pub max_body_size: usize,
    /// Heartbeat (and effective reconnect) interval.
    pub ping_interval: Duration,
    /// Timeout of one `/channels` query during channel pre-creation.
    pub http_timeout: Duration,
}

struct PeerHandle {
    stop: CancellationToken,
    status: Arc<RwLock<LookupPeerStatus>>,
}

type PeerMap = Arc<Mutex<BTreeMap<String, PeerHandle>>>;

/// Starts the lookupd client of a running nsqd from its options: IDENTIFY carries the
/// broadcast address and the broadcast (default: bound) ports.
pub(crate) fn start_for_nsqd(ctx: &NsqdContext, tasks: &TaskTracker) -> LookupHandle {
    let opts = ctx.options();
    let port_or = |broadcast: u16, bound: u16| if broadcast == 0 { bound } else { broadcast };
    let config = LookupConfig {
        identity: LookupIdentity {
            broadcast_address: opts.broadcast_address.clone(),
            hostname: super::host_name(),
            http_port: port_or(opts.broadcast_http_port, ctx.http_addr().port()),
            tcp_port: port_or(opts.broadcast_tcp_port, ctx.tcp_addr().port()),
            topology_region: opts.topology_region.clone(),
            topology_zone: opts.topology_zone.clone(),
            version: VERSION.to_owned(),
        },
        max_body_size: usize::try_from(opts.max_body_size).unwrap_or(usize::MAX),
        ping_interval: opts.lookupd_ping_interval,
        http_timeout: opts.http_client_request_timeout,
    };
    let topology: Arc<dyn NsqdTopology> = Arc::new(ctx.clone());
    start(
        config,
        &opts.lookupd_tcp_address,
        topology,
        ctx.shutdown_token().clone(),
        tasks,
    )
}

impl NsqdTopology for NsqdContext {
    fn topics_and_channels(&self) -> Vec<(String, Vec<String>)> {
        self.topics()
            .into_iter()
            .map(|topic| {
                let channels = topic
                    .channels()
                    .iter()
                    .map(|channel| channel.name().to_owned())
                    .collect();
                (topic.name().to_owned(), channels)
            })
            .collect()
    }

    fn subscribe(&self) -> broadcast::Receiver<NsqdEvent> {
        self.events()
    }

    fn create_channels(&self, topic: &str, channels: &[String]) {
        for channel in channels {
            if let Err(err) = self.create_channel(topic, channel) {
                tracing::warn!(topic, channel, %err, "LOOKUPD: channel pre-creation failed");
            }
        }
    }
}

/// Control and status of one nsqd's lookupd connections. Cheap to clone.
///
/// It holds no reference to the engine (the background tasks do, until shutdown), so the
/// nsqd context may keep it without a reference cycle.
#[derive(Clone)]
pub struct LookupHandle {
    addresses: Arc<watch::Sender<Vec<String>>>,
    peers: PeerMap,
    http: reqwest::Client,
}

impl std::fmt::Debug for LookupHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupHandle")
            .field("peers", &self.peers())
            .finish_non_exhaustive()
    }
}

/// Starts the lookupd client of one nsqd: a controller task that keeps one connection task
/// per address, and the channel pre-creation task. All run on `tasks` until `stop` fires.
pub fn start(
    config: LookupConfig,
    addresses: &[String],
    topology: Arc<dyn NsqdTopology>,
    stop: CancellationToken,
    tasks: &TaskTracker,
) -> LookupHandle {
    let http = reqwest::Client::builder()
        .timeout(config.http_timeout)
        .build()
        .unwrap_or_default();
    let (sender, receiver) = watch::channel(addresses.to_vec());
    let handle = LookupHandle {
        addresses: Arc::new(sender),
        peers: PeerMap::default(),
        http,
    };
    // Reconcile once synchronously so peers() is populated as soon as start returns.
    let controller = Controller {
        config: Arc::new(config),
        topology: Arc::clone(&topology),
        peers: Arc::clone(&handle.peers),
        stop: stop.clone(),
        tasks: tasks.clone(),
    };
    controller.reconcile(addresses);
    tasks.spawn(controller.run(receiver));
    tasks.spawn(precreate_channels(handle.clone(), topology, stop));
    handle
}

impl LookupHandle {
    /// Replaces the configured addresses (`PUT /config/nsqlookupd_tcp_addresses`): peers
    /// no longer listed are closed and forgotten, new ones connected.
    pub fn set_addresses(&self, addresses: Vec<String>) {
        self.addresses.send_replace(addresses);
    }

    /// The configured addresses, as last set.
    pub fn addresses(&self) -> Vec<String> {
        self.addresses.borrow().clone()
    }

    /// The state of every connected-or-connecting lookupd, ordered by address.
    pub fn peers(&self) -> Vec<LookupPeerStatus> {
        self.peers
            .lock()
            .values()
            .map(|handle| handle.status.read().clone())
            .collect()
    }

    /// Go's channel pre-creation query: the union of `/channels?topic=<topic>` over every
    /// lookupd that told us its address, without `#ephemeral` channels. Unreachable
    /// lookupds are logged and skipped.
    pub async fn channels_for_topic(&self, topic: &str) -> Vec<String> {
        let endpoints: Vec<String> = self
            .peers()
            .into_iter()
            .filter_map(|peer| peer.info)
            .filter(|info| !info.broadcast_address.is_empty() && info.http_port > 0)
            .map(|info| format!("{}:{}", info.broadcast_address, info.http_port))
            .collect();
        let mut channels = BTreeSet::new();
        for endpoint in endpoints {
            match self.query_channels(&endpoint, topic).await {
                Ok(found) => channels.extend(found),
                Err(err) => {
                    tracing::warn!(lookupd = %endpoint, topic, %err, "LOOKUPD: /channels failed")
                }
            }
        }
        channels
            .into_iter()
            .filter(|channel| !channel.ends_with("#ephemeral"))
            .collect()
    }

    async fn query_channels(&self, endpoint: &str, topic: &str) -> Result<Vec<String>, String> {
        #[derive(serde::Deserialize)]
        struct Channels {
            #[serde(default)]
            channels: Option<Vec<String>>,
        }
        let url = format!("http://{endpoint}/channels");
        let response = self
            .http
            .get(url)
            .query(&[("topic", topic)])
            .header("Accept", "application/vnd.nsq; version=1.0")
            .send()
            .await
            .map_err(|err| err.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let body: Channels = response.json().await.map_err(|err| err.to_string())?;
        Ok(body.channels.unwrap_or_default())
    }
}

/// Owns the engine reference; keeps one connection task per configured address.
struct Controller {
    config: Arc<LookupConfig>,
    topology: Arc<dyn NsqdTopology>,
    peers: PeerMap,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Controller {
    async fn run(self, mut addresses: watch::Receiver<Vec<String>>) {
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => break,
                changed = addresses.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let wanted = addresses.borrow_and_update().clone();
                    self.reconcile(&wanted);
                }
            }
        }
        for handle in self.peers.lock().values() {
            handle.stop.cancel();
        }
    }

    fn reconcile(&self, addresses: &[String]) {
        let wanted: BTreeSet<&String> = addresses.iter().collect();
        let mut peers = self.peers.lock();
        peers.retain(|address, handle| {
            let keep = wanted.contains(address);
            if !keep {
                tracing::info!(lookupd = %address, "LOOKUP: removing peer");
                handle.stop.cancel();
            }
            keep
        });
        for address in wanted {
            if peers.contains_key(address) {
                continue;
            }
            tracing::info!(lookupd = %address, "LOOKUP: adding peer");
            let peer = LookupPeer::new(
                address.clone(),
                Arc::new(self.config.identity.clone()),
                Arc::clone(&self.topology),
                self.config.max_body_size,
            );
            let stop = self.stop.child_token();
            let handle = PeerHandle {
                stop: stop.clone(),
                status: peer.status(),
            };
            // Subscribe before the first connect so no event falls between the snapshot
            // and the event stream (duplicates are harmless: REGISTER is idempotent).
            let events = self.topology.subscribe();
            self.tasks
                .spawn(run_peer(peer, events, self.config.ping_interval, stop));
            peers.insert(address.clone(), handle);
        }
    }
}

/// For every topic created at runtime, asks the lookupds for its channels and creates
/// them, so messages are kept for channels whose consumers have not connected here yet.
async fn precreate_channels(
    handle: LookupHandle,
    topology: Arc<dyn NsqdTopology>,
    stop: CancellationToken,
) {
    let mut events = topology.subscribe();
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => break,
            event = events.recv() => event,
        };
        match event {
            Ok(NsqdEvent::TopicCreated { topic }) => {
                let channels = tokio::select! {
                    _ = stop.cancelled() => break,
                    channels = handle.channels_for_topic(&topic) => channels,
                };
                if !channels.is_empty() {
                    tracing::info!(topic, ?channels, "LOOKUPD: pre-creating channels");
                    topology.create_channels(&topic, &channels);
                }
            }
            Ok(_) => {}
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "LOOKUPD: pre-creation missed lifecycle events");
            }
            Err(RecvError::Closed) => break,
        }
    }
}

/// The command a lifecycle event sends to every lookupd, if any.
fn command_for(event: &NsqdEvent) -> Option<LookupCommand> {
    match event {
        NsqdEvent::TopicCreated { topic } => Some(LookupCommand::register(topic, None)),
        NsqdEvent::TopicDeleted { topic } => Some(LookupCommand::unregister(topic, None)),
        NsqdEvent::ChannelCreated { topic, channel } => {
            Some(LookupCommand::register(topic, Some(channel)))
        }
        NsqdEvent::ChannelDeleted { topic, channel } => {
            Some(LookupCommand::unregister(topic, Some(channel)))
        }
        _ => None,
    }
}

async fn run_peer(
    mut peer: LookupPeer,
    mut events: broadcast::Receiver<NsqdEvent>,
    ping_interval: Duration,
    stop: CancellationToken,
) {
    let mut ticker = interval_at(Instant::now() + ping_interval, ping_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut pending = Some(None); // connect at start
    loop {
        if let Some(command) = pending.take() {
            // Shutdown must not wait for dial/read timeouts of an unresponsive lookupd.
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = send(&mut peer, command) => {}
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticker.tick() => {
                tracing::debug!(lookupd = %peer.address(), "LOOKUPD: sending heartbeat");
                pending = Some(Some(LookupCommand::Ping));
            }
            event = events.recv() => match event {
                Ok(event) => {
                    pending = command_for(&event).map(|command| {
                        tracing::info!(lookupd = %peer.address(), %command, "LOOKUPD");
                        Some(command)
                    });
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(lookupd = %peer.address(), missed,
                        "LOOKUPD: missed lifecycle events, re-registering everything");
                    peer.close();
                    pending = Some(None);
                }
                Err(RecvError::Closed) => break,
            },
        }
    }
    peer.close();
}

/// Sends a command (or only connects); after a failure on an established connection it
/// tries once to reconnect at once, so a restarted lookupd is re-registered promptly.
async fn send(peer: &mut LookupPeer, command: Option<LookupCommand>) {
    let was_connected = peer.is_connected();
    let label = command
        .as_ref()
        .map_or_else(|| "connect".to_owned(), ToString::to_string);
    if let Err(err) = peer.command(command).await {
        tracing::error!(lookupd = %peer.address(), command = %label, %err, "LOOKUPD");
        if was_connected {
            if let Err(err) = peer.command(None).await {
                tracing::warn!(lookupd = %peer.address(), %err, "LOOKUPD: reconnect failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_events_map_to_go_commands() {
        let topic = || "t".to_owned();
        let channel = || "c".to_owned();
        let cases = [
            (
                NsqdEvent::TopicCreated { topic: topic() },
                Some("REGISTER t"),
            ),
            (
                NsqdEvent::TopicDeleted { topic: topic() },
                Some("UNREGISTER t"),
            ),
            (
                NsqdEvent::ChannelCreated {
                    topic: topic(),
                    channel: channel(),
                },
                Some("REGISTER t c"),
            ),
            (
                NsqdEvent::ChannelDeleted {
                    topic: topic(),
                    channel: channel(),
                },
                Some("UNREGISTER t c"),
            ),
            (NsqdEvent::TopicPaused { topic: topic() }, None),
        ];
        for (event, expected) in cases {
            let command = command_for(&event).map(|c| c.to_string());
            assert_eq!(command.as_deref(), expected, "{event:?}");
        }
    }
}
