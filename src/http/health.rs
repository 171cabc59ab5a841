//! `GET /healthz` and `GET /metrics` (Prometheus text format).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::router::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    // review: the review gauges are read from the store at each scrape.
    if let Some(store) = state.service.store()
        && let Err(error) =
            crate::review::refresh_metrics(store, state.service.review_clock()).await
    {
        tracing::warn!(%error, "review metrics not refreshed");
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
