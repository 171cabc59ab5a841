//! Every error leaves the server as an OperationOutcome with the right status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::fhir::{Issue, IssueType, operation_outcome};
use crate::pas::Rejection;

pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// A FHIR resource as a response body.
pub fn fhir_json(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    response
}

/// What a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service refused the request (4xx) or failed on it (5xx).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// No such resource or route.
    #[error("{0}")]
    NotFound(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, issues) = match self {
            Self::Rejected(rejection) => (rejection.status, rejection.issues),
            Self::NotFound(message) => (404, vec![Issue::error(IssueType::NotFound, message)]),
        };
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), "request failed on our side");
        } else {
            // The request's log line (router) has the status; the diagnostics may quote the
            // request, so they go to the sender only.
            tracing::debug!(
                status = status.as_u16(),
                issues = issues.len(),
                "request rejected"
            );
        }
        let mut response = fhir_json(status, &operation_outcome(&issues));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(crate::pas::check::RETRY_AFTER_UNAVAILABLE),
            );
        }
        response
    }
}
