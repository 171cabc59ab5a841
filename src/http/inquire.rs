//! `POST /Claim/$inquire`: an inquiry Bundle (or a `Parameters` carrying one) in, a
//! `Parameters` of inquiry response Bundles out, answered by the service from its store.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::{ApiError, fhir_json};
use super::extract::FhirBody;
use super::router::AppState;
use crate::service::Caller;

#[tracing::instrument(skip_all, name = "inquire")]
pub async fn inquire(
    State(state): State<Arc<AppState>>,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    let response = state
        .service
        .inquire(&Caller::Unauthenticated, &body)
        .await?;
    Ok(fhir_json(StatusCode::OK, &response))
}
