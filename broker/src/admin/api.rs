//! nsqadmin's JSON API (Go nsqadmin's `/api/...` paths and bodies), plus `/api/cluster`,
//! our one-request overview for the main page, and `/config/:opt`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::routing::get;
use axum::Router;
use nsq_wire::names::{is_valid_channel_name, is_valid_topic_name};
use serde::{Deserialize, Serialize};

use super::http::{cidr_contains, warning, ActionTarget, AdminState, RequestInfo};
use super::model::{sum_topics, ChannelStats, Producer, TopicStats};
use crate::http_api::{ApiError, ApiResult, Reply};

type Shared = State<Arc<AdminState>>;

pub(crate) fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route("/api/cluster", get(cluster))
        .route("/api/topics", get(topics).post(create_topic_channel))
        .route(
            "/api/topics/:topic",
            get(topic).post(topic_action).delete(delete_topic),
        )
        .route(
            "/api/topics/:topic/:channel",
            get(channel).post(channel_action).delete(delete_channel),
        )
        .route("/api/nodes", get(nodes))
        .route(
            "/api/nodes/:node",
            get(node).delete(tombstone_node_for_topic),
        )
        .route("/api/counter", get(counter))
        .route("/config/:opt", get(get_config).put(put_config))
}

/// Every reply carries `message`: empty, or the partial-failure warning.
#[derive(Serialize)]
struct Message {
    message: String,
}

/// `GET /api/cluster`: every topic summed over nodes (with channels and per-node
/// breakdown), the nodes, and the upstream addresses; one call renders the main page.
async fn cluster(State(state): Shared) -> ApiResult {
    #[derive(Serialize)]
    struct Cluster {
        topics: Vec<TopicStats>,
        nodes: Vec<Producer>,
        lookupd_http_addresses: Vec<String>,
        nsqd_http_addresses: Vec<String>,
        message: String,
    }
    let sources = state.sources();
    let topics = state.cluster.topics(&sources).await?;
    let producers = state.cluster.producers(&sources).await?;
    let stats = state
        .cluster
        .node_stats(&producers.value, None, false)
        .await?;
    let mut summed = sum_topics(stats.value);
    for name in &topics.value {
        if !summed.iter().any(|t| &t.topic_name == name) {
            summed.push(TopicStats {
                node: "*".into(),
                topic_name: name.clone(),
                ..TopicStats::default()
            });
        }
    }
    summed.sort_by(|a, b| a.topic_name.cmp(&b.topic_name));
    let errors: Vec<String> = [topics.errors, producers.errors, stats.errors].concat();
    Reply::json(&Cluster {
        topics: summed,
        nodes: producers.value,
        lookupd_http_addresses: sources.lookupd,
        nsqd_http_addresses: sources.nsqd,
        message: warning(&errors),
    })
}

/// `GET /api/topics[?inactive=true]`.
async fn topics(State(state): Shared, RawQuery(query): RawQuery) -> ApiResult {
    let sources = state.sources();
    let gathered = state.cluster.topics(&sources).await?;
    let inactive = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .any(|pair| pair == "inactive=true");
    if !inactive {
        #[derive(Serialize)]
        struct Topics {
            topics: Vec<String>,
            message: String,
        }
        return Reply::json(&Topics {
            topics: gathered.value,
            message: warning(&gathered.errors),
        });
    }
    // Topics lookupd knows that no nsqd produces, with their channels.
    let mut inactive_topics: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if !sources.lookupd.is_empty() {
        for topic in &gathered.value {
            let producers = state.cluster.topic_producers(topic, &sources).await;
            if producers.map(|p| p.value.is_empty()).unwrap_or(false) {
                let channels = state
                    .cluster
                    .lookupd_topic_channels(topic, &sources.lookupd)
                    .await;
                inactive_topics.insert(topic.clone(), channels);
            }
        }
    }
    #[derive(Serialize)]
    struct InactiveTopics {
        topics: BTreeMap<String, Vec<String>>,
        message: String,
    }
    Reply::json(&InactiveTopics {
        topics: inactive_topics,
        message: warning(&gathered.errors),
    })
}

