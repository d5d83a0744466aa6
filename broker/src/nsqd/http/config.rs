//! `GET /config/:opt` and `PUT /config/:opt`. Names are Go's config names (flag name with `_`,
//! plus `nsqlookupd_tcp_addresses`, `auth_http_addresses`,
//! `e2e_processing_latency_percentiles`, `enable_experiment`, `id`). Values are encoded as Go
//! does: strings raw, durations as nanoseconds, lists as JSON arrays, `log_level` as a number.
//!
//! PUT validates exactly as nsqd does. `nsqlookupd_tcp_addresses` takes effect at once (peers
//! no longer listed are dropped, new ones connected). `log_level` changes the process's log
//! level when the program installed a setter ([`super::install_log_level_setter`], the `nsqd`
//! binary does); without one a valid PUT answers 400 `INVALID_OPTION`.

use axum::body::Body;
use axum::extract::{Path, State};
use bytes::Bytes;
use serde_json::{json, Value};

use super::body::read_limited;
use super::log_level;
use crate::http_api::{ApiError, ApiResult, Reply};
use crate::nsqd::cli::parse_log_level;
use crate::nsqd::context::NsqdContext;
use crate::nsqd::{NsqdOptions, TlsRequired};

/// `GET /config/:opt`.
pub async fn get_option(State(ctx): State<NsqdContext>, Path(opt): Path<String>) -> ApiResult {
    current_value(&ctx, &opt)
}

/// The reply for the current value of `opt` (also the reply to a successful PUT).
fn current_value(ctx: &NsqdContext, opt: &str) -> ApiResult {
    if opt == "log_level" {
        if let Some(level) = log_level::current() {
            return Reply::json(&(level as i32));
        }
    }
    if opt == "nsqlookupd_tcp_addresses" {
        if let Some(lookup) = ctx.lookup() {
            return Reply::json(&lookup.addresses());
        }
    }
    match option_value(ctx.options(), opt) {
        Some(Value::String(text)) => Ok(Reply::Text(Bytes::from(text))),
        Some(value) => Reply::json(&value),
        None => Err(ApiError::bad_request("INVALID_OPTION")),
    }
}

/// `PUT /config/:opt`: body is the new value.
pub async fn put_option(
    State(ctx): State<NsqdContext>,
    Path(opt): Path<String>,
    body: Body,
) -> ApiResult {
    let read_max = usize::try_from(ctx.options().max_msg_size).unwrap_or(0) + 1;
    let body = read_limited(body, read_max).await?;
    if body.is_empty() || body.len() == read_max {
        return Err(ApiError::too_large("INVALID_VALUE"));
    }
    let invalid_value = ApiError::bad_request("INVALID_VALUE");
    match opt.as_str() {
        "nsqlookupd_tcp_addresses" => {
            let addresses: Vec<String> =
                serde_json::from_slice(&body).map_err(|_| invalid_value)?;
            if let Some(lookup) = ctx.lookup() {
                tracing::info!(?addresses, "nsqlookupd addresses changed over HTTP");
                lookup.set_addresses(addresses);
                return current_value(&ctx, &opt);
            }
        }
        "log_level" => {
            let text = String::from_utf8_lossy(&body).to_ascii_lowercase();
            if !matches!(text.as_str(), "debug" | "info" | "warn" | "error" | "fatal") {
                return Err(invalid_value);
            }
            let level = parse_log_level(&text).map_err(|_| invalid_value)?;
            if log_level::apply(level) {
                tracing::info!(level = level.as_str(), "log level changed over HTTP");
                return current_value(&ctx, &opt);
            }
        }
        _ => return Err(ApiError::bad_request("INVALID_OPTION")),
    }
    tracing::warn!(option = %opt, "runtime change of this option is not supported yet");
    Err(ApiError::bad_request("INVALID_OPTION"))
}

