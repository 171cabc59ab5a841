//! The reviewer worklist page (workflow.md section 4): server-rendered HTML (minijinja
//! templates, auto-escaped) that works without JavaScript. Reviewers sign in with their
//! token; the page keeps a session cookie (`HttpOnly`, `SameSite=Strict`) and every form
//! carries the session's form token, so a cross-site post is refused even where a browser
//! would send the cookie.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use minijinja::{Environment, context};
use serde::Serialize;
use serde_json::Value;

use super::review_api::{load_case, load_cases, review_rejection};
use super::router::AppState;
use crate::review::view::{self, Case, missing_criteria};
use crate::review::{self, CaseFilter, DecisionInput, Reviewer};
use crate::store::Store;

const COOKIE: &str = "pas_review_session";
/// How long a sign-in lasts.
const SESSION_HOURS: i64 = 8;

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            (
                "layout.html",
                include_str!("../../templates/review/layout.html"),
            ),
            (
                "sign_in.html",
                include_str!("../../templates/review/sign_in.html"),
            ),
            (
                "list.html",
                include_str!("../../templates/review/list.html"),
            ),
            (
                "case.html",
                include_str!("../../templates/review/case.html"),
            ),
        ] {
            if let Err(error) = env.add_template(name, source) {
                tracing::error!(%error, name, "review template does not compile");
            }
        }
        env
    })
}

fn render(status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    let rendered = templates()
        .get_template(name)
        .and_then(|template| template.render(ctx));
    match rendered {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                     frame-ancestors 'none'",
                ),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, name, "review page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The signed-in reviewer and the session's form token, if any.
async fn session(store: &Store, headers: &HeaderMap) -> Option<(Reviewer, String)> {
    let token = cookie_value(headers)?;
    match store.review_session(&token).await {
        Ok(found) => found,
        Err(error) => {
            tracing::error!(%error, "cannot read the review session");
            None
        }
    }
}

fn sign_in_page(status: StatusCode, error: Option<&str>) -> Response {
    render(
        status,
        "sign_in.html",
        context! { error => error, reviewer => Option::<String>::None },
    )
}

fn to_sign_in() -> Response {
    Redirect::to("/review/sign-in").into_response()
}

fn no_store() -> Response {
    (
        StatusCode::NOT_IMPLEMENTED,
        "reviewing needs the request store",
    )
        .into_response()
}

/// "2d 4h", "5h 12m", "7m".
fn human(duration: chrono::Duration) -> String {
    let minutes = duration.num_minutes().abs();
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins}m")
    } else {
        format!("{mins}m")
    }
}

fn shown(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[derive(Debug, Serialize)]
struct ItemRow {
    sequence: u32,
    action: String,
    policy: String,
    missing: Vec<String>,
    documents: Vec<String>,
    summary: String,
    criteria: Vec<CriterionRow>,
    example: String,
}

#[derive(Debug, Serialize)]
struct CriterionRow {
    id: String,
    text: String,
    status: String,
    class: &'static str,
    depth: usize,
    because: String,
}

#[derive(Debug, Serialize)]
struct CaseRow {
    id: String,
    version: i64,
    claim: String,
    priority: &'static str,
    status: &'static str,
    received: String,
    age: String,
    due: String,
    left: String,
    overdue: bool,
    policies: String,
    closed_at: Option<String>,
    closed_by: Option<&'static str>,
    items: Vec<ItemRow>,
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn case_row(case: &Case, state: &AppState, now: DateTime<Utc>) -> CaseRow {
    let clock = state.service.review_clock();
    let record = &case.record;
    let due = clock.due_of(record);
    let items: Vec<ItemRow> = case
        .pended()
        .into_iter()
        .map(|sequence| {
            let trace = case.trace_item(sequence).cloned().unwrap_or(Value::Null);
            let criteria: Vec<CriterionRow> = trace
                .get("criteria")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    let id = c.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
                    let status = c.get("status").and_then(Value::as_str).unwrap_or("");
                    CriterionRow {
                        depth: id.matches('.').count(),
                        class: match status {
                            "met" => "met",
                            "not met" => "notmet",
                            _ => "missing",
                        },
                        status: status.to_owned(),
                        because: strings(c.get("because")).join("; "),
                        text: c
                            .get("text")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        id,
                    }
                })
                .collect();
            let missing = missing_criteria(&trace);
            ItemRow {
                sequence,
                action: case
                    .closing
                    .as_ref()
                    .and_then(|c| view::trace_item(&c.decision_trace, sequence))
                    .and_then(|i| i.get("action"))
                    .and_then(Value::as_str)
                    .unwrap_or("A4")
                    .to_owned(),
                policy: trace
                    .pointer("/policy/id")
                    .and_then(Value::as_str)
                    .unwrap_or("no automated policy")
                    .to_owned(),
                example: missing
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "A.i.C.2.b".into()),
                missing,
                documents: strings(trace.get("documents")),
                summary: trace
                    .get("summary")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                criteria,
            }
        })
        .collect();
    let mut policies: Vec<String> = items.iter().map(|i| i.policy.clone()).collect();
    policies.dedup();
    CaseRow {
        id: record.id.clone(),
        version: record.version,
        claim: case.opened.claim_identifier.clone(),
        priority: record.priority.as_str(),
        status: if record.is_open() { "open" } else { "closed" },
        received: shown(record.received_at),
        age: human(now - record.received_at),
        due: shown(due),
        left: human(due - now),
        overdue: clock.overdue(record, now),
        policies: policies.join(", "),
        closed_at: record.closed.as_ref().map(|c| shown(c.at)),
        closed_by: record.closed.as_ref().map(|c| c.how.as_str()),
        items,
    }
}

