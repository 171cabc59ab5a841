//! Builders for the gatherer's unit tests: small request Bundles written with `json!`.

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::fhir::{BundleView, Code, CodeSystem};

use super::{Facts, GatherError, gather};

pub const HCPCS: &str = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets";
pub const LOINC: &str = "http://loinc.org";
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
pub const NDC: &str = "http://hl7.org/fhir/sid/ndc";
pub const ICD: &str = "http://hl7.org/fhir/sid/icd-10-cm";
pub const SNOMED: &str = "http://snomed.info/sct";

/// A Bundle of `resources`, each with fullUrl `http://example.org/fhir/{type}/{id}`.
pub fn bundle(resources: Vec<Value>) -> Value {
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let rtype = r.get("resourceType").and_then(Value::as_str).unwrap_or("");
            let id = r.get("id").and_then(Value::as_str).unwrap_or("");
            json!({"fullUrl": format!("http://example.org/fhir/{rtype}/{id}"), "resource": r})
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "collection", "entry": entries})
}

/// A minimal valid R4 Claim `c1`, with `extra` elements added (or replaced).
pub fn claim(extra: Value) -> Value {
    let mut claim = json!({
        "resourceType": "Claim", "id": "c1", "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "use": "preauthorization",
        "patient": {"reference": "Patient/p1"},
        "created": "2026-11-20T10:00:00-05:00",
        "provider": {"reference": "Organization/o1"},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": true, "coverage": {"reference": "Coverage/cov1"}}]
    });
    if let (Some(target), Some(extra)) = (claim.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            target.insert(k.clone(), v.clone());
        }
    }
    claim
}

/// A Claim item with a productOrService coding and optional extensions.
pub fn item(sequence: u32, system: &str, code: &str, extensions: Value) -> Value {
    json!({"sequence": sequence, "extension": extensions,
        "productOrService": {"coding": [{"system": system, "code": code}]}})
}

/// A PAS extension with the given value element.
pub fn pas_ext(name: &str, value_key: &str, value: Value) -> Value {
    let mut ext =
        json!({"url": format!("http://hl7.org/fhir/us/davinci-pas/StructureDefinition/{name}")});
    if let Some(obj) = ext.as_object_mut() {
        obj.insert(value_key.to_owned(), value);
    }
    ext
}

/// Gathers around the first Claim of `bundle`.
pub fn gather_first(bundle: &Value) -> Result<Facts, GatherError> {
    let view = BundleView::new(bundle);
    let claim = view.of_type("Claim").next().copied().ok_or(GatherError {
        path: "Bundle".into(),
        message: "no Claim in the test bundle".into(),
    })?;
    gather(&view, &claim)
}

pub fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

pub fn code(system: CodeSystem, code: &str) -> Code {
    Code::of(system, code)
}

/// One request Bundle with every resource kind the gatherer reads, for robustness tests.
pub fn rich_bundle() -> Value {
    bundle(vec![
        claim(json!({
        "contained": [{"resourceType": "QuestionnaireResponse", "id": "qr", "status": "completed",
            "item": [{"linkId": "request-type", "answer": [{"valueCoding": {"code": "initial"}}]}]}],
        "supportingInfo": [{"sequence": 1, "category": {"text": "q"}, "valueReference": {"reference": "#qr"}}],
        "diagnosis": [
            {"sequence": 1, "diagnosisCodeableConcept": {"coding": [{"system": ICD, "code": "C50911"}]},
             "extension": [pas_ext("extension-diagnosisRecordedDate", "valueDate", json!("2026-01-02"))]},
            {"sequence": 2, "diagnosisReference": {"reference": "Condition/cond1"}}],
        "item": [
            item(1, HCPCS, "J9354", json!([
                pas_ext("extension-requestedService", "valueReference", json!({"reference": "MedicationRequest/mr1"})),
                pas_ext("extension-certificationType", "valueCodeableConcept", json!({"coding": [{"code": "I"}]})),
                pas_ext("extension-authorizationNumber", "valueString", json!("A1"))])),
            {"sequence": 2, "productOrService": {"coding": [{"system": HCPCS, "code": "J9306"}]},
             "quantity": {"value": 420}, "servicedPeriod": {"start": "2026-12-01", "end": "2027-05-31"}}
        ]})),
        json!({"resourceType": "MedicationRequest", "id": "mr1", "status": "active", "intent": "order",
            "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": "Medication/med1"}}),
        json!({"resourceType": "Medication", "id": "med1", "code": {"coding": [{"system": NDC, "code": "50242-088-01"}]},
            "ingredient": [{"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "1371041"}]}}]}),
        json!({"resourceType": "Condition", "id": "cond1", "subject": {"reference": "Patient/p1"},
            "verificationStatus": {"coding": [{"code": "confirmed"}]},
            "code": {"coding": [{"system": ICD, "code": "C79.81"}]}, "onsetDateTime": "2026-02-01"}),
        json!({"resourceType": "Observation", "id": "ish", "status": "final", "code": {"coding": [{"system": LOINC, "code": "74885-5"}]},
            "effectiveDateTime": "2026-01-05T10:00:00+01:00",
            "component": [{"code": {"coding": [{"system": LOINC, "code": "49683-6"}]}, "valueQuantity": {"value": 2.2, "code": "{ratio}"}}]}),
        json!({"resourceType": "Observation", "id": "ihc", "status": "final", "code": {"coding": [{"system": LOINC, "code": "85319-2"}]},
            "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA11843-2"}], "text": "3+"}}),
        json!({"resourceType": "MedicationStatement", "id": "ms1", "status": "completed", "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "224905"}]},
            "effectivePeriod": {"start": "2025-01-01", "end": "2025-06-01"}}),
        json!({"resourceType": "MedicationAdministration", "id": "ma1", "status": "completed", "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "56946"}]}, "effectiveDateTime": "2025-02-01"}),
        json!({"resourceType": "Procedure", "id": "pr1", "status": "completed", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.285", "code": "J9355"}]}, "performedDateTime": "2025-03-01"}),
        json!({"resourceType": "QuestionnaireResponse", "id": "qr2", "status": "completed",
            "item": [{"linkId": "g", "item": [{"linkId": "prior-taxane", "answer": [{"valueBoolean": true, "item": [
                {"linkId": "neoadjuvant-weeks", "answer": [{"valueInteger": 18}]}]}]}]}]}),
    ])
}
