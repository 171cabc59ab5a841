//! The checked request: what the checks read once from a `Claim/$submit` Bundle and hand,
//! typed, to the later steps (evidence, numbering, response, store).
//!
//! The raw JSON stays the record (it is stored and echoed byte for byte), but nothing after
//! the checks reads the Claim's identity, its prior, its items' cancellation or the Bundle's
//! references again: the service, the response builder and the store take them from here.

use serde_json::Value;

use crate::fhir::BundleView;
use crate::store::extract::{self, LookupKeys};

const PAS: &str = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition";
const RELATED_CLAIM_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship";
/// X12 1322 certification type `3`: Cancel.
const CERTIFICATION_TYPE_CANCEL: &str = "3";

/// A request Bundle that passed the checks, with what the later steps need read once.
#[derive(Debug, Clone)]
pub struct CheckedRequest {
    bundle: Value,
    read: Read,
    /// Whether the Bundle came inside a `Parameters` body (else the body was the Bundle).
    from_parameters: bool,
}

/// What the checks read from the Bundle, kept beside it.
#[derive(Debug, Clone)]
pub(super) struct Read {
    pub(super) claim_index: usize,
    pub(super) claim_full_url: String,
    pub(super) identity: RequestIdentity,
    pub(super) items: Vec<RequestedItem>,
    pub(super) keys: LookupKeys,
    /// Bundle positions of the Patient, insurer and requestor the response echoes, each once.
    pub(super) echoed: Vec<usize>,
    /// `extension-certificationType` 3 (Cancel) on the Claim itself: the whole authorization
    /// is cancelled, whatever items the Claim lists.
    pub(super) claim_cancelled: bool,
    /// Whether `Claim.provider` may be echoed as `ClaimResponse.requestor` (it names an
    /// Organization or PractitionerRole, or only an identifier).
    pub(super) requestor: bool,
}

/// Which request this is: the identity a resubmission is recognised by, together with the
/// submitter the shell establishes and the content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestIdentity {
    /// `Bundle.identifier.system` (the sender's transaction-id namespace): the submitter when
    /// the shell authenticated no client. Empty when absent.
    pub bundle_system: String,
    /// `Bundle.identifier` as `system|value`.
    pub bundle_identifier: Option<String>,
    /// The first `Claim.identifier` with a value, as `system|value`.
    pub claim_identifier: Option<String>,
    /// The claim this request updates or cancels (`Claim.related`, relationship `prior`).
    pub prior: Option<Prior>,
    /// What authorization numbers are derived from (see [`super::authz`]).
    pub(super) number_basis: String,
}

impl RequestIdentity {
    /// The authorization number of an item of this request (`reviewAction.number`).
    pub fn item_number(&self, sequence: u32) -> String {
        super::authz::item_number(&self.number_basis, sequence)
    }

    /// The number a server issues for an item: keyed with `key` over `submitter` too.
    pub fn keyed_item_number(
        &self,
        key: &super::authz::NumberKey,
        submitter: &str,
        sequence: u32,
    ) -> String {
        super::authz::keyed_item_number(key, submitter, &self.number_basis, sequence)
    }
}

/// How an update names the claim it updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prior {
    /// `related.claim.identifier`: the authorization chain that identifier belongs to.
    Identifier(String),
    /// A literal reference to a Claim carried in this Bundle (the PAS conformance kit's
    /// form): the stored version recorded with that Claim's fullUrl, else the chain of its
    /// identifier.
    Carried {
        full_url: String,
        identifier: Option<String>,
    },
    /// A literal reference to a Claim this Bundle does not carry: one stored earlier, named
    /// by its fullUrl or `Claim/id`.
    Reference(String),
}

impl Prior {
    /// The prior as part of the request's identity: the same update sent twice names its
    /// prior the same way, and two updates under one Claim identifier name different priors.
    pub fn key(&self) -> String {
        match self {
            Self::Identifier(identifier) => format!("identifier|{identifier}"),
            Self::Carried { full_url, .. } => format!("claim|{full_url}"),
            Self::Reference(reference) => format!("claim|{reference}"),
        }
    }

    /// The prior's Claim identifier, when the request says it.
    pub fn identifier(&self) -> Option<&str> {
        match self {
            Self::Identifier(identifier) => Some(identifier),
            Self::Carried { identifier, .. } => identifier.as_deref(),
            Self::Reference(_) => None,
        }
    }
}

