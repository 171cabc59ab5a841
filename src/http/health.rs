//! `GET /healthz` and `GET /metrics` (Prometheus text format).

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// What `/metrics` reads besides the recorder: the store, for the review-case gauges.
#[derive(Clone)]
pub struct ReviewGauges {
    pub store: crate::store::Store,
    pub clock: crate::review::ReviewClock,
}

pub async fn metrics(handle: &PrometheusHandle, review: Option<&ReviewGauges>) -> Response {
    // Counted by the log writer outside any request; brought up to date when scraped.
    metrics::counter!(crate::telemetry::LOG_LINES_DROPPED)
        .absolute(crate::telemetry::dropped_log_lines());
    // The review gauges are read from the store at each scrape.
    if let Some(review) = review
        && let Err(error) = crate::review::refresh_metrics(&review.store, &review.clock).await
    {
        tracing::warn!(%error, "review metrics not refreshed");
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}
