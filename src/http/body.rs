//! Request bodies are read in full here, before the request may take an in-flight slot, under
//! their own timeout and within a budget of body bytes held at once.
//!
//! Why: a slot held while a client trickles its body in is a slot no one else can use, so 130
//! slow clients could starve the server for the whole request timeout; and a count of
//! requests does not bound memory when each may carry the largest body allowed. Here a slow
//! body costs the server only its connection and its share of the byte budget, both bounded,
//! and the handlers receive the body already whole (one `Bytes`, shared, never copied again).

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::{ApiError, fhir_json};
use crate::fhir::{Issue, IssueType, operation_outcome};
use crate::pas::Rejection;
use crate::pas::check::too_large;

/// What the reader needs: the body limit, the body-read timeout and the byte budget, one per
/// application (every route of it shares the budget).
#[derive(Debug, Clone)]
pub(super) struct BodyReader {
    max_body_bytes: usize,
    read_timeout: Duration,
    retry_after: Duration,
    budget: Arc<Semaphore>,
}

impl BodyReader {
    /// A reader with a budget of `budget_bytes`, raised to `max_body_bytes` when below it (a
    /// body the size limit allows must be able to fit).
    pub(super) fn new(
        max_body_bytes: usize,
        budget_bytes: usize,
        read_timeout: Duration,
        retry_after: Duration,
    ) -> Self {
        let budget = budget_bytes.max(max_body_bytes).min(Semaphore::MAX_PERMITS);
        Self {
            max_body_bytes,
            read_timeout,
            retry_after,
            budget: Arc::new(Semaphore::new(budget)),
        }
    }

    /// Bytes of the budget free now.
    #[cfg(test)]
    fn available(&self) -> usize {
        self.budget.available_permits()
    }

    /// `bytes` of the budget, or `None` at once when they are not free (never waits: a
    /// request is refused rather than queued, as at the in-flight cap).
    fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        // A semaphore hands out at most `u32::MAX` permits at a time: larger reservations (a
        // body limit above 4 GiB) are taken in pieces, and given back whole when one fails.
        let mut reserved: Option<OwnedSemaphorePermit> = None;
        let mut left = bytes;
        loop {
            let piece = u32::try_from(left).unwrap_or(u32::MAX);
            let permit = Arc::clone(&self.budget)
                .try_acquire_many_owned(piece)
                .ok()?;
            left -= piece as usize;
            match &mut reserved {
                Some(held) => held.merge(permit),
                None => reserved = Some(permit),
            }
            if left == 0 {
                return reserved;
            }
        }
    }
}

/// Middleware: reads the request's body in full, then passes the request on with the body as
/// one `Bytes`, holding the body's share of the budget until the response is produced (the
/// body, and whatever the handler parsed from it, are dropped by then).
///
/// A request without a body (GET) passes untouched. Otherwise, in this order and before any
/// in-flight slot is taken:
/// - a declared `Content-Length` over the limit: 413 `too-long` at once, nothing read;
/// - the declared length (a chunked body: the limit) not free in the budget: 503 `transient`
///   with `Retry-After` at once, nothing read;
/// - the body not in by the body-read timeout: 408 `timeout`;
/// - a chunked body growing past the limit: 413 `too-long`, cut off there.
///
/// The refusals close the connection (`Connection: close`): the rest of the body may still be
/// on its way and is not read.
pub(super) async fn read_in_full(
    State(reader): State<BodyReader>,
    request: Request,
    next: Next,
) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    // hyper has parsed and checked `Content-Length`: an exact size hint is the declared
    // length; a chunked body has none.
    let declared = request
        .body()
        .size_hint()
        .exact()
        .and_then(|n| usize::try_from(n).ok());
    if let Some(len) = declared
        && len > reader.max_body_bytes
    {
        return closing(ApiError::from(too_large(len, reader.max_body_bytes)).into_response());
    }
    let Some(mut permit) = reader.reserve(declared.unwrap_or(reader.max_body_bytes)) else {
        return closing(over_budget(reader.retry_after));
    };
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(
        reader.read_timeout,
        collect(body, declared, reader.max_body_bytes),
    )
    .await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(refusal)) => return closing(refusal),
        Err(_elapsed) => return closing(too_slow(reader.read_timeout)),
    };
    // A chunked body reserved the whole limit while it came in; what it did not use goes back.
    if let Some(unused) = permit.num_permits().checked_sub(bytes.len())
        && unused > 0
    {
        drop(permit.split(unused));
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    drop(permit);
    response
}

