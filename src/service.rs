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
        let facts = evidence::gather(&view, claim).map_err(|e| {
            Rejection::bad_request(Issue::error(IssueType::Structure, e.message).at(e.path))
        })?;
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
