//! The Claim's patient: only the birth date, which age criteria read.
//!
//! The Patient is read like every other resource (decisions.md section 7, [`Reader`]): a
//! `birthDate` that is not a calendar date is a malformed request, and a Patient the typed
//! model cannot read is set aside and named, leaving the birth date undocumented.

use chrono::NaiveDate;
use serde_json::Value;

use crate::fhir::model;

use super::GatherError;
use super::read::Reader;
use super::site::Site;

/// `Patient.birthDate` of the Patient that `Claim.patient` references, when it is a full
/// date (a year or year-month alone cannot settle an age threshold to the day).
pub(super) fn birth_date(
    reader: &Reader<'_, '_>,
    claim: &Site<'_>,
) -> Result<Option<NaiveDate>, GatherError> {
    let Some(reference) = claim
        .resource
        .get("patient")
        .and_then(|p| p.get("reference"))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    let Some(site) = claim
        .resolve(reader.view, reference)
        .filter(|site| site.resource_type == "Patient")
    else {
        return Ok(None);
    };
    let Some(patient) = reader.clinical::<model::Patient>(&site)? else {
        return Ok(None);
    };
    Ok(patient.birth_date.as_ref().and_then(model::date))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::evidence::testing::*;

    fn read(patient: Value) -> Result<(Option<NaiveDate>, usize), GatherError> {
        let facts = gather_first(&bundle(vec![
            claim(json!({"patient": {"reference": "Patient/p1"}})),
            patient,
        ]))?;
        Ok((facts.birth_date, facts.set_aside.len()))
    }

    #[test]
    fn a_full_birth_date_is_read_and_a_partial_one_is_not() -> Result<(), GatherError> {
        let patient =
            |birth: &str| json!({"resourceType": "Patient", "id": "p1", "birthDate": birth});
        assert_eq!(read(patient("1960-03-14"))?, (ymd(1960, 3, 14), 0));
        assert_eq!(read(patient("1960"))?, (None, 0));
        assert_eq!(read(patient("1960-03"))?, (None, 0));
        Ok(())
    }

    /// Regression (merge of enhertu onto encodings): the birth date was read from the raw
    /// JSON, so `1960-02-30` was silently no birth date instead of a malformed request.
    #[test]
    fn a_birth_date_that_is_not_a_calendar_date_is_a_malformed_request() {
        let result =
            read(json!({"resourceType": "Patient", "id": "p1", "birthDate": "1960-02-30"}));
        assert!(
            matches!(&result, Err(e) if e.to_string().contains("birthDate")),
            "{result:?}"
        );
    }

    /// Regression (merge of enhertu onto encodings): an unreadable Patient is set aside and
    /// named like any other resource; its birth date is not documented.
    #[test]
    fn an_unreadable_patient_is_set_aside() -> Result<(), GatherError> {
        let (born, set_aside) = read(json!({"resourceType": "Patient", "id": "p1",
            "birthDate": "1960-03-14", "gender": 42}))?;
        assert_eq!((born, set_aside), (None, 1));
        Ok(())
    }
}
