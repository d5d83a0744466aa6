//! nsqlookupd's HTTP API: discovery (`/lookup`, `/topics`, `/channels`, `/nodes`) and
//! administration (`/topic/*`, `/channel/*`), with Go's exact JSON shapes and errors.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use nsq_wire::names::is_valid_topic_name;
use serde::Serialize;

use super::protocol_v1::ServerInfo;
use super::registry::{Node, Registration};
use super::VERSION;
use crate::http_api::{self, only, plain_text, ApiError, ApiResult, Params, Reply};

/// Builds the router over the lookupd's shared state.
pub(crate) fn router(server: Arc<ServerInfo>) -> Router {
    let routes = Router::new()
        .route("/ping", only(get(ping), "GET"))
        .route("/info", only(get(info), "GET"))
        .route("/debug", only(get(debug), "GET"))
        .route("/lookup", only(get(lookup), "GET"))
        .route("/topics", only(get(topics), "GET"))
        .route("/channels", only(get(channels), "GET"))
        .route("/nodes", only(get(nodes), "GET"))
        .route(
            "/metrics",
            only(get(crate::metrics::lookupd::handler), "GET"),
        )
        .route("/topic/create", only(post(create_topic), "POST"))
        .route("/topic/delete", only(post(delete_topic), "POST"))
        .route("/channel/create", only(post(create_channel), "POST"))
        .route("/channel/delete", only(post(delete_channel), "POST"))
        .route(
            "/topic/tombstone",
            only(post(tombstone_topic_producer), "POST"),
        );
    http_api::finish(routes).with_state(server)
}

type Shared = State<Arc<ServerInfo>>;

async fn ping() -> Response {
    plain_text(StatusCode::OK, "OK")
}

async fn info() -> ApiResult {
    Reply::json(&serde_json::json!({ "version": VERSION }))
}

async fn debug(State(server): Shared) -> ApiResult {
    Reply::json(&server.registry.debug_dump())
}

async fn lookup(State(server): Shared, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Params::parse(raw.as_deref())?;
    let topic = query.require("topic", "MISSING_ARG_TOPIC")?;
    let found = server
        .registry
        .lookup(topic)
        .ok_or(ApiError::not_found("TOPIC_NOT_FOUND"))?;
    Reply::json(&found)
}

async fn topics(State(server): Shared) -> ApiResult {
    #[derive(Serialize)]
    struct Topics {
        topics: Vec<String>,
    }
    Reply::json(&Topics {
        topics: server.registry.topics(),
    })
}

async fn channels(State(server): Shared, RawQuery(raw): RawQuery) -> ApiResult {
    #[derive(Serialize)]
    struct Channels {
        channels: Vec<String>,
    }
    let query = Params::parse(raw.as_deref())?;
    let topic = query.require("topic", "MISSING_ARG_TOPIC")?;
    Reply::json(&Channels {
        channels: server.registry.channels(topic),
    })
}

async fn nodes(State(server): Shared) -> ApiResult {
    #[derive(Serialize)]
    struct Nodes {
        producers: Vec<Node>,
    }
    Reply::json(&Nodes {
        producers: server.registry.nodes(),
    })
}

async fn create_topic(State(server): Shared, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Params::parse(raw.as_deref())?;
    let topic = query.require("topic", "MISSING_ARG_TOPIC")?;
    if !is_valid_topic_name(topic) {
        return Err(ApiError::bad_request("INVALID_ARG_TOPIC"));
    }
    tracing::info!(topic, "DB: adding topic");
    server.registry.add_registration(Registration::topic(topic));
    Ok(Reply::Empty)
}

async fn delete_topic(State(server): Shared, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Params::parse(raw.as_deref())?;
    let topic = query.require("topic", "MISSING_ARG_TOPIC")?;
    tracing::info!(topic, "DB: removing topic and its channels");
    server.registry.delete_topic(topic);
    Ok(Reply::Empty)
}

async fn create_channel(State(server): Shared, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Params::parse(raw.as_deref())?;
    let (topic, channel) = query.topic_channel()?;
    tracing::info!(topic, channel, "DB: adding channel");
    let registry = &server.registry;
    registry.add_registration(Registration::channel(topic, channel));
    registry.add_registration(Registration::topic(topic));
    Ok(Reply::Empty)
}

async fn delete_channel(State(server): Shared, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Params::parse(raw.as_deref())?;
    let (topic, channel) = query.topic_channel()?;
    let key = Registration::channel(topic, channel);
    if !server.registry.remove_registration(&key) {
        return Err(ApiError::not_found("CHANNEL_NOT_FOUND"));
    }
    tracing::info!(topic, channel, "DB: removed channel");
    Ok(Reply::Empty)
}

async fn tombstone_topic_producer(State(server): Shared, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Params::parse(raw.as_deref())?;
    let topic = query.require("topic", "MISSING_ARG_TOPIC")?;
    let node = query.require("node", "MISSING_ARG_NODE")?;
    let matched = server.registry.tombstone(topic, node);
    tracing::info!(topic, node, matched, "DB: tombstoned topic producer");
    Ok(Reply::Empty)
}
