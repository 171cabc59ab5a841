//! The PAS 2.2.1 response Bundle: a `collection` whose first entry is the ClaimResponse,
//! followed by the resources it references (Patient, insurer, requestor) under the request's
//! fullUrls.
//!
//! The builder reads the checked request only for what a response echoes (identifiers,
//! references, item sequences and codes); it never re-reads clinical evidence. Everything it
//! says about an item comes from the engine's [`Decision`] and the authorization number the
//! service issued.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::request::CheckedRequest;
use crate::policy::{Decision, Outcome, Period, Status};

const PAS: &str = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition";
pub const PROFILE_RESPONSE_BUNDLE: &str =
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-response-bundle";
pub const PROFILE_CLAIM_RESPONSE: &str =
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-claimresponse";
const ADJUDICATION_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/adjudication";

/// Code systems `extension-itemAuthorizedDetail.productOrServiceCode` accepts (its required
/// binding, ValueSet X12278RequestedServiceType); other codings are not echoed there.
const REQUESTED_SERVICE_SYSTEMS: &[&str] = &[
    "https://codesystem.x12.org/005010/1365",
    "http://www.ama-assn.org/go/cpt",
    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "http://terminology.hl7.org/CodeSystem/icd9cm",
    "http://www.cms.gov/Medicare/Coding/ICD10",
    "http://hl7.org/fhir/sid/ndc",
];

/// One Claim item's answer: what it is (the engine's decision, or cancelled by the submitter)
/// and the authorization number the service gave it: the number issued for a certified or
/// modified item, or the number of the authorization a cancelled item cancels.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemAnswer {
    pub sequence: u32,
    pub verdict: Verdict,
    pub authorization_number: Option<String>,
}

/// What an item is answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The policy engine's decision (A1, A6, A3, A4).
    Decided(Decision),
    /// Cancelled by the submitter (X12 306 `C`): nothing to decide, nothing authorized.
    Cancelled,
}

impl ItemAnswer {
    pub fn decided(decision: Decision, authorization_number: Option<String>) -> Self {
        Self {
            sequence: decision.sequence,
            verdict: Verdict::Decided(decision),
            authorization_number,
        }
    }

    /// A cancelled item, with the number of the authorization it cancels, if it had one.
    pub fn cancelled(sequence: u32, authorization_number: Option<String>) -> Self {
        Self {
            sequence,
            verdict: Verdict::Cancelled,
            authorization_number,
        }
    }

    /// The engine's decision, `None` for a cancelled item.
    pub fn decision(&self) -> Option<&Decision> {
        match &self.verdict {
            Verdict::Decided(decision) => Some(decision),
            Verdict::Cancelled => None,
        }
    }

    /// What this answer authorizes: the decision's authorization; nothing when cancelled.
    pub fn authorization(&self) -> Option<&crate::policy::Authorization> {
        self.decision().and_then(|d| d.outcome.authorization())
    }

    /// The X12 306 review action the response shows: `C` when cancelled, else the engine's.
    pub fn review_code(&self) -> &'static str {
        self.action().1
    }

    /// `(display, code)` of the review action.
    fn action(&self) -> (&'static str, &'static str) {
        match &self.verdict {
            Verdict::Cancelled => (CANCELLED_DISPLAY, CANCELLED_CODE),
            Verdict::Decided(decision) => {
                let action = decision.review_action();
                (action.display(), action.code())
            }
        }
    }
}

/// What identifies this response, chosen by the caller so that tests can pin it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseMeta {
    /// Logical id of the ClaimResponse and the response Bundle (a UUID).
    pub id: String,
    /// `Bundle.timestamp`, `ClaimResponse.created`, and the issue date of authorizations.
    pub created: DateTime<Utc>,
    /// System of the identifiers this adapter assigns (response Bundle and ClaimResponse).
    pub identifier_system: String,
    /// `ClaimResponse.preAuthRef`: the authorization number (of the first certified or
    /// modified item), when any item is authorized.
    pub preauth_ref: Option<String>,
}

/// X12 306 `C`: the review action of an item the submitter cancelled (HCR01 "Cancelled").
pub const CANCELLED_CODE: &str = "C";
const CANCELLED_DISPLAY: &str = "Cancelled";