/// One `Claim.item`, in Claim order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedItem {
    /// `Claim.item.sequence` (checked positive and unique).
    pub sequence: u32,
    /// Position in `Claim.item`, for FHIRPath locations.
    pub index: usize,
    /// The submitter cancels this item: `extension-certificationType` 3 (Cancel) on the item
    /// or on the Claim, or `modifierextension-infoCancelled` true.
    pub cancelled: bool,
}

impl Read {
    /// Reads what the later steps need from a Bundle whose structure the checks accepted,
    /// through the checks' own index of it.
    pub(super) fn of(bundle: &Value, view: &BundleView<'_>, claim_index: usize) -> Self {
        let entry = view.at(claim_index);
        let claim = &bundle["entry"][claim_index]["resource"];
        let claim_full_url = bundle["entry"][claim_index]["fullUrl"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let keys = entry
            .map(|e| extract::lookup_keys_of(view, e))
            .unwrap_or_else(|| LookupKeys::empty(claim_index));
        let claim_identifier = keys.claim_identifier.clone();
        let prior = entry.and_then(|e| prior(view, e));
        let identity = RequestIdentity {
            bundle_system: bundle
                .pointer("/identifier/system")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            bundle_identifier: bundle.get("identifier").and_then(extract::identifier_key),
            claim_identifier,
            prior,
            number_basis: super::authz::number_basis(claim, bundle, &claim_full_url),
        };
        let claim_cancelled = cancels(claim);
        let items = array(claim, "item")
            .iter()
            .enumerate()
            .filter_map(|(index, item)| {
                let sequence = item
                    .get("sequence")
                    .and_then(Value::as_u64)
                    .and_then(|s| u32::try_from(s).ok())?;
                Some(RequestedItem {
                    sequence,
                    index,
                    cancelled: claim_cancelled || cancels(item) || info_cancelled(item),
                })
            })
            .collect();
        let (echoed, requestor) = echoed(view, claim, claim_index);
        Self {
            claim_index,
            claim_full_url,
            identity,
            items,
            keys,
            echoed,
            claim_cancelled,
            requestor,
        }
    }

    /// The checked request: this reading beside the Bundle it was read from.
    pub(super) fn with(self, bundle: Value, from_parameters: bool) -> CheckedRequest {
        CheckedRequest {
            bundle,
            read: self,
            from_parameters,
        }
    }
}

impl CheckedRequest {
    /// The request Bundle as received (unwrapped from `Parameters` when it came in one).
    pub fn bundle(&self) -> &Value {
        &self.bundle
    }

    pub fn into_bundle(self) -> Value {
        self.bundle
    }

    /// Whether the Bundle came inside a `Parameters` body; otherwise the body as received
    /// is the Bundle's own text, and is what the store keeps.
    pub fn from_parameters(&self) -> bool {
        self.from_parameters
    }

    /// Position of the Claim in `Bundle.entry` (always the first entry in PAS).
    pub fn claim_index(&self) -> usize {
        self.read.claim_index
    }

    /// The Claim resource, for what the response echoes.
    pub fn claim(&self) -> &Value {
        &self.bundle["entry"][self.read.claim_index]["resource"]
    }

    /// The Claim entry's fullUrl (checked present).
    pub fn claim_full_url(&self) -> &str {
        &self.read.claim_full_url
    }

    /// FHIRPath of the Claim resource, e.g. `Bundle.entry[0].resource`.
    pub fn claim_path(&self) -> String {
        format!("Bundle.entry[{}].resource", self.read.claim_index)
    }

    /// An index over the Bundle's entries, for the evidence gatherer.
    pub fn view(&self) -> BundleView<'_> {
        BundleView::new(&self.bundle)
    }

    pub fn identity(&self) -> &RequestIdentity {
        &self.read.identity
    }

    /// Every Claim item, in Claim order.
    pub fn items(&self) -> &[RequestedItem] {
        &self.read.items
    }

    /// `Claim.item.sequence` of every item, in Claim order.
    pub fn item_sequences(&self) -> Vec<u32> {
        self.read.items.iter().map(|i| i.sequence).collect()
    }

    /// Whether every item is cancelled (the request cancels the authorization).
    pub fn cancels_everything(&self) -> bool {
        self.read.claim_cancelled
            || (!self.read.items.is_empty() && self.read.items.iter().all(|i| i.cancelled))
    }

    /// Whether the Claim itself is cancelled (certification type 3 on the Claim): every item
    /// of the authorization is, listed or not.
    pub fn cancels_claim(&self) -> bool {
        self.read.claim_cancelled
    }

    /// Whether any item is cancelled.
    pub fn cancels_anything(&self) -> bool {
        self.read.items.iter().any(|i| i.cancelled)
    }

