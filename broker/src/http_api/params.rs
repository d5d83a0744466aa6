//! Query-string parameters as nsqd and nsqlookupd read them (Go's `http_api.NewReqParams`):
//! Go's `url.ParseQuery` rules (`+` is a space, `%XX` escapes must be valid, `;` separators
//! are rejected), first value wins for repeated names, and any error is 400 `INVALID_REQUEST`.
//! Also Go's `http_api.GetTopicChannelArgs`.

use nsq_wire::names::{is_valid_channel_name, is_valid_topic_name};

use super::response::ApiError;

/// Parsed query parameters, in order of appearance.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a raw query string (without the `?`).
    pub fn parse(raw: Option<&str>) -> Result<Params, ApiError> {
        let invalid = ApiError::bad_request("INVALID_REQUEST");
        let mut pairs = Vec::new();
        for piece in raw.unwrap_or_default().split('&') {
            if piece.contains(';') {
                return Err(invalid);
            }
            if piece.is_empty() {
                continue;
            }
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            let key = unescape(key).ok_or(invalid.clone())?;
            let value = unescape(value).ok_or(invalid.clone())?;
            pairs.push((key, value));
        }
        Ok(Params(pairs))
    }

    /// The first value of `name`, if the name is present at all (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, or 400 `missing` when the name is absent.
    pub fn require(&self, name: &str, missing: &'static str) -> Result<&str, ApiError> {
        self.get(name).ok_or(ApiError::bad_request(missing))
    }

    /// Go's `GetTopicChannelArgs`: `topic` then `channel`, each present (`MISSING_ARG_*`) and
    /// valid (`INVALID_ARG_*`), checked in that order.
    pub fn topic_channel(&self) -> Result<(&str, &str), ApiError> {
        let topic = self.require("topic", "MISSING_ARG_TOPIC")?;
        if !is_valid_topic_name(topic) {
            return Err(ApiError::bad_request("INVALID_ARG_TOPIC"));
        }
        let channel = self.require("channel", "MISSING_ARG_CHANNEL")?;
        if !is_valid_channel_name(channel) {
            return Err(ApiError::bad_request("INVALID_ARG_CHANNEL"));
        }
        Ok((topic, channel))
    }
}

/// Go's `QueryUnescape`: `+` → space, `%XX` → byte; `None` on a malformed escape. Bytes that
/// are not UTF-8 become U+FFFD, which no topic or channel name accepts (as in Go, they then fail
/// name validation rather than query parsing).
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
            b => out.push(b),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// nsqd's boolean query values: `true`/`1` and `false`/`0`; anything else is `None`.
pub fn parse_bool_param(value: &str) -> Option<bool> {
    match value {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_wins_and_escapes_decode() {
        let p = Params::parse(Some("topic=a%2Bb&topic=x&channel=c+d&empty=&flag")).unwrap();
        assert_eq!(p.get("topic"), Some("a+b"));
        assert_eq!(p.get("channel"), Some("c d"));
        assert_eq!(p.get("empty"), Some(""));
        assert_eq!(p.get("flag"), Some(""));
        assert_eq!(p.get("missing"), None);
        assert_eq!(Params::parse(None).unwrap(), Params::default());
    }

    #[test]
    fn malformed_queries_are_invalid_request() {
        for bad in ["topic=%zz", "topic=%4", "a=1;b=2", "%=1"] {
            let err = Params::parse(Some(bad)).unwrap_err();
            assert_eq!(err.message, "INVALID_REQUEST", "{bad}");
        }
    }

    #[test]
    fn topic_channel_args_in_go_order() {
        let args = |q: &str| {
            let params = Params::parse(Some(q)).unwrap();
            params
                .topic_channel()
                .map(|(t, c)| (t.to_owned(), c.to_owned()))
                .map_err(|e| e.message)
        };
        assert_eq!(args("topic=t&channel=c"), Ok(("t".into(), "c".into())));
        assert_eq!(args("channel=c").unwrap_err(), "MISSING_ARG_TOPIC");
        assert_eq!(
            args("topic=b@d&channel=c").unwrap_err(),
            "INVALID_ARG_TOPIC"
        );
        assert_eq!(args("topic=t").unwrap_err(), "MISSING_ARG_CHANNEL");
        assert_eq!(
            args("topic=t&channel=b@d").unwrap_err(),
            "INVALID_ARG_CHANNEL"
        );
    }

    #[test]
    fn bool_params() {
        assert_eq!(parse_bool_param("1"), Some(true));
        assert_eq!(parse_bool_param("false"), Some(false));
        assert_eq!(parse_bool_param("yes"), None);
    }
}