#[derive(Debug, Serialize)]
struct EvidenceRow {
    kind: &'static str,
    text: String,
}

fn concept_text(concept: Option<&Value>) -> String {
    let Some(concept) = concept else {
        return String::new();
    };
    if let Some(text) = concept.get("text").and_then(Value::as_str) {
        return text.to_owned();
    }
    concept
        .get("coding")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let code = c.get("code").and_then(Value::as_str).unwrap_or("");
            match c.get("display").and_then(Value::as_str) {
                Some(display) => format!("{code} {display}"),
                None => code.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn value_text(resource: &Value) -> String {
    if let Some(q) = resource.get("valueQuantity") {
        return format!(
            "{} {}",
            q.get("value").map(Value::to_string).unwrap_or_default(),
            q.get("unit").and_then(Value::as_str).unwrap_or("")
        );
    }
    if let Some(c) = resource.get("valueCodeableConcept") {
        return concept_text(Some(c));
    }
    for key in ["valueString", "valueBoolean", "valueInteger", "valueDate"] {
        if let Some(v) = resource.get(key) {
            return v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
        }
    }
    String::new()
}

fn answers(items: &Value, out: &mut Vec<EvidenceRow>) {
    for item in items.as_array().into_iter().flatten() {
        let link = item.get("linkId").and_then(Value::as_str).unwrap_or("");
        for answer in item
            .get("answer")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let value = answer
                .as_object()
                .and_then(|o| o.iter().find(|(k, _)| k.starts_with("value")))
                .map(|(_, v)| match v {
                    // valueCoding
                    Value::Object(o) if o.contains_key("code") => {
                        let code = o.get("code").and_then(Value::as_str).unwrap_or("");
                        match o.get("display").and_then(Value::as_str) {
                            Some(display) => format!("{code} ({display})"),
                            None => code.to_owned(),
                        }
                    }
                    Value::Object(_) => concept_text(Some(v)),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            out.push(EvidenceRow {
                kind: "Questionnaire answer",
                text: format!("{link}: {value}"),
            });
            if let Some(nested) = answer.get("item") {
                answers(nested, out);
            }
        }
        if let Some(nested) = item.get("item") {
            answers(nested, out);
        }
    }
}

/// The clinical resources of the request, as the engine read them.
fn evidence(request: &Value) -> Vec<EvidenceRow> {
    let mut rows = Vec::new();
    for resource in request
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("resource"))
    {
        match resource.get("resourceType").and_then(Value::as_str) {
            Some("Condition") => rows.push(EvidenceRow {
                kind: "Diagnosis",
                text: concept_text(resource.get("code")),
            }),
            Some("Observation") => rows.push(EvidenceRow {
                kind: "Observation",
                text: format!(
                    "{}: {} ({})",
                    concept_text(resource.get("code")),
                    value_text(resource),
                    resource
                        .get("effectiveDateTime")
                        .and_then(Value::as_str)
                        .unwrap_or("no date")
                ),
            }),
            Some("MedicationStatement" | "MedicationRequest" | "MedicationAdministration") => rows
                .push(EvidenceRow {
                    kind: "Therapy",
                    text: format!(
                        "{} ({} to {})",
                        concept_text(resource.get("medicationCodeableConcept")),
                        resource
                            .pointer("/effectivePeriod/start")
                            .and_then(Value::as_str)
                            .unwrap_or("?"),
                        resource
                            .pointer("/effectivePeriod/end")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                    ),
                }),
            Some("QuestionnaireResponse") => {
                if let Some(items) = resource.get("item") {
                    answers(items, &mut rows);
                }
            }
            Some("DocumentReference") => rows.push(EvidenceRow {
                kind: "Document",
                text: format!(
                    "{} {}",
                    concept_text(resource.get("type")),
                    resource
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                ),
            }),
            _ => {}
        }
    }
    rows
}

#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    decided: Option<String>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let Some(store) = state.service.store() else {
        return no_store();
    };
    let Some((reviewer, csrf)) = session(store, &headers).await else {
        return to_sign_in();
    };
    let cases = match load_cases(&state, CaseFilter::Open).await {
        Ok(cases) => cases,
        Err(error) => return error.into_response(),
    };
    let now = Utc::now();
    let rows: Vec<CaseRow> = cases.iter().map(|c| case_row(c, &state, now)).collect();
    let notice = query
        .decided
        .map(|claim| format!("Decision recorded for {claim}."));
    render(
        StatusCode::OK,
        "list.html",
        context! { cases => minijinja::Value::from(minijinja::value::Serde(&rows)), reviewer => reviewer.name, csrf => csrf, notice => notice },
    )
}