/// The topic summed over the nodes that have it (`node` = `*`).
async fn summed_topic(
    state: &AdminState,
    topic: &str,
) -> Result<(TopicStats, Vec<String>), ApiError> {
    let sources = state.sources();
    let producers = state.cluster.topic_producers(topic, &sources).await?;
    let stats = state
        .cluster
        .node_stats(&producers.value, Some(topic), true)
        .await?;
    let summed = sum_topics(stats.value)
        .into_iter()
        .find(|t| t.topic_name == topic)
        .unwrap_or_else(|| TopicStats {
            node: "*".into(),
            topic_name: topic.to_owned(),
            ..TopicStats::default()
        });
    Ok((summed, [producers.errors, stats.errors].concat()))
}

/// `GET /api/topics/:topic`.
async fn topic(State(state): Shared, Path(topic): Path<String>) -> ApiResult {
    #[derive(Serialize)]
    struct Topic {
        #[serde(flatten)]
        stats: TopicStats,
        message: String,
    }
    let (stats, errors) = summed_topic(&state, &topic).await?;
    Reply::json(&Topic {
        stats,
        message: warning(&errors),
    })
}

/// `GET /api/topics/:topic/:channel`.
async fn channel(
    State(state): Shared,
    Path((topic, channel)): Path<(String, String)>,
) -> ApiResult {
    #[derive(Serialize)]
    struct Channel {
        #[serde(flatten)]
        stats: ChannelStats,
        message: String,
    }
    let (summed, errors) = summed_topic(&state, &topic).await?;
    let stats = summed
        .channels
        .into_iter()
        .find(|c| c.channel_name == channel)
        .ok_or_else(|| ApiError::not_found("CHANNEL_NOT_FOUND"))?;
    Reply::json(&Channel {
        stats,
        message: warning(&errors),
    })
}

/// `GET /api/nodes`.
async fn nodes(State(state): Shared) -> ApiResult {
    #[derive(Serialize)]
    struct Nodes {
        nodes: Vec<Producer>,
        message: String,
    }
    let producers = state.cluster.producers(&state.sources()).await?;
    Reply::json(&Nodes {
        nodes: producers.value,
        message: warning(&producers.errors),
    })
}

/// `GET /api/nodes/:node` (`node` = `broadcast_address:http_port`).
async fn node(State(state): Shared, Path(node): Path<String>) -> ApiResult {
    #[derive(Serialize)]
    struct Node {
        node: String,
        #[serde(flatten)]
        producer: Producer,
        topics: Vec<TopicStats>,
        total_messages: i64,
        total_clients: i64,
        message: String,
    }
    let producers = state.cluster.producers(&state.sources()).await?;
    let producer = producers
        .value
        .into_iter()
        .find(|p| p.http_address() == node)
        .ok_or_else(|| ApiError::not_found("NODE_NOT_FOUND"))?;
    let stats = state
        .cluster
        .node_stats(std::slice::from_ref(&producer), None, true)
        .await?;
    let total_messages = stats.value.iter().map(|t| t.message_count).sum();
    let total_clients = stats
        .value
        .iter()
        .flat_map(|t| &t.channels)
        .map(|c| c.clients.len() as i64)
        .sum();
    Reply::json(&Node {
        node,
        producer,
        topics: stats.value,
        total_messages,
        total_clients,
        message: warning(&[producers.errors, stats.errors].concat()),
    })
}

/// `GET /api/counter`: message counts per `topic:channel:node`.
async fn counter(State(state): Shared) -> ApiResult {
    #[derive(Serialize)]
    struct CounterStats {
        node: String,
        topic_name: String,
        channel_name: String,
        message_count: i64,
    }
    #[derive(Serialize)]
    struct Counter {
        stats: BTreeMap<String, CounterStats>,
        message: String,
    }
    let producers = state.cluster.producers(&state.sources()).await?;
    let stats = state
        .cluster
        .node_stats(&producers.value, None, false)
        .await?;
    let mut counters = BTreeMap::new();
    for topic in &stats.value {
        for channel in &topic.channels {
            let key = format!(
                "{}:{}:{}",
                topic.topic_name, channel.channel_name, channel.node
            );
            counters
                .entry(key)
                .or_insert_with(|| CounterStats {
                    node: channel.node.clone(),
                    topic_name: topic.topic_name.clone(),
                    channel_name: channel.channel_name.clone(),
                    message_count: 0,
                })
                .message_count += channel.message_count;
        }
    }
    Reply::json(&Counter {
        stats: counters,
        message: warning(&[producers.errors, stats.errors].concat()),
    })
}

