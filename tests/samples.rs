//! Acceptance test: every sample request Bundle in `sample-bundles/` is evaluated by the real
//! binary (`pas-adapter evaluate FILE`) and each item's answer is compared with the hand-written
//! oracle beside it (`<name>.expected.json`, format in the team notes).
//!
//! The expected answers were written from the product contract, independently of the engine,
//! so a mismatch means either the engine or the oracle is wrong: the failure message names the
//! sample, the item and both values so a reviewer can tell which.
//!
//! Where the response carries the answer (PAS 2.2.1 profiles, checked against
//! `StructureDefinition-extension-reviewAction` and the IG's response examples):
//! - review action: `ClaimResponse.item[itemSequence=N].adjudication[].extension[url=…/extension-reviewAction]
//!   .extension[code].valueCodeableConcept.coding[0].code`. The `code` sub-extension is a typed slice
//!   whose url is the canonical `…/extension-reviewActionCode` (as in the IG's examples); a bare
//!   `code` url is tolerated too.
//! - authorized quantity and period: the response builder may use either of the two places PAS
//!   allows, so the lookup is tolerant and checks, in order,
//!   1. `ClaimResponse.item[itemSequence=N].extension[…/extension-itemAuthorizedDetail]
//!      .extension[url=quantity].valueQuantity.value` and
//!      `ClaimResponse.item[itemSequence=N].extension[…/extension-itemPreAuthPeriod].valuePeriod`;
//!   2. `ClaimResponse.addItem[itemSequence contains N]`: `quantity.value`, and the period from its
//!      `extension-itemPreAuthPeriod` or its `servicedPeriod`.
//!
//!   Periods are compared on their date part (the first 10 characters), since an answer may
//!   carry a dateTime where the oracle has a date.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const PAS: &str = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/";
const ACTIONS: [&str; 4] = ["A1", "A3", "A4", "A6"];

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-bundles")
}

/// The request bundles (`*.json` that are not `*.expected.json`) and the expected files, by stem.
fn listing() -> Result<(BTreeSet<String>, BTreeSet<String>), String> {
    let dir = samples_dir();
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
    let mut bundles = BTreeSet::new();
    let mut expected = BTreeSet::new();
    for entry in entries {
        let name = entry
            .map_err(|e| format!("cannot list `{}`: {e}", dir.display()))?
            .file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".expected.json") {
            expected.insert(stem.to_owned());
        } else if let Some(stem) = name.strip_suffix(".json") {
            bundles.insert(stem.to_owned());
        }
    }
    Ok((bundles, expected))
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("`{}` is not valid JSON: {e}", path.display()))
}

#[derive(Debug)]
struct ExpectedItem {
    sequence: u64,
    action: String,
    quantity: Option<f64>,
    period: Option<(String, String)>,
    /// Phrases the item's note must contain.
    note: Vec<String>,
}

