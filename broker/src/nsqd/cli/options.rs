//! From parsed flags to [`NsqdOptions`], with Go nsqd's start-up validation, and the list of
//! flags whose feature is not built yet (accepted, but the binary warns when they are set).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use super::{CliError, NsqdArgs};
use crate::nsqd::{default_node_id, host_name, NsqdOptions};

/// Flags accepted for compatibility whose feature is not implemented yet, with the feature's
/// name. Whoever implements a feature removes its rows here.
const INACTIVE_FLAGS: &[(&str, &str)] = &[
    ("statsd_address", "statsd reporting"),
    ("statsd_prefix", "statsd reporting"),
    ("statsd_interval", "statsd reporting"),
    ("statsd_mem_stats", "statsd reporting"),
    ("statsd_udp_packet_size", "statsd reporting"),
    ("statsd_exclude_ephemeral", "statsd reporting"),
    (
        "e2e_processing_latency_percentile",
        "end-to-end latency percentiles",
    ),
    (
        "e2e_processing_latency_window_time",
        "end-to-end latency percentiles",
    ),
    ("topology_region", "topology-aware consumption"),
    ("topology_zone", "topology-aware consumption"),
    ("enable_experiment", "experiments"),
    ("verbose", "[deprecated] --verbose (use --log-level)"),
    ("worker_id", "[deprecated] --worker-id (use --node-id)"),
];

/// One warning per explicitly given flag whose feature is not active yet.
pub fn inactive_feature_warnings(args: &NsqdArgs) -> Vec<String> {
    INACTIVE_FLAGS
        .iter()
        .filter(|(id, _)| args.is_explicit(id))
        .map(|(id, feature)| {
            format!(
                "--{} is accepted but has no effect: {feature} is not active yet",
                id.replace('_', "-")
            )
        })
        .collect()
}

impl NsqdArgs {
    /// The options these flags describe, validated as Go nsqd validates at start-up.
    pub fn to_options(&self) -> Result<NsqdOptions, CliError> {
        let hostname = host_name();
        let node_id = self.node_id.unwrap_or_else(|| default_node_id(&hostname));
        if !(0..1024).contains(&node_id) {
            return Err(invalid(format!(
                "--node-id must be [0,1024), got {node_id}"
            )));
        }
        if !(1..=9).contains(&self.max_deflate_level) {
            return Err(invalid("--max-deflate-level must be [1,9]".to_string()));
        }
        for (flag, value) in [
            ("mem-queue-size", self.mem_queue_size),
            ("max-msg-size", self.max_msg_size),
            ("max-body-size", self.max_body_size),
            ("max-rdy-count", self.max_rdy_count),
        ] {
            if value < 0 {
                return Err(invalid(format!(
                    "--{flag} must not be negative, got {value}"
                )));
            }
        }
        let path_opt = |s: &str| (!s.is_empty()).then(|| PathBuf::from(s));
        Ok(NsqdOptions {
            node_id,
            log_level: self.log_level.as_str().to_string(),
            log_prefix: self.log_prefix.clone(),
            tcp_address: resolve_listen_address("tcp-address", &self.tcp_address)?,
            http_address: resolve_listen_address("http-address", &self.http_address)?,
            https_address: resolve_listen_address("https-address", &self.https_address)?,
            broadcast_address: self.broadcast_address.clone().unwrap_or(hostname),
            broadcast_tcp_port: self.broadcast_tcp_port,
            broadcast_http_port: self.broadcast_http_port,
            lookupd_tcp_address: self.lookupd_tcp_address.clone(),
            auth_http_address: self.auth_http_address.clone(),
            auth_http_request_method: self.auth_http_request_method.clone(),
            http_client_connect_timeout: self.http_client_connect_timeout,
            http_client_request_timeout: self.http_client_request_timeout,
            // Go's default is the working directory (an empty path would mean memory only).
            data_path: match &self.data_path {
                Some(path) => path.clone(),
                None => std::env::current_dir().map_err(|e| {
                    invalid(format!(
                        "--data-path not given and no working directory: {e}"
                    ))
                })?,
            },
            mem_queue_size: self.mem_queue_size,
            max_bytes_per_file: self.max_bytes_per_file,
            sync_every: self.sync_every,
            sync_timeout: self.sync_timeout,
            sync_ack: self.sync_ack,
            queue_scan_selection_count: self.queue_scan_selection_count,
            queue_scan_worker_pool_max: self.queue_scan_worker_pool_max,
            msg_timeout: self.msg_timeout,
            max_msg_timeout: self.max_msg_timeout,
            max_msg_size: self.max_msg_size,
            max_body_size: self.max_body_size,
            max_req_timeout: self.max_req_timeout,
            max_heartbeat_interval: self.max_heartbeat_interval,
            max_rdy_count: self.max_rdy_count,
            max_output_buffer_size: self.max_output_buffer_size,
            max_output_buffer_timeout: self.max_output_buffer_timeout,
            min_output_buffer_timeout: self.min_output_buffer_timeout,
            output_buffer_timeout: self.output_buffer_timeout,
            max_channel_consumers: self.max_channel_consumers,
            statsd_address: (!self.statsd_address.is_empty()).then(|| self.statsd_address.clone()),
            statsd_prefix: self.statsd_prefix.clone(),
            statsd_interval: self.statsd_interval,
            statsd_mem_stats: self.statsd_mem_stats,
            statsd_udp_packet_size: self.statsd_udp_packet_size,
            statsd_exclude_ephemeral: self.statsd_exclude_ephemeral,
            e2e_processing_latency_window_time: self.e2e_processing_latency_window_time,
            e2e_processing_latency_percentile: self.e2e_processing_latency_percentile.clone(),
            tls_cert: path_opt(&self.tls_cert),
            tls_key: path_opt(&self.tls_key),
            tls_client_auth_policy: self.tls_client_auth_policy.clone(),
            tls_root_ca_file: path_opt(&self.tls_root_ca_file),
            tls_required: self.tls_required,
            tls_min_version: self.tls_min_version.clone(),
            deflate: self.deflate,
            max_deflate_level: self.max_deflate_level,
            snappy: self.snappy,
            topology_region: self.topology_region.clone(),
            topology_zone: self.topology_zone.clone(),
            enable_experiment: self.enable_experiment.clone(),
            max_connections: self.max_connections,
            ..NsqdOptions::default()
        })
    }
}

fn invalid(message: String) -> CliError {
    CliError::Invalid(message)
}

/// Resolves a Go-style listen address: `ip:port`, `host:port`, or `:port` (all interfaces).
fn resolve_listen_address(flag: &str, value: &str) -> Result<SocketAddr, CliError> {
    let spelled = if value.starts_with(':') {
        format!("0.0.0.0{value}")
    } else {
        value.to_string()
    };
    if let Ok(addr) = spelled.parse::<SocketAddr>() {
        return Ok(addr);
    }
    spelled
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            invalid(format!(
                "--{flag}: cannot resolve {value:?} (expected <addr>:<port>)"
            ))
        })
}
