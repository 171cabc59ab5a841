//! Diagnoses: `Claim.diagnosis` (codes, and references resolved to Conditions) and every
//! Condition in the Bundle.
//!
//! A Condition is read once, whether the Claim references it or not; a Claim diagnosis's
//! `extension-diagnosisRecordedDate` dates the Condition it references when the Condition has
//! no date of its own. Refuted and entered-in-error Conditions are no evidence and are skipped,
//! even when the Claim references them.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde_json::Value;

use crate::fhir::model::{self, ClaimDiagnosisDiagnosis, ConditionOnset};

use super::read::Reader;
use super::site::Site;
use super::{Diagnosis, GatherError, extensions};

pub(super) fn gather(
    reader: &Reader<'_, '_>,
    claim: &Site<'_>,
    typed: &model::ClaimParts,
) -> Result<Vec<Diagnosis>, GatherError> {
    let mut diagnoses = Vec::new();
    // Conditions the Claim references, by entry index, with the Claim's recorded date.
    let mut referenced: HashMap<usize, Option<NaiveDate>> = HashMap::new();
    let raw = claim.resource.get("diagnosis").and_then(Value::as_array);
    for (k, diagnosis) in typed.diagnosis.iter().enumerate() {
        let Some(diagnosis) = diagnosis else { continue };
        let raw = raw.and_then(|d| d.get(k)).unwrap_or(&Value::Null);
        let recorded = extensions::date(raw, extensions::DIAGNOSIS_RECORDED_DATE);
        match &diagnosis.diagnosis {
            ClaimDiagnosisDiagnosis::CodeableConcept(cc) => {
                let source = claim.source(&format!(".diagnosis[{k}].diagnosisCodeableConcept"));
                diagnoses.extend(model::codes(cc).into_iter().map(|code| Diagnosis {
                    code,
                    date: recorded,
                    source: source.clone(),
                }));
            }
            ClaimDiagnosisDiagnosis::Reference(r) => {
                let Some(target) = model::reference(r).and_then(|r| claim.resolve(reader.view, r))
                else {
                    continue;
                };
                if target.resource_type != "Condition" {
                    continue;
                }
                if target.path == target.entry.path() {
                    // A Bundle entry: read below with every other Condition.
                    let date = referenced.entry(target.entry.index).or_insert(None);
                    *date = date.or(recorded);
                } else {
                    // Contained in the Claim: only reachable from here.
                    diagnoses.extend(condition(reader, &target, recorded)?);
                }
            }
        }
    }
    for entry in reader.view.of_type("Condition") {
        let recorded = referenced.get(&entry.index).copied().flatten();
        diagnoses.extend(condition(reader, &Site::of(entry), recorded)?);
    }
    Ok(diagnoses)
}

