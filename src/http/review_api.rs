//! The reviewer JSON API (workflow.md section 4): `GET /review/cases`,
//! `GET /review/cases/{id}` and `POST /review/cases/{id}/decision`, each with a reviewer's
//! bearer token. Reviewer tokens are checked whatever the server's client authentication is:
//! they are not the calling systems' credentials.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, fhir_json};
use super::router::AppState;
use crate::fhir::{Issue, IssueType, operation_outcome};
use crate::pas::Rejection;
use crate::review::view::{self, Case};
use crate::review::{self, CaseFilter, DecisionInput, ReviewError, Reviewer};
use crate::store::{Store, StoreError};

/// The reviewer a request's bearer token belongs to; 401 without one.
#[derive(Debug, Clone)]
pub struct ReviewerAuth(pub Reviewer);

/// 401 with `WWW-Authenticate: Bearer`, as an OperationOutcome.
pub fn unauthorized(message: &str) -> Response {
    let mut response = fhir_json(
        StatusCode::UNAUTHORIZED,
        &operation_outcome(&[Issue::error(IssueType::Login, message)]),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"pas-adapter-review\""),
    );
    response
}

pub(super) fn store_of(state: &AppState) -> Result<&Store, ApiError> {
    state.service.store().ok_or_else(|| {
        ApiError::Rejected(Rejection::new(
            501,
            vec![Issue::error(
                IssueType::NotSupported,
                "reviewing needs the request store, which this server does not have",
            )],
        ))
    })
}

fn store_error(error: StoreError) -> ApiError {
    tracing::error!(%error, "review store failure");
    ApiError::Rejected(Rejection::internal("the review store failed"))
}

impl FromRequestParts<Arc<AppState>> for ReviewerAuth {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = super::auth::bearer(&parts.headers) else {
            return Err(unauthorized("a reviewer bearer token is required"));
        };
        let store = store_of(state).map_err(IntoResponse::into_response)?;
        match store.reviewer_by_token(token).await {
            Ok(Some(reviewer)) => Ok(Self(reviewer)),
            Ok(None) => Err(unauthorized("the reviewer token is not valid")),
            Err(error) => Err(store_error(error).into_response()),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: Option<String>,
}

pub(super) fn filter_of(status: Option<&str>) -> Result<CaseFilter, ApiError> {
    match status.unwrap_or("open") {
        "open" => Ok(CaseFilter::Open),
        "closed" => Ok(CaseFilter::Closed),
        "all" => Ok(CaseFilter::All),
        other => Err(ApiError::Rejected(Rejection::bad_request(
            Issue::error(
                IssueType::Value,
                format!("status `{other}` is not one of open, closed, all"),
            )
            .at("status"),
        ))),
    }
}

/// The cases of `filter`, earliest due first (overdue cases lead).
pub(super) async fn load_cases(
    state: &AppState,
    filter: CaseFilter,
) -> Result<Vec<Case>, ApiError> {
    let store = store_of(state)?;
    let mut records = store.review_cases(filter).await.map_err(store_error)?;
    state.service.review_clock().sort(&mut records);
    let mut cases = Vec::with_capacity(records.len());
    for record in records {
        cases.push(Case::load(store, record).await.map_err(store_error)?);
    }
    Ok(cases)
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    ReviewerAuth(_): ReviewerAuth,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = filter_of(query.status.as_deref())?;
    let cases = load_cases(&state, filter).await?;
    let now = Utc::now();
    let clock = state.service.review_clock();
    let body = json!({
        "cases": cases.iter().map(|c| view::summary(c, clock, now)).collect::<Vec<_>>(),
    });
    Ok(axum::Json(body).into_response())
}

pub(super) async fn load_case(state: &AppState, id: &str) -> Result<Case, ApiError> {
    let store = store_of(state)?;
    let record = store
        .review_case(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("no review case `{id}`")))?;
    Case::load(store, record).await.map_err(store_error)
}

pub async fn read(
    State(state): State<Arc<AppState>>,
    ReviewerAuth(_): ReviewerAuth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let case = load_case(&state, &id).await?;
    let store = store_of(&state)?;
    let body = view::detail(store, &case, state.service.review_clock(), Utc::now())
        .await
        .map_err(store_error)?;
    Ok(axum::Json(body).into_response())
}

/// A refused decision as an OperationOutcome with its status.
pub(super) fn review_rejection(error: ReviewError) -> ApiError {
    let status = error.status();
    match error {
        ReviewError::Rejected(rejection) => ApiError::Rejected(rejection),
        ReviewError::Store(error) if status >= 500 => store_error(error),
        ReviewError::NotFound(_) => ApiError::NotFound(error.to_string()),
        other => {
            let code = match status {
                409 => IssueType::Conflict,
                _ => IssueType::Invariant,
            };
            ApiError::Rejected(Rejection::new(
                status,
                vec![Issue::error(code, other.to_string())],
            ))
        }
    }
}

pub async fn decide(
    State(state): State<Arc<AppState>>,
    ReviewerAuth(reviewer): ReviewerAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: DecisionInput = serde_json::from_slice(&body).map_err(|e| {
        ApiError::Rejected(Rejection::bad_request(Issue::error(
            IssueType::Structure,
            format!("the decision is not of the documented shape: {e}"),
        )))
    })?;
    let decided = review::decide(&state.service, &id, &reviewer, &input)
        .await
        .map_err(review_rejection)?;
    tracing::info!(version = decided.version, "review decision stored");
    Ok(fhir_json(StatusCode::OK, &decided.response))
}

#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

fn date_param(name: &str, value: Option<&str>) -> Result<chrono::NaiveDate, ApiError> {
    let text = value.unwrap_or("");
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ApiError::Rejected(Rejection::bad_request(
            Issue::error(
                IssueType::Value,
                format!("`{name}` must be a date (YYYY-MM-DD), not `{text}`"),
            )
            .at(name),
        ))
    })
}

/// `GET /reports/prior-authorization?from=&to=`: JSON, or CSV with `Accept: text/csv`.
pub async fn report(
    State(state): State<Arc<AppState>>,
    ReviewerAuth(_): ReviewerAuth,
    headers: axum::http::HeaderMap,
    Query(query): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let from = date_param("from", query.from.as_deref())?;
    let to = date_param("to", query.to.as_deref())?;
    if to < from {
        return Err(ApiError::Rejected(Rejection::bad_request(
            Issue::error(IssueType::Value, "`to` is before `from`").at("to"),
        )));
    }
    let store = store_of(&state)?;
    let mut chains = Vec::new();
    for chain in store.chains_received(from, to).await.map_err(store_error)? {
        chains.push(store.answer_history(&chain).await.map_err(store_error)?);
    }
    let items: Vec<review::report::PolicyItems> = state
        .service
        .policies()
        .policies()
        .iter()
        .map(|p| review::report::PolicyItems {
            policy: p.id.clone(),
            title: p.title.clone(),
            codes: p.drug_codes(),
        })
        .collect();
    let body = review::report::report(
        from,
        to,
        &chains,
        state.service.review_clock(),
        &items,
        Utc::now(),
    );
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        let mut response = review::report::csv(&body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        return Ok(response);
    }
    Ok(axum::Json(body).into_response())
}
