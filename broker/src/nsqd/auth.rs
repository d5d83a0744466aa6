//! AUTH against NSQ auth servers (`--auth-http-address`, `internal/auth` in Go nsqd): the
//! query, the reply's authorizations (topic/channel regexes and permissions), the TTL, and
//! the checks SUB/PUB/MPUB/DPUB make, with nsqd's exact error texts.

use std::time::Duration;

use bytes::Bytes;
use nsq_wire::error::ErrorCode;
use rand::seq::SliceRandom;
use regex::Regex;
use serde::Deserialize;
use tokio::time::Instant;

use super::connection::Conn;
use super::errors::{go_quote, ProtocolError};
use super::options::NsqdOptions;

/// Why an auth server query failed (never shown to clients, only logged).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No server answered with a usable reply.
    #[error("auth servers failed: {0}")]
    Unavailable(String),
}

/// The HTTP client for the auth servers of one nsqd.
#[derive(Debug, Clone)]
pub struct AuthClient {
    http: reqwest::Client,
    endpoints: Vec<String>,
    post: bool,
}

/// One authorization entry of an auth reply.
#[derive(Debug, Clone)]
pub struct Authorization {
    topic: Regex,
    channels: Vec<Regex>,
    subscribe: bool,
    publish: bool,
}

/// The outcome of a successful auth query.
#[derive(Debug, Clone)]
pub struct AuthState {
    /// Who the secret belongs to.
    pub identity: String,
    /// A URL describing the identity.
    pub identity_url: String,
    /// What the identity may do.
    pub authorizations: Vec<Authorization>,
    expires_at: Instant,
}

/// A connection's AUTH: the secret (for re-queries) and the latest state.
#[derive(Debug, Clone)]
pub struct AuthSession {
    secret: String,
    state: AuthState,
}

#[derive(Deserialize)]
struct Reply {
    ttl: i64,
    #[serde(default)]
    identity: String,
    #[serde(default)]
    identity_url: String,
    #[serde(default)]
    authorizations: Vec<ReplyAuthorization>,
}

#[derive(Deserialize)]
struct ReplyAuthorization {
    #[serde(default)]
    topic: String,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
}

impl AuthClient {
    /// The client for `--auth-http-address`, or `None` when AUTH is disabled.
    pub fn new(opts: &NsqdOptions) -> Result<Option<AuthClient>, reqwest::Error> {
        if !opts.auth_enabled() {
            return Ok(None);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(opts.http_client_connect_timeout)
            .timeout(opts.http_client_request_timeout)
            .build()?;
        let endpoints = opts
            .auth_http_address
            .iter()
            .map(|addr| {
                if addr.contains("://") {
                    addr.clone()
                } else {
                    format!("http://{addr}/auth")
                }
            })
            .collect();
        Ok(Some(AuthClient {
            http,
            endpoints,
            post: opts.auth_http_request_method.eq_ignore_ascii_case("post"),
        }))
    }

    /// Asks the auth servers (in random rotation, until one succeeds) about `secret`.
    pub async fn query(
        &self,
        secret: &str,
        remote_ip: &str,
        tls: bool,
        common_name: &str,
    ) -> Result<AuthState, AuthError> {
        let tls = if tls { "true" } else { "false" };
        // Go's url.Values.Encode sorts the keys.
        let params = [
            ("common_name", common_name),
            ("remote_ip", remote_ip),
            ("secret", secret),
            ("tls", tls),
        ];
        let mut endpoints: Vec<&String> = self.endpoints.iter().collect();
        endpoints.shuffle(&mut rand::thread_rng());
        let mut failures = Vec::new();
        for endpoint in endpoints {
            match self.query_one(endpoint, &params).await {
                Ok(state) => return Ok(state),
                Err(reason) => {
                    tracing::warn!(%endpoint, %reason, "auth server query failed");
                    failures.push(format!("{endpoint}: {reason}"));
                }
            }
        }
        Err(AuthError::Unavailable(failures.join("; ")))
    }

    async fn query_one(
        &self,
        endpoint: &str,
        params: &[(&str, &str)],
    ) -> Result<AuthState, String> {
        let request = if self.post {
            let body: serde_json::Map<String, serde_json::Value> = params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::json!([v])))
                .collect();
            self.http.post(endpoint).json(&body)
        } else {
            self.http.get(endpoint).query(params)
        };
        let response = request
            .header("Accept", "application/vnd.nsq; version=1.0")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!("got response {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        parse_reply(&body)
    }
}

