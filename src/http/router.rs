//! Every route in one place and the middleware around them.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use super::auth::{self, Security};
use super::error::{ApiError, fhir_json};
use super::server::ServerLimits;
use super::{
    audit, health, inquire, metadata, questionnaire, review_api, review_page, submit, subscription,
};
use crate::fhir::{Issue, IssueType, operation_outcome};
use crate::service::Service;
use crate::telemetry::{LATENCY, REQUESTS};

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub service: Service,
    pub security: Security,
}

impl FromRef<Arc<AppState>> for Security {
    fn from_ref(state: &Arc<AppState>) -> Self {
        state.security.clone()
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The review actions of an answered `$submit` (e.g. `A1,A4`), handed by the handler to the
/// request's log line through the response extensions.
#[derive(Debug, Clone)]
pub struct ReviewActions(pub String);

/// The application with the default [`ServerLimits`], without authentication (library use
/// and tests; `serve` runs [`app`] with SMART unless told `--insecure-no-auth`).
pub fn router(service: Service) -> Router {
    router_with(service, &ServerLimits::default())
}

/// [`app`] without authentication ([`Security::Disabled`]).
pub fn router_with(service: Service, limits: &ServerLimits) -> Router {
    app(service, limits, Security::Disabled)
}

/// The admin application, served on its own (loopback) address: `/metrics` and `/healthz`.
pub fn admin_router(review: Option<health::ReviewGauges>) -> Router {
    let metrics = crate::telemetry::metrics_handle();
    let store = review.as_ref().map(|r| r.store.clone());
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                let review = review.clone();
                async move { health::metrics(&metrics, review.as_ref()).await }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let store = store.clone();
                async move { health::healthz(store.as_ref()).await }
            }),
        )
}

/// The application: PAS operations, metadata, the SMART endpoints, the audit trail and
/// health, with the limits of `limits` (body read and byte budget, then the cap on requests
/// in flight and the request timeout) on every route but health (a busy server is still
/// alive). Authorization runs before the body is read: an unauthenticated request is refused
/// without reading its body or taking any of the budget. Every route passes [`auth::authorize`],
/// which asks [`crate::auth::routes::requirement`] what it needs. `/metrics` is on
/// [`admin_router`].
pub fn app(service: Service, limits: &ServerLimits, security: Security) -> Router {
    // The body read in `limits.apply` answers 413 above this, before the extractors see a
    // body; `DefaultBodyLimit` keeps the extractors to it on every other route, and the
    // service checks it again for bodies that reach it another way (CLI, tests).
    let body_limit = service.settings().limits.max_body_bytes;
    let state = Arc::new(AppState {
        service,
        security: security.clone(),
    });
    let operations = limits.apply(
        Router::new()
            .route("/Claim/$submit", post(submit::submit))
            .route("/Claim/$inquire", post(inquire::inquire))
            .route("/metadata", get(metadata::metadata))
            .route("/Questionnaire/{id}", get(questionnaire::read))
            .route("/AuditEvent", get(audit::search))
            .route("/auth/token", post(auth::token))
            .route(
                "/.well-known/smart-configuration",
                get(auth::smart_configuration),
            )
            // review: the reviewer API (workflow.md section 4).
            .route("/review/cases", get(review_api::list))
            .route("/review/cases/{id}", get(review_api::read))
            .route("/review/cases/{id}/decision", post(review_api::decide))
            .route("/reports/prior-authorization", get(review_api::report))
            // review: the reviewer page (HTML, session cookie).
            .route("/review", get(review_page::list))
            .route(
                "/review/sign-in",
                get(review_page::sign_in_form).post(review_page::sign_in),
            )
            .route("/review/sign-out", post(review_page::sign_out))
            .route("/review/case/{id}", get(review_page::case))
            .route("/review/case/{id}/decide", post(review_page::decide))
            // review: PAS Subscriptions (workflow.md section 3).
            .route(
                "/Subscription",
                get(subscription::search).post(subscription::create),
            )
            .route(
                "/Subscription/{id}",
                get(subscription::read)
                    .put(subscription::update)
                    .delete(subscription::delete),
            )
            .route("/Subscription/{id}/$status", get(subscription::status)),
        body_limit,
    );
    Router::new()
        .merge(operations)
        .route(
            "/healthz",
            get(|State(state): State<Arc<AppState>>| async move {
                health::healthz(state.service.store()).await
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn_with_state(security, auth::authorize))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(track))
        .layer(CatchPanicLayer::custom(|_| {
            // The panic hook (telemetry) has logged where; the payload may quote the request.
            fhir_json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &operation_outcome(&[Issue::error(IssueType::Exception, "internal error")]),
            )
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            // The raw path is left out: outside the routes it could carry anything.
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("http", method = %request.method(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(middleware::map_request(keep_only_uuid_request_ids))
}

/// Drops a client-sent `x-request-id` that is not a UUID, so that `SetRequestIdLayer` puts a
/// fresh one in its place: the id is logged with every line, and a free-form id could carry
/// patient data (a medical record number). A UUID is kept, so gateways can still correlate.
async fn keep_only_uuid_request_ids(mut request: Request) -> Request {
    let is_uuid = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| uuid::Uuid::try_parse(v).is_ok());
    if !is_uuid {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> Response {
    fhir_json(
        StatusCode::METHOD_NOT_ALLOWED,
        &operation_outcome(&[Issue::error(
            IssueType::NotSupported,
            "method not allowed on this route",
        )]),
    )
}

/// Counts requests, records latency by route (the route pattern, never the raw path), and
/// writes the request's one log line: route, status, review actions, latency (the span adds
/// the method and request id). Nothing from the request body is logged.
async fn track(request: Request, next: Next) -> impl IntoResponse {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().to_string();
    let start = Instant::now();
    let response = next.run(request).await;
    let elapsed = start.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    metrics::counter!(REQUESTS, "route" => route.clone(), "method" => method, "status" => status.to_string())
        .increment(1);
    metrics::histogram!(LATENCY, "route" => route.clone()).record(elapsed);
    let actions = response
        .extensions()
        .get::<ReviewActions>()
        .map(|a| a.0.as_str())
        .unwrap_or("-");
    tracing::info!(
        route = %route,
        status,
        actions = %actions,
        latency_ms = (elapsed * 1e6).round() / 1e3,
        "answered"
    );
    response
}
