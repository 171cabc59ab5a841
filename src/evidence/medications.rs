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
//!
//! Products: every code is kept as sent, followed by the ingredients of the products the map
//! knows ([`super::products`]). A use none of whose codes the map knows (a local code, an NDC
//! or RxNorm product not listed) is matched by the ingredient names in its displays and texts;
//! such a use is labelled "(X matched by name in `...`)" in its source, so that every note
//! citing it says so. A partial date is read as its span: the first day as a start, the last
//! day as an end.

use std::collections::HashSet;

use chrono::NaiveDate;

use crate::fhir::Code;
use crate::fhir::model::{self, Reference};

use super::products::Products;
use super::read::Reader;
use super::site::Site;
use super::{GatherError, MedicationSource, MedicationUse, UseStatus, distinct};

/// A drug as a resource names it: its codes, and the words sent with them.
#[derive(Debug, Clone, Default)]
pub(super) struct Drug {
    pub codes: Vec<Code>,
    /// `CodeableConcept.text` and coding displays, for matching by name.
    pub texts: Vec<String>,
}

impl Drug {
    fn of(concept: &model::CodeableConcept) -> Self {
        let mut texts: Vec<String> = model::text(concept).into_iter().collect();
        texts.extend(
            concept
                .coding
                .iter()
                .flatten()
                .filter_map(|c| model::non_blank(c.display.as_deref())),
        );
        Self {
            codes: model::codes(concept),
            texts,
        }
    }

    fn extend(&mut self, other: Drug) {
        self.codes.extend(other.codes);
        self.texts.extend(other.texts);
    }
}

/// Every documented use in the Bundle, in Bundle order; `requested` are the entry indexes of
/// requestedService MedicationRequests, which are skipped.
pub(super) fn gather(
    reader: &Reader<'_, '_>,
    requested: &HashSet<usize>,
) -> Result<Vec<MedicationUse>, GatherError> {
    let mut uses = Vec::new();
    for entry in reader.view.entries() {
        let site = Site::of(entry);
        let found = match entry.resource_type {
            "MedicationStatement" => statement(reader, &site)?,
            "MedicationAdministration" => administration(reader, &site)?,
            "MedicationRequest" if !requested.contains(&entry.index) => request(reader, &site)?,
            "Procedure" => procedure(reader, &site)?,
            _ => None,
        };
        uses.extend(found);
    }
    Ok(uses)
}

fn statement(
    reader: &Reader<'_, '_>,
    site: &Site<'_>,
) -> Result<Option<MedicationUse>, GatherError> {
    let Some(res) = reader.clinical::<model::MedicationStatement>(site)? else {
        return Ok(None);
    };
    let status = match res.status.as_ref() {
        "completed" | "stopped" => UseStatus::History,
        "active" | "on-hold" | "intended" => UseStatus::Current,
        _ => return Ok(None),
    };
    let drug = match &res.medication {
        model::MedicationStatementMedication::CodeableConcept(cc) => Drug::of(cc),
        model::MedicationStatementMedication::Reference(r) => referenced(reader, site, r)?,
    };
    let span = match &res.effective {
        Some(model::MedicationStatementEffective::DateTime(dt)) => point(dt, status),
        Some(model::MedicationStatementEffective::Period(p)) => model::period_bounds(p),
        None => (None, None),
    };
    Ok(Some(used(
        drug,
        MedicationSource::Statement,
        status,
        span,
        site,
    )))
}

fn administration(
    reader: &Reader<'_, '_>,
    site: &Site<'_>,
) -> Result<Option<MedicationUse>, GatherError> {
    let Some(res) = reader.clinical::<model::MedicationAdministration>(site)? else {
        return Ok(None);
    };
    let status = match res.status.trim() {
        "completed" | "stopped" => UseStatus::History,
        "in-progress" | "on-hold" => UseStatus::Current,
        _ => return Ok(None),
    };
    let drug = match &res.medication {
        model::MedicationAdministrationMedication::CodeableConcept(cc) => Drug::of(cc),
        model::MedicationAdministrationMedication::Reference(r) => referenced(reader, site, r)?,
    };
    let span = match &res.effective {
        model::MedicationAdministrationEffective::DateTime(dt) => point(dt, status),
        model::MedicationAdministrationEffective::Period(p) => model::period_bounds(p),
    };
    Ok(Some(used(
        drug,
        MedicationSource::Administration,
        status,
        span,
        site,
    )))
}

