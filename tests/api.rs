//! The HTTP API, driven through the router (`oneshot`) and through a server on port 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use pas_adapter::pas::Limits;
use pas_adapter::policy::PolicySet;
use pas_adapter::service::{Service, ServiceSettings};
use serde_json::{Value, json};
use tower::ServiceExt;

use common::{IG_REQUESTS, assert_response_shape, example, referral};

const PAS: &str = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition";

fn app() -> Router {
    app_with(ServiceSettings::default())
}

fn app_with(settings: ServiceSettings) -> Router {
    pas_adapter::http::router(Service::new(PolicySet::embedded(), settings))
}

async fn send(app: Router, request: Request<Body>) -> (StatusCode, Option<String>, Value) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, content_type, body)
}

fn post(path: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::post(path);
    if let Some(ct) = content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    builder.body(body.into()).unwrap()
}

async fn submit(body: &Value) -> (StatusCode, Value) {
    let (status, _, body) = send(
        app(),
        post(
            "/Claim/$submit",
            Some("application/fhir+json"),
            body.to_string(),
        ),
    )
    .await;
    (status, body)
}

/// Asserts a rejection: status, and the first issue's code and expression.
async fn assert_rejected(body: &Value, status: u16, code: &str, expression: Option<&str>) {
    let (got, outcome) = submit(body).await;
    assert_rejection(got, &outcome, status, code, expression);
}

