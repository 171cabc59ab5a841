//! `POST /Claim/$inquire`: an inquiry Bundle (or a `Parameters` carrying one) in, a
//! `Parameters` of inquiry response Bundles out, answered by the service from its store.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::auth::{Touched, authorization_numbers};
use super::error::{ApiError, fhir_json};
use super::extract::FhirBody;
use super::router::AppState;
use crate::auth::Caller;

#[tracing::instrument(skip_all, name = "inquire")]
pub async fn inquire(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    // A client sees only what it submitted, whatever identifiers or numbers it sends.
    let caller = caller.map_or(crate::service::Caller::Unauthenticated, |Extension(c)| {
        c.service_caller()
    });
    let response = state.service.inquire(&caller, &body).await?;
    let mut answer = fhir_json(StatusCode::OK, &response);
    answer
        .extensions_mut()
        .insert(Touched(authorization_numbers(&response)));
    Ok(answer)
}
