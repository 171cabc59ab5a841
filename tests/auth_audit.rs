//! The audit trail (security.md section 3): the records of a run match the calls made (who,
//! operation, status, authorization touched, request id), refusals included, and carry no
//! clinical value; `GET /AuditEvent` serves them to reviewers as FHIR AuditEvents.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth_common;

use auth_common::{Assertion, SmartServer, first_number, inquiry, keys, sample};
use pas_adapter::store::audit::{AgentKind, AuditQuery};
use serde_json::Value;

/// Every string of the sample's clinical resources that could identify the patient or say
/// something about their health: names, birth date, identifiers, codes, values.
fn clinical_strings(bundle: &Value) -> Vec<String> {
    fn walk(value: &Value, key: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| walk(v, k, out)),
            Value::Array(items) => items.iter().for_each(|v| walk(v, key, out)),
            Value::String(s)
                if s.len() >= 4
                    && !s.starts_with("http")
                    && !s.starts_with("urn:")
                    && [
                        "family",
                        "given",
                        "birthDate",
                        "value",
                        "code",
                        "subscriberId",
                        "text",
                        "display",
                    ]
                    .contains(&key) =>
            {
                out.push(s.clone())
            }
            Value::Number(n) if key == "value" => out.push(n.to_string()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for entry in bundle["entry"].as_array().unwrap() {
        let resource = &entry["resource"];
        if [
            "Patient",
            "Coverage",
            "Condition",
            "Observation",
            "MedicationRequest",
            "QuestionnaireResponse",
        ]
        .contains(&resource["resourceType"].as_str().unwrap_or(""))
        {
            walk(resource, "", &mut out);
        }
    }
    out.retain(|s| !matches!(s.as_str(), "true" | "false"));
    out
}

/// Every string and number value of a JSON document, as text.
fn leaves(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map.values().flat_map(leaves).collect(),
        Value::Array(items) => items.iter().flat_map(leaves).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

async fn call_with_id(
    server: &SmartServer,
    path: &str,
    token: Option<&str>,
    body: &Value,
    request_id: &str,
) -> (u16, Value) {
    let mut request = server
        .client
        .post(format!("{}{path}", server.base))
        .header("content-type", "application/fhir+json")
        .header("x-request-id", request_id)
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn the_audit_trail_matches_the_calls_and_holds_no_clinical_values() {
    let server = SmartServer::start().await;
    let k = keys();
    let id = |n: u32| format!("00000000-0000-4000-8000-{n:012}");

    // 1. a token; 2. a refused token request (unknown kid).
    let a = server.token_a().await;
    let bad = Assertion {
        kid: Some("stolen".into()),
        ..Assertion::new("gateway-a", &k.a_ec, &server.token_url())
    };
    let (status, _) = server
        .token_request(&bad.sign(&k.a_ec.encoding), "system/Claim.c")
        .await;
    assert_eq!(status, 401);
    // 3. $submit by A; 4. $inquire by A; 5. $submit without a token; 6. $submit by the
    // inquiry-only reader (403).
    let (status, answer) =
        call_with_id(&server, "/Claim/$submit", Some(&a), &sample(), &id(3)).await;
    assert_eq!(status, 200);
    let number = first_number(&answer);
    let (status, _) =
        call_with_id(&server, "/Claim/$inquire", Some(&a), &inquiry(None), &id(4)).await;
    assert_eq!(status, 200);
    let (status, _) = call_with_id(&server, "/Claim/$submit", None, &sample(), &id(5)).await;
    assert_eq!(status, 401);
    let reader = server.token("reader", &k.reader_ec, "system/Claim.r").await;
    let (status, _) =
        call_with_id(&server, "/Claim/$submit", Some(&reader), &sample(), &id(6)).await;
    assert_eq!(status, 403);

    // The store holds exactly these, in order.
    let records = server
        .store
        .audit_events(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    type Row<'a> = (AgentKind, Option<&'a str>, &'a str, u16, Vec<String>);
    let summary: Vec<Row> = records
        .iter()
        .map(|r| {
            (
                r.agent_kind,
                r.agent.as_deref(),
                r.operation.as_str(),
                r.status,
                r.authorizations.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                AgentKind::Client,
                Some("gateway-a"),
                "/auth/token",
                200,
                vec![]
            ),
            (
                AgentKind::Anonymous,
                Some("gateway-a"),
                "/auth/token",
                401,
                vec![]
            ),
            (
                AgentKind::Client,
                Some("gateway-a"),
                "/Claim/$submit",
                200,
                vec![number.clone()]
            ),
            (
                AgentKind::Client,
                Some("gateway-a"),
                "/Claim/$inquire",
                200,
                vec![number.clone()]
            ),
            (AgentKind::Anonymous, None, "/Claim/$submit", 401, vec![]),
            (
                AgentKind::Client,
                Some("reader"),
                "/auth/token",
                200,
                vec![]
            ),
            (
                AgentKind::Client,
                Some("reader"),
                "/Claim/$submit",
                403,
                vec![]
            ),
        ]
    );
    let request_ids: Vec<&str> = records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(request_ids[2..5], [id(3), id(4), id(5)]);
    assert_eq!(request_ids[6], id(6));

    // Served to a reviewer as AuditEvents, filtered by agent and date.
    let today = chrono::Utc::now().date_naive();
    let reviewer = server.reviewer_token();
    let (status, _, bundle) = server
        .call(
            "GET",
            &format!("/AuditEvent?date=ge{today}&agent=gateway-a"),
            Some(&reviewer),
            None,
        )
        .await;
    assert_eq!(status, 200, "{bundle}");
    assert_eq!(bundle["type"], "searchset");
    let events: Vec<&Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    assert_eq!(events.len(), 4, "{bundle:#}");
    assert!(events.iter().all(|e| e["resourceType"] == "AuditEvent"));
    let submit = events[2];
    assert_eq!(
        submit["agent"][0]["who"]["identifier"]["value"],
        "gateway-a"
    );
    assert_eq!(submit["outcome"], "0");
    assert_eq!(submit["entity"][0]["what"]["identifier"]["value"], number);
    assert_eq!(submit["entity"][1]["what"]["identifier"]["value"], id(3));
    assert_eq!(events[1]["outcome"], "4");
    // Tomorrow onwards: nothing yet.
    let (_, _, later) = server
        .call(
            "GET",
            &format!("/AuditEvent?date=gt{today}"),
            Some(&reviewer),
            None,
        )
        .await;
    assert_eq!(later["total"], 0);

    // No clinical value anywhere in the trail.
    let (_, _, everything) = server
        .call("GET", "/AuditEvent", Some(&reviewer), None)
        .await;
    let text = everything.to_string();
    let clinical = clinical_strings(&sample());
    assert!(clinical.len() > 10, "{clinical:?}");
    let leaves = leaves(&everything);
    for value in clinical {
        if value.parse::<f64>().is_ok() {
            // A bare number (a weight, a lab value) would turn up inside any timestamp or
            // uuid: it must not be a value of its own.
            assert!(!leaves.contains(&value), "`{value}` is in the audit trail");
        } else {
            assert!(!text.contains(&value), "`{value}` is in the audit trail");
        }
    }
    // Nor a token.
    assert!(!text.contains(&a) && !text.contains(&reviewer));
}
