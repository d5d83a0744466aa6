//! nsqlookupd's HTTP API: discovery (`/lookup`, `/topics`, `/channels`, `/nodes`) and
//! administration (`/topic/*`, `/channel/*`), with Go's exact JSON shapes and errors.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use nsq_wire::names::{is_valid_channel_name, is_valid_topic_name};
use serde::Serialize;

use super::http_api::{self, ApiError, ApiResult, Query};
use super::protocol_v1::ServerInfo;
use super::registry::{Node, Registration};
use super::VERSION;

/// Builds the router over the lookupd's shared state.
pub(crate) fn router(server: Arc<ServerInfo>) -> Router {
    Router::new()
        .route("/ping", get(ping))
        .route("/info", get(info))
        .route("/debug", get(debug))
        .route("/lookup", get(lookup))
        .route("/topics", get(topics))
        .route("/channels", get(channels))
        .route("/nodes", get(nodes))
        .route("/metrics", get(crate::metrics::lookupd::handler))
        .route("/topic/create", post(create_topic))
        .route("/topic/delete", post(delete_topic))
        .route("/channel/create", post(create_channel))
        .route("/channel/delete", post(delete_channel))
        .route("/topic/tombstone", post(tombstone_topic_producer))
        .fallback(http_api::not_found)
        .layer(axum::middleware::map_response(
            http_api::method_not_allowed_as_json,
        ))
        .with_state(server)
}

type Shared = State<Arc<ServerInfo>>;

async fn ping() -> Response {
    let mut response = "OK".into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn info() -> ApiResult {
    http_api::json(&serde_json::json!({ "version": VERSION }))
}

async fn debug(State(server): Shared) -> ApiResult {
    http_api::json(&server.registry.debug_dump())
}

async fn lookup(State(server): Shared, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Query::parse(raw.as_deref())?;
    let topic = query.require("topic", "MISSING_ARG_TOPIC")?;
    let found = server
        .registry
        .lookup(topic)
        .ok_or(ApiError::not_found("TOPIC_NOT_FOUND"))?;
    http_api::json(&found)
}

async fn topics(State(server): Shared) -> ApiResult {
    #[derive(Serialize)]
    struct Topics {
        topics: Vec<String>,
    }
    http_api::json(&Topics {
        topics: server.registry.topics(),
    })
}

async fn channels(State(server): Shared, RawQuery(raw): RawQuery) -> ApiResult {
    #[derive(Serialize)]
    struct Channels {
        channels: Vec<String>,
    }
    let query = Query::parse(raw.as_deref())?;
    let topic = query.require("topic", "MISSING_ARG_TOPIC")?;
    http_api::json(&Channels {
        channels: server.registry.channels(topic),
    })
}

async fn nodes(State(server): Shared) -> ApiResult {
    #[derive(Serialize)]
    struct Nodes {
        producers: Vec<Node>,
    }
    http_api::json(&Nodes {
        producers: server.registry.nodes(),
    })
}

async fn create_topic(State(server): Shared, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Query::parse(raw.as_deref())?;
    let topic = query.require("topic", "MISSING_ARG_TOPIC")?;
    if !is_valid_topic_name(topic) {
        return Err(ApiError::bad_request("INVALID_ARG_TOPIC"));
    }
    tracing::info!(topic, "DB: adding topic");
    server.registry.add_registration(Registration::topic(topic));
    http_api::empty()
}

async fn delete_topic(State(server): Shared, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Query::parse(raw.as_deref())?;
    let topic = query.require("topic", "MISSING_ARG_TOPIC")?;
    tracing::info!(topic, "DB: removing topic and its channels");
    server.registry.delete_topic(topic);
    http_api::empty()
}

async fn create_channel(State(server): Shared, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Query::parse(raw.as_deref())?;
    let (topic, channel) = topic_channel_args(&query)?;
    tracing::info!(topic, channel, "DB: adding channel");
    let registry = &server.registry;
    registry.add_registration(Registration::channel(topic, channel));
    registry.add_registration(Registration::topic(topic));
    http_api::empty()
}

async fn delete_channel(State(server): Shared, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Query::parse(raw.as_deref())?;
    let (topic, channel) = topic_channel_args(&query)?;
    let key = Registration::channel(topic, channel);
    if !server.registry.remove_registration(&key) {
        return Err(ApiError::not_found("CHANNEL_NOT_FOUND"));
    }
    tracing::info!(topic, channel, "DB: removed channel");
    http_api::empty()
}

async fn tombstone_topic_producer(State(server): Shared, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Query::parse(raw.as_deref())?;
    let topic = query.require("topic", "MISSING_ARG_TOPIC")?;
    let node = query.require("node", "MISSING_ARG_NODE")?;
    let matched = server.registry.tombstone(topic, node);
    tracing::info!(topic, node, matched, "DB: tombstoned topic producer");
    http_api::empty()
}

/// Go's `http_api.GetTopicChannelArgs`.
fn topic_channel_args(query: &Query) -> Result<(&str, &str), ApiError> {
    let topic = query.require("topic", "MISSING_ARG_TOPIC")?;
    if !is_valid_topic_name(topic) {
        return Err(ApiError::bad_request("INVALID_ARG_TOPIC"));
    }
    let channel = query.require("channel", "MISSING_ARG_CHANNEL")?;
    if !is_valid_channel_name(channel) {
        return Err(ApiError::bad_request("INVALID_ARG_CHANNEL"));
    }
    Ok((topic, channel))
}