/// Parses and checks one expected file; every problem is an error naming the file.
fn parse_expected(stem: &str) -> Result<Vec<ExpectedItem>, String> {
    let path = samples_dir().join(format!("{stem}.expected.json"));
    let json = read_json(&path)?;
    let ctx = |msg: &str| format!("{stem}.expected.json: {msg}");
    let description = json
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if description.trim().is_empty() {
        return Err(ctx("`description` is missing or empty"));
    }
    let items = json
        .get("items")
        .and_then(Value::as_array)
        .filter(|items| !items.is_empty())
        .ok_or_else(|| ctx("`items` is missing or empty"))?;
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for item in items {
        let sequence = item
            .get("sequence")
            .and_then(Value::as_u64)
            .ok_or_else(|| ctx("an item has no integer `sequence`"))?;
        if !seen.insert(sequence) {
            return Err(ctx(&format!("sequence `{sequence}` appears twice")));
        }
        let action = item
            .get("action")
            .and_then(Value::as_str)
            .ok_or_else(|| ctx(&format!("item `{sequence}` has no `action`")))?;
        if !ACTIONS.contains(&action) {
            return Err(ctx(&format!(
                "item `{sequence}` has action `{action}`, not one of A1/A3/A4/A6"
            )));
        }
        let quantity = match item.get("quantity") {
            None => None,
            Some(q) => Some(q.as_f64().filter(|q| *q > 0.0).ok_or_else(|| {
                ctx(&format!(
                    "item `{sequence}` quantity `{q}` is not a positive number"
                ))
            })?),
        };
        let period = match item.get("period") {
            None => None,
            Some(p) => {
                let start = p.get("start").and_then(Value::as_str);
                let end = p.get("end").and_then(Value::as_str);
                match (start, end) {
                    (Some(s), Some(e)) if is_date(s) && is_date(e) && s <= e => {
                        Some((s.to_owned(), e.to_owned()))
                    }
                    _ => {
                        return Err(ctx(&format!(
                            "item `{sequence}` period `{p}` needs dates start <= end"
                        )));
                    }
                }
            }
        };
        // This repository's oracle always states what A1/A6 authorize, and nothing for A3/A4.
        let decided = action == "A1" || action == "A6";
        if decided != (quantity.is_some() && period.is_some())
            || (!decided && (quantity.is_some() || period.is_some()))
        {
            return Err(ctx(&format!(
                "item `{sequence}` ({action}): A1/A6 need `quantity` and `period`, A3/A4 take neither"
            )));
        }
        let note = match item.get("note") {
            None => Vec::new(),
            Some(n) => n
                .as_array()
                .map(|phrases| {
                    phrases
                        .iter()
                        .filter_map(Value::as_str)
                        .filter(|p| !p.trim().is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .filter(|phrases| phrases.len() == n.as_array().map_or(0, Vec::len))
                .ok_or_else(|| {
                    ctx(&format!(
                        "item `{sequence}` note `{n}` is not a list of non-empty strings"
                    ))
                })?,
        };
        out.push(ExpectedItem {
            sequence,
            action: action.to_owned(),
            quantity,
            period,
            note,
        });
    }
    Ok(out)
}

fn is_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// The sequences of the Claim items in a request bundle.
fn claim_item_sequences(bundle: &Value) -> BTreeSet<u64> {
    resources(bundle, "Claim")
        .flat_map(|claim| {
            claim
                .get("item")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|item| item.get("sequence").and_then(Value::as_u64))
        .collect()
}

fn resources<'a>(bundle: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    bundle
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("resource"))
        .filter(move |r| r.get("resourceType").and_then(Value::as_str) == Some(kind))
}

fn extensions<'a>(element: &'a Value, url: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    element
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |e| e.get("url").and_then(Value::as_str) == Some(url))
}

/// The X12 306 code of the first adjudication that carries a reviewAction, with its number.
fn review_action(adjudicated: &Value) -> Option<(String, Option<String>)> {
    let review_url = format!("{PAS}extension-reviewAction");
    let code_url = format!("{PAS}extension-reviewActionCode");
    adjudicated
        .get("adjudication")
        .and_then(Value::as_array)?
        .iter()
        .find_map(|adj| {
            let review = extensions(adj, &review_url).next()?;
            let code = extensions(review, &code_url)
                .chain(extensions(review, "code"))
                .find_map(|c| {
                    c.pointer("/valueCodeableConcept/coding/0/code")
                        .and_then(Value::as_str)
                })?;
            let number = extensions(review, "number")
                .find_map(|n| n.get("valueString").and_then(Value::as_str));
            Some((code.to_owned(), number.map(str::to_owned)))
        })
}

fn period_of(value: &Value) -> Option<(String, String)> {
    let date = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .map(|s| s.chars().take(10).collect::<String>())
    };
    Some((date("start")?, date("end")?))
}

/// Authorized quantity and period for item `sequence`, from `item` extensions or `addItem`.
fn authorization(
    response: &Value,
    item: Option<&Value>,
    sequence: u64,
) -> (Option<f64>, Option<(String, String)>) {
    let detail_url = format!("{PAS}extension-itemAuthorizedDetail");
    let period_url = format!("{PAS}extension-itemPreAuthPeriod");
    let mut quantity = item.and_then(|item| {
        extensions(item, &detail_url)
            .flat_map(|d| extensions(d, "quantity"))
            .find_map(|q| q.pointer("/valueQuantity/value").and_then(Value::as_f64))
    });
    let mut period = item.and_then(|item| {
        extensions(item, &period_url).find_map(|p| p.get("valuePeriod").and_then(period_of))
    });
    let add_items = response
        .get("addItem")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|add| {
            add.get("itemSequence")
                .and_then(Value::as_array)
                .is_some_and(|seqs| seqs.iter().any(|s| s.as_u64() == Some(sequence)))
        });
    for add in add_items {
        quantity = quantity.or_else(|| add.pointer("/quantity/value").and_then(Value::as_f64));
        period = period
            .or_else(|| {
                extensions(add, &period_url).find_map(|p| p.get("valuePeriod").and_then(period_of))
            })
            .or_else(|| add.get("servicedPeriod").and_then(period_of));
    }
    (quantity, period)
}

