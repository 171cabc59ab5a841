//! The `$inquire` answer built from a stored PAS response conforms to the PAS 2.2.1 profiles,
//! checked by the independent `pas-validator` (`PAS_VALIDATOR`, default
//! `/tmp/pas-validator/release/pas-validator`, with the profiles in `PAS_PROFILES`, default
//! `/work/shared/pas/profiles`). Skipped when the validator is not built, except under `CI`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

use pas_adapter::policy::decision::ReviewAction;
use pas_adapter::store::{ItemAuthorization, NewSubmission, Store, inquiry};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pas-ig")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn inquiry_response_conforms_to_the_pas_profiles() {
    let validator = std::env::var_os("PAS_VALIDATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/pas-validator/release/pas-validator"));
    let profiles = std::env::var_os("PAS_PROFILES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/pas/profiles"));
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

    // Store the IG's request with the IG's response as our answer, then inquire with the
    // IG's inquiry.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("db").display()))
        .await
        .unwrap();
    let submission = NewSubmission::new(
        fixture("Bundle-HomecareAuthorizationBundleExample.json"),
        fixture("Bundle-ReferralAuthorizationResponseBundleExample.json"),
        json!({}),
        "test",
        vec![ItemAuthorization {
            item_sequence: 1,
            number: "AUTH0001".into(),
            review_action: ReviewAction::Certified,
            period_start: None,
            period_end: None,
        }],
    )
    .unwrap();
    store.record(submission).await.unwrap();
    let inquiry_bundle = fixture("Bundle-PASClaimInquiryBundleExample.json");
    let found = store
        .inquire(&inquiry::parse(&inquiry_bundle).unwrap())
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let answer = inquiry::response(&inquiry_bundle, &found);

    let bundle = &answer["parameter"][0]["resource"];
    let out = dir.path().join("inquiry-response.json");
    std::fs::write(&out, serde_json::to_vec_pretty(bundle).unwrap()).unwrap();
    let run = Command::new(&validator)
        .arg(&profiles)
        .arg(&out)
        .output()
        .unwrap();
    let report =
        String::from_utf8_lossy(&run.stdout).into_owned() + &String::from_utf8_lossy(&run.stderr);
    eprintln!("{report}");
    assert!(report.contains("errors=0 "), "{report}");
}
