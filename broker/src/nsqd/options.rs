//! [`NsqdOptions`]: every Go nsqd option, with Go's names (flag names in snake_case) and
//! Go's defaults. The `nsqd` binary fills it from flags and `--config`; embedders build it
//! directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The version nsqd reports (IDENTIFY, `/info`, `/stats`, `nsqd.dat`).
pub const VERSION: &str = "1.3.0";

/// Default per-client output buffer size in bytes (fixed in nsqd, not a flag).
pub const DEFAULT_OUTPUT_BUFFER_SIZE: i64 = 16 * 1024;

/// Default of `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// `--tls-required`: whether clients must upgrade to TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsRequired {
    /// `false`: TLS optional.
    #[default]
    No,
    /// `true`: required on TCP and HTTP.
    Yes,
    /// `tcp-https`: required on TCP; HTTP only over the HTTPS listener.
    TcpHttps,
}

/// Configuration of an [`crate::nsqd::Nsqd`]. `Default` gives Go nsqd's defaults.
///
/// ```
/// use broker::nsqd::NsqdOptions;
/// use std::time::Duration;
///
/// let opts = NsqdOptions {
///     tcp_address: "127.0.0.1:0".parse().unwrap(),
///     http_address: "127.0.0.1:0".parse().unwrap(),
///     msg_timeout: Duration::from_secs(5),
///     ..NsqdOptions::default()
/// };
/// assert_eq!(opts.mem_queue_size, 10000);
/// assert_eq!(opts.max_rdy_count, 2500);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NsqdOptions {
    // --- basic ---
    /// `--node-id`: 0..=1023, part of every message id. Default: hash of the host name.
    pub node_id: i64,
    /// `--log-level`: debug, info, warn, error, fatal.
    pub log_level: String,
    /// `--log-prefix`.
    pub log_prefix: String,
    /// `--tcp-address`.
    pub tcp_address: SocketAddr,
    /// `--http-address`.
    pub http_address: SocketAddr,
    /// `--https-address`: opened when `tls_cert` and `tls_key` are set.
    pub https_address: SocketAddr,
    /// `--broadcast-address`: the address registered with lookupd. Default: host name.
    pub broadcast_address: String,
    /// `--broadcast-tcp-port`: 0 = the bound TCP port.
    pub broadcast_tcp_port: u16,
    /// `--broadcast-http-port`: 0 = the bound HTTP port.
    pub broadcast_http_port: u16,
    /// `--lookupd-tcp-address` (repeatable; config key `nsqlookupd_tcp_addresses`).
    pub lookupd_tcp_address: Vec<String>,
    /// Interval of the PING nsqd sends to each lookupd, which is also how often a lost
    /// lookupd connection is retried. Not a Go flag (Go hard-codes 15 s); embedders and
    /// tests may shorten it.
    pub lookupd_ping_interval: Duration,
    /// `--auth-http-address` (repeatable; config key `auth_http_addresses`). AUTH is
    /// enabled iff non-empty.
    pub auth_http_address: Vec<String>,
    /// `--auth-http-request-method`: `get` or `post`.
    pub auth_http_request_method: String,
    /// `--http-client-connect-timeout`.
    pub http_client_connect_timeout: Duration,
    /// `--http-client-request-timeout`.
    pub http_client_request_timeout: Duration,

    // --- disk queue ---
    /// `--data-path`: directory for `nsqd.dat` and disk queues. Default: working directory.
    pub data_path: PathBuf,
    /// `--mem-queue-size`: messages kept in memory per topic/channel.
    pub mem_queue_size: i64,
    /// `--max-bytes-per-file`.
    pub max_bytes_per_file: i64,
    /// `--sync-every`.
    pub sync_every: i64,
    /// `--sync-timeout`.
    pub sync_timeout: Duration,
    /// `--sync-ack` (ours, not in Go nsqd): PUB/MPUB/DPUB answer OK only once the message
    /// is fsync'ed to disk (group commit). Off by default.
    pub sync_ack: bool,
    /// `--queue-scan-interval` (nsqd's in-flight/deferred scanner period; we use exact
    /// timers, but keep the option).
    pub queue_scan_interval: Duration,
    /// `--queue-scan-refresh-interval`.
    pub queue_scan_refresh_interval: Duration,
    /// `--queue-scan-selection-count`.
    pub queue_scan_selection_count: i64,
    /// `--queue-scan-worker-pool-max`.
    pub queue_scan_worker_pool_max: i64,
    /// `--queue-scan-dirty-percent`.
    pub queue_scan_dirty_percent: f64,

    // --- messages and commands ---
    /// `--msg-timeout`: default in-flight timeout.
    pub msg_timeout: Duration,
    /// `--max-msg-timeout`: max client `msg_timeout` and TOUCH cap.
    pub max_msg_timeout: Duration,
    /// `--max-msg-size`: max body of one message.
    pub max_msg_size: i64,
    /// `--max-body-size`: max body of MPUB, IDENTIFY, AUTH.
    pub max_body_size: i64,
    /// `--max-req-timeout`: REQ clamp and DPUB max.
    pub max_req_timeout: Duration,
    /// ClientTimeout (no flag in Go): default heartbeat interval is half of it.
    pub client_timeout: Duration,

    // --- client-overridable limits ---
    /// `--max-heartbeat-interval`.
    pub max_heartbeat_interval: Duration,
    /// `--max-rdy-count`.
    pub max_rdy_count: i64,
    /// `--max-output-buffer-size`.
    pub max_output_buffer_size: i64,
    /// `--max-output-buffer-timeout`.
    pub max_output_buffer_timeout: Duration,
    /// `--min-output-buffer-timeout`.
    pub min_output_buffer_timeout: Duration,
    /// `--output-buffer-timeout`: default flush timeout.
    pub output_buffer_timeout: Duration,
    /// `--max-channel-consumers`: 0 = unlimited.
    pub max_channel_consumers: i64,

    // --- statsd ---
    /// `--statsd-address`.
    pub statsd_address: Option<String>,
    /// `--statsd-prefix`.
    pub statsd_prefix: String,
    /// `--statsd-interval`.
    pub statsd_interval: Duration,
    /// `--statsd-mem-stats`.
    pub statsd_mem_stats: bool,
    /// `--statsd-udp-packet-size`.
    pub statsd_udp_packet_size: i64,
    /// `--statsd-exclude-ephemeral`.
    pub statsd_exclude_ephemeral: bool,

    // --- e2e latency ---
    /// `--e2e-processing-latency-window-time`.
    pub e2e_processing_latency_window_time: Duration,
    /// `--e2e-processing-latency-percentile` (repeatable; config key
    /// `e2e_processing_latency_percentiles`).
    pub e2e_processing_latency_percentile: Vec<f64>,

    // --- TLS ---
    /// `--tls-cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    pub tls_key: Option<PathBuf>,
    /// `--tls-client-auth-policy`: `""`, `require`, `require-verify`.
    pub tls_client_auth_policy: String,
    /// `--tls-root-ca-file`.
    pub tls_root_ca_file: Option<PathBuf>,
    /// `--tls-required`.
    pub tls_required: TlsRequired,
    /// `--tls-min-version`: `ssl3.0`, `tls1.0`, `tls1.1`, `tls1.2`, `tls1.3`.
    pub tls_min_version: String,

    // --- compression ---
    /// `--deflate`.
    pub deflate: bool,
    /// `--max-deflate-level`: 1..=9.
    pub max_deflate_level: i64,
    /// `--snappy`.
    pub snappy: bool,

    // --- topology ---
    /// `--topology-region`.
    pub topology_region: String,
    /// `--topology-zone`.
    pub topology_zone: String,
    /// `--enable-experiment` (repeatable).
    pub enable_experiment: Vec<String>,

    // --- security (ours, not in Go nsqd) ---
    /// `--max-connections`: open TCP client connections beyond this are closed right after
    /// accept (logged). 0 = unlimited. Default 10000.
    pub max_connections: usize,
}

