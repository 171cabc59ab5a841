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

use chrono::{Days, Months, NaiveDate};

use crate::fhir::model::{self, ClaimItemServiced};
use crate::fhir::{BundleView, Code, CodeSystem, Entry};

use super::products::Products;
use super::read::Reader;
use super::site::Site;
use super::{
    ClaimFacts, Concern, ConcernKind, DateSpan, GatherError, ItemFacts, MedicationSource,
    MedicationUse, UseStatus, distinct, extensions, medications, plausible,
};

/// How far before `Claim.created` a requested start may lie (retroactive requests).
const MAX_DAYS_BEFORE_CREATED: u64 = 30;
/// How far after `Claim.created` a requested start may lie.
const MAX_MONTHS_AFTER_CREATED: u32 = 12;

/// `Claim.created` and every item.
pub(super) fn gather(
    reader: &Reader<'_, '_>,
    claim: &Site<'_>,
    typed: &model::ClaimParts,
) -> Result<ClaimFacts, GatherError> {
    let created = typed.created.as_ref().and_then(model::date_time);
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
            product_codes.extend(requested_codes(reader, claim, reference)?);
        }
        // Products gain their ingredients (by code only: which policy decides an item is
        // never guessed from words).
        let product_codes = match Products::embedded() {
            Some(products) => distinct(products.expand(product_codes)),
            None => distinct(product_codes),
        };
        let item_path = format!("{}.item[{j}]", claim.path);
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
        let mut concerns = Vec::new();
        let quantity = match item.quantity.as_ref().and_then(model::quantity) {
            Some((value, unit)) => match in_mg(value, unit.as_deref()) {
                Some(mg) => {
                    if mg != value {
                        // The billing code's units, named from the request: src/ holds no
                        // drug code (the policies that read mg say 1 unit = 1 mg).
                        let units = product_codes
                            .iter()
                            .find(|c| c.system == CodeSystem::Hcpcs)
                            .map(|c| format!(" ({} units)", c.code))
                            .unwrap_or_default();
                        concerns.push(Concern {
                            kind: ConcernKind::QuantityConverted,
                            path: format!("{item_path}.quantity"),
                            message: format!(
                                "the quantity {} `{}` is read as {} mg{units}",
                                plausible::show(value),
                                unit.as_deref().unwrap_or_default(),
                                plausible::show(mg)
                            ),
                        });
                    }
                    Some(mg)
                }
                None => {
                    concerns.push(Concern {
                        kind: ConcernKind::QuantityUnit,
                        path: format!("{item_path}.quantity"),
                        message: format!(
                            "the quantity {} `{}` is neither mg nor units of the drug: the dose cannot be checked",
                            plausible::show(value),
                            unit.as_deref().unwrap_or_default()
                        ),
                    });
                    None
                }
            },
            None => None,
        };
        let start = served.and_then(|s| s.start);
        if let (Some(start), Some(created)) = (start, created)
            && let Some(why) = far_from(start, created)
        {
            let element = match &item.serviced {
                Some(ClaimItemServiced::Date(_)) => "servicedDate",
                _ => "servicedPeriod.start",
            };
            concerns.push(Concern {
                kind: ConcernKind::PeriodFarFromRequest,
                path: format!("{item_path}.{element}"),
                message: format!("the requested start {start} is {why} (Claim.created {created})"),
            });
        }
        items.push(ItemFacts {
            sequence: item.sequence.get(),
            path: item_path,
            product_codes,
            certification_type: extensions::code(raw, extensions::CERTIFICATION_TYPE)
                .or_else(|| claim_certification.clone()),
            authorization_number: extensions::string(raw, extensions::AUTHORIZATION_NUMBER),
            quantity,
            served,
            concerns,
        });
    }
    Ok(ClaimFacts { created, items })
}

/// A requested quantity in mg (the billing units of the policies' drugs), decisions.md
/// section 7: no unit, `mg` and the units-of-service spellings as sent; `g`, `ug` (`mcg`) and
/// `kg` converted; any other unit (`mL`, a vial, a package) `None`. Unit spellings compare
/// case-insensitively except `g` and `mg`/`ug`/`kg`, whose case is UCUM's but is also
/// accepted in capitals (`MG`), as X12 senders write them.
pub(super) fn in_mg(value: f64, unit: Option<&str>) -> Option<f64> {
    let unit = unit.map(str::trim).unwrap_or_default().to_ascii_lowercase();
    let mg = match unit.as_str() {
        "" | "mg" | "unit" | "units" | "un" | "{unit}" | "{units}" => value,
        "g" => value * 1000.0,
        "ug" | "mcg" => value / 1000.0,
        "kg" => value * 1_000_000.0,
        _ => return None,
    };
    mg.is_finite().then_some(mg)
}

