//! `/Subscription` (workflow.md section 3): create (with its handshake), read, update,
//! delete, search by status, and `$status`.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Security;
use super::error::{ApiError, fhir_json};
use super::extract::FhirBody;
use super::review_api::store_of;
use super::router::AppState;
use crate::auth::Caller;
use crate::fhir::{Issue, IssueType};
use crate::notify::{self, NotificationType, SubscriptionSpec, deliver};
use crate::pas::Rejection;
use crate::store::outbox::SubscriptionRecord;
use crate::store::{Store, StoreError};

/// Longest the handshake of a new subscription may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn store_error(error: StoreError) -> ApiError {
    tracing::error!(%error, "subscription store failure");
    ApiError::Rejected(Rejection::internal("the subscription store failed"))
}

/// Whose subscriptions a request sees and changes (security.md section 2): the
/// authenticated client's, under its submitter key, bounded to the organizations its clients
/// file entry lists; on a server without authentication, the unowned ones, unbounded.
struct Owner {
    key: String,
    organizations: Option<Vec<String>>,
}

impl Owner {
    fn of(state: &AppState, caller: Option<Extension<Caller>>) -> Self {
        let Some(Extension(caller)) = caller else {
            return Self {
                key: String::new(),
                organizations: None,
            };
        };
        let organizations = match (&state.security, &caller) {
            (Security::Smart(smart), Caller::Client { id, .. }) => smart
                .clients()
                .get(id)
                .map(|client| client.organizations.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        Self {
            key: caller.submitter().unwrap_or_default(),
            organizations: Some(organizations),
        }
    }

    /// 403 naming the first filter value outside the client's organizations.
    fn may_filter_on(&self, spec: &SubscriptionSpec) -> Result<(), ApiError> {
        let Some(organizations) = &self.organizations else {
            return Ok(());
        };
        match spec.filters.iter().find(|v| !organizations.contains(v)) {
            None => Ok(()),
            Some(value) => Err(ApiError::Rejected(Rejection::new(
                403,
                vec![
                    Issue::error(
                        IssueType::Forbidden,
                        format!(
                            "organization identifier `{value}` is not one this client acts for"
                        ),
                    )
                    .at("Subscription._criteria"),
                ],
            ))),
        }
    }

    /// The subscription `id` if this owner may see it; another owner's is "not found", so that
    /// its existence is not revealed either.
    async fn find(&self, store: &Store, id: &str) -> Result<SubscriptionRecord, ApiError> {
        store
            .subscription(id)
            .await
            .map_err(store_error)?
            .filter(|record| record.owner == self.key)
            .ok_or_else(|| ApiError::NotFound(format!("no Subscription `{id}`")))
    }
}

fn parse(body: &[u8]) -> Result<(Value, SubscriptionSpec), ApiError> {
    let resource: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::Rejected(Rejection::bad_request(Issue::error(
            IssueType::Structure,
            format!("body is not JSON: {e}"),
        )))
    })?;
    let spec = notify::parse_subscription(&resource).map_err(|issues| {
        let status = if issues.iter().any(|i| i.code == IssueType::Structure) {
            400
        } else {
            422
        };
        ApiError::Rejected(Rejection::new(status, issues))
    })?;
    Ok((resource, spec))
}

/// Sends the handshake and records the outcome: `active` on a 2xx, `error` otherwise.
async fn handshake(store: &Store, record: &SubscriptionRecord, spec: &SubscriptionSpec) {
    let client = deliver::client(HANDSHAKE_TIMEOUT);
    let (status, error) = match deliver::handshake(&client, &record.id, spec).await {
        Ok(()) => ("active", None),
        Err(error) => ("error", Some(format!("handshake failed: {error}"))),
    };
    if let Err(error) = store
        .set_subscription_status(&record.id, status, error.as_deref())
        .await
    {
        tracing::error!(%error, "cannot record the handshake");
    }
}

async fn answer(store: &Store, id: &str, status: StatusCode) -> Result<Response, ApiError> {
    let record = store
        .subscription(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("no Subscription `{id}`")))?;
    let mut response = fhir_json(status, &record.to_resource());
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!("Subscription/{id}"))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    let store = store_of(&state)?;
    let owner = Owner::of(&state, caller);
    let (resource, spec) = parse(&body)?;
    owner.may_filter_on(&spec)?;
    let record = store
        .create_subscription(&owner.key, &spec, &resource)
        .await
        .map_err(store_error)?;
    handshake(store, &record, &spec).await;
    answer(store, &record.id, StatusCode::CREATED).await
}

pub async fn read(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = store_of(&state)?;
    Owner::of(&state, caller).find(store, &id).await?;
    answer(store, &id, StatusCode::OK).await
}

pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    Path(id): Path<String>,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    let store = store_of(&state)?;
    let owner = Owner::of(&state, caller);
    let (resource, spec) = parse(&body)?;
    if let Some(body_id) = resource.get("id").and_then(Value::as_str)
        && body_id != id
    {
        return Err(ApiError::Rejected(Rejection::bad_request(
            Issue::error(
                IssueType::Invariant,
                format!("the body's id `{body_id}` is not the id in the URL `{id}`"),
            )
            .at("Subscription.id"),
        )));
    }
    owner.find(store, &id).await?;
    owner.may_filter_on(&spec)?;
    if !store
        .update_subscription(&id, &spec, &resource)
        .await
        .map_err(store_error)?
    {
        return Err(ApiError::NotFound(format!("no Subscription `{id}`")));
    }
    if let Some(record) = store.subscription(&id).await.map_err(store_error)? {
        handshake(store, &record, &spec).await;
    }
    answer(store, &id, StatusCode::OK).await
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = store_of(&state)?;
    Owner::of(&state, caller).find(store, &id).await?;
    if store.delete_subscription(&id).await.map_err(store_error)? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound(format!("no Subscription `{id}`")))
    }
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    status: Option<String>,
}

pub async fn search(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    let store = store_of(&state)?;
    let owner = Owner::of(&state, caller);
    let mut records = store
        .subscriptions(query.status.as_deref())
        .await
        .map_err(store_error)?;
    records.retain(|record| record.owner == owner.key);
    let entries: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "fullUrl": format!("Subscription/{}", r.id),
                "resource": r.to_resource(),
                "search": {"mode": "match"},
            })
        })
        .collect();
    Ok(fhir_json(
        StatusCode::OK,
        &json!({
            "resourceType": "Bundle",
            "id": uuid::Uuid::new_v4().to_string(),
            "type": "searchset",
            "total": entries.len(),
            "entry": entries,
        }),
    ))
}

/// `$status`: the backport SubscriptionStatus (`query-status`) with the events issued so far
/// and the last delivery error, if any.
pub async fn status(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = store_of(&state)?;
    let record = Owner::of(&state, caller).find(store, &id).await?;
    let parameters = notify::status_parameters(
        &record.id,
        &record.status,
        NotificationType::QueryStatus,
        record.events,
        record.last_error.as_deref(),
    );
    Ok(fhir_json(
        StatusCode::OK,
        &json!({
            "resourceType": "Bundle",
            "id": uuid::Uuid::new_v4().to_string(),
            "type": "searchset",
            "entry": [{
                "fullUrl": format!("urn:uuid:{}", parameters["id"].as_str().unwrap_or_default()),
                "resource": parameters,
                "search": {"mode": "match"},
            }],
        }),
    ))
}
