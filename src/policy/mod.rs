//! Drug policies as data (`profiles/*.toml`) and the engine that decides Claim items by them.
//!
//! A policy file holds the criteria tree with the policy's own numbering and wording, the
//! value sets, the limits and the questionnaire. Rust implements the *kinds* of evidence a
//! leaf can test (`leaf.rs`, `her2.rs`), the three-valued evaluation and the choice between
//! paths (`engine.rs`), and the limits arithmetic (`limits.rs`). Adding a drug policy is a
//! new file, and at most a new kind of leaf.

#[cfg(test)]
mod cases;
mod concerns;
pub mod decision;
mod engine;
pub mod her2;
mod leaf;
pub mod limits;
pub mod load;
pub mod model;
mod questionnaire;
pub mod valueset;

use std::collections::HashMap;
use std::path::Path;

pub use decision::{
    Authorization, CriterionResult, Decision, Outcome, Period, PolicyRef, ReviewAction, Status,
};
pub use load::PolicyError;

use crate::evidence::{Facts, ItemFacts};
use model::{LimitsSpec, QuestionSpec, QuestionnaireMeta, TestSpec};
use valueset::ValueSet;

/// The policies compiled into the binary, so that it runs anywhere with no files beside it.
const EMBEDDED: &[(&str, &str)] = &[(
    "profiles/MP-RX-FP-48-23.toml",
    include_str!("../../profiles/MP-RX-FP-48-23.toml"),
)];

/// One compiled policy.
#[derive(Debug)]
pub struct Policy {
    pub id: String,
    pub revision: String,
    pub revision_note: Option<String>,
    pub title: String,
    /// Value set of the drug whose items this policy decides.
    drug: String,
    pub questionnaire_id: String,
    pub limits: LimitsSpec,
    criteria: Vec<Criterion>,
    index: HashMap<String, usize>,
    exclusions: Vec<usize>,
    paths: Vec<PathPlan>,
    supporting_diagnoses: String,
    continuation: usize,
    continuation_certification_types: Vec<String>,
    early_breast: usize,
    value_sets: HashMap<String, ValueSet>,
    questionnaire_meta: QuestionnaireMeta,
    questions: Vec<QuestionSpec>,
}

/// A criterion of the tree.
#[derive(Debug)]
struct Criterion {
    id: String,
    text: String,
    node: Node,
    documents: Option<String>,
}

#[derive(Debug)]
enum Node {
    All(Vec<usize>),
    Any(Vec<usize>),
    Not(usize),
    Leaf(TestSpec),
}

impl Node {
    fn children(&self) -> Vec<usize> {
        match self {
            Node::All(c) | Node::Any(c) => c.clone(),
            Node::Not(c) => vec![*c],
            Node::Leaf(_) => Vec::new(),
        }
    }
}

/// A path through section A and what makes it a candidate.
#[derive(Debug)]
struct PathPlan {
    criterion: usize,
    family: String,
    early_breast: bool,
    allows_partner: Option<String>,
}

impl Policy {
    /// The policy reference named in every explanation.
    pub fn reference(&self) -> PolicyRef {
        PolicyRef {
            id: self.id.clone(),
            revision: self.revision.clone(),
            title: self.title.clone(),
        }
    }

    /// Whether this policy decides the item: one of its product codes is the policy's drug.
    /// review: the codes of the drug this policy decides, as `system|code`, sorted (the
    /// items that need prior authorization under it).
    pub fn drug_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = self
            .vs(&self.drug)
            .codes()
            .map(|c| format!("{}|{}", c.system.uri(), c.code))
            .collect();
        codes.sort();
        codes
    }

    pub fn applies_to(&self, item: &ItemFacts) -> bool {
        self.vs(&self.drug).contains_any(&item.product_codes)
    }

    /// A value set by name. Names are checked at load, so a miss is a policy-file bug that
    /// load rejects; an empty set keeps evaluation total all the same.
    fn vs(&self, name: &str) -> &ValueSet {
        static EMPTY: std::sync::OnceLock<ValueSet> = std::sync::OnceLock::new();
        self.value_sets
            .get(name)
            .unwrap_or_else(|| EMPTY.get_or_init(ValueSet::default))
    }

    /// Decides one item of a request this policy applies to.
    pub fn decide(&self, facts: &Facts, item: &ItemFacts) -> Decision {
        engine::decide(self, facts, item)
    }
}

