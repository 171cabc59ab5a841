//! The HTTP side of security.md: the bearer-token check in front of every route (what each
//! route needs is declared in [`crate::auth::routes`]), the SMART discovery document and
//! token endpoint, and the audit record of every authenticated request and every refusal.

use std::sync::Arc;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::fhir_json;
use crate::auth::routes::{Credential, requirement};
use crate::auth::{Caller, Smart, TokenForm, scopes};
use crate::fhir::{Issue, IssueType, operation_outcome};
use crate::store::audit::{AgentKind, AuditRecord};

/// How the server authenticates its callers.
#[derive(Debug, Clone)]
pub enum Security {
    /// `--insecure-no-auth`: every route open, submitters told apart by
    /// `Bundle.identifier.system` as before SMART. For local trials only.
    Disabled,
    /// SMART Backend Services.
    Smart(Arc<Smart>),
}

/// Authorization numbers a handler's answer created or read, for the audit record.
#[derive(Debug, Clone, Default)]
pub struct Touched(pub Vec<String>);

const REQUEST_ID: &str = "x-request-id";

/// Every authorization number (`extension-reviewAction` `number`) in a FHIR answer: a
/// response Bundle, or the inquiry `Parameters` of them.
pub fn authorization_numbers(answer: &Value) -> Vec<String> {
    let mut numbers = Vec::new();
    collect_numbers(answer, &mut numbers);
    numbers.dedup();
    numbers
}

