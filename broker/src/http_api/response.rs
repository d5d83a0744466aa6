//! NSQ's "V1" HTTP response format (Go's `internal/http_api/api_response.go`): every reply
//! carries `X-NSQ-Content-Type: nsq; version=1.0`; text replies are raw, values are compact
//! JSON, and errors are `{"message":"<TEXT>"}` with the error's status.

use std::borrow::Cow;

use axum::http::header::{HeaderValue, CONTENT_TYPE};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// The header go-nsq checks to parse a reply as the V1 format.
pub const NSQ_CONTENT_TYPE: HeaderName = HeaderName::from_static("x-nsq-content-type");
const NSQ_V1: HeaderValue = HeaderValue::from_static("nsq; version=1.0");
const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");

/// A successful reply.
#[derive(Debug)]
pub enum Reply {
    /// 200 with a raw text body (`OK`, text `/stats`, string-typed `/config` values).
    Text(Bytes),
    /// 200 with an empty body (topic/channel administration).
    Empty,
    /// 200 with a JSON body (already serialized, compact).
    Json(Bytes),
}

impl Reply {
    /// `200 OK` with body `OK`.
    pub fn ok() -> Reply {
        Reply::Text(Bytes::from_static(b"OK"))
    }

    /// Serializes `value` as compact JSON.
    pub fn json<T: serde::Serialize>(value: &T) -> Result<Reply, ApiError> {
        serde_json::to_vec(value)
            .map(|v| Reply::Json(Bytes::from(v)))
            .map_err(|err| {
                tracing::error!(%err, "failed to encode JSON reply");
                ApiError::internal()
            })
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let (body, is_json) = match self {
            Reply::Text(body) => (body, false),
            Reply::Empty => (Bytes::new(), false),
            Reply::Json(body) => (body, true),
        };
        let mut response = (StatusCode::OK, body).into_response();
        let headers = response.headers_mut();
        if is_json {
            headers.insert(CONTENT_TYPE, JSON);
        } else {
            headers.remove(CONTENT_TYPE);
        }
        headers.insert(NSQ_CONTENT_TYPE, NSQ_V1);
        response
    }
}

/// An error reply: status plus one of NSQ's upper-case messages (nsqadmin adds detail to
/// some, e.g. `UPSTREAM_ERROR: <cause>`, hence the owned form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: Cow<'static, str>,
}

impl ApiError {
    /// `status` with `message`.
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// `status` with a fixed `message`, usable in constants.
    pub const fn fixed(status: StatusCode, message: &'static str) -> ApiError {
        ApiError {
            status,
            message: Cow::Borrowed(message),
        }
    }

    /// 400 with `message`.
    pub const fn bad_request(message: &'static str) -> ApiError {
        ApiError::fixed(StatusCode::BAD_REQUEST, message)
    }

    /// 403 `FORBIDDEN`.
    pub const fn forbidden() -> ApiError {
        ApiError::fixed(StatusCode::FORBIDDEN, "FORBIDDEN")
    }

    /// 404 with `message`.
    pub const fn not_found(message: &'static str) -> ApiError {
        ApiError::fixed(StatusCode::NOT_FOUND, message)
    }

    /// 405 `METHOD_NOT_ALLOWED`.
    pub const fn method_not_allowed() -> ApiError {
        ApiError::fixed(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED")
    }

    /// 413 with `message`.
    pub const fn too_large(message: &'static str) -> ApiError {
        ApiError::fixed(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    /// 500 `INTERNAL_ERROR`.
    pub const fn internal() -> ApiError {
        ApiError::fixed(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR")
    }

    /// 503 `EXITING` (the broker is shutting down).
    pub const fn exiting() -> ApiError {
        ApiError::fixed(StatusCode::SERVICE_UNAVAILABLE, "EXITING")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "message": self.message }).to_string();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, JSON);
        headers.insert(NSQ_CONTENT_TYPE, NSQ_V1);
        response
    }
}

/// What every V1 handler returns.
pub type ApiResult = Result<Reply, ApiError>;
