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

use crate::fhir::BundleView;
use crate::fhir::model::{self, ClaimDiagnosisDiagnosis, ConditionOnset};

use super::site::Site;
use super::{Diagnosis, GatherError, extensions};

pub(super) fn gather(
    view: &BundleView<'_>,
    claim: &Site<'_>,
    typed: &model::Claim,
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
                let Some(target) = model::reference(r).and_then(|r| claim.resolve(view, r)) else {
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
                    diagnoses.extend(condition(&target, recorded)?);
                }
            }
        }
    }
    for entry in view.of_type("Condition") {
        let recorded = referenced.get(&entry.index).copied().flatten();
        diagnoses.extend(condition(&Site::of(entry), recorded)?);
    }
    Ok(diagnoses)
}

/// One Diagnosis per coding of a Condition's code; none when refuted or entered in error.
fn condition(site: &Site<'_>, fallback: Option<NaiveDate>) -> Result<Vec<Diagnosis>, GatherError> {
    let res: model::Condition = model::parse(site.resource, &site.path)?;
    let voided = res.verification_status.as_ref().is_some_and(|status| {
        model::codes(status)
            .iter()
            .any(|c| matches!(c.code.as_str(), "refuted" | "entered-in-error"))
    });
    let Some(code) = res.code.as_ref().filter(|_| !voided) else {
        return Ok(Vec::new());
    };
    let onset = match &res.onset {
        Some(ConditionOnset::DateTime(dt)) => model::date_time(dt),
        Some(ConditionOnset::Period(p)) => model::period(p).0,
        _ => None,
    };
    let date = onset
        .or_else(|| res.recorded_date.as_ref().and_then(model::date_time))
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
