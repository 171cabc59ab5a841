//! The keys a submission is stored and found under, read from the raw request Bundle, and the
//! content hash that makes a resubmission recognisable.
//!
//! Identifiers are stored as `system|value` (or the bare value when the system is absent), so
//! a request and a later inquiry naming the same identifier produce the same key. The member
//! id is a bare value: `Coverage.subscriberId` has no system.

use std::fmt::Write as _;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fhir::bundle::{BundleView, Entry};

/// The NPI naming system; a provider's NPI is preferred over its other identifiers.
pub const NPI_SYSTEM: &str = "http://hl7.org/fhir/sid/us-npi";
const IDENTIFIER_TYPE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";

/// What a request Bundle is stored and matched under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKeys {
    /// Who submitted: `Bundle.identifier.system` (the submitter's transaction-id namespace),
    /// or the empty string when the Bundle has none. The service replaces it with the
    /// authenticated client's key (`crate::auth::Caller::submitter`) whenever there is one.
    pub submitter: String,
    /// `Bundle.identifier` as `system|value`.
    pub bundle_identifier: Option<String>,
    /// `Claim.identifier` (the first with a value) as `system|value`.
    pub claim_identifier: String,
    /// `Coverage.subscriberId`, else a Coverage or Patient identifier of type `MB`.
    pub patient_member_id: Option<String>,
    /// The provider's NPI as `http://hl7.org/fhir/sid/us-npi|value`, else its first identifier.
    pub provider_id: Option<String>,
    /// The insurer's first identifier as `system|value`.
    pub insurer_id: Option<String>,
    /// The identifier of the claim this one updates or cancels (`Claim.related` with
    /// relationship `prior`), as `system|value`, when the request says it.
    pub prior_claim_identifier: Option<String>,
    /// The prior as the request names it ([`crate::pas::Prior::key`]); empty for an original
    /// request. With the submitter and the Claim identifier, the identity of the request.
    pub prior_key: String,
    /// The Claim entry's fullUrl, by which a later update may name this version.
    pub claim_full_url: Option<String>,
    /// The Claim's logical id, by which a later update may name this version (`Claim/id`).
    pub claim_resource_id: Option<String>,
}

