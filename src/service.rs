//! The transport-free core: check the request, gather evidence, decide every Claim item,
//! number the authorizations, build the response (and, once the store is wired, keep both).
//!
//! HTTP and the CLI are thin shells over [`Service`]: they hand it bytes and turn its
//! [`Submission`] or [`Rejection`] into a response or an exit code.

use chrono::Utc;
use serde_json::Value;

use crate::evidence::{self, ItemFacts};
use crate::fhir::{Issue, IssueType};
use crate::pas::{
    self, CheckedRequest, ItemAnswer, Limits, Rejection, RequestIdentity, ResponseMeta,
};
use crate::policy::{Decision, PolicySet};

/// Default system of the identifiers the adapter assigns to its responses.
pub const DEFAULT_IDENTIFIER_SYSTEM: &str = "urn:pas-adapter:claim-response";

/// What the service needs to know besides the policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSettings {
    pub limits: Limits,
    /// System of the identifiers assigned to response Bundles and ClaimResponses.
    pub identifier_system: String,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            identifier_system: DEFAULT_IDENTIFIER_SYSTEM.into(),
        }
    }
}

/// An adjudicated request: the response Bundle and the decisions behind it (for metrics,
/// replay and, later, the store and the reviewer worklist).
#[derive(Debug, Clone)]
pub struct Submission {
    pub response: Value,
    pub decisions: Vec<Decision>,
}

/// Answers PAS operations.
#[derive(Debug)]
pub struct Service {
    policies: PolicySet,
    settings: ServiceSettings,
}

impl Service {
    pub fn new(policies: PolicySet, settings: ServiceSettings) -> Self {
        Self { policies, settings }
    }

    pub fn settings(&self) -> &ServiceSettings {
        &self.settings
    }

    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// `Claim/$submit` from a raw body.
    pub async fn submit_bytes(&self, body: &[u8]) -> Result<Submission, Rejection> {
        let request = pas::check_bytes(body, &self.settings.limits)?;
        self.submit_checked(request).await
    }

    /// `Claim/$submit` from a parsed body (a Bundle, or a Parameters carrying one).
    pub async fn submit(&self, body: Value) -> Result<Submission, Rejection> {
        let request = pas::check(body, &self.settings.limits)?;
        self.submit_checked(request).await
    }

    async fn submit_checked(&self, request: CheckedRequest) -> Result<Submission, Rejection> {
        let decisions = self.decide(&request)?;
        let identity = RequestIdentity::of(&request);
        let answers: Vec<ItemAnswer> = decisions
            .iter()
            .map(|decision| ItemAnswer {
                authorization_number: decision
                    .outcome
                    .authorization()
                    .map(|_| identity.item_number(decision.sequence)),
                decision: decision.clone(),
            })
            .collect();
        let any_authorized = answers.iter().any(|a| a.authorization_number.is_some());
        let meta = ResponseMeta {
            id: uuid::Uuid::new_v4().to_string(),
            created: Utc::now(),
            identifier_system: self.settings.identifier_system.clone(),
            preauth_ref: any_authorized.then(|| identity.request_number()),
        };
        let response = pas::response::build(&request, &answers, &meta);
        // STORE: the store issue keeps `request.bundle()`, `response` and `decisions` here,
        // before answering; a failure to store must fail the request (500), never drop it.
        Ok(Submission {
            response,
            decisions,
        })
    }

    /// Gathers the evidence and decides every Claim item, in Claim order.
    fn decide(&self, request: &CheckedRequest) -> Result<Vec<Decision>, Rejection> {
        let view = request.view();
        let claim = view
            .at(request.claim_index())
            .ok_or_else(|| Rejection::internal("the checked request lost its claim entry"))?;
        let facts = evidence::gather(&view, claim).map_err(gather_rejection)?;
        let claim_path = request.claim_path();
        let mut decisions = Vec::new();
        for (index, sequence) in request.item_sequences().into_iter().enumerate() {
            // Every Claim item is answered, even one the gatherer did not describe.
            let fallback;
            let item = match facts.claim.items.iter().find(|i| i.sequence == sequence) {
                Some(item) => item,
                None => {
                    fallback = ItemFacts {
                        sequence,
                        path: format!("{claim_path}.item[{index}]"),
                        ..ItemFacts::default()
                    };
                    &fallback
                }
            };
            let decision = self.policies.decide(&facts, item);
            if decision.sequence != sequence {
                return Err(Rejection::internal(format!(
                    "the policy engine answered item `{}` when asked about item `{sequence}`",
                    decision.sequence
                )));
            }
            decisions.push(decision);
        }
        Ok(decisions)
    }

    /// `Claim/$inquire`. Inquiries are answered from stored requests; until the store is
    /// wired there is nothing to answer from, so this says so (501) rather than reply with an
    /// empty result that would read as "no such authorization".
    pub async fn inquire(&self, body: &[u8]) -> Result<Value, Rejection> {
        if body.len() > self.settings.limits.max_body_bytes {
            return Err(pas::check::too_large(
                body.len(),
                self.settings.limits.max_body_bytes,
            ));
        }
        Err(Rejection::new(
            501,
            vec![Issue::error(
                IssueType::NotSupported,
                "`Claim/$inquire` needs the request store, which this server does not have configured",
            )],
        ))
    }

