//! nsqlookupd discovery over HTTP: builds the `/lookup?topic=` URL the way go-nsq does,
//! queries one lookupd per poll (round-robin, up to 3 tries), parses both the current and the
//! legacy (`status_code`/`data`) reply shapes, and schedules polls with go-nsq's jitter.

use std::time::Duration;

use rand::Rng;
use reqwest::Url;
use serde::Deserialize;

/// A discovery failure.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The configured lookupd address cannot be turned into a URL.
    #[error("invalid lookupd address {addr:?}: {reason}")]
    BadAddress {
        /// The address as configured.
        addr: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The HTTP request failed.
    #[error("lookupd request to {url} failed: {source}")]
    Http {
        /// The URL queried.
        url: String,
        /// The underlying error.
        source: reqwest::Error,
    },
    /// lookupd answered with a status other than 200 or 404.
    #[error("lookupd {url} answered HTTP {status}")]
    Status {
        /// The URL queried.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The body is not a lookup reply.
    #[error("lookupd {url} sent an unreadable reply: {reason}")]
    BadReply {
        /// The URL queried.
        url: String,
        /// The parse error.
        reason: String,
    },
    /// No lookupd address is configured.
    #[error("no lookupd address configured")]
    NoAddresses,
}

/// One nsqd as nsqlookupd reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LookupProducer {
    /// Address to connect to.
    pub broadcast_address: String,
    /// nsqd TCP port.
    pub tcp_port: u16,
    /// nsqd HTTP port.
    #[serde(default)]
    pub http_port: u16,
    /// nsqd hostname.
    #[serde(default)]
    pub hostname: String,
    /// nsqd version.
    #[serde(default)]
    pub version: String,
}

impl LookupProducer {
    /// `broadcast_address:tcp_port`, with IPv6 addresses bracketed (Go's `net.JoinHostPort`).
    pub fn tcp_address(&self) -> String {
        join_host_port(&self.broadcast_address, self.tcp_port)
    }
}

/// Go's `net.JoinHostPort`.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[derive(Debug, Deserialize)]
struct LookupBody {
    producers: Vec<LookupProducer>,
}

#[derive(Debug, Deserialize)]
struct LegacyLookupBody {
    data: LookupBody,
}

/// Builds the lookup URL: `http://` added when no scheme, path `/lookup` when none, and
/// `topic=<topic>` added to the query (go-nsq `queryLookupd`).
pub fn lookup_url(addr: &str, topic: &str) -> Result<Url, LookupError> {
    let with_scheme = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| LookupError::BadAddress {
        addr: addr.to_string(),
        reason: e.to_string(),
    })?;
    if url.path().is_empty() || url.path() == "/" {
        url.set_path("/lookup");
    }
    url.query_pairs_mut().append_pair("topic", topic);
    Ok(url)
}

