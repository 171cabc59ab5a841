//! decisions.md section 7, the one evidence rule that is a 400 rather than an answer: a date
//! that is not a calendar date inside a clinical resource the adapter reads is a malformed
//! request, answered with an OperationOutcome at the element (`pas-adapter evaluate` exits 1).
//! The rules that are answers (another patient's evidence, implausible weights and HER2
//! numbers, quantity units, far periods) are sample bundles 32-48 with their expected notes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn sample(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-bundles")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Index of the first entry holding a `resource_type`.
fn entry_of(bundle: &Value, resource_type: &str) -> usize {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e["resource"]["resourceType"] == resource_type)
        .unwrap()
}

/// Runs `evaluate` on `bundle`: the exit code and the JSON printed.
fn evaluate(bundle: &Value) -> (Option<i32>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("request.json");
    std::fs::write(&file, bundle.to_string()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pas-adapter"))
        .arg("evaluate")
        .arg(&file)
        .output()
        .unwrap();
    (
        output.status.code(),
        serde_json::from_slice(&output.stdout).unwrap(),
    )
}

/// Regression (issue 10): `2026-02-30` in a clinical resource was silently read as no date.
#[test]
fn a_date_that_is_not_a_calendar_date_is_400_at_the_element() {
    let base = sample("04-mbc-fda-a1.json");
    let cases: [(&str, &[&str], &str, &str); 4] = [
        (
            "Observation",
            &["effectiveDateTime"],
            "2026-02-30",
            "effectiveDateTime",
        ),
        (
            "Condition",
            &["onsetDateTime"],
            "2025-02-29",
            "onsetDateTime",
        ),
        (
            "MedicationStatement",
            &["effectivePeriod", "end"],
            "2025-13-01",
            "effectivePeriod.end",
        ),
        ("Observation", &["issued"], "2026-11-31T10:00:00Z", "issued"),
    ];
    for (resource_type, pointer, bad, element) in cases {
        let mut bundle = base.clone();
        let k = entry_of(&bundle, resource_type);
        let mut target = &mut bundle["entry"][k]["resource"];
        for key in pointer {
            target = &mut target[*key];
        }
        *target = Value::from(bad);
        let (code, outcome) = evaluate(&bundle);
        assert_eq!(code, Some(1), "{resource_type}.{element} = {bad}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(
            outcome["issue"][0]["expression"][0],
            format!("Bundle.entry[{k}].resource.{element}"),
            "{outcome}"
        );
        assert!(
            outcome["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains(&format!("`{bad}` is not a calendar date")),
            "{outcome}"
        );
    }
}

/// A partial date is a date: the request is answered, not refused.
#[test]
fn partial_dates_are_dates() {
    let mut bundle = sample("04-mbc-fda-a1.json");
    let k = entry_of(&bundle, "Observation");
    bundle["entry"][k]["resource"]["effectiveDateTime"] = Value::from("2025-01");
    let (code, response) = evaluate(&bundle);
    assert_eq!(code, Some(0), "{response}");
    assert_eq!(response["resourceType"], "Bundle");
}
