//! Pended is not the end (issue 8, workflow.md sections 1, 2 and 4): a pended answer opens a
//! review case; a reviewer decision, a provider update or a cancellation closes it as the
//! next version of the authorization, which `$inquire` then returns; the reviewer API refuses
//! what it must, with the status it must.
//!
//! Every scenario runs on SQLite and on PostgreSQL (when `PAS_TEST_POSTGRES_URL` is set).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use pas_adapter::pas::authz::NumberKey;
use pas_adapter::pas::{Limits, check};
use pas_adapter::policy::PolicySet;
use pas_adapter::service::{Service, ServiceSettings};
use pas_adapter::store::Store;
use serde_json::{Value, json};
use support::db::Db;
use tower::ServiceExt;

const PAS: &str = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition";
const TRACE: &str = "http://example.org/PATIENT_EVENT_TRACE_NUMBER";
const POLICY: &str = "MP-RX-FP-48-23";

/// Sample 15: metastatic breast cancer, HER2 IHC 2+ without ISH: item 1 (J9354, 2016 mg,
/// 2026-12-01 to 2027-05-31) pended (A4).
fn pended() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-bundles/15-ihc2-no-ish-a4.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

struct App {
    router: Router,
    store: Store,
    token: String,
}

/// The number `$submit` issues for item 1 of `request` on this store: keyed with the store's
/// number key over the submitter (here the Bundle identifier's system: no authentication).
async fn submit_number(store: &Store, request: Value) -> String {
    let key = store
        .secret(pas_adapter::store::secrets::AUTHORIZATION_NUMBER_KEY)
        .await
        .unwrap();
    let checked = check(request, &Limits::default()).unwrap();
    let identity = checked.identity();
    identity.keyed_item_number(&NumberKey::new(key.bytes()), &identity.bundle_system, 1)
}

async fn app(db: &Db) -> App {
    let store = Store::connect(&db.uri).await.unwrap();
    let (_, token) = store.add_reviewer("Dr. Rivera").await.unwrap();
    let service =
        Service::new(PolicySet::embedded(), ServiceSettings::default()).with_store(store.clone());
    App {
        router: pas_adapter::http::router(service),
        store,
        token,
    }
}

