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
    });
    if pends {
        let mut documents = match &decision.outcome {
            Outcome::Pended { documents } => documents.clone(),
            _ => Vec::new(),
        };
        documents.extend(
            item.concerns
                .iter()
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
