//! `Claim/$inquire` (PAS 2.2.1): the keys an inquiry Bundle asks about, and the `Parameters`
//! answer built from the stored responses.
//!
//! The inquiry's Claim (profile-claim-inquiry) names the claim by `Claim.identifier` (the
//! identifier of the original request or of any of its updates, as in the IG's example), the
//! patient through the Coverage's member id, the provider and the insurer, and may name an
//! authorization number in `Claim.insurance.preAuthRef`. Keys are read exactly as
//! [`super::extract`] reads a `$submit` request, so the same resources yield the same keys.

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::StoredSubmission;
use super::extract::{ExtractError, focal_claim, lookup_keys};
use crate::fhir::bundle::BundleView;

/// The output parameter of `$inquire` (OperationDefinition Claim-inquiry: `return`, 0..*).
pub const RETURN_PARAMETER: &str = "return";
const INQUIRY_RESPONSE_BUNDLE_PROFILE: &str =
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-inquiry-response-bundle";
const INQUIRY_CLAIM_RESPONSE_PROFILE: &str =
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-claiminquiryresponse";

/// What an inquiry asks about; absent keys are not compared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InquiryKeys {
    /// `Claim.identifier` as `system|value`.
    pub claim_identifier: Option<String>,
    pub patient_member_id: Option<String>,
    /// The provider's NPI (`http://hl7.org/fhir/sid/us-npi|value`) or first identifier.
    pub provider: Option<String>,
    pub insurer: Option<String>,
    /// An authorization number we issued (`Claim.insurance.preAuthRef`).
    pub authorization_number: Option<String>,
    /// The caller's submitter key: only chains it submitted match (isolation between
    /// clients). `None` (no authentication) compares nothing.
    pub submitter: Option<String>,
}

impl InquiryKeys {
    /// Whether the inquiry names too little to be answered (see [`super::Store::inquire`]).
    pub fn is_too_broad(&self) -> bool {
        self.claim_identifier.is_none()
            && self.authorization_number.is_none()
            && (self.patient_member_id.is_none()
                || self.provider.is_none()
                || self.insurer.is_none())
    }

    /// Whether a chain (all versions, oldest first) answers this inquiry: every key present
    /// matches; claim identifier and authorization number may be those of any version,
    /// member id, provider and insurer are the latest version's.
    pub fn matches_chain(&self, versions: &[StoredSubmission]) -> bool {
        let Some(latest) = versions.last() else {
            return false;
        };
        let same = |asked: &Option<String>, stored: &Option<String>| match asked {
            Some(asked) => stored.as_deref() == Some(asked.as_str()),
            None => true,
        };
        let claim_ok = self
            .claim_identifier
            .as_ref()
            .is_none_or(|c| versions.iter().any(|v| &v.claim_identifier == c));
        let number_ok = self.authorization_number.as_ref().is_none_or(|n| {
            versions
                .iter()
                .flat_map(|v| &v.authorizations)
                .any(|a| &a.number == n)
        });
        let submitter_ok = self
            .submitter
            .as_ref()
            .is_none_or(|s| versions.iter().all(|v| &v.submitter == s));
        submitter_ok
            && claim_ok
            && number_ok
            && same(&self.patient_member_id, &latest.patient_member_id)
            && same(&self.provider, &latest.provider_id)
            && same(&self.insurer, &latest.insurer_id)
    }
}

/// The inquiry Bundle of a `$inquire` body: the body itself when it is a Bundle, or the
/// `resource` parameter (the OperationDefinition's input) of a `Parameters` wrapper.
pub fn request_bundle(body: &Value) -> Result<&Value, ExtractError> {
    match body.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => Ok(body),
        Some("Parameters") => crate::fhir::parameters::bundle_parameter(body)
            .map(|i| &body["parameter"][i]["resource"])
            .map_err(|gap| ExtractError {
                path: gap.path,
                message: gap.message,
            }),
        other => Err(ExtractError {
            path: "resourceType".to_owned(),
            message: format!(
                "expected a `Bundle` or a `Parameters`, found `{}`",
                other.unwrap_or("nothing")
            ),
        }),
    }
}

