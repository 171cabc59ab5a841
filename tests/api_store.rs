//! The store behind the HTTP API: `$submit` records before answering, a resubmission replays
//! the stored answer, updates and cancellations add versions, `$inquire` finds the latest by
//! each key, and an acknowledged request survives SIGKILL of the server.
//!
//! Every scenario runs on SQLite (a file in a temp dir) and on a real PostgreSQL when
//! `PAS_TEST_POSTGRES_URL` names one (`scripts/postgres-test-server`); under `CI` a missing
//! URL fails instead of skipping. Each PostgreSQL scenario gets its own fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use support::db::Db;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use pas_adapter::policy::PolicySet;
use pas_adapter::service::{Caller, Service, ServiceSettings};
use pas_adapter::store::{Status, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

const PAS: &str = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition";
const TRACE: &str = "http://example.org/PATIENT_EVENT_TRACE_NUMBER";
const SUBMITTER: &str = "http://example.org/SUBMITTER_TRANSACTION_IDENTIFIER";
const ORIGINAL: &str = "TRN-2026-0004";

/// The application on a store at `db`, and the store itself for looking behind the API.
async fn app(db: &Db) -> (Router, Store) {
    let store = Store::connect(&db.uri).await.unwrap();
    let service =
        Service::new(PolicySet::embedded(), ServiceSettings::default()).with_store(store.clone());
    (pas_adapter::http::router(service), store)
}

async fn call(app: &Router, path: &str, body: &Value) -> (StatusCode, Value) {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/fhir+json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn submit(app: &Router, body: &Value) -> (StatusCode, Value) {
    call(app, "/Claim/$submit", body).await
}

async fn inquire(app: &Router, body: &Value) -> (StatusCode, Value) {
    call(app, "/Claim/$inquire", body).await
}

// ---------------------------------------------------------------------------------------------
// Bundles

fn sample_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-bundles/04-mbc-fda-a1.json")
}

/// Sample 04: metastatic breast cancer, FDA path, one J9354 item certified (A1) in total.
fn sample() -> Value {
    serde_json::from_str(&std::fs::read_to_string(sample_path()).unwrap()).unwrap()
}

fn claim_mut(bundle: &mut Value) -> &mut Value {
    &mut bundle["entry"][0]["resource"]
}

/// An update of `prior` under its own Claim identifier, naming `prior` in `Claim.related`
/// (as the PAS IG's update example does), with the item quantity changed to `quantity`.
fn update(prior: &str, claim: &str, quantity: u64) -> Value {
    let mut bundle = sample();
    bundle["identifier"]["value"] = json!(format!("tx-{claim}"));
    let c = claim_mut(&mut bundle);
    c["identifier"][0]["value"] = json!(claim);
    c["related"] = json!([{
        "claim": {"identifier": {"system": TRACE, "value": prior}},
        "relationship": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship",
            "code": "prior"}]}
    }]);
    c["item"][0]["quantity"]["value"] = json!(quantity);
    bundle
}

/// A cancellation of `prior`: an update whose every item has certificationType 3 (Cancel).
fn cancellation(prior: &str, claim: &str) -> Value {
    let mut bundle = update(prior, claim, 2016);
    for item in claim_mut(&mut bundle)["item"].as_array_mut().unwrap() {
        for extension in item["extension"].as_array_mut().unwrap() {
            if extension["url"] == format!("{PAS}/extension-certificationType") {
                extension["valueCodeableConcept"] = json!({"coding": [{
                    "system": "https://codesystem.x12.org/005010/1322",
                    "code": "3", "display": "Cancel"}]});
            }
        }
    }
    bundle
}

/// An inquiry Bundle built from the sample's Claim, Patient, Coverage, provider and insurer:
/// with `claim` as its Claim identifier (none when `None`), and `number` as
/// `insurance.preAuthRef`.
fn inquiry(claim: Option<&str>, number: Option<&str>) -> Value {
    let mut bundle = sample();
    bundle["identifier"]["value"] = json!("inquiry-1");
    let c = claim_mut(&mut bundle);
    match claim {
        Some(value) => c["identifier"][0]["value"] = json!(value),
        None => {
            c.as_object_mut().unwrap().remove("identifier");
        }
    }
    if let Some(number) = number {
        c["insurance"][0]["preAuthRef"] = json!([number]);
    }
    bundle
}

// ---------------------------------------------------------------------------------------------
// Reading answers

fn claim_response(response: &Value) -> &Value {
    let cr = &response["entry"][0]["resource"];
    assert_eq!(cr["resourceType"], "ClaimResponse", "{response:#}");
    cr
}

