//! Therapy history and current therapy: MedicationStatement, MedicationAdministration,
//! MedicationRequest and Procedure, each reduced to a [`MedicationUse`].
//!
//! Status mapping (decisions.md section 3 fixes completed/stopped = history, active = current;
//! the rest is our reading of the R4 status definitions). What "current" means for a policy is
//! "could overlap the requested treatment", so anything planned or paused counts as current;
//! anything that never happened, or whose status says nothing, is left out rather than guessed:
//!
//! | resource | History | Current | skipped |
//! |---|---|---|---|
//! | MedicationStatement | completed, stopped | active, on-hold, intended | not-taken, entered-in-error, unknown |
//! | MedicationAdministration | completed, stopped (a partial dose was given) | in-progress, on-hold | not-done, entered-in-error, unknown |
//! | MedicationRequest | completed, stopped | active, on-hold | cancelled, entered-in-error, draft, unknown |
//! | Procedure | completed, stopped (partly performed) | in-progress, on-hold, preparation | not-done, entered-in-error, unknown |
//!
//! Dates: the resource's own period when it has one. A single date (`effectiveDateTime`,
//! `performedDateTime`) is the start, and also the end for a use in the past; a current use
//! with one date is open-ended. A MedicationRequest's period is, in this order: its dosage
//! timing bounds (when the drug is to be taken), its `dispenseRequest.validityPeriod`, or its
//! `authoredOn` as a start only.
//!
//! A MedicationRequest that a Claim item's `extension-requestedService` points to is the
//! request being decided, not separate therapy: it is left out here (its codes are the item's
//! product codes).

use std::collections::HashSet;

use chrono::NaiveDate;

use crate::fhir::model::{self, Reference};
use crate::fhir::{BundleView, Code};

use super::site::Site;
use super::{GatherError, MedicationSource, MedicationUse, UseStatus, distinct};

/// Every documented use in the Bundle, in Bundle order; `requested` are the entry indexes of
/// requestedService MedicationRequests, which are skipped.
pub(super) fn gather(
    view: &BundleView<'_>,
    requested: &HashSet<usize>,
) -> Result<Vec<MedicationUse>, GatherError> {
    let mut uses = Vec::new();
    for entry in view.entries() {
        let site = Site::of(entry);
        let found = match entry.resource_type {
            "MedicationStatement" => statement(view, &site)?,
            "MedicationAdministration" => administration(view, &site)?,
            "MedicationRequest" if !requested.contains(&entry.index) => request(view, &site)?,
            "Procedure" => procedure(&site)?,
            _ => None,
        };
        uses.extend(found);
    }
    Ok(uses)
}

fn statement(view: &BundleView<'_>, site: &Site<'_>) -> Result<Option<MedicationUse>, GatherError> {
    let res: model::MedicationStatement = model::parse(site.resource, &site.path)?;
    let status = match res.status.trim() {
        "completed" | "stopped" => UseStatus::History,
        "active" | "on-hold" | "intended" => UseStatus::Current,
        _ => return Ok(None),
    };
    let codes = match &res.medication {
        model::MedicationStatementMedication::CodeableConcept(cc) => model::codes(cc),
        model::MedicationStatementMedication::Reference(r) => referenced(view, site, r)?,
    };
    let span = match &res.effective {
        Some(model::MedicationStatementEffective::DateTime(dt)) => {
            point(model::date_time(dt), status)
        }
        Some(model::MedicationStatementEffective::Period(p)) => model::period(p),
        None => (None, None),
    };
    Ok(Some(used(
        codes,
        MedicationSource::Statement,
        status,
        span,
        site,
    )))
}

fn administration(
    view: &BundleView<'_>,
    site: &Site<'_>,
) -> Result<Option<MedicationUse>, GatherError> {
    let res: model::MedicationAdministration = model::parse(site.resource, &site.path)?;
    let status = match res.status.trim() {
        "completed" | "stopped" => UseStatus::History,
        "in-progress" | "on-hold" => UseStatus::Current,
        _ => return Ok(None),
    };
    let codes = match &res.medication {
        model::MedicationAdministrationMedication::CodeableConcept(cc) => model::codes(cc),
        model::MedicationAdministrationMedication::Reference(r) => referenced(view, site, r)?,
    };
    let span = match &res.effective {
        model::MedicationAdministrationEffective::DateTime(dt) => {
            point(model::date_time(dt), status)
        }
        model::MedicationAdministrationEffective::Period(p) => model::period(p),
    };
    Ok(Some(used(
        codes,
        MedicationSource::Administration,
        status,
        span,
        site,
    )))
}

