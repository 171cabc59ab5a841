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
    // Counted by the log writer outside any request; brought up to date when scraped.
    metrics::counter!(crate::telemetry::LOG_LINES_DROPPED)
        .absolute(crate::telemetry::dropped_log_lines());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