/// Builds the response Bundle: one ClaimResponse item per answer, in the order given.
///
/// Built parts are moved into place, never passed through `json!` (which copies a `Value`
/// argument by serializing it again): the ClaimResponse and the echoed resources are the
/// bulk of the response, and copying them twice more was a fifth of the evaluation's time.
pub fn build(request: &CheckedRequest, answers: &[ItemAnswer], meta: &ResponseMeta) -> Value {
    let claim_response = claim_response(request, answers, meta);
    let mut entries = vec![entry(
        Value::String(format!("urn:uuid:{}", meta.id)),
        claim_response,
    )];
    entries.extend(request.echoed_entries().cloned());
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": meta.id,
        "meta": {"profile": [PROFILE_RESPONSE_BUNDLE]},
        "identifier": {"system": meta.identifier_system, "value": meta.id},
        "type": "collection",
        "timestamp": instant(meta.created),
    });
    if let Value::Object(fields) = &mut bundle {
        fields.insert("entry".into(), Value::Array(entries));
    }
    bundle
}

/// A Bundle entry of `resource` under `full_url`.
fn entry(full_url: Value, resource: Value) -> Value {
    let mut fields = Map::new();
    fields.insert("fullUrl".into(), full_url);
    fields.insert("resource".into(), resource);
    Value::Object(fields)
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn claim_response(request: &CheckedRequest, answers: &[ItemAnswer], meta: &ResponseMeta) -> Value {
    let claim = request.claim();
    let mut identifiers = vec![json!({
        "system": meta.identifier_system,
        "value": meta.id,
    })];
    // Echo the Claim's trace numbers, as the IG's responses do (profile-identifier wants both
    // system and value).
    identifiers.extend(
        claim
            .get("identifier")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|i| i.get("system").is_some_and(Value::is_string))
            .filter(|i| i.get("value").is_some_and(Value::is_string))
            .cloned(),
    );
    let mut cr = Map::new();
    cr.insert("resourceType".into(), json!("ClaimResponse"));
    cr.insert("id".into(), json!(meta.id));
    cr.insert("meta".into(), json!({"profile": [PROFILE_CLAIM_RESPONSE]}));
    cr.insert("text".into(), narrative(answers));
    cr.insert("identifier".into(), Value::Array(identifiers));
    cr.insert("status".into(), json!("active"));
    cr.insert("type".into(), claim["type"].clone());
    cr.insert("use".into(), json!("preauthorization"));
    cr.insert("patient".into(), claim["patient"].clone());
    cr.insert("created".into(), json!(instant(meta.created)));
    cr.insert("insurer".into(), claim["insurer"].clone());
    if let Some(provider) = request.requestor() {
        cr.insert("requestor".into(), provider.clone());
    }
    cr.insert("request".into(), claim_reference(request));
    cr.insert("outcome".into(), json!(outcome(request, answers)));
    if let Some(number) = &meta.preauth_ref {
        cr.insert("preAuthRef".into(), json!(number));
    }
    let items: Vec<Value> = answers
        .iter()
        .enumerate()
        .map(|(i, answer)| item(request, answer, note_number(i), meta))
        .collect();
    cr.insert("item".into(), Value::Array(items));
    let notes: Vec<Value> = answers
        .iter()
        .enumerate()
        .map(|(i, answer)| {
            json!({
                "number": note_number(i),
                "type": "display",
                "text": match &answer.verdict {
                    Verdict::Cancelled => cancelled_note(answer),
                    Verdict::Decided(decision) => note_text(decision, answer),
                },
            })
        })
        .collect();
    cr.insert("processNote".into(), Value::Array(notes));
    Value::Object(cr)
}