pub async fn sign_in_form() -> Response {
    sign_in_page(StatusCode::OK, None)
}

pub async fn sign_in(
    State(state): State<Arc<AppState>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(store) = state.service.store() else {
        return no_store();
    };
    let token = form.get("token").map(|t| t.trim()).unwrap_or("");
    let reviewer = match store.reviewer_by_token(token).await {
        Ok(Some(reviewer)) if !token.is_empty() => reviewer,
        Ok(_) => {
            return sign_in_page(
                StatusCode::UNAUTHORIZED,
                Some("That token is not a reviewer's token."),
            );
        }
        Err(error) => {
            tracing::error!(%error, "cannot check a reviewer token");
            return sign_in_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("The sign-in failed on our side."),
            );
        }
    };
    match store
        .create_review_session(&reviewer, chrono::Duration::hours(SESSION_HOURS))
        .await
    {
        Ok((session, _)) => {
            let cookie = format!(
                "{COOKIE}={session}; Path=/review; HttpOnly; SameSite=Strict; Max-Age={}",
                SESSION_HOURS * 3600
            );
            let mut response = Redirect::to("/review").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(error) => {
            tracing::error!(%error, "cannot start a review session");
            sign_in_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("The sign-in failed on our side."),
            )
        }
    }
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        Html("<p>This form is not from this session; reload the page and try again.</p>"),
    )
        .into_response()
}

