//! What nsqlookupd knows about one registered nsqd: the IDENTIFY fields plus the time of
//! its last IDENTIFY/PING, shared by every registration of that connection.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// What an nsqd said about itself in IDENTIFY, plus when it was last heard from.
///
/// Serializes to the producer object of `/lookup` (Go's field names and order).
#[derive(Debug, Serialize)]
pub struct PeerInfo {
    /// Producer id: the remote address of the registering connection.
    #[serde(skip)]
    pub id: String,
    /// The remote address of the registering connection (`ip:port`).
    pub remote_address: String,
    /// The nsqd's OS hostname.
    pub hostname: String,
    /// The address clients should connect to.
    pub broadcast_address: String,
    /// The nsqd's TCP port.
    pub tcp_port: i64,
    /// The nsqd's HTTP port.
    pub http_port: i64,
    /// The nsqd's version string.
    pub version: String,
    /// Optional topology zone.
    pub topology_zone: String,
    /// Optional topology region.
    pub topology_region: String,
    #[serde(skip)]
    last_update: AtomicI64,
}

/// The fields of a [`PeerInfo`] that come from IDENTIFY's JSON body.
#[derive(Debug, Clone, Default)]
pub struct PeerFields {
    /// OS hostname of the nsqd.
    pub hostname: String,
    /// Address clients should connect to.
    pub broadcast_address: String,
    /// TCP port.
    pub tcp_port: i64,
    /// HTTP port.
    pub http_port: i64,
    /// Version string.
    pub version: String,
    /// Topology zone.
    pub topology_zone: String,
    /// Topology region.
    pub topology_region: String,
}

impl PeerInfo {
    /// A peer identified just now on the connection from `remote_address`.
    pub fn new(remote_address: String, fields: PeerFields) -> Self {
        Self {
            id: remote_address.clone(),
            remote_address,
            hostname: fields.hostname,
            broadcast_address: fields.broadcast_address,
            tcp_port: fields.tcp_port,
            http_port: fields.http_port,
            version: fields.version,
            topology_zone: fields.topology_zone,
            topology_region: fields.topology_region,
            last_update: AtomicI64::new(unix_nanos(SystemTime::now())),
        }
    }

    /// Records that the peer was heard from now (PING).
    pub fn touch(&self) {
        self.last_update
            .store(unix_nanos(SystemTime::now()), Ordering::Relaxed);
    }

    /// When the peer was last heard from, in nanoseconds since the Unix epoch.
    pub fn last_update_nanos(&self) -> i64 {
        self.last_update.load(Ordering::Relaxed)
    }

    pub(crate) fn is_active(&self, now_nanos: i64, inactive_timeout: Duration) -> bool {
        let silent_for = now_nanos.saturating_sub(self.last_update_nanos());
        silent_for <= duration_nanos(inactive_timeout)
    }
}

pub(crate) fn unix_nanos(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

pub(crate) fn duration_nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}
