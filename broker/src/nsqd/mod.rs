//! nsqd: topics, channels, the TCP protocol V2 and the HTTP API.
pub mod metadata;
