//! What the evidence set aside or flagged (decisions.md section 7), applied to a decision.
//!
//! The engine decides on clean evidence; this step, run on every decision after the engine,
//! makes sure that the answer does not certify what the request itself makes unreadable, and
//! that the note names everything left out:
//!
//! - an item with a [`ConcernKind::PeriodFarFromRequest`] is pended (A4) for a reviewer, whatever
//!   the criteria say: an automated answer on a period years away is no answer;
//! - an item with a [`ConcernKind::QuantityUnit`] cannot have its dose checked: a certification
//!   (A1, A6) becomes A4; a denial (A3) stands, since it rests on documented criteria the unit
//!   does not change;
//! - a [`ConcernKind::QuantityConverted`] changes nothing but is said, so that a reviewer reading
//!   "requested 300000 units" knows they were sent as 300 g;
//! - evidence set aside (another patient's resource, an unreadable resource, an implausible
//!   value) is named in the summary of every decision, with the reason.

use crate::evidence::{ConcernKind, Facts, ItemFacts};

use super::decision::{Decision, Outcome};

/// `decision` adjusted for the item's concerns, its summary naming them and what was set aside.
pub fn apply(mut decision: Decision, facts: &Facts, item: &ItemFacts) -> Decision {
    let authorizes = decision.outcome.authorization().is_some();
    let pends = item.concerns.iter().any(|c| match c.kind {
        ConcernKind::PeriodFarFromRequest => true,
        ConcernKind::QuantityUnit => authorizes,
        ConcernKind::QuantityConverted => false,
    });
    if pends {
        let mut documents = match &decision.outcome {
            Outcome::Pended { documents } => documents.clone(),
            _ => Vec::new(),
        };
        documents.extend(
            item.concerns
                .iter()
                .filter(|c| c.kind != ConcernKind::QuantityConverted)
                .map(|c| format!("a corrected request: {} at `{}`", c.message, c.path)),
        );
        decision.outcome = Outcome::Pended { documents };
        decision.summary = format!("pended for a reviewer (was: {})", decision.summary);
    }
    for concern in &item.concerns {
        decision
            .summary
            .push_str(&format!("; {} at `{}`", concern.message, concern.path));
    }
    if !facts.set_aside.is_empty() {
        let named: Vec<String> = facts
            .set_aside
            .iter()
            .map(|s| format!("{} at `{}`: {}", s.source.resource, s.source.path, s.reason))
            .collect();
        decision
            .summary
            .push_str(&format!("; evidence set aside: {}", named.join("; ")));
    }
    decision
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::evidence::{Concern, SetAside, Source};
    use crate::policy::decision::{Authorization, Period};

    fn decision(outcome: Outcome) -> Decision {
        Decision {
            sequence: 1,
            outcome,
            policy: None,
            criteria: Vec::new(),
            summary: "as the engine said".into(),
        }
    }

    fn certified() -> Outcome {
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
        Outcome::Certified(Authorization {
            quantity: Some(2016.0),
            period: Period {
                start: day,
                end: day,
            },
        })
    }

    fn item(kind: ConcernKind) -> ItemFacts {
        ItemFacts {
            sequence: 1,
            concerns: vec![Concern {
                kind,
                path: "Bundle.entry[0].resource.item[0].quantity".into(),
                message: "the quantity 3 `mL` is neither mg nor units of the drug".into(),
            }],
            ..ItemFacts::default()
        }
    }

    #[test]
    fn a_unit_concern_pends_a_certification_but_not_a_denial() {
        let facts = Facts::default();
        let pended = apply(
            decision(certified()),
            &facts,
            &item(ConcernKind::QuantityUnit),
        );
        assert_eq!(
            pended.outcome,
            Outcome::Pended {
                documents: vec!["a corrected request: the quantity 3 `mL` is neither mg nor units of the drug at `Bundle.entry[0].resource.item[0].quantity`".into()]
            }
        );
        assert_eq!(
            pended.summary,
            "pended for a reviewer (was: as the engine said); the quantity 3 `mL` is neither mg nor units of the drug at `Bundle.entry[0].resource.item[0].quantity`"
        );
        let denied = apply(
            decision(Outcome::NotCertified),
            &facts,
            &item(ConcernKind::QuantityUnit),
        );
        assert_eq!(denied.outcome, Outcome::NotCertified);
    }

    #[test]
    fn a_far_period_pends_whatever_the_criteria_say() {
        let facts = Facts::default();
        for outcome in [certified(), Outcome::NotCertified] {
            let got = apply(
                decision(outcome),
                &facts,
                &item(ConcernKind::PeriodFarFromRequest),
            );
            assert_eq!(got.outcome.review_action().code(), "A4");
        }
    }

    #[test]
    fn evidence_set_aside_is_named_in_every_decision() {
        let facts = Facts {
            set_aside: vec![SetAside {
                source: Source {
                    resource: "Observation/w".into(),
                    path: "Bundle.entry[3].resource".into(),
                },
                reason: "body weight 10000 kg is outside 0.5-500 kg: not a weight".into(),
            }],
            ..Facts::default()
        };
        let got = apply(
            decision(Outcome::NotCertified),
            &facts,
            &ItemFacts::default(),
        );
        assert_eq!(got.outcome, Outcome::NotCertified);
        assert_eq!(
            got.summary,
            "as the engine said; evidence set aside: Observation/w at `Bundle.entry[3].resource`: body weight 10000 kg is outside 0.5-500 kg: not a weight"
        );
    }
}
