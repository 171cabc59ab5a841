//! The transport-free core: check the request, gather evidence, decide every Claim item,
//! number the authorizations, build the response and, when the service has a [`Store`],
//! record request and answer before anything is acknowledged.
//!
//! HTTP and the CLI are thin shells over [`Service`]: they hand it bytes and turn its
//! [`Submission`] or [`Rejection`] into a response or an exit code. `evaluate` and in-process
//! `replay` run without a store (offline, no database file); `serve` always has one.

use chrono::Utc;
use serde_json::{Value, json};

use crate::evidence::{self, ItemFacts};
use crate::fhir::{Issue, IssueType};
use crate::pas::{
    self, CheckedRequest, ItemAnswer, Limits, Rejection, RequestIdentity, ResponseMeta,
};
use crate::policy::{Decision, PolicySet};
use crate::store::{
    self, ExtractError, ItemAuthorization, NewSubmission, Store, StoreError, StoredSubmission,
    inquiry,
};

/// Default system of the identifiers the adapter assigns to its responses.
pub const DEFAULT_IDENTIFIER_SYSTEM: &str = "urn:pas-adapter:claim-response";

const CERTIFICATION_TYPE_URL: &str =
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-certificationType";
const INFO_CANCELLED_URL: &str =
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/modifierextension-infoCancelled";
/// X12 1322 certification type `3`: Cancel.
const CERTIFICATION_TYPE_CANCEL: &str = "3";

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
/// replay and, later, the reviewer worklist).
#[derive(Debug, Clone)]
pub struct Submission {
    /// The answer: on a resubmission, the one stored the first time.
    pub response: Value,
    pub decisions: Vec<Decision>,
    /// How the store kept it; `None` without a store.
    pub stored: Option<Stored>,
}

/// Where a submission was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub id: String,
    /// 1 for an original request, then one more per update or cancellation.
    pub version: u32,
    /// The same request was recorded before; its stored answer was returned.
    pub replay: bool,
}

/// Answers PAS operations.
#[derive(Debug)]
pub struct Service {
    policies: PolicySet,
    settings: ServiceSettings,
    store: Option<Store>,
}

impl Service {
    /// A service without a store: adjudicates, keeps nothing, cannot answer `$inquire`.
    pub fn new(policies: PolicySet, settings: ServiceSettings) -> Self {
        Self {
            policies,
            settings,
            store: None,
        }
    }

