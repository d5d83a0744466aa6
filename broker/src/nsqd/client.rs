//! The part of a TCP client connection that other tasks see: readiness counters used by
//! its channel, IDENTIFY details and counters for `/stats`, and its wake/close signals.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::stats::{ClientStats, PubCount};

/// Connection states (values are the `state` shown in `/stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ClientState {
    Init = 0,
    Subscribed = 3,
    Closing = 4,
}

/// Settings negotiated by IDENTIFY (effective values, after defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSettings {
    /// `None` = heartbeats disabled.
    pub heartbeat_interval: Option<Duration>,
    pub msg_timeout: Duration,
    pub sample_rate: i32,
    /// Bytes of buffered message frames after which the connection flushes.
    pub output_buffer_size: i64,
    /// Zero = flush timer disabled.
    pub output_buffer_timeout: Duration,
}

/// IDENTIFY-provided identity and negotiated features (for `/stats`).
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub client_id: String,
    pub hostname: String,
    pub user_agent: String,
    pub sample_rate: i32,
    pub deflate: bool,
    pub snappy: bool,
    pub tls: bool,
    pub topology_region: String,
    pub topology_zone: String,
    pub authed: bool,
    pub auth_identity: String,
    pub auth_identity_url: String,
    pub tls_cipher_suite: String,
    pub tls_version: String,
}

/// Shared state of one client connection.
#[derive(Debug)]
pub struct ClientShared {
    pub id: u64,
    pub remote_addr: SocketAddr,
    /// Unix seconds.
    pub connect_ts: i64,
    pub ready_count: AtomicI64,
    pub in_flight: AtomicI64,
    pub message_count: AtomicU64,
    pub finish_count: AtomicU64,
    pub requeue_count: AtomicU64,
    state: AtomicU8,
    /// Woken when the client may be able to receive (messages queued, slot freed,
    /// channel unpaused or emptied).
    pub wake: Notify,
    /// Cancelled to close the connection (shutdown, channel/topic deletion).
    pub close: CancellationToken,
    pub info: Mutex<ClientInfo>,
    pub pub_counts: Mutex<BTreeMap<String, u64>>,
}

impl ClientShared {
    /// A fresh client in state init; `client_id`/`hostname` default to the remote IP.
    pub fn new(id: u64, remote_addr: SocketAddr, close: CancellationToken) -> Self {
        let ip = remote_addr.ip().to_string();
        ClientShared {
            id,
            remote_addr,
            connect_ts: unix_seconds(),
            ready_count: AtomicI64::new(0),
            in_flight: AtomicI64::new(0),
            message_count: AtomicU64::new(0),
            finish_count: AtomicU64::new(0),
            requeue_count: AtomicU64::new(0),
            state: AtomicU8::new(ClientState::Init as u8),
            wake: Notify::new(),
            close,
            info: Mutex::new(ClientInfo {
                client_id: ip.clone(),
                hostname: ip,
                ..ClientInfo::default()
            }),
            pub_counts: Mutex::new(BTreeMap::new()),
        }
    }

    /// Current state.
    pub fn state(&self) -> ClientState {
        match self.state.load(Ordering::Acquire) {
            3 => ClientState::Subscribed,
            4 => ClientState::Closing,
            _ => ClientState::Init,
        }
    }

    /// Changes the state.
    pub fn set_state(&self, state: ClientState) {
        self.state.store(state as u8, Ordering::Release);
    }

    /// Whether the client can take another message: subscribed and `in_flight < RDY`.
    pub fn is_ready(&self) -> bool {
        self.state() == ClientState::Subscribed
            && self.in_flight.load(Ordering::Acquire) < self.ready_count.load(Ordering::Acquire)
    }

    /// How many more messages fit in the RDY window.
    pub fn window(&self) -> i64 {
        if self.state() != ClientState::Subscribed {
            return 0;
        }
        self.ready_count.load(Ordering::Acquire) - self.in_flight.load(Ordering::Acquire)
    }

    /// Counts a publish of `count` messages to `topic`.
    pub fn count_publish(&self, topic: &str, count: u64) {
        let mut counts = self.pub_counts.lock();
        match counts.get_mut(topic) {
            Some(n) => *n += count,
            None => {
                counts.insert(topic.to_owned(), count);
            }
        }
    }

    /// Whether this client ever published.
    pub fn has_published(&self) -> bool {
        !self.pub_counts.lock().is_empty()
    }

    /// The `/stats` view of this client.
    pub fn stats(&self) -> ClientStats {
        let info = self.info.lock().clone();
        let pub_counts = self
            .pub_counts
            .lock()
            .iter()
            .map(|(topic, count)| PubCount {
                topic: topic.clone(),
                count: *count,
            })
            .collect();
        ClientStats {
            client_id: info.client_id,
            hostname: info.hostname,
            version: "V2".into(),
            remote_address: self.remote_addr.to_string(),
            state: self.state() as u8 as i64,
            ready_count: self.ready_count.load(Ordering::Relaxed),
            in_flight_count: self.in_flight.load(Ordering::Relaxed),
            message_count: self.message_count.load(Ordering::Relaxed),
            finish_count: self.finish_count.load(Ordering::Relaxed),
            requeue_count: self.requeue_count.load(Ordering::Relaxed),
            connect_ts: self.connect_ts,
            sample_rate: info.sample_rate,
            deflate: info.deflate,
            snappy: info.snappy,
            user_agent: info.user_agent,
            authed: info.authed,
            auth_identity: info.auth_identity,
            auth_identity_url: info.auth_identity_url,
            topology_zone: info.topology_zone,
            topology_region: info.topology_region,
            pub_counts,
            tls: info.tls,
            tls_cipher_suite: info.tls_cipher_suite,
            tls_version: info.tls_version,
            tls_negotiated_protocol: String::new(),
            tls_negotiated_protocol_is_mutual: false,
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
