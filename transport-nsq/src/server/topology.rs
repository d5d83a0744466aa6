//! Finding every nsqd (configured, or listed by nsqlookupd's `/nodes`) and creating declared
//! topics and channels on them through nsqd's HTTP API (`POST /topic/create`,
//! `POST /channel/create`), so that messages published before the first consumer connects
//! wait in the channel instead of going only to whichever channel subscribes first.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Url;

use crate::lookupd::{parse_lookup_reply, LookupProducer};
use crate::settings::NsqConfig;

/// Why the cluster could not be inspected or prepared.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// An address does not make a URL.
    #[error("invalid HTTP address {addr:?}: {reason}")]
    BadAddress {
        /// The address as configured.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The HTTP request failed.
    #[error("{url}: {reason}")]
    Http {
        /// The URL requested.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The response body.
        body: String,
    },
}

/// A topic to create, with the channels to create in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Declared {
    /// Topic name.
    pub topic: String,
    /// Channel names (none for a dead-letter topic).
    pub channels: BTreeSet<String>,
}

/// The nsqd of the cluster, as far as configuration and lookupd tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Nodes {
    /// nsqd TCP addresses.
    pub tcp: Vec<String>,
    /// nsqd HTTP addresses.
    pub http: Vec<String>,
}

/// HTTP access to nsqd and lookupd.
#[derive(Clone, Debug)]
pub(crate) struct Topology {
    http: reqwest::Client,
}

fn base_url(addr: &str) -> Result<Url, TopologyError> {
    let text = if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    Url::parse(&text).map_err(|e| TopologyError::BadAddress {
        addr: addr.to_string(),
        reason: e.to_string(),
    })
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !list.contains(&value) {
        list.push(value);
    }
}

impl Topology {
    pub(crate) fn new(timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        Topology { http }
    }

    /// Configured nsqd plus every nsqd listed by the configured lookupds (a lookupd that
    /// does not answer is logged and skipped).
    pub(crate) async fn nodes(&self, config: &NsqConfig) -> Nodes {
        let mut nodes = Nodes {
            tcp: config.nsqd_tcp_addresses.clone(),
            http: config.nsqd_http_addresses.clone(),
        };
        for lookupd in &config.lookupd_http_addresses {
            match self.lookupd_nodes(lookupd).await {
                Ok(producers) => {
                    for p in producers {
                        push_unique(&mut nodes.tcp, p.tcp_address());
                        if p.http_port != 0 {
                            let http =
                                crate::lookupd::join_host_port(&p.broadcast_address, p.http_port);
                            push_unique(&mut nodes.http, http);
                        }
                    }
                }
                Err(err) => tracing::warn!(%lookupd, %err, "lookupd /nodes failed; skipping it"),
            }
        }
        nodes
    }

    async fn lookupd_nodes(&self, lookupd: &str) -> Result<Vec<LookupProducer>, TopologyError> {
        let url = base_url(lookupd)?
            .join("nodes")
            .map_err(|e| TopologyError::BadAddress {
                addr: lookupd.to_string(),
                reason: e.to_string(),
            })?;
        let (content_type, body) = self.send(self.http.get(url.clone()), &url).await?;
        parse_lookup_reply(content_type.as_deref(), &body).map_err(|reason| TopologyError::Http {
            url: url.to_string(),
            reason,
        })
    }

    /// Creates every declared topic and channel on the nsqd at `http_addr`.
    ///
    /// Missing channels of an existing, unpaused topic are created while the topic is
    /// paused, so messages waiting in the topic are copied to every declared channel rather
    /// than only to the first one created.
    pub(crate) async fn create(
        &self,
        http_addr: &str,
        declared: &[Declared],
    ) -> Result<(), TopologyError> {
        let base = base_url(http_addr)?;
        for item in declared {
            self.post(&base, "topic/create", &[("topic", &item.topic)])
                .await?;
            if item.channels.is_empty() {
                continue;
            }
            let (existing, paused) = match self.topic_state(&base, &item.topic).await {
                Ok(state) => state,
                Err(err) => {
                    tracing::debug!(nsqd = %http_addr, %err, "nsqd /stats unavailable; creating channels without pausing");
                    (BTreeSet::new(), true)
                }
            };
            let missing: Vec<&String> = item.channels.difference(&existing).collect();
            if missing.is_empty() {
                continue;
            }
            if !paused {
                self.post(&base, "topic/pause", &[("topic", &item.topic)])
                    .await?;
            }
            let mut created = Ok(());
            for channel in &missing {
                created = self
                    .post(
                        &base,
                        "channel/create",
                        &[("topic", &item.topic), ("channel", channel)],
                    )
                    .await;
                if created.is_err() {
                    break;
                }
            }
            if !paused {
                self.post(&base, "topic/unpause", &[("topic", &item.topic)])
                    .await?;
            }
            created?;
            tracing::debug!(nsqd = %http_addr, topic = %item.topic, channels = ?missing, "declared");
        }
        Ok(())
    }