pub async fn sign_out(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(store) = state.service.store() else {
        return no_store();
    };
    if let Some((_, csrf)) = session(store, &headers).await {
        if form.get("csrf") != Some(&csrf) {
            return forbidden();
        }
        if let Some(token) = cookie_value(&headers)
            && let Err(error) = store.end_review_session(&token).await
        {
            tracing::error!(%error, "cannot end a review session");
        }
    }
    let mut response = to_sign_in();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "pas_review_session=; Path=/review; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}

async fn case_page(
    state: &AppState,
    reviewer: &Reviewer,
    csrf: &str,
    id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let case = match load_case(state, id).await {
        Ok(case) => case,
        Err(error) => return error.into_response(),
    };
    let Some(store) = state.service.store() else {
        return StatusCode::NOT_IMPLEMENTED.into_response();
    };
    let history = match store.answer_history(&case.record.chain_id).await {
        Ok(history) => history,
        Err(error) => {
            tracing::error!(%error, "cannot read the answer history");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let history: Vec<HashMap<&str, String>> = history
        .iter()
        .map(|(version, origin)| {
            let items = version
                .decision_trace
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| {
                    format!(
                        "{}: {}",
                        i.get("sequence").map(Value::to_string).unwrap_or_default(),
                        i.get("action").and_then(Value::as_str).unwrap_or("?")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let by = match origin {
                Some(o) => match &o.reviewer {
                    Some(name) => format!("reviewer {name}"),
                    None => o.answered_by.clone(),
                },
                None => "unknown".into(),
            };
            HashMap::from([
                ("version", version.version.to_string()),
                (
                    "at",
                    shown(
                        origin
                            .as_ref()
                            .map(|o| o.answered_at)
                            .unwrap_or(version.received_at),
                    ),
                ),
                ("by", by),
                ("items", items),
            ])
        })
        .collect();
    let row = case_row(&case, state, Utc::now());
    render(
        status,
        "case.html",
        context! {
            items => minijinja::Value::from(minijinja::value::Serde(&row.items)),
            case => minijinja::Value::from(minijinja::value::Serde(&row)),
            evidence => minijinja::Value::from(minijinja::value::Serde(evidence(&case.opened.request))),
            history => minijinja::Value::from(minijinja::value::Serde(&history)),
            reviewer => &reviewer.name,
            csrf => csrf,
            error => error,
        },
    )
}

pub async fn case(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(store) = state.service.store() else {
        return no_store();
    };
    let Some((reviewer, csrf)) = session(store, &headers).await else {
        return to_sign_in();
    };
    case_page(&state, &reviewer, &csrf, &id, StatusCode::OK, None).await
}

/// The decision form as the API's [`DecisionInput`]: empty fields are absent.
fn decision_input(form: &HashMap<String, String>, case: &Case) -> Result<DecisionInput, String> {
    let field = |name: String| {
        form.get(&name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let mut items = Vec::new();
    for sequence in case.pended() {
        let action = field(format!("action_{sequence}")).unwrap_or_default();
        let quantity = match field(format!("quantity_{sequence}")) {
            Some(q) => Some(
                q.parse::<f64>()
                    .map_err(|_| format!("item {sequence}: `{q}` is not a quantity"))?,
            ),
            None => None,
        };
        let date = |name: String| -> Result<Option<chrono::NaiveDate>, String> {
            field(name)
                .map(|d| {
                    chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                        .map_err(|_| format!("item {sequence}: `{d}` is not a date"))
                })
                .transpose()
        };
        let period = match (
            date(format!("start_{sequence}"))?,
            date(format!("end_{sequence}"))?,
        ) {
            (Some(start), Some(end)) => Some(review::decide::PeriodInput { start, end }),
            _ => None,
        };
        let criteria = field(format!("criteria_{sequence}")).map(|c| {
            c.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        });
        items.push(review::decide::ItemInput {
            sequence,
            action,
            reason: field(format!("reason_{sequence}")),
            criteria,
            quantity,
            period,
        });
    }
    let version = field("version".into()).and_then(|v| v.parse().ok());
    Ok(DecisionInput { version, items })
}

pub async fn decide(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(store) = state.service.store() else {
        return no_store();
    };
    let Some((reviewer, csrf)) = session(store, &headers).await else {
        return to_sign_in();
    };
    if form.get("csrf") != Some(&csrf) {
        return forbidden();
    }
    let case = match load_case(&state, &id).await {
        Ok(case) => case,
        Err(error) => return error.into_response(),
    };
    let input = match decision_input(&form, &case) {
        Ok(input) => input,
        Err(message) => {
            return case_page(
                &state,
                &reviewer,
                &csrf,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(message),
            )
            .await;
        }
    };
    match review::decide(&state.service, &id, &reviewer, &input).await {
        Ok(_) => {
            let claim: String = case
                .opened
                .claim_identifier
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "-_.|:/".contains(*c))
                .collect();
            let target = format!(
                "/review?decided={}",
                claim
                    .replace('|', "%7C")
                    .replace(':', "%3A")
                    .replace('/', "%2F")
            );
            Redirect::to(&target).into_response()
        }
        Err(error) => {
            let status =
                StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = if status.is_server_error() {
                // Logged by the API's mapping; the page says only that it failed.
                let _ = review_rejection(error);
                "The decision could not be recorded on our side.".to_owned()
            } else {
                error.to_string()
            };
            case_page(&state, &reviewer, &csrf, &id, status, Some(message)).await
        }
    }
}