fn assert_rejection(
    got: StatusCode,
    outcome: &Value,
    status: u16,
    code: &str,
    expression: Option<&str>,
) {
    assert_eq!(got.as_u16(), status, "{outcome:#}");
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome:#}");
    let issue = &outcome["issue"][0];
    assert_eq!(issue["severity"], "error");
    assert_eq!(issue["code"], code, "{outcome:#}");
    assert!(issue["diagnostics"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(issue["expression"][0].as_str(), expression, "{outcome:#}");
}

/// A change to the Claim that breaks one reference.
type Edit = Box<dyn Fn(&mut Value)>;

fn claim(bundle: &mut Value) -> &mut Value {
    &mut bundle["entry"][0]["resource"]
}

#[tokio::test]
async fn every_ig_request_example_is_answered_item_by_item() {
    for name in IG_REQUESTS {
        let request = example(name);
        let (status, response) = submit(&request).await;
        assert_eq!(status, StatusCode::OK, "{name}: {response:#}");
        assert_response_shape(&request, &response);
        let cr = &response["entry"][0]["resource"];
        assert_eq!(
            cr["meta"]["profile"][0],
            format!("{PAS}/profile-claimresponse"),
            "{name}"
        );
        assert_eq!(
            response["meta"]["profile"][0],
            format!("{PAS}/profile-pas-response-bundle")
        );
    }
}

#[tokio::test]
async fn items_outside_any_policy_are_pended_with_a_note() {
    // The IG examples request home care, referrals and surgery: no automated policy applies,
    // so every item pends (decisions.md section 1), and nothing is authorized. The update
    // example cancels its item 2 (certificationType 3): that one is answered `C` (Cancelled).
    let (_, response) = submit(&example(IG_REQUESTS[2])).await;
    let cr = &response["entry"][0]["resource"];
    for (sequence, action) in common::item_actions(&response) {
        assert_eq!(action, if sequence == 2 { "C" } else { "A4" });
    }
    assert!(cr.get("preAuthRef").is_none());
    let note = cr["processNote"][0]["text"].as_str().unwrap();
    assert!(note.contains("No automated policy applies"), "{note}");
}

#[tokio::test]
async fn responses_are_fhir_json() {
    let (status, content_type, _) = send(
        app(),
        post(
            "/Claim/$submit",
            Some("application/json"),
            referral().to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.unwrap().starts_with("application/fhir+json"));
}

#[tokio::test]
async fn a_parameters_wrapper_is_accepted() {
    let wrapped = json!({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": referral()}]});
    let (status, response) = submit(&wrapped).await;
    assert_eq!(status, StatusCode::OK);
    assert_response_shape(&referral(), &response);
}

#[tokio::test]
async fn not_json_is_400() {
    let (status, _, outcome) = send(
        app(),
        post(
            "/Claim/$submit",
            Some("application/fhir+json"),
            "{\"resourceType\": \"Bundle\"",
        ),
    )
    .await;
    assert_rejection(status, &outcome, 400, "structure", None);
}

#[tokio::test]
async fn not_a_bundle_is_400() {
    assert_rejected(
        &json!({"resourceType": "Patient"}),
        400,
        "value",
        Some("Patient"),
    )
    .await;
    assert_rejected(&json!(["a"]), 400, "structure", None).await;
}

#[tokio::test]
async fn bundle_type_other_than_collection_is_400() {
    let mut bundle = referral();
    bundle["type"] = json!("transaction");
    assert_rejected(&bundle, 400, "value", Some("Bundle.type")).await;
}

#[tokio::test]
async fn missing_identifier_or_timestamp_is_400() {
    let mut bundle = referral();
    bundle.as_object_mut().unwrap().remove("identifier");
    assert_rejected(&bundle, 400, "required", Some("Bundle.identifier")).await;
    let mut bundle = referral();
    bundle.as_object_mut().unwrap().remove("timestamp");
    assert_rejected(&bundle, 400, "required", Some("Bundle.timestamp")).await;
}

#[tokio::test]
async fn first_entry_must_be_a_preauthorization_claim() {
    let mut bundle = referral();
    bundle["entry"].as_array_mut().unwrap().swap(0, 4);
    assert_rejected(&bundle, 400, "value", Some("Bundle.entry[0].resource")).await;
    let mut bundle = referral();
    claim(&mut bundle)["use"] = json!("claim");
    assert_rejected(&bundle, 400, "value", Some("Bundle.entry[0].resource.use")).await;
}

#[tokio::test]
async fn entry_without_full_url_is_400() {
    let mut bundle = referral();
    bundle["entry"][3]
        .as_object_mut()
        .unwrap()
        .remove("fullUrl");
    assert_rejected(&bundle, 400, "required", Some("Bundle.entry[3].fullUrl")).await;
}

#[tokio::test]
async fn two_entries_with_one_full_url_is_400() {
    let mut bundle = referral();
    bundle["entry"][5]["fullUrl"] = bundle["entry"][4]["fullUrl"].clone();
    assert_rejected(&bundle, 400, "duplicate", Some("Bundle.entry[5].fullUrl")).await;
}

#[tokio::test]
async fn unresolved_claim_references_are_400_at_their_path() {
    let at = "Bundle.entry[0].resource";
    let cases: Vec<(Edit, String)> = vec![
        (
            Box::new(|c| c["patient"] = json!({"reference": "Patient/missing"})),
            format!("{at}.patient"),
        ),
        (
            Box::new(|c| c["insurer"] = json!({"reference": "Organization/missing"})),
            format!("{at}.insurer"),
        ),
        (
            Box::new(|c| {
                c["provider"] =
                    json!({"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"})
            }),
            format!("{at}.provider"),
        ),
        (
            Box::new(|c| c["insurance"][0]["coverage"] = json!({"reference": "Coverage/missing"})),
            format!("{at}.insurance[0].coverage"),
        ),
        (
            Box::new(|c| {
                c["supportingInfo"][0]["valueReference"] =
                    json!({"reference": "DocumentReference/missing"})
            }),
            format!("{at}.supportingInfo[0].valueReference"),
        ),
        (
            Box::new(|c| {
                c["diagnosis"] = json!([{"sequence": 1, "diagnosisReference": {"reference": "Condition/missing"}}])
            }),
            format!("{at}.diagnosis[0].diagnosisReference"),
        ),
    ];
    for (edit, expression) in cases {
        let mut bundle = referral();
        edit(claim(&mut bundle));
        assert_rejected(&bundle, 400, "invariant", Some(&expression)).await;
    }
    // extension-requestedService on an item.
    let mut bundle = referral();
    let extensions = claim(&mut bundle)["item"][0]["extension"]
        .as_array_mut()
        .unwrap();
    let index = extensions
        .iter()
        .position(|e| e["url"] == format!("{PAS}/extension-requestedService"))
        .unwrap();
    extensions[index]["valueReference"] = json!({"reference": "ServiceRequest/missing"});
    assert_rejected(
        &bundle,
        400,
        "invariant",
        Some(&format!("{at}.item[0].extension[{index}].valueReference")),
    )
    .await;
}

#[tokio::test]
async fn a_reference_to_the_wrong_resource_type_is_400() {
    let mut bundle = referral();
    claim(&mut bundle)["patient"] = json!({"reference": "Organization/InsurerExample"});
    assert_rejected(
        &bundle,
        400,
        "value",
        Some("Bundle.entry[0].resource.patient"),
    )
    .await;
}

#[tokio::test]
async fn body_over_the_size_limit_is_413() {
    let small = ServiceSettings {
        limits: Limits {
            max_body_bytes: 1024,
            ..Limits::default()
        },
        ..ServiceSettings::default()
    };
    let (status, _, outcome) = send(
        app_with(small),
        post(
            "/Claim/$submit",
            Some("application/fhir+json"),
            referral().to_string(),
        ),
    )
    .await;
    assert_rejection(status, &outcome, 413, "too-long", None);
    // The default limit is 10 MiB.
    let padding = " ".repeat(10 * 1024 * 1024 + 1);
    let (status, _, outcome) = send(
        app(),
        post("/Claim/$submit", Some("application/fhir+json"), padding),
    )
    .await;
    assert_rejection(status, &outcome, 413, "too-long", None);
}

#[tokio::test]
async fn nesting_deeper_than_the_limit_is_400() {
    let mut bundle = referral();
    let mut deep = json!("leaf");
    // 35 levels of object-in-array: past the default 64, within serde_json's own 128.
    for _ in 0..35 {
        deep = json!({"extension": [deep]});
    }
    bundle["meta"] = json!({"extension": [deep]});
    let (status, outcome) = submit(&bundle).await;
    assert_eq!(status.as_u16(), 400);
    assert_eq!(outcome["issue"][0]["code"], "too-long");
    let expression = outcome["issue"][0]["expression"][0].as_str().unwrap();
    assert!(
        expression.starts_with("Bundle.meta.extension[0]"),
        "{expression}"
    );
}

#[tokio::test]
async fn wrong_media_type_is_415() {
    for content_type in [Some("text/plain"), Some("application/xml"), None] {
        let (status, _, outcome) = send(
            app(),
            post("/Claim/$submit", content_type, referral().to_string()),
        )
        .await;
        assert_rejection(status, &outcome, 415, "not-supported", None);
    }
    let (status, _, _) = send(
        app(),
        post(
            "/Claim/$submit",
            Some("application/fhir+json; fhirVersion=4.0; charset=utf-8"),
            referral().to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn inquire_without_a_store_says_not_supported() {
    let (status, _, outcome) = send(
        app(),
        post(
            "/Claim/$inquire",
            Some("application/fhir+json"),
            example("Bundle-PASClaimInquiryBundleExample.json").to_string(),
        ),
    )
    .await;
    assert_rejection(status, &outcome, 501, "not-supported", None);
}

#[tokio::test]
async fn metadata_declares_the_claim_operations() {
    let (status, _, body) = send(
        app(),
        Request::get("/metadata").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["resourceType"], "CapabilityStatement");
    assert_eq!(body["fhirVersion"], "4.0.1");
    assert_eq!(body["format"], json!(["json"]));
    let claim = body["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Claim")
        .unwrap();
    let ops: Vec<(&str, &str)> = claim["operation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap(),
                o["definition"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        vec![
            (
                "submit",
                "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-submit"
            ),
            (
                "inquire",
                "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-inquiry"
            ),
        ]
    );
}

#[tokio::test]
async fn questionnaire_is_what_the_policies_publish() {
    let published = PolicySet::embedded().questionnaire("kadcyla");
    let (status, _, body) = send(
        app(),
        Request::get("/Questionnaire/kadcyla")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    match published {
        Some(questionnaire) => {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body, questionnaire);
        }
        None => assert_rejection(status, &body, 404, "not-found", None),
    }
    let (status, _, body) = send(
        app(),
        Request::get("/Questionnaire/no-such-policy")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_rejection(status, &body, 404, "not-found", None);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_operation_outcomes() {
    let (status, _, body) = send(
        app(),
        Request::get("/Patient/1").body(Body::empty()).unwrap(),
    )
    .await;
    assert_rejection(status, &body, 404, "not-found", None);
    let (status, _, body) = send(
        app(),
        Request::get("/Claim/$submit").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["resourceType"], "OperationOutcome");
}

#[tokio::test]
async fn the_server_keeps_serving_after_bad_requests() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(pas_adapter::http::launch(listener, app(), async {
        let _ = stopped.await;
    }));
    // `/metrics` is served on the admin listener only.
    let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = admin_listener.local_addr().unwrap();
    let admin_server = tokio::spawn(pas_adapter::http::launch(
        admin_listener,
        pas_adapter::http::admin_router(None),
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/Claim/$submit");
    let bad_bodies = [
        ("application/fhir+json", "not json".to_owned()),
        ("text/plain", referral().to_string()),
        (
            "application/fhir+json",
            json!({"resourceType": "Bundle"}).to_string(),
        ),
        ("application/fhir+json", " ".repeat(11 * 1024 * 1024)),
    ];
    for (content_type, body) in bad_bodies {
        let response = client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error());
        let outcome: Value = response.json().await.unwrap();
        assert_eq!(outcome["resourceType"], "OperationOutcome");
    }
    let response = client
        .post(&url)
        .header("content-type", "application/fhir+json")
        .body(referral().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let public_metrics = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(public_metrics.status(), 404, "/metrics is not public");
    let metrics = client
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("pas_http_requests_total"), "{metrics}");
    assert!(
        metrics.contains("pas_review_actions_total{action=\"A4\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pas_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    admin_server.abort();
}

/// Request ids are logged with every line: a client id that is not a UUID (it could be a
/// medical record number) is replaced with our own; a UUID is kept for correlation.
#[tokio::test]
async fn only_uuid_request_ids_are_kept() {
    for (sent, kept) in [
        ("MRN-0042-SMITH", false),
        ("6f1c2a9e-3b7d-4e0f-9a51-2c8d7e4b1a30", true),
    ] {
        let mut request = post(
            "/Claim/$submit",
            Some("application/fhir+json"),
            referral().to_string(),
        );
        request
            .headers_mut()
            .insert("x-request-id", sent.parse().unwrap());
        let response = app().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(id == sent, kept, "{sent} -> {id}");
        assert!(uuid::Uuid::try_parse(id).is_ok(), "{id}");
    }
}

// ---------------------------------------------------------------------------------------------
// Claim values that make no sense (decisions.md section 7): 400 at the element

/// Sample 04: one J9354 item, `servicedPeriod` 2026-12-01..2027-05-31, certified when sane.
fn kadcyla() -> Value {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-bundles/04-mbc-fda-a1.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn zero_or_negative_quantity_is_400_at_the_quantity() {
    for value in [json!(0), json!(-5), json!(-0.5)] {
        let mut bundle = kadcyla();
        claim(&mut bundle)["item"][0]["quantity"]["value"] = value;
        assert_rejected(
            &bundle,
            400,
            "value",
            Some("Bundle.entry[0].resource.item[0].quantity.value"),
        )
        .await;
    }
}

#[tokio::test]
async fn a_period_that_ends_before_it_starts_is_400_at_the_period() {
    let mut bundle = kadcyla();
    claim(&mut bundle)["item"][0]["servicedPeriod"] =
        json!({"start": "2026-12-01", "end": "2026-11-30"});
    assert_rejected(
        &bundle,
        400,
        "invariant",
        Some("Bundle.entry[0].resource.item[0].servicedPeriod"),
    )
    .await;
    let mut bundle = kadcyla();
    claim(&mut bundle)["billablePeriod"] =
        json!({"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T09:00:00Z"});
    assert_rejected(
        &bundle,
        400,
        "invariant",
        Some("Bundle.entry[0].resource.billablePeriod"),
    )
    .await;
    // One day, or a partial end that covers the start, is a period.
    let mut bundle = kadcyla();
    claim(&mut bundle)["item"][0]["servicedPeriod"] =
        json!({"start": "2026-12-01", "end": "2026-12"});
    assert_eq!(submit(&bundle).await.0, StatusCode::OK);
}

/// Regression (issue 10): `servicedPeriod.start` `2026-02-30` was silently replaced by
/// `Claim.created` and the request certified.
#[tokio::test]
async fn a_date_that_is_not_a_calendar_date_is_400_at_the_date() {
    let at = "Bundle.entry[0].resource";
    let cases: Vec<(Edit, String)> = vec![
        (
            Box::new(|b| claim(b)["item"][0]["servicedPeriod"]["start"] = json!("2026-02-30")),
            format!("{at}.item[0].servicedPeriod.start"),
        ),
        (
            Box::new(|b| claim(b)["item"][0]["servicedPeriod"]["end"] = json!("2027-04-31")),
            format!("{at}.item[0].servicedPeriod.end"),
        ),
        (
            Box::new(|b| claim(b)["created"] = json!("2026-02-30T10:15:00-05:00")),
            format!("{at}.created"),
        ),
        (
            Box::new(|b| {
                let item = claim(b)["item"][0].as_object_mut().unwrap();
                item.remove("servicedPeriod");
                item.insert("servicedDate".into(), json!("2026-13-01"));
            }),
            format!("{at}.item[0].servicedDate"),
        ),
    ];
    for (edit, expression) in cases {
        let mut bundle = kadcyla();
        edit(&mut bundle);
        assert_rejected(&bundle, 400, "value", Some(&expression)).await;
    }
}

#[tokio::test]
async fn a_second_claim_in_the_bundle_is_400_unless_it_is_the_prior() {
    let mut bundle = kadcyla();
    let mut other = bundle["entry"][0].clone();
    other["fullUrl"] = json!("http://example.org/fhir/Claim/other");
    other["resource"]["id"] = json!("other");
    bundle["entry"].as_array_mut().unwrap().push(other);
    let last = bundle["entry"].as_array().unwrap().len() - 1;
    assert_rejected(
        &bundle,
        400,
        "value",
        Some(&format!("Bundle.entry[{last}].resource")),
    )
    .await;
    // The same Claim named as the prior this one updates is carried, not a second request.
    claim(&mut bundle)["related"] = json!([{
        "claim": {"reference": "http://example.org/fhir/Claim/other"},
        "relationship": {"coding": [{"code": "prior"}]}
    }]);
    let (status, response) = submit(&bundle).await;
    assert_eq!(status, StatusCode::OK, "{response:#}");
}
