//! `POST /pub` (with `defer`) and `POST /mpub` (text and binary mode), checking in nsqd's
//! order: body size, body, query, topic (created here), then `defer`, then enqueue.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::HeaderMap;
use nsq_wire::multi_body::MultiBody;

use super::body::{parse_binary_mpub, read_limited, split_text_mpub};
use crate::http_api::{parse_bool_param, ApiError, ApiResult, Params, Reply};
use crate::nsqd::context::{EngineError, NsqdContext};
use crate::nsqd::topic::Topic;

/// `POST /pub?topic=<t>[&defer=<ms>]`.
pub async fn publish(
    State(ctx): State<NsqdContext>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let max_msg_size = limit(ctx.options().max_msg_size);
    if content_length(&headers).is_some_and(|len| len > max_msg_size as u64) {
        return Err(ApiError::too_large("MSG_TOO_BIG"));
    }
    let body = read_limited(body, max_msg_size + 1).await?;
    if body.len() > max_msg_size {
        return Err(ApiError::too_large("MSG_TOO_BIG"));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("MSG_EMPTY"));
    }
    let (params, topic) = topic_from_query(&ctx, query.as_deref())?;
    let defer = match params.get("defer") {
        None => Duration::ZERO,
        Some(text) => parse_defer(text, ctx.options().max_req_timeout)?,
    };
    topic
        .publish(body, defer)
        .map_err(|_| ApiError::exiting())?;
    topic.sync_ack().await.map_err(|_| ApiError::exiting())?;
    Ok(Reply::ok())
}

/// `POST /mpub?topic=<t>[&binary=<bool>]`.
pub async fn multi_publish(
    State(ctx): State<NsqdContext>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let max_msg_size = limit(ctx.options().max_msg_size);
    let max_body_size = limit(ctx.options().max_body_size);
    if content_length(&headers).is_some_and(|len| len > max_body_size as u64) {
        return Err(ApiError::too_large("BODY_TOO_BIG"));
    }
    let (params, topic) = topic_from_query(&ctx, query.as_deref())?;
    let binary = params
        .get("binary")
        .is_some_and(|v| parse_bool_param(v).unwrap_or(true));
    let messages = if binary {
        let body = read_limited(body, max_body_size).await?;
        parse_binary_mpub(body, max_msg_size, max_body_size)?
    } else {
        let body = read_limited(body, max_body_size + 1).await?;
        split_text_mpub(&body, max_msg_size, max_body_size)?
    };
    if !messages.is_empty() {
        topic
            .publish_multi(MultiBody::from_bodies(&messages))
            .map_err(|_| ApiError::exiting())?;
        topic.sync_ack().await.map_err(|_| ApiError::exiting())?;
    }
    Ok(Reply::ok())
}

/// nsqd's `getTopicFromQuery`: parses the query, requires a valid `topic` and gets or creates
/// the topic.
fn topic_from_query(
    ctx: &NsqdContext,
    query: Option<&str>,
) -> Result<(Params, Arc<Topic>), ApiError> {
    let params = Params::parse(query)?;
    let name = params.require("topic", "MISSING_ARG_TOPIC")?;
    if !nsq_wire::names::is_valid_topic_name(name) {
        return Err(ApiError::bad_request("INVALID_TOPIC"));
    }
    let topic = ctx.get_or_create_topic(name).map_err(|e| match e {
        EngineError::InvalidTopic => ApiError::bad_request("INVALID_TOPIC"),
        _ => ApiError::exiting(),
    })?;
    Ok((params, topic))
}

/// `defer` must be a base-10 int64 of milliseconds in `0..=max_req_timeout`.
fn parse_defer(text: &str, max_req_timeout: Duration) -> Result<Duration, ApiError> {
    let invalid = ApiError::bad_request("INVALID_DEFER");
    let millis: i64 = text.parse().map_err(|_| invalid.clone())?;
    let millis = u64::try_from(millis).map_err(|_| invalid.clone())?;
    let defer = Duration::from_millis(millis);
    if defer > max_req_timeout {
        return Err(invalid);
    }
    Ok(defer)
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// A size option as a buffer limit (negative means nothing fits).
fn limit(option: i64) -> usize {
    usize::try_from(option).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defer_bounds() {
        let max = Duration::from_secs(3600);
        assert_eq!(parse_defer("0", max).unwrap(), Duration::ZERO);
        assert_eq!(parse_defer("3600000", max).unwrap(), max);
        for bad in ["-1", "3600001", "1.5", "", "abc", "99999999999999999999"] {
            assert_eq!(
                parse_defer(bad, max).unwrap_err().message,
                "INVALID_DEFER",
                "{bad}"
            );
        }
    }
}
