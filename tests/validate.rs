//! Responses validated by the independent PAS validator (`$PAS_VALIDATOR`, built by
//! `scripts/test`): every IG request example and every sample bundle through the service,
//! plus one response carrying all four answers (A1, A6, A3, A4) from the builder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, TimeZone, Utc};
use pas_adapter::pas::{self, ItemAnswer, Limits, ResponseMeta};
use pas_adapter::policy::{
    Authorization, CriterionResult, Decision, Outcome, Period, PolicyRef, PolicySet, Status,
};
use pas_adapter::service::{Caller, Service, ServiceSettings};
use serde_json::{Value, json};

use common::{IG_REQUESTS, example, shared_dir};

/// A request with four items, built on the IG's Referral example.
fn four_item_request() -> Value {
    let mut bundle = common::referral();
    let item = bundle["entry"][0]["resource"]["item"][0].clone();
    let items: Vec<Value> = (1..=4)
        .map(|sequence| {
            let mut item = item.clone();
            item["sequence"] = json!(sequence);
            item["productOrService"] = json!({"coding": [{
                "system": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
                "code": "J9354"
            }]});
            item["quantity"] = json!({"value": 1080});
            item
        })
        .collect();
    bundle["entry"][0]["resource"]["item"] = Value::Array(items);
    bundle
}

fn all_four_answers() -> Value {
    let request = pas::check(four_item_request(), &Limits::default()).unwrap();
    let period = Period {
        start: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        end: NaiveDate::from_ymd_opt(2027, 5, 31).unwrap(),
    };
    let decision = |sequence, outcome| Decision {
        sequence,
        outcome,
        policy: Some(PolicyRef {
            id: "MP-RX-FP-48-23".into(),
            revision: "test".into(),
            title: "ado-trastuzumab emtansine (Kadcyla)".into(),
        }),
        criteria: vec![CriterionResult {
            id: "A.i".into(),
            text: "HER2-positive disease".into(),
            status: Status::Met,
            because: vec!["Observation/her2-ihc: IHC 3+".into()],
        }],
        summary: "validation fixture".into(),
    };
    let answers = vec![
        ItemAnswer::decided(
            decision(
                1,
                Outcome::Certified(Authorization {
                    quantity: Some(1080.0),
                    period,
                }),
            ),
            Some("PA-0123456789AB".into()),
        ),
        ItemAnswer::decided(
            decision(
                2,
                Outcome::Modified {
                    authorized: Authorization {
                        quantity: Some(720.0),
                        period,
                    },
                },
            ),
            Some("PA-0123456789AC".into()),
        ),
        ItemAnswer::decided(decision(3, Outcome::NotCertified), None),
        ItemAnswer::decided(
            decision(
                4,
                Outcome::Pended {
                    documents: vec!["HER2 ISH report".into()],
                },
            ),
            None,
        ),
    ];
    let meta = ResponseMeta {
        id: "7d8c5f8e-1b2a-4c3d-9e4f-5a6b7c8d9e0f".into(),
        created: Utc.with_ymd_and_hms(2026, 11, 24, 7, 0, 0).unwrap(),
        identifier_system: "urn:pas-adapter:claim-response".into(),
        preauth_ref: Some("PA-0123456789AA".into()),
    };
    pas::response::build(&request, &answers, &meta)
}

/// Request bundles in `sample-bundles/`, if the folder exists.
fn sample_bundles() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-bundles");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".json") && !name.ends_with(".expected.json")
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn responses_validate_against_the_pas_profiles() {
    let Some(validator) = std::env::var_os("PAS_VALIDATOR") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PAS_VALIDATOR is not set; run the tests through scripts/test"
        );
        eprintln!("skipped: PAS_VALIDATOR is not set (scripts/test sets it)");
        return;
    };
    let service = Service::new(PolicySet::embedded(), ServiceSettings::default());
    let out = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut write = |name: String, response: &Value| {
        let path = out.path().join(name);
        std::fs::write(&path, serde_json::to_string_pretty(response).unwrap()).unwrap();
        files.push(path);
    };
    for name in IG_REQUESTS {
        let submission = service
            .submit(&Caller::Unauthenticated, example(name))
            .await
            .unwrap();
        write(format!("response-{name}"), &submission.response);
    }
    for path in sample_bundles() {
        let body = std::fs::read(&path).unwrap();
        let submission = service
            .submit_bytes(&Caller::Unauthenticated, &body)
            .await
            .unwrap_or_else(|r| panic!("`{}` was rejected: {r}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy();
        write(format!("response-{name}"), &submission.response);
    }
    write("response-all-four-answers.json".into(), &all_four_answers());

    let profiles = shared_dir().join("pas/profiles");
    let output = std::process::Command::new(&validator)
        .arg(&profiles)
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", Path::new(&validator).display()));
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "validator failed:\n{report}");
    // One summary line per file: `NAME: errors=N warnings=M time=...`.
    let summaries: Vec<&str> = report.lines().filter(|l| l.contains(": errors=")).collect();
    assert_eq!(summaries.len(), files.len(), "{report}");
    for line in summaries {
        assert!(line.contains(": errors=0 "), "validation errors:\n{report}");
    }
}
