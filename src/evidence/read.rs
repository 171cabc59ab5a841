//! Reading one clinical resource: whose it is, whether its dates are dates, and whether the
//! typed model can read it (decisions.md section 7; issue 10, "sloppy but readable").
//!
//! The order matters and is the contract:
//! 1. **Another patient's resource** (its `subject` names a Patient other than the Claim's) is
//!    set aside, named in the note, and nothing else in it is looked at. A resource without a
//!    subject counts: PAS Bundles often omit it.
//! 2. **A date that is not a calendar date** (`2026-02-30`) anywhere in a resource the adapter
//!    reads is a malformed request: [`GatherError`] at the element, answered 400. fhir-sdk
//!    silently reads a malformed choice element (`effectiveDateTime`) as absent, so the raw
//!    JSON is checked before the typed read.
//! 3. **Elements the evidence does not need but R4 requires** (`Observation.status`, the
//!    `subject` of a MedicationStatement, a MedicationRequest's `intent`) are not a reason to
//!    drop the resource: the typed read fills them with neutral values (status `unknown`, a
//!    subject with no reference, intent `order`). A missing medication status stays unknown,
//!    which the status tables of [`super::medications`] skip.
//! 4. **A resource the typed model still cannot read** (`code: 42`) is set aside, named in the
//!    note with the reader's message; the criteria it could have settled stay missing. Only the
//!    request checks (`crate::pas::check`) answer 400 for structure.

use std::cell::RefCell;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::fhir::BundleView;
use crate::fhir::model;

use super::site::Site;
use super::{GatherError, SetAside};

/// The Claim's patient, as far as the request says who it is.
#[derive(Debug, Clone, Default)]
struct Patient {
    /// Bundle entry of the Patient the Claim references.
    entry: Option<usize>,
    /// `Patient/id` of that reference (or of the entry's resource).
    type_id: Option<String>,
    /// `(system, value)` identifiers of the Patient and of `Claim.patient.identifier`.
    identifiers: Vec<(String, String)>,
}

/// Reads the resources of one request, collecting what it sets aside.
pub(super) struct Reader<'v, 'a> {
    pub view: &'v BundleView<'a>,
    patient: Patient,
    set_aside: RefCell<Vec<SetAside>>,
}

/// Whose a resource is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// The Claim's patient, or not said.
    ThisPatient,
    /// Another patient (or another subject), described for the note.
    Other(String),
}

impl<'v, 'a> Reader<'v, 'a> {
    /// A reader for the request around `claim`.
    pub fn new(view: &'v BundleView<'a>, claim: &Site<'a>) -> Self {
        let mut patient = Patient::default();
        if let Some(subject) = claim.resource.get("patient") {
            patient
                .identifiers
                .extend(identifier(subject.get("identifier")));
            if let Some(reference) = subject.get("reference").and_then(Value::as_str) {
                patient.type_id = type_id(reference);
                if let Some(target) = claim.resolve(view, reference) {
                    patient.entry =
                        Some(target.entry.index).filter(|_| target.path == target.entry.path());
                    if let Some(id) = target.resource.get("id").and_then(Value::as_str) {
                        patient.type_id = Some(format!("{}/{id}", target.resource_type));
                    }
                    if let Some(ids) = target.resource.get("identifier").and_then(Value::as_array) {
                        patient
                            .identifiers
                            .extend(ids.iter().flat_map(|i| identifier(Some(i))));
                    }
                }
            }
        }
        Self {
            view,
            patient,
            set_aside: RefCell::new(Vec::new()),
        }
    }

    /// Everything set aside so far.
    pub fn into_set_aside(self) -> Vec<SetAside> {
        self.set_aside.into_inner()
    }

    /// Notes a resource or value left out, and why.
    pub fn set_aside(&self, site: &Site<'_>, suffix: &str, reason: String) {
        self.set_aside.borrow_mut().push(SetAside {
            source: site.source(suffix),
            reason,
        });
    }