/// The text of the `processNote`s an item links to (`item.noteNumber`).
fn note_of(response: &Value, item: Option<&Value>) -> String {
    let numbers: Vec<u64> = item
        .and_then(|i| i.get("noteNumber"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    response
        .get("processNote")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|n| {
            n.get("number")
                .and_then(Value::as_u64)
                .is_some_and(|k| numbers.contains(&k))
        })
        .filter_map(|n| n.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the binary on one sample and returns every mismatch with the oracle.
fn check_sample(stem: &str) -> Result<Vec<String>, String> {
    let expected = parse_expected(stem)?;
    let path = samples_dir().join(format!("{stem}.json"));
    let output = Command::new(env!("CARGO_BIN_EXE_pas-adapter"))
        .arg("evaluate")
        .arg(&path)
        .output()
        .map_err(|e| format!("{stem}: cannot run pas-adapter: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{stem}: `pas-adapter evaluate` exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let bundle: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("{stem}: the response on stdout is not JSON: {e}"))?;
    let response = resources(&bundle, "ClaimResponse")
        .next()
        .ok_or_else(|| format!("{stem}: the response Bundle has no ClaimResponse"))?;

    let mut problems = Vec::new();
    if response.get("outcome").and_then(Value::as_str) != Some("complete") {
        problems.push(format!(
            "{stem}: ClaimResponse.outcome is `{}`, expected `complete`",
            response["outcome"]
        ));
    }
    // decisions.md section 2: the authorization number is on the item and in `preAuthRef`.
    let first_number = expected
        .iter()
        .filter(|w| w.action == "A1" || w.action == "A6")
        .find_map(|w| {
            response
                .get("item")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|i| i.get("itemSequence").and_then(Value::as_u64) == Some(w.sequence))
                .and_then(review_action)
                .and_then(|(_, number)| number)
        });
    let pre_auth_ref = response.get("preAuthRef").and_then(Value::as_str);
    if pre_auth_ref != first_number.as_deref() {
        problems.push(format!(
            "{stem}: ClaimResponse.preAuthRef is {pre_auth_ref:?}, expected the authorization number {first_number:?}"
        ));
    }
    for want in &expected {
        let seq = want.sequence;
        let item = response
            .get("item")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|i| i.get("itemSequence").and_then(Value::as_u64) == Some(seq));
        let action = item.and_then(review_action);
        match &action {
            None => problems.push(format!(
                "{stem} item {seq}: no reviewAction code, expected `{}`",
                want.action
            )),
            Some((code, _)) if *code != want.action => {
                problems.push(format!(
                    "{stem} item {seq}: review action `{code}`, expected `{}`",
                    want.action
                ));
            }
            Some((_, None)) if want.action == "A1" || want.action == "A6" => {
                problems.push(format!(
                    "{stem} item {seq}: `{}` without a reviewAction number",
                    want.action
                ));
            }
            Some(_) => {}
        }
        if !want.note.is_empty() {
            let text = note_of(response, item);
            for phrase in &want.note {
                if !text.contains(phrase.as_str()) {
                    problems.push(format!(
                        "{stem} item {seq}: the note does not say `{phrase}`; it reads:\n{text}"
                    ));
                }
            }
        }
        let (quantity, period) = authorization(response, item, seq);
        if let Some(q) = want.quantity {
            match quantity {
                Some(got) if (got - q).abs() < 1e-6 => {}
                got => problems.push(format!(
                    "{stem} item {seq}: authorized quantity {got:?}, expected {q}"
                )),
            }
        }
        if let Some(p) = &want.period
            && period.as_ref() != Some(p)
        {
            problems.push(format!(
                "{stem} item {seq}: authorized period {period:?}, expected {p:?}"
            ));
        }
    }
    Ok(problems)
}

#[test]
fn every_sample_has_an_expected_answer_and_vice_versa() -> Result<(), String> {
    let (bundles, expected) = listing()?;
    assert!(
        !bundles.is_empty(),
        "no sample bundles in `{}`",
        samples_dir().display()
    );
    let orphans: Vec<_> = bundles.symmetric_difference(&expected).collect();
    assert!(
        orphans.is_empty(),
        "samples without an expected file, or expected files without a sample: {orphans:?}"
    );
    Ok(())
}

#[test]
fn expected_files_are_well_formed_and_match_their_claims() -> Result<(), String> {
    let (bundles, expected) = listing()?;
    let mut problems = Vec::new();
    for stem in &expected {
        match parse_expected(stem) {
            Err(e) => problems.push(e),
            Ok(items) if bundles.contains(stem) => {
                match read_json(&samples_dir().join(format!("{stem}.json"))) {
                    Err(e) => problems.push(e),
                    Ok(bundle) => {
                        let claimed = claim_item_sequences(&bundle);
                        let answered: BTreeSet<u64> = items.iter().map(|i| i.sequence).collect();
                        if claimed != answered {
                            problems.push(format!(
                                "{stem}: Claim items {claimed:?} but expected answers for {answered:?}"
                            ));
                        }
                    }
                }
            }
            Ok(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

#[test]
fn sample_bundles_evaluate_to_their_expected_answers() -> Result<(), String> {
    let (bundles, _) = listing()?;
    let mut problems: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for stem in &bundles {
        match check_sample(stem) {
            Ok(found) if found.is_empty() => {}
            Ok(found) => {
                problems.insert(stem, found);
            }
            Err(e) => {
                problems.insert(stem, vec![e]);
            }
        }
    }
    let report: Vec<String> = problems.values().flatten().cloned().collect();
    assert!(
        report.is_empty(),
        "{} of {} samples disagree with their expected answers:\n{}",
        problems.len(),
        bundles.len(),
        report.join("\n")
    );
    Ok(())
}

/// The lookups above read the shapes of the IG's own response examples
/// (ClaimResponse-PractitionerRequestorResponseExample) and the `addItem` alternative.
#[test]
fn lookups_read_both_pas_placements() -> Result<(), String> {
    let via_item: Value = serde_json::from_str(&format!(
        r#"{{"resourceType":"ClaimResponse","outcome":"complete","item":[{{"itemSequence":1,
        "extension":[{{"url":"{PAS}extension-itemPreAuthPeriod","valuePeriod":{{"start":"2026-12-01","end":"2027-05-31T23:59:59Z"}}}},
          {{"url":"{PAS}extension-itemAuthorizedDetail","extension":[{{"url":"quantity","valueQuantity":{{"value":2268}}}}]}}],
        "adjudication":[{{"category":{{"coding":[{{"code":"submitted"}}]}},"extension":[{{"url":"{PAS}extension-reviewAction",
          "extension":[{{"url":"number","valueString":"AUTH1"}},{{"url":"{PAS}extension-reviewActionCode",
          "valueCodeableConcept":{{"coding":[{{"system":"https://codesystem.x12.org/005010/306","code":"A6"}}]}}}}]}}]}}]}}]}}"#
    ))
    .map_err(|e| e.to_string())?;
    let item = via_item.pointer("/item/0");
    assert_eq!(
        item.and_then(review_action),
        Some(("A6".to_owned(), Some("AUTH1".to_owned())))
    );
    let window = Some(("2026-12-01".to_owned(), "2027-05-31".to_owned()));
    assert_eq!(
        authorization(&via_item, item, 1),
        (Some(2268.0), window.clone())
    );

    let via_add_item: Value = serde_json::from_str(
        r#"{"resourceType":"ClaimResponse","item":[{"itemSequence":1,"adjudication":[]}],
        "addItem":[{"itemSequence":[1],"quantity":{"value":1260},
          "servicedPeriod":{"start":"2026-12-01","end":"2027-05-31"}}]}"#,
    )
    .map_err(|e| e.to_string())?;
    let item = via_add_item.pointer("/item/0");
    assert_eq!(item.and_then(review_action), None);
    assert_eq!(
        authorization(&via_add_item, item, 1),
        (Some(1260.0), window)
    );
    assert_eq!(authorization(&via_add_item, item, 2), (None, None));
    Ok(())
}

/// Every `reference` in a sample points at an entry of the same Bundle (relative references
/// resolve against the entry's fullUrl base, as FHIR's Bundle resolution rules say).
#[test]
fn every_reference_in_a_sample_resolves_inside_it() -> Result<(), String> {
    fn collect<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("reference", Value::String(r)) => out.push(r),
                        _ => collect(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let (bundles, _) = listing()?;
    let mut problems = Vec::new();
    for stem in &bundles {
        let bundle = read_json(&samples_dir().join(format!("{stem}.json")))?;
        let full_urls: BTreeSet<&str> = bundle
            .get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("fullUrl").and_then(Value::as_str))
            .collect();
        let mut references = Vec::new();
        collect(&bundle, &mut references);
        for reference in references {
            let found = full_urls.contains(reference)
                || full_urls
                    .iter()
                    .any(|url| url.ends_with(&format!("/{reference}")));
            if !found {
                problems.push(format!(
                    "{stem}: reference `{reference}` does not resolve in the Bundle"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}
