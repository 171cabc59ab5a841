//! Logs (tracing) and metrics (Prometheus).
//!
//! Logs carry request ids, routes, statuses, review actions and latencies, never patient
//! names, identifiers, birth dates or clinical values. Logs go to stderr so that `evaluate`
//! keeps stdout for the response.
//!
//! # Logging never stalls or stops the server
//! Lines are handed to a background writer through a bounded queue
//! ([`tracing_appender::non_blocking`], lossy): a request never waits for stderr. A line that
//! finds the queue full, or that stderr refuses (a full disk, `2>/dev/full`, a closed pipe), is
//! dropped and counted ([`dropped_log_lines`], exported as `pas_log_lines_dropped_total`)
//! instead of blocking the request or aborting the process.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Request count by route, method and status.
pub const REQUESTS: &str = "pas_http_requests_total";
/// Request latency by route, in seconds.
pub const LATENCY: &str = "pas_http_request_duration_seconds";
/// Item answers by X12 306 review action.
pub const REVIEW_ACTIONS: &str = "pas_review_actions_total";

/// Log lines dropped since start.
pub const LOG_LINES_DROPPED: &str = "pas_log_lines_dropped_total";

/// Lines the log queue held at most before new lines are dropped: a burst of a few thousand
/// requests is logged whole, a stalled stderr costs at most this many lines of memory.
const LOG_QUEUE_LINES: usize = 16_384;

/// Lines stderr refused (write errors), counted by [`FallibleStderr`].
static WRITE_FAILURES: AtomicU64 = AtomicU64::new(0);
/// The queue's own count of lines dropped because it was full.
static QUEUE_DROPS: OnceLock<tracing_appender::non_blocking::ErrorCounter> = OnceLock::new();

/// Log lines lost so far: refused by stderr or dropped because the queue was full.
pub fn dropped_log_lines() -> u64 {
    let queue = QUEUE_DROPS.get().map_or(0, |c| c.dropped_lines() as u64);
    WRITE_FAILURES.load(Ordering::Relaxed) + queue
}

/// Stderr for the background log writer: a line stderr refuses is counted and reported as
/// written, so the writer goes on with the next line rather than failing.
struct FallibleStderr;

impl Write for FallibleStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::io::stderr().write_all(buf).is_err() {
            WRITE_FAILURES.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Stderr is unbuffered; a failed flush has nothing left to lose.
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Flushes the queued log lines when dropped: hold it until the process ends.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Installs the global tracing subscriber and the panic hook; a second call is a no-op (its
/// guard holds nothing).
pub fn init_tracing(filter: &str, format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("pas-log-writer")
        .finish(FallibleStderr);
    let drops = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if installed.is_err() {
        return LogGuard { _writer: None };
    }
    let _ = QUEUE_DROPS.set(drops);
    install_panic_hook();
    LogGuard {
        _writer: Some(guard),
    }
}

/// Writes one line to stderr for people and scripts (`listening on ADDR`), never failing:
/// `eprintln!` panics when stderr cannot be written.
pub fn stderr_line(line: std::fmt::Arguments<'_>) {
    let mut stderr = std::io::stderr().lock();
    if stderr
        .write_fmt(line)
        .and_then(|()| stderr.write_all(b"\n"))
        .is_err()
    {
        WRITE_FAILURES.fetch_add(1, Ordering::Relaxed);
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
