//! A reviewer's decision on a case: checked item by item, then stored as the next version of
//! the authorization with a full PAS response Bundle, as `$submit` would answer it.
//!
//! The response is built from the engine's decisions on the stored request (the same policies
//! decide the same items the same way: an item the engine already decided keeps its answer,
//! and a change of policy since is refused rather than silently applied), with every pended
//! item answered by the reviewer. The reviewer's identity goes to the store only.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::view::{Case, trace_item};
use super::{AnsweredBy, Reviewer};
use crate::pas::{self, ItemAnswer, Rejection, ResponseMeta};
use crate::policy::{
    Authorization, CriterionResult, Decision, Outcome, Period, ReviewAction, Status,
};
use crate::service::Service;
use crate::store::extract::RequestKeys;
use crate::store::{NewSubmission, StoreError};

/// The body of `POST /review/cases/{id}/decision` (workflow.md section 4).
#[derive(Debug, Clone, Deserialize)]
pub struct DecisionInput {
    /// The case version the reviewer read; a different current version is a 409.
    #[serde(default)]
    pub version: Option<i64>,
    pub items: Vec<ItemInput>,
}

/// One item's decision as sent.
#[derive(Debug, Clone, Deserialize)]
pub struct ItemInput {
    pub sequence: u32,
    pub action: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub criteria: Option<Vec<String>>,
    #[serde(default)]
    pub quantity: Option<f64>,
    #[serde(default)]
    pub period: Option<PeriodInput>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct PeriodInput {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// A checked decision on one pended item.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    /// A1: what was requested (the period given when the request names none).
    Certify {
        period: Option<Period>,
        reason: Option<String>,
    },
    /// A6: less than requested, quantity and period both given.
    Modify {
        quantity: f64,
        period: Period,
        reason: Option<String>,
    },
    /// A3: a reason in words and the criteria that fail.
    Deny {
        reason: String,
        criteria: Vec<String>,
    },
}

/// Why a decision was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no review case `{0}`")]
    NotFound(String),
    /// 409: the case is closed.
    #[error("the case is closed: its pended items were answered at {0}")]
    Closed(String),
    /// 409: the case changed since the reviewer read it.
    #[error("{0}")]
    Stale(String),
    /// 422: the decision is incomplete or contradicts the request.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReviewError {
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound(_) => 404,
            Self::Closed(_) | Self::Stale(_) => 409,
            Self::Invalid(_) => 422,
            Self::Rejected(r) => r.status,
            Self::Store(StoreError::Conflict(_)) => 409,
            Self::Store(_) => 500,
        }
    }
}

/// The stored reviewer answer.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The new version's PAS response Bundle.
    pub response: Value,
    /// Its version in the authorization chain.
    pub version: u32,
}

fn invalid(message: impl Into<String>) -> ReviewError {
    ReviewError::Invalid(message.into())
}

/// What the Claim item asks for: quantity and period (servicedPeriod, else servicedDate).
fn requested(claim: &Value, sequence: u32) -> (Option<f64>, Option<Period>) {
    let item = claim
        .get("item")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|i| i.get("sequence").and_then(Value::as_u64) == Some(u64::from(sequence)));
    let Some(item) = item else {
        return (None, None);
    };
    let quantity = item.pointer("/quantity/value").and_then(Value::as_f64);
    let date = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .and_then(|s| s.get(..10))
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
    };
    let period = match (
        date(item.pointer("/servicedPeriod/start")),
        date(item.pointer("/servicedPeriod/end")),
        date(item.get("servicedDate")),
    ) {
        (Some(start), Some(end), _) => Some(Period { start, end }),
        (_, _, Some(day)) => Some(Period {
            start: day,
            end: day,
        }),
        _ => None,
    };
    (quantity, period)
}

