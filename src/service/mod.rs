//! The transport-free core: check the request, gather evidence, decide every Claim item,
//! number the authorizations, build the response and, when the service has a [`Store`],
//! record request and answer before anything is acknowledged.
//!
//! HTTP and the CLI are thin shells over [`Service`]: they hand it the [`Caller`] and the
//! bytes, and turn its [`Submission`] or [`Rejection`] into a response or an exit code.
//! `evaluate` and in-process `replay` run without a store (offline, no database file);
//! `serve` always has one.
//!
//! Data flows one way: the checks read the request once into a [`CheckedRequest`]; the
//! evidence, the engine, the numbering ([`numbering`]), the response and the store take what
//! they need from it, typed, and the trace ([`trace`]) records the answers item by item.

pub mod numbering;
pub mod trace;

use chrono::Utc;
use serde_json::Value;

use crate::evidence::{self, ItemFacts};
use crate::fhir::{Issue, IssueType};
use crate::pas::authz::NumberKey;
use crate::pas::{
    self, CheckedRequest, ItemAnswer, Limits, Prior, Rejection, RequestIdentity, ResponseMeta,
};
use crate::policy::{Decision, PolicySet};
use crate::store::{
    ExtractError, NewSubmission, RequestKeys, Store, StoreError, StoredSubmission, inquiry,
};
pub use trace::ItemAction;

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

/// Who calls the service, as the shell (HTTP, CLI) established it.
///
/// The submitter of a request is part of its identity: a Claim identifier names one request
/// per submitter, and an update finds its prior among that submitter's requests only. With
/// authentication (SMART Backend Services, issue 9) the submitter is the authenticated
/// client; without it, the request's own `Bundle.identifier.system` (the sender's
/// transaction-id namespace), as before authentication existed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An authenticated client, by its client id: the submitter of what it sends, and the
    /// only one whose authorizations `$inquire` shows it.
    Client(String),
    /// No authentication configured (library use, `evaluate`, `replay`, an unauthenticated
    /// server): the submitter is `Bundle.identifier.system`, and `$inquire` is unfiltered.
    Unauthenticated,
}

impl Caller {
    /// The submitter of a request with this identity.
    pub fn submitter(&self, identity: &RequestIdentity) -> String {
        match self {
            Self::Client(id) => id.clone(),
            Self::Unauthenticated => identity.bundle_system.clone(),
        }
    }

    /// Whether a stored answer filed under `submitter` may be shown to this caller.
    fn may_see(&self, submitter: &str) -> bool {
        match self {
            Self::Client(id) => id == submitter,
            Self::Unauthenticated => true,
        }
    }
}

/// An adjudicated request: the response Bundle and what it says of each item.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The answer: on a resubmission, the one stored the first time.
    pub response: Value,
    /// What the response says of each item, in Claim order (for metrics and logs): the
    /// stored answer's actions on a resubmission, `C` for cancelled items.
    pub actions: Vec<ItemAction>,
    /// The answers behind a fresh response, item by item (the engine's decision, or
    /// cancelled, with the number given); empty when the stored answer was returned, since
    /// nothing was decided for it now.
    pub answers: Vec<ItemAnswer>,
    /// How the store kept it; `None` without a store.
    pub stored: Option<Stored>,
    /// `response` encoded as JSON, when it was encoded to be stored (a fresh record): the
    /// HTTP answer sends these bytes rather than encoding the response again.
    pub encoded: Option<bytes::Bytes>,
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
    /// The key authorization numbers are derived with: given (`--number-key`), or read from
    /// the store (made at its first start) on the first submission.
    number_key: tokio::sync::OnceCell<NumberKey>,
    /// review: the due times of review cases.
    review_clock: crate::review::ReviewClock,
}

