//! Authorization numbers: which number each item's answer carries.
//!
//! The engine decides; the service numbers. A new authorization gets the number derived from
//! the request's identity ([`crate::pas::RequestIdentity::item_number`]); an update keeps the
//! number an item already had in the version it replaces, and a cancelled item carries the
//! number of the authorization it cancels.

use super::trace;
use crate::pas::authz::NumberKey;
use crate::pas::{CheckedRequest, ItemAnswer};
use crate::policy::Decision;
use crate::store::{ItemAuthorization, StoredSubmission};

/// How new authorization numbers are derived.
pub(super) enum Numbers<'a> {
    /// A server's: keyed (HMAC) over the submitter and the request identity.
    Keyed {
        key: &'a NumberKey,
        submitter: &'a str,
    },
    /// Offline `evaluate` and `replay` (numbers issued to nobody): from the identity alone.
    Offline,
}

impl Numbers<'_> {
    fn item_number(&self, request: &CheckedRequest, sequence: u32) -> String {
        match self {
            Self::Keyed { key, submitter } => request
                .identity()
                .keyed_item_number(key, submitter, sequence),
            Self::Offline => request.identity().item_number(sequence),
        }
    }
}

/// One answer per Claim item, in Claim order: the engine's decision for every item that is
/// not cancelled (`decisions`, one per such item), `C` for the others. A cancellation of the
/// whole Claim also answers `C` for the prior's items the Claim no longer lists, so that the
/// response gives the current result of every item ever submitted.
pub(super) fn answers(
    request: &CheckedRequest,
    decisions: Vec<Decision>,
    prior: Option<&StoredSubmission>,
    numbers: &Numbers<'_>,
) -> Vec<ItemAnswer> {
    // The number an item had in the prior: issued there, or carried by a cancelled answer.
    let earlier = |sequence: u32| {
        prior.and_then(|p| {
            p.authorizations
                .iter()
                .find(|a| a.item_sequence == sequence)
                .map(|a| a.number.clone())
                .or_else(|| trace::number(&p.decision_trace, sequence))
        })
    };
    let mut decisions = decisions.into_iter();
    let mut answers: Vec<ItemAnswer> = request
        .items()
        .iter()
        .filter_map(|item| {
            if item.cancelled {
                return Some(ItemAnswer::cancelled(item.sequence, earlier(item.sequence)));
            }
            let decision = decisions.next()?;
            // An update keeps the number of an item that stays authorized.
            let number = decision.outcome.authorization().map(|_| {
                earlier(decision.sequence)
                    .unwrap_or_else(|| numbers.item_number(request, decision.sequence))
            });
            Some(ItemAnswer::decided(decision, number))
        })
        .collect();
    if let Some(prior) = prior.filter(|_| request.cancels_claim()) {
        for sequence in trace::sequences(&prior.decision_trace) {
            if !answers.iter().any(|a| a.sequence == sequence) {
                answers.push(ItemAnswer::cancelled(sequence, earlier(sequence)));
            }
        }
    }
    answers
}

/// `ClaimResponse.preAuthRef` (decisions.md section 2): the number of the first item this
/// answer authorizes, so a one-item request shows one number.
pub(crate) fn preauth_ref(answers: &[ItemAnswer]) -> Option<String> {
    answers
        .iter()
        .filter(|a| a.authorization().is_some())
        .find_map(|a| a.authorization_number.clone())
}

/// The numbers issued by this answer, for the store: every decided item with a number (a
/// cancelled item issues nothing; its number stays with the version that issued it).
pub(crate) fn issued(answers: &[ItemAnswer]) -> Vec<ItemAuthorization> {
    answers
        .iter()
        .filter_map(|a| {
            let decision = a.decision()?;
            let number = a.authorization_number.clone()?;
            let period = a.authorization().map(|auth| auth.period);
            Some(ItemAuthorization {
                item_sequence: a.sequence,
                number,
                review_action: decision.review_action(),
                period_start: period.map(|p| p.start),
                period_end: period.map(|p| p.end),
            })
        })
        .collect()
}
