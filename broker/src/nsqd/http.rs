//! nsqd's HTTP API. This file serves `GET /ping`; the rest of the API is added here by the
//! HTTP layer on top of the same [`NsqdContext`].

use axum::extract::State;
use axum::routing::get;
use axum::Router;

use super::context::NsqdContext;

/// The HTTP router of an nsqd, sharing its context.
pub fn router(ctx: NsqdContext) -> Router {
    Router::new().route("/ping", get(ping)).with_state(ctx)
}

/// `GET /ping`: `OK` while healthy, 500 with `NOK - <error>` otherwise.
async fn ping(State(ctx): State<NsqdContext>) -> (axum::http::StatusCode, String) {
    if ctx.is_healthy() {
        (axum::http::StatusCode::OK, "OK".into())
    } else {
        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, ctx.health())
    }
}