/// Why a requested start is too far from the request's creation for an automated answer.
fn far_from(start: NaiveDate, created: NaiveDate) -> Option<String> {
    let earliest = created.checked_sub_days(Days::new(MAX_DAYS_BEFORE_CREATED));
    let latest = created.checked_add_months(Months::new(MAX_MONTHS_AFTER_CREATED));
    if earliest.is_some_and(|e| start < e) {
        Some(format!(
            "more than {MAX_DAYS_BEFORE_CREATED} days before the request (retroactive)"
        ))
    } else if latest.is_some_and(|l| start > l) {
        Some(format!(
            "more than {MAX_MONTHS_AFTER_CREATED} months after the request"
        ))
    } else {
        None
    }
}

/// The codes of the order an item's `extension-requestedService` points to; an order that is
/// not in the Bundle (or contained) adds nothing.
fn requested_codes(
    reader: &Reader<'_, '_>,
    claim: &Site<'_>,
    reference: &str,
) -> Result<Vec<Code>, GatherError> {
    let Some(target) = claim.resolve(reader.view, reference) else {
        return Ok(Vec::new());
    };
    Ok(match target.resource_type {
        "MedicationRequest" => match reader.clinical::<model::MedicationRequest>(&target)? {
            Some(res) => medications::request_drug(reader, &target, &res)?.codes,
            None => Vec::new(),
        },
        "ServiceRequest" => match reader.clinical::<model::ServiceRequest>(&target)? {
            Some(res) => res.code.as_ref().map(model::codes).unwrap_or_default(),
            None => Vec::new(),
        },
        "DeviceRequest" => match reader.clinical::<model::DeviceRequest>(&target)? {
            Some(res) => match &res.code {
                model::DeviceRequestCode::CodeableConcept(cc) => model::codes(cc),
                model::DeviceRequestCode::Reference(_) => Vec::new(),
            },
            None => Vec::new(),
        },
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
    use crate::evidence::{ConcernKind, DateSpan, GatherError, MedicationSource, UseStatus};
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
                // Added from profiles/data/drug-products.toml: the products' ingredient.
                code(CodeSystem::RxNorm, "1371041"),
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
                    code(CodeSystem::Ndc, "50242-0087-01"),
                    code(CodeSystem::RxNorm, "1371041")
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

    fn one_item(quantity: serde_json::Value, served: serde_json::Value) -> serde_json::Value {
        let mut item = json!({"sequence": 1,
            "productOrService": {"coding": [{"system": HCPCS, "code": "J9354"}]}});
        if let Some(i) = item.as_object_mut() {
            if !quantity.is_null() {
                i.insert("quantity".into(), quantity);
            }
            if let Some(served) = served.as_object() {
                i.extend(served.clone());
            }
        }
        bundle(vec![claim(json!({"item": [item]}))])
    }

    /// Regression (merge of enhertu): the conversion note named J9354 units on every item,
    /// an Enhertu (J9358) item included; it names the item's own billing code now.
    #[test]
    fn a_converted_quantity_names_the_items_own_billing_code() -> Result<(), GatherError> {
        let item = json!({"sequence": 1,
            "productOrService": {"coding": [{"system": HCPCS, "code": "J9358"}]},
            "quantity": {"value": 0.5, "system": "http://unitsofmeasure.org", "code": "g"}});
        let facts = gather_first(&bundle(vec![claim(json!({"item": [item]}))]))?;
        let messages: Vec<String> = facts
            .claim
            .items
            .iter()
            .flat_map(|i| i.concerns.iter().map(|c| c.message.clone()))
            .collect();
        assert_eq!(
            messages,
            vec!["the quantity 0.5 `g` is read as 500 mg (J9358 units)".to_owned()]
        );
        Ok(())
    }

    /// decisions.md section 7, quantity units: mg, no unit and units-of-service spellings as
    /// sent; g, ug and kg converted to mg; anything else is a concern naming the unit.
    #[test]
    fn a_converted_quantity_says_so() -> Result<(), GatherError> {
        let facts = gather_first(&one_item(
            json!({"value": 300, "system": "http://unitsofmeasure.org", "code": "g"}),
            json!({}),
        ))?;
        let messages: Vec<String> = facts
            .claim
            .items
            .iter()
            .flat_map(|i| i.concerns.iter().map(|c| c.message.clone()))
            .collect();
        assert_eq!(
            messages,
            vec!["the quantity 300 `g` is read as 300000 mg (J9354 units)".to_owned()]
        );
        Ok(())
    }

    #[test]
    fn quantities_are_read_in_mg_or_flagged() -> Result<(), GatherError> {
        let ucum = "http://unitsofmeasure.org";
        let cases = [
            (json!({"value": 300}), Some(300.0)),
            (
                json!({"value": 300, "unit": "mg", "system": ucum, "code": "mg"}),
                Some(300.0),
            ),
            (json!({"value": 300, "unit": "MG"}), Some(300.0)),
            (json!({"value": 300, "unit": "units"}), Some(300.0)),
            (json!({"value": 300, "unit": "UN"}), Some(300.0)),
            (
                json!({"value": 300, "system": ucum, "code": "{unit}"}),
                Some(300.0),
            ),
            (
                json!({"value": 300, "system": ucum, "code": "{units}"}),
                Some(300.0),
            ),
            (json!({"value": 300, "unit": "unit"}), Some(300.0)),
            (
                json!({"value": 0.3, "system": ucum, "code": "g"}),
                Some(300.0),
            ),
            (
                json!({"value": 300, "system": ucum, "code": "g"}),
                Some(300_000.0),
            ),
            (
                json!({"value": 300_000, "system": ucum, "code": "ug"}),
                Some(300.0),
            ),
            (
                json!({"value": 0.0003, "system": ucum, "code": "kg"}),
                Some(300.0),
            ),
        ];
        for (quantity, want) in cases {
            let facts = gather_first(&one_item(quantity.clone(), json!({})))?;
            let item = facts.claim.items.first();
            let got = item
                .and_then(|i| i.quantity)
                .map(|q| (q * 1e6).round() / 1e6);
            assert_eq!(got, want, "{quantity}");
            let kinds: Vec<ConcernKind> = item
                .map(|i| i.concerns.iter().map(|c| c.kind).collect())
                .unwrap_or_default();
            let converted =
                quantity["code"] == "g" || quantity["code"] == "ug" || quantity["code"] == "kg";
            let expected_kinds = if converted {
                vec![ConcernKind::QuantityConverted]
            } else {
                vec![]
            };
            assert_eq!(kinds, expected_kinds, "{quantity}");
        }
        for (quantity, unit) in [
            (json!({"value": 3, "system": ucum, "code": "mL"}), "mL"),
            (json!({"value": 2, "unit": "vial"}), "vial"),
            (
                json!({"value": 1, "system": ucum, "code": "{package}"}),
                "{package}",
            ),
        ] {
            let facts = gather_first(&one_item(quantity.clone(), json!({})))?;
            let item = facts.claim.items.first();
            assert_eq!(item.and_then(|i| i.quantity), None, "{quantity}");
            let concerns: Vec<_> = item
                .map(|i| i.concerns.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|c| (c.kind, c.path, c.message))
                .collect();
            let value = quantity["value"].clone();
            assert_eq!(
                concerns,
                vec![(
                    ConcernKind::QuantityUnit,
                    "Bundle.entry[0].resource.item[0].quantity".to_owned(),
                    format!(
                        "the quantity {value} `{unit}` is neither mg nor units of the drug: the dose cannot be checked"
                    )
                )]
            );
        }
        Ok(())
    }

    /// decisions.md section 7: a requested start more than 30 days before Claim.created
    /// (2026-11-20) or more than a year after it is a concern at the element.
    #[test]
    fn a_start_far_from_the_request_is_a_concern() -> Result<(), GatherError> {
        let cases = [
            (json!({"servicedPeriod": {"start": "2026-10-21"}}), None),
            (json!({"servicedPeriod": {"start": "2027-11-20"}}), None),
            (
                json!({"servicedPeriod": {"start": "2026-10-20", "end": "2027-01-01"}}),
                Some((
                    "servicedPeriod.start",
                    "the requested start 2026-10-20 is more than 30 days before the request (retroactive) (Claim.created 2026-11-20)",
                )),
            ),
            (
                json!({"servicedDate": "2027-11-21"}),
                Some((
                    "servicedDate",
                    "the requested start 2027-11-21 is more than 12 months after the request (Claim.created 2026-11-20)",
                )),
            ),
            (
                json!({"servicedPeriod": {"start": "0001-01-01"}}),
                Some((
                    "servicedPeriod.start",
                    "the requested start 0001-01-01 is more than 30 days before the request (retroactive) (Claim.created 2026-11-20)",
                )),
            ),
            (
                json!({"servicedPeriod": {"start": "9999-12-01"}}),
                Some((
                    "servicedPeriod.start",
                    "the requested start 9999-12-01 is more than 12 months after the request (Claim.created 2026-11-20)",
                )),
            ),
        ];
        for (served, want) in cases {
            let facts = gather_first(&one_item(serde_json::Value::Null, served.clone()))?;
            let got: Vec<(String, String)> = facts
                .claim
                .items
                .iter()
                .flat_map(|i| i.concerns.clone())
                .map(|c| (c.path, c.message))
                .collect();
            let want: Vec<(String, String)> = want
                .into_iter()
                .map(|(element, message)| {
                    (
                        format!("Bundle.entry[0].resource.item[0].{element}"),
                        message.to_owned(),
                    )
                })
                .collect();
            assert_eq!(got, want, "{served}");
        }
        Ok(())
    }
}
