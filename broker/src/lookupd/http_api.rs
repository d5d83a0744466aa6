//! NSQ's "V1" HTTP response conventions and query-string parsing, as nsqlookupd uses them.
//!
//! Every V1 reply carries `X-NSQ-Content-Type: nsq; version=1.0`; JSON bodies also carry
//! `Content-Type: application/json; charset=utf-8`; errors are `{"message":"<TEXT>"}`.
//! Arguments come from the query string only; the first value of a repeated name wins; an
//! unparseable query string (bad `%` escape, `;` separator) is `400 INVALID_REQUEST`.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

const NSQ_CONTENT_TYPE: &str = "nsq; version=1.0";
const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// An error reply: a status and the `message` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: &'static str,
}

impl ApiError {
    pub const fn bad_request(message: &'static str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message,
        }
    }

    pub const fn not_found(message: &'static str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "message": self.message }).to_string();
        v1_response(self.status, Some(body.into_bytes()))
    }
}

/// What V1 handlers return.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// A 200 with a compact JSON body.
pub(crate) fn json<T: Serialize>(value: &T) -> ApiResult {
    match serde_json::to_vec(value) {
        Ok(body) => Ok(v1_response(StatusCode::OK, Some(body))),
        Err(err) => {
            tracing::error!(%err, "failed to encode JSON reply");
            Err(ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "INTERNAL_ERROR",
            })
        }
    }
}

/// A 200 with an empty body.
pub(crate) fn empty() -> ApiResult {
    Ok(v1_response(StatusCode::OK, None))
}

fn v1_response(status: StatusCode, json_body: Option<Vec<u8>>) -> Response {
    let has_body = json_body.is_some();
    let mut response = Response::new(Body::from(json_body.unwrap_or_default()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if has_body {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        );
    }
    headers.insert(
        "x-nsq-content-type",
        HeaderValue::from_static(NSQ_CONTENT_TYPE),
    );
    response
}

/// Rewrites a body-less `405` (axum's method router) into NSQ's JSON form, keeping `Allow`.
pub(crate) async fn method_not_allowed_as_json(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut rewritten = ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: "METHOD_NOT_ALLOWED",
    }
    .into_response();
    if let Some(allow) = allow {
        rewritten.headers_mut().insert(header::ALLOW, allow);
    }
    rewritten
}

/// Router fallback: `404 {"message":"NOT_FOUND"}`.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("NOT_FOUND")
}

/// Parsed query parameters (Go's `url.ParseQuery`).
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string; `INVALID_REQUEST` on a malformed one.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let invalid = ApiError::bad_request("INVALID_REQUEST");
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&') {
            if part.contains(';') {
                return Err(invalid);
            }
            if part.is_empty() {
                continue;
            }
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let key = unescape(key).ok_or(invalid)?;
            let value = unescape(value).ok_or(invalid)?;
            pairs.push((key, value));
        }
        Ok(Self { pairs })
    }

    /// The first value of `name`, if present (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value of `name`, or `400 <missing>`.
    pub fn require(&self, name: &str, missing: &'static str) -> Result<&str, ApiError> {
        self.get(name).ok_or(ApiError::bad_request(missing))
    }
}

/// Go's `QueryUnescape`: `+` is a space, `%XX` must be two hex digits.
fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let q = Query::parse(Some("topic=a%2Eb&topic=second&channel=c+d&flag")).unwrap();
        assert_eq!(q.get("topic"), Some("a.b"));
        assert_eq!(q.get("channel"), Some("c d"));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("none"), None);
        assert!(Query::parse(None).unwrap().get("topic").is_none());
    }

    #[test]
    fn rejects_bad_escapes_and_semicolons() {
        for raw in ["topic=%zz", "topic=%4", "a=1;b=2", "%=x"] {
            let err = Query::parse(Some(raw)).unwrap_err();
            assert_eq!(err.message, "INVALID_REQUEST", "{raw}");
        }
    }
}