impl Default for NsqdOptions {
    fn default() -> Self {
        let hostname = host_name();
        NsqdOptions {
            node_id: default_node_id(&hostname),
            log_level: "info".into(),
            log_prefix: "[nsqd] ".into(),
            tcp_address: SocketAddr::from(([0, 0, 0, 0], 4150)),
            http_address: SocketAddr::from(([0, 0, 0, 0], 4151)),
            https_address: SocketAddr::from(([0, 0, 0, 0], 4152)),
            broadcast_address: hostname,
            broadcast_tcp_port: 0,
            broadcast_http_port: 0,
            lookupd_tcp_address: Vec::new(),
            lookupd_ping_interval: Duration::from_secs(15),
            auth_http_address: Vec::new(),
            auth_http_request_method: "get".into(),
            http_client_connect_timeout: Duration::from_secs(2),
            http_client_request_timeout: Duration::from_secs(5),

            data_path: PathBuf::new(),
            mem_queue_size: 10_000,
            max_bytes_per_file: 100 * 1024 * 1024,
            sync_every: 2500,
            sync_timeout: Duration::from_secs(2),
            sync_ack: false,
            queue_scan_interval: Duration::from_millis(100),
            queue_scan_refresh_interval: Duration::from_secs(5),
            queue_scan_selection_count: 20,
            queue_scan_worker_pool_max: 4,
            queue_scan_dirty_percent: 0.25,

            msg_timeout: Duration::from_secs(60),
            max_msg_timeout: Duration::from_secs(15 * 60),
            max_msg_size: 1024 * 1024,
            max_body_size: 5 * 1024 * 1024,
            max_req_timeout: Duration::from_secs(60 * 60),
            client_timeout: Duration::from_secs(60),

            max_heartbeat_interval: Duration::from_secs(60),
            max_rdy_count: 2500,
            max_output_buffer_size: 64 * 1024,
            max_output_buffer_timeout: Duration::from_secs(30),
            min_output_buffer_timeout: Duration::from_millis(25),
            output_buffer_timeout: Duration::from_millis(250),
            max_channel_consumers: 0,

            statsd_address: None,
            statsd_prefix: "nsq.%s".into(),
            statsd_interval: Duration::from_secs(60),
            statsd_mem_stats: true,
            statsd_udp_packet_size: 508,
            statsd_exclude_ephemeral: false,

            e2e_processing_latency_window_time: Duration::from_secs(10 * 60),
            e2e_processing_latency_percentile: Vec::new(),

            tls_cert: None,
            tls_key: None,
            tls_client_auth_policy: String::new(),
            tls_root_ca_file: None,
            tls_required: TlsRequired::No,
            tls_min_version: "tls1.0".into(),

            deflate: true,
            max_deflate_level: 6,
            snappy: true,

            topology_region: String::new(),
            topology_zone: String::new(),
            enable_experiment: Vec::new(),

            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl NsqdOptions {
    /// Default heartbeat interval: `client_timeout / 2` (30 s).
    pub fn default_heartbeat_interval(&self) -> Duration {
        self.client_timeout / 2
    }

    /// Whether AUTH is enabled (at least one `--auth-http-address`).
    pub fn auth_enabled(&self) -> bool {
        !self.auth_http_address.is_empty()
    }

    /// Whether the server can offer TLS (certificate and key configured).
    pub fn tls_configured(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }
}

/// The machine's host name, or `localhost` when it cannot be determined.
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".into())
}

/// A stable node id in 0..1024 derived from the host name (FNV-1a; Go uses
/// crc32(md5(hostname)) — the exact value does not matter, only its stability and range).
pub fn default_node_id(hostname: &str) -> i64 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in hostname.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    i64::from(hash % 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_go() {
        let o = NsqdOptions::default();
        assert_eq!(o.tcp_address.port(), 4150);
        assert_eq!(o.http_address.port(), 4151);
        assert_eq!(o.max_msg_size, 1_048_576);
        assert_eq!(o.max_body_size, 5_242_880);
        assert_eq!(o.max_req_timeout, Duration::from_secs(3600));
        assert_eq!(o.default_heartbeat_interval(), Duration::from_secs(30));
        assert_eq!(o.max_output_buffer_timeout, Duration::from_secs(30));
        assert!((0..1024).contains(&o.node_id));
        assert!(!o.auth_enabled());
        assert!(!o.tls_configured());
    }
}
