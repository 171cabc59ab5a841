//! The Claim's patient: only the birth date, which age criteria read.

use chrono::NaiveDate;
use serde_json::Value;

use crate::fhir::BundleView;

use super::site::Site;

/// `Patient.birthDate` of the Patient that `Claim.patient` references, when it is a full
/// date (a year or year-month alone cannot settle an age threshold to the day).
pub(super) fn birth_date(view: &BundleView<'_>, claim: &Site<'_>) -> Option<NaiveDate> {
    let reference = claim.resource.get("patient")?.get("reference")?.as_str()?;
    let patient = claim.resolve(view, reference)?;
    if patient.resource_type != "Patient" {
        return None;
    }
    let text = patient.resource.get("birthDate").and_then(Value::as_str)?;
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bundle(birth: Value) -> Value {
        json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"fullUrl": "http://example.org/fhir/Claim/c1", "resource": {"resourceType": "Claim", "id": "c1",
                "patient": {"reference": "Patient/p1"}}},
            {"fullUrl": "http://example.org/fhir/Patient/p1", "resource": {"resourceType": "Patient", "id": "p1", "birthDate": birth}},
        ]})
    }

    fn read(raw: &Value) -> Option<NaiveDate> {
        let view = BundleView::new(raw);
        let claim = view.of_type("Claim").next().copied()?;
        birth_date(&view, &Site::of(&claim))
    }

    #[test]
    fn a_full_birth_date_is_read_and_a_partial_one_is_not() {
        assert_eq!(
            read(&bundle(json!("1960-03-14"))),
            NaiveDate::from_ymd_opt(1960, 3, 14)
        );
        assert_eq!(read(&bundle(json!("1960"))), None);
        assert_eq!(read(&bundle(json!("1960-03"))), None);
    }
}
