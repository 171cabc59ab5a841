//! Evidence gathering: from a checked request Bundle to [`Facts`].
//!
//! Gathering is faithful extraction, not judgement: every code is kept (normalized), every
//! value typed, every fact located. Which codes mean what for a policy is the policy's
//! business. Resources are read through the typed models of [`crate::fhir::model`]; PAS
//! extensions are read from the raw JSON ([`extensions`]).
//!
//! What the gatherer does with input that makes no sense (decisions.md section 7, issue 10)
//! is decided here, so that a policy receives clean typed values plus what was set aside:
//! another patient's resources and resources the typed model cannot read are set aside
//! ([`read`]); implausible weights and HER2 numbers are dropped ([`plausible`]); quantities
//! are read in mg and an item whose unit or period an automated answer cannot accept carries a
//! [`Concern`] ([`claim`]). Only a date that is not a calendar date, or a Claim the typed
//! model cannot read, stops gathering with a [`GatherError`] at the element (400).

mod claim;
mod diagnoses;
mod extensions;
pub mod facts;
mod medications;
mod observations;
mod patient;
mod plausible;
mod products;
mod questionnaire;
mod read;
mod site;
#[cfg(test)]
mod testing;

pub use facts::*;

use crate::fhir::model::{self, ModelError};
use crate::fhir::{BundleView, Entry};

use site::Site;

/// A resource the gatherer must read could not be read as FHIR R4.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at `{path}`")]
pub struct GatherError {
    /// FHIRPath location, e.g. `Bundle.entry[3].resource`.
    pub path: String,
    pub message: String,
}

impl From<ModelError> for GatherError {
    fn from(err: ModelError) -> Self {
        Self {
            path: err.path,
            message: err.message,
        }
    }
}

/// Gathers every fact a policy may read from the Bundle around `claim`.
///
/// `medications` ends with every item of this Claim as a current use
/// ([`MedicationSource::ClaimItem`]), so that the engine sees the other items requested
/// alongside the one it decides.
pub fn gather(view: &BundleView<'_>, claim: &Entry<'_>) -> Result<Facts, GatherError> {
    if claim.resource_type != "Claim" {
        return Err(GatherError {
            path: claim.path(),
            message: format!("expected a `Claim`, found `{}`", claim.resource_type),
        });
    }
    let site = Site::of(claim);
    let typed: model::ClaimParts = model::parse(claim.resource, &site.path)?;
    let reader = read::Reader::new(view, &site);
    let claim_facts = claim::gather(&reader, &site, &typed)?;
    let diagnoses = diagnoses::gather(&reader, &site, &typed)?;
    let observations = observations::gather(&reader)?;
    let mut medications = medications::gather(&reader, &claim::requested_entries(view))?;
    medications.extend(claim::item_uses(claim, &claim_facts));
    let answers = questionnaire::gather(&reader, &site, &typed)?;
    let questionnaires = questionnaire::named(view, &site, &typed);
    let birth_date = patient::birth_date(&reader, &site)?;
    Ok(Facts {
        claim: claim_facts,
        diagnoses,
        observations,
        medications,
        answers,
        questionnaires,
        birth_date,
        set_aside: reader.into_set_aside(),
    })
}

