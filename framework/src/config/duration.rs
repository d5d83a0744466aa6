//! Serde helpers for durations written as human-readable strings (`"500ms"`, `"30s"`,
//! `"2m"`), for config structs: `#[serde(with = "framework::config::duration")]`.

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

/// Deserializes `"1s"`-style strings.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text).map_err(serde::de::Error::custom)
}

/// Serializes as a `"1s"`-style string.
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&humantime::format_duration(*duration).to_string())
}

/// The same for `Option<Duration>`: `#[serde(default, with = "framework::config::duration::option")]`.
pub mod option {
    use super::*;

    /// Deserializes an optional `"1s"`-style string.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => humantime::parse_duration(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }

    /// Serializes an optional duration.
    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(duration) => super::serialize(duration, serializer),
            None => serializer.serialize_none(),
        }
    }
}
