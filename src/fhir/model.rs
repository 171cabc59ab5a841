//! Typed FHIR models: the one module that names `fhir_sdk`.
//!
//! fhir-sdk has no plain R4 module; its R4B models read the R4 resources PAS carries, because
//! the resources the adapter reads (Claim, Condition, Observation, Medication,
//! MedicationStatement, MedicationAdministration, MedicationRequest, Procedure,
//! QuestionnaireResponse, ServiceRequest, DeviceRequest) have the same structure and the same
//! required bindings in R4 and R4B. Every PAS IG example of those types (Claim,
//! MedicationRequest, ServiceRequest, DeviceRequest, standalone and inside the example Bundles)
//! parses, and so do the R4 shapes the evidence tests build for the others; no fallback to raw
//! JSON was needed. Keeping the crate behind this module means a change of FHIR library touches
//! one file.
//!
//! What the typed models do NOT give, and so is read from the raw JSON instead:
//! - element locations: serde reports no path, so [`parse`] names the resource's FHIRPath;
//! - extensions: PAS meaning lives in extensions (`extension-requestedService`,
//!   `extension-certificationType`, ...), and they are read from the raw JSON so that one
//!   reading rule holds whatever the typed model keeps of them;
//! - exact decimals: decimals become `f64` here (fine for the values the policies compare).
//!
//! How the typed models treat bad input (verified in the evidence tests): a malformed plain
//! element (`Observation.issued`, `Condition.recordedDate`, a Claim without `created`) makes
//! the whole resource unreadable, and [`parse`] reports it at the resource's path; a malformed
//! choice element (`value[x]`, `effective[x]`, `onset[x]`, `serviced[x]`, an extension's
//! `value[x]`) is silently read as absent, because fhir-sdk flattens choice types into an
//! optional field. So an `effectiveDateTime` of `2026-02-30` would give an Observation without
//! a date: the evidence gatherer therefore checks every date element of the raw JSON with
//! [`is_calendar_date`] before the typed read (decisions.md section 7).
//!
//! Dates are converted to `chrono::NaiveDate` here, as the calendar date written in the
//! resource (a `dateTime` with an offset keeps its own local date; no time-zone shifting).
//! [`date`] and [`date_time`] count only full dates (`2024` or `2024-05` name no single day);
//! [`date_bounds`] and [`date_time_bounds`] give the first and last day a partial date may mean.

use chrono::NaiveDate;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use fhir_sdk::r4b::resources::{
    ClaimDiagnosis, ClaimDiagnosisDiagnosis, ClaimItem, ClaimItemServiced, ClaimSupportingInfo,
    ClaimSupportingInfoValue, Condition, ConditionOnset, DeviceRequest, DeviceRequestCode,
    Medication, MedicationAdministration, MedicationAdministrationEffective,
    MedicationAdministrationMedication, MedicationIngredientItem, MedicationRequest,
    MedicationRequestMedication, MedicationStatement, MedicationStatementEffective,
    MedicationStatementMedication, Observation, ObservationComponentValue, ObservationEffective,
    ObservationValue, Patient, Procedure, ProcedurePerformed, QuestionnaireResponse,
    QuestionnaireResponseItem, QuestionnaireResponseItemAnswerValue, ServiceRequest,
};
pub use fhir_sdk::r4b::types::{
    CodeableConcept, Coding, Dosage, Period, Quantity, Ratio, Reference, TimingRepeatBounds,
};
pub use fhir_sdk::{Date, DateTime, Instant};

use super::codes::{Code, CodeSystem};

/// A resource that does not read as the FHIR type it claims to be.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at `{path}`")]
pub struct ModelError {
    /// FHIRPath of the resource, e.g. `Bundle.entry[3].resource`.
    pub path: String,
    pub message: String,
}

/// Reads `resource` (found at FHIRPath `path`) as the typed model `T`.
///
/// The one entry point into fhir-sdk: a failure names the resource's location, because serde
/// cannot, and the type it was read as.
pub fn parse<T: DeserializeOwned>(resource: &Value, path: &str) -> Result<T, ModelError> {
    T::deserialize(resource).map_err(|err| {
        let rtype = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("resource");
        ModelError {
            path: path.to_owned(),
            message: format!("`{rtype}` is not valid FHIR R4: {err}"),
        }
    })
}