/// `(itemSequence, review action code, authorization number)` per ClaimResponse item.
fn items(response: &Value) -> Vec<(u64, String, Option<String>)> {
    claim_response(response)["item"]
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

/// The inquiry response Bundles of a `$inquire` answer.
fn returned(parameters: &Value) -> Vec<Value> {
    assert_eq!(parameters["resourceType"], "Parameters", "{parameters:#}");
    parameters
        .get("parameter")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    assert_eq!(p["name"], "return");
                    p["resource"].clone()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn assert_outcome(status: StatusCode, body: &Value, want: u16, code: &str, expression: &str) {
    assert_eq!(status.as_u16(), want, "{body:#}");
    assert_eq!(body["resourceType"], "OperationOutcome", "{body:#}");
    assert_eq!(body["issue"][0]["code"], code, "{body:#}");
    assert_eq!(body["issue"][0]["expression"][0], expression, "{body:#}");
}

async fn versions(store: &Store, claim: &str) -> usize {
    let latest = store
        .latest_for_claim(SUBMITTER, &format!("{TRACE}|{claim}"))
        .await
        .unwrap()
        .unwrap();
    store.history(&latest.chain_id).await.unwrap().len()
}

// ---------------------------------------------------------------------------------------------
// Scenarios, each run on both backends

async fn submit_records_and_resubmission_replays(db: &Db) {
    let (app, store) = app(db).await;
    let (status, first) = submit(&app, &sample()).await;
    assert_eq!(status, StatusCode::OK, "{first:#}");
    let first_items = items(&first);
    assert_eq!(first_items.len(), 1);
    assert_eq!(first_items[0].1, "A1");
    let number = first_items[0].2.clone().unwrap();

    let stored = store
        .latest_for_claim(SUBMITTER, &format!("{TRACE}|{ORIGINAL}"))
        .await
        .unwrap()
        .expect("the answered request is recorded");
    assert_eq!(stored.version, 1);
    assert_eq!(stored.response, first);
    assert_eq!(stored.request, sample());
    // One authorization, the item's; `preAuthRef` carries the same number.
    let numbers: Vec<(u32, &str)> = stored
        .authorizations
        .iter()
        .map(|a| (a.item_sequence, a.number.as_str()))
        .collect();
    assert_eq!(numbers, vec![(1, number.as_str())]);
    assert_eq!(claim_response(&first)["preAuthRef"], json!(number));
    assert_eq!(stored.patient_member_id.as_deref(), Some("MMA0553204"));
    assert!(
        stored.policy_revision.starts_with("MP-RX-FP-48-23@"),
        "{}",
        stored.policy_revision
    );
    assert_eq!(stored.decision_trace[0]["action"], "A1");

    // The same request again, in a new envelope (a gateway retry): the stored answer.
    let mut again = sample();
    again["id"] = json!("retry");
    again["timestamp"] = json!("2026-11-24T09:00:00Z");
    let (status, second) = submit(&app, &again).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        second, first,
        "a resubmission is answered with the stored response"
    );
    assert_eq!(items(&second)[0].2.as_deref(), Some(number.as_str()));
    assert_eq!(versions(&store, ORIGINAL).await, 1);
    let stats = store.stats();
    assert_eq!((stats.fresh, stats.replays), (1, 1));
}

async fn concurrent_copies_are_one_record(db: &Db) {
    let (app, store) = app(db).await;
    let copies = (0..8).map(|i| {
        let app = app.clone();
        let mut body = sample();
        body["id"] = json!(format!("copy-{i}"));
        tokio::spawn(async move { submit(&app, &body).await })
    });
    let mut answers = Vec::new();
    for copy in copies {
        let (status, answer) = copy.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{answer:#}");
        answers.push(answer);
    }
    assert!(answers.iter().all(|a| a == &answers[0]));
    assert_eq!(versions(&store, ORIGINAL).await, 1);
    let stats = store.stats();
    assert_eq!((stats.fresh, stats.replays), (1, 7));
}

async fn same_claim_identifier_other_content_conflicts(db: &Db) {
    let (app, store) = app(db).await;
    assert_eq!(submit(&app, &sample()).await.0, StatusCode::OK);
    let mut changed = sample();
    claim_mut(&mut changed)["item"][0]["quantity"]["value"] = json!(1800);
    let (status, outcome) = submit(&app, &changed).await;
    assert_outcome(
        status,
        &outcome,
        409,
        "conflict",
        "Bundle.entry[0].resource",
    );
    assert_eq!(versions(&store, ORIGINAL).await, 1);
}

async fn update_is_a_new_version_that_inquiry_returns(db: &Db) {
    let (app, store) = app(db).await;
    let (_, original) = submit(&app, &sample()).await;
    let number = items(&original)[0].2.clone().unwrap();

    let (status, updated) = submit(&app, &update(ORIGINAL, "TRN-2026-0004-U1", 1800)).await;
    assert_eq!(status, StatusCode::OK, "{updated:#}");
    // Re-evaluated: still certified, for the new quantity, under the same number.
    assert_eq!(
        items(&updated),
        vec![(1, "A1".to_owned(), Some(number.clone()))]
    );
    let detail = claim_response(&updated)["item"][0]["extension"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["url"] == format!("{PAS}/extension-itemAuthorizedDetail"))
        .cloned()
        .unwrap();
    assert!(detail.to_string().contains("1800"), "{detail:#}");
    assert_eq!(
        claim_response(&updated)["preAuthRef"],
        claim_response(&original)["preAuthRef"]
    );
    let latest = store
        .latest_for_claim(SUBMITTER, &format!("{TRACE}|{ORIGINAL}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.version, 2);
    assert_eq!(latest.status, Status::Active);
    assert_eq!(versions(&store, ORIGINAL).await, 2);

    // Inquiry by the original identifier or the update's: the latest answer, once.
    for claim in [ORIGINAL, "TRN-2026-0004-U1"] {
        let (status, answer) = inquire(&app, &inquiry(Some(claim), None)).await;
        assert_eq!(status, StatusCode::OK);
        let bundles = returned(&answer);
        assert_eq!(bundles.len(), 1, "{answer:#}");
        assert_eq!(
            claim_response(&bundles[0])["id"],
            claim_response(&updated)["id"]
        );
    }

    // Resending the update is a replay, not a third version.
    let (status, again) = submit(&app, &update(ORIGINAL, "TRN-2026-0004-U1", 1800)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, updated);
    assert_eq!(versions(&store, ORIGINAL).await, 2);
}

async fn update_of_an_unknown_claim_is_refused(db: &Db) {
    let (app, _store) = app(db).await;
    let (status, outcome) = submit(&app, &update("NEVER-SENT", "U-2", 1800)).await;
    assert_outcome(
        status,
        &outcome,
        422,
        "not-found",
        "Bundle.entry[0].resource.related",
    );
    // A cancellation must name what it cancels.
    let mut orphan = cancellation(ORIGINAL, "C-0");
    claim_mut(&mut orphan)
        .as_object_mut()
        .unwrap()
        .remove("related");
    let (status, outcome) = submit(&app, &orphan).await;
    assert_outcome(
        status,
        &outcome,
        422,
        "required",
        "Bundle.entry[0].resource.related",
    );
}

async fn cancellation_ends_the_authorization(db: &Db) {
    let (app, store) = app(db).await;
    let (_, original) = submit(&app, &sample()).await;
    let number = items(&original)[0].2.clone().unwrap();

    let (status, cancelled) = submit(&app, &cancellation(ORIGINAL, "TRN-2026-0004-X")).await;
    assert_eq!(status, StatusCode::OK, "{cancelled:#}");
    // The item is answered `C` (Cancelled) with the number it cancels, and authorizes nothing.
    assert_eq!(
        items(&cancelled),
        vec![(1, "C".to_owned(), Some(number.clone()))]
    );
    let cr = claim_response(&cancelled);
    assert!(cr.get("preAuthRef").is_none(), "{cr:#}");
    assert!(cr["item"][0].get("extension").is_none(), "{cr:#}");
    let latest = store
        .latest_for_claim(SUBMITTER, &format!("{TRACE}|{ORIGINAL}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((latest.version, latest.status), (2, Status::Cancelled));
    assert!(latest.authorizations.is_empty());

    // The authorization number still finds the chain, and its answer is the cancellation.
    let (_, answer) = inquire(&app, &inquiry(None, Some(&number))).await;
    let bundles = returned(&answer);
    assert_eq!(bundles.len(), 1, "{answer:#}");
    assert_eq!(items(&bundles[0]), items(&cancelled));

    // Resending the cancellation is answered from the store, not refused as an update of a
    // cancelled authorization.
    let (status, again) = submit(&app, &cancellation(ORIGINAL, "TRN-2026-0004-X")).await;
    assert_eq!(status, StatusCode::OK, "{again:#}");
    assert_eq!(again, cancelled);
    assert_eq!(versions(&store, ORIGINAL).await, 2);

    // A cancelled authorization cannot be updated.
    let (status, outcome) = submit(&app, &update(ORIGINAL, "TRN-2026-0004-U9", 1800)).await;
    assert_outcome(
        status,
        &outcome,
        409,
        "conflict",
        "Bundle.entry[0].resource",
    );
}

async fn inquiry_by_each_key(db: &Db) {
    let (app, _store) = app(db).await;
    let (_, original) = submit(&app, &sample()).await;
    let number = items(&original)[0].2.clone().unwrap();
    let pre_auth_ref = claim_response(&original)["preAuthRef"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(pre_auth_ref, number);

    let by_claim = inquiry(Some(ORIGINAL), None);
    // No Claim identifier: member id (Coverage.subscriberId), provider NPI and insurer.
    let by_member = inquiry(None, None);
    let by_item_number = inquiry(None, Some(&number));
    // With a number, the inquiry Claim's own identifier (here its own trace number) is not
    // compared: the number names the authorization.
    let by_pre_auth_ref = inquiry(Some("inquiry-trace-7"), Some(&pre_auth_ref));
    for (name, body) in [
        ("claim identifier", &by_claim),
        ("member, provider and insurer", &by_member),
        ("item authorization number", &by_item_number),
        ("preAuthRef with another trace number", &by_pre_auth_ref),
    ] {
        let (status, answer) = inquire(&app, body).await;
        assert_eq!(status, StatusCode::OK, "{name}: {answer:#}");
        let bundles = returned(&answer);
        assert_eq!(bundles.len(), 1, "{name}: {answer:#}");
        let bundle = &bundles[0];
        assert_eq!(bundle["type"], "collection");
        assert_eq!(
            bundle["meta"]["profile"][0],
            format!("{PAS}/profile-pas-inquiry-response-bundle")
        );
        assert_eq!(bundle["identifier"]["value"], "inquiry-1", "{name}");
        assert_eq!(
            claim_response(bundle)["meta"]["profile"][0],
            format!("{PAS}/profile-claiminquiryresponse")
        );
        assert_eq!(items(bundle), items(&original), "{name}");
    }
    let (_, answer) = inquire(&app, &inquiry(None, Some("PA-000000000000"))).await;
    assert!(
        returned(&answer).is_empty(),
        "an unknown number: {answer:#}"
    );

    // Every key present must match: another provider finds nothing.
    let mut other_provider = inquiry(Some(ORIGINAL), None);
    for entry in other_provider["entry"].as_array_mut().unwrap() {
        if entry["resource"]["resourceType"] == "Organization"
            && entry["fullUrl"]
                .as_str()
                .unwrap()
                .ends_with("cancer-center")
        {
            entry["resource"]["identifier"] =
                json!([{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1111111112"}]);
        }
    }
    let (status, answer) = inquire(&app, &other_provider).await;
    assert_eq!(status, StatusCode::OK);
    assert!(returned(&answer).is_empty(), "{answer:#}");

    // A Parameters wrapper is tolerated.
    let wrapped = json!({"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": by_claim}]});
    let (status, answer) = inquire(&app, &wrapped).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(returned(&answer).len(), 1);
}

async fn inquiry_without_match_or_malformed(db: &Db) {
    let (app, _store) = app(db).await;
    let (status, answer) = inquire(&app, &inquiry(Some("NO-SUCH-CLAIM"), None)).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(answer["resourceType"], "Parameters");
    assert!(answer.get("parameter").is_none(), "{answer:#}");

    let (status, outcome) = inquire(
        &app,
        &json!({"resourceType": "Bundle", "type": "collection"}),
    )
    .await;
    assert_outcome(status, &outcome, 400, "required", "Bundle.entry");

    let (status, outcome) = inquire(&app, &json!({"resourceType": "Claim"})).await;
    assert_outcome(status, &outcome, 400, "required", "resourceType");

    // A Claim naming nothing to look up.
    let bare = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:c1", "resource": {"resourceType": "Claim", "status": "active"}}]});
    let (status, outcome) = inquire(&app, &bare).await;
    assert_outcome(
        status,
        &outcome,
        400,
        "required",
        "Bundle.entry[0].resource",
    );
}

// ---------------------------------------------------------------------------------------------
// Updates as the PAS conformance kit sends them: four requests under one Bundle identifier and
// one Claim identifier, each update naming its prior by a literal reference to the prior Claim,
// which it carries under the prior's fullUrl.

const KIT_CLAIM: &str = "KIT-0001";
const CERTIFICATION_TYPE: &str = "extension-certificationType";

fn kit_claim_url(step: u32) -> String {
    format!("http://example.org/fhir/Claim/kit-claim-{step}")
}

fn certification(code: &str) -> Value {
    json!({"url": format!("{PAS}/{CERTIFICATION_TYPE}"), "valueCodeableConcept": {"coding": [{
        "system": "https://codesystem.x12.org/005010/1322", "code": code}]}})
}

/// A second item no automated policy covers (chemotherapy administration): pended (A4).
fn administration_item(quantity: u64) -> Value {
    json!({
        "sequence": 2,
        "extension": [certification("I")],
        "productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "96413"}]},
        "servicedPeriod": {"start": "2026-12-01", "end": "2027-05-31"},
        "quantity": {"value": quantity}
    })
}

/// Cancels a Claim item: its certification type becomes 3 (Cancel).
fn cancel_item(item: &mut Value) {
    for extension in item["extension"].as_array_mut().unwrap() {
        if extension["url"] == format!("{PAS}/{CERTIFICATION_TYPE}") {
            *extension = certification("3");
        }
    }
}

/// Step `step` of the kit's sequence, naming `prior` (the previous step's Bundle) in
/// `Claim.related` by a literal reference and carrying its Claim:
/// 1. the initial request (item 1, Kadcyla);
/// 2. an update adding item 2;
/// 3. an update changing item 2 (its quantity) and cancelling item 1;
/// 4. an update cancelling all (certification type 3 on the Claim).
fn kit_step(step: u32, prior: Option<&Value>) -> Value {
    let mut bundle = sample();
    // The same Bundle identifier and the same Claim identifier at every step.
    bundle["identifier"]["value"] = json!("KIT-TX-1");
    bundle["entry"][0]["fullUrl"] = json!(kit_claim_url(step));
    let c = claim_mut(&mut bundle);
    c["id"] = json!(format!("kit-claim-{step}"));
    c["identifier"][0]["value"] = json!(KIT_CLAIM);
    let kadcyla = c["item"][0].clone();
    let items = c["item"].as_array_mut().unwrap();
    match step {
        1 => {}
        2 => items.push(administration_item(1)),
        _ => {
            cancel_item(&mut items[0]);
            items.push(administration_item(2));
        }
    }
    assert_eq!(
        claim_mut(&mut bundle)["item"][0]["sequence"],
        kadcyla["sequence"]
    );
    if step == 4 {
        claim_mut(&mut bundle)["extension"] = json!([certification("3")]);
    }
    if let Some(prior) = prior {
        let prior_entry = prior["entry"][0].clone();
        claim_mut(&mut bundle)["related"] = json!([{
            "claim": {"reference": prior_entry["fullUrl"]},
            "relationship": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship",
                "code": "prior"}]}
        }]);
        bundle["entry"].as_array_mut().unwrap().push(prior_entry);
    }
    bundle
}

/// `$inquire` by the kit's Claim identifier: exactly one authorization, answered with the
/// latest response's ClaimResponse and items.
async fn assert_inquiry_shows(app: &Router, latest: &Value) {
    let (status, answer) = inquire(app, &inquiry(Some(KIT_CLAIM), None)).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    let bundles = returned(&answer);
    assert_eq!(bundles.len(), 1, "{answer:#}");
    assert_eq!(
        claim_response(&bundles[0])["id"],
        claim_response(latest)["id"]
    );
    assert_eq!(items(&bundles[0]), items(latest));
}

async fn conformance_kit_update_sequence(db: &Db) {
    let (app, store) = app(db).await;
    let a = |code: &str, number: Option<&String>| (code.to_owned(), number.cloned());

    // 1. Initial request: item 1 certified.
    let step1 = kit_step(1, None);
    let (status, r1) = submit(&app, &step1).await;
    assert_eq!(status, StatusCode::OK, "{r1:#}");
    let number = items(&r1)[0].2.clone().expect("item 1 is authorized");
    assert_eq!(items(&r1), vec![(1, "A1".to_owned(), Some(number.clone()))]);
    assert_inquiry_shows(&app, &r1).await;

    // 2. Update adding item 2: item 1 keeps its authorization, item 2 (no policy) pends.
    let step2 = kit_step(2, Some(&step1));
    let (status, r2) = submit(&app, &step2).await;
    assert_eq!(status, StatusCode::OK, "{r2:#}");
    let with = |pairs: Vec<(u64, (String, Option<String>))>| {
        pairs
            .into_iter()
            .map(|(s, (c, n))| (s, c, n))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        items(&r2),
        with(vec![(1, a("A1", Some(&number))), (2, a("A4", None))])
    );
    assert_eq!(claim_response(&r2)["preAuthRef"], json!(number));
    assert_inquiry_shows(&app, &r2).await;

    // 3. Update changing item 2 and cancelling item 1: item 1 is answered C with the number
    //    of the authorization it cancels; item 2 is decided again.
    let step3 = kit_step(3, Some(&step2));
    let (status, r3) = submit(&app, &step3).await;
    assert_eq!(status, StatusCode::OK, "{r3:#}");
    assert_eq!(
        items(&r3),
        with(vec![(1, a("C", Some(&number))), (2, a("A4", None))])
    );
    // A cancelled item authorizes nothing: no period, no authorized detail, no preAuthRef.
    assert!(
        claim_response(&r3)["item"][0].get("extension").is_none(),
        "{r3:#}"
    );
    assert!(claim_response(&r3).get("preAuthRef").is_none(), "{r3:#}");
    assert_inquiry_shows(&app, &r3).await;

    // 4. Update cancelling all: every item C, the cancelled authorization's number kept.
    let step4 = kit_step(4, Some(&step3));
    let (status, r4) = submit(&app, &step4).await;
    assert_eq!(status, StatusCode::OK, "{r4:#}");
    assert_eq!(
        items(&r4),
        with(vec![(1, a("C", Some(&number))), (2, a("C", None))])
    );
    assert_inquiry_shows(&app, &r4).await;

    let latest = store
        .latest_for_claim(SUBMITTER, &format!("{TRACE}|{KIT_CLAIM}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((latest.version, latest.status), (4, Status::Cancelled));
    assert_eq!(versions(&store, KIT_CLAIM).await, 4);

    // Each step sent again is its own stored answer, not a new version nor a conflict.
    for (step, answer) in [(&step1, &r1), (&step2, &r2), (&step3, &r3), (&step4, &r4)] {
        let (status, again) = submit(&app, step).await;
        assert_eq!(status, StatusCode::OK, "{again:#}");
        assert_eq!(&again, answer);
    }
    assert_eq!(versions(&store, KIT_CLAIM).await, 4);

    // The authorization is cancelled: a further update of it is a conflict.
    let mut step5 = kit_step(2, Some(&step4));
    step5["entry"][0]["fullUrl"] = json!(kit_claim_url(5));
    claim_mut(&mut step5)["id"] = json!("kit-claim-5");
    let (status, outcome) = submit(&app, &step5).await;
    assert_outcome(
        status,
        &outcome,
        409,
        "conflict",
        "Bundle.entry[0].resource",
    );
}

/// A cancellation on the Claim itself cancels every item of the authorization, also those
/// of the prior that it no longer lists: the response gives the current result of each.
async fn claim_level_cancellation_answers_every_item_submitted(db: &Db) {
    let (app, store) = app(db).await;
    let step1 = kit_step(1, None);
    let (_, r1) = submit(&app, &step1).await;
    let number = items(&r1)[0].2.clone().unwrap();
    let step2 = kit_step(2, Some(&step1));
    assert_eq!(submit(&app, &step2).await.0, StatusCode::OK);
    // Lists item 1 only, with certification type 3 on the Claim.
    let mut cancel = kit_step(3, Some(&step2));
    claim_mut(&mut cancel)["item"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    claim_mut(&mut cancel)["extension"] = json!([certification("3")]);
    let (status, answer) = submit(&app, &cancel).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(
        items(&answer),
        vec![(1, "C".to_owned(), Some(number)), (2, "C".to_owned(), None)]
    );
    assert_eq!(claim_response(&answer)["outcome"], "complete");
    let latest = store
        .latest_for_claim(SUBMITTER, &format!("{TRACE}|{KIT_CLAIM}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((latest.version, latest.status), (3, Status::Cancelled));
}

/// An update that names a prior Claim it does not carry: found in the store by the fullUrl
/// or the `Claim/id` it was recorded with; an unknown one is 422.
async fn update_names_a_stored_prior_by_full_url_or_id(db: &Db) {
    let (app, store) = app(db).await;
    let step1 = kit_step(1, None);
    let (_, r1) = submit(&app, &step1).await;
    let number = items(&r1)[0].2.clone().unwrap();
    let naming = |step: u32, reference: &str| {
        let mut bundle = kit_step(step, None);
        claim_mut(&mut bundle)["related"] = json!([{
            "claim": {"reference": reference},
            "relationship": {"coding": [{"code": "prior"}]}
        }]);
        bundle
    };

    // By the absolute fullUrl of the stored Claim.
    let (status, r2) = submit(&app, &naming(2, &kit_claim_url(1))).await;
    assert_eq!(status, StatusCode::OK, "{r2:#}");
    assert_eq!(
        items(&r2),
        vec![
            (1, "A1".to_owned(), Some(number.clone())),
            (2, "A4".to_owned(), None)
        ]
    );
    // By `Claim/id`, relative: the version recorded with that id.
    let mut by_id = naming(3, "Claim/kit-claim-2");
    cancel_item(&mut claim_mut(&mut by_id)["item"][0]);
    let (status, r3) = submit(&app, &by_id).await;
    assert_eq!(status, StatusCode::OK, "{r3:#}");
    assert_eq!(items(&r3)[0], (1, "C".to_owned(), Some(number)));
    assert_eq!(versions(&store, KIT_CLAIM).await, 3);

    // A reference to a Claim never stored, carried or not: no authorization to update.
    let (status, outcome) = submit(&app, &naming(4, "Claim/never-sent")).await;
    assert_outcome(
        status,
        &outcome,
        422,
        "not-found",
        "Bundle.entry[0].resource.related",
    );
    // An older version than the latest: 409 (inquire and resend).
    let (status, outcome) = submit(&app, &naming(5, "Claim/kit-claim-1")).await;
    assert_outcome(
        status,
        &outcome,
        409,
        "conflict",
        "Bundle.entry[0].resource",
    );
}

/// The shell hands the service its caller: an authenticated client is the submitter of what it
/// sends (not `Bundle.identifier.system`), and `$inquire` shows a client only its own.
async fn an_authenticated_client_is_the_submitter(db: &Db) {
    let store = Store::connect(&db.uri).await.unwrap();
    let service =
        Service::new(PolicySet::embedded(), ServiceSettings::default()).with_store(store.clone());
    let a = Caller::Client("client-a".into());
    let b = Caller::Client("client-b".into());
    let first = service.submit(&a, sample()).await.unwrap();
    assert_eq!(
        first.actions.iter().map(|i| i.code).collect::<Vec<_>>(),
        ["A1"]
    );
    assert!(!first.stored.as_ref().unwrap().replay);
    // The same Claim identifier from another client is that client's own request.
    let other = service.submit(&b, sample()).await.unwrap();
    assert!(!other.stored.as_ref().unwrap().replay);
    // ... and from the first client again, a replay: its stored answer, no fresh decisions.
    let again = service.submit(&a, sample()).await.unwrap();
    assert!(again.stored.as_ref().unwrap().replay);
    assert_eq!(again.response, first.response);
    assert!(again.answers.is_empty());
    assert_eq!(again.actions, first.actions);
    let filed = store
        .latest_for_claim("client-a", &format!("{TRACE}|{ORIGINAL}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(filed.submitter, "client-a");
    assert!(
        store
            .latest_for_claim(SUBMITTER, &format!("{TRACE}|{ORIGINAL}"))
            .await
            .unwrap()
            .is_none()
    );

    let body = inquiry(Some(ORIGINAL), None).to_string();
    let seen = |caller: Caller| {
        let service = &service;
        let body = body.clone();
        async move { returned(&service.inquire(&caller, body.as_bytes()).await.unwrap()) }
    };
    let for_a = seen(a.clone()).await;
    assert_eq!(for_a.len(), 1);
    assert_eq!(
        claim_response(&for_a[0])["id"],
        claim_response(&first.response)["id"]
    );
    assert_eq!(seen(b).await.len(), 1);
    assert!(seen(Caller::Client("client-c".into())).await.is_empty());
    assert_eq!(seen(Caller::Unauthenticated).await.len(), 2);
}

support::db::on_both_backends!(
    "pas_api":
    submit_records_and_resubmission_replays,
    concurrent_copies_are_one_record,
    same_claim_identifier_other_content_conflicts,
    update_is_a_new_version_that_inquiry_returns,
    update_of_an_unknown_claim_is_refused,
    cancellation_ends_the_authorization,
    inquiry_by_each_key,
    inquiry_without_match_or_malformed,
    killed_after_acknowledging_is_found_after_restart,
    conformance_kit_update_sequence,
    update_names_a_stored_prior_by_full_url_or_id,
    metrics_and_answered_log_report_what_the_response_says,
    an_authenticated_client_is_the_submitter,
    claim_level_cancellation_answers_every_item_submitted,
);

// ---------------------------------------------------------------------------------------------
// The real binary: SIGKILL right after the 2xx

/// A `pas-adapter serve` process on an ephemeral port.
struct Server {
    child: Child,
    base: String,
    /// The admin address (`/metrics`).
    admin: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    fn start(db: &str) -> Self {
        Self::spawn(db, "warn")
    }

    /// A server logging every request's line as JSON, kept for [`Server::log_until`].
    fn start_logging(db: &str) -> Self {
        Self::spawn(db, "info")
    }

    /// The log lines so far, once `ready` holds for them (or after 10 seconds).
    fn log_until(&self, ready: impl Fn(&[String]) -> bool) -> Vec<String> {
        for _ in 0..100 {
            let log = self.log.lock().unwrap().clone();
            if ready(&log) {
                return log;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        self.log.lock().unwrap().clone()
    }

    fn spawn(db: &str, level: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pas-adapter"))
            .args(["serve", "--addr", "127.0.0.1:0", "--db", db])
            .args(["--insecure-no-auth", "--admin-addr", "127.0.0.1:0"])
            .env("PAS_LOG", level)
            .env("PAS_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let mut admin = None;
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = line.strip_prefix("admin listening on ") {
                        admin = Some(addr.trim().to_owned());
                    } else if let Some(addr) = line.strip_prefix("listening on ") {
                        break addr.trim().to_owned();
                    } else {
                        seen.push(line);
                    }
                }
                _ => panic!("the server exited before listening: {seen:#?}"),
            }
        };
        let admin = admin.expect("the admin address is printed before the public one");
        // Keep draining its log so that the server never blocks on a full pipe.
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            base: format!("http://{addr}"),
            admin: format!("http://{admin}"),
            log,
        }
    }

    async fn post(&self, operation: &str, body: &Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/Claim/{operation}", self.base))
            .header("content-type", "application/fhir+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn killed_after_acknowledging_is_found_after_restart(db: &Db) {
    let server = Server::start(&db.uri);
    let (status, answer) = server.post("$submit", &sample()).await;
    server.kill();
    assert_eq!(status, 200, "{answer:#}");
    let number = items(&answer)[0].2.clone().unwrap();

    let server = Server::start(&db.uri);
    let (status, found) = server
        .post("$inquire", &inquiry(Some(ORIGINAL), None))
        .await;
    assert_eq!(status, 200, "{found:#}");
    let bundles = returned(&found);
    assert_eq!(bundles.len(), 1, "{found:#}");
    assert_eq!(items(&bundles[0]), vec![(1, "A1".to_owned(), Some(number))]);
    assert_eq!(
        claim_response(&bundles[0])["id"],
        claim_response(&answer)["id"]
    );
    server.kill();
}

/// The `answered` log lines' `actions` field, in order, from a JSON log.
fn answered_actions(log: &[String]) -> Vec<String> {
    log.iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "answered")
        .filter_map(|line| line["actions"].as_str().map(str::to_owned))
        // Routes without review actions (here `/metrics`) log `-`.
        .filter(|actions| actions != "-")
        .collect()
}

/// `pas_review_actions_total{action}` from the Prometheus text.
fn review_action_count(metrics: &str, action: &str) -> u64 {
    let prefix = format!("pas_review_actions_total{{action=\"{action}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse::<f64>().unwrap() as u64)
}

/// Regression (issue 10): metrics and the `answered` log line counted the engine's action
/// for items the response answers `C`, and a replayed request reported fresh decisions
/// beside the stored response. They report what the response says.
async fn metrics_and_answered_log_report_what_the_response_says(db: &Db) {
    let server = Server::start_logging(&db.uri);
    let (status, _) = server.post("$submit", &sample()).await;
    assert_eq!(status, 200);
    let cancel = cancellation(ORIGINAL, "TRN-2026-0004-C1");
    let (status, cancelled) = server.post("$submit", &cancel).await;
    assert_eq!(status, 200, "{cancelled:#}");
    assert_eq!(items(&cancelled)[0].1, "C");
    // The cancellation again: answered from the store, as stored, and not counted again.
    let (status, again) = server.post("$submit", &cancel).await;
    assert_eq!((status, &again), (200, &cancelled));
    // The original again: the stored A1, not counted again.
    assert_eq!(server.post("$submit", &sample()).await.0, 200);

    let metrics = reqwest::get(format!("{}/metrics", server.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(review_action_count(&metrics, "A1"), 1, "{metrics}");
    assert_eq!(review_action_count(&metrics, "C"), 1, "{metrics}");
    let log = server.log_until(|log| answered_actions(log).len() >= 4);
    assert_eq!(answered_actions(&log), ["A1", "C", "C", "A1"]);
}

// ---------------------------------------------------------------------------------------------
// The store stays out of the offline commands; purge keeps the minimum retention

#[test]
fn evaluate_creates_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pas-adapter"))
        .current_dir(dir.path())
        .args(["evaluate", sample_path().to_str().unwrap()])
        .env_remove("PAS_DB")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!dir.path().join("pas-adapter.db").exists());
}

#[test]
fn purge_refuses_less_than_six_months_and_runs_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("p.db").display());
    let short = Command::new(env!("CARGO_BIN_EXE_pas-adapter"))
        .args(["purge", "--db", &db, "--keep-months", "5"])
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(2), "{short:?}");
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(
        stderr.contains("retention of 5 months is shorter than the minimum of 6"),
        "{stderr}"
    );
    let ok = Command::new(env!("CARGO_BIN_EXE_pas-adapter"))
        .args(["purge", "--db", &db])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "purged 0 authorizations (0 stored versions) past 6 months of retention\n\
         purged 0 audit records past retention"
    );
}

/// Our own `$inquire` answer (built from a real `$submit` of a sample) conforms to the PAS
/// profiles, checked by the independent validator. The validator is asked about the inquiry
/// response Bundle: on a Bundle nested in a Parameters it reports bdl-3/bdl-4 against the
/// IG's own Parameters example too.
#[tokio::test]
async fn inquiry_answer_after_a_real_submit_conforms() {
    let validator = std::env::var_os("PAS_VALIDATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/pas-validator/release/pas-validator"));
    let shared = std::env::var_os("PAS_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let profiles = shared.join("pas/profiles");
    if !validator.exists() || !profiles.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "pas-validator or the PAS profiles are missing: {} {}",
            validator.display(),
            profiles.display()
        );
        eprintln!("pas-validator not built: skipping");
        return;
    }
    let db = Db::sqlite();
    let (app, _store) = app(&db).await;
    assert_eq!(submit(&app, &sample()).await.0, StatusCode::OK);
    let (_, cancelled) = submit(&app, &cancellation(ORIGINAL, "TRN-2026-0004-X")).await;
    let (_, answer) = inquire(&app, &inquiry(Some(ORIGINAL), None)).await;
    let bundles = returned(&answer);
    assert_eq!(bundles.len(), 1);

    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("inquiry-response.json", &bundles[0]),
        ("cancellation-response.json", &cancelled),
    ];
    for (name, body) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(body).unwrap()).unwrap();
        let run = Command::new(&validator)
            .arg(&profiles)
            .arg(&path)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&run.stdout).into_owned()
            + &String::from_utf8_lossy(&run.stderr);
        assert!(report.contains("errors=0 "), "{name}: {report}");
    }
}