/// Validates an auth server reply as nsqd does.
fn parse_reply(body: &[u8]) -> Result<AuthState, String> {
    let reply: Reply = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if reply.ttl <= 0 {
        return Err(format!("invalid TTL {}", reply.ttl));
    }
    let mut authorizations = Vec::with_capacity(reply.authorizations.len());
    for entry in reply.authorizations {
        let mut subscribe = false;
        let mut publish = false;
        for permission in &entry.permissions {
            match permission.as_str() {
                "subscribe" => subscribe = true,
                "publish" => publish = true,
                other => return Err(format!("unknown permission {other:?}")),
            }
        }
        let topic = Regex::new(&entry.topic).map_err(|e| e.to_string())?;
        let channels = entry
            .channels
            .iter()
            .map(|c| Regex::new(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        authorizations.push(Authorization {
            topic,
            channels,
            subscribe,
            publish,
        });
    }
    Ok(AuthState {
        identity: reply.identity,
        identity_url: reply.identity_url,
        authorizations,
        expires_at: Instant::now() + Duration::from_secs(reply.ttl as u64),
    })
}

impl AuthState {
    /// Whether an entry allows `topic`/`channel` (`""` channel = publish).
    pub fn is_allowed(&self, topic: &str, channel: &str) -> bool {
        self.authorizations.iter().any(|a| {
            let permitted = if channel.is_empty() {
                a.publish
            } else {
                a.subscribe
            };
            permitted && a.topic.is_match(topic) && a.channels.iter().any(|c| c.is_match(channel))
        })
    }

    fn expired(&self) -> bool {
        Instant::now() >= self.expires_at
    }
}

async fn query(
    client: AuthClient,
    secret: String,
    remote_ip: String,
    tls: bool,
    common_name: String,
) -> Result<AuthState, AuthError> {
    client.query(&secret, &remote_ip, tls, &common_name).await
}

fn auth_failed() -> ProtocolError {
    ProtocolError::new(ErrorCode::AuthFailed, "AUTH failed")
}

impl Conn {
    fn has_authorizations(&self) -> bool {
        self.auth
            .as_ref()
            .is_some_and(|s| !s.state.authorizations.is_empty())
    }

    async fn query_auth(&self, secret: &str) -> Result<AuthState, ProtocolError> {
        // Only owned values cross the await (the connection itself is not `Sync`).
        let Some(client) = self.security.auth.clone() else {
            return Err(ProtocolError::new(ErrorCode::AuthDisabled, "AUTH disabled"));
        };
        let tls = self.stream.tls();
        let is_tls = tls.is_some();
        let common_name = tls.map(|t| t.common_name.clone()).unwrap_or_default();
        let remote_ip = self.client.remote_addr.ip().to_string();
        let id = self.client.id;
        let secret = secret.to_owned();
        query(client, secret, remote_ip, is_tls, common_name)
            .await
            .map_err(|err| {
                tracing::warn!(client = id, %err, "AUTH failed");
                auth_failed()
            })
    }

    /// The AUTH command once its body is read.
    pub(super) async fn auth_command(
        &mut self,
        body: &[u8],
    ) -> Result<Option<Bytes>, ProtocolError> {
        if self.has_authorizations() {
            return Err(ProtocolError::invalid("AUTH already set"));
        }
        if self.security.auth.is_none() {
            return Err(ProtocolError::new(ErrorCode::AuthDisabled, "AUTH disabled"));
        }
        let secret = String::from_utf8_lossy(body).into_owned();
        let state = self.query_auth(&secret).await?;
        let reply = serde_json::json!({
            "identity": state.identity,
            "identity_url": state.identity_url,
            "permission_count": state.authorizations.len(),
        });
        {
            let mut info = self.client.info.lock();
            info.authed = true;
            info.auth_identity = state.identity.clone();
            info.auth_identity_url = state.identity_url.clone();
        }
        let empty = state.authorizations.is_empty();
        self.auth = Some(AuthSession { secret, state });
        if empty {
            return Err(ProtocolError::new(
                ErrorCode::Unauthorized,
                "AUTH no authorizations found",
            ));
        }
        let json = serde_json::to_vec(&reply)
            .map_err(|_| ProtocolError::new(ErrorCode::AuthError, "AUTH error"))?;
        Ok(Some(Bytes::from(json)))
    }

    /// nsqd's `CheckAuth`: when AUTH is enabled, `cmd` on `topic`/`channel` needs a
    /// matching authorization (re-queried once the TTL expired).
    pub(super) async fn check_auth(
        &mut self,
        cmd: &str,
        topic: &[u8],
        channel: &[u8],
    ) -> Result<(), ProtocolError> {
        if self.security.auth.is_none() {
            return Ok(());
        }
        if !self.has_authorizations() {
            return Err(ProtocolError::new(
                ErrorCode::AuthFirst,
                format!("AUTH required before {cmd}"),
            ));
        }
        let expired = self.auth.as_ref().is_some_and(|s| s.state.expired());
        if expired {
            let secret = self
                .auth
                .as_ref()
                .map(|s| s.secret.clone())
                .unwrap_or_default();
            let state = self.query_auth(&secret).await?;
            if let Some(session) = &mut self.auth {
                session.state = state;
            }
        }
        let allowed = self.auth.as_ref().is_some_and(|s| {
            s.state.is_allowed(
                &String::from_utf8_lossy(topic),
                &String::from_utf8_lossy(channel),
            )
        });
        if !allowed {
            return Err(ProtocolError::new(
                ErrorCode::Unauthorized,
                format!(
                    "AUTH failed for {cmd} on {} {}",
                    go_quote(topic),
                    go_quote(channel)
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_validated_like_nsqd() {
        assert!(parse_reply(br#"{"ttl":0,"authorizations":[]}"#).is_err());
        assert!(parse_reply(
            br#"{"ttl":5,"authorizations":[{"topic":".*","channels":[".*"],"permissions":["admin"]}]}"#
        )
        .is_err());
        assert!(parse_reply(
            br#"{"ttl":5,"authorizations":[{"topic":"(","channels":[".*"],"permissions":["publish"]}]}"#
        )
        .is_err());
        assert!(parse_reply(b"not json").is_err());
    }

    #[test]
    fn permissions_topics_and_channels() {
        let state = parse_reply(
            br#"{"ttl":60,"identity":"me","authorizations":[
                {"topic":"^orders$","channels":[".*"],"permissions":["publish"]},
                {"topic":"logs","channels":["^archive$"],"permissions":["subscribe"]}]}"#,
        )
        .unwrap();
        assert_eq!(state.identity, "me");
        assert!(state.is_allowed("orders", ""));
        assert!(!state.is_allowed("orders2", ""));
        assert!(!state.is_allowed("orders", "c"), "publish-only entry");
        assert!(
            state.is_allowed("app-logs", "archive"),
            "unanchored topic regex"
        );
        assert!(!state.is_allowed("logs", "other"));
        assert!(!state.is_allowed("logs", ""), "subscribe-only entry");
    }

    #[test]
    fn publish_needs_a_channel_regex_matching_empty() {
        let state = parse_reply(
            br#"{"ttl":60,"authorizations":[{"topic":".*","channels":["^c$"],"permissions":["publish","subscribe"]}]}"#,
        )
        .unwrap();
        assert!(!state.is_allowed("t", ""));
        assert!(state.is_allowed("t", "c"));
    }
}