/// The parts of a Claim the evidence reads, typed: `created`, the items, the diagnoses and the
/// supporting information.
///
/// Read instead of the whole `Claim` because fhir-sdk's Claim demands every element R4 makes
/// required (status, provider, priority, insurance...), and the evidence reads none of those:
/// whether a Claim carries them is the request checks' call, with a FHIRPath location, not a
/// side effect of the typed model. Unknown and unread elements are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct ClaimParts {
    #[serde(default)]
    pub created: Option<DateTime>,
    #[serde(default)]
    pub item: Vec<Option<ClaimItem>>,
    #[serde(default)]
    pub diagnosis: Vec<Option<ClaimDiagnosis>>,
    #[serde(default, rename = "supportingInfo")]
    pub supporting_info: Vec<Option<ClaimSupportingInfo>>,
}

/// Every coding of a CodeableConcept that has a code, normalized. A coding without a system
/// is kept (as an unnamed system) so that nothing sent is silently lost; no value set can
/// match it.
pub fn codes(concept: &CodeableConcept) -> Vec<Code> {
    concept.coding.iter().flatten().filter_map(coding).collect()
}

/// One coding, normalized; `None` when it carries no code.
pub fn coding(coding: &Coding) -> Option<Code> {
    let code = coding
        .code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())?;
    Some(Code::new(coding.system.as_deref().unwrap_or(""), code))
}

/// `CodeableConcept.text`, trimmed, when not blank.
pub fn text(concept: &CodeableConcept) -> Option<String> {
    non_blank(concept.text.as_deref())
}