impl RequestKeys {
    /// The keys of a checked request sent by `submitter`, from what the checks read.
    pub fn of(submitter: &str, request: &crate::pas::CheckedRequest) -> Result<Self, ExtractError> {
        let identity = request.identity();
        let lookup = request.lookup_keys();
        let claim_identifier = identity
            .claim_identifier
            .clone()
            .ok_or_else(|| ExtractError {
                path: format!("{}.identifier", request.claim_path()),
                message: "the Claim has no identifier with a value".to_owned(),
            })?;
        Ok(Self {
            submitter: submitter.to_owned(),
            bundle_identifier: identity.bundle_identifier.clone(),
            claim_identifier,
            patient_member_id: lookup.patient_member_id.clone(),
            provider_id: lookup.provider_id.clone(),
            insurer_id: lookup.insurer_id.clone(),
            prior_claim_identifier: identity
                .prior
                .as_ref()
                .and_then(|p| p.identifier())
                .map(str::to_owned),
            prior_key: identity.prior.as_ref().map(|p| p.key()).unwrap_or_default(),
            claim_full_url: Some(request.claim_full_url().to_owned()),
            claim_resource_id: request
                .claim()
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// A request that lacks what the store needs, with the FHIRPath location of the gap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at `{path}`")]
pub struct ExtractError {
    pub path: String,
    pub message: String,
}

/// The Claim of a PAS Bundle: `Bundle.entry[0]` when it is a Claim (the PAS rule), else the
/// first Claim entry (an update Bundle also carries the prior Claim, after the first entry).
pub fn focal_claim<'v, 'a>(view: &'v BundleView<'a>) -> Option<&'v Entry<'a>> {
    view.at(0)
        .filter(|e| e.resource_type == "Claim")
        .or_else(|| view.of_type("Claim").next())
}

/// The keys a Bundle names its Claim by, any of which may be missing (an inquiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupKeys {
    /// The FHIRPath of the Claim entry, for errors.
    pub claim_path: String,
    pub claim_identifier: Option<String>,
    pub patient_member_id: Option<String>,
    pub provider_id: Option<String>,
    pub insurer_id: Option<String>,
}

impl LookupKeys {
    /// No keys (a Claim entry the index could not read).
    pub fn empty(claim_index: usize) -> Self {
        Self {
            claim_path: format!("Bundle.entry[{claim_index}].resource"),
            claim_identifier: None,
            patient_member_id: None,
            provider_id: None,
            insurer_id: None,
        }
    }
}

/// What the Claim in `claim` is found under, through an index of its Bundle.
pub fn lookup_keys_of(view: &BundleView<'_>, claim: &Entry<'_>) -> LookupKeys {
    LookupKeys {
        claim_path: claim.path(),
        claim_identifier: claim_identifier(claim),
        patient_member_id: member_id(view, claim),
        provider_id: provider_id(view, claim),
        insurer_id: insurer_id(view, claim),
    }
}

/// Reads what a Bundle's Claim is found under; fails only when there is no Claim.
pub fn lookup_keys(bundle: &Value) -> Result<LookupKeys, ExtractError> {
    let view = BundleView::new(bundle);
    let claim = focal_claim(&view).ok_or_else(|| ExtractError {
        path: "Bundle.entry".to_owned(),
        message: "the Bundle holds no Claim".to_owned(),
    })?;
    Ok(lookup_keys_of(&view, claim))
}

/// Reads the store keys of a `$submit` request Bundle that has not been through the checks
/// (store tests, tools); the service takes them from its checked request
/// ([`RequestKeys::of`]). The submitter is `Bundle.identifier.system`.
pub fn request_keys(bundle: &Value) -> Result<RequestKeys, ExtractError> {
    let view = BundleView::new(bundle);
    let claim = focal_claim(&view).ok_or_else(|| ExtractError {
        path: "Bundle.entry".to_owned(),
        message: "the Bundle holds no Claim".to_owned(),
    })?;
    let claim_identifier = claim_identifier(claim).ok_or_else(|| ExtractError {
        path: format!("{}.identifier", claim.path()),
        message: "the Claim has no identifier with a value".to_owned(),
    })?;
    let bundle_identifier = bundle.get("identifier").and_then(identifier_key);
    let submitter = bundle
        .pointer("/identifier/system")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let prior = crate::pas::request::prior(&view, claim);
    Ok(RequestKeys {
        submitter,
        bundle_identifier,
        claim_identifier,
        patient_member_id: member_id(&view, claim),
        provider_id: provider_id(&view, claim),
        insurer_id: insurer_id(&view, claim),
        prior_claim_identifier: prior
            .as_ref()
            .and_then(|p| p.identifier())
            .map(str::to_owned),
        prior_key: prior.as_ref().map(|p| p.key()).unwrap_or_default(),
        claim_full_url: claim.full_url.map(str::to_owned),
        claim_resource_id: claim.id.map(str::to_owned),
    })
}

/// `system|value`, or the bare value without a system; `None` without a value.
pub fn identifier_key(identifier: &Value) -> Option<String> {
    let value = identifier
        .get("value")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())?;
    match identifier
        .get("system")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(system) => Some(format!("{system}|{value}")),
        None => Some(value.to_owned()),
    }
}

/// The first `Claim.identifier` with a value.
pub fn claim_identifier(claim: &Entry<'_>) -> Option<String> {
    identifiers(claim.resource).find_map(identifier_key)
}

fn identifiers(resource: &Value) -> impl Iterator<Item = &Value> {
    resource
        .get("identifier")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn has_type(identifier: &Value, code: &str) -> bool {
    identifier
        .pointer("/type/coding")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("code").and_then(Value::as_str) == Some(code)
                && c.get("system")
                    .and_then(Value::as_str)
                    .is_none_or(|s| s == IDENTIFIER_TYPE_SYSTEM)
        })
}

/// Follows a Reference made by `from`: to the Bundle entry it names, if any.
fn resolve<'v, 'a>(
    view: &'v BundleView<'a>,
    from: &Entry<'a>,
    reference: Option<&Value>,
) -> Option<&'v Entry<'a>> {
    let target = reference?.get("reference")?.as_str()?;
    view.resolve(target, Some(from.index))
}

/// A logical reference's own identifier (`Reference.identifier`), when it carries one.
fn reference_identifier(reference: Option<&Value>) -> Option<String> {
    reference?.get("identifier").and_then(identifier_key)
}

