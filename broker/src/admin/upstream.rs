//! The HTTP client nsqadmin uses to talk to nsqd and nsqlookupd (Go's `http_api.Client`):
//! connect and request timeouts, V1 JSON replies, errors that name the failing address.

use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

/// A failed upstream call; the text names the endpoint so the UI can show which node failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Connecting, sending or reading failed (including timeouts).
    #[error("{url}: {source}")]
    Transport {
        /// The endpoint.
        url: String,
        /// The cause.
        source: reqwest::Error,
    },
    /// The upstream answered with a non-2xx status.
    #[error("{url}: status {status}: {body}")]
    Status {
        /// The endpoint.
        url: String,
        /// The HTTP status.
        status: StatusCode,
        /// The reply body (NSQ puts `{"message":"..."}` there).
        body: String,
    },
    /// The reply was not the JSON we expected.
    #[error("{url}: bad JSON reply: {source}")]
    Decode {
        /// The endpoint.
        url: String,
        /// The parse error.
        source: serde_json::Error,
    },
}

impl UpstreamError {
    /// The HTTP status, when the upstream answered at all.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            UpstreamError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An HTTP client for NSQ daemons' V1 APIs.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
}

impl Upstream {
    /// A client with Go nsqadmin's two timeouts.
    pub fn new(
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(request_timeout)
            .user_agent(concat!("nsqadmin/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }

    /// `GET http://<address><path>` with `query`, decoding the JSON reply.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        address: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, UpstreamError> {
        let url = endpoint(address, path);
        let request = self.client.get(&url).query(query);
        let body = send(request, &url).await?;
        serde_json::from_slice(&body).map_err(|source| UpstreamError::Decode { url, source })
    }

    /// `POST http://<address><path>` with `query` and an empty body.
    pub async fn post(
        &self,
        address: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(), UpstreamError> {
        let url = endpoint(address, path);
        let request = self.client.post(&url).query(query);
        send(request, &url).await.map(|_| ())
    }

    /// `POST <url>` with a JSON body (admin action notifications).
    pub async fn post_json<T: serde::Serialize>(
        &self,
        url: &str,
        body: &T,
    ) -> Result<(), UpstreamError> {
        let request = self.client.post(url).json(body);
        send(request, url).await.map(|_| ())
    }
}

async fn send(request: reqwest::RequestBuilder, url: &str) -> Result<bytes::Bytes, UpstreamError> {
    let transport = |source| UpstreamError::Transport {
        url: url.to_owned(),
        source,
    };
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let body = response.bytes().await.map_err(transport)?;
    if !status.is_success() {
        return Err(UpstreamError::Status {
            url: url.to_owned(),
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    Ok(body)
}

/// `host:port` becomes `http://host:port`; a full `http(s)://` URL is kept.
fn endpoint(address: &str, path: &str) -> String {
    let base = address.trim_end_matches('/');
    if base.starts_with("http://") || base.starts_with("https://") {
        format!("{base}{path}")
    } else {
        format!("http://{base}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn endpoints_get_a_scheme_once() {
        assert_eq!(
            endpoint("127.0.0.1:4161", "/nodes"),
            "http://127.0.0.1:4161/nodes"
        );
        assert_eq!(endpoint("https://h:1/", "/stats"), "https://h:1/stats");
    }
}