fn request(reader: &Reader<'_, '_>, site: &Site<'_>) -> Result<Option<MedicationUse>, GatherError> {
    let Some(res) = reader.clinical::<model::MedicationRequest>(site)? else {
        return Ok(None);
    };
    let status = match res.status.trim() {
        "completed" | "stopped" => UseStatus::History,
        "active" | "on-hold" => UseStatus::Current,
        _ => return Ok(None),
    };
    let drug = request_drug(reader, site, &res)?;
    let span = request_span(&res);
    Ok(Some(used(
        drug,
        MedicationSource::Request,
        status,
        span,
        site,
    )))
}

fn procedure(
    reader: &Reader<'_, '_>,
    site: &Site<'_>,
) -> Result<Option<MedicationUse>, GatherError> {
    let Some(res) = reader.clinical::<model::Procedure>(site)? else {
        return Ok(None);
    };
    let status = match res.status.as_ref() {
        "completed" | "stopped" => UseStatus::History,
        "in-progress" | "on-hold" | "preparation" => UseStatus::Current,
        _ => return Ok(None),
    };
    // The drug of a drug-administration procedure is its code (HCPCS J-code) or, with an
    // administration code such as CPT 96413, among the items used.
    let mut drug = res.code.as_ref().map(Drug::of).unwrap_or_default();
    for used_code in res.used_code.iter().flatten() {
        drug.extend(Drug::of(used_code));
    }
    let span = match &res.performed {
        Some(model::ProcedurePerformed::DateTime(dt)) => point(dt, status),
        Some(model::ProcedurePerformed::Period(p)) => model::period_bounds(p),
        _ => (None, None),
    };
    Ok(Some(used(
        drug,
        MedicationSource::Procedure,
        status,
        span,
        site,
    )))
}

/// The drug of a MedicationRequest (used for therapy and for requested services).
pub(super) fn request_drug(
    reader: &Reader<'_, '_>,
    site: &Site<'_>,
    res: &model::MedicationRequest,
) -> Result<Drug, GatherError> {
    match &res.medication {
        model::MedicationRequestMedication::CodeableConcept(cc) => Ok(Drug::of(cc)),
        model::MedicationRequestMedication::Reference(r) => referenced(reader, site, r),
    }
}

/// The drug of a referenced Medication: its `code` and its ingredients' codes. A reference
/// that does not resolve to a Medication in the Bundle (or contained) gives no codes; an
/// unreadable Medication is set aside.
fn referenced(
    reader: &Reader<'_, '_>,
    site: &Site<'_>,
    reference: &Reference,
) -> Result<Drug, GatherError> {
    let Some(target) = model::reference(reference).and_then(|r| site.resolve(reader.view, r))
    else {
        return Ok(Drug::default());
    };
    if target.resource_type != "Medication" {
        return Ok(Drug::default());
    }
    let Some(medication) = reader.resource::<model::Medication>(&target)? else {
        return Ok(Drug::default());
    };
    let mut drug = medication.code.as_ref().map(Drug::of).unwrap_or_default();
    for ingredient in medication.ingredient.iter().flatten() {
        if let model::MedicationIngredientItem::CodeableConcept(cc) = &ingredient.item {
            drug.extend(Drug::of(cc));
        }
    }
    Ok(drug)
}

type Span = (Option<NaiveDate>, Option<NaiveDate>);

/// A single date: the day (or span, for a partial date) of a past use, or the start of a
/// current one.
fn point(date: &model::DateTime, status: UseStatus) -> Span {
    let bounds = model::date_time_bounds(date);
    match status {
        UseStatus::History => (bounds.map(|b| b.0), bounds.map(|b| b.1)),
        UseStatus::Current => (bounds.map(|b| b.0), None),
    }
}