fn collect_numbers(value: &Value, numbers: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let is_review_action = map
                .get("url")
                .and_then(Value::as_str)
                .is_some_and(|u| u.ends_with("/extension-reviewAction"));
            if is_review_action {
                for sub in map
                    .get("extension")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if sub.get("url").and_then(Value::as_str) == Some("number")
                        && let Some(n) = sub.get("valueString").and_then(Value::as_str)
                        && !numbers.iter().any(|k| k == n)
                    {
                        numbers.push(n.to_owned());
                    }
                }
            }
            for child in map.values() {
                collect_numbers(child, numbers);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_numbers(v, numbers)),
        _ => {}
    }
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn unauthorized(error: Option<&str>, message: &str) -> Response {
    let mut response = fhir_json(
        StatusCode::UNAUTHORIZED,
        &operation_outcome(&[Issue::error(IssueType::Login, message)]),
    );
    let challenge = match error {
        Some(error) => format!("Bearer realm=\"pas-adapter\", error=\"{error}\""),
        None => "Bearer realm=\"pas-adapter\"".to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn forbidden(message: String) -> Response {
    fhir_json(
        StatusCode::FORBIDDEN,
        &operation_outcome(&[Issue::error(IssueType::Forbidden, message)]),
    )
}

/// Writes an audit record; a store failure is logged, not turned into the request's answer
/// (which may already be committed, e.g. a `$submit`).
async fn audit(smart: &Smart, record: AuditRecord) {
    if let Err(error) = smart.store().record_audit(&record).await {
        tracing::error!(%error, "cannot write the audit record");
    }
}

/// The check in front of every route: the route's [`Credential`], the caller's token, the
/// audit record. The handler receives the [`Caller`] as a request extension.
pub async fn authorize(
    State(security): State<Security>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(route) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        // No route: the fallback answers 404, nothing to protect.
        return next.run(request).await;
    };
    let method = request.method().clone();
    let needed = requirement(&route, &method);
    let Security::Smart(smart) = security else {
        return next.run(request).await;
    };
    if matches!(needed, Credential::Open | Credential::ReviewerSession) {
        return next.run(request).await;
    }
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let record = |kind, agent: Option<&str>, status: StatusCode| {
        AuditRecord::now(
            kind,
            agent.map(str::to_owned),
            route.as_str(),
            method.as_str(),
            status.as_u16(),
            request_id.as_str(),
        )
    };
    let Some(token) = bearer(request.headers()) else {
        let response = unauthorized(
            None,
            "this route needs a bearer token (SMART Backend Services)",
        );
        audit(
            &smart,
            record(AgentKind::Anonymous, None, response.status()),
        )
        .await;
        return response;
    };
    // A reviewer account's token (`pas-adapter reviewer add`) opens the reviewer routes.
    let reviewer = match (smart.verify(token), needed) {
        (None, Credential::Reviewer) => match smart.store().reviewer_by_token(token).await {
            Ok(found) => found.map(|r| Caller::Reviewer { id: r.name }),
            Err(error) => {
                tracing::error!(%error, "cannot look up the reviewer token");
                None
            }
        },
        (verified, _) => verified,
    };
    let Some(caller) = reviewer else {
        let response = unauthorized(
            Some("invalid_token"),
            "the bearer token is not valid (expired, revoked, or not issued here)",
        );
        audit(
            &smart,
            record(AgentKind::Anonymous, None, response.status()),
        )
        .await;
        return response;
    };
    let kind = match caller {
        Caller::Client { .. } => AgentKind::Client,
        Caller::Reviewer { .. } => AgentKind::Reviewer,
    };
    let refusal = match (&needed, &caller) {
        (
            Credential::Client(need),
            Caller::Client {
                scopes: granted, ..
            },
        ) => (!scopes::satisfies(granted.iter().map(String::as_str), need)).then(|| {
            forbidden(format!(
                "the token does not grant `{}`, which this route needs",
                need.describe()
            ))
        }),
        (Credential::Client(_), Caller::Reviewer { .. }) => Some(forbidden(
            "this route is for client systems; a reviewer token does not open it".to_owned(),
        )),
        (Credential::Reviewer, Caller::Reviewer { .. })
        | (Credential::Open | Credential::ReviewerSession, _) => None,
        (Credential::Reviewer, Caller::Client { .. }) => Some(forbidden(
            "this route is for plan reviewers; a client token does not open it".to_owned(),
        )),
    };
    if let Some(response) = refusal {
        audit(&smart, record(kind, Some(caller.id()), response.status())).await;
        return response;
    }
    let agent = caller.id().to_owned();
    request.extensions_mut().insert(caller);
    let response = next.run(request).await;
    let mut entry = record(kind, Some(&agent), response.status());
    if let Some(touched) = response.extensions().get::<Touched>() {
        entry.authorizations = touched.0.clone();
    }
    audit(&smart, entry).await;
    response
}

/// `GET /.well-known/smart-configuration`.
pub async fn smart_configuration(State(security): State<Security>) -> Response {
    match security {
        Security::Smart(smart) => axum::Json(smart.configuration()).into_response(),
        Security::Disabled => fhir_json(
            StatusCode::NOT_FOUND,
            &operation_outcome(&[Issue::error(
                IssueType::NotFound,
                "authentication is disabled on this server (--insecure-no-auth)",
            )]),
        ),
    }
}

fn oauth_json(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, axum::Json(body.clone())).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /auth/token` (client credentials with a JWT assertion). Every answer is audited.
pub async fn token(
    State(security): State<Security>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let Security::Smart(smart) = security else {
        return oauth_json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "invalid_request", "error_description": "authentication is disabled on this server"}),
        );
    };
    let request_id = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let form = match form {
        Ok(Form(form)) => form,
        Err(_) => TokenForm::default(),
    };
    let (response, kind, agent) = match smart.exchange(&form).await {
        Ok(grant) => (
            oauth_json(StatusCode::OK, &grant.body()),
            AgentKind::Client,
            Some(grant.client_id),
        ),
        Err(rejection) => {
            let status =
                StatusCode::from_u16(rejection.error.status()).unwrap_or(StatusCode::BAD_REQUEST);
            tracing::debug!(error = rejection.error.error, "token request refused");
            (
                oauth_json(status, &rejection.error.body()),
                AgentKind::Anonymous,
                rejection.claimed_client,
            )
        }
    };
    audit(
        &smart,
        AuditRecord::now(
            kind,
            agent,
            "/auth/token",
            "POST",
            response.status().as_u16(),
            request_id,
        ),
    )
    .await;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_case_insensitively_and_nothing_else_is() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn numbers_are_collected_from_review_actions_only() {
        let answer = serde_json::json!({"parameter": [{"resource": {"item": [
            {"extension": [{"url": "http://x/extension-reviewAction", "extension": [
                {"url": "code", "valueString": "A1"},
                {"url": "number", "valueString": "PA-1"}]}]},
            {"extension": [{"url": "http://x/extension-reviewAction", "extension": [
                {"url": "number", "valueString": "PA-1"}]}]},
            {"extension": [{"url": "http://x/other", "extension": [
                {"url": "number", "valueString": "NOT"}]}]}
        ]}}]});
        assert_eq!(authorization_numbers(&answer), ["PA-1"]);
    }
}