/// The Coverage of the focal insurance (`focal: true`, else the first).
fn coverage<'v, 'a>(view: &'v BundleView<'a>, claim: &Entry<'a>) -> Option<&'v Entry<'a>> {
    let insurance = claim.resource.get("insurance").and_then(Value::as_array)?;
    let focal = insurance
        .iter()
        .find(|i| i.get("focal").and_then(Value::as_bool) == Some(true))
        .or_else(|| insurance.first())?;
    resolve(view, claim, focal.get("coverage")).filter(|e| e.resource_type == "Coverage")
}

fn member_id(view: &BundleView<'_>, claim: &Entry<'_>) -> Option<String> {
    let coverage = coverage(view, claim);
    let subscriber_id = coverage
        .and_then(|c| c.resource.get("subscriberId"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let typed_mb = |resource: &Value| {
        identifiers(resource)
            .filter(|i| has_type(i, "MB"))
            .find_map(|i| i.get("value").and_then(Value::as_str))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    subscriber_id
        .or_else(|| coverage.and_then(|c| typed_mb(c.resource)))
        .or_else(|| {
            resolve(view, claim, claim.resource.get("patient"))
                .filter(|p| p.resource_type == "Patient")
                .and_then(|p| typed_mb(p.resource))
        })
}

/// The NPI of a resource, else its first identifier.
fn npi_or_first(resource: &Value) -> Option<String> {
    identifiers(resource)
        .find(|i| i.get("system").and_then(Value::as_str) == Some(NPI_SYSTEM))
        .and_then(identifier_key)
        .or_else(|| identifiers(resource).find_map(identifier_key))
}

fn provider_id(view: &BundleView<'_>, claim: &Entry<'_>) -> Option<String> {
    let reference = claim.resource.get("provider");
    let Some(provider) = resolve(view, claim, reference) else {
        return reference_identifier(reference);
    };
    if let Some(id) = npi_or_first(provider.resource) {
        return Some(id);
    }
    // A PractitionerRole usually carries no identifier itself: its practitioner's NPI, else
    // its organization's, names the provider.
    if provider.resource_type == "PractitionerRole" {
        for field in ["practitioner", "organization"] {
            let r = provider.resource.get(field);
            let id = resolve(view, provider, r)
                .and_then(|e| npi_or_first(e.resource))
                .or_else(|| reference_identifier(r));
            if id.is_some() {
                return id;
            }
        }
    }
    None
}

fn insurer_id(view: &BundleView<'_>, claim: &Entry<'_>) -> Option<String> {
    let reference = claim.resource.get("insurer");
    resolve(view, claim, reference)
        .and_then(|e| identifiers(e.resource).find_map(identifier_key))
        .or_else(|| reference_identifier(reference))
}

/// SHA-256 (hex) of the request's content, the same for every resubmission of one request.
///
/// Object keys are sorted recursively, so member order does not matter, and the Bundle's own
/// `id`, `meta` and `timestamp` are left out: they describe the transmission (an EHR that
/// retries may rebuild the envelope) and not what is asked.
///
/// The canonical form is streamed into the hash as it is serialized ([`Canonical`]): no copy
/// of the Bundle is built. The bytes hashed are exactly `serde_json::to_vec` of the Bundle
/// with its keys sorted, so hashes stored by earlier versions still match.
pub fn content_hash(bundle: &Value) -> String {
    // serde_json writes in small pieces (a quote, a key, a comma): buffered, the digest is
    // fed in blocks.
    let mut hasher = std::io::BufWriter::with_capacity(8 * 1024, HashWriter(Sha256::new()));
    // Serializing a Value cannot fail (its keys are strings) and the hash writer never fails.
    let _ = serde_json::to_writer(&mut hasher, &Canonical::top(bundle));
    let _ = std::io::Write::flush(&mut hasher);
    let digest = hasher.into_parts().0.0.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Bundle members that describe the transmission, not the request: not hashed.
const ENVELOPE: [&str; 3] = ["id", "meta", "timestamp"];

/// A JSON value serialized with every object's keys in sorted order (serde_json keeps
/// insertion order here), the top-level object without its [`ENVELOPE`] members.
struct Canonical<'a> {
    value: &'a Value,
    top: bool,
}

impl<'a> Canonical<'a> {
    fn top(value: &'a Value) -> Self {
        Self { value, top: true }
    }

    fn inner(value: &'a Value) -> Self {
        Self { value, top: false }
    }
}

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map
                    .iter()
                    .filter(|(k, _)| !(self.top && ENVELOPE.contains(&k.as_str())))
                    .collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    out.serialize_entry(key, &Canonical::inner(value))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Canonical::inner(item))?;
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// Feeds serialized bytes straight into the digest.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_keys_of_the_ig_request() {
        let bundle = ig_example!("Bundle-HomecareAuthorizationBundleExample.json");
        let keys = request_keys(&bundle);
        assert_eq!(
            keys,
            Ok(RequestKeys {
                submitter: "http://example.org/SUBMITTER_TRANSACTION_IDENTIFIER".into(),
                bundle_identifier: Some(
                    "http://example.org/SUBMITTER_TRANSACTION_IDENTIFIER|B56789".into()
                ),
                claim_identifier: "http://example.org/PATIENT_EVENT_TRACE_NUMBER|111099".into(),
                patient_member_id: Some("1122334455".into()),
                provider_id: Some("http://hl7.org/fhir/sid/us-npi|8189991234".into()),
                insurer_id: Some("http://hl7.org/fhir/sid/us-npi|1234567893".into()),
                prior_claim_identifier: None,
                prior_key: String::new(),
                claim_full_url: Some(
                    "http://example.org/fhir/Claim/HomecareAuthorizationExample".into()
                ),
                claim_resource_id: Some("HomecareAuthorizationExample".into()),
            })
        );
    }

    #[test]
    fn reads_the_prior_claim_of_an_update() {
        let bundle = ig_example!("Bundle-HomecareAuthorizationUpdateBundleExample.json");
        let keys = request_keys(&bundle).ok();
        assert_eq!(
            keys.as_ref().map(|k| k.claim_identifier.as_str()),
            Some("http://example.org/PATIENT_EVENT_TRACE_NUMBER|111099-UPDATE")
        );
        assert_eq!(
            keys.and_then(|k| k.prior_claim_identifier).as_deref(),
            Some("http://example.org/PATIENT_EVENT_TRACE_NUMBER|111099")
        );
    }

    fn small_bundle() -> Value {
        json!({
            "resourceType": "Bundle",
            "id": "b1",
            "timestamp": "2026-11-24T07:00:00Z",
            "identifier": {"system": "urn:sub", "value": "T1"},
            "entry": [
                {"fullUrl": "urn:uuid:c", "resource": {
                    "resourceType": "Claim",
                    "identifier": [{"system": "urn:claims", "value": "C1"}],
                    "patient": {"reference": "urn:uuid:p"},
                    "provider": {"reference": "urn:uuid:role"},
                    "insurer": {"identifier": {"system": "urn:payer", "value": "P9"}},
                    "insurance": [{"sequence": 1, "coverage": {"reference": "urn:uuid:cov"}}],
                    "related": [{"claim": {"identifier": {"system": "urn:claims", "value": "C0"}},
                                 "relationship": {"coding": [{"code": "prior"}]}}]
                }},
                {"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient",
                    "identifier": [{"type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": "MB"}]}, "value": "M7"}]}},
                {"fullUrl": "urn:uuid:cov", "resource": {"resourceType": "Coverage"}},
                {"fullUrl": "urn:uuid:role", "resource": {"resourceType": "PractitionerRole",
                    "practitioner": {"reference": "urn:uuid:dr"}}},
                {"fullUrl": "urn:uuid:dr", "resource": {"resourceType": "Practitioner",
                    "identifier": [{"system": "urn:other", "value": "X"}, {"system": NPI_SYSTEM, "value": "1999999984"}]}}
            ]
        })
    }

    /// The hash before it was streamed: a sorted copy of the Bundle, serialized.
    fn content_hash_by_copy(bundle: &Value) -> String {
        fn sorted(value: Value) -> Value {
            match value {
                Value::Object(map) => {
                    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                    Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
                }
                Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
                other => other,
            }
        }
        let mut content = bundle.clone();
        if let Some(map) = content.as_object_mut() {
            map.retain(|k, _| !matches!(k.as_str(), "id" | "meta" | "timestamp"));
        }
        let bytes = serde_json::to_vec(&sorted(content)).unwrap_or_default();
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn streamed_content_hash_equals_the_hash_stored_by_earlier_versions() {
        // Hashes are stored: a resubmission after an upgrade must still be recognised.
        let mut bundles = vec![
            small_bundle(),
            ig_example!("Bundle-HomecareAuthorizationBundleExample.json"),
            json!({"b": [1, 2.5, "x\u{e9}\"\\", {"z": null, "a": true}], "a": {"id": "kept"}}),
        ];
        let mut nested = small_bundle();
        nested["meta"] = json!({"lastUpdated": "2026-11-24T07:00:00Z"});
        bundles.push(nested);
        for bundle in &bundles {
            assert_eq!(content_hash(bundle), content_hash_by_copy(bundle));
        }
        // The envelope is left out at the top only.
        let mut moved = small_bundle();
        moved["id"] = json!("another");
        moved["timestamp"] = json!("2026-11-25T07:00:00Z");
        assert_eq!(content_hash(&moved), content_hash(&small_bundle()));
        moved["entry"][2]["resource"]["id"] = json!("changed");
        assert_ne!(content_hash(&moved), content_hash(&small_bundle()));
    }

    #[test]
    fn falls_back_through_patient_role_and_logical_references() {
        let keys = request_keys(&small_bundle()).ok();
        let keys = keys.as_ref();
        assert_eq!(
            keys.and_then(|k| k.patient_member_id.as_deref()),
            Some("M7")
        );
        assert_eq!(
            keys.and_then(|k| k.provider_id.as_deref()),
            Some("http://hl7.org/fhir/sid/us-npi|1999999984")
        );
        assert_eq!(
            keys.and_then(|k| k.insurer_id.as_deref()),
            Some("urn:payer|P9")
        );
        assert_eq!(
            keys.and_then(|k| k.prior_claim_identifier.as_deref()),
            Some("urn:claims|C0")
        );
    }

    #[test]
    fn a_claim_without_identifier_is_located() {
        let mut bundle = small_bundle();
        if let Some(claim) = bundle.pointer_mut("/entry/0/resource") {
            claim["identifier"] = json!([{"system": "urn:claims"}]);
        }
        let err = request_keys(&bundle).err();
        assert_eq!(
            err.map(|e| e.path),
            Some("Bundle.entry[0].resource.identifier".to_owned())
        );
        assert_eq!(
            request_keys(&json!({"resourceType": "Bundle"}))
                .err()
                .map(|e| e.path),
            Some("Bundle.entry".to_owned())
        );
    }

    #[test]
    fn hash_ignores_envelope_and_key_order_but_not_content() {
        let a = small_bundle();
        let mut b: Value = serde_json::from_str(
            r#"{"timestamp": "2030-01-01T00:00:00Z", "id": "other", "meta": {"versionId": "2"}}"#,
        )
        .unwrap_or(Value::Null);
        // Same members as `a`, inserted in reverse order.
        if let (Some(b), Some(a)) = (b.as_object_mut(), a.as_object()) {
            for (k, v) in a.iter().rev() {
                if !matches!(k.as_str(), "id" | "timestamp" | "meta") {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        assert_eq!(content_hash(&a), content_hash(&b));
        let mut c = a.clone();
        c["entry"][1]["resource"]["identifier"][0]["value"] = json!("M8");
        assert_ne!(content_hash(&a), content_hash(&c));
        assert_eq!(content_hash(&a).len(), 64);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = Value> {
            crate::fhir::arbitrary::json_tree(
                &[
                    "resourceType",
                    "entry",
                    "resource",
                    "identifier",
                    "reference",
                    "fullUrl",
                ],
                4,
            )
        }

        /// The same members in reverse insertion order, recursively.
        fn reversed(value: &Value) -> Value {
            match value {
                Value::Object(map) => Value::Object(
                    map.iter()
                        .rev()
                        .map(|(k, v)| (k.clone(), reversed(v)))
                        .collect(),
                ),
                Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
                other => other.clone(),
            }
        }

        proptest! {
            #[test]
            fn extraction_never_panics(bundle in json_value()) {
                let _ = request_keys(&bundle);
                let _ = crate::store::inquiry::parse(&bundle);
            }

            #[test]
            fn hash_ignores_member_order(bundle in json_value()) {
                prop_assert_eq!(content_hash(&bundle), content_hash(&reversed(&bundle)));
            }
        }
    }
}