    /// Records every submission in `store` before answering it, and answers `$inquire`.
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
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
        // The keys are read first so that a request the store could not file is refused
        // before any work is done on it.
        let keys = match &self.store {
            Some(_) => Some(store::request_keys(request.bundle()).map_err(extract_rejection)?),
            None => None,
        };
        let decisions = self.decide(&request)?;
        let cancelled = cancelled_items(request.claim());
        let prior = match (&self.store, &keys) {
            (Some(store), Some(keys)) => self.prior(store, &request, keys, &cancelled).await?,
            _ => None,
        };
        let identity = RequestIdentity::of(&request);
        let answers: Vec<ItemAnswer> = decisions
            .iter()
            .map(|decision| {
                let sequence = decision.sequence;
                let earlier = prior.as_ref().and_then(|p| {
                    p.authorizations
                        .iter()
                        .find(|a| a.item_sequence == sequence)
                        .map(|a| a.number.clone())
                });
                let authorization_number = if cancelled.contains(&sequence) {
                    // The number of the authorization this item cancels, if it had one.
                    earlier
                } else if decision.outcome.authorization().is_some() {
                    // An update keeps the number of an item that stays authorized.
                    Some(earlier.unwrap_or_else(|| identity.item_number(sequence)))
                } else {
                    None
                };
                ItemAnswer {
                    authorization_number,
                    decision: decision.clone(),
                }
            })
            .collect();
        // `preAuthRef` carries the authorization number (decisions.md section 2): the number of
        // the first item this answer authorizes, so a one-item request shows one number.
        let meta = ResponseMeta {
            id: uuid::Uuid::new_v4().to_string(),
            created: Utc::now(),
            identifier_system: self.settings.identifier_system.clone(),
            preauth_ref: answers
                .iter()
                .filter(|a| !cancelled.contains(&a.decision.sequence))
                .filter(|a| a.decision.outcome.authorization().is_some())
                .find_map(|a| a.authorization_number.clone()),
        };
        let response = pas::response::build_with_cancelled(&request, &answers, &meta, &cancelled);
        let Some(store) = &self.store else {
            return Ok(Submission {
                response,
                decisions,
                stored: None,
            });
        };
        let authorizations: Vec<ItemAuthorization> = answers
            .iter()
            .filter(|a| !cancelled.contains(&a.decision.sequence))
            .filter_map(|a| {
                let number = a.authorization_number.clone()?;
                let period = a.decision.outcome.authorization().map(|auth| auth.period);
                Some(ItemAuthorization {
                    item_sequence: a.decision.sequence,
                    number,
                    review_action: a.decision.review_action(),
                    period_start: period.map(|p| p.start),
                    period_end: period.map(|p| p.end),
                })
            })
            .collect();
        let item_count = request.item_sequences().len();
        let mut new = NewSubmission::new(
            request.bundle().clone(),
            response,
            decision_trace(&decisions, &cancelled),
            self.policy_revision(),
            authorizations,
        )
        .map_err(extract_rejection)?;
        if let Some(prior) = &prior {
            new = new.superseding(prior);
        }
        if !cancelled.is_empty() && cancelled.len() == item_count {
            new = new.cancelled();
        }
        let recorded = store
            .record(new)
            .await
            .map_err(|e| store_rejection(e, &request))?;
        let replay = recorded.is_replay();
        let stored = recorded.into_submission();
        Ok(Submission {
            response: stored.response,
            decisions,
            stored: Some(Stored {
                id: stored.id,
                version: stored.version,
                replay,
            }),
        })
    }

    /// The stored version an update or cancellation applies to. A request that names a prior
    /// claim we never answered is refused (422), as is a cancellation that names none.
    async fn prior(
        &self,
        store: &Store,
        request: &CheckedRequest,
        keys: &store::RequestKeys,
        cancelled: &[u32],
    ) -> Result<Option<StoredSubmission>, Rejection> {
        let related = format!("{}.related", request.claim_path());
        let Some(prior) = &keys.prior_claim_identifier else {
            if cancelled.is_empty() {
                return Ok(None);
            }
            return Err(Rejection::new(
                422,
                vec![
                    Issue::error(
                        IssueType::Required,
                        "a cancellation must name the claim it cancels in `Claim.related` \
                         (relationship `prior`)",
                    )
                    .at(related),
                ],
            ));
        };
        match store.latest_for_claim(&keys.submitter, prior).await {
            Ok(Some(stored)) => Ok(Some(stored)),
            Ok(None) => Err(prior_not_found(prior, related)),
            Err(error) => Err(store_rejection(error, request)),
        }
    }

    /// The revisions of the policies this service decides with, e.g. `MP-RX-FP-48-23@2023-09`.
    fn policy_revision(&self) -> String {
        self.policies
            .policies()
            .iter()
            .map(|p| format!("{}@{}", p.id, p.revision))
            .collect::<Vec<_>>()
            .join(",")
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

    /// `Claim/$inquire`: the latest stored answer of every authorization the inquiry Bundle
    /// names, as a `Parameters` (no match is a `Parameters` without parameters). Without a
    /// store there is nothing to answer from, so this says so (501) rather than reply with
    /// an empty result that would read as "no such authorization".
    pub async fn inquire(&self, body: &[u8]) -> Result<Value, Rejection> {
        if body.len() > self.settings.limits.max_body_bytes {
            return Err(pas::check::too_large(
                body.len(),
                self.settings.limits.max_body_bytes,
            ));
        }
        let Some(store) = &self.store else {
            return Err(Rejection::new(
                501,
                vec![Issue::error(
                    IssueType::NotSupported,
                    "`Claim/$inquire` needs the request store, which this server does not have \
                     configured",
                )],
            ));
        };
        let body: Value = serde_json::from_slice(body).map_err(|e| {
            Rejection::bad_request(Issue::error(
                IssueType::Structure,
                format!("body is not JSON: {e}"),
            ))
        })?;
        let bundle = inquiry::request_bundle(&body).map_err(extract_rejection)?;
        let keys = inquiry::parse(bundle).map_err(extract_rejection)?;
        let matches = store.inquire(&keys).await.map_err(|error| match error {
            StoreError::InquiryTooBroad => Rejection::bad_request(
                Issue::error(IssueType::Required, error.to_string()).at("Bundle.entry[0].resource"),
            ),
            other => internal_store_error(other, "the request store failed to answer the inquiry"),
        })?;
        Ok(inquiry::response(bundle, &matches))
    }

    /// A Questionnaire a policy publishes, by its id.
    pub fn questionnaire(&self, id: &str) -> Option<Value> {
        self.policies.questionnaire(id)
    }
}