/// One Diagnosis per coding of a Condition's code; none when refuted or entered in error.
fn condition(
    reader: &Reader<'_, '_>,
    site: &Site<'_>,
    fallback: Option<NaiveDate>,
) -> Result<Vec<Diagnosis>, GatherError> {
    let Some(res) = reader.clinical::<model::Condition>(site)? else {
        return Ok(Vec::new());
    };
    let voided = res.verification_status.as_ref().is_some_and(|status| {
        model::codes(status)
            .iter()
            .any(|c| matches!(c.code.as_str(), "refuted" | "entered-in-error"))
    });
    let Some(code) = res.code.as_ref().filter(|_| !voided) else {
        return Ok(Vec::new());
    };
    let onset = match &res.onset {
        Some(ConditionOnset::DateTime(dt)) => model::date_time_bounds(dt).map(|b| b.0),
        Some(ConditionOnset::Period(p)) => model::period_bounds(p).0,
        _ => None,
    };
    let date = onset
        .or_else(|| {
            res.recorded_date
                .as_ref()
                .and_then(model::date_time_bounds)
                .map(|b| b.0)
        })
        .or(fallback);
    let source = site.source(".code");
    Ok(model::codes(code)
        .into_iter()
        .map(|code| Diagnosis {
            code,
            date,
            source: source.clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::evidence::GatherError;
    use crate::evidence::testing::*;
    use crate::fhir::CodeSystem;

    fn condition(id: &str, code: &str, extra: Value) -> Value {
        let mut c = json!({"resourceType": "Condition", "id": id, "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": ICD, "code": code}]}});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        c
    }

    fn recorded(date: &str) -> Value {
        json!([pas_ext(
            "extension-diagnosisRecordedDate",
            "valueDate",
            json!(date)
        )])
    }

    #[test]
    fn claim_codes_and_referenced_conditions_are_read_once_each() -> Result<(), GatherError> {
        let raw = bundle(vec![
            claim(json!({"diagnosis": [
                {"sequence": 1, "extension": recorded("2026-01-15"),
                 "diagnosisCodeableConcept": {"coding": [
                    {"system": ICD, "code": "c50911"},
                    {"system": SNOMED, "code": "254837009"}]}},
                {"sequence": 2, "extension": recorded("2026-02-01"),
                 "diagnosisReference": {"reference": "Condition/mets"}}
            ]})),
            condition("mets", "C7931", json!({})),
            condition(
                "her2",
                "Z17.31",
                json!({"onsetDateTime": "2025-12-30T22:00:00-10:00",
                "recordedDate": "2026-01-02"}),
            ),
            condition(
                "history",
                "Z85.3",
                json!({"onsetPeriod": {"start": "2019-03-04"}}),
            ),
        ]);
        let facts = gather_first(&raw)?;
        let got: Vec<_> = facts
            .diagnoses
            .iter()
            .map(|d| {
                (
                    d.code.clone(),
                    d.date,
                    d.source.resource.as_str(),
                    d.source.path.as_str(),
                )
            })
            .collect();
        let claim_path = "Bundle.entry[0].resource.diagnosis[0].diagnosisCodeableConcept";
        assert_eq!(
            got,
            vec![
                (
                    code(CodeSystem::Icd10Cm, "C50.911"),
                    ymd(2026, 1, 15),
                    "Claim/c1",
                    claim_path
                ),
                (
                    code(CodeSystem::Snomed, "254837009"),
                    ymd(2026, 1, 15),
                    "Claim/c1",
                    claim_path
                ),
                // The referenced Condition has no date: the Claim's recorded date dates it.
                (
                    code(CodeSystem::Icd10Cm, "C79.31"),
                    ymd(2026, 2, 1),
                    "Condition/mets",
                    "Bundle.entry[1].resource.code"
                ),
                (
                    code(CodeSystem::Icd10Cm, "Z17.31"),
                    ymd(2025, 12, 30),
                    "Condition/her2",
                    "Bundle.entry[2].resource.code"
                ),
                (
                    code(CodeSystem::Icd10Cm, "Z85.3"),
                    ymd(2019, 3, 4),
                    "Condition/history",
                    "Bundle.entry[3].resource.code"
                ),
            ]
        );
        Ok(())
    }

    #[test]
    fn refuted_and_entered_in_error_conditions_are_skipped() -> Result<(), GatherError> {
        let status = |code: &str| {
            json!({"verificationStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": code}]}})
        };
        let raw = bundle(vec![
            claim(json!({"diagnosis": [
                {"sequence": 1, "diagnosisReference": {"reference": "Condition/refuted"}}]})),
            condition("refuted", "C34.90", status("refuted")),
            condition("error", "C06.9", status("entered-in-error")),
            condition("kept", "C50.912", status("confirmed")),
            condition(
                "recorded",
                "C50.919",
                json!({"recordedDate": "2026-03-01T08:00:00Z"}),
            ),
        ]);
        let facts = gather_first(&raw)?;
        let got: Vec<_> = facts
            .diagnoses
            .iter()
            .map(|d| (d.code.code.as_str(), d.date))
            .collect();
        assert_eq!(got, vec![("C50.912", None), ("C50.919", ymd(2026, 3, 1))]);
        Ok(())
    }

    #[test]
    fn a_condition_contained_in_the_claim_is_read_through_its_reference() -> Result<(), GatherError>
    {
        let raw = bundle(vec![claim(json!({
            "contained": [condition("c", "C08.0", json!({}))],
            "diagnosis": [{"sequence": 1, "extension": recorded("2026-04-01"),
                "diagnosisReference": {"reference": "#c"}}]}))]);
        let facts = gather_first(&raw)?;
        let got: Vec<_> = facts
            .diagnoses
            .iter()
            .map(|d| (d.code.code.as_str(), d.date, d.source.path.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![(
                "C08.0",
                ymd(2026, 4, 1),
                "Bundle.entry[0].resource.contained[0].code"
            )]
        );
        Ok(())
    }
}
