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
    extensions, medications,
};

/// `Claim.created` and every item.
pub(super) fn gather(
    view: &BundleView<'_>,
    claim: &Site<'_>,
    typed: &model::Claim,
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
        let served = match &item.serviced {
            Some(ClaimItemServiced::Date(d)) => {
                let day = model::date(d);
                Some(DateSpan {
                    start: day,
                    end: day,
                })
            }
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
        created: model::date_time(&typed.created),
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
