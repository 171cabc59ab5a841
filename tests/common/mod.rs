//! Shared helpers for the integration tests: where the PAS package is, and its request
//! examples.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::Value;

/// The IG's request examples: Referral, Homecare, Homecare update, Medical services, Surgical.
pub const IG_REQUESTS: &[&str] = &[
    "Bundle-ReferralAuthorizationBundleExample.json",
    "Bundle-HomecareAuthorizationBundleExample.json",
    "Bundle-HomecareAuthorizationUpdateBundleExample.json",
    "Bundle-MedicalServicesAuthorizationBundleExample.json",
    "Bundle-SurgicalRequestBundleExample.json",
];

/// The shared folder (PAS package, spec): `PAS_SHARED_DIR`, else `../shared` beside the
/// crate, which is where CI clones it.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("PAS_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        dir.join("pas/examples").is_dir(),
        "the PAS package is not at `{}`; set PAS_SHARED_DIR",
        dir.display()
    );
    dir
}

pub fn example_path(name: &str) -> PathBuf {
    shared_dir().join("pas/examples").join(name)
}

pub fn example(name: &str) -> Value {
    let text = std::fs::read_to_string(example_path(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn referral() -> Value {
    example(IG_REQUESTS[0])
}

/// `Claim.item.sequence` values of a request Bundle.
pub fn claim_sequences(bundle: &Value) -> Vec<u64> {
    bundle["entry"][0]["resource"]["item"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sequence"].as_u64().unwrap())
        .collect()
}

const PAS: &str = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition";

/// `(itemSequence, review action code)` of every ClaimResponse item.
pub fn item_actions(response: &Value) -> Vec<(u64, String)> {
    response["entry"][0]["resource"]["item"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let review = item["adjudication"][0]["extension"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["url"] == format!("{PAS}/extension-reviewAction"))
                .unwrap();
            let code = review["extension"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["url"] == format!("{PAS}/extension-reviewActionCode"))
                .unwrap()["valueCodeableConcept"]["coding"][0]["code"]
                .as_str()
                .unwrap()
                .to_owned();
            (item["itemSequence"].as_u64().unwrap(), code)
        })
        .collect()
}

/// The constraints the independent validator does not enforce (type slicing on
/// `Bundle.entry`, reference targets), checked here.
pub fn assert_response_shape(request: &Value, response: &Value) {
    use pas_adapter::fhir::BundleView;
    assert_eq!(response["resourceType"], "Bundle");
    assert_eq!(response["type"], "collection");
    assert!(response["identifier"]["value"].is_string());
    assert!(response["timestamp"].is_string());
    let entries = response["entry"].as_array().unwrap();
    assert_eq!(entries[0]["resource"]["resourceType"], "ClaimResponse");
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["resource"]["resourceType"] == "ClaimResponse")
            .count(),
        1,
        "exactly one ClaimResponse"
    );
    assert!(entries.iter().all(|e| e["fullUrl"].is_string()));
    let cr = &entries[0]["resource"];
    assert_eq!(cr["status"], "active");
    assert_eq!(cr["use"], "preauthorization");
    assert_eq!(cr["outcome"], "complete");
    assert!(cr["request"]["reference"].is_string());
    // Every echoed entry keeps its request fullUrl.
    let request_urls: Vec<&str> = request["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap())
        .collect();
    for entry in &entries[1..] {
        assert!(request_urls.contains(&entry["fullUrl"].as_str().unwrap()));
    }
    let view = BundleView::new(response);
    let target = |element: &str| {
        let reference = cr[element]["reference"].as_str().unwrap();
        view.resolve(reference, Some(0))
            .unwrap_or_else(|| panic!("{element} `{reference}` does not resolve in the response"))
            .resource_type
    };
    assert_eq!(target("patient"), "Patient");
    assert_eq!(target("insurer"), "Organization");
    if cr.get("requestor").is_some() {
        assert!(
            ["Organization", "PractitionerRole", "Practitioner"].contains(&target("requestor"))
        );
    }
    // One answer per Claim item, in Claim order.
    let answered: Vec<u64> = item_actions(response).into_iter().map(|(s, _)| s).collect();
    assert_eq!(answered, claim_sequences(request));
    // `C` (Cancelled) answers an item the request cancels (the IG's update example).
    for (_, code) in item_actions(response) {
        assert!(
            ["A1", "A3", "A4", "A6", "C"].contains(&code.as_str()),
            "{code}"
        );
    }
    assert_eq!(
        cr["processNote"].as_array().unwrap().len(),
        answered.len(),
        "one note per item"
    );
}