fn request_span(res: &model::MedicationRequest) -> Span {
    let bounds: Vec<Span> = res
        .dosage_instruction
        .iter()
        .flatten()
        .filter_map(|dosage| dosage.timing.as_ref()?.repeat.as_ref()?.bounds.as_ref())
        .filter_map(|bounds| match bounds {
            model::TimingRepeatBounds::Period(p) => Some(model::period_bounds(p)),
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
        .map(model::period_bounds)
        .filter(|(start, end)| start.is_some() || end.is_some())
    {
        return validity;
    }
    (
        res.authored_on
            .as_ref()
            .and_then(model::date_time_bounds)
            .map(|b| b.0),
        None,
    )
}

/// The codes of a drug as a policy reads them: as sent, then the ingredients of listed
/// products; for a drug the map knows nothing of, the ingredients its words name. The second
/// value describes a match by name, for the note.
pub(super) fn ingredients(drug: Drug) -> (Vec<Code>, Option<String>) {
    let Some(products) = Products::embedded() else {
        return (distinct(drug.codes), None);
    };
    if products.knows_any(&drug.codes) {
        return (distinct(products.expand(drug.codes)), None);
    }
    let matches = products.by_name(drug.texts.iter().map(String::as_str));
    if matches.is_empty() {
        return (distinct(drug.codes), None);
    }
    let described: Vec<String> = matches
        .iter()
        .map(|m| format!("{} matched by name in `{}`", m.ingredient, m.text))
        .collect();
    let mut codes = drug.codes;
    codes.extend(matches.into_iter().flat_map(|m| m.codes));
    (distinct(codes), Some(described.join("; ")))
}

fn used(
    drug: Drug,
    kind: MedicationSource,
    status: UseStatus,
    (start, end): Span,
    site: &Site<'_>,
) -> MedicationUse {
    let (codes, by_name) = ingredients(drug);
    let mut source = site.source("");
    if let Some(by_name) = by_name {
        source.resource = format!("{} ({by_name})", source.resource);
    }
    MedicationUse {
        codes,
        kind,
        status,
        start,
        end,
        source,
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

    /// Issue 10, drug history coded as products: an RxNorm SCD gains its ingredient; a local
    /// code or an unlisted product is matched by the ingredient its display or text names, and
    /// its source says so; a use with a known code is never matched by name.
    #[test]
    fn products_and_names_reach_their_ingredients() -> Result<(), GatherError> {
        let statement = |id: &str, concept: Value| {
            json!({"resourceType": "MedicationStatement", "id": id, "status": "completed",
                "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": concept,
                "effectiveDateTime": "2025-03-01"})
        };
        let uses = gathered(vec![
            statement(
                "scd",
                json!({"coding": [{"system": RXNORM, "code": "583214", "display": "PACLitaxel 100 MG Injection"}]}),
            ),
            statement(
                "local",
                json!({"coding": [{"system": "urn:oid:1.2.3.4", "code": "TXL-6", "display": "Taxol 6 mg/mL vial"}]}),
            ),
            statement("text-only", json!({"text": "docetaxel 75 mg/m2 q3w"})),
            statement(
                "known-hcpcs",
                json!({"coding": [{"system": HCPCS, "code": "J9355", "display": "trastuzumab with docetaxel"}]}),
            ),
            statement("nothing", json!({"text": "ondansetron"})),
            json!({"resourceType": "Medication", "id": "ndc-only",
                "code": {"coding": [
                    {"system": NDC, "code": "99999-999-99", "display": "Herceptin 150 mg vial"}]}}),
            json!({"resourceType": "MedicationAdministration", "id": "via-medication", "status": "completed",
                "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": "Medication/ndc-only"},
                "effectiveDateTime": "2025-03-02"}),
        ])?;
        let got: Vec<(&str, Vec<String>)> = uses
            .iter()
            .map(|u| {
                (
                    u.source.resource.as_str(),
                    u.codes.iter().map(|c| c.code.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "MedicationStatement/scd",
                    vec!["583214".into(), "56946".into()]
                ),
                (
                    "MedicationStatement/local (paclitaxel matched by name in `Taxol 6 mg/mL vial`)",
                    vec!["TXL-6".into(), "56946".into()]
                ),
                (
                    "MedicationStatement/text-only (docetaxel matched by name in `docetaxel 75 mg/m2 q3w`)",
                    vec!["72962".into()]
                ),
                ("MedicationStatement/known-hcpcs", vec!["J9355".into()]),
                ("MedicationStatement/nothing", vec![]),
                (
                    "MedicationAdministration/via-medication (trastuzumab matched by name in `Herceptin 150 mg vial`)",
                    vec!["99999099999".into(), "224905".into()]
                ),
            ]
        );
        Ok(())
    }

    /// Issue 10, partial dates: a start is the first day of its month or year, an end the
    /// last; a past single date spans its whole month.
    #[test]
    fn partial_dates_start_on_the_first_day_and_end_on_the_last() -> Result<(), GatherError> {
        let uses = gathered(vec![
            request(
                "month",
                "completed",
                json!({"dispenseRequest": {"validityPeriod": {"start": "2024-05", "end": "2024-09"}}}),
            ),
            json!({"resourceType": "MedicationStatement", "id": "year", "status": "completed",
                "subject": {"reference": "Patient/p1"},
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "56946"}]},
                "effectiveDateTime": "2024"}),
            json!({"resourceType": "Procedure", "id": "current", "status": "in-progress",
                "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": HCPCS, "code": "J9355"}]},
                "performedDateTime": "2026-02"}),
        ])?;
        let got: Vec<_> = uses.iter().map(|u| (u.start, u.end)).collect();
        assert_eq!(
            got,
            vec![
                (ymd(2024, 5, 1), ymd(2024, 9, 30)),
                (ymd(2024, 1, 1), ymd(2024, 12, 31)),
                (ymd(2026, 2, 1), None),
            ]
        );
        Ok(())
    }
}
