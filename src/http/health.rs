//! `GET /healthz` and `GET /metrics` (Prometheus text format).

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub fn metrics(handle: &PrometheusHandle) -> Response {
    // Counted by the log writer outside any request; brought up to date when scraped.
    metrics::counter!(crate::telemetry::LOG_LINES_DROPPED)
        .absolute(crate::telemetry::dropped_log_lines());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}
