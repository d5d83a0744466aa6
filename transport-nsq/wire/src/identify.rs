//! The IDENTIFY request and response JSON documents (and the AUTH reply), with NSQ's keys.

use serde::{Deserialize, Serialize};

/// The JSON body a client sends with `IDENTIFY`.
///
/// Every field is optional; JSON `null` behaves like an absent field and unknown fields
/// (e.g. the deprecated `short_id`/`long_id`) are ignored. A field with the wrong JSON type
/// fails decoding, as in nsqd.
///
/// ```
/// use nsq_wire::identify::IdentifyRequest;
/// let req: IdentifyRequest =
///     serde_json::from_str(r#"{"feature_negotiation":true,"heartbeat_interval":1000,"short_id":"x"}"#)
///         .unwrap();
/// assert_eq!(req.feature_negotiation, Some(true));
/// assert_eq!(req.heartbeat_interval, Some(1000));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentifyRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_negotiation: Option<bool>,
    /// Milliseconds; `-1` disables heartbeats, `0` means the server default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval: Option<i64>,
    /// Milliseconds; `-1` disables the flush timer, `0` means the server default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_buffer_timeout: Option<i64>,
    /// Bytes; `-1` means unbuffered, `0` means the server default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_buffer_size: Option<i64>,
    /// `0..=99`, `0` = no sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<i32>,
    /// Milliseconds; `0` means the server's `--msg-timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_v1: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snappy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deflate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deflate_level: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology_zone: Option<String>,
}

impl IdentifyRequest {
    /// Parses an IDENTIFY body; `Err` covers both "not a JSON object" and wrong field types.
    /// Like Go's `json.Unmarshal` into a struct, a bare `null` yields all defaults, while
    /// arrays, strings and numbers are rejected.
    pub fn from_json(body: &[u8]) -> Result<IdentifyRequest, serde_json::Error> {
        match serde_json::from_slice::<serde_json::Value>(body)? {
            serde_json::Value::Null => Ok(IdentifyRequest::default()),
            value @ serde_json::Value::Object(_) => serde_json::from_value(value),
            other => Err(serde::de::Error::custom(format!(
                "IDENTIFY body must be a JSON object, got {other}"
            ))),
        }
    }

    /// Encodes the request as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings, integers and bools into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The JSON document nsqd answers a `feature_negotiation` IDENTIFY with. Field order is
/// nsqd's key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentifyResponse {
    pub max_rdy_count: i64,
    pub version: String,
    /// Milliseconds.
    pub max_msg_timeout: i64,
    /// Milliseconds; this connection's effective value.
    pub msg_timeout: i64,
    pub tls_v1: bool,
    pub deflate: bool,
    pub deflate_level: i64,
    pub max_deflate_level: i64,
    pub snappy: bool,
    pub sample_rate: i32,
    pub auth_required: bool,
    pub output_buffer_size: i64,
    /// Milliseconds.
    pub output_buffer_timeout: i64,
    pub topology_region: String,
    pub topology_zone: String,
}

impl IdentifyResponse {
    /// Encodes the response as compact JSON in nsqd's key order.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The JSON document nsqd answers a successful `AUTH` with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthResponse {
    pub identity: String,
    pub identity_url: String,
    pub permission_count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_keys_in_nsqd_order() {
        let resp = IdentifyResponse {
            max_rdy_count: 2500,
            version: "1.3.0".into(),
            max_msg_timeout: 900000,
            msg_timeout: 60000,
            deflate_level: 6,
            max_deflate_level: 6,
            output_buffer_size: 16384,
            output_buffer_timeout: 250,
            ..Default::default()
        };
        let json = String::from_utf8(resp.to_json()).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"max_rdy_count":2500,"version":"1.3.0","max_msg_timeout":900000,"#,
                r#""msg_timeout":60000,"tls_v1":false,"deflate":false,"deflate_level":6,"#,
                r#""max_deflate_level":6,"snappy":false,"sample_rate":0,"auth_required":false,"#,
                r#""output_buffer_size":16384,"output_buffer_timeout":250,"topology_region":"","#,
                r#""topology_zone":""}"#
            )
        );
        let back: IdentifyResponse = serde_json::from_str(&json).unwrap();
        assert_eq!(back, resp);
    }

    #[test]
    fn request_null_is_absent_and_unknown_ignored() {
        let req = IdentifyRequest::from_json(
            br#"{"heartbeat_interval":null,"long_id":"h","sample_rate":5}"#,
        )
        .unwrap();
        assert_eq!(req.heartbeat_interval, None);
        assert_eq!(req.sample_rate, Some(5));
    }

    #[test]
    fn request_rejects_wrong_types_and_non_objects() {
        for body in [
            &b"not json"[..],
            br#"{"heartbeat_interval":"1000"}"#,
            br#"{"feature_negotiation":1}"#,
            br#"{"sample_rate":1.5}"#,
            br#"[1,2]"#,
            br#"[]"#,
            br#""x""#,
            br#"5"#,
            br#"{"sample_rate":4294967296}"#,
        ] {
            assert!(IdentifyRequest::from_json(body).is_err(), "{body:?}");
        }
    }

    #[test]
    fn request_null_body_is_all_defaults() {
        assert_eq!(
            IdentifyRequest::from_json(b"null").unwrap(),
            IdentifyRequest::default()
        );
    }

    #[test]
    fn request_encodes_only_set_fields() {
        let req = IdentifyRequest {
            feature_negotiation: Some(true),
            msg_timeout: Some(5000),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(req.to_json()).unwrap(),
            r#"{"feature_negotiation":true,"msg_timeout":5000}"#
        );
    }

    #[test]
    fn auth_response_key_order() {
        let resp = AuthResponse {
            identity: "me".into(),
            identity_url: "http://x".into(),
            permission_count: 2,
        };
        assert_eq!(
            serde_json::to_string(&resp).unwrap(),
            r#"{"identity":"me","identity_url":"http://x","permission_count":2}"#
        );
    }
}
