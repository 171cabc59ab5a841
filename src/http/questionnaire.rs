//! `GET /Questionnaire/{id}`: the Questionnaires the policies publish, by id.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::error::{ApiError, fhir_json};
use super::router::AppState;

pub async fn read(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match state.service.questionnaire(&id) {
        Some(questionnaire) => Ok(fhir_json(StatusCode::OK, &questionnaire)),
        None => Err(ApiError::NotFound(format!("no Questionnaire `{id}`"))),
    }
}
