//! Isolation (security.md section 2): the authenticated client is the submitter. Two clients
//! sending the same Claim identifier for the same patient each see only their own answer,
//! under different authorization numbers, and no identifier or number a client sends opens
//! or changes another client's authorization.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth_common;

use auth_common::{SmartServer, first_number, inquiry, returned, sample};
use serde_json::{Value, json};

const TRACE: &str = "http://example.org/PATIENT_EVENT_TRACE_NUMBER";

/// A cancellation of the sample's claim (`TRN-2026-0004`) under a new Claim identifier.
fn cancellation() -> Value {
    let mut bundle = sample();
    bundle["identifier"]["value"] = json!("tx-cancel");
    let claim = &mut bundle["entry"][0]["resource"];
    claim["identifier"][0]["value"] = json!("TRN-2026-0004-C1");
    claim["related"] = json!([{
        "claim": {"identifier": {"system": TRACE, "value": "TRN-2026-0004"}},
        "relationship": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship",
            "code": "prior"}]}
    }]);
    for item in claim["item"].as_array_mut().unwrap() {
        for extension in item["extension"].as_array_mut().unwrap() {
            if extension["url"]
                .as_str()
                .unwrap()
                .ends_with("extension-certificationType")
            {
                extension["valueCodeableConcept"] = json!({"coding": [{
                    "system": "https://codesystem.x12.org/005010/1322", "code": "3"}]});
            }
        }
    }
    bundle
}

#[tokio::test]
async fn two_clients_with_one_claim_identifier_each_see_only_their_own() {
    let server = SmartServer::start().await;
    let (a, b) = (server.token_a().await, server.token_b().await);
    let (status, _, answer_a) = server
        .call("POST", "/Claim/$submit", Some(&a), Some(&sample()))
        .await;
    assert_eq!(status, 200, "{answer_a}");
    let (status, _, answer_b) = server
        .call("POST", "/Claim/$submit", Some(&b), Some(&sample()))
        .await;
    assert_eq!(
        status, 200,
        "B's identical request is B's own, not a replay of A's"
    );
    let (number_a, number_b) = (first_number(&answer_a), first_number(&answer_b));
    assert_ne!(number_a, number_b, "the submitter is part of the number");
    // Neither is the unkeyed number anyone could compute from the Claim identifier.
    let offline = pas_adapter::service::Service::new(
        pas_adapter::policy::PolicySet::embedded(),
        pas_adapter::service::ServiceSettings::default(),
    )
    .submit(&pas_adapter::service::Caller::Unauthenticated, sample())
    .await
    .unwrap();
    let guessable = first_number(&offline.response);
    assert!(![&number_a, &number_b].contains(&&guessable));

    // A resubmission by A is A's replay: the same number.
    let (_, _, again) = server
        .call("POST", "/Claim/$submit", Some(&a), Some(&sample()))
        .await;
    assert_eq!(first_number(&again), number_a);

    for (token, own, other) in [(&a, &number_a, &number_b), (&b, &number_b, &number_a)] {
        // By Claim identifier (the same for both): only its own.
        let (status, _, found) = server
            .call("POST", "/Claim/$inquire", Some(token), Some(&inquiry(None)))
            .await;
        assert_eq!(status, 200);
        let found = returned(&found);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(&first_number(&found[0]), own);
        // By the other's authorization number: nothing.
        let (_, _, found) = server
            .call(
                "POST",
                "/Claim/$inquire",
                Some(token),
                Some(&inquiry(Some(other))),
            )
            .await;
        assert!(returned(&found).is_empty(), "{found:#}");
        // By its own number: its own.
        let (_, _, found) = server
            .call(
                "POST",
                "/Claim/$inquire",
                Some(token),
                Some(&inquiry(Some(own))),
            )
            .await;
        assert_eq!(returned(&found).len(), 1);
    }
}

#[tokio::test]
async fn a_client_cannot_cancel_another_clients_authorization() {
    let server = SmartServer::start().await;
    let (a, b) = (server.token_a().await, server.token_b().await);
    let (_, _, answer_a) = server
        .call("POST", "/Claim/$submit", Some(&a), Some(&sample()))
        .await;
    let number_a = first_number(&answer_a);
    // B names A's claim (same Bundle.identifier.system, same Claim identifier) as prior.
    let (status, _, outcome) = server
        .call("POST", "/Claim/$submit", Some(&b), Some(&cancellation()))
        .await;
    assert_eq!(status, 422, "{outcome}");
    assert_eq!(outcome["issue"][0]["code"], "not-found");
    // A's authorization is untouched: still version 1, still certified.
    let (_, _, found) = server
        .call(
            "POST",
            "/Claim/$inquire",
            Some(&a),
            Some(&inquiry(Some(&number_a))),
        )
        .await;
    let found = returned(&found);
    assert_eq!(found.len(), 1);
    let text = found[0].to_string();
    assert!(text.contains("\"A1\""), "{text}");
    // A itself can cancel it.
    let (status, _, cancelled) = server
        .call("POST", "/Claim/$submit", Some(&a), Some(&cancellation()))
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(first_number(&cancelled), number_a);
}