/// A short generated narrative (dom-6): each item's review action and number. It names no
/// patient data and no free text from the request, so nothing in it needs escaping beyond
/// what [`escape`] covers.
fn narrative(answers: &[ItemAnswer]) -> Value {
    let rows: String = answers
        .iter()
        .map(|answer| {
            let (display, code) = answer.action();
            let number = answer
                .authorization_number
                .as_deref()
                .map(|n| format!(", authorization {}", escape(n)))
                .unwrap_or_default();
            format!(
                "<li>Item {}: {display} ({code}){number}</li>",
                answer.sequence,
            )
        })
        .collect();
    json!({
        "status": "generated",
        "div": format!(
            "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Prior authorization response</p><ul>{rows}</ul></div>"
        ),
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn note_number(index: usize) -> u64 {
    index as u64 + 1
}

/// `complete` when every Claim item got an answer (pended included, decisions.md section 2);
/// `partial` otherwise, which the service never lets happen but the builder does not assume.
fn outcome(request: &CheckedRequest, answers: &[ItemAnswer]) -> &'static str {
    let answered = request
        .items()
        .iter()
        .all(|item| answers.iter().any(|a| a.sequence == item.sequence));
    if answered { "complete" } else { "partial" }
}

/// `ClaimResponse.request`: `Claim/id` when the Claim has an id (as the IG examples do), else
/// its fullUrl when that is a RESTful URL; always with the Claim's first identifier. A
/// `urn:uuid` fullUrl is not used: the Claim is not in the response Bundle, and a `urn:uuid`
/// reference must resolve inside it, so the identifier alone carries the link then.
fn claim_reference(request: &CheckedRequest) -> Value {
    let claim = request.claim();
    let identifier = claim
        .get("identifier")
        .and_then(Value::as_array)
        .and_then(|ids| ids.first());
    let full_url = request.claim_full_url();
    let target = match claim.get("id").and_then(Value::as_str) {
        Some(id) => Some(format!("Claim/{id}")),
        None if full_url.starts_with("urn:") && identifier.is_some() => None,
        None => Some(full_url.to_owned()),
    };
    let mut reference = Map::new();
    if let Some(target) = target {
        reference.insert("reference".into(), json!(target));
    }
    if let Some(identifier) = identifier {
        reference.insert("identifier".into(), identifier.clone());
    }
    Value::Object(reference)
}

/// The `Claim.item` an answer is about, at the position the checks read it from.
fn claim_item(request: &CheckedRequest, sequence: u32) -> Option<&Value> {
    let index = request
        .items()
        .iter()
        .find(|i| i.sequence == sequence)?
        .index;
    request.claim().get("item")?.get(index)
}

/// The explanation of a cancelled item: what was cancelled, and nothing the engine said
/// about it (the submitter withdrew the request; there is no decision to explain).
fn cancelled_note(answer: &ItemAnswer) -> String {
    let number = answer
        .authorization_number
        .as_deref()
        .map(|n| format!("; authorization {n} is cancelled"))
        .unwrap_or_default();
    format!(
        "Item {}, {CANCELLED_DISPLAY} ({CANCELLED_CODE}): cancelled by the submitter{number}.",
        answer.sequence
    )
}

fn item(request: &CheckedRequest, answer: &ItemAnswer, note: u64, meta: &ResponseMeta) -> Value {
    let (display, code) = answer.action();
    let mut extensions = Vec::new();
    if let Some(authorization) = answer.authorization() {
        extensions.push(json!({
            "url": format!("{PAS}/extension-itemPreAuthIssueDate"),
            "valueDate": meta.created.date_naive().to_string(),
        }));
        extensions.push(json!({
            "url": format!("{PAS}/extension-itemPreAuthPeriod"),
            "valuePeriod": period(&authorization.period),
        }));
        let requested = claim_item(request, answer.sequence);
        if let Some(detail) = authorized_detail(requested, authorization.quantity) {
            extensions.push(detail);
        }
    }
    let mut review = Vec::new();
    if let Some(number) = &answer.authorization_number {
        review.push(json!({"url": "number", "valueString": number}));
    }
    review.push(json!({
        "url": format!("{PAS}/extension-reviewActionCode"),
        "valueCodeableConcept": {"coding": [{
            "system": crate::policy::ReviewAction::SYSTEM,
            "code": code,
            "display": display,
        }]},
    }));
    let mut item = Map::new();
    if !extensions.is_empty() {
        item.insert("extension".into(), Value::Array(extensions));
    }
    item.insert("itemSequence".into(), json!(answer.sequence));
    item.insert("noteNumber".into(), json!([note]));
    item.insert(
        "adjudication".into(),
        json!([{
            "extension": [{
                "url": format!("{PAS}/extension-reviewAction"),
                "extension": review,
            }],
            "category": {"coding": [{"system": ADJUDICATION_SYSTEM, "code": "submitted"}]},
        }]),
    );
    Value::Object(item)
}

fn period(period: &Period) -> Value {
    json!({"start": period.start.to_string(), "end": period.end.to_string()})
}

/// Whether a requested quantity is in a mass unit the evidence converted to mg (g, ug, kg:
/// `crate::evidence` reads quantities in mg), so that the authorization must say mg.
fn converted_to_mg(quantity: &Value) -> bool {
    // The same unit the evidence read (`fhir::model::quantity`): UCUM's code, else the text.
    let ucum = quantity.get("system").and_then(Value::as_str) == Some("http://unitsofmeasure.org");
    let order = if ucum {
        ["code", "unit"]
    } else {
        ["unit", "code"]
    };
    let unit = order
        .iter()
        .find_map(|k| quantity.get(*k).and_then(Value::as_str))
        .map(|u| u.trim().to_ascii_lowercase());
    matches!(unit.as_deref(), Some("g" | "ug" | "mcg" | "kg"))
}

/// `extension-itemAuthorizedDetail`: the product as requested (codings the binding allows)
/// and the authorized quantity, in the request's unit.
fn authorized_detail(requested: Option<&Value>, quantity: Option<f64>) -> Option<Value> {
    let mut parts = Vec::new();
    let codings: Vec<Value> = requested
        .and_then(|item| item.get("productOrService"))
        .and_then(|p| p.get("coding"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| {
            c.get("system")
                .and_then(Value::as_str)
                .is_some_and(|s| REQUESTED_SERVICE_SYSTEMS.contains(&s))
        })
        .cloned()
        .collect();
    if !codings.is_empty() {
        parts.push(json!({
            "url": "productOrServiceCode",
            "valueCodeableConcept": {"coding": codings},
        }));
    }
    if let Some(quantity) = quantity {
        let mut q = Map::new();
        q.insert("value".into(), decimal(quantity));
        let unit_source = requested
            .and_then(|item| item.get("quantity"))
            .filter(|q| !converted_to_mg(q));
        if unit_source.is_none() && requested.and_then(|item| item.get("quantity")).is_some() {
            // The request's mass unit (g, ug, kg) was converted: the authorization is in mg.
            q.insert("unit".into(), json!("mg"));
            q.insert("system".into(), json!("http://unitsofmeasure.org"));
            q.insert("code".into(), json!("mg"));
        }
        for key in ["unit", "system", "code"] {
            if let Some(v) = unit_source
                .and_then(|s| s.get(key))
                .filter(|v| v.is_string())
            {
                q.insert(key.into(), v.clone());
            }
        }
        parts.push(json!({"url": "quantity", "valueQuantity": Value::Object(q)}));
    }
    if parts.is_empty() {
        return None;
    }
    Some(json!({
        "url": format!("{PAS}/extension-itemAuthorizedDetail"),
        "extension": parts,
    }))
}

/// A whole quantity is written as an integer (`720`, not `720.0`).
fn decimal(value: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if value.fract() == 0.0 && value.abs() < EXACT {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// The explanation of one item for `processNote.text`.
fn note_text(decision: &Decision, answer: &ItemAnswer) -> String {
    let action = decision.review_action();
    let mut lines = vec![format!(
        "Item {}, {} ({}): {}",
        decision.sequence,
        action.display(),
        action.code(),
        decision.summary
    )];
    if let Some(authorization) = decision.outcome.authorization() {
        let number = answer
            .authorization_number
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        let quantity = authorization
            .quantity
            .map(|q| format!("{} units ", decimal(q)))
            .unwrap_or_default();
        lines.push(format!(
            "Authorization{number}: {quantity}from {} through {}.",
            authorization.period.start, authorization.period.end
        ));
    }
    match &decision.policy {
        Some(policy) => lines.push(format!(
            "Policy {} revision {}: {}.",
            policy.id, policy.revision, policy.title
        )),
        None => lines.push("No automated policy applies to this item.".into()),
    }
    if !decision.criteria.is_empty() {
        lines.push("Criteria:".into());
        for criterion in &decision.criteria {
            let mut line = format!(
                "- {} ({}): {}",
                criterion.id,
                status_word(criterion.status),
                criterion.text
            );
            if !criterion.because.is_empty() {
                line.push_str(&format!(" Because: {}", criterion.because.join("; ")));
            }
            lines.push(line);
        }
    }
    if let Outcome::Pended { documents } = &decision.outcome
        && !documents.is_empty()
    {
        lines.push(format!("Documents to send: {}.", documents.join("; ")));
    }
    lines.join("\n")
}

fn status_word(status: Status) -> &'static str {
    status.as_str()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pas::check::{Limits, check};
    use crate::policy::{Authorization, CriterionResult, PolicyRef};
    use chrono::{NaiveDate, TimeZone};

    fn request() -> CheckedRequest {
        let bundle = json!({
            "resourceType": "Bundle",
            "identifier": {"system": "urn:test", "value": "b1"},
            "type": "collection",
            "timestamp": "2026-11-20T10:00:00Z",
            "entry": [
                {"fullUrl": "http://x.org/fhir/Claim/c1", "resource": {
                    "resourceType": "Claim", "id": "c1", "use": "preauthorization",
                    "identifier": [{"system": "urn:trace", "value": "T1"}],
                    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
                    "patient": {"reference": "Patient/p1"},
                    "insurer": {"reference": "Organization/ins"},
                    "provider": {"reference": "Organization/ins"},
                    "item": [
                        {"sequence": 1, "productOrService": {"coding": [
                            {"system": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "J9354"},
                            {"system": "http://example.org/local", "code": "x"}
                        ]}, "quantity": {"value": 1000, "unit": "mg"}},
                        {"sequence": 2},
                        {"sequence": 3},
                        {"sequence": 4}
                    ]
                }},
                {"fullUrl": "http://x.org/fhir/Patient/p1", "resource": {"resourceType": "Patient", "id": "p1"}},
                {"fullUrl": "http://x.org/fhir/Organization/ins", "resource": {"resourceType": "Organization", "id": "ins"}}
            ]
        });
        check(bundle, &Limits::default()).unwrap()
    }

    fn period() -> Period {
        Period {
            start: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            end: NaiveDate::from_ymd_opt(2027, 5, 31).unwrap(),
        }
    }

    fn decision(sequence: u32, outcome: Outcome) -> Decision {
        Decision {
            sequence,
            outcome,
            policy: Some(PolicyRef {
                id: "MP-RX-FP-48-23".into(),
                revision: "2023-1".into(),
                title: "Kadcyla".into(),
            }),
            criteria: vec![CriterionResult {
                id: "A.i".into(),
                text: "HER2-positive".into(),
                status: Status::Met,
                because: vec!["Observation/her2: IHC 3+".into()],
            }],
            summary: "test".into(),
        }
    }

    fn answers() -> Vec<ItemAnswer> {
        vec![
            ItemAnswer::decided(
                decision(
                    1,
                    Outcome::Modified {
                        authorized: Authorization {
                            quantity: Some(720.0),
                            period: period(),
                        },
                    },
                ),
                Some("PA-000000000001".into()),
            ),
            ItemAnswer::decided(
                decision(
                    2,
                    Outcome::Certified(Authorization {
                        quantity: None,
                        period: period(),
                    }),
                ),
                Some("PA-000000000002".into()),
            ),
            ItemAnswer::decided(decision(3, Outcome::NotCertified), None),
            ItemAnswer::decided(
                decision(
                    4,
                    Outcome::Pended {
                        documents: vec!["HER2 ISH report".into()],
                    },
                ),
                None,
            ),
        ]
    }

    fn meta() -> ResponseMeta {
        ResponseMeta {
            id: "5f0c1a1e-0000-4000-8000-000000000001".into(),
            created: Utc.with_ymd_and_hms(2026, 11, 24, 7, 0, 0).unwrap(),
            identifier_system: "urn:pas-adapter:response".into(),
            preauth_ref: Some("PA-00000000000A".into()),
        }
    }

    fn extension<'v>(extensions: &'v Value, suffix: &str) -> Option<&'v Value> {
        extensions
            .as_array()?
            .iter()
            .find(|e| e["url"].as_str().is_some_and(|u| u.ends_with(suffix)))
    }

    #[test]
    fn bundle_shape_follows_the_response_profile() {
        let bundle = build(&request(), &answers(), &meta());
        assert_eq!(bundle["type"], "collection");
        assert_eq!(bundle["meta"]["profile"][0], PROFILE_RESPONSE_BUNDLE);
        assert_eq!(bundle["timestamp"], "2026-11-24T07:00:00Z");
        let entries = bundle["entry"].as_array().unwrap();
        // ClaimResponse, Patient, insurer (= requestor, listed once).
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0]["resource"]["resourceType"], "ClaimResponse");
        assert_eq!(entries[1]["fullUrl"], "http://x.org/fhir/Patient/p1");
        assert_eq!(entries[2]["fullUrl"], "http://x.org/fhir/Organization/ins");
        let cr = &entries[0]["resource"];
        assert_eq!(cr["outcome"], "complete");
        assert_eq!(cr["request"]["reference"], "Claim/c1");
        assert_eq!(cr["preAuthRef"], "PA-00000000000A");
        assert_eq!(cr["identifier"][1]["value"], "T1");
        assert_eq!(cr["item"].as_array().unwrap().len(), 4);
        assert_eq!(cr["processNote"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn modified_item_carries_number_period_and_quantity() {
        let bundle = build(&request(), &answers(), &meta());
        let item = &bundle["entry"][0]["resource"]["item"][0];
        assert_eq!(item["itemSequence"], 1);
        let review = &item["adjudication"][0]["extension"][0];
        assert!(
            review["url"]
                .as_str()
                .unwrap()
                .ends_with("extension-reviewAction")
        );
        assert_eq!(review["extension"][0]["url"], "number");
        assert_eq!(review["extension"][0]["valueString"], "PA-000000000001");
        assert_eq!(
            review["extension"][1]["valueCodeableConcept"]["coding"][0]["code"],
            "A6"
        );
        let ext = &item["extension"];
        assert_eq!(
            extension(ext, "itemPreAuthPeriod").unwrap()["valuePeriod"],
            json!({"start": "2026-12-01", "end": "2027-05-31"})
        );
        let detail = extension(ext, "itemAuthorizedDetail").unwrap();
        let parts = &detail["extension"];
        let code = extension(parts, "productOrServiceCode").unwrap();
        // Only the coding the required binding accepts is echoed.
        assert_eq!(
            code["valueCodeableConcept"]["coding"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            extension(parts, "quantity").unwrap()["valueQuantity"],
            json!({"value": 720, "unit": "mg"})
        );
    }

    #[test]
    fn denied_and_pended_items_carry_no_authorization() {
        let bundle = build(&request(), &answers(), &meta());
        for (index, code) in [(2, "A3"), (3, "A4")] {
            let item = &bundle["entry"][0]["resource"]["item"][index];
            assert!(item.get("extension").is_none());
            let review = &item["adjudication"][0]["extension"][0]["extension"];
            assert_eq!(review.as_array().unwrap().len(), 1);
            assert_eq!(review[0]["valueCodeableConcept"]["coding"][0]["code"], code);
        }
    }

    #[test]
    fn notes_explain_criteria_and_documents() {
        let bundle = build(&request(), &answers(), &meta());
        let notes = &bundle["entry"][0]["resource"]["processNote"];
        let pended = notes[3]["text"].as_str().unwrap();
        assert!(pended.contains("Pended (A4)"));
        assert!(pended.contains("MP-RX-FP-48-23 revision 2023-1"));
        assert!(pended.contains("- A.i (met): HER2-positive Because: Observation/her2: IHC 3+"));
        assert!(pended.contains("Documents to send: HER2 ISH report."));
        let modified = notes[0]["text"].as_str().unwrap();
        assert!(modified.contains(
            "Authorization PA-000000000001: 720 units from 2026-12-01 through 2027-05-31."
        ));
        assert_eq!(
            bundle["entry"][0]["resource"]["item"][3]["noteNumber"],
            json!([4])
        );
    }

    #[test]
    fn a_practitioner_provider_is_not_echoed_as_requestor() {
        let mut bundle = request().into_bundle();
        bundle["entry"][0]["resource"]["provider"] = json!({"reference": "Practitioner/dr"});
        bundle["entry"].as_array_mut().unwrap().push(json!({
            "fullUrl": "http://x.org/fhir/Practitioner/dr",
            "resource": {"resourceType": "Practitioner", "id": "dr"}
        }));
        let request = check(bundle, &Limits::default()).unwrap();
        let response = build(&request, &answers(), &meta());
        assert!(response["entry"][0]["resource"].get("requestor").is_none());
        let entries = response["entry"].as_array().unwrap();
        assert!(
            entries
                .iter()
                .all(|e| e["resource"]["resourceType"] != "Practitioner")
        );
    }

    #[test]
    fn the_claim_is_referenced_by_id_or_by_identifier() {
        let mut bundle = request().into_bundle();
        bundle["entry"][0]["fullUrl"] = json!("urn:uuid:9a1b2c3d-0000-4000-8000-000000000000");
        bundle["entry"][0]["resource"]
            .as_object_mut()
            .unwrap()
            .remove("id");
        let request = check(bundle, &Limits::default()).unwrap();
        let response = build(&request, &answers(), &meta());
        let reference = &response["entry"][0]["resource"]["request"];
        assert!(reference.get("reference").is_none());
        assert_eq!(reference["identifier"]["value"], "T1");
    }

    #[test]
    fn a_missing_answer_makes_the_outcome_partial() {
        let mut some = answers();
        some.pop();
        let bundle = build(&request(), &some, &meta());
        assert_eq!(bundle["entry"][0]["resource"]["outcome"], "partial");
    }
}
