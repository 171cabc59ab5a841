//! The server's own limits (time, concurrency, body bytes) and the accept loop that serves the
//! router.
//!
//! `axum::serve` sets no header-read timeout (hyper applies one only when given a timer), so
//! the loop is written here over hyper's HTTP/1.1 connection builder: the same server axum
//! would run, plus the timer, plus a graceful shutdown that lets every request in flight
//! finish before the process exits.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{BoxError, ServiceBuilder};

use super::body::{self, BodyReader};
use super::error::fhir_json;
use crate::fhir::{Issue, IssueType, operation_outcome};

/// What the server allows a client, besides the request limits of [`crate::pas::Limits`]
/// (whose `max_body_bytes` is the body size limit enforced here too).
///
/// A request goes through them in this order: its headers within `header_read_timeout`; its
/// body (if any) read in full within `body_read_timeout` and within the byte budget
/// `max_body_bytes_in_flight`, before it holds anything else; then a slot among
/// `max_in_flight`, held while the handler runs, within `request_timeout`. So a slow client
/// holds no slot, and the memory bodies pin is bounded by the budget, not by the count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Longest a request may take once its body is in and it holds an in-flight slot, i.e.
    /// the handler's time (503 `timeout` with `Retry-After` after it). The body upload is
    /// bounded apart, by `body_read_timeout`.
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers; the connection is closed after
    /// it. Also how long an idle keep-alive connection is kept.
    pub header_read_timeout: Duration,
    /// Longest a client may take to send a request's body once its headers are in (408
    /// `timeout` after it, and the connection closed). Much shorter than `request_timeout`: a
    /// gateway sends a whole body in milliseconds.
    pub body_read_timeout: Duration,
    /// Most requests processed at once on the PAS routes; more are answered 503 `transient`
    /// at once rather than queued, so that the gateway can retry elsewhere. A request takes
    /// its slot only once its body has been read.
    pub max_in_flight: usize,
    /// Most request body bytes held at once, by bodies being read and by requests in flight,
    /// each counted at its declared `Content-Length` (a chunked body at the body limit while
    /// it is read, then at its size) until its response is produced. A body that does not fit
    /// is answered 503 `transient` with `Retry-After` at once, unread. Never less than the
    /// body limit: raised to it.
    pub max_body_bytes_in_flight: usize,
    /// Sent as `Retry-After` with every 503.
    pub retry_after: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_in_flight: 128,
            max_body_bytes_in_flight: 64 * 1024 * 1024,
            retry_after: Duration::from_secs(1),
        }
    }
}

impl ServerLimits {
    /// `router` with the body read (timeout, size limit `max_body_bytes`, byte budget; see
    /// [`body::read_in_full`]) in front of the cap on requests in flight and the request
    /// timeout, each refusal an OperationOutcome (503s with `Retry-After`). The cap and the
    /// budget are each one semaphore shared by every route of `router` (a plain concurrency
    /// limit would count each route apart).
    pub(super) fn apply<S>(&self, router: Router<S>, max_body_bytes: usize) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let retry_after = self.retry_after;
        let reader = BodyReader::new(
            max_body_bytes,
            self.max_body_bytes_in_flight,
            self.body_read_timeout,
            retry_after,
        );
        router
            .layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(move |error: BoxError| async move {
                        refused(&error, retry_after)
                    }))
                    .load_shed()
                    .layer(GlobalConcurrencyLimitLayer::new(self.max_in_flight.max(1)))
                    .timeout(self.request_timeout),
            )
            // Outermost: the body is in before the request may take a slot.
            .layer(axum::middleware::from_fn_with_state(
                reader,
                body::read_in_full,
            ))
    }
}

/// The answer to a request the limits refused.
fn refused(error: &BoxError, retry_after: Duration) -> Response {
    let issue = if error.is::<tower::load_shed::error::Overloaded>() {
        Issue::error(
            IssueType::Transient,
            "too many requests in flight; retry after the time in `Retry-After`",
        )
    } else if error.is::<tower::timeout::error::Elapsed>() {
        Issue::error(
            IssueType::Timeout,
            "the request took longer than the server allows",
        )
    } else {
        tracing::error!("request failed in the server's middleware");
        return fhir_json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &operation_outcome(&[Issue::error(IssueType::Exception, "internal error")]),
        );
    };
    let mut response = fhir_json(
        StatusCode::SERVICE_UNAVAILABLE,
        &operation_outcome(&[issue]),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after.as_secs().max(1)),
    );
    response
}

/// Serves `app` on `listener` with the default [`ServerLimits`] until `shutdown` resolves.
pub async fn launch<F>(listener: TcpListener, app: Router, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve(listener, app, &ServerLimits::default(), shutdown).await
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, lets every
/// request in flight finish and be answered, closes idle connections, and returns.
///
/// Nothing here bounds the drain: every request is bounded by the router's body-read and
/// request timeouts and every half-sent request head by the header-read timeout, so the drain
/// ends by itself.
pub async fn serve<F>(
    listener: TcpListener,
    app: Router,
    limits: &ServerLimits,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, as axum::serve does, rather
                    // than spin or stop serving.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // Client gone, header timeout, malformed HTTP: the connection's end, not ours.
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("draining requests in flight");
    graceful.shutdown().await;
    tracing::info!("drained");
    Ok(())
}