    async fn post(
        &self,
        base: &Url,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(), TopologyError> {
        let mut url = base.join(path).map_err(|e| TopologyError::BadAddress {
            addr: base.to_string(),
            reason: e.to_string(),
        })?;
        url.query_pairs_mut().extend_pairs(query);
        self.send(self.http.post(url.clone()), &url)
            .await
            .map(|_| ())
    }

    /// The channels `topic` has on this nsqd and whether the topic is paused (`/stats`).
    async fn topic_state(
        &self,
        base: &Url,
        topic: &str,
    ) -> Result<(BTreeSet<String>, bool), TopologyError> {
        let mut url = base.join("stats").map_err(|e| TopologyError::BadAddress {
            addr: base.to_string(),
            reason: e.to_string(),
        })?;
        url.query_pairs_mut()
            .append_pair("format", "json")
            .append_pair("topic", topic);
        let (_, body) = self.send(self.http.get(url.clone()), &url).await?;
        let bad = |reason: String| TopologyError::Http {
            url: url.to_string(),
            reason,
        };
        let stats: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
        let stats = stats.get("data").unwrap_or(&stats);
        let topics = stats
            .get("topics")
            .and_then(|t| t.as_array())
            .ok_or_else(|| bad("no topics in /stats".into()))?;
        let Some(entry) = topics.iter().find(|t| t["topic_name"] == topic) else {
            return Ok((BTreeSet::new(), false));
        };
        let channels = entry["channels"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|c| c["channel_name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok((channels, entry["paused"].as_bool().unwrap_or(false)))
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<(Option<String>, bytes::Bytes), TopologyError> {
        let http_error = |e: reqwest::Error| TopologyError::Http {
            url: url.to_string(),
            reason: e.to_string(),
        };
        let response = request.send().await.map_err(http_error)?;
        let status = response.status();
        let content_type = response
            .headers()
            .get("X-NSQ-Content-Type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.bytes().await.map_err(http_error)?;
        if !status.is_success() {
            return Err(TopologyError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).trim().to_string(),
            });
        }
        Ok((content_type, body))
    }
}

/// Groups `(topic, channel)` pairs and bare topics into [`Declared`] entries.
pub fn declare<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Vec<Declared> {
    let mut declared: Vec<Declared> = Vec::new();
    for (topic, channel) in pairs {
        let index = match declared.iter().position(|d| d.topic == topic) {
            Some(index) => index,
            None => {
                declared.push(Declared {
                    topic: topic.to_string(),
                    channels: BTreeSet::new(),
                });
                declared.len() - 1
            }
        };
        if let Some(channel) = channel {
            declared[index].channels.insert(channel.to_string());
        }
    }
    declared
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declare_groups_channels_by_topic() {
        let declared = declare([
            ("orders", Some("email")),
            ("orders.dlq", None),
            ("orders", Some("analytics")),
        ]);
        assert_eq!(declared.len(), 2);
        assert_eq!(declared[0].topic, "orders");
        assert_eq!(
            declared[0].channels.iter().collect::<Vec<_>>(),
            ["analytics", "email"]
        );
        assert!(declared[1].channels.is_empty());
    }

    #[test]
    fn base_urls_accept_bare_and_schemed_addresses() {
        assert_eq!(
            base_url("127.0.0.1:4151").unwrap().as_str(),
            "http://127.0.0.1:4151/"
        );
        assert_eq!(base_url("http://h:1").unwrap().as_str(), "http://h:1/");
        assert!(base_url("::bad::").is_err());
    }
}