fn request(view: &BundleView<'_>, site: &Site<'_>) -> Result<Option<MedicationUse>, GatherError> {
    let res: model::MedicationRequest = model::parse(site.resource, &site.path)?;
    let status = match res.status.trim() {
        "completed" | "stopped" => UseStatus::History,
        "active" | "on-hold" => UseStatus::Current,
        _ => return Ok(None),
    };
    let codes = request_codes(view, site, &res)?;
    let span = request_span(&res);
    Ok(Some(used(
        codes,
        MedicationSource::Request,
        status,
        span,
        site,
    )))
}

fn procedure(site: &Site<'_>) -> Result<Option<MedicationUse>, GatherError> {
    let res: model::Procedure = model::parse(site.resource, &site.path)?;
    let status = match res.status.as_ref() {
        "completed" | "stopped" => UseStatus::History,
        "in-progress" | "on-hold" | "preparation" => UseStatus::Current,
        _ => return Ok(None),
    };
    // The drug of a drug-administration procedure is its code (HCPCS J-code) or, with an
    // administration code such as CPT 96413, among the items used.
    let mut codes: Vec<Code> = res.code.as_ref().map(model::codes).unwrap_or_default();
    codes.extend(res.used_code.iter().flatten().flat_map(model::codes));
    let span = match &res.performed {
        Some(model::ProcedurePerformed::DateTime(dt)) => point(model::date_time(dt), status),
        Some(model::ProcedurePerformed::Period(p)) => model::period(p),
        _ => (None, None),
    };
    Ok(Some(used(
        codes,
        MedicationSource::Procedure,
        status,
        span,
        site,
    )))
}

/// The medication codes of a MedicationRequest (used for therapy and for requested services).
pub(super) fn request_codes(
    view: &BundleView<'_>,
    site: &Site<'_>,
    res: &model::MedicationRequest,
) -> Result<Vec<Code>, GatherError> {
    match &res.medication {
        model::MedicationRequestMedication::CodeableConcept(cc) => Ok(model::codes(cc)),
        model::MedicationRequestMedication::Reference(r) => referenced(view, site, r),
    }
}

/// The codes of a referenced Medication: its `code` and its ingredients' codes. A reference
/// that does not resolve to a Medication in the Bundle (or contained) gives no codes.
fn referenced(
    view: &BundleView<'_>,
    site: &Site<'_>,
    reference: &Reference,
) -> Result<Vec<Code>, GatherError> {
    let Some(target) = model::reference(reference).and_then(|r| site.resolve(view, r)) else {
        return Ok(Vec::new());
    };
    if target.resource_type != "Medication" {
        return Ok(Vec::new());
    }
    let medication: model::Medication = model::parse(target.resource, &target.path)?;
    let mut codes = medication
        .code
        .as_ref()
        .map(model::codes)
        .unwrap_or_default();
    for ingredient in medication.ingredient.iter().flatten() {
        if let model::MedicationIngredientItem::CodeableConcept(cc) = &ingredient.item {
            codes.extend(model::codes(cc));
        }
    }
    Ok(codes)
}

type Span = (Option<NaiveDate>, Option<NaiveDate>);

/// A single date: the day of a past use, or the start of a current one.
fn point(date: Option<NaiveDate>, status: UseStatus) -> Span {
    match status {
        UseStatus::History => (date, date),
        UseStatus::Current => (date, None),
    }
}

fn request_span(res: &model::MedicationRequest) -> Span {
    let bounds: Vec<Span> = res
        .dosage_instruction
        .iter()
        .flatten()
        .filter_map(|dosage| dosage.timing.as_ref()?.repeat.as_ref()?.bounds.as_ref())
        .filter_map(|bounds| match bounds {
            model::TimingRepeatBounds::Period(p) => Some(model::period(p)),
            _ => None,
        })
        .filter(|(start, end)| start.is_some() || end.is_some())
        .collect();
    if !bounds.is_empty() {
        let start = bounds.iter().filter_map(|b| b.0).min();
        let end = if bounds.iter().any(|b| b.1.is_none()) {
            None
        } else {
            bounds.iter().filter_map(|b| b.1).max()
        };
        return (start, end);
    }
    if let Some(validity) = res
        .dispense_request
        .as_ref()
        .and_then(|d| d.validity_period.as_ref())
        .map(model::period)
        .filter(|(start, end)| start.is_some() || end.is_some())
    {
        return validity;
    }
    (res.authored_on.as_ref().and_then(model::date_time), None)
}