/// The value of the option with Go config name `name`, encoded as Go nsqd encodes it.
pub fn option_value(o: &NsqdOptions, name: &str) -> Option<Value> {
    let ns = |d: std::time::Duration| json!(d.as_nanos() as u64);
    let path = |p: &Option<std::path::PathBuf>| {
        json!(p
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default())
    };
    Some(match name {
        "id" => json!(o.node_id),
        "log_level" => json!(parse_log_level(&o.log_level).map_or(2, |l| l as i32)),
        "log_prefix" => json!(o.log_prefix),
        "tcp_address" => json!(o.tcp_address.to_string()),
        "http_address" => json!(o.http_address.to_string()),
        "https_address" => json!(o.https_address.to_string()),
        "broadcast_address" => json!(o.broadcast_address),
        "broadcast_tcp_port" => json!(o.broadcast_tcp_port),
        "broadcast_http_port" => json!(o.broadcast_http_port),
        "nsqlookupd_tcp_addresses" => json!(o.lookupd_tcp_address),
        "auth_http_addresses" => json!(o.auth_http_address),
        "auth_http_request_method" => json!(o.auth_http_request_method),
        "http_client_connect_timeout" => ns(o.http_client_connect_timeout),
        "http_client_request_timeout" => ns(o.http_client_request_timeout),
        "data_path" => json!(o.data_path.display().to_string()),
        "mem_queue_size" => json!(o.mem_queue_size),
        "max_bytes_per_file" => json!(o.max_bytes_per_file),
        "sync_every" => json!(o.sync_every),
        "sync_timeout" => ns(o.sync_timeout),
        "queue_scan_selection_count" => json!(o.queue_scan_selection_count),
        "queue_scan_worker_pool_max" => json!(o.queue_scan_worker_pool_max),
        "msg_timeout" => ns(o.msg_timeout),
        "max_msg_timeout" => ns(o.max_msg_timeout),
        "max_msg_size" => json!(o.max_msg_size),
        "max_body_size" => json!(o.max_body_size),
        "max_req_timeout" => ns(o.max_req_timeout),
        "max_heartbeat_interval" => ns(o.max_heartbeat_interval),
        "max_rdy_count" => json!(o.max_rdy_count),
        "max_output_buffer_size" => json!(o.max_output_buffer_size),
        "max_output_buffer_timeout" => ns(o.max_output_buffer_timeout),
        "min_output_buffer_timeout" => ns(o.min_output_buffer_timeout),
        "output_buffer_timeout" => ns(o.output_buffer_timeout),
        "max_channel_consumers" => json!(o.max_channel_consumers),
        "statsd_address" => json!(o.statsd_address.clone().unwrap_or_default()),
        "statsd_prefix" => json!(o.statsd_prefix),
        "statsd_interval" => ns(o.statsd_interval),
        "statsd_mem_stats" => json!(o.statsd_mem_stats),
        "statsd_udp_packet_size" => json!(o.statsd_udp_packet_size),
        "statsd_exclude_ephemeral" => json!(o.statsd_exclude_ephemeral),
        "e2e_processing_latency_window_time" => ns(o.e2e_processing_latency_window_time),
        "e2e_processing_latency_percentiles" => json!(o.e2e_processing_latency_percentile),
        "tls_cert" => path(&o.tls_cert),
        "tls_key" => path(&o.tls_key),
        "tls_client_auth_policy" => json!(o.tls_client_auth_policy),
        "tls_root_ca_file" => path(&o.tls_root_ca_file),
        "tls_required" => json!(match o.tls_required {
            TlsRequired::No => 0,
            TlsRequired::TcpHttps => 1,
            TlsRequired::Yes => 2,
        }),
        "tls_min_version" => json!(tls_version_number(&o.tls_min_version)),
        "deflate" => json!(o.deflate),
        "max_deflate_level" => json!(o.max_deflate_level),
        "snappy" => json!(o.snappy),
        "topology_region" => json!(o.topology_region),
        "topology_zone" => json!(o.topology_zone),
        "enable_experiment" => json!(o.enable_experiment),
        _ => return None,
    })
}

/// Go's `crypto/tls` version constants.
fn tls_version_number(name: &str) -> u16 {
    match name {
        "ssl3.0" => 0x0300,
        "tls1.1" => 0x0302,
        "tls1.2" => 0x0303,
        "tls1.3" => 0x0304,
        _ => 0x0301,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_encode_like_go() {
        let o = NsqdOptions::default();
        assert_eq!(
            option_value(&o, "msg_timeout"),
            Some(json!(60_000_000_000u64))
        );
        assert_eq!(
            option_value(&o, "nsqlookupd_tcp_addresses"),
            Some(json!([]))
        );
        assert_eq!(option_value(&o, "log_level"), Some(json!(2)));
        assert_eq!(option_value(&o, "tls_min_version"), Some(json!(769)));
        assert_eq!(option_value(&o, "mem_queue_size"), Some(json!(10000)));
        assert_eq!(option_value(&o, "statsd_prefix"), Some(json!("nsq.%s")));
        assert_eq!(
            option_value(&o, "node_id"),
            None,
            "Go's config name is `id`"
        );
        assert_eq!(option_value(&o, "nope"), None);
    }
}