/// The body's bytes, in one buffer sized by the declared length when there is one (each
/// frame is copied in once and dropped), or the refusal when it cannot be read or grows past
/// `limit`.
async fn collect(mut body: Body, declared: Option<usize>, limit: usize) -> Result<Bytes, Response> {
    let mut buffer = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|error| {
            tracing::debug!(%error, "request body could not be read");
            ApiError::from(Rejection::bad_request(Issue::error(
                IssueType::Structure,
                "the request body could not be read to its end",
            )))
            .into_response()
        })?;
        // Trailers (chunked) carry nothing a FHIR body needs: skipped.
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buffer.len() + data.len() > limit {
            return Err(ApiError::from(Rejection::new(
                413,
                vec![Issue::error(
                    IssueType::TooLong,
                    format!("request body is over the limit of `{limit}` bytes"),
                )],
            ))
            .into_response());
        }
        buffer.extend_from_slice(&data);
    }
    // `Bytes::from(Vec)` takes the buffer over: no copy.
    Ok(Bytes::from(buffer))
}

/// 503 `transient` with `Retry-After`: the body does not fit in what the budget has free.
fn over_budget(retry_after: Duration) -> Response {
    let mut response = fhir_json(
        StatusCode::SERVICE_UNAVAILABLE,
        &operation_outcome(&[Issue::error(
            IssueType::Transient,
            "too many request body bytes in flight; retry after the time in `Retry-After`",
        )]),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after.as_secs().max(1)),
    );
    response
}

/// 408 `timeout`: the client did not send its body in time. 408 rather than 503: the fault
/// is the client's connection, not the server's load, and a retry should be a faster send.
fn too_slow(timeout: Duration) -> Response {
    fhir_json(
        StatusCode::REQUEST_TIMEOUT,
        &operation_outcome(&[Issue::error(
            IssueType::Timeout,
            format!(
                "the request body did not arrive within `{}` s",
                timeout.as_secs_f64()
            ),
        )]),
    )
}

/// `response` with `Connection: close`: the body it refused may still be arriving.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(limit: usize, budget: usize) -> BodyReader {
        BodyReader::new(
            limit,
            budget,
            Duration::from_secs(10),
            Duration::from_secs(1),
        )
    }

    #[test]
    fn the_budget_is_never_below_the_body_limit() {
        assert_eq!(reader(100, 10).available(), 100);
        assert_eq!(reader(100, 1000).available(), 1000);
    }

    #[test]
    fn reservations_are_all_or_nothing_and_given_back_when_dropped() {
        let reader = reader(100, 250);
        let first = reader.reserve(100);
        let second = reader.reserve(100);
        assert!(first.is_some() && second.is_some());
        assert!(reader.reserve(51).is_none());
        assert_eq!(reader.available(), 50);
        drop(first);
        assert_eq!(reader.available(), 150);
        drop(second);
        assert_eq!(reader.available(), 250);
    }

    #[test]
    fn reservations_above_what_a_semaphore_grants_at_once_are_taken_in_pieces() {
        let big = u32::MAX as usize + 10;
        let reader = reader(big, big * 2);
        let permit = reader.reserve(big);
        assert_eq!(permit.as_ref().map(|p| p.num_permits()), Some(big));
        assert!(reader.reserve(big + 1).is_none());
        // The failed reservation gave back the piece it had taken.
        assert_eq!(reader.available(), big);
    }

    #[tokio::test]
    async fn a_chunked_body_past_the_limit_is_413_and_one_at_it_is_whole() {
        let body = Body::from("0123456789");
        let refused = collect(body, None, 9).await.err().map(|r| r.status());
        assert_eq!(refused, Some(StatusCode::PAYLOAD_TOO_LARGE));
        let whole = collect(Body::from("0123456789"), None, 10).await.ok();
        assert_eq!(whole.as_deref(), Some(&b"0123456789"[..]));
    }
}