fn used(
    codes: Vec<Code>,
    kind: MedicationSource,
    status: UseStatus,
    (start, end): Span,
    site: &Site<'_>,
) -> MedicationUse {
    MedicationUse {
        codes: distinct(codes),
        kind,
        status,
        start,
        end,
        source: site.source(""),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::evidence::testing::*;
    use crate::evidence::{GatherError, MedicationSource, MedicationUse, UseStatus};
    use crate::fhir::CodeSystem;

    fn with(mut base: Value, extra: Value) -> Value {
        if let (Some(b), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(extra.clone());
        }
        base
    }

    fn request(id: &str, status: &str, extra: Value) -> Value {
        with(
            json!({"resourceType": "MedicationRequest", "id": id, "status": status, "intent": "order",
                "subject": {"reference": "Patient/p1"},
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "224905"}]}}),
            extra,
        )
    }

    fn gathered(resources: Vec<Value>) -> Result<Vec<MedicationUse>, GatherError> {
        let mut all = vec![claim(json!({}))];
        all.extend(resources);
        Ok(gather_first(&bundle(all))?.medications)
    }

    fn summary(uses: &[MedicationUse]) -> Vec<(String, MedicationSource, UseStatus)> {
        uses.iter()
            .map(|u| (u.source.resource.clone(), u.kind, u.status))
            .collect()
    }

    #[test]
    fn medication_request_statuses() -> Result<(), GatherError> {
        let statuses = [
            "completed",
            "stopped",
            "active",
            "on-hold",
            "cancelled",
            "entered-in-error",
            "draft",
            "unknown",
        ];
        let uses = gathered(statuses.iter().map(|s| request(s, s, json!({}))).collect())?;
        let r = MedicationSource::Request;
        assert_eq!(
            summary(&uses),
            vec![
                ("MedicationRequest/completed".into(), r, UseStatus::History),
                ("MedicationRequest/stopped".into(), r, UseStatus::History),
                ("MedicationRequest/active".into(), r, UseStatus::Current),
                ("MedicationRequest/on-hold".into(), r, UseStatus::Current),
            ]
        );
        Ok(())
    }

    #[test]
    fn medication_request_periods() -> Result<(), GatherError> {
        let uses = gathered(vec![
            request("authored", "completed", json!({"authoredOn": "2025-01-10"})),
            request(
                "validity",
                "completed",
                json!({"authoredOn": "2025-01-10",
                "dispenseRequest": {"validityPeriod": {"start": "2025-01-15", "end": "2025-06-30"}}}),
            ),
            request(
                "bounds",
                "active",
                json!({"authoredOn": "2025-01-10",
                "dispenseRequest": {"validityPeriod": {"start": "2025-01-15", "end": "2025-06-30"}},
                "dosageInstruction": [
                    {"timing": {"repeat": {"boundsPeriod": {"start": "2025-02-01", "end": "2025-04-01"}}}},
                    {"timing": {"repeat": {"boundsPeriod": {"start": "2025-01-20", "end": "2025-03-01"}}}}]}),
            ),
        ])?;
        let got: Vec<_> = uses.iter().map(|u| (u.start, u.end)).collect();
        assert_eq!(
            got,
            vec![
                (ymd(2025, 1, 10), None),
                (ymd(2025, 1, 15), ymd(2025, 6, 30)),
                (ymd(2025, 1, 20), ymd(2025, 4, 1)),
            ]
        );
        Ok(())
    }

    #[test]
    fn statements_and_administrations() -> Result<(), GatherError> {
        let statement = |id: &str, status: &str, extra: Value| {
            with(
                json!({"resourceType": "MedicationStatement", "id": id, "status": status,
                "subject": {"reference": "Patient/p1"},
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "56946"}]}}),
                extra,
            )
        };
        let administration = |id: &str, status: &str, extra: Value| {
            with(
                json!({"resourceType": "MedicationAdministration", "id": id, "status": status,
                "subject": {"reference": "Patient/p1"},
                "medicationCodeableConcept": {"coding": [{"system": HCPCS, "code": "J9355"}]},
                "effectiveDateTime": "2025-03-03T10:00:00-05:00"}),
                extra,
            )
        };
        let uses = gathered(vec![
            statement(
                "s-done",
                "completed",
                json!({"effectivePeriod": {"start": "2024-10-01", "end": "2025-01-15"}}),
            ),
            statement(
                "s-active",
                "active",
                json!({"effectiveDateTime": "2025-02-01"}),
            ),
            statement("s-intended", "intended", json!({})),
            statement("s-not-taken", "not-taken", json!({})),
            statement("s-error", "entered-in-error", json!({})),
            administration("a-done", "completed", json!({})),
            administration("a-running", "in-progress", json!({})),
            administration("a-not-done", "not-done", json!({})),
        ])?;
        let got: Vec<_> = uses
            .iter()
            .map(|u| (u.source.resource.as_str(), u.status, u.start, u.end))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "MedicationStatement/s-done",
                    UseStatus::History,
                    ymd(2024, 10, 1),
                    ymd(2025, 1, 15)
                ),
                (
                    "MedicationStatement/s-active",
                    UseStatus::Current,
                    ymd(2025, 2, 1),
                    None
                ),
                (
                    "MedicationStatement/s-intended",
                    UseStatus::Current,
                    None,
                    None
                ),
                (
                    "MedicationAdministration/a-done",
                    UseStatus::History,
                    ymd(2025, 3, 3),
                    ymd(2025, 3, 3)
                ),
                (
                    "MedicationAdministration/a-running",
                    UseStatus::Current,
                    ymd(2025, 3, 3),
                    None
                ),
            ]
        );
        assert_eq!(
            uses.iter()
                .find(|u| u.kind == MedicationSource::Administration)
                .map(|u| u.codes.clone()),
            Some(vec![code(CodeSystem::Hcpcs, "J9355")])
        );
        Ok(())
    }

    #[test]
    fn medication_reference_reads_code_and_ingredients() -> Result<(), GatherError> {
        let medication = json!({"resourceType": "Medication", "id": "phesgo",
            "code": {"coding": [{"system": HCPCS, "code": "J9316"}]},
            "ingredient": [
                {"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "1298944"}]}},
                {"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "224905"}]}},
                {"itemReference": {"reference": "Substance/x"}}]});
        let statement = json!({"resourceType": "MedicationStatement", "id": "s1", "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "medicationReference": {"reference": "Medication/phesgo"}});
        let dangling = json!({"resourceType": "MedicationRequest", "id": "dangling", "status": "active",
            "intent": "order", "subject": {"reference": "Patient/p1"},
            "medicationReference": {"reference": "Medication/elsewhere"}});
        let uses = gathered(vec![medication, statement, dangling])?;
        let got: Vec<_> = uses.iter().map(|u| u.codes.clone()).collect();
        assert_eq!(
            got,
            vec![
                vec![
                    code(CodeSystem::Hcpcs, "J9316"),
                    code(CodeSystem::RxNorm, "1298944"),
                    code(CodeSystem::RxNorm, "224905"),
                ],
                vec![],
            ]
        );
        Ok(())
    }

    #[test]
    fn procedures_with_hcpcs_variants() -> Result<(), GatherError> {
        let procedure = |id: &str, status: &str, system: &str, extra: Value| {
            with(
                json!({"resourceType": "Procedure", "id": id, "status": status,
                "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": system, "code": "j9355"}]}}),
                extra,
            )
        };
        let uses = gathered(vec![
            procedure(
                "p1",
                "completed",
                "urn:oid:2.16.840.1.113883.6.285",
                json!({"performedPeriod": {"start": "2024-05-01", "end": "2024-11-01"}}),
            ),
            procedure(
                "p2",
                "in-progress",
                "https://bluebutton.cms.gov/resources/codesystem/hcpcs",
                json!({"performedDateTime": "2025-01-02", "usedCode": [{"coding": [{"system": RXNORM, "code": "72962"}]}]}),
            ),
            procedure("p3", "not-done", HCPCS, json!({})),
        ])?;
        let got: Vec<_> = uses
            .iter()
            .map(|u| (u.kind, u.status, u.codes.clone(), u.start, u.end))
            .collect();
        let j9355 = code(CodeSystem::Hcpcs, "J9355");
        assert_eq!(
            got,
            vec![
                (
                    MedicationSource::Procedure,
                    UseStatus::History,
                    vec![j9355.clone()],
                    ymd(2024, 5, 1),
                    ymd(2024, 11, 1)
                ),
                (
                    MedicationSource::Procedure,
                    UseStatus::Current,
                    vec![j9355, code(CodeSystem::RxNorm, "72962")],
                    ymd(2025, 1, 2),
                    None
                ),
            ]
        );
        Ok(())
    }
}