impl Service {
    /// A service without a store: adjudicates, keeps nothing, cannot answer `$inquire`.
    pub fn new(policies: PolicySet, settings: ServiceSettings) -> Self {
        Self {
            policies,
            settings,
            store: None,
            number_key: tokio::sync::OnceCell::new(),
            review_clock: crate::review::ReviewClock::default(),
        }
    }

    /// review: the due times of review cases (default 72 hours / 7 days).
    pub fn with_review_clock(mut self, clock: crate::review::ReviewClock) -> Self {
        self.review_clock = clock;
        self
    }

    pub fn review_clock(&self) -> &crate::review::ReviewClock {
        &self.review_clock
    }

    /// Records every submission in `store` before answering it, and answers `$inquire`.
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Derives authorization numbers with `key` instead of the key kept in the store.
    pub fn with_number_key(self, key: NumberKey) -> Self {
        Self {
            number_key: tokio::sync::OnceCell::new_with(Some(key)),
            ..self
        }
    }

    /// The number key: the one given, else the store's; `None` without either (offline
    /// `evaluate` and `replay`, whose numbers are issued to nobody).
    async fn number_key(&self) -> Result<Option<&NumberKey>, Rejection> {
        if let Some(key) = self.number_key.get() {
            return Ok(Some(key));
        }
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let key = self
            .number_key
            .get_or_try_init(|| async {
                store
                    .secret(crate::store::secrets::AUTHORIZATION_NUMBER_KEY)
                    .await
                    .map(|secret| NumberKey::new(secret.bytes()))
            })
            .await
            .map_err(|e| internal_store_error(e, "the authorization number key cannot be read"))?;
        Ok(Some(key))
    }

