//! The Claim and its items: what is requested, for when, in what quantity, and whether it
//! continues an earlier authorization.
//!
//! An item's product codes are its `productOrService` codings plus the codes of the order its
//! `extension-requestedService` points to (a MedicationRequest's medication, a ServiceRequest's
//! or DeviceRequest's code), because EHRs often code the drug only on the order. The
//! certification type is the item's own extension, else the Claim-level one (the extension is
//! allowed on both).

use std::collections::HashSet;

use serde_json::Value;

use crate::fhir::model::{self, ClaimItemServiced};
use crate::fhir::{BundleView, Code, Entry};

use super::site::Site;
use super::{
    ClaimFacts, DateSpan, GatherError, ItemFacts, MedicationSource, MedicationUse, UseStatus,
    distinct, extensions, medications,
};

/// `Claim.created` and every item.
pub(super) fn gather(
    view: &BundleView<'_>,
    claim: &Site<'_>,
    typed: &model::ClaimParts,
) -> Result<ClaimFacts, GatherError> {
    let raw_items = claim.resource.get("item").and_then(Value::as_array);
    let claim_certification = extensions::code(claim.resource, extensions::CERTIFICATION_TYPE);
    let mut items = Vec::new();
    for (j, item) in typed.item.iter().enumerate() {
        let Some(item) = item else { continue };
        let raw = raw_items
            .and_then(|items| items.get(j))
            .unwrap_or(&Value::Null);
        let mut product_codes = model::codes(&item.product_or_service);
        if let Some(reference) = extensions::reference(raw, extensions::REQUESTED_SERVICE) {
            product_codes.extend(requested_codes(view, claim, reference)?);
        }
        let product_codes = distinct(product_codes);
        let served = match &item.serviced {
            // A servicedDate names the requested start (decisions.md section 6); the end is
            // left open, so the period runs to the policy's longest authorization.
            Some(ClaimItemServiced::Date(d)) => Some(DateSpan {
                start: model::date(d),
                end: None,
            }),
            Some(ClaimItemServiced::Period(p)) => {
                let (start, end) = model::period(p);
                Some(DateSpan { start, end })
            }
            None => None,
        };
        items.push(ItemFacts {
            sequence: item.sequence.get(),
            path: format!("{}.item[{j}]", claim.path),
            product_codes,
            certification_type: extensions::code(raw, extensions::CERTIFICATION_TYPE)
                .or_else(|| claim_certification.clone()),
            authorization_number: extensions::string(raw, extensions::AUTHORIZATION_NUMBER),
            quantity: item.quantity.as_ref().and_then(|q| q.value),
            served,
        });
    }
    Ok(ClaimFacts {
        created: typed.created.as_ref().and_then(model::date_time),
        items,
    })
}

/// The codes of the order an item's `extension-requestedService` points to; an order that is
/// not in the Bundle (or contained) adds nothing.
fn requested_codes(
    view: &BundleView<'_>,
    claim: &Site<'_>,
    reference: &str,
) -> Result<Vec<Code>, GatherError> {
    let Some(target) = claim.resolve(view, reference) else {
        return Ok(Vec::new());
    };
    Ok(match target.resource_type {
        "MedicationRequest" => {
            let res: model::MedicationRequest = model::parse(target.resource, &target.path)?;
            medications::request_codes(view, &target, &res)?
        }
        "ServiceRequest" => {
            let res: model::ServiceRequest = model::parse(target.resource, &target.path)?;
            res.code.as_ref().map(model::codes).unwrap_or_default()
        }
        "DeviceRequest" => {
            let res: model::DeviceRequest = model::parse(target.resource, &target.path)?;
            match &res.code {
                model::DeviceRequestCode::CodeableConcept(cc) => model::codes(cc),
                model::DeviceRequestCode::Reference(_) => Vec::new(),
            }
        }
        _ => Vec::new(),
    })
}

/// Entry indexes of the MedicationRequests that any Claim item in the Bundle requests: they
/// are the requests themselves, not therapy.
pub(super) fn requested_entries(view: &BundleView<'_>) -> HashSet<usize> {
    let mut requested = HashSet::new();
    for claim in view.of_type("Claim") {
        let items = claim.resource.get("item").and_then(Value::as_array);
        for item in items.into_iter().flatten() {
            let target = extensions::reference(item, extensions::REQUESTED_SERVICE)
                .and_then(|r| view.resolve(r, Some(claim.index)));
            if let Some(target) = target.filter(|t| t.resource_type == "MedicationRequest") {
                requested.insert(target.index);
            }
        }
    }
    requested
}