    /// A Questionnaire a policy publishes, e.g. `kadcyla`.
    pub fn questionnaire(&self, id: &str) -> Option<Value> {
        self.policies.questionnaire(id)
    }
}

/// A resource the gatherer cannot read as FHIR is the sender's problem: 400 at its path.
fn gather_rejection(error: evidence::GatherError) -> Rejection {
    Rejection::bad_request(Issue::error(IssueType::Structure, error.message).at(error.path))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn service() -> Service {
        Service::new(PolicySet::embedded(), ServiceSettings::default())
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    fn request(items: Value) -> Value {
        json!({
            "resourceType": "Bundle",
            "identifier": {"system": "urn:test", "value": "b1"},
            "type": "collection",
            "timestamp": "2026-11-20T10:00:00Z",
            "entry": [
                {"fullUrl": "urn:uuid:c1", "resource": {
                    "resourceType": "Claim", "use": "preauthorization", "status": "active",
                    "identifier": [{"system": "urn:trace", "value": "T-1"}],
                    "type": {"coding": [{"code": "professional"}]},
                    "patient": {"reference": "urn:uuid:p1"},
                    "created": "2026-11-20",
                    "insurer": {"reference": "urn:uuid:o1"},
                    "provider": {"reference": "urn:uuid:o1"},
                    "priority": {"coding": [{"code": "normal"}]},
                    "insurance": [{"sequence": 1, "focal": true, "coverage": {"display": "coverage"}}],
                    "item": items
                }},
                {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient"}},
                {"fullUrl": "urn:uuid:o1", "resource": {"resourceType": "Organization"}}
            ]
        })
    }

    #[test]
    fn every_item_is_answered_in_claim_order() {
        let item = |sequence: u32| json!({"sequence": sequence, "productOrService": {"coding": [{"code": "99213"}]}});
        let body = request(json!([item(3), item(1), item(2)]));
        let submission = block_on(service().submit(body)).unwrap();
        let sequences: Vec<u32> = submission.decisions.iter().map(|d| d.sequence).collect();
        assert_eq!(sequences, vec![3, 1, 2]);
        let cr = &submission.response["entry"][0]["resource"];
        assert_eq!(cr["outcome"], "complete");
        assert_eq!(cr["item"][0]["itemSequence"], 3);
    }

    #[test]
    fn unreadable_evidence_is_a_400_at_its_path() {
        let rejection = gather_rejection(evidence::GatherError {
            path: "Bundle.entry[4].resource.effectiveDateTime".into(),
            message: "`effectiveDateTime` is not a FHIR dateTime".into(),
        });
        assert_eq!(rejection.status, 400);
        assert_eq!(rejection.issues[0].code, IssueType::Structure);
        assert_eq!(
            rejection.issues[0].expression.as_deref(),
            Some("Bundle.entry[4].resource.effectiveDateTime")
        );
    }

    #[test]
    fn inquire_says_not_supported() {
        let rejection = block_on(service().inquire(b"{}")).unwrap_err();
        assert_eq!(rejection.status, 501);
        assert_eq!(rejection.issues[0].code, IssueType::NotSupported);
    }

    #[test]
    fn numbers_follow_the_claim_identifier_not_the_transmission() {
        let number = |claim_value: &str, bundle_value: &str| {
            let mut body = request(json!([{"sequence": 1}]));
            body["identifier"]["value"] = json!(bundle_value);
            body["entry"][0]["resource"]["identifier"][0]["value"] = json!(claim_value);
            let checked = pas::check(body, &Limits::default()).unwrap();
            RequestIdentity::of(&checked).item_number(1)
        };
        // A resubmission in a new transmission keeps its numbers; another Claim does not.
        assert_eq!(number("T-1", "b1"), number("T-1", "b2"));
        assert_ne!(number("T-1", "b1"), number("T-2", "b1"));
        // Without a Claim identifier, the Bundle identifier decides.
        let mut body = request(json!([{"sequence": 1}]));
        body["entry"][0]["resource"]
            .as_object_mut()
            .unwrap()
            .remove("identifier");
        let checked = pas::check(body, &Limits::default()).unwrap();
        assert_eq!(
            RequestIdentity::of(&checked),
            RequestIdentity::of(&checked.clone())
        );
        assert_ne!(
            RequestIdentity::of(&checked).item_number(1),
            number("T-1", "b1")
        );
    }

    proptest! {
        /// Whatever items a checked Claim carries, every one is answered once.
        #[test]
        fn any_accepted_request_is_answered_item_by_item(
            sequences in prop::collection::hash_set(1u32..1000, 1..12),
        ) {
            let items: Vec<Value> = sequences
                .iter()
                .map(|s| json!({"sequence": s, "productOrService": {"coding": [{"code": "99213"}]}}))
                .collect();
            let submission = block_on(service().submit(request(Value::Array(items)))).unwrap();
            let answered: Vec<u32> = submission.response["entry"][0]["resource"]["item"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| u32::try_from(i["itemSequence"].as_u64().unwrap()).unwrap())
                .collect();
            let wanted: Vec<u32> = sequences.iter().copied().collect();
            prop_assert_eq!(answered, wanted);
        }
    }
}
