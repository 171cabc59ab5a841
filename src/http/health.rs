//! `GET /healthz` and `GET /metrics` (Prometheus text format).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::store::{Store, StoreHealth};

/// `GET /healthz`: 200 when the server can answer and record requests; 503 (with
/// `Retry-After`) while the store cannot take writes or answer a read, so that a load
/// balancer stops sending this instance requests it would have to refuse. The body says
/// which; it never carries the database's error text (this route is open).
pub async fn healthz(store: Option<&Store>) -> Response {
    let Some(store) = store else {
        return Json(json!({"status": "ok", "store": "none"})).into_response();
    };
    let (status, body) = match store.health().await {
        StoreHealth::Ready => (StatusCode::OK, json!({"status": "ok", "store": "ready"})),
        StoreHealth::WritesFailing { since } => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "status": "unavailable",
                "store": "writes failing",
                "since": since.to_rfc3339_opts(SecondsFormat::Secs, true),
            }),
        ),
        StoreHealth::Unreachable => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unavailable", "store": "not answering"}),
        ),
    };
    let mut response = (status, Json(body)).into_response();
    if !status.is_success() {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(crate::pas::check::RETRY_AFTER_UNAVAILABLE),
        );
    }
    response
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