fn parse_body<'a, T: Deserialize<'a>>(
    body: &'a [u8],
    invalid: &'static str,
) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|_| ApiError::bad_request(invalid))
}

/// Reports a finished admin action: the notification, then the reply with the partial-failure
/// warning, if any.
fn acted(
    state: &AdminState,
    request: &RequestInfo,
    action: &str,
    target: ActionTarget<'_>,
    errors: &[String],
) -> ApiResult {
    state.notify(action, target, request);
    Reply::json(&Message {
        message: warning(errors),
    })
}

/// `POST /api/topics` `{"topic":..,"channel":..}`: create a topic and maybe a channel.
async fn create_topic_channel(
    State(state): Shared,
    request: RequestInfo,
    body: Bytes,
) -> ApiResult {
    #[derive(Deserialize)]
    struct Create {
        topic: String,
        #[serde(default)]
        channel: String,
    }
    state.authorize(&request.headers)?;
    let create: Create = parse_body(&body, "INVALID_BODY")?;
    if !is_valid_topic_name(&create.topic) {
        return Err(ApiError::bad_request("INVALID_TOPIC"));
    }
    let channel = Some(create.channel.as_str()).filter(|c| !c.is_empty());
    if channel.is_some_and(|c| !is_valid_channel_name(c)) {
        return Err(ApiError::bad_request("INVALID_CHANNEL"));
    }
    let done = state
        .cluster
        .create_topic_channel(&create.topic, channel, &state.sources())
        .await?;
    let target = ActionTarget::topic(&create.topic);
    if channel.is_some() {
        state.notify("create_topic", target, &request);
        let target = ActionTarget { channel, ..target };
        return acted(&state, &request, "create_channel", target, &done.errors);
    }
    acted(&state, &request, "create_topic", target, &done.errors)
}

#[derive(Deserialize)]
struct Action {
    action: String,
}

/// `POST /api/topics/:topic` `{"action":"pause"|"unpause"|"empty"}`.
async fn topic_action(
    State(state): Shared,
    request: RequestInfo,
    Path(topic): Path<String>,
    body: Bytes,
) -> ApiResult {
    run_action(&state, &request, &body, &topic, None).await
}