    /// What the Claim is found under: identifier, member id, provider, insurer.
    pub fn lookup_keys(&self) -> &LookupKeys {
        &self.read.keys
    }

    /// The Bundle entries the response echoes (Patient, insurer, requestor), each once.
    pub fn echoed_entries(&self) -> impl Iterator<Item = &Value> {
        self.read.echoed.iter().map(|&i| &self.bundle["entry"][i])
    }

    /// `Claim.provider` when the response may echo it as `ClaimResponse.requestor`.
    pub fn requestor(&self) -> Option<&Value> {
        self.claim().get("provider").filter(|_| self.read.requestor)
    }
}

fn array<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// `extension-certificationType` 3 (Cancel) on this element (the Claim or an item).
fn cancels(element: &Value) -> bool {
    array(element, "extension").iter().any(|e| {
        e.get("url").and_then(Value::as_str) == Some(&format!("{PAS}/extension-certificationType"))
            && e.pointer("/valueCodeableConcept/coding")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| c.get("code").and_then(Value::as_str) == Some(CERTIFICATION_TYPE_CANCEL))
    })
}

/// `modifierextension-infoCancelled` true on an item (the PAS IG's update example).
fn info_cancelled(item: &Value) -> bool {
    array(item, "modifierExtension").iter().any(|e| {
        e.get("url").and_then(Value::as_str)
            == Some(&format!("{PAS}/modifierextension-infoCancelled"))
            && e.get("valueBoolean").and_then(Value::as_bool) == Some(true)
    })
}

/// `Claim.related` with relationship `prior`: by identifier, by a literal reference to a
/// Claim in the Bundle, or by a literal reference to a Claim stored earlier.
pub(crate) fn prior(
    view: &BundleView<'_>,
    claim: &crate::fhir::bundle::Entry<'_>,
) -> Option<Prior> {
    array(claim.resource, "related")
        .iter()
        .filter(|r| {
            r.pointer("/relationship/coding")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| {
                    c.get("code").and_then(Value::as_str) == Some("prior")
                        && c.get("system")
                            .and_then(Value::as_str)
                            .is_none_or(|s| s == RELATED_CLAIM_SYSTEM)
                })
        })
        .find_map(|r| {
            let reference = r.get("claim")?;
            if let Some(literal) = reference
                .get("reference")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                return Some(match view.resolve(literal, Some(claim.index)) {
                    Some(carried) if carried.resource_type == "Claim" => Prior::Carried {
                        full_url: carried.full_url.unwrap_or(literal).to_owned(),
                        identifier: extract::claim_identifier(carried),
                    },
                    _ => Prior::Reference(literal.to_owned()),
                });
            }
            reference
                .get("identifier")
                .and_then(extract::identifier_key)
                .map(Prior::Identifier)
        })
}

