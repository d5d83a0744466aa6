//! Topic and channel administration: `/topic/{create,delete,empty,pause,unpause}` and
//! `/channel/{create,delete,empty,pause,unpause}`, each with nsqd's checks in nsqd's order.
//! (The topic routes say `INVALID_TOPIC`, the channel routes `INVALID_ARG_TOPIC`, as in Go.)

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use nsq_wire::names::is_valid_topic_name;

use crate::http_api::{ApiError, ApiResult, Params, Reply};
use crate::nsqd::channel::Channel;
use crate::nsqd::context::{EngineError, NsqdContext};
use crate::nsqd::events::NsqdEvent;
use crate::nsqd::topic::Topic;

const TOPIC_NOT_FOUND: ApiError = ApiError::not_found("TOPIC_NOT_FOUND");
const CHANNEL_NOT_FOUND: ApiError = ApiError::not_found("CHANNEL_NOT_FOUND");

/// `POST /topic/create?topic=`: get-or-create.
pub async fn topic_create(State(ctx): State<NsqdContext>, RawQuery(q): RawQuery) -> ApiResult {
    let params = Params::parse(q.as_deref())?;
    let name = topic_arg(&params)?;
    if !is_valid_topic_name(name) {
        return Err(ApiError::bad_request("INVALID_TOPIC"));
    }
    ctx.get_or_create_topic(name).map_err(engine_error)?;
    Ok(Reply::Empty)
}

/// `POST /topic/delete?topic=` (no name validation: unknown names are simply not found).
pub async fn topic_delete(State(ctx): State<NsqdContext>, RawQuery(q): RawQuery) -> ApiResult {
    let params = Params::parse(q.as_deref())?;
    let name = topic_arg(&params)?;
    ctx.delete_topic(name).map_err(engine_error)?;
    Ok(Reply::Empty)
}

/// `POST /topic/empty?topic=`: drops the topic's own backlog.
pub async fn topic_empty(State(ctx): State<NsqdContext>, RawQuery(q): RawQuery) -> ApiResult {
    let params = Params::parse(q.as_deref())?;
    let name = topic_arg(&params)?;
    if !is_valid_topic_name(name) {
        return Err(ApiError::bad_request("INVALID_TOPIC"));
    }
    let topic = ctx.topic(name).ok_or(TOPIC_NOT_FOUND)?;
    topic.empty().map_err(|_| ApiError::internal())?;
    Ok(Reply::Empty)
}

/// `POST /topic/pause?topic=`.
pub async fn topic_pause(State(ctx): State<NsqdContext>, RawQuery(q): RawQuery) -> ApiResult {
    existing_topic(&ctx, q.as_deref())?.pause();
    Ok(Reply::Empty)
}

/// `POST /topic/unpause?topic=`.
pub async fn topic_unpause(State(ctx): State<NsqdContext>, RawQuery(q): RawQuery) -> ApiResult {
    existing_topic(&ctx, q.as_deref())?.unpause();
    Ok(Reply::Empty)
}

/// `POST /channel/create?topic=&channel=`: the topic must exist.
pub async fn channel_create(State(ctx): State<NsqdContext>, RawQuery(q): RawQuery) -> ApiResult {
    let (topic, channel) = existing_topic_and_channel_arg(&ctx, q.as_deref())?;
    ctx.create_channel(topic.name(), &channel)
        .map_err(engine_error)?;
    Ok(Reply::Empty)
}

/// `POST /channel/delete?topic=&channel=`: consumers are disconnected.
pub async fn channel_delete(State(ctx): State<NsqdContext>, RawQuery(q): RawQuery) -> ApiResult {
    let (topic, channel) = existing_topic_and_channel_arg(&ctx, q.as_deref())?;
    ctx.delete_channel(topic.name(), &channel)
        .map_err(engine_error)?;
    Ok(Reply::Empty)
}

/// `POST /channel/empty?topic=&channel=`: drops queued, in-flight and deferred messages.
pub async fn channel_empty(State(ctx): State<NsqdContext>, RawQuery(q): RawQuery) -> ApiResult {
    existing_channel(&ctx, q.as_deref())?
        .empty()
        .map_err(|_| ApiError::internal())?;
    Ok(Reply::Empty)
}

/// `POST /channel/pause?topic=&channel=`.
pub async fn channel_pause(State(ctx): State<NsqdContext>, RawQuery(q): RawQuery) -> ApiResult {
    let channel = existing_channel(&ctx, q.as_deref())?;
    channel.pause();
    ctx.emit(NsqdEvent::ChannelPaused {
        topic: channel.topic_name().to_owned(),
        channel: channel.name().to_owned(),
    });
    Ok(Reply::Empty)
}

/// `POST /channel/unpause?topic=&channel=`.
pub async fn channel_unpause(State(ctx): State<NsqdContext>, RawQuery(q): RawQuery) -> ApiResult {
    let channel = existing_channel(&ctx, q.as_deref())?;
    channel.unpause();
    ctx.emit(NsqdEvent::ChannelUnpaused {
        topic: channel.topic_name().to_owned(),
        channel: channel.name().to_owned(),
    });
    Ok(Reply::Empty)
}

fn topic_arg(params: &Params) -> Result<&str, ApiError> {
    params.require("topic", "MISSING_ARG_TOPIC")
}

/// The topic routes' pause/unpause lookup: missing argument, then not found.
fn existing_topic(ctx: &NsqdContext, query: Option<&str>) -> Result<Arc<Topic>, ApiError> {
    let params = Params::parse(query)?;
    let name = topic_arg(&params)?;
    ctx.topic(name).ok_or(TOPIC_NOT_FOUND)
}

/// nsqd's `getExistingTopicFromQuery`: topic and channel arguments validated, topic existing.
fn existing_topic_and_channel_arg(
    ctx: &NsqdContext,
    query: Option<&str>,
) -> Result<(Arc<Topic>, String), ApiError> {
    let params = Params::parse(query)?;
    let (topic, channel) = params.topic_channel()?;
    let topic = ctx.topic(topic).ok_or(TOPIC_NOT_FOUND)?;
    Ok((topic, channel.to_string()))
}

fn existing_channel(ctx: &NsqdContext, query: Option<&str>) -> Result<Arc<Channel>, ApiError> {
    let (topic, channel) = existing_topic_and_channel_arg(ctx, query)?;
    topic.channel(&channel).ok_or(CHANNEL_NOT_FOUND)
}

/// Maps engine failures to nsqd's HTTP errors.
fn engine_error(err: EngineError) -> ApiError {
    match err {
        EngineError::InvalidTopic => ApiError::bad_request("INVALID_TOPIC"),
        EngineError::InvalidChannel => ApiError::bad_request("INVALID_ARG_CHANNEL"),
        EngineError::TopicNotFound => TOPIC_NOT_FOUND,
        EngineError::ChannelNotFound => CHANNEL_NOT_FOUND,
        EngineError::Exiting => ApiError::exiting(),
        EngineError::Backend(_) => ApiError::internal(),
    }
}