/// Parses a lookup reply body; `nsq_content_type` is the `X-NSQ-Content-Type` header.
pub fn parse_lookup_reply(
    nsq_content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<LookupProducer>, String> {
    let current = nsq_content_type.is_some_and(|v| v.trim() == "nsq; version=1.0");
    if current {
        return serde_json::from_slice::<LookupBody>(body)
            .map(|b| b.producers)
            .map_err(|e| e.to_string());
    }
    // Without the header, accept the legacy envelope and (leniently) the bare shape.
    match serde_json::from_slice::<LegacyLookupBody>(body) {
        Ok(b) => Ok(b.data.producers),
        Err(legacy_err) => serde_json::from_slice::<LookupBody>(body)
            .map(|b| b.producers)
            .map_err(|_| legacy_err.to_string()),
    }
}

/// Queries a set of lookupds for one topic, rotating between them.
#[derive(Debug, Clone)]
pub struct Lookupd {
    http: reqwest::Client,
    addrs: Vec<String>,
    next: usize,
    auth_secret: String,
}

impl Lookupd {
    /// A client for `addrs` with the given request timeout; `auth_secret`, when not empty,
    /// is sent as `Authorization: Bearer` (go-nsq does the same).
    pub fn new(addrs: Vec<String>, timeout: Duration, auth_secret: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        Self {
            http,
            addrs,
            next: 0,
            auth_secret: auth_secret.to_string(),
        }
    }

    /// Adds a lookupd address (ignored if already present).
    pub fn add(&mut self, addr: &str) {
        if !self.addrs.iter().any(|a| a == addr) {
            self.addrs.push(addr.to_string());
        }
    }

    /// True when no address is configured.
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// One poll: asks the next lookupd; on error tries the following ones, 3 tries at most.
    /// A 404 (topic not known yet) is an empty result, not an error.
    pub async fn poll(&mut self, topic: &str) -> Result<Vec<LookupProducer>, LookupError> {
        if self.addrs.is_empty() {
            return Err(LookupError::NoAddresses);
        }
        let tries = self.addrs.len().min(3);
        let mut last_err = LookupError::NoAddresses;
        for _ in 0..tries {
            let addr = self.addrs[self.next % self.addrs.len()].clone();
            self.next = (self.next + 1) % self.addrs.len();
            match self.query(&addr, topic).await {
                Ok(producers) => return Ok(producers),
                Err(e) => {
                    tracing::warn!(lookupd = %addr, error = %e, "lookupd query failed");
                    last_err = e;
                }
            }
        }
        Err(last_err)
    }

    async fn query(&self, addr: &str, topic: &str) -> Result<Vec<LookupProducer>, LookupError> {
        let url = lookup_url(addr, topic)?;
        let url_text = url.to_string();
        let mut request = self
            .http
            .get(url)
            .header("Accept", "application/vnd.nsq; version=1.0");
        if !self.auth_secret.is_empty() {
            request = request.bearer_auth(&self.auth_secret);
        }
        let http_err = |source| LookupError::Http {
            url: url_text.clone(),
            source,
        };
        let response = request.send().await.map_err(http_err)?;
        let status = response.status().as_u16();
        if status == 404 {
            return Ok(Vec::new());
        }
        if status != 200 {
            return Err(LookupError::Status {
                url: url_text,
                status,
            });
        }
        let content_type = response
            .headers()
            .get("X-NSQ-Content-Type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.bytes().await.map_err(http_err)?;
        parse_lookup_reply(content_type.as_deref(), &body).map_err(|reason| LookupError::BadReply {
            url: url_text,
            reason,
        })
    }
}

/// The random delay before the second poll: uniform in `[0, jitter × interval)`.
pub fn initial_poll_jitter(interval: Duration, jitter: f64, rng: &mut impl Rng) -> Duration {
    let max = interval.mul_f64(jitter.clamp(0.0, 1.0));
    if max.is_zero() {
        Duration::ZERO
    } else {
        Duration::from_nanos(rng.gen_range(0..max.as_nanos().min(u64::MAX as u128) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn url_normalisation() {
        assert_eq!(
            lookup_url("127.0.0.1:4161", "t").unwrap().as_str(),
            "http://127.0.0.1:4161/lookup?topic=t"
        );
        assert_eq!(
            lookup_url("https://lookup.example:4161/", "t")
                .unwrap()
                .as_str(),
            "https://lookup.example:4161/lookup?topic=t"
        );
        assert_eq!(
            lookup_url("http://h:1/custom?x=1", "a.b").unwrap().as_str(),
            "http://h:1/custom?x=1&topic=a.b"
        );
        assert!(lookup_url("http://", "t").is_err());
    }

    #[test]
    fn parses_current_and_legacy_replies() {
        let current = br#"{"channels":["c"],"producers":[{"remote_address":"127.0.0.1:5","hostname":"h","broadcast_address":"10.0.0.1","tcp_port":4150,"http_port":4151,"version":"1.3.0"}]}"#;
        let p = parse_lookup_reply(Some("nsq; version=1.0"), current).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].tcp_address(), "10.0.0.1:4150");
        let legacy = br#"{"status_code":200,"status_txt":"OK","data":{"channels":[],"producers":[{"broadcast_address":"::1","tcp_port":4150}]}}"#;
        let p = parse_lookup_reply(None, legacy).unwrap();
        assert_eq!(p[0].tcp_address(), "[::1]:4150");
        assert!(parse_lookup_reply(None, current).unwrap().len() == 1);
        assert!(parse_lookup_reply(Some("nsq; version=1.0"), b"garbage").is_err());
        assert!(parse_lookup_reply(None, b"{\"data\":5}").is_err());
    }

    #[test]
    fn jitter_is_below_its_bound() {
        let mut rng = StdRng::seed_from_u64(9);
        for _ in 0..100 {
            let d = initial_poll_jitter(Duration::from_secs(60), 0.3, &mut rng);
            assert!(d < Duration::from_secs(18));
        }
        assert_eq!(
            initial_poll_jitter(Duration::from_secs(60), 0.0, &mut rng),
            Duration::ZERO
        );
    }

    #[tokio::test]
    async fn no_addresses_is_an_error() {
        let mut l = Lookupd::new(Vec::new(), Duration::from_secs(1), "");
        assert!(matches!(l.poll("t").await, Err(LookupError::NoAddresses)));
    }
}
