//! nsqd's HTTP API (see `spec/nsqd-http.md`): `/ping`, `/info`, `/stats`, `/pub`, `/mpub`,
//! topic and channel administration and `/config/:opt`, with nsqd's "V1" response format,
//! status codes and error messages.
//!
//! Handlers read arguments from the query string only; bodies carry data for `/pub`, `/mpub`
//! and `PUT /config/:opt`. Unknown paths are 404 `NOT_FOUND`, known paths with another method
//! 405 `METHOD_NOT_ALLOWED`.

mod admin;
mod body;
mod config;
mod info;
mod log_level;
mod publish;
pub mod stats;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use super::context::NsqdContext;
use crate::http_api::{self, only};
pub use crate::http_api::{ApiError, ApiResult, Reply, NSQ_CONTENT_TYPE};
pub use log_level::install_log_level_setter;

/// The nsqd HTTP routes, sharing `ctx` with the TCP side.
pub fn router(ctx: NsqdContext) -> Router {
    let routes = Router::new()
        .route("/ping", only(get(info::ping), "GET"))
        .route("/info", only(get(info::info), "GET"))
        .route("/stats", only(get(info::stats), "GET"))
        .route("/metrics", only(get(crate::metrics::nsqd::handler), "GET"))
        .route("/pub", only(post(publish::publish), "POST"))
        .route("/mpub", only(post(publish::multi_publish), "POST"))
        .route("/topic/create", only(post(admin::topic_create), "POST"))
        .route("/topic/delete", only(post(admin::topic_delete), "POST"))
        .route("/topic/empty", only(post(admin::topic_empty), "POST"))
        .route("/topic/pause", only(post(admin::topic_pause), "POST"))
        .route("/topic/unpause", only(post(admin::topic_unpause), "POST"))
        .route("/channel/create", only(post(admin::channel_create), "POST"))
        .route("/channel/delete", only(post(admin::channel_delete), "POST"))
        .route("/channel/empty", only(post(admin::channel_empty), "POST"))
        .route("/channel/pause", only(post(admin::channel_pause), "POST"))
        .route(
            "/channel/unpause",
            only(post(admin::channel_unpause), "POST"),
        )
        .route(
            "/config/:opt",
            only(get(config::get_option).put(config::put_option), "GET, PUT"),
        );
    // Bodies are bounded by each handler (max-msg-size / max-body-size), not by axum.
    http_api::finish(routes)
        .layer(DefaultBodyLimit::disable())
        .with_state(ctx)
}