/// Sequences of the Claim items the submitter cancels: `extension-certificationType` `3`
/// (Cancel, X12 1322) or `modifierextension-infoCancelled` true, as in the PAS IG's update
/// example.
pub fn cancelled_items(claim: &Value) -> Vec<u32> {
    claim
        .get("item")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| {
            let extensions = |field: &str| {
                item.get(field)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
            };
            let cancel_type = extensions("extension").into_iter().any(|e| {
                e.get("url").and_then(Value::as_str) == Some(CERTIFICATION_TYPE_URL)
                    && e.pointer("/valueCodeableConcept/coding")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|c| {
                            c.get("code").and_then(Value::as_str) == Some(CERTIFICATION_TYPE_CANCEL)
                        })
            });
            let info_cancelled = extensions("modifierExtension").into_iter().any(|e| {
                e.get("url").and_then(Value::as_str) == Some(INFO_CANCELLED_URL)
                    && e.get("valueBoolean").and_then(Value::as_bool) == Some(true)
            });
            cancel_type || info_cancelled
        })
        .filter_map(|item| item.get("sequence").and_then(Value::as_u64))
        .filter_map(|s| u32::try_from(s).ok())
        .collect()
}

/// What is stored as the decision trace: per item, the answer, the policy and every
/// criterion with its evidence, so that a reviewer can see later why it was given.
fn decision_trace(decisions: &[Decision], cancelled: &[u32]) -> Value {
    Value::Array(
        decisions
            .iter()
            .map(|d| {
                let authorization = d.outcome.authorization().map(|a| {
                    json!({
                        "quantity": a.quantity,
                        "start": a.period.start.to_string(),
                        "end": a.period.end.to_string(),
                    })
                });
                json!({
                    "sequence": d.sequence,
                    "action": d.review_action().code(),
                    "cancelled": cancelled.contains(&d.sequence),
                    "authorization": authorization,
                    "summary": d.summary,
                    "policy": d.policy.as_ref().map(|p| json!({"id": p.id, "revision": p.revision})),
                    "criteria": d.criteria.iter().map(|c| json!({
                        "id": c.id,
                        "status": c.status.as_str(),
                        "because": c.because,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// A request the store cannot file (no Claim identifier) is the sender's problem: 400 there.
fn extract_rejection(error: ExtractError) -> Rejection {
    Rejection::bad_request(Issue::error(IssueType::Required, error.message).at(error.path))
}

/// An update or cancellation of a claim we have no record of: 422, at `Claim.related`.
fn prior_not_found(prior: &str, related: String) -> Rejection {
    Rejection::new(
        422,
        vec![
            Issue::error(
                IssueType::NotFound,
                format!("prior claim `{prior}` not found: there is no authorization to update"),
            )
            .at(related),
        ],
    )
}

/// The answer to a failed `record`: the caller's conflicts are 409 and 422; anything else is
/// ours (500), logged here and not detailed to the client. Never a 2xx: a request is
/// acknowledged only with its record committed.
fn store_rejection(error: StoreError, request: &CheckedRequest) -> Rejection {
    match error {
        StoreError::Conflict(message) => Rejection::new(
            409,
            vec![Issue::error(IssueType::Conflict, message).at(request.claim_path())],
        ),
        StoreError::NotFound(what) => Rejection::new(
            422,
            vec![
                Issue::error(
                    IssueType::NotFound,
                    format!("{what} not found: there is no authorization to update"),
                )
                .at(format!("{}.related", request.claim_path())),
            ],
        ),
        StoreError::InquiryTooBroad => {
            Rejection::bad_request(Issue::error(IssueType::Required, error.to_string()))
        }
        other => internal_store_error(
            other,
            "the request store failed; the request was not recorded",
        ),
    }
}

fn internal_store_error(error: StoreError, message: &str) -> Rejection {
    tracing::error!(%error, "store failure");
    Rejection::internal(message)
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
    fn cancelled_items_are_read_from_certification_type_and_info_cancelled() {
        let cert = |code: &str| {
            json!({"url": CERTIFICATION_TYPE_URL, "valueCodeableConcept": {"coding": [
                {"system": "https://codesystem.x12.org/005010/1322", "code": code}]}})
        };
        let claim = json!({"item": [
            {"sequence": 1, "extension": [cert("I")]},
            {"sequence": 2, "extension": [cert("3")]},
            {"sequence": 3, "modifierExtension": [{"url": INFO_CANCELLED_URL, "valueBoolean": true}]},
            {"sequence": 4, "modifierExtension": [{"url": INFO_CANCELLED_URL, "valueBoolean": false}]},
        ]});
        assert_eq!(cancelled_items(&claim), vec![2, 3]);
        assert!(cancelled_items(&json!({})).is_empty());
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
