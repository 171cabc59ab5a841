//! `GET /AuditEvent?date=ge...&agent=...`: the audit trail as FHIR AuditEvent resources in a
//! `searchset` Bundle, for a plan's compliance staff (reviewer token; see
//! [`crate::auth::routes`]).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use super::auth::Security;
use super::error::{ApiError, fhir_json};
use crate::fhir::{Issue, IssueType};
use crate::pas::Rejection;
use crate::store::audit::{AgentKind, AuditQuery, AuditRecord};

/// Most records in one answer (`_count`, default and ceiling).
const MAX_COUNT: u32 = 1000;

fn bad(parameter: &str, message: String) -> ApiError {
    Rejection::bad_request(Issue::error(IssueType::Value, message).at(parameter)).into()
}

/// One `date` search value (`ge2026-12-01`, `lt2026-12-02T10:00:00Z`, `2026-12-01`) applied to
/// the query's bounds. A day is the whole day (UTC).
fn apply_date(query: &mut AuditQuery, value: &str) -> Result<(), ApiError> {
    let (prefix, rest) = match value.get(..2) {
        Some(p @ ("ge" | "gt" | "le" | "lt" | "eq")) => (p, &value[2..]),
        _ => ("eq", value),
    };
    let (start, end): (DateTime<Utc>, DateTime<Utc>) =
        if let Ok(day) = NaiveDate::parse_from_str(rest, "%Y-%m-%d") {
            let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
            (start, start + Duration::days(1))
        } else if let Ok(instant) = DateTime::parse_from_rfc3339(rest) {
            let instant = instant.with_timezone(&Utc);
            (instant, instant + Duration::microseconds(1))
        } else {
            return Err(bad(
                "date",
                format!("`{value}` is not a date search (e.g. `ge2026-12-01`)"),
            ));
        };
    let later = |a: Option<DateTime<Utc>>, b| Some(a.map_or(b, |a: DateTime<Utc>| a.max(b)));
    let earlier = |a: Option<DateTime<Utc>>, b| Some(a.map_or(b, |a: DateTime<Utc>| a.min(b)));
    match prefix {
        "ge" => query.since = later(query.since, start),
        "gt" => query.since = later(query.since, end),
        "lt" => query.before = earlier(query.before, start),
        "le" => query.before = earlier(query.before, end),
        _ => {
            query.since = later(query.since, start);
            query.before = earlier(query.before, end);
        }
    }
    Ok(())
}

/// The search parameters: `date` (repeatable), `agent` (a client id or reviewer), `_count`.
pub fn parse_query(parameters: &[(String, String)]) -> Result<AuditQuery, ApiError> {
    let mut query = AuditQuery {
        limit: MAX_COUNT,
        ..AuditQuery::default()
    };
    for (name, value) in parameters {
        match name.as_str() {
            "date" => apply_date(&mut query, value)?,
            "agent" => query.agent = Some(value.clone()),
            "_count" => {
                query.limit = value
                    .parse::<u32>()
                    .map_err(|_| bad("_count", format!("`{value}` is not a count")))?
                    .min(MAX_COUNT)
            }
            other => {
                return Err(bad(
                    other,
                    format!("search parameter `{other}` is not supported on AuditEvent"),
                ));
            }
        }
    }
    Ok(query)
}

/// One record as a FHIR R4 AuditEvent.
pub fn audit_event(record: &AuditRecord) -> Value {
    let outcome = match record.status {
        200..=399 => "0",
        400..=499 => "4",
        _ => "8",
    };
    let agent_type = match record.agent_kind {
        AgentKind::Client => "client",
        AgentKind::Reviewer => "reviewer",
        AgentKind::Anonymous => "anonymous",
    };
    let mut entity: Vec<Value> = record
        .authorizations
        .iter()
        .map(|number| {
            json!({
                "what": {"identifier": {"system": "urn:pas-adapter:authorization-number", "value": number}},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
            })
        })
        .collect();
    entity.push(json!({
        "what": {"identifier": {"system": "urn:pas-adapter:request-id", "value": record.request_id}},
        "description": "request id (x-request-id)",
    }));
    let action = if record.method == "GET" { "R" } else { "E" };
    json!({
        "resourceType": "AuditEvent",
        "id": record.id,
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "action": action,
        "recorded": record.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "outcome": outcome,
        "outcomeDesc": format!("HTTP {} {} {}", record.status, record.method, record.operation),
        "agent": [{
            "type": {"text": agent_type},
            "who": match &record.agent {
                Some(id) => json!({"identifier": {"system": format!("urn:pas-adapter:{agent_type}"), "value": id}}),
                None => json!({"display": "unauthenticated caller"}),
            },
            "requestor": true,
        }],
        "source": {"observer": {"display": "pas-adapter"}},
        "entity": entity,
    })
}

pub async fn search(
    State(security): State<Security>,
    Query(parameters): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let Security::Smart(smart) = security else {
        return Err(ApiError::NotFound(
            "no audit trail: authentication is disabled on this server".to_owned(),
        ));
    };
    let query = parse_query(&parameters)?;
    let records = smart.store().audit_events(&query).await.map_err(|error| {
        tracing::error!(%error, "cannot read the audit trail");
        ApiError::from(Rejection::internal("the audit trail could not be read"))
    })?;
    let entries: Vec<Value> = records
        .iter()
        .map(|r| json!({"fullUrl": format!("urn:uuid:{}", r.id), "resource": audit_event(r), "search": {"mode": "match"}}))
        .collect();
    Ok(fhir_json(
        StatusCode::OK,
        &json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "total": entries.len(),
            "entry": entries,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Option<AuditQuery> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        parse_query(&owned).ok()
    }

    #[test]
    fn date_searches_bound_the_days_they_name() {
        let q = query(&[
            ("date", "ge2026-12-01"),
            ("date", "le2026-12-02"),
            ("agent", "a"),
        ]);
        let q = q.unwrap_or_default();
        assert_eq!(
            q.since.map(|t| t.to_rfc3339()),
            Some("2026-12-01T00:00:00+00:00".to_owned())
        );
        assert_eq!(
            q.before.map(|t| t.to_rfc3339()),
            Some("2026-12-03T00:00:00+00:00".to_owned())
        );
        assert_eq!(q.agent.as_deref(), Some("a"));
        let q = query(&[("date", "2026-12-01")]).unwrap_or_default();
        assert_eq!(
            q.before.map(|t| t.to_rfc3339()),
            Some("2026-12-02T00:00:00+00:00".to_owned())
        );
        assert!(query(&[("date", "ge-yesterday")]).is_none());
        assert!(query(&[("patient", "x")]).is_none());
        assert_eq!(
            query(&[("_count", "5000")]).map(|q| q.limit),
            Some(MAX_COUNT)
        );
    }
}
