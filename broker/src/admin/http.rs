//! nsqadmin's HTTP server: the route table (pages, static assets, `/api/...`, `/config`),
//! the admin-user check and action notifications.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::ExtensionRejection;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use parking_lot::RwLock;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::cluster::{Cluster, ClusterError, Sources};
use super::{api, pages, AdminOptions};
pub(crate) use crate::http_api::ApiError;
use crate::http_api::{self, plain_text};

/// Shared by every handler.
pub(crate) struct AdminState {
    pub cluster: Cluster,
    /// Options; `nsqlookupd_http_addresses` can change at runtime through `PUT /config`.
    pub options: RwLock<AdminOptions>,
    /// Reported in action notifications as `via`.
    pub hostname: String,
}

impl AdminState {
    pub fn new(cluster: Cluster, options: AdminOptions) -> Self {
        Self {
            cluster,
            options: RwLock::new(options),
            hostname: crate::nsqd::host_name(),
        }
    }

    /// The upstream addresses as of now.
    pub fn sources(&self) -> Sources {
        let options = self.options.read();
        Sources {
            lookupd: options.lookupd_http_addresses.clone(),
            nsqd: options.nsqd_http_addresses.clone(),
        }
    }

    /// Go's `isAuthorizedAdminRequest`: with no `--admin-user`, everyone may act;
    /// otherwise the ACL header must name one of them.
    pub fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let options = self.options.read();
        if options.admin_users.is_empty() {
            return Ok(());
        }
        let user = headers
            .get(options.acl_http_header.as_str())
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if options.admin_users.iter().any(|u| u == user) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// POSTs an admin action to `--notification-http-endpoint` in the background.
    pub fn notify(&self, action: &str, target: ActionTarget<'_>, request: &RequestInfo) {
        let (endpoint, user) = {
            let options = self.options.read();
            let Some(endpoint) = options.notification_http_endpoint.clone() else {
                return;
            };
            let user = request
                .headers
                .get(options.acl_http_header.as_str())
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            (endpoint, user)
        };
        let notification = AdminAction {
            action: action.to_owned(),
            topic: target.topic.to_owned(),
            channel: target.channel.unwrap_or("").to_owned(),
            node: target.node.unwrap_or("").to_owned(),
            timestamp: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
            user,
            remote_ip: request.remote.ip().to_string(),
            user_agent: request
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            url: request.uri.clone(),
            via: self.hostname.clone(),
        };
        let upstream = self.cluster.upstream().clone();
        tokio::spawn(async move {
            if let Err(err) = upstream.post_json(&endpoint, &notification).await {
                tracing::warn!(%err, "failed to send admin action notification");
            }
        });
    }
}

/// What an action applied to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActionTarget<'a> {
    pub topic: &'a str,
    pub channel: Option<&'a str>,
    pub node: Option<&'a str>,
}

impl<'a> ActionTarget<'a> {
    /// The topic alone.
    pub fn topic(topic: &'a str) -> Self {
        Self {
            topic,
            channel: None,
            node: None,
        }
    }
}

/// The parts of a request a notification reports (an extractor for the action handlers).
pub(crate) struct RequestInfo {
    pub headers: HeaderMap,
    pub remote: SocketAddr,
    pub uri: String,
}

#[axum::async_trait]
impl<S: Send + Sync> FromRequestParts<S> for RequestInfo {
    type Rejection = ExtensionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ConnectInfo(remote) =
            ConnectInfo::<SocketAddr>::from_request_parts(parts, state).await?;
        Ok(RequestInfo {
            headers: parts.headers.clone(),
            remote,
            uri: parts.uri.to_string(),
        })
    }
}

/// Go nsqadmin's `AdminAction` notification body.
#[derive(Debug, Serialize)]
struct AdminAction {
    action: String,
    topic: String,
    channel: String,
    node: String,
    timestamp: i64,
    user: String,
    remote_ip: String,
    user_agent: String,
    url: String,
    via: String,
}

/// Serves until `stop` fires.
pub(crate) async fn serve(listener: TcpListener, state: Arc<AdminState>, stop: CancellationToken) {
    let app = router(state);
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop.cancelled_owned())
    .await;
    if let Err(err) = result {
        tracing::error!(%err, "nsqadmin HTTP server failed");
    }
}

fn router(state: Arc<AdminState>) -> Router {
    let base_path = state.options.read().base_path.clone();
    let routes = Router::new()
        .route("/ping", get(|| async { plain_text(StatusCode::OK, "OK") }))
        .merge(pages::routes())
        .merge(api::routes());
    if base_path.is_empty() {
        return routes.fallback(http_api::not_found).with_state(state);
    }
    // A nested `/` only matches the bare prefix; `<base>/` is the UI's root too.
    Router::new()
        .nest(&base_path, routes)
        .route(&format!("{base_path}/"), get(pages::index))
        .fallback(http_api::not_found)
        .with_state(state)
}

impl From<ClusterError> for ApiError {
    fn from(err: ClusterError) -> Self {
        tracing::error!(%err, "upstream failure");
        Self::new(StatusCode::BAD_GATEWAY, format!("UPSTREAM_ERROR: {err}"))
    }
}

/// Go's `maybeWarnMsg`: `""`, or `WARNING: a; b`.
pub(crate) fn warning(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!("WARNING: {}", errors.join("; "))
    }
}

/// Whether `ip` is inside `cidr` (`a.b.c.d/n` or an IPv6 prefix). An unparseable CIDR
/// allows nobody.
pub(crate) fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((network, bits)) = cidr.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u32>() else {
        return false;
    };
    let ip = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    match (network.parse::<IpAddr>(), ip) {
        (Ok(IpAddr::V4(net)), IpAddr::V4(ip)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (Ok(IpAddr::V6(net)), IpAddr::V6(ip)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_match_like_go() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(cidr_contains("127.0.0.1/8", local));
        assert!(cidr_contains("127.0.0.1/8", "127.9.9.9".parse().unwrap()));
        assert!(!cidr_contains("127.0.0.1/8", "10.0.0.1".parse().unwrap()));
        assert!(cidr_contains("0.0.0.0/0", "10.0.0.1".parse().unwrap()));
        assert!(cidr_contains("::1/128", "::1".parse().unwrap()));
        assert!(cidr_contains(
            "127.0.0.1/8",
            "::ffff:127.0.0.1".parse().unwrap()
        ));
        assert!(!cidr_contains("junk", local));
    }

    #[test]
    fn warnings_join_like_go() {
        assert_eq!(warning(&[]), "");
        assert_eq!(warning(&["a".into(), "b".into()]), "WARNING: a; b");
    }
}