/// `codes` without repeats, first occurrence kept: the same code sent twice (on the item and
/// on its order, on a Medication and its ingredient) is one fact.
fn distinct(codes: Vec<crate::fhir::Code>) -> Vec<crate::fhir::Code> {
    let mut seen = std::collections::HashSet::new();
    codes
        .into_iter()
        .filter(|c| seen.insert(c.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::testing::*;
    use super::*;
    use crate::fhir::{Code, CodeSystem};

    /// Regression: fhir-sdk's whole-Claim model demanded status, provider, priority and
    /// insurance, so a Claim missing any of them was answered 400 although the evidence reads
    /// none of them.
    #[test]
    fn a_claim_missing_elements_the_evidence_does_not_read_is_still_read() -> Result<(), GatherError>
    {
        let mut raw = rich_bundle();
        for field in ["status", "provider", "priority", "insurance", "created"] {
            if let Some(claim) = raw["entry"][0]["resource"].as_object_mut() {
                claim.remove(field);
            }
        }
        let facts = gather_first(&raw)?;
        assert_eq!(facts.claim.items.len(), 2);
        assert_eq!(facts.claim.created, None);
        Ok(())
    }

    #[test]
    fn a_rich_bundle_yields_every_kind_of_fact() -> Result<(), GatherError> {
        let facts = gather_first(&rich_bundle())?;
        assert_eq!(facts.claim.items.len(), 2);
        assert_eq!(
            facts.claim.items.first().map(|i| i.product_codes.clone()),
            Some(vec![
                code(CodeSystem::Hcpcs, "J9354"),
                code(CodeSystem::Ndc, "50242008801"),
                code(CodeSystem::RxNorm, "1371041"),
            ])
        );
        let diagnoses: Vec<_> = facts
            .diagnoses
            .iter()
            .map(|d| d.code.code.as_str())
            .collect();
        assert_eq!(diagnoses, vec!["C50.911", "C79.81"]);
        assert_eq!(facts.observations.len(), 2);
        let kinds: Vec<_> = facts.medications.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            vec![
                MedicationSource::Statement,
                MedicationSource::Administration,
                MedicationSource::Procedure,
                MedicationSource::ClaimItem(1),
                MedicationSource::ClaimItem(2),
            ]
        );
        let links: Vec<_> = facts.answers.iter().map(|a| a.link_id.as_str()).collect();
        assert_eq!(
            links,
            vec!["prior-taxane", "neoadjuvant-weeks", "request-type"]
        );
        Ok(())
    }

    #[test]
    fn only_a_claim_can_be_gathered_around() {
        let raw = rich_bundle();
        let view = BundleView::new(&raw);
        let not_claim = view.at(1).copied();
        let err = not_claim.and_then(|e| gather(&view, &e).err());
        assert_eq!(
            err.map(|e| (e.path, e.message)),
            Some((
                "Bundle.entry[1].resource".to_owned(),
                "expected a `Claim`, found `MedicationRequest`".to_owned()
            ))
        );
    }

    /// Every Claim in the IG's example Bundles gathers, with its items read.
    #[test]
    fn gathers_every_ig_example_bundle() -> Result<(), GatherError> {
        let mut claims = 0;
        for file in crate::fhir::model::ig_examples()
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            if !name.starts_with("Bundle-") {
                continue;
            }
            let Some(raw) = std::fs::read_to_string(file.path())
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            else {
                continue;
            };
            let view = BundleView::new(&raw);
            for claim in view.of_type("Claim") {
                let facts = gather(&view, claim)?;
                claims += 1;
                let raw_items = claim.resource.get("item").and_then(Value::as_array);
                assert_eq!(
                    facts.claim.items.len(),
                    raw_items.map_or(0, Vec::len),
                    "{name}"
                );
                assert!(
                    facts
                        .claim
                        .items
                        .iter()
                        .all(|i| !i.product_codes.is_empty()),
                    "{name}"
                );
                assert!(facts.claim.created.is_some(), "{name}");
                if name == "Bundle-ReferralAuthorizationBundleExample.json" {
                    let item = facts.claim.items.first();
                    assert_eq!(
                        item.and_then(|i| i.authorization_number.as_deref()),
                        Some("1122445")
                    );
                    assert_eq!(
                        item.and_then(|i| i.certification_type.as_deref()),
                        Some("I")
                    );
                    // The referenced ServiceRequest repeats the productOrService code: kept once.
                    assert_eq!(
                        item.map(|i| i.product_codes.clone()),
                        Some(vec![Code::new(
                            "https://codesystem.x12.org/005010/1365",
                            "3"
                        )])
                    );
                    assert_eq!(facts.claim.created, ymd(2005, 5, 2));
                    let dx: Vec<_> = facts
                        .diagnoses
                        .iter()
                        .map(|d| d.code.code.as_str())
                        .collect();
                    assert_eq!(dx, vec!["G89.4"]);
                }
            }
        }
        assert!(claims >= 10, "IG example Claims not found ({claims} read)");
        Ok(())
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            ".{0,10}".prop_map(Value::from),
            prop::sample::select(vec![
                "",
                "2026-02-30",
                "2026",
                "2026-13",
                "2026-12-01T25:00:00Z",
                "#qr",
                "#nope",
                "Medication/med1",
                "Condition/cond1",
                "MedicationRequest/mr1",
                "refuted",
                "entered-in-error",
                "active",
                "completed",
                "Claim",
                "Observation",
                "0",
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-zA-Z]{1,10}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Drops (`None`) or replaces the `n`-th element below `v` (pre-order); `true` when done.
    fn mutate(v: &mut Value, n: &mut usize, op: &Option<Value>) -> bool {
        match v {
            Value::Object(map) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                for key in keys {
                    if *n == 0 {
                        match op {
                            Some(new) => map.insert(key, new.clone()),
                            None => map.remove(&key),
                        };
                        return true;
                    }
                    *n -= 1;
                    if map.get_mut(&key).is_some_and(|child| mutate(child, n, op)) {
                        return true;
                    }
                }
            }
            Value::Array(items) => {
                for i in 0..items.len() {
                    if *n == 0 {
                        match op {
                            Some(new) => items[i] = new.clone(),
                            None => {
                                items.remove(i);
                            }
                        }
                        return true;
                    }
                    *n -= 1;
                    if items.get_mut(i).is_some_and(|child| mutate(child, n, op)) {
                        return true;
                    }
                }
            }
            _ => {}
        }
        false
    }

    fn size(v: &Value) -> usize {
        match v {
            Value::Object(map) => map.values().map(|c| 1 + size(c)).sum(),
            Value::Array(items) => items.iter().map(|c| 1 + size(c)).sum(),
            _ => 0,
        }
    }

    proptest! {
        /// Whatever is dropped or replaced, gathering answers Ok or a located error; it never
        /// panics.
        #[test]
        fn mutated_bundles_never_panic(
            mutations in prop::collection::vec((any::<usize>(), prop::option::weighted(0.7, arb_json())), 1..8)
        ) {
            let mut raw = rich_bundle();
            for (seed, op) in &mutations {
                let total = size(&raw);
                if total == 0 {
                    break;
                }
                let mut n = seed % total;
                mutate(&mut raw, &mut n, op);
            }
            let view = BundleView::new(&raw);
            for entry in view.entries() {
                if let Err(err) = gather(&view, entry) {
                    prop_assert!(err.path.starts_with("Bundle.entry["), "{err}");
                }
            }
        }
    }

    #[test]
    fn mutation_helper_reaches_nested_elements() {
        let mut v = json!({"a": [1, {"b": 2}], "c": 3});
        assert_eq!(size(&v), 5);
        let mut n = 3;
        assert!(mutate(&mut v, &mut n, &Some(json!("x"))));
        assert_eq!(v, json!({"a": [1, {"b": "x"}], "c": 3}));
        let mut n = 1;
        assert!(mutate(&mut v, &mut n, &None));
        assert_eq!(v, json!({"a": [{"b": "x"}], "c": 3}));
    }
}