    /// Reads a clinical resource about a patient (Condition, Observation, Medication*,
    /// Procedure, QuestionnaireResponse): `None` when it is another patient's or unreadable,
    /// both set aside; an error for a date that is not a calendar date.
    pub fn clinical<T: DeserializeOwned>(&self, site: &Site<'_>) -> Result<Option<T>, GatherError> {
        if let Owner::Other(whose) = self.owner(site) {
            self.set_aside(
                site,
                "",
                format!("it is about {whose}, not the Claim's patient"),
            );
            return Ok(None);
        }
        self.resource(site)
    }

    /// Reads a resource that names no patient (Medication): dates checked, unreadable set
    /// aside.
    pub fn resource<T: DeserializeOwned>(&self, site: &Site<'_>) -> Result<Option<T>, GatherError> {
        check_dates(site.resource, &site.path)?;
        let filled = fill_required(site.resource_type, site.resource);
        match model::parse::<T>(filled.as_ref().unwrap_or(site.resource), &site.path) {
            Ok(typed) => Ok(Some(typed)),
            Err(err) => {
                self.set_aside(site, "", format!("it cannot be read ({})", err.message));
                Ok(None)
            }
        }
    }

    fn owner(&self, site: &Site<'_>) -> Owner {
        let Some(subject) = site
            .resource
            .get("subject")
            .or_else(|| site.resource.get("patient"))
        else {
            return Owner::ThisPatient;
        };
        if let Some(reference) = subject.get("reference").and_then(Value::as_str) {
            let reference = reference.trim();
            if let Some(target) = site.resolve(self.view, reference) {
                if target.resource_type != "Patient" {
                    return Owner::Other(format!("a {} ({reference})", target.resource_type));
                }
                let same = match (self.patient.entry, self.patient.type_id.as_deref()) {
                    (Some(entry), _) => {
                        target.path == target.entry.path() && target.entry.index == entry
                    }
                    (None, Some(tid)) => {
                        target
                            .resource
                            .get("id")
                            .and_then(Value::as_str)
                            .map(|id| format!("Patient/{id}"))
                            .as_deref()
                            == Some(tid)
                    }
                    (None, None) => true,
                };
                return if same {
                    Owner::ThisPatient
                } else {
                    Owner::Other(format!("another patient ({})", target.label))
                };
            }
            return match (type_id(reference), self.patient.type_id.as_deref()) {
                (Some(theirs), Some(ours)) if theirs != ours => {
                    Owner::Other(format!("another patient ({reference})"))
                }
                _ => Owner::ThisPatient,
            };
        }
        // A subject named by identifier only: another patient when it shares a system with
        // the Claim's patient's identifiers and matches none of them.
        if let Some((system, value)) = identifier(subject.get("identifier")) {
            let same_system: Vec<&(String, String)> = self
                .patient
                .identifiers
                .iter()
                .filter(|(s, _)| *s == system)
                .collect();
            if !same_system.is_empty() && !same_system.iter().any(|(_, v)| *v == value) {
                return Owner::Other(format!("another patient (identifier {system}|{value})"));
            }
        }
        Owner::ThisPatient
    }
}