/// The loaded policies; decides every Claim item.
#[derive(Debug)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

impl PolicySet {
    /// The policies compiled into the binary from `profiles/`.
    ///
    /// # Panics
    /// Never at run time for a released binary: the embedded files are checked by the unit
    /// tests, so a broken one fails the build's tests rather than a request.
    #[allow(clippy::expect_used)]
    pub fn embedded() -> Self {
        Self::from_sources(EMBEDDED).expect("embedded policy files are valid (checked by tests)")
    }

    fn from_sources(sources: &[(&str, &str)]) -> Result<Self, PolicyError> {
        let policies = sources
            .iter()
            .map(|(origin, text)| load::load_str(text, Path::new(origin)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { policies })
    }

    /// Loads every `*.toml` policy in a folder (sorted by file name).
    pub fn load_dir(dir: &Path) -> Result<Self, PolicyError> {
        let read_err = |source| PolicyError::Read {
            path: dir.to_owned(),
            source,
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        let policies = files
            .iter()
            .map(|f| load::load_file(f))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { policies })
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// The FHIR Questionnaire a policy publishes (`GET /Questionnaire/{id}`), e.g. `kadcyla`.
    pub fn questionnaire(&self, id: &str) -> Option<serde_json::Value> {
        self.policies
            .iter()
            .find(|p| p.questionnaire_id == id)
            .map(questionnaire::build)
    }

    /// Decides one item. Items no policy covers are pended: the adapter never denies what no
    /// policy covers (decisions.md section 1).
    pub fn decide(&self, facts: &Facts, item: &ItemFacts) -> Decision {
        let decision = match self.policies.iter().find(|p| p.applies_to(item)) {
            Some(policy) => policy.decide(facts, item),
            None => Decision {
                sequence: item.sequence,
                outcome: Outcome::Pended {
                    documents: vec![
                        "clinical documentation supporting the service, for manual review".into(),
                    ],
                },
                policy: None,
                criteria: Vec::new(),
                summary: "no automated policy applies to this item; pended for manual review"
                    .into(),
            },
        };
        // Section 7: concerns and set-aside evidence (encodings branch; see concerns.rs).
        concerns::apply(decision, facts, item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_policies_load() {
        let set = PolicySet::from_sources(EMBEDDED);
        assert!(set.is_ok(), "{:?}", set.err());
    }

    #[test]
    fn profiles_folder_matches_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        let set = PolicySet::load_dir(&dir);
        assert!(set.is_ok(), "{:?}", set.err());
        assert_eq!(set.map(|s| s.policies.len()).ok(), Some(EMBEDDED.len()));
    }

    #[test]
    fn load_errors_name_the_problem() {
        let text = include_str!("../../profiles/MP-RX-FP-48-23.toml");
        let broken = text.replacen(
            "all = [\"A.i\", \"early_breast\"",
            "all = [\"A.i\", \"no_such_node\"",
            1,
        );
        let err = load::load_str(&broken, Path::new("x.toml"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "policy `MP-RX-FP-48-23`: criterion `A.i.C.1` names unknown criterion `no_such_node`"
            )
        );
        let typo = text.replacen(
            "text = \"Individual has early breast cancer\"",
            "txt = \"x\"",
            1,
        );
        let err = load::load_str(&typo, Path::new("x.toml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("x.toml") && err.contains("txt"), "{err}");
    }
}
