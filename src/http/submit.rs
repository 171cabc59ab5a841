//! `POST /Claim/$submit`: a PAS request Bundle in, a PAS response Bundle out.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::{Touched, authorization_numbers};
use super::error::{ApiError, FHIR_JSON, fhir_json};
use super::extract::FhirBody;
use super::router::{AppState, ReviewActions};
use crate::auth::Caller;
use crate::telemetry::REVIEW_ACTIONS;

#[tracing::instrument(skip_all, name = "submit")]
pub async fn submit(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    // The authenticated client is the submitter; without authentication (`--insecure-no-auth`)
    // the service files the request under `Bundle.identifier.system`.
    let caller = caller.map_or(crate::service::Caller::Unauthenticated, |Extension(c)| {
        c.service_caller()
    });
    let submission = state.service.submit_bytes(&caller, &body).await?;
    // What the response says of each item (`C` for a cancelled one; the stored answer's
    // actions on a resubmission), never the engine's view of an item it did not answer.
    let actions: Vec<&str> = submission.actions.iter().map(|a| a.code).collect();
    let replay = submission.stored.as_ref().is_some_and(|s| s.replay);
    if !replay {
        // A resubmission answered from the store issues nothing new: not counted again.
        for action in &actions {
            metrics::counter!(REVIEW_ACTIONS, "action" => *action).increment(1);
        }
    }
    let version = submission.stored.as_ref().map(|s| s.version);
    tracing::debug!(
        items = actions.len(),
        replay,
        version,
        "request adjudicated"
    );
    let mut response = match submission.encoded {
        // The bytes the store recorded: the response is encoded once.
        Some(encoded) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
            encoded,
        )
            .into_response(),
        None => fhir_json(StatusCode::OK, &submission.response),
    };
    response
        .extensions_mut()
        .insert(ReviewActions(actions.join(",")));
    response
        .extensions_mut()
        .insert(Touched(authorization_numbers(&submission.response)));
    Ok(response)
}