async fn send(app: &App, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn fhir_post(app: &App, path: &str, body: &Value) -> (StatusCode, Value) {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/fhir+json")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(app, request).await
}

async fn get(app: &App, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    send(app, request.body(Body::empty()).unwrap()).await
}

async fn decide(app: &App, case: &str, body: &Value, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::post(format!("/review/cases/{case}/decision"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    send(app, request.body(Body::from(body.to_string())).unwrap()).await
}

async fn open_cases(app: &App) -> Vec<Value> {
    let (status, body) = get(app, "/review/cases?status=open", Some(&app.token)).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    body["cases"].as_array().unwrap().clone()
}

/// `(itemSequence, review action, authorization number)` per ClaimResponse item.
fn items(response: &Value) -> Vec<(u64, String, Option<String>)> {
    response["entry"][0]["resource"]["item"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let review = item["adjudication"][0]["extension"][0]["extension"]
                .as_array()
                .unwrap();
            let number = review
                .iter()
                .find(|e| e["url"] == "number")
                .and_then(|e| e["valueString"].as_str())
                .map(str::to_owned);
            let code = review
                .iter()
                .find(|e| e["url"] == format!("{PAS}/extension-reviewActionCode"))
                .and_then(|e| e["valueCodeableConcept"]["coding"][0]["code"].as_str())
                .unwrap()
                .to_owned();
            (item["itemSequence"].as_u64().unwrap(), code, number)
        })
        .collect()
}

fn note(response: &Value) -> String {
    response["entry"][0]["resource"]["processNote"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn time(text: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// The latest answer `$inquire` returns for sample 15's Claim identifier.
async fn inquired(app: &App) -> Value {
    let mut inquiry = pended();
    inquiry["identifier"]["value"] = json!("inquiry-15");
    let (status, body) = fhir_post(app, "/Claim/$inquire", &inquiry).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let found = body["parameter"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{body:#}");
    found[0]["resource"].clone()
}

/// An update of sample 15 under identifier `claim`, naming the original as prior.
fn update(claim: &str, quantity: u64) -> Value {
    let mut bundle = pended();
    bundle["identifier"]["value"] = json!(format!("tx-{claim}"));
    let c = &mut bundle["entry"][0]["resource"];
    c["identifier"][0]["value"] = json!(claim);
    c["related"] = json!([{
        "claim": {"identifier": {"system": TRACE, "value": "TRN-2026-0015"}},
        "relationship": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship",
            "code": "prior"}]}
    }]);
    c["item"][0]["quantity"]["value"] = json!(quantity);
    bundle
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async fn pended_answer_opens_a_case_a_denial_closes_it(db: &Db) {
    let app = app(db).await;
    let (status, first) = fhir_post(&app, "/Claim/$submit", &pended()).await;
    assert_eq!(status, StatusCode::OK, "{first:#}");
    assert_eq!(items(&first)[0].1, "A4");

    let cases = open_cases(&app).await;
    assert_eq!(cases.len(), 1, "{cases:#?}");
    let case = &cases[0];
    assert_eq!(case["claimIdentifier"], format!("{TRACE}|TRN-2026-0015"));
    assert_eq!(case["priority"], "standard");
    assert_eq!(case["status"], "open");
    assert_eq!(case["version"], 1);
    assert_eq!(
        time(&case["dueAt"]) - time(&case["receivedAt"]),
        chrono::Duration::days(7)
    );
    assert_eq!(case["items"].as_array().unwrap().len(), 1);
    assert_eq!(case["items"][0]["sequence"], 1);
    assert_eq!(case["items"][0]["action"], "A4");
    assert_eq!(case["items"][0]["policy"], POLICY);
    let missing: Vec<String> = serde_json::from_value(case["items"][0]["missing"].clone()).unwrap();
    assert!(
        !missing.is_empty(),
        "the HER2 criterion is missing: {case:#}"
    );

    let id = case["id"].as_str().unwrap().to_owned();
    let (status, detail) = get(&app, &format!("/review/cases/{id}"), Some(&app.token)).await;
    assert_eq!(status, StatusCode::OK, "{detail:#}");
    assert_eq!(detail["history"].as_array().unwrap().len(), 1);
    assert_eq!(detail["history"][0]["answeredBy"], "engine");
    let criterion = missing[0].clone();
    assert!(
        detail["items"][0]["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == criterion.as_str() && c["status"] == "missing"),
        "{detail:#}"
    );

    let (status, answer) = decide(
        &app,
        &id,
        &json!({"version": 1, "items": [{"sequence": 1, "action": "A3",
            "reason": "The pathology report shows HER2 IHC 2+ and ISH was never done",
            "criteria": [criterion]}]}),
        Some(&app.token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(items(&answer), vec![(1, "A3".to_owned(), None)]);
    let text = note(&answer);
    assert!(
        text.starts_with("Item 1, Not Certified (A3): Decided by a plan reviewer at "),
        "{text}"
    );
    assert!(
        text.contains("Reason: The pathology report shows HER2 IHC 2+ and ISH was never done."),
        "{text}"
    );
    assert!(
        text.contains(&format!("Criteria not met: {criterion}.")),
        "{text}"
    );
    assert!(
        !answer.to_string().contains("Rivera"),
        "no reviewer identity"
    );
    assert_eq!(answer["entry"][0]["resource"]["outcome"], "complete");

    // `$inquire` returns the reviewer's answer; the first answer is kept as version 1.
    let latest = inquired(&app).await;
    assert_eq!(items(&latest), vec![(1, "A3".to_owned(), None)]);
    assert_eq!(note(&latest), text);
    assert!(open_cases(&app).await.is_empty());
    let (_, closed) = get(&app, "/review/cases?status=closed", Some(&app.token)).await;
    let closed = &closed["cases"][0];
    assert_eq!(closed["id"], id.as_str());
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["version"], 2);
    assert_eq!(closed["closedBy"], "reviewer");
    assert_eq!(closed["items"][0]["action"], "A3");
    let (_, detail) = get(&app, &format!("/review/cases/{id}"), Some(&app.token)).await;
    let history = detail["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["version"], 2);
    assert_eq!(history[1]["answeredBy"], "reviewer");
    assert_eq!(history[1]["reviewer"], "Dr. Rivera");
    assert_eq!(history[1]["items"][0]["action"], "A3");
    let latest = app
        .store
        .latest_for_claim(
            "http://example.org/SUBMITTER_TRANSACTION_IDENTIFIER",
            &format!("{TRACE}|TRN-2026-0015"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.version, 2);
    assert_eq!(latest.response, answer);
    assert_eq!(
        latest.decision_trace[0]["reviewed"]["criteria"],
        json!([criterion])
    );
}

async fn reviewer_certifies_with_the_submit_number_or_modifies(db: &Db) {
    let app = app(db).await;
    let (status, _) = fhir_post(&app, "/Claim/$submit", &pended()).await;
    assert_eq!(status, StatusCode::OK);
    let id = open_cases(&app).await[0]["id"].as_str().unwrap().to_owned();
    let number = submit_number(&app.store, pended()).await;

    let (status, answer) = decide(
        &app,
        &id,
        &json!({"items": [{"sequence": 1, "action": "A6", "quantity": 1008,
            "period": {"start": "2026-12-01", "end": "2027-02-28"}}]}),
        Some(&app.token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(
        items(&answer),
        vec![(1, "A6".to_owned(), Some(number.clone()))]
    );
    let cr = &answer["entry"][0]["resource"];
    assert_eq!(cr["preAuthRef"], number.as_str());
    let extensions = cr["item"][0]["extension"].as_array().unwrap();
    let period = extensions
        .iter()
        .find(|e| e["url"] == format!("{PAS}/extension-itemPreAuthPeriod"))
        .unwrap();
    assert_eq!(
        period["valuePeriod"],
        json!({"start": "2026-12-01", "end": "2027-02-28"})
    );
    let detail = extensions
        .iter()
        .find(|e| e["url"] == format!("{PAS}/extension-itemAuthorizedDetail"))
        .unwrap();
    assert!(detail.to_string().contains("1008"), "{detail:#}");
    assert!(
        note(&answer).contains(&format!(
            "Authorization {number}: 1008 units from 2026-12-01 through 2027-02-28."
        )),
        "{}",
        note(&answer)
    );
    let stored = app
        .store
        .find_authorization(&number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, 2);

    // A1 on another pended request: the whole request, with the number `$submit` would issue.
    let mut other = pended();
    other["identifier"]["value"] = json!("KAD-0015-B");
    other["entry"][0]["resource"]["identifier"][0]["value"] = json!("TRN-2026-0015-B");
    let (status, _) = fhir_post(&app, "/Claim/$submit", &other).await;
    assert_eq!(status, StatusCode::OK);
    let id = open_cases(&app).await[0]["id"].as_str().unwrap().to_owned();
    let (status, answer) = decide(
        &app,
        &id,
        &json!({"items": [{"sequence": 1, "action": "A1"}]}),
        Some(&app.token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    let number = submit_number(&app.store, other).await;
    assert_eq!(
        items(&answer),
        vec![(1, "A1".to_owned(), Some(number.clone()))]
    );
    assert!(
        note(&answer).contains(&format!(
            "Authorization {number}: 2016 units from 2026-12-01 through 2027-05-31."
        )),
        "{}",
        note(&answer)
    );
}

async fn every_refusal_has_its_status(db: &Db) {
    let app = app(db).await;
    fhir_post(&app, "/Claim/$submit", &pended()).await;
    let id = open_cases(&app).await[0]["id"].as_str().unwrap().to_owned();
    let a1 = json!({"items": [{"sequence": 1, "action": "A1"}]});

    // No token, a bad token, another scheme: 401 with a Bearer challenge.
    let (status, body) = get(&app, "/review/cases", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["issue"][0]["code"], "login");
    let (status, _) = get(&app, "/review/cases", Some("pasr_not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get(&app, &format!("/review/cases/{id}"), Some("")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = decide(&app, &id, &a1, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = decide(&app, &id, &a1, Some(&format!("{}x", app.token))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A removed reviewer's token stops working.
    let (_, removed) = app.store.add_reviewer("Temp").await.unwrap();
    assert!(app.store.remove_reviewer("Temp").await.unwrap());
    let (status, _) = get(&app, "/review/cases", Some(&removed)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let refused = |body: Value| {
        let app = &app;
        let id = id.clone();
        async move { decide(app, &id, &body, Some(&app.token)).await }
    };
    // A denial without a reason, with a blank one, without criteria, with unknown criteria.
    for body in [
        json!({"items": [{"sequence": 1, "action": "A3", "criteria": ["A.i.C.2.b"]}]}),
        json!({"items": [{"sequence": 1, "action": "A3", "reason": "  ", "criteria": ["A.i.C.2.b"]}]}),
        json!({"items": [{"sequence": 1, "action": "A3", "reason": "no ISH"}]}),
        json!({"items": [{"sequence": 1, "action": "A3", "reason": "no ISH", "criteria": ["Z.9"]}]}),
        // A6 without quantity, without period, above the requested quantity.
        json!({"items": [{"sequence": 1, "action": "A6", "period": {"start": "2026-12-01", "end": "2027-01-31"}}]}),
        json!({"items": [{"sequence": 1, "action": "A6", "quantity": 500}]}),
        json!({"items": [{"sequence": 1, "action": "A6", "quantity": 5000,
            "period": {"start": "2026-12-01", "end": "2027-01-31"}}]}),
        // An unknown sequence, a pended item left undecided, a pend, an unknown action.
        json!({"items": [{"sequence": 1, "action": "A1"}, {"sequence": 7, "action": "A1"}]}),
        json!({"items": []}),
        json!({"items": [{"sequence": 1, "action": "A4"}]}),
    ] {
        let (status, outcome) = refused(body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} -> {outcome:#}"
        );
        assert_eq!(outcome["resourceType"], "OperationOutcome");
    }
    // Not the documented shape: 400.
    let (status, _) = refused(json!({"decisions": []})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // No such case: 404.
    let (status, _) = decide(&app, "no-such-case", &a1, Some(&app.token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Read at another version: 409, and nothing changed.
    let (status, outcome) =
        refused(json!({"version": 7, "items": [{"sequence": 1, "action": "A1"}]})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{outcome:#}");
    assert_eq!(outcome["issue"][0]["code"], "conflict");
    assert_eq!(open_cases(&app).await.len(), 1);
    // Two reviewers at once: one decision is recorded, the other is 409.
    let (first, second) = tokio::join!(
        refused(json!({"version": 1, "items": [{"sequence": 1, "action": "A1"}]})),
        refused(
            json!({"version": 1, "items": [{"sequence": 1, "action": "A3",
            "reason": "no ISH", "criteria": ["A.i"]}]})
        ),
    );
    let mut statuses = [first.0.as_u16(), second.0.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{first:#?} {second:#?}");
    // Decided once; the next decision finds the case closed: 409.
    let (status, outcome) = refused(a1).await;
    assert_eq!(status, StatusCode::CONFLICT, "{outcome:#}");
    assert!(outcome.to_string().contains("closed"), "{outcome:#}");
}

async fn provider_update_and_cancellation_close_cases(db: &Db) {
    let app = app(db).await;
    fhir_post(&app, "/Claim/$submit", &pended()).await;
    let first = open_cases(&app).await[0].clone();
    // An update the engine still cannot decide: the case is closed by it and a new one opens.
    let (status, answer) =
        fhir_post(&app, "/Claim/$submit", &update("TRN-2026-0015-U1", 1500)).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(items(&answer)[0].1, "A4");
    let open = open_cases(&app).await;
    assert_eq!(open.len(), 1);
    assert_ne!(open[0]["id"], first["id"]);
    assert_eq!(
        open[0]["claimIdentifier"],
        format!("{TRACE}|TRN-2026-0015-U1")
    );
    let (_, closed) = get(
        &app,
        &format!("/review/cases/{}", first["id"].as_str().unwrap()),
        Some(&app.token),
    )
    .await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["closedBy"], "provider-update");
    let history: Vec<&str> = closed["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["answeredBy"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["engine", "provider-update"]);
    // A decision on the superseded case is refused.
    let (status, _) = decide(
        &app,
        first["id"].as_str().unwrap(),
        &json!({"items": [{"sequence": 1, "action": "A1"}]}),
        Some(&app.token),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A cancellation closes the open case and opens none.
    let mut cancel = update("TRN-2026-0015-C", 1500);
    for extension in cancel["entry"][0]["resource"]["item"][0]["extension"]
        .as_array_mut()
        .unwrap()
    {
        if extension["url"] == format!("{PAS}/extension-certificationType") {
            extension["valueCodeableConcept"]["coding"][0]["code"] = json!("3");
        }
    }
    let (status, answer) = fhir_post(&app, "/Claim/$submit", &cancel).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert!(open_cases(&app).await.is_empty());
    let (_, all) = get(&app, "/review/cases?status=all", Some(&app.token)).await;
    let how: Vec<&str> = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["closedBy"].as_str().unwrap())
        .collect();
    assert_eq!(how.len(), 2);
    assert!(how.contains(&"cancellation") && how.contains(&"provider-update"));
    let (status, _) = get(&app, "/review/cases?status=pending", Some(&app.token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn expedited_cases_are_due_in_72_hours_and_listed_first(db: &Db) {
    let app = app(db).await;
    fhir_post(&app, "/Claim/$submit", &pended()).await;
    let mut stat = pended();
    stat["identifier"]["value"] = json!("KAD-0015-STAT");
    stat["entry"][0]["resource"]["identifier"][0]["value"] = json!("TRN-2026-0015-STAT");
    stat["entry"][0]["resource"]["priority"]["coding"][0]["code"] = json!("stat");
    let (status, _) = fhir_post(&app, "/Claim/$submit", &stat).await;
    assert_eq!(status, StatusCode::OK);
    let mut urgent = pended();
    urgent["identifier"]["value"] = json!("KAD-0015-U");
    let claim = &mut urgent["entry"][0]["resource"];
    claim["identifier"][0]["value"] = json!("TRN-2026-0015-U");
    let mut extensions = claim["extension"].as_array().cloned().unwrap_or_default();
    extensions.push(json!({"url": format!("{PAS}/extension-levelOfServiceCode"),
        "valueCodeableConcept": {"coding": [{"system": "https://codesystem.x12.org/005010/1338",
            "code": "U", "display": "Urgent"}]}}));
    claim["extension"] = Value::Array(extensions);
    let (status, _) = fhir_post(&app, "/Claim/$submit", &urgent).await;
    assert_eq!(status, StatusCode::OK);

    let cases = open_cases(&app).await;
    let summary: Vec<(String, String)> = cases
        .iter()
        .map(|c| {
            (
                c["claimIdentifier"].as_str().unwrap().to_owned(),
                c["priority"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                format!("{TRACE}|TRN-2026-0015-STAT"),
                "expedited".to_owned()
            ),
            (format!("{TRACE}|TRN-2026-0015-U"), "expedited".to_owned()),
            (format!("{TRACE}|TRN-2026-0015"), "standard".to_owned()),
        ]
    );
    for case in &cases[..2] {
        assert_eq!(
            time(&case["dueAt"]) - time(&case["receivedAt"]),
            chrono::Duration::hours(72)
        );
        assert_eq!(case["overdue"], false);
    }
}

fn sample(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-bundles")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn review_gauges_are_exported() {
    let db = Db::sqlite();
    let app = app(&db).await;
    fhir_post(&app, "/Claim/$submit", &pended()).await;
    // Metrics are served on the admin address only, never by the public router.
    let (status, _) = get(&app, "/metrics", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let admin = pas_adapter::http::admin_router(Some(pas_adapter::http::ReviewGauges {
        store: app.store.clone(),
        clock: pas_adapter::review::ReviewClock::default(),
    }));
    let response = admin
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    for gauge in [
        "pas_review_cases_open",
        "pas_review_cases_overdue",
        "pas_review_oldest_case_age_seconds",
    ] {
        assert!(text.contains(gauge), "{gauge} missing:\n{text}");
    }
}

async fn report_counts_the_requests_of_the_range(db: &Db) {
    let app = app(db).await;
    for name in ["01-ebc-adjuvant-a1.json", "13-her2-negative-ihc1-a3.json"] {
        let (status, body) = fhir_post(&app, "/Claim/$submit", &sample(name)).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
    }
    fhir_post(&app, "/Claim/$submit", &pended()).await;
    let today = Utc::now().date_naive();
    let path = format!("/reports/prior-authorization?from={today}&to={today}");
    let (status, report) = get(&app, &path, Some(&app.token)).await;
    assert_eq!(status, StatusCode::OK, "{report:#}");
    let standard = &report["standard"];
    assert_eq!(standard["requests"], 3);
    assert_eq!(
        (
            &standard["approved"],
            &standard["denied"],
            &standard["pended"]
        ),
        (&json!(1), &json!(1), &json!(1))
    );
    assert_eq!(standard["percentPended"], 33.33);
    assert_eq!(standard["decidedPastDue"], 0);
    assert_eq!(standard["percentApprovedAfterAppeal"], Value::Null);
    assert_eq!(report["expedited"]["requests"], 0);
    assert_eq!(
        report["itemsRequiringPriorAuthorization"][0]["policy"],
        POLICY
    );
    assert!(
        report["itemsRequiringPriorAuthorization"][0]["codes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().ends_with("|J9354")),
        "{report:#}"
    );
    // Another range holds none of them.
    let (_, empty) = get(
        &app,
        "/reports/prior-authorization?from=2020-01-01&to=2020-12-31",
        Some(&app.token),
    )
    .await;
    assert_eq!(empty["standard"]["requests"], 0);
    // CSV on request.
    let request = Request::get(&path)
        .header(header::AUTHORIZATION, format!("Bearer {}", app.token))
        .header(header::ACCEPT, "text/csv")
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        csv.lines().nth(1).unwrap().starts_with(&format!(
            "standard,{today},{today},3,1,1,1,0,33.33,33.33,33.33,"
        )),
        "{csv}"
    );
    // Refusals: no token, a malformed or inverted range.
    let (status, _) = get(&app, &path, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get(
        &app,
        "/reports/prior-authorization?from=2026-13-01&to=2026-12-31",
        Some(&app.token),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get(
        &app,
        "/reports/prior-authorization?from=2026-12-31&to=2026-01-01",
        Some(&app.token),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Every response Bundle a reviewed version produces (A1, A6, A3) passes the independent
/// validator (`$PAS_VALIDATOR`, built by `scripts/test`).
#[tokio::test]
async fn reviewed_responses_validate_against_the_pas_profiles() {
    let Some(validator) = std::env::var_os("PAS_VALIDATOR") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PAS_VALIDATOR is not set; run the tests through scripts/test"
        );
        eprintln!("skipped: PAS_VALIDATOR is not set (scripts/test sets it)");
        return;
    };
    let db = Db::sqlite();
    let app = app(&db).await;
    let decisions = [
        json!({"items": [{"sequence": 1, "action": "A1", "reason": "ISH positive on the report"}]}),
        json!({"items": [{"sequence": 1, "action": "A6", "quantity": 1008,
            "period": {"start": "2026-12-01", "end": "2027-02-28"}}]}),
        json!({"items": [{"sequence": 1, "action": "A3", "reason": "No ISH result",
            "criteria": ["A.i"]}]}),
    ];
    let out = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (n, decision) in decisions.iter().enumerate() {
        let mut request = pended();
        request["identifier"]["value"] = json!(format!("KAD-V-{n}"));
        request["entry"][0]["resource"]["identifier"][0]["value"] = json!(format!("TRN-V-{n}"));
        let (status, _) = fhir_post(&app, "/Claim/$submit", &request).await;
        assert_eq!(status, StatusCode::OK);
        let case = open_cases(&app).await[0]["id"].as_str().unwrap().to_owned();
        let (status, response) = decide(&app, &case, decision, Some(&app.token)).await;
        assert_eq!(status, StatusCode::OK, "{response:#}");
        let path = out.path().join(format!("reviewed-{n}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&response).unwrap()).unwrap();
        files.push(path);
    }
    let shared = std::env::var_os("PAS_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let output = std::process::Command::new(&validator)
        .arg(shared.join("pas/profiles"))
        .args(&files)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "validator failed:\n{report}");
    let summaries: Vec<&str> = report.lines().filter(|l| l.contains(": errors=")).collect();
    assert_eq!(summaries.len(), files.len(), "{report}");
    for line in summaries {
        assert!(line.contains(": errors=0 "), "validation errors:\n{report}");
    }
}

support::db::on_both_backends!(
    "pas_review":
    pended_answer_opens_a_case_a_denial_closes_it,
    reviewer_certifies_with_the_submit_number_or_modifies,
    every_refusal_has_its_status,
    provider_update_and_cancellation_close_cases,
    expedited_cases_are_due_in_72_hours_and_listed_first,
    report_counts_the_requests_of_the_range,
);