fn reason_of(text: &Option<String>) -> Option<String> {
    text.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Checks the decisions against the case: one per pended item, each complete.
fn verdicts(
    case: &Case,
    input: &DecisionInput,
    claim: &Value,
) -> Result<BTreeMap<u32, Verdict>, ReviewError> {
    let pended = case.pended();
    let mut out = BTreeMap::new();
    for item in &input.items {
        let sequence = item.sequence;
        if !pended.contains(&sequence) {
            return Err(invalid(format!(
                "item {sequence} is not a pended item of this case (pended: {})",
                list(&pended)
            )));
        }
        if out.contains_key(&sequence) {
            return Err(invalid(format!("item {sequence} is decided twice")));
        }
        let (asked_quantity, asked_period) = requested(claim, sequence);
        let verdict = match item.action.as_str() {
            "A1" => {
                let period = match (asked_period, item.period) {
                    (Some(_), _) => None,
                    (None, Some(p)) => Some(period_of(sequence, p)?),
                    (None, None) => {
                        return Err(invalid(format!(
                            "item {sequence}: the request names no service period; an A1 \
                             needs `period`"
                        )));
                    }
                };
                Verdict::Certify {
                    period,
                    reason: reason_of(&item.reason),
                }
            }
            "A6" => {
                let (Some(quantity), Some(period)) = (item.quantity, item.period) else {
                    return Err(invalid(format!(
                        "item {sequence}: an A6 needs both `quantity` and `period`"
                    )));
                };
                let period = period_of(sequence, period)?;
                if !(quantity.is_finite() && quantity > 0.0) {
                    return Err(invalid(format!(
                        "item {sequence}: `quantity` must be a positive number"
                    )));
                }
                if asked_quantity.is_some_and(|asked| quantity > asked) {
                    return Err(invalid(format!(
                        "item {sequence}: an A6 authorizes less than requested, not more \
                         (quantity {quantity} > requested)"
                    )));
                }
                if let Some(asked) = asked_period
                    && (period.start < asked.start || period.end > asked.end)
                {
                    return Err(invalid(format!(
                        "item {sequence}: the A6 period {} to {} lies outside the requested \
                         period {} to {}",
                        period.start, period.end, asked.start, asked.end
                    )));
                }
                Verdict::Modify {
                    quantity,
                    period,
                    reason: reason_of(&item.reason),
                }
            }
            "A3" => {
                let Some(reason) = reason_of(&item.reason) else {
                    return Err(invalid(format!(
                        "item {sequence}: a denial (A3) needs a `reason` in words"
                    )));
                };
                let criteria: Vec<String> = item
                    .criteria
                    .iter()
                    .flatten()
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty())
                    .collect();
                if criteria.is_empty() {
                    return Err(invalid(format!(
                        "item {sequence}: a denial (A3) needs the failing policy `criteria`, \
                         e.g. [\"A.i.C.2.b\"]"
                    )));
                }
                let known: Vec<String> = case
                    .trace_item(sequence)
                    .and_then(|t| t.get("criteria"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.get("id").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect();
                if let Some(unknown) = criteria
                    .iter()
                    .find(|c| !known.is_empty() && !known.contains(c))
                {
                    return Err(invalid(format!(
                        "item {sequence}: `{unknown}` is not a criterion of the item's policy"
                    )));
                }
                Verdict::Deny { reason, criteria }
            }
            other => {
                return Err(invalid(format!(
                    "item {sequence}: action `{other}` is not a reviewer decision (A1, A6 or A3)"
                )));
            }
        };
        out.insert(sequence, verdict);
    }
    let undecided: Vec<u32> = pended
        .iter()
        .copied()
        .filter(|s| !out.contains_key(s))
        .collect();
    if !undecided.is_empty() {
        return Err(invalid(format!(
            "every pended item needs a decision; missing: {}",
            list(&undecided)
        )));
    }
    Ok(out)
}

fn period_of(sequence: u32, p: PeriodInput) -> Result<Period, ReviewError> {
    if p.end < p.start {
        return Err(invalid(format!(
            "item {sequence}: the period ends ({}) before it starts ({})",
            p.end, p.start
        )));
    }
    Ok(Period {
        start: p.start,
        end: p.end,
    })
}

fn list(sequences: &[u32]) -> String {
    sequences
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The engine's decision on a pended item, answered as the reviewer decided.
fn reviewed(
    engine: Decision,
    verdict: &Verdict,
    claim: &Value,
    at: DateTime<Utc>,
) -> Result<Decision, ReviewError> {
    let sequence = engine.sequence;
    let (asked_quantity, asked_period) = requested(claim, sequence);
    let mut criteria = engine.criteria;
    let (outcome, reason, failing): (Outcome, Option<&String>, &[String]) = match verdict {
        Verdict::Certify { period, reason } => {
            let period = period
                .or(asked_period)
                .ok_or_else(|| invalid(format!("item {sequence}: the request names no period")))?;
            (
                Outcome::Certified(Authorization {
                    quantity: asked_quantity,
                    period,
                }),
                reason.as_ref(),
                &[],
            )
        }
        Verdict::Modify {
            quantity,
            period,
            reason,
        } => (
            Outcome::Modified {
                authorized: Authorization {
                    quantity: Some(*quantity),
                    period: *period,
                },
            },
            reason.as_ref(),
            &[],
        ),
        Verdict::Deny { reason, criteria } => (Outcome::NotCertified, Some(reason), criteria),
    };
    for id in failing {
        let because = format!(
            "A plan reviewer found this criterion not met: {}",
            reason.map(String::as_str).unwrap_or_default()
        );
        match criteria.iter_mut().find(|c| &c.id == id) {
            Some(c) => {
                c.status = Status::NotMet;
                c.because = vec![because];
            }
            None => criteria.push(CriterionResult {
                id: id.clone(),
                text: "named by the plan reviewer".into(),
                status: Status::NotMet,
                because: vec![because],
            }),
        }
    }
    let action = outcome.review_action();
    let mut summary = format!(
        "Decided by a plan reviewer at {}: {} ({}).",
        at.to_rfc3339_opts(SecondsFormat::Secs, true),
        action.display(),
        action.code()
    );
    if let Some(reason) = reason {
        summary.push_str(&format!(" Reason: {reason}"));
        if !reason.ends_with('.') {
            summary.push('.');
        }
    }
    if !failing.is_empty() {
        summary.push_str(&format!(" Criteria not met: {}.", failing.join(", ")));
    }
    Ok(Decision {
        sequence,
        outcome,
        policy: engine.policy,
        criteria,
        summary,
    })
}

/// Takes a reviewer's decision on case `case_id`: checks it, builds the response and stores
/// it as the next version of the authorization (which closes the case in the same
/// transaction).
pub async fn decide(
    service: &Service,
    case_id: &str,
    reviewer: &Reviewer,
    input: &DecisionInput,
) -> Result<Decided, ReviewError> {
    let store = service
        .store()
        .ok_or_else(|| Rejection::internal("reviewing needs the request store"))?;
    let record = store
        .review_case(case_id)
        .await?
        .ok_or_else(|| ReviewError::NotFound(case_id.to_owned()))?;
    if let Some(closing) = &record.closed {
        return Err(ReviewError::Closed(super::view::time(closing.at)));
    }
    if let Some(read) = input.version
        && read != record.version
    {
        return Err(ReviewError::Stale(format!(
            "the case changed since it was read (version {read}, now {})",
            record.version
        )));
    }
    let case = Case::load(store, record).await?;
    let prior = &case.opened;
    let checked = pas::check(prior.request.clone(), &service.settings().limits)?;
    let verdicts = verdicts(&case, input, checked.claim())?;
    let at = Utc::now();
    let earlier = |sequence: u32| {
        prior
            .authorizations
            .iter()
            .find(|a| a.item_sequence == sequence)
            .map(|a| a.number.clone())
            .or_else(|| crate::service::trace::number(&prior.decision_trace, sequence))
    };
    let mut engine_decisions = service.decide(&checked)?.into_iter();
    let mut answers = Vec::new();
    for item in checked.items() {
        let sequence = item.sequence;
        if item.cancelled {
            answers.push(ItemAnswer::cancelled(sequence, earlier(sequence)));
            continue;
        }
        let Some(engine) = engine_decisions.next() else {
            break;
        };
        let decision = match verdicts.get(&sequence) {
            Some(verdict) => reviewed(engine, verdict, checked.claim(), at)?,
            None => {
                let stored = trace_item(&prior.decision_trace, sequence)
                    .and_then(|t| t.get("action"))
                    .and_then(Value::as_str);
                if stored != Some(engine.review_action().code()) {
                    return Err(ReviewError::Stale(format!(
                        "the policies changed since the case was opened: item {sequence} would \
                         now be answered {} (stored: {})",
                        engine.review_action().code(),
                        stored.unwrap_or("none")
                    )));
                }
                engine
            }
        };
        // The number `$submit` would issue, or the one the item already had.
        let number = match decision.outcome.authorization() {
            Some(_) => Some(match earlier(sequence) {
                Some(number) => number,
                None => {
                    service
                        .new_item_number(&checked, &prior.submitter, sequence)
                        .await?
                }
            }),
            None => None,
        };
        answers.push(ItemAnswer::decided(decision, number));
    }
    let meta = ResponseMeta {
        id: uuid::Uuid::new_v4().to_string(),
        created: at,
        identifier_system: service.settings().identifier_system.clone(),
        preauth_ref: crate::service::numbering::preauth_ref(&answers),
    };
    let response = pas::response::build(&checked, &answers, &meta);
    let authorizations = crate::service::numbering::issued(&answers);
    let mut trace = crate::service::trace::encode(&answers);
    mark_reviewed(&mut trace, &verdicts, at);
    let version = prior.version + 1;
    let keys = RequestKeys {
        submitter: prior.submitter.clone(),
        bundle_identifier: prior.bundle_identifier.clone(),
        // The chain's versions are found by any of their claim identifiers; this one is
        // the reviewed claim's, marked so that it cannot be mistaken for a new request.
        claim_identifier: format!("{}#review-{version}", prior.claim_identifier),
        patient_member_id: prior.patient_member_id.clone(),
        provider_id: prior.provider_id.clone(),
        insurer_id: prior.insurer_id.clone(),
        prior_claim_identifier: Some(prior.claim_identifier.clone()),
        // A reviewed version is no request of the submitter's: its identity is the
        // reviewed claim's marked identifier alone, never mistaken for a resubmission.
        prior_key: String::new(),
        claim_full_url: None,
        claim_resource_id: None,
    };
    let mut new = NewSubmission::with_hash(
        keys,
        prior.content_hash.clone(),
        prior.request.clone(),
        response,
        trace,
        prior.policy_revision.clone(),
        authorizations,
    );
    new.status = prior.status;
    new.answered_by = AnsweredBy::Reviewer {
        name: reviewer.name.clone(),
        at,
    };
    let new = new.superseding(prior);
    let stored = store.record(new).await.map_err(|e| match e {
        StoreError::Conflict(message) => ReviewError::Stale(message),
        other => ReviewError::Store(other),
    })?;
    if stored.is_replay() {
        // Another decision on the same version was committed first (it carries the same
        // version key): this one was not recorded.
        return Err(ReviewError::Stale(
            "another decision on this case was recorded first".into(),
        ));
    }
    let stored = stored.into_submission();
    Ok(Decided {
        response: stored.response,
        version: stored.version,
    })
}

/// Records in the trace which items a reviewer decided, how and when (not who: that is in
/// the answer's origin).
fn mark_reviewed(trace: &mut Value, verdicts: &BTreeMap<u32, Verdict>, at: DateTime<Utc>) {
    for item in trace.as_array_mut().into_iter().flatten() {
        let Some(sequence) = item
            .get("sequence")
            .and_then(Value::as_u64)
            .and_then(|s| u32::try_from(s).ok())
        else {
            continue;
        };
        let Some(verdict) = verdicts.get(&sequence) else {
            continue;
        };
        let (reason, criteria) = match verdict {
            Verdict::Certify { reason, .. } | Verdict::Modify { reason, .. } => {
                (reason.clone(), Vec::new())
            }
            Verdict::Deny { reason, criteria } => (Some(reason.clone()), criteria.clone()),
        };
        item["reviewed"] = json!({
            "at": at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "reason": reason,
            "criteria": criteria,
        });
    }
}

/// `ReviewAction` of a reviewer's action code, for callers that parse forms.
pub fn action_code(code: &str) -> Option<ReviewAction> {
    ReviewAction::from_code(code).filter(|a| *a != ReviewAction::Pended)
}