/// The Bundle positions of the Patient, insurer and requestor the response echoes, and
/// whether the provider may be echoed as requestor (profile-requestor: an Organization or a
/// PractitionerRole; a bare Practitioner, which base R4 allows on a Claim, is left out).
fn echoed(view: &BundleView<'_>, claim: &Value, claim_index: usize) -> (Vec<usize>, bool) {
    const REQUESTOR_TYPES: &[&str] = &["Organization", "PractitionerRole"];
    let resolve = |field: &str| {
        claim
            .get(field)
            .and_then(|r| r.get("reference"))
            .and_then(Value::as_str)
            .and_then(|r| view.resolve(r, Some(claim_index)))
    };
    let provider = claim.get("provider");
    let requestor = match provider {
        None => false,
        Some(p) if p.get("reference").is_none() => true,
        Some(_) => resolve("provider").is_some_and(|e| REQUESTOR_TYPES.contains(&e.resource_type)),
    };
    let mut positions = Vec::new();
    let fields: &[&str] = if requestor {
        &["patient", "insurer", "provider"]
    } else {
        &["patient", "insurer"]
    };
    for field in fields {
        if let Some(entry) = resolve(field)
            && !positions.contains(&entry.index)
        {
            positions.push(entry.index);
        }
    }
    (positions, requestor)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pas::{Limits, check};
    use serde_json::json;

    fn bundle(claim_extra: Value, items: Value) -> Value {
        let mut claim = json!({
            "resourceType": "Claim", "use": "preauthorization",
            "identifier": [{"system": "urn:trace", "value": "T-1"}],
            "type": {"coding": [{"code": "professional"}]},
            "patient": {"reference": "urn:uuid:p1"},
            "insurer": {"reference": "urn:uuid:o1"},
            "provider": {"reference": "urn:uuid:o1"},
            "item": items
        });
        for (k, v) in claim_extra.as_object().unwrap() {
            claim[k] = v.clone();
        }
        json!({
            "resourceType": "Bundle",
            "identifier": {"system": "urn:sub", "value": "b1"},
            "type": "collection",
            "timestamp": "2026-11-20T10:00:00Z",
            "entry": [
                {"fullUrl": "urn:uuid:c2", "resource": claim},
                {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient"}},
                {"fullUrl": "urn:uuid:o1", "resource": {"resourceType": "Organization"}}
            ]
        })
    }

    fn cert(code: &str) -> Value {
        json!({"url": format!("{PAS}/extension-certificationType"), "valueCodeableConcept": {
            "coding": [{"system": "https://codesystem.x12.org/005010/1322", "code": code}]}})
    }

    fn related(claim: Value) -> Value {
        json!({"related": [{"claim": claim, "relationship": {"coding": [
            {"system": RELATED_CLAIM_SYSTEM, "code": "prior"}]}}]})
    }

    #[test]
    fn cancellation_is_read_per_item_and_from_the_claim() {
        let items = json!([
            {"sequence": 1, "extension": [cert("I")]},
            {"sequence": 2, "extension": [cert("3")]},
            {"sequence": 3, "modifierExtension": [{"url": format!("{PAS}/modifierextension-infoCancelled"), "valueBoolean": true}]},
            {"sequence": 4, "modifierExtension": [{"url": format!("{PAS}/modifierextension-infoCancelled"), "valueBoolean": false}]},
        ]);
        let checked = check(bundle(json!({}), items.clone()), &Limits::default()).unwrap();
        let cancelled: Vec<(u32, bool)> = checked
            .items()
            .iter()
            .map(|i| (i.sequence, i.cancelled))
            .collect();
        assert_eq!(cancelled, [(1, false), (2, true), (3, true), (4, false)]);
        assert!(!checked.cancels_everything());
        // certificationType 3 on the Claim itself cancels every item.
        let on_claim = json!({"extension": [cert("3")]});
        let checked = check(bundle(on_claim, items), &Limits::default()).unwrap();
        assert!(checked.items().iter().all(|i| i.cancelled));
        assert!(checked.cancels_everything());
    }

    #[test]
    fn the_prior_is_read_by_identifier_carried_claim_or_stored_reference() {
        let items = json!([{"sequence": 1}]);
        let prior_of = |claim: Value| {
            let mut bundle = bundle(related(claim.clone()), items.clone());
            if claim.get("reference") == Some(&json!("urn:uuid:c1")) {
                // An update carries its prior Claim.
                bundle["entry"].as_array_mut().unwrap().push(json!(
                    {"fullUrl": "urn:uuid:c1", "resource": {"resourceType": "Claim",
                        "identifier": [{"system": "urn:trace", "value": "T-1"}]}}));
            }
            check(bundle, &Limits::default())
                .unwrap()
                .identity()
                .prior
                .clone()
        };
        assert_eq!(
            prior_of(json!({"identifier": {"system": "urn:trace", "value": "T-0"}})),
            Some(Prior::Identifier("urn:trace|T-0".into()))
        );
        let carried = prior_of(json!({"reference": "urn:uuid:c1"}));
        assert_eq!(
            carried,
            Some(Prior::Carried {
                full_url: "urn:uuid:c1".into(),
                identifier: Some("urn:trace|T-1".into())
            })
        );
        assert_eq!(carried.unwrap().key(), "claim|urn:uuid:c1");
        assert_eq!(
            prior_of(json!({"reference": "http://ehr.example/fhir/Claim/77"})),
            Some(Prior::Reference("http://ehr.example/fhir/Claim/77".into()))
        );
        assert_eq!(prior_of(json!({"display": "the earlier one"})), None);
    }

    #[test]
    fn identity_carries_bundle_and_claim_identifiers() {
        let checked = check(
            bundle(json!({}), json!([{"sequence": 1}])),
            &Limits::default(),
        )
        .unwrap();
        let identity = checked.identity();
        assert_eq!(identity.bundle_system, "urn:sub");
        assert_eq!(identity.bundle_identifier.as_deref(), Some("urn:sub|b1"));
        assert_eq!(identity.claim_identifier.as_deref(), Some("urn:trace|T-1"));
        assert_eq!(identity.prior, None);
        // Patient and insurer (also the provider) echoed once each.
        assert_eq!(checked.read.echoed, vec![1, 2]);
        assert!(checked.requestor().is_some());
    }
}