/// Reads the keys of an inquiry Bundle (see [`request_bundle`] for a `Parameters` body).
///
/// With an authorization number, the inquiry Claim's own identifier is not compared: the
/// number names the authorization, and the identifier may be the inquiry's own trace
/// number. A Claim without identifier (the profile requires one, but it is tolerated) is
/// matched on its other keys. No key at all is [`ExtractError`] at the Claim.
pub fn parse(bundle: &Value) -> Result<InquiryKeys, ExtractError> {
    let keys = lookup_keys(bundle)?;
    let view = BundleView::new(bundle);
    let authorization_number = focal_claim(&view).and_then(|claim| {
        claim
            .resource
            .get("insurance")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|i| {
                i.get("preAuthRef")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .filter_map(Value::as_str)
            .map(str::trim)
            .find(|n| !n.is_empty())
            .map(str::to_owned)
    });
    let inquiry = InquiryKeys {
        claim_identifier: keys
            .claim_identifier
            .filter(|_| authorization_number.is_none()),
        patient_member_id: keys.patient_member_id,
        provider: keys.provider_id,
        insurer: keys.insurer_id,
        authorization_number,
        submitter: None,
    };
    if inquiry.is_too_broad() {
        return Err(ExtractError {
            path: keys.claim_path,
            message: "an inquiry needs the claim identifier, an authorization number \
                      (`insurance.preAuthRef`), or the member id with the provider and the \
                      insurer"
                .to_owned(),
        });
    }
    Ok(inquiry)
}

/// The `$inquire` answer: a `Parameters` with one `return` inquiry response Bundle per match
/// (none when nothing matched: a 200 with no Bundles, not a 404).
pub fn response(inquiry: &Value, matches: &[StoredSubmission]) -> Value {
    let parameters: Vec<Value> = matches
        .iter()
        .map(|m| {
            json!({
                "name": RETURN_PARAMETER,
                "resource": inquiry_response_bundle(inquiry, m),
            })
        })
        .collect();
    let mut out = json!({
        "resourceType": "Parameters",
        "id": uuid::Uuid::new_v4().to_string(),
    });
    if !parameters.is_empty() {
        out["parameter"] = Value::Array(parameters);
    }
    out
}

/// One inquiry response Bundle: the stored response's entries (the current answer, with its
/// ClaimResponse under the inquiry-response profile), identified by the inquiry's Bundle
/// identifier as in the IG example.
fn inquiry_response_bundle(inquiry: &Value, stored: &StoredSubmission) -> Value {
    let mut entries: Vec<Value> = stored
        .response
        .get("entry")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for entry in &mut entries {
        if let Some(resource) = entry
            .get_mut("resource")
            .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("ClaimResponse"))
        {
            resource["meta"] = json!({ "profile": [INQUIRY_CLAIM_RESPONSE_PROFILE] });
        }
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": { "profile": [INQUIRY_RESPONSE_BUNDLE_PROFILE] },
    });
    if let Some(identifier) = inquiry.get("identifier") {
        bundle["identifier"] = identifier.clone();
    }
    bundle["type"] = json!("collection");
    bundle["timestamp"] = json!(Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true));
    bundle["entry"] = Value::Array(entries);
    bundle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ig_inquiry() {
        let bundle = ig_example!("Bundle-PASClaimInquiryBundleExample.json");
        assert_eq!(
            parse(&bundle).ok(),
            Some(InquiryKeys {
                claim_identifier: Some(
                    "http://example.org/PATIENT_EVENT_TRACE_NUMBER|111099".into()
                ),
                patient_member_id: Some("1122334455".into()),
                provider: Some("http://hl7.org/fhir/sid/us-npi|8189991234".into()),
                insurer: Some("http://hl7.org/fhir/sid/us-npi|1234567893".into()),
                authorization_number: None,
                submitter: None,
            })
        );
    }

    #[test]
    fn an_inquiry_without_claim_is_located() {
        let err = parse(&json!({"resourceType": "Bundle", "type": "collection"})).err();
        assert_eq!(err.map(|e| e.path), Some("Bundle.entry".to_owned()));
    }

    #[test]
    fn reads_the_authorization_number() {
        let bundle = json!({"resourceType": "Bundle", "entry": [{"fullUrl": "urn:uuid:c", "resource": {
            "resourceType": "Claim", "identifier": [{"value": "Q1"}],
            "insurance": [{"sequence": 1, "preAuthRef": ["", "PA-123"]}]}}]});
        let keys = parse(&bundle).ok();
        assert_eq!(
            keys.as_ref()
                .and_then(|k| k.authorization_number.as_deref()),
            Some("PA-123")
        );
        // The number names the authorization; the inquiry's own identifier is not compared.
        assert_eq!(keys.and_then(|k| k.claim_identifier), None);
    }

    #[test]
    fn an_inquiry_naming_nothing_is_located_at_its_claim() {
        let bundle = json!({"resourceType": "Bundle", "entry": [
            {"fullUrl": "urn:uuid:x", "resource": {"resourceType": "Patient"}},
            {"fullUrl": "urn:uuid:c", "resource": {"resourceType": "Claim"}}]});
        let err = parse(&bundle).err();
        assert_eq!(
            err.map(|e| e.path),
            Some("Bundle.entry[1].resource".to_owned())
        );
    }

    #[test]
    fn unwraps_a_parameters_body() {
        let bundle = json!({"resourceType": "Bundle", "type": "collection"});
        let wrapped = json!({"resourceType": "Parameters", "parameter": [
            {"name": "other", "valueString": "x"},
            {"name": "resource", "resource": bundle.clone()}]});
        assert_eq!(request_bundle(&wrapped).ok(), Some(&bundle));
        assert_eq!(request_bundle(&bundle).ok(), Some(&bundle));
        let not_bundle = json!({"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": {"resourceType": "Claim"}}]});
        assert_eq!(
            request_bundle(&not_bundle).err().map(|e| e.path),
            Some("Parameters.parameter[0].resource".to_owned())
        );
        assert_eq!(
            request_bundle(&json!({"resourceType": "Parameters"}))
                .err()
                .map(|e| e.to_string()),
            Some(
                "`Parameters` carries no `resource` parameter with a Bundle at \
                 `Parameters.parameter`"
                    .to_owned()
            )
        );
        assert_eq!(
            request_bundle(&json!({"resourceType": "Claim"}))
                .err()
                .map(|e| e.to_string()),
            Some(
                "expected a `Bundle` or a `Parameters`, found `Claim` at `resourceType`".to_owned()
            )
        );
    }

    #[test]
    fn no_match_is_an_empty_parameters() {
        let answer = response(&json!({}), &[]);
        assert_eq!(answer["resourceType"], "Parameters");
        assert!(answer.get("parameter").is_none());
    }
}