/// `Type/id` of a reference (its last two segments), when it has that shape.
fn type_id(reference: &str) -> Option<String> {
    let mut parts = reference.trim().trim_end_matches('/').rsplit('/');
    let id = parts.next()?;
    let rtype = parts.next()?;
    (!id.is_empty() && rtype.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        .then(|| format!("{rtype}/{id}"))
}

fn identifier(value: Option<&Value>) -> Option<(String, String)> {
    let value = value?;
    let system = value.get("system")?.as_str()?.trim();
    let id = value.get("value")?.as_str()?.trim();
    (!system.is_empty() && !id.is_empty()).then(|| (system.to_owned(), id.to_owned()))
}

/// The resource with R4-required elements the evidence does not read filled in, or `None`
/// when nothing is missing.
fn fill_required(resource_type: &str, resource: &Value) -> Option<Value> {
    let needed: Vec<(&str, Value)> = match resource_type {
        "Observation" => vec![("status", "unknown".into())],
        "MedicationStatement" | "MedicationAdministration" | "Procedure" => {
            vec![("status", "unknown".into()), ("subject", absent_subject())]
        }
        "MedicationRequest" => vec![
            ("status", "unknown".into()),
            ("intent", "order".into()),
            ("subject", absent_subject()),
        ],
        "Condition" => vec![("subject", absent_subject())],
        "QuestionnaireResponse" => vec![("status", "completed".into())],
        _ => Vec::new(),
    };
    let object = resource.as_object()?;
    let missing: Vec<(&str, Value)> = needed
        .into_iter()
        .filter(|(key, _)| !object.contains_key(*key))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut filled = object.clone();
    for (key, value) in missing {
        filled.insert(key.to_owned(), value);
    }
    Some(Value::Object(filled))
}

fn absent_subject() -> Value {
    serde_json::json!({"display": "not stated"})
}

/// Element names whose string values are FHIR dates, dateTimes or instants in the resources
/// the evidence reads.
fn is_date_element(key: &str) -> bool {
    key.ends_with("DateTime")
        || key.ends_with("Date")
        || key.ends_with("Instant")
        || matches!(
            key,
            "issued" | "authoredOn" | "authored" | "start" | "end" | "date" | "lastUpdated"
        )
}

/// The first string under a date element that is not a calendar date, as an error at its
/// FHIRPath.
pub(super) fn check_dates(value: &Value, path: &str) -> Result<(), GatherError> {
    match first_bad_date(value) {
        None => Ok(()),
        Some((mut segments, bad)) => {
            segments.reverse();
            Err(GatherError {
                path: format!("{path}{}", segments.concat()),
                message: format!("`{bad}` is not a calendar date"),
            })
        }
    }
}

/// The path segments (innermost first) and value of the first bad date below `value`; the
/// path is built only when one is found, so a clean resource costs no allocation.
fn first_bad_date(value: &Value) -> Option<(Vec<String>, &str)> {
    match value {
        Value::Object(map) => map.iter().find_map(|(key, child)| {
            let found = match child {
                Value::String(s) if is_date_element(key) => {
                    (!model::is_calendar_date(s)).then(|| (Vec::new(), s.as_str()))
                }
                _ => first_bad_date(child),
            };
            found.map(|(mut segments, bad)| {
                segments.push(format!(".{key}"));
                (segments, bad)
            })
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(k, child)| {
            first_bad_date(child).map(|(mut segments, bad)| {
                segments.push(format!("[{k}]"));
                (segments, bad)
            })
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::evidence::testing::*;
    use crate::evidence::{Facts, GatherError, MedicationSource};

    fn facts(resources: Vec<Value>) -> Result<Facts, GatherError> {
        let mut all = vec![
            claim(json!({"patient": {"reference": "Patient/p1"}})),
            json!({"resourceType": "Patient", "id": "p1",
                "identifier": [{"system": "urn:mrn", "value": "MRN-1"}]}),
            json!({"resourceType": "Patient", "id": "p2",
                "identifier": [{"system": "urn:mrn", "value": "MRN-2"}]}),
        ];
        all.extend(resources);
        gather_first(&bundle(all))
    }

    fn condition(id: &str, subject: Value) -> Value {
        let mut c = json!({"resourceType": "Condition", "id": id,
            "code": {"coding": [{"system": ICD, "code": "C50.911"}]}});
        if let Some(c) = c.as_object_mut()
            && !subject.is_null()
        {
            c.insert("subject".into(), subject);
        }
        c
    }

    /// decisions.md section 7: another patient's evidence is ignored and named; a resource
    /// without a subject counts.
    #[test]
    fn another_patients_resources_are_set_aside_and_named() -> Result<(), GatherError> {
        let facts = facts(vec![
            condition("mine", json!({"reference": "Patient/p1"})),
            condition(
                "full-url",
                json!({"reference": "http://example.org/fhir/Patient/p1"}),
            ),
            condition("no-subject", Value::Null),
            condition("theirs", json!({"reference": "Patient/p2"})),
            condition("elsewhere", json!({"reference": "Patient/p9"})),
            condition(
                "by-id",
                json!({"identifier": {"system": "urn:mrn", "value": "MRN-2"}}),
            ),
            condition(
                "by-my-id",
                json!({"identifier": {"system": "urn:mrn", "value": "MRN-1"}}),
            ),
            condition("group", json!({"reference": "Group/g1"})),
            json!({"resourceType": "Group", "id": "g1", "type": "person", "actual": true}),
        ])?;
        let kept: Vec<&str> = facts
            .diagnoses
            .iter()
            .map(|d| d.source.resource.as_str())
            .collect();
        assert_eq!(
            kept,
            vec![
                "Condition/mine",
                "Condition/full-url",
                "Condition/no-subject",
                "Condition/by-my-id"
            ]
        );
        let set_aside: Vec<(&str, &str)> = facts
            .set_aside
            .iter()
            .map(|s| (s.source.resource.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            set_aside,
            vec![
                (
                    "Condition/theirs",
                    "it is about another patient (Patient/p2), not the Claim's patient"
                ),
                (
                    "Condition/elsewhere",
                    "it is about another patient (Patient/p9), not the Claim's patient"
                ),
                (
                    "Condition/by-id",
                    "it is about another patient (identifier urn:mrn|MRN-2), not the Claim's patient"
                ),
                (
                    "Condition/group",
                    "it is about a Group (Group/g1), not the Claim's patient"
                ),
            ]
        );
        Ok(())
    }

    /// Issue 10, sloppy but readable: an Observation without status and a MedicationStatement
    /// without subject are read; a resource the typed model cannot read is set aside, named,
    /// and the request is still decided (no 400).
    #[test]
    fn sloppy_resources_are_read_and_unreadable_ones_set_aside() -> Result<(), GatherError> {
        let facts = facts(vec![
            json!({"resourceType": "Observation", "id": "no-status",
                "code": {"coding": [{"system": LOINC, "code": "85319-2"}]}, "valueString": "3+"}),
            json!({"resourceType": "MedicationStatement", "id": "no-subject", "status": "completed",
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "56946"}]}}),
            json!({"resourceType": "Observation", "id": "garbled", "status": "final", "code": 42}),
            json!({"resourceType": "MedicationRequest", "id": "no-status-request", "intent": "order",
                "subject": {"reference": "Patient/p1"},
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "56946"}]}}),
        ])?;
        let observations: Vec<&str> = facts
            .observations
            .iter()
            .map(|o| o.source.resource.as_str())
            .collect();
        assert_eq!(observations, vec!["Observation/no-status"]);
        let uses: Vec<(&str, MedicationSource)> = facts
            .medications
            .iter()
            .map(|m| (m.source.resource.as_str(), m.kind))
            .collect();
        // The request without status says neither history nor current: left out, as an
        // `unknown` status is.
        assert_eq!(
            uses,
            vec![(
                "MedicationStatement/no-subject",
                MedicationSource::Statement
            )]
        );
        let set_aside: Vec<(&str, &str, bool)> = facts
            .set_aside
            .iter()
            .map(|s| {
                (
                    s.source.resource.as_str(),
                    s.source.path.as_str(),
                    s.reason
                        .starts_with("it cannot be read (`Observation` is not valid FHIR R4"),
                )
            })
            .collect();
        assert_eq!(
            set_aside,
            vec![("Observation/garbled", "Bundle.entry[5].resource", true)]
        );
        Ok(())
    }

    #[test]
    fn another_patients_resource_is_not_checked_further() -> Result<(), GatherError> {
        // Its bad date is not this request's concern: it is not read at all.
        let mut theirs = condition("theirs", json!({"reference": "Patient/p2"}));
        if let Some(c) = theirs.as_object_mut() {
            c.insert("onsetDateTime".into(), json!("2026-02-30"));
        }
        let facts = facts(vec![theirs])?;
        assert_eq!(facts.set_aside.len(), 1);
        Ok(())
    }
}
