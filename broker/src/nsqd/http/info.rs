//! `GET /ping` (health, plain text), `GET /info` (version and limits) and `GET /stats`
//! (text or JSON, with topic/channel filters and `include_clients`/`include_mem`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde::Serialize;

use super::stats::{render_text, MemStats, StatsDocument};
use crate::http_api::{parse_bool_param, plain_text, ApiResult, Params, Reply};
use crate::nsqd::context::NsqdContext;
use crate::nsqd::host_name;
use crate::nsqd::stats::StatsFilter;

/// `GET /ping`: 200 `OK`, or 500 `NOK - <error>` while unhealthy. Plain text, no V1 header.
pub async fn ping(State(ctx): State<NsqdContext>) -> Response {
    match ctx.health_error() {
        None => plain_text(StatusCode::OK, "OK"),
        Some(err) => plain_text(StatusCode::INTERNAL_SERVER_ERROR, format!("NOK - {err}")),
    }
}

/// The `/info` document, keys in Go's order; durations are raw nanoseconds like Go's.
#[derive(Serialize)]
struct InfoDocument {
    version: &'static str,
    broadcast_address: String,
    hostname: String,
    http_port: u16,
    tcp_port: u16,
    start_time: i64,
    max_heartbeat_interval: u128,
    max_output_buffer_size: i64,
    max_output_buffer_timeout: u128,
    max_deflate_level: i64,
    topology_zone: String,
    topology_region: String,
}

/// `GET /info`.
pub async fn info(State(ctx): State<NsqdContext>) -> ApiResult {
    let opts = ctx.options();
    Reply::json(&InfoDocument {
        version: ctx.version(),
        broadcast_address: opts.broadcast_address.clone(),
        hostname: host_name(),
        http_port: ctx.http_addr().port(),
        tcp_port: ctx.tcp_addr().port(),
        start_time: ctx.start_time(),
        max_heartbeat_interval: opts.max_heartbeat_interval.as_nanos(),
        max_output_buffer_size: opts.max_output_buffer_size,
        max_output_buffer_timeout: opts.max_output_buffer_timeout.as_nanos(),
        max_deflate_level: opts.max_deflate_level,
        topology_zone: opts.topology_zone.clone(),
        topology_region: opts.topology_region.clone(),
    })
}

/// `GET /stats[?format=json][&topic=][&channel=][&include_clients=][&include_mem=]`.
pub async fn stats(State(ctx): State<NsqdContext>, RawQuery(q): RawQuery) -> ApiResult {
    let params = Params::parse(q.as_deref())?;
    let non_empty = |name: &str| params.get(name).filter(|v| !v.is_empty()).map(String::from);
    // absent or unrecognised values mean true, as in Go
    let flag = |name: &str| params.get(name).and_then(parse_bool_param).unwrap_or(true);
    let filter = StatsFilter {
        topic: non_empty("topic"),
        channel: non_empty("channel"),
        include_clients: flag("include_clients"),
    };
    // Go returns no topic list at all (JSON null) when the named topic does not exist.
    let topics = match &filter.topic {
        Some(name) if ctx.topic(name).is_none() => None,
        _ => Some(ctx.stats(&filter)),
    };
    let producers = Some(ctx.producers()).filter(|p| filter.include_clients && !p.is_empty());
    let doc = StatsDocument {
        version: ctx.version().to_string(),
        health: ctx.health(),
        start_time: ctx.start_time(),
        topics,
        memory: flag("include_mem").then(MemStats::current),
        producers,
    };
    if params.get("format") == Some("json") {
        return Reply::json(&doc);
    }
    let start = UNIX_EPOCH + Duration::from_secs(u64::try_from(doc.start_time).unwrap_or(0));
    let text = render_text(&doc, start, SystemTime::now());
    Ok(Reply::Text(Bytes::from(text)))
}
