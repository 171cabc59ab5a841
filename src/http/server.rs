//! The server's own limits (time, concurrency) and the accept loop that serves the router.
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

use super::error::fhir_json;
use crate::fhir::{Issue, IssueType, operation_outcome};

/// What the server allows a client, besides the request limits of [`crate::pas::Limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Longest a request may take, body upload included (503 `timeout` after it).
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers; the connection is closed after
    /// it. Also how long an idle keep-alive connection is kept.
    pub header_read_timeout: Duration,
    /// Most requests processed at once on the PAS routes; more are answered 503 `transient`
    /// at once rather than queued, so that the gateway can retry elsewhere.
    pub max_in_flight: usize,
    /// Sent as `Retry-After` with every 503.
    pub retry_after: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            max_in_flight: 128,
            retry_after: Duration::from_secs(1),
        }
    }
}

impl ServerLimits {
    /// `router` with the timeout and the cap on requests in flight, each answered with a 503
    /// OperationOutcome and `Retry-After`. The cap is one semaphore shared by every route of
    /// `router` (a plain concurrency limit would count each route apart).
    pub(super) fn apply<S>(&self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let retry_after = self.retry_after;
        router.layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(move |error: BoxError| async move {
                    refused(&error, retry_after)
                }))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(self.max_in_flight.max(1)))
                .timeout(self.request_timeout),
        )
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
/// Nothing here bounds the drain: every request is bounded by the router's request timeout
/// and every half-sent request head by the header-read timeout, so the drain ends by itself.
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