/// A trimmed string, `None` when blank.
pub fn non_blank(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A Quantity's number and unit: the UCUM `code` when the system is UCUM, else the
/// human `unit`, else whatever `code` was sent. `None` without a value.
pub fn quantity(q: &Quantity) -> Option<(f64, Option<String>)> {
    let value = q.value?;
    let ucum = q
        .system
        .as_deref()
        .is_some_and(|s| CodeSystem::from_uri(s) == CodeSystem::Ucum);
    let code = non_blank(q.code.as_deref());
    let unit = non_blank(q.unit.as_deref());
    let unit = if ucum { code.or(unit) } else { unit.or(code) };
    Some((value, unit))
}

/// The comparator of a Quantity (`<`, `<=`, `>=`, `>`), when it is not an exact value.
pub fn comparator(q: &Quantity) -> Option<String> {
    q.comparator.as_ref().map(|c| c.as_ref().to_owned())
}

/// The reference string of a Reference, trimmed.
pub fn reference(r: &Reference) -> Option<&str> {
    r.reference
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A FHIR `date` as a calendar date; partial dates name no day: `None`.
pub fn date(d: &Date) -> Option<NaiveDate> {
    match d {
        Date::Date(d) => to_chrono(*d),
        Date::Year(_) | Date::YearMonth(..) => None,
    }
}

/// A FHIR `dateTime` as the calendar date written in it (its own offset, not UTC).
pub fn date_time(dt: &DateTime) -> Option<NaiveDate> {
    match dt {
        DateTime::Date(d) => date(d),
        DateTime::DateTime(i) => instant(i),
    }
}

/// A FHIR `instant` as the calendar date written in it.
pub fn instant(i: &Instant) -> Option<NaiveDate> {
    to_chrono(i.0.date())
}

/// `Period.start` and `Period.end` as calendar dates.
pub fn period(p: &Period) -> (Option<NaiveDate>, Option<NaiveDate>) {
    (
        p.start.as_ref().and_then(date_time),
        p.end.as_ref().and_then(date_time),
    )
}

/// Reads a raw `date` / `dateTime` string (an extension value, which is read raw) as the
/// calendar date written in it; anything malformed or partial is `None`.
pub fn raw_date(s: &str) -> Option<NaiveDate> {
    s.trim()
        .parse::<DateTime>()
        .ok()
        .as_ref()
        .and_then(date_time)
}

/// The first and last calendar day a FHIR `date` may mean: a full date is one day, `2024-05`
/// is 2024-05-01..2024-05-31, `2024` is 2024-01-01..2024-12-31.
///
/// Evidence reads a partial date through these bounds, the start of its span where a fact
/// begins ("since") and the end where it stops ("until"): see `crate::evidence::facts`.
pub fn date_bounds(d: &Date) -> Option<(NaiveDate, NaiveDate)> {
    let (first, months) = match d {
        Date::Date(d) => return to_chrono(*d).map(|d| (d, d)),
        Date::YearMonth(y, m) => (NaiveDate::from_ymd_opt(*y, u32::from(u8::from(*m)), 1)?, 1),
        Date::Year(y) => (NaiveDate::from_ymd_opt(*y, 1, 1)?, 12),
    };
    let last = first
        .checked_add_months(chrono::Months::new(months))?
        .pred_opt()?;
    Some((first, last))
}

/// [`date_bounds`] of a `dateTime` (a time of day names its own calendar date).
pub fn date_time_bounds(dt: &DateTime) -> Option<(NaiveDate, NaiveDate)> {
    match dt {
        DateTime::Date(d) => date_bounds(d),
        DateTime::DateTime(i) => instant(i).map(|d| (d, d)),
    }
}

/// `Period.start` and `Period.end` as calendar dates, a partial start read as its first day
/// and a partial end as its last.
pub fn period_bounds(p: &Period) -> (Option<NaiveDate>, Option<NaiveDate>) {
    (
        p.start.as_ref().and_then(date_time_bounds).map(|b| b.0),
        p.end.as_ref().and_then(date_time_bounds).map(|b| b.1),
    )
}

/// A `Ratio` as one number, numerator over denominator (a denominator left out is 1, as
/// "2.3 : 1" is often sent as the numerator alone). `None` for a missing numerator value, a
/// zero denominator, or a result that is not finite; the comparator of either part (`<2.0`) is
/// returned with it, because a bound is not a measurement.
pub fn ratio(r: &Ratio) -> Option<(f64, Option<String>)> {
    let numerator = r.numerator.as_ref()?;
    let n = numerator.value?;
    let d = match &r.denominator {
        Some(q) => q.value?,
        None => 1.0,
    };
    let value = n / d;
    let comparator = comparator(numerator).or_else(|| r.denominator.as_ref().and_then(comparator));
    (d != 0.0 && value.is_finite()).then_some((value, comparator))
}

/// Whether `s` is a FHIR `date`, `dateTime` or `instant` naming a real calendar day (or a
/// real month or year): `2024`, `2024-05`, `2024-05-31`, `2024-05-31T10:00:00+02:00`.
/// `2026-02-30`, `2026-13` and `yesterday` are not. Read with chrono, not by hand.
pub fn is_calendar_date(s: &str) -> bool {
    let s = s.trim();
    if s.contains('T') {
        return chrono::DateTime::parse_from_rfc3339(s).is_ok()
            || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok();
    }
    let parts: Vec<&str> = s.split('-').collect();
    let four_digits = parts
        .first()
        .is_some_and(|y| y.len() == 4 && y.chars().all(|c| c.is_ascii_digit()));
    match parts.as_slice() {
        [_] => four_digits,
        [y, m] => {
            four_digits
                && m.len() == 2
                && m.parse::<u32>()
                    .ok()
                    .zip(y.parse::<i32>().ok())
                    .and_then(|(m, y)| NaiveDate::from_ymd_opt(y, m, 1))
                    .is_some()
        }
        [_, _, _] => four_digits && NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        _ => false,
    }
}

fn to_chrono(d: fhir_sdk::time::Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(d.year(), u32::from(u8::from(d.month())), u32::from(d.day()))
}

/// The PAS IG example directory, for tests: `$PAS_SHARED_DIR/pas/examples` (as
/// `scripts/test` sets it), else the shared folder beside the repository.
#[cfg(test)]
pub(crate) fn ig_examples() -> Option<std::fs::ReadDir> {
    let manifest = env!("CARGO_MANIFEST_DIR");
    std::env::var("PAS_SHARED_DIR")
        .ok()
        .map(|dir| format!("{dir}/pas/examples"))
        .into_iter()
        .chain([
            format!("{manifest}/../shared/pas/examples"),
            format!("{manifest}/../../shared/pas/examples"),
        ])
        .find_map(|dir| std::fs::read_dir(dir).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    #[test]
    fn date_times_keep_the_calendar_date_as_written() {
        assert_eq!(raw_date("2026-11-30T23:30:00-05:00"), ymd(2026, 11, 30));
        assert_eq!(raw_date("2026-12-01T00:30:00+09:00"), ymd(2026, 12, 1));
        assert_eq!(raw_date("2026-12-01"), ymd(2026, 12, 1));
    }

    #[test]
    fn partial_and_malformed_dates_are_absent() {
        assert_eq!(raw_date("2026"), None);
        assert_eq!(raw_date("2026-05"), None);
        assert_eq!(raw_date("2026-02-30"), None);
        assert_eq!(raw_date("yesterday"), None);
        assert_eq!(raw_date(""), None);
    }

    #[test]
    fn partial_dates_span_their_month_or_year() {
        let bounds = |s: &str| {
            s.parse::<DateTime>()
                .ok()
                .as_ref()
                .and_then(date_time_bounds)
        };
        assert_eq!(bounds("2024-05"), ymd(2024, 5, 1).zip(ymd(2024, 5, 31)));
        assert_eq!(bounds("2024-02"), ymd(2024, 2, 1).zip(ymd(2024, 2, 29)));
        assert_eq!(bounds("2024"), ymd(2024, 1, 1).zip(ymd(2024, 12, 31)));
        assert_eq!(bounds("2024-05-07"), ymd(2024, 5, 7).zip(ymd(2024, 5, 7)));
        assert_eq!(
            bounds("2024-05-07T23:30:00-05:00"),
            ymd(2024, 5, 7).zip(ymd(2024, 5, 7))
        );
    }

    #[test]
    fn calendar_dates_are_checked_with_chrono() {
        for good in [
            "2024",
            "2024-05",
            "2024-02-29",
            "2026-11-20T10:15:00-05:00",
            "2026-11-20T10:15:00.123Z",
        ] {
            assert!(is_calendar_date(good), "{good}");
        }
        for bad in [
            "2026-02-30",
            "2025-02-29",
            "2026-13",
            "2026-00",
            "2026-1",
            "26",
            "yesterday",
            "",
            "2026-11-31T10:00:00Z",
            "2026-11-20T25:00:00Z",
            "2026-11-20-01",
        ] {
            assert!(!is_calendar_date(bad), "{bad}");
        }
    }

    #[test]
    fn parse_names_the_resource_location_on_failure() {
        let bad = json!({"resourceType": "Observation", "status": "final", "code": 42});
        let err = parse::<Observation>(&bad, "Bundle.entry[3].resource")
            .err()
            .map(|e| {
                (
                    e.path,
                    e.message.starts_with("`Observation` is not valid FHIR R4"),
                )
            });
        assert_eq!(err, Some(("Bundle.entry[3].resource".to_owned(), true)));
    }

    #[test]
    fn quantity_prefers_the_ucum_code() {
        let obs: Result<Observation, _> = parse(
            &json!({"resourceType": "Observation", "status": "final", "code": {"text": "w"},
                "valueQuantity": {"value": 154.3, "unit": "lb", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}}),
            "x",
        );
        let q = obs.ok().and_then(|o| match &o.value {
            Some(ObservationValue::Quantity(q)) => quantity(q),
            _ => None,
        });
        assert_eq!(q, Some((154.3, Some("[lb_av]".to_owned()))));
    }

    /// Every IG example resource of a type the gatherer reads parses in the R4B models.
    #[test]
    fn ig_example_resources_parse() {
        let dir = ig_examples().into_iter().flatten();
        let mut seen = 0;
        let mut failures = Vec::new();
        for file in dir.flatten() {
            let Ok(text) = std::fs::read_to_string(file.path()) else {
                continue;
            };
            let Ok(json) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let mut resources = vec![json.clone()];
            if let Some(entries) = json.get("entry").and_then(Value::as_array) {
                resources.extend(entries.iter().filter_map(|e| e.get("resource")).cloned());
            }
            for r in &resources {
                let path = file.path().display().to_string();
                let result = match r.get("resourceType").and_then(Value::as_str) {
                    Some("Claim") => parse::<ClaimParts>(r, &path).map(drop),
                    Some("MedicationRequest") => parse::<MedicationRequest>(r, &path).map(drop),
                    Some("ServiceRequest") => parse::<ServiceRequest>(r, &path).map(drop),
                    Some("DeviceRequest") => parse::<DeviceRequest>(r, &path).map(drop),
                    _ => continue,
                };
                seen += 1;
                if let Err(e) = result {
                    failures.push(e.to_string());
                }
            }
        }
        assert!(seen >= 10, "IG examples not found ({seen} read)");
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
