//! Logs (tracing) and metrics (Prometheus).
//!
//! Logs carry request ids, routes, statuses, review actions and latencies, never patient
//! names, identifiers, birth dates or clinical values. Logs go to stderr so that `evaluate`
//! keeps stdout for the response.

use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Request count by route, method and status.
pub const REQUESTS: &str = "pas_http_requests_total";
/// Request latency by route, in seconds.
pub const LATENCY: &str = "pas_http_request_duration_seconds";
/// Item answers by X12 306 review action.
pub const REVIEW_ACTIONS: &str = "pas_review_actions_total";

/// Installs the global tracing subscriber and the panic hook; a second call is a no-op.
pub fn init_tracing(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if installed.is_ok() {
        install_panic_hook();
    }
}

/// Replaces the default panic hook, which prints the panic message to stderr: a message can
/// quote a value from the request (`unwrap` on a parse error of a patient's field). The hook
/// logs where the panic happened, in the current request's span, and not the message; the
/// server answers the request 500 and keeps serving.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown".to_owned());
        tracing::error!(%location, "panicked (message withheld: it may quote request data)");
    }));
}

/// The process-wide Prometheus recorder's handle, installed on first use (tests build many
/// routers in one process; the global recorder can be installed only once).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(LATENCY.into()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
            }
            handle
        })
        .clone()
}
