//! PAS extensions, read from the raw JSON.
//!
//! The meaning PAS adds to a Claim (which order an item requests, initial or renewal, the
//! prior authorization it continues) lives in extensions; they are read from the raw JSON,
//! never from the typed model, so that nothing depends on what the typed model keeps of them.

use chrono::NaiveDate;
use serde_json::Value;

use crate::fhir::model;

const PAS: &str = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/";

/// `Claim.item` -> the MedicationRequest / ServiceRequest / DeviceRequest it asks for.
pub(super) const REQUESTED_SERVICE: &str = "extension-requestedService";
/// `Claim` or `Claim.item` -> X12 1322 certification type.
pub(super) const CERTIFICATION_TYPE: &str = "extension-certificationType";
/// `Claim.item` -> the prior authorization this request continues.
pub(super) const AUTHORIZATION_NUMBER: &str = "extension-authorizationNumber";
/// `Claim.diagnosis` -> when the diagnosis was recorded.
pub(super) const DIAGNOSIS_RECORDED_DATE: &str = "extension-diagnosisRecordedDate";

/// The first extension of `element` with the PAS extension `name`.
fn find<'v>(element: &'v Value, name: &str) -> Option<&'v Value> {
    element.get("extension")?.as_array()?.iter().find(|ext| {
        ext.get("url")
            .and_then(Value::as_str)
            .and_then(|url| url.trim().strip_prefix(PAS))
            == Some(name)
    })
}

/// `valueString`, trimmed, when not blank.
pub(super) fn string(element: &Value, name: &str) -> Option<String> {
    let value = find(element, name)?.get("valueString")?.as_str()?;
    model::non_blank(Some(value))
}

/// The code of a `valueCodeableConcept`: the first coding that has one.
pub(super) fn code(element: &Value, name: &str) -> Option<String> {
    find(element, name)?
        .get("valueCodeableConcept")?
        .get("coding")?
        .as_array()?
        .iter()
        .find_map(|coding| model::non_blank(coding.get("code")?.as_str()))
}

/// `valueReference.reference`.
pub(super) fn reference<'v>(element: &'v Value, name: &str) -> Option<&'v str> {
    let reference = find(element, name)?
        .get("valueReference")?
        .get("reference")?
        .as_str()?
        .trim();
    (!reference.is_empty()).then_some(reference)
}

/// `valueDate` (or `valueDateTime`) as a calendar date; malformed or partial: `None`.
pub(super) fn date(element: &Value, name: &str) -> Option<NaiveDate> {
    let ext = find(element, name)?;
    let value = ext
        .get("valueDate")
        .or_else(|| ext.get("valueDateTime"))?
        .as_str()?;
    model::raw_date(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_pas_extensions_by_name() {
        let item = json!({"extension": [
            {"url": "http://example.org/other", "valueString": "x"},
            {"url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-authorizationNumber", "valueString": " PA-1 "},
            {"url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-certificationType",
             "valueCodeableConcept": {"coding": [{"system": "https://codesystem.x12.org/005010/1322"}, {"code": "R"}]}},
            {"url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-requestedService",
             "valueReference": {"reference": "MedicationRequest/mr1"}},
            {"url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-diagnosisRecordedDate", "valueDate": "2026-03-04"}
        ]});
        assert_eq!(string(&item, AUTHORIZATION_NUMBER).as_deref(), Some("PA-1"));
        assert_eq!(code(&item, CERTIFICATION_TYPE).as_deref(), Some("R"));
        assert_eq!(
            reference(&item, REQUESTED_SERVICE),
            Some("MedicationRequest/mr1")
        );
        assert_eq!(
            date(&item, DIAGNOSIS_RECORDED_DATE),
            NaiveDate::from_ymd_opt(2026, 3, 4)
        );
    }

    #[test]
    fn wrong_shapes_are_absent() {
        let item = json!({"extension": [
            {"url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-authorizationNumber", "valueString": 7},
            {"url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-diagnosisRecordedDate", "valueDate": "2026-13-04"}
        ]});
        assert_eq!(string(&item, AUTHORIZATION_NUMBER), None);
        assert_eq!(date(&item, DIAGNOSIS_RECORDED_DATE), None);
        assert_eq!(
            code(&json!({"extension": "nope"}), CERTIFICATION_TYPE),
            None
        );
    }
}