    /// The number a new authorization of `request`'s item `sequence` gets when filed under
    /// `submitter`: what `$submit` would issue (a reviewer's certification uses it too).
    pub(crate) async fn new_item_number(
        &self,
        request: &CheckedRequest,
        submitter: &str,
        sequence: u32,
    ) -> Result<String, Rejection> {
        Ok(match self.number_key().await? {
            Some(key) => request
                .identity()
                .keyed_item_number(key, submitter, sequence),
            None => request.identity().item_number(sequence),
        })
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

    /// `Claim/$submit` from a raw body, sent by `caller`.
    pub async fn submit_bytes(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Submission, Rejection> {
        let request = pas::check_bytes(body, &self.settings.limits)?;
        // The body parsed as JSON, so it is UTF-8; a Bundle sent bare is kept as received.
        let received = if self.store.is_some() && !request.from_parameters() {
            std::str::from_utf8(body).ok().map(str::to_owned)
        } else {
            None
        };
        self.submit_checked(caller, request, received).await
    }

    /// `Claim/$submit` from a parsed body (a Bundle, or a Parameters carrying one).
    pub async fn submit(&self, caller: &Caller, body: Value) -> Result<Submission, Rejection> {
        let request = pas::check(body, &self.settings.limits)?;
        self.submit_checked(caller, request, None).await
    }

    /// `received`: the request Bundle's text as received, when the body was the Bundle.
    async fn submit_checked(
        &self,
        caller: &Caller,
        request: CheckedRequest,
        received: Option<String>,
    ) -> Result<Submission, Rejection> {
        // The keys are taken first so that a request the store could not file is refused
        // before any work is done on it.
        let filing = match &self.store {
            Some(store) => {
                let submitter = caller.submitter(request.identity());
                let keys = RequestKeys::of(&submitter, &request).map_err(extract_rejection)?;
                let prior = self.prior(store, &request, &submitter).await?;
                Some((store, keys, prior))
            }
            None => None,
        };
        // A server derives numbers with its key over the submitter too, so that two submitters
        // using one Claim identifier get different numbers nobody can compute offline.
        let numbers = match (self.number_key().await?, &filing) {
            (Some(key), Some((_, keys, _))) => numbering::Numbers::Keyed {
                key,
                submitter: &keys.submitter,
            },
            _ => numbering::Numbers::Offline,
        };
        let decisions = self.decide(&request)?;
        let prior = filing.as_ref().and_then(|(_, _, prior)| prior.as_ref());
        let answers = numbering::answers(&request, decisions, prior, &numbers);
        let meta = ResponseMeta {
            id: uuid::Uuid::new_v4().to_string(),
            created: Utc::now(),
            identifier_system: self.settings.identifier_system.clone(),
            preauth_ref: numbering::preauth_ref(&answers),
        };
        let response = pas::response::build(&request, &answers, &meta);
        let actions: Vec<ItemAction> = answers.iter().map(ItemAction::of).collect();
        let Some((store, keys, prior)) = filing else {
            return Ok(Submission {
                response,
                actions,
                answers,
                stored: None,
                encoded: None,
            });
        };
        // Serializing a Value cannot fail (its keys are strings).
        let encoded = bytes::Bytes::from(serde_json::to_vec(&response).unwrap_or_default());
        let cancels_everything = request.cancels_everything();
        let claim_path = request.claim_path();
        let mut new = NewSubmission::with_keys(
            keys,
            request.into_bundle(),
            response,
            trace::encode(&answers),
            self.policy_revision(),
            numbering::issued(&answers),
        );
        if let Some(prior) = &prior {
            new = new.superseding(prior);
        }
        if cancels_everything {
            new = new.cancelled();
        }
        if let Some(text) = received {
            new = new.received_as(text);
        }
        new = new.response_encoded(bytes::Bytes::clone(&encoded));
        let recorded = store
            .record(new)
            .await
            .map_err(|e| store_rejection(e, &claim_path))?;
        let replay = recorded.is_replay();
        let stored = recorded.into_submission();
        let (actions, answers, encoded) = if replay {
            // The stored answer is what the caller receives: report what it says.
            (trace::actions(&stored.decision_trace), Vec::new(), None)
        } else {
            (actions, answers, Some(encoded))
        };
        Ok(Submission {
            response: stored.response,
            actions,
            answers,
            stored: Some(Stored {
                id: stored.id,
                version: stored.version,
                replay,
            }),
            encoded,
        })
    }

    /// The stored version an update or cancellation applies to, found among the submitter's
    /// requests however the update names it (identifier, carried Claim, stored Claim's
    /// fullUrl or id). A request that names a prior claim we never answered is refused (422),
    /// as is a cancellation that names none.
    async fn prior(
        &self,
        store: &Store,
        request: &CheckedRequest,
        submitter: &str,
    ) -> Result<Option<StoredSubmission>, Rejection> {
        let related = format!("{}.related", request.claim_path());
        let Some(prior) = &request.identity().prior else {
            if !request.cancels_anything() {
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
        match store.find_prior(submitter, prior).await {
            Ok(Some(stored)) => Ok(Some(stored)),
            Ok(None) => Err(prior_not_found(prior, related)),
            Err(error) => Err(store_rejection(error, &request.claim_path())),
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

    /// Gathers the evidence and decides every Claim item the submitter does not cancel, in
    /// Claim order.
    pub(crate) fn decide(&self, request: &CheckedRequest) -> Result<Vec<Decision>, Rejection> {
        let view = request.view();
        let claim = view
            .at(request.claim_index())
            .ok_or_else(|| Rejection::internal("the checked request lost its claim entry"))?;
        let facts = evidence::gather(&view, claim).map_err(gather_rejection)?;
        let claim_path = request.claim_path();
        let mut decisions = Vec::new();
        for requested in request.items().iter().filter(|i| !i.cancelled) {
            let sequence = requested.sequence;
            // Every Claim item is answered, even one the gatherer did not describe.
            let fallback;
            let item = match facts.claim.items.iter().find(|i| i.sequence == sequence) {
                Some(item) => item,
                None => {
                    fallback = ItemFacts {
                        sequence,
                        path: format!("{claim_path}.item[{}]", requested.index),
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
    /// names that `caller` may see, as a `Parameters` (no match is a `Parameters` without
    /// parameters). Without a store there is nothing to answer from, so this says so (501)
    /// rather than reply with an empty result that would read as "no such authorization".
    pub async fn inquire(&self, caller: &Caller, body: &[u8]) -> Result<Value, Rejection> {
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
        let mut keys = inquiry::parse(bundle).map_err(extract_rejection)?;
        // The store matches only the caller's own chains (so another client's records never
        // count, not even towards "too broad"); the check below stays as a second guard.
        if let Caller::Client(submitter) = caller {
            keys.submitter = Some(submitter.clone());
        }
        let mut matches = store.inquire(&keys).await.map_err(|error| match error {
            StoreError::InquiryTooBroad => Rejection::bad_request(
                Issue::error(IssueType::Required, error.to_string()).at("Bundle.entry[0].resource"),
            ),
            other => internal_store_error(other, "the request store failed to answer the inquiry"),
        })?;
        matches.retain(|stored| caller.may_see(&stored.submitter));
        Ok(inquiry::response(bundle, &matches))
    }

    /// A Questionnaire a policy publishes, by its id.
    pub fn questionnaire(&self, id: &str) -> Option<Value> {
        self.policies.questionnaire(id)
    }
}

/// A request the store cannot file (no Claim identifier) is the sender's problem: 400 there.
fn extract_rejection(error: ExtractError) -> Rejection {
    Rejection::bad_request(Issue::error(IssueType::Required, error.message).at(error.path))
}

/// An update or cancellation of a claim we have no record of: 422, at `Claim.related`.
fn prior_not_found(prior: &Prior, related: String) -> Rejection {
    let named = match prior {
        Prior::Identifier(identifier) => format!("prior claim `{identifier}`"),
        Prior::Carried { full_url, .. } => format!("prior claim `{full_url}`"),
        Prior::Reference(reference) => format!("prior claim `{reference}`"),
    };
    Rejection::new(
        422,
        vec![
            Issue::error(
                IssueType::NotFound,
                format!("{named} not found: there is no authorization to update"),
            )
            .at(related),
        ],
    )
}

/// The answer to a failed `record`: the caller's conflicts are 409 and 422; anything else is
/// ours (500), logged here and not detailed to the client. Never a 2xx: a request is
/// acknowledged only with its record committed.
fn store_rejection(error: StoreError, claim_path: &str) -> Rejection {
    match error {
        StoreError::Conflict(message) => Rejection::new(
            409,
            vec![Issue::error(IssueType::Conflict, message).at(claim_path)],
        ),
        StoreError::NotFound(what) => Rejection::new(
            422,
            vec![
                Issue::error(
                    IssueType::NotFound,
                    format!("{what} not found: there is no authorization to update"),
                )
                .at(format!("{claim_path}.related")),
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

/// A store failure: 503 with `Retry-After` when the store itself cannot work now (a full
/// disk, the database gone; the gateway retries, and `/healthz` says so meanwhile), else 500.
fn internal_store_error(error: StoreError, message: &str) -> Rejection {
    tracing::error!(%error, "store failure");
    if error.is_store_level() {
        Rejection::unavailable(format!("{message}: the store is unavailable; retry later"))
    } else {
        Rejection::internal(message)
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
        let submission = block_on(service().submit(&Caller::Unauthenticated, body)).unwrap();
        let sequences: Vec<u32> = submission.answers.iter().map(|a| a.sequence).collect();
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
        let rejection = block_on(service().inquire(&Caller::Unauthenticated, b"{}")).unwrap_err();
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
            checked.identity().item_number(1)
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
        assert_eq!(checked.identity(), checked.clone().identity());
        assert_ne!(checked.identity().item_number(1), number("T-1", "b1"));
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
            let submission = block_on(service().submit(&Caller::Unauthenticated, request(Value::Array(items)))).unwrap();
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
