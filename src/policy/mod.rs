//! Drug policies as data (`profiles/*.toml`) and the engine that decides Claim items by them.

pub mod decision;

pub use decision::{
    Authorization, CriterionResult, Decision, Outcome, Period, PolicyRef, ReviewAction, Status,
};

use crate::evidence::{Facts, ItemFacts};

/// The loaded policies; decides every Claim item.
///
/// SKELETON: replaced by the engine (issue 3).
#[derive(Debug, Default)]
pub struct PolicySet {}

impl PolicySet {
    /// The policies compiled into the binary from `profiles/`.
    pub fn embedded() -> Self {
        Self {}
    }

    /// The FHIR Questionnaire a policy publishes (`GET /Questionnaire/{id}`), e.g. `kadcyla`.
    pub fn questionnaire(&self, id: &str) -> Option<serde_json::Value> {
        let _ = id;
        None
    }

    /// Decides one item. Items no policy covers are pended: the adapter never denies what no
    /// policy covers (decisions.md section 1).
    pub fn decide(&self, facts: &Facts, item: &ItemFacts) -> Decision {
        let _ = facts;
        Decision {
            sequence: item.sequence,
            outcome: Outcome::Pended {
                documents: vec!["clinical documentation for manual review".into()],
            },
            policy: None,
            criteria: Vec::new(),
            summary: "no automated policy applies to this item; pended for manual review".into(),
        }
    }
}