/// Every item of the Claim as a current use over its served period: the engine compares the
/// item it decides with the others (and skips itself by sequence).
pub(super) fn item_uses(claim: &Entry<'_>, facts: &ClaimFacts) -> Vec<MedicationUse> {
    facts
        .items
        .iter()
        .map(|item| MedicationUse {
            codes: item.product_codes.clone(),
            kind: MedicationSource::ClaimItem(item.sequence),
            status: UseStatus::Current,
            start: item.served.and_then(|s| s.start),
            end: item.served.and_then(|s| s.end),
            source: super::Source {
                resource: claim.label(),
                path: item.path.clone(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::evidence::testing::*;
    use crate::evidence::{DateSpan, GatherError, MedicationSource, UseStatus};
    use crate::fhir::{Code, CodeSystem};

    fn kadcyla_request() -> serde_json::Value {
        json!({"resourceType": "MedicationRequest", "id": "mr-kadcyla", "status": "active",
            "intent": "order", "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"coding": [
                {"system": NDC, "code": "50242-088-01"},
                {"system": RXNORM, "code": "1371046"}]}})
    }

    #[test]
    fn items_carry_codes_certification_authorization_quantity_and_period() -> Result<(), GatherError>
    {
        let raw = bundle(vec![claim(json!({
        "extension": [pas_ext("extension-certificationType", "valueCodeableConcept",
            json!({"coding": [{"system": "https://codesystem.x12.org/005010/1322", "code": "I"}]}))],
        "item": [
            {"sequence": 1,
             "extension": [
                pas_ext("extension-certificationType", "valueCodeableConcept",
                    json!({"coding": [{"system": "https://codesystem.x12.org/005010/1322", "code": "4"}]})),
                pas_ext("extension-authorizationNumber", "valueString", json!(" AUTH-77 "))],
             "productOrService": {"coding": [{"system": "https://bluebutton.cms.gov/resources/codesystem/hcpcs", "code": "j9354"}]},
             "quantity": {"value": 720},
             "servicedPeriod": {"start": "2026-12-01", "end": "2027-05-31T23:00:00-08:00"}},
            {"sequence": 2,
             "productOrService": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.285", "code": "J9355"}]},
             "servicedDate": "2026-12-03"}
        ]}))]);
        let facts = gather_first(&raw)?;
        assert_eq!(facts.claim.created, ymd(2026, 11, 20));
        let [first, second] = facts.claim.items.as_slice() else {
            return Err(GatherError {
                path: String::new(),
                message: "two items expected".into(),
            });
        };
        assert_eq!(first.sequence, 1);
        assert_eq!(first.path, "Bundle.entry[0].resource.item[0]");
        assert_eq!(first.product_codes, vec![code(CodeSystem::Hcpcs, "J9354")]);
        assert_eq!(first.certification_type.as_deref(), Some("4"));
        assert_eq!(first.authorization_number.as_deref(), Some("AUTH-77"));
        assert_eq!(first.quantity, Some(720.0));
        assert_eq!(
            first.served,
            Some(DateSpan {
                start: ymd(2026, 12, 1),
                end: ymd(2027, 5, 31)
            })
        );
        // No item extension: the Claim-level certification type applies.
        assert_eq!(second.certification_type.as_deref(), Some("I"));
        assert_eq!(second.authorization_number, None);
        assert_eq!(second.quantity, None);
        assert_eq!(second.product_codes, vec![code(CodeSystem::Hcpcs, "J9355")]);
        assert_eq!(
            second.served,
            Some(DateSpan {
                start: ymd(2026, 12, 3),
                end: None
            })
        );
        Ok(())
    }

    #[test]
    fn requested_medication_request_codes_the_item_and_is_not_therapy() -> Result<(), GatherError> {
        let other = json!({"resourceType": "MedicationRequest", "id": "mr-pertuzumab", "status": "active",
            "intent": "order", "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1298944"}]}});
        let raw = bundle(vec![
            claim(json!({"item": [item(1, HCPCS, "J3490", json!([
                pas_ext("extension-requestedService", "valueReference",
                    json!({"reference": "MedicationRequest/mr-kadcyla"}))]))]})),
            kadcyla_request(),
            other,
        ]);
        let facts = gather_first(&raw)?;
        assert_eq!(
            facts.claim.items.first().map(|i| i.product_codes.clone()),
            Some(vec![
                code(CodeSystem::Hcpcs, "J3490"),
                code(CodeSystem::Ndc, "50242008801"),
                code(CodeSystem::RxNorm, "1371046"),
            ])
        );
        let requests: Vec<_> = facts
            .medications
            .iter()
            .filter(|m| m.kind == MedicationSource::Request)
            .collect();
        assert_eq!(requests.len(), 1);
        assert_eq!(
            requests.first().map(|m| m.source.resource.as_str()),
            Some("MedicationRequest/mr-pertuzumab")
        );
        Ok(())
    }

    /// The order's codes are added once: J9354 on both the item and the Medication is one code.
    #[test]
    fn requested_medication_reference_reaches_the_medication() -> Result<(), GatherError> {
        let request = json!({"resourceType": "MedicationRequest", "id": "mr1", "status": "active",
            "intent": "order", "subject": {"reference": "Patient/p1"},
            "contained": [{"resourceType": "Medication", "id": "med",
                "code": {"coding": [{"system": NDC, "code": "50242008701"},
                    {"system": "urn:oid:2.16.840.1.113883.6.285", "code": "J9354"}]}}],
            "medicationReference": {"reference": "#med"}});
        let service = json!({"resourceType": "ServiceRequest", "id": "sr1", "status": "active",
            "intent": "order", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "96413"}]}});
        let raw = bundle(vec![
            claim(json!({"item": [
                item(1, HCPCS, "J9354", json!([pas_ext("extension-requestedService", "valueReference",
                    json!({"reference": "http://example.org/fhir/MedicationRequest/mr1"}))])),
                item(2, HCPCS, "96413", json!([pas_ext("extension-requestedService", "valueReference",
                    json!({"reference": "ServiceRequest/sr1"}))])),
                item(3, HCPCS, "J9354", json!([pas_ext("extension-requestedService", "valueReference",
                    json!({"reference": "MedicationRequest/not-here"}))]))
            ]})),
            request,
            service,
        ]);
        let facts = gather_first(&raw)?;
        let codes: Vec<_> = facts
            .claim
            .items
            .iter()
            .map(|i| i.product_codes.clone())
            .collect();
        assert_eq!(
            codes,
            vec![
                vec![
                    code(CodeSystem::Hcpcs, "J9354"),
                    code(CodeSystem::Ndc, "50242-0087-01")
                ],
                vec![
                    code(CodeSystem::Hcpcs, "96413"),
                    Code::new("http://www.ama-assn.org/go/cpt", "96413")
                ],
                vec![code(CodeSystem::Hcpcs, "J9354")],
            ]
        );
        Ok(())
    }

    #[test]
    fn every_item_is_a_current_use_over_its_period() -> Result<(), GatherError> {
        let raw = bundle(vec![claim(json!({"item": [
            {"sequence": 1, "productOrService": {"coding": [{"system": HCPCS, "code": "J9354"}]},
             "servicedPeriod": {"start": "2026-12-01", "end": "2027-05-31"}},
            {"sequence": 2, "productOrService": {"coding": [{"system": HCPCS, "code": "J9306"}]},
             "servicedDate": "2026-12-02"}
        ]}))]);
        let facts = gather_first(&raw)?;
        let uses: Vec<_> = facts
            .medications
            .iter()
            .map(|m| {
                (
                    m.kind,
                    m.status,
                    m.codes.clone(),
                    m.start,
                    m.end,
                    m.source.path.clone(),
                )
            })
            .collect();
        assert_eq!(
            uses,
            vec![
                (
                    MedicationSource::ClaimItem(1),
                    UseStatus::Current,
                    vec![code(CodeSystem::Hcpcs, "J9354")],
                    ymd(2026, 12, 1),
                    ymd(2027, 5, 31),
                    "Bundle.entry[0].resource.item[0]".to_owned()
                ),
                (
                    MedicationSource::ClaimItem(2),
                    UseStatus::Current,
                    vec![code(CodeSystem::Hcpcs, "J9306")],
                    ymd(2026, 12, 2),
                    None,
                    "Bundle.entry[0].resource.item[1]".to_owned()
                ),
            ]
        );
        Ok(())
    }

    #[test]
    fn requests_of_another_claim_in_the_bundle_are_not_therapy_either() -> Result<(), GatherError> {
        let update = claim(json!({"id": "c0", "item": [item(1, HCPCS, "J9354", json!([
            pas_ext("extension-requestedService", "valueReference",
                json!({"reference": "MedicationRequest/mr-kadcyla"}))]))]}));
        let raw = bundle(vec![claim(json!({})), update, kadcyla_request()]);
        let facts = gather_first(&raw)?;
        assert!(
            facts
                .medications
                .iter()
                .all(|m| m.kind != MedicationSource::Request)
        );
        Ok(())
    }
}