/// `POST /api/topics/:topic/:channel` `{"action":"pause"|"unpause"|"empty"}`.
async fn channel_action(
    State(state): Shared,
    request: RequestInfo,
    Path((topic, channel)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    run_action(&state, &request, &body, &topic, Some(&channel)).await
}

async fn run_action(
    state: &AdminState,
    request: &RequestInfo,
    body: &[u8],
    topic: &str,
    channel: Option<&str>,
) -> ApiResult {
    state.authorize(&request.headers)?;
    let action: Action = parse_body(body, "INVALID_BODY")?;
    let verb = match action.action.as_str() {
        verb @ ("pause" | "unpause" | "empty") => verb,
        _ => return Err(ApiError::bad_request("INVALID_ACTION")),
    };
    let done = state
        .cluster
        .topic_channel_action(verb, topic, channel, &state.sources())
        .await?;
    let kind = if channel.is_some() {
        "channel"
    } else {
        "topic"
    };
    let target = ActionTarget {
        channel,
        ..ActionTarget::topic(topic)
    };
    acted(
        state,
        request,
        &format!("{verb}_{kind}"),
        target,
        &done.errors,
    )
}

/// `DELETE /api/topics/:topic`.
async fn delete_topic(
    State(state): Shared,
    request: RequestInfo,
    Path(topic): Path<String>,
) -> ApiResult {
    state.authorize(&request.headers)?;
    let done = state.cluster.delete_topic(&topic, &state.sources()).await?;
    let target = ActionTarget::topic(&topic);
    acted(&state, &request, "delete_topic", target, &done.errors)
}

/// `DELETE /api/topics/:topic/:channel`.
async fn delete_channel(
    State(state): Shared,
    request: RequestInfo,
    Path((topic, channel)): Path<(String, String)>,
) -> ApiResult {
    state.authorize(&request.headers)?;
    let done = state
        .cluster
        .delete_channel(&topic, &channel, &state.sources())
        .await?;
    let target = ActionTarget {
        channel: Some(&channel),
        ..ActionTarget::topic(&topic)
    };
    acted(&state, &request, "delete_channel", target, &done.errors)
}

/// `DELETE /api/nodes/:node` `{"topic":..}`: tombstone the topic's producer on that node.
async fn tombstone_node_for_topic(
    State(state): Shared,
    request: RequestInfo,
    Path(node): Path<String>,
    body: Bytes,
) -> ApiResult {
    #[derive(Deserialize)]
    struct Tombstone {
        topic: String,
    }
    state.authorize(&request.headers)?;
    let tombstone: Tombstone = parse_body(&body, "INVALID_BODY")?;
    if !is_valid_topic_name(&tombstone.topic) {
        return Err(ApiError::bad_request("INVALID_TOPIC"));
    }
    let done = state
        .cluster
        .tombstone_topic_producer(&tombstone.topic, &node, &state.sources())
        .await?;
    let target = ActionTarget {
        node: Some(&node),
        ..ActionTarget::topic(&tombstone.topic)
    };
    let action = "tombstone_topic_producer";
    acted(&state, &request, action, target, &done.errors)
}

fn check_config_access(state: &AdminState, remote: SocketAddr) -> Result<(), ApiError> {
    let cidr = state.options.read().allow_config_from_cidr.clone();
    if cidr.is_empty() || cidr_contains(&cidr, remote.ip()) {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// `GET /config/:opt`.
async fn get_config(
    State(state): Shared,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(opt): Path<String>,
) -> ApiResult {
    check_config_access(&state, remote)?;
    config_value(&state, &opt)
}

fn config_value(state: &AdminState, opt: &str) -> ApiResult {
    let options = state.options.read();
    match opt {
        "nsqlookupd_http_addresses" => Reply::json(&options.lookupd_http_addresses),
        "nsqd_http_addresses" => Reply::json(&options.nsqd_http_addresses),
        "http_address" => Reply::json(&options.http_address.to_string()),
        "base_path" => Reply::json(&options.base_path),
        "acl_http_header" => Reply::json(&options.acl_http_header),
        "admin_users" => Reply::json(&options.admin_users),
        "allow_config_from_cidr" => Reply::json(&options.allow_config_from_cidr),
        "notification_http_endpoint" => Reply::json(
            &options
                .notification_http_endpoint
                .clone()
                .unwrap_or_default(),
        ),
        "http_client_connect_timeout" => {
            Reply::json(&(options.http_client_connect_timeout.as_nanos() as u64))
        }
        "http_client_request_timeout" => {
            Reply::json(&(options.http_client_request_timeout.as_nanos() as u64))
        }
        _ => Err(ApiError::bad_request("INVALID_OPTION")),
    }
}

/// `PUT /config/nsqlookupd_http_addresses` with a JSON array body.
async fn put_config(
    State(state): Shared,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(opt): Path<String>,
    body: Bytes,
) -> ApiResult {
    check_config_access(&state, remote)?;
    const READ_MAX: usize = 1024 * 1024;
    if body.is_empty() || body.len() > READ_MAX {
        return Err(ApiError::too_large("INVALID_VALUE"));
    }
    match opt.as_str() {
        "nsqlookupd_http_addresses" => {
            let addresses: Vec<String> = parse_body(&body, "INVALID_VALUE")?;
            let mut options = state.options.write();
            if addresses.is_empty() && options.nsqd_http_addresses.is_empty() {
                return Err(ApiError::bad_request("INVALID_VALUE"));
            }
            options.lookupd_http_addresses = addresses;
        }
        _ => return Err(ApiError::bad_request("INVALID_OPTION")),
    }
    config_value(&state, &opt)
}
