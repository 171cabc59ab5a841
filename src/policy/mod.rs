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
mod her2_low;
mod leaf;
pub mod limits;
pub mod load;
pub mod model;
mod person;
mod questionnaire;
pub mod valueset;

use std::collections::HashMap;
use std::path::Path;

pub use decision::{
    Authorization, CriterionResult, Decision, Outcome, Period, PolicyRef, ReviewAction, Status,
};
pub use load::PolicyError;

use crate::evidence::{Facts, ItemFacts};
use model::{
    CycleCap, LimitCriterion, LimitsSpec, NoIndication, QuestionSpec, QuestionnaireMeta, TestSpec,
};
use valueset::ValueSet;

/// The policies compiled into the binary, so that it runs anywhere with no files beside it.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "profiles/MP-RX-FP-48-23.toml",
        include_str!("../../profiles/MP-RX-FP-48-23.toml"),
    ),
    (
        "profiles/MP-RX-FP-52-23.toml",
        include_str!("../../profiles/MP-RX-FP-52-23.toml"),
    ),
];

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
    exclusions: Vec<usize>,
    paths: Vec<PathPlan>,
    supporting_diagnoses: String,
    continuation: usize,
    continuation_indication: usize,
    continuation_certification_types: Vec<String>,
    request_type: String,
    outside_indication: LimitCriterion,
    no_indication: NoIndication,
    partner_exclusion: Option<LimitCriterion>,
    contradictions_pend: bool,
    cap: Option<CapPlan>,
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
    cycle_capped: bool,
    allows_partner: Option<String>,
    /// mg/kg per administration on this path.
    dose: rust_decimal::Decimal,
}

/// The cycle cap with its condition resolved.
#[derive(Debug)]
struct CapPlan {
    applies_when: usize,
    spec: CycleCap,
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

    /// Whether a QuestionnaireResponse's `questionnaire` canonical names this policy's
    /// Questionnaire: the published URL, or any canonical ending `/Questionnaire/{id}`
    /// (a `|version` suffix ignored).
    pub fn names_questionnaire(&self, canonical: &str) -> bool {
        let url = canonical.split('|').next().unwrap_or_default().trim();
        url == self.questionnaire_meta.url
            || url
                .strip_suffix(self.questionnaire_id.as_str())
                .is_some_and(|head| head.ends_with("/Questionnaire/") || head == "Questionnaire/")
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
        Self::new(policies)
    }

    /// The set of `policies`; two policies publishing the same Questionnaire are refused,
    /// since answers are routed to a policy by the Questionnaire they name.
    pub fn new(policies: Vec<Policy>) -> Result<Self, PolicyError> {
        for (i, p) in policies.iter().enumerate() {
            if let Some(q) = policies[..i]
                .iter()
                .find(|q| q.questionnaire_id == p.questionnaire_id)
            {
                return Err(PolicyError::Duplicate {
                    first: q.id.clone(),
                    second: p.id.clone(),
                    questionnaire: p.questionnaire_id.clone(),
                });
            }
        }
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
        Self::new(policies)
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// The FHIR Questionnaire a policy publishes (`GET /Questionnaire/{id}`), by its id.
    pub fn questionnaire(&self, id: &str) -> Option<serde_json::Value> {
        self.policies
            .iter()
            .find(|p| p.questionnaire_id == id)
            .map(questionnaire::build)
    }

    /// Decides one item. Items no policy covers are pended: the adapter never denies what no
    /// policy covers (decisions.md section 1).
    pub fn decide(&self, facts: &Facts, item: &ItemFacts) -> Decision {
        let matching: Vec<&Policy> = self
            .policies
            .iter()
            .filter(|p| p.applies_to(item))
            .collect();
        let decision = match matching.as_slice() {
            [policy] => {
                let own = self.answers_for(policy, facts);
                policy.decide(own.as_ref().unwrap_or(facts), item)
            }
            [_, _, ..] => {
                let ids: Vec<&str> = matching.iter().map(|p| p.id.as_str()).collect();
                Decision {
                    sequence: item.sequence,
                    outcome: Outcome::Pended {
                        documents: vec![
                            "the drug requested: the item carries product codes of more than one drug"
                                .into(),
                        ],
                    },
                    policy: None,
                    criteria: Vec::new(),
                    summary: format!(
                        "pended: the item carries codes of the drugs of policies {}, which contradict each other",
                        ids.join(" and ")
                    ),
                }
            }
            [] => Decision {
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

    /// The facts with the answers of QuestionnaireResponses that name another loaded
    /// policy's Questionnaire left out; `None` when nothing is left out. A response naming
    /// no Questionnaire, or one no policy publishes, is read for every item.
    fn answers_for(&self, policy: &Policy, facts: &Facts) -> Option<Facts> {
        let foreign: Vec<&str> = facts
            .questionnaires
            .iter()
            .filter(|n| {
                !policy.names_questionnaire(&n.questionnaire)
                    && self
                        .policies
                        .iter()
                        .any(|p| p.names_questionnaire(&n.questionnaire))
            })
            .map(|n| n.resource.as_str())
            .collect();
        if foreign.is_empty()
            || !facts
                .answers
                .iter()
                .any(|a| foreign.contains(&a.source.resource.as_str()))
        {
            return None;
        }
        let mut own = facts.clone();
        own.answers
            .retain(|a| !foreign.contains(&a.source.resource.as_str()));
        Some(own)
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
                "x.toml:89:1: policy `MP-RX-FP-48-23`: criterion `A.i.C.1` names unknown criterion `no_such_node`"
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

    fn load_error(text: &str) -> String {
        load::load_str(text, Path::new("profiles/broken.toml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    /// The line (1-based) of the first occurrence of `needle` in `text`.
    fn line_of(text: &str, needle: &str) -> usize {
        text.find(needle)
            .map_or(0, |at| text[..at].matches('\n').count() + 1)
    }

    /// Regression (issue 10): a policy file missing a value set or a questionnaire item that
    /// the engine relies on loaded without error and then pended everything, because
    /// `Policy::vs()` answers an empty set for an unknown name. Load now fails naming the
    /// file, the line and column, and the missing name.
    #[test]
    fn a_policy_missing_a_value_set_or_question_the_engine_relies_on_fails_to_load() {
        for (origin, text) in EMBEDDED {
            // The body weight the dose is computed from.
            let broken = text.replacen("[value_sets.body_weight]", "[value_sets.weight_gone]", 1);
            let line = line_of(text, "[limits]");
            assert_eq!(
                load_error(&broken),
                format!(
                    "profiles/broken.toml:{line}:1: policy `{}`: `limits.body_weight` names unknown value set `body_weight`",
                    if origin.contains("48") {
                        "MP-RX-FP-48-23"
                    } else {
                        "MP-RX-FP-52-23"
                    }
                ),
                "{origin}"
            );
            // A HER2 value set the HER2 reading needs.
            let broken = text.replacen("[value_sets.her2_ratio]", "[value_sets.ratio_gone]", 1);
            let err = load_error(&broken);
            assert!(
                err.starts_with("profiles/broken.toml:")
                    && err.ends_with("names unknown value set `her2_ratio`"),
                "{origin}: {err}"
            );
            // A question the combination analysis reads.
            let broken =
                text.replacen("link_id = \"single-agent\"", "link_id = \"single-gone\"", 1);
            let err = load_error(&broken);
            assert!(
                err.starts_with("profiles/broken.toml:")
                    && err.ends_with("reads unknown question `single-agent`"),
                "{origin}: {err}"
            );
            // The question that says initial or continuation.
            let broken = text.replacen("link_id = \"request-type\"", "link_id = \"type-gone\"", 1);
            let line = line_of(text, "[decision]");
            let err = load_error(&broken);
            assert!(
                err.starts_with(&format!("profiles/broken.toml:{line}:1: "))
                    && err
                        .ends_with("`decision.request_type` reads unknown question `request-type`"),
                "{origin}: {err}"
            );
        }
    }

    #[test]
    fn a_path_without_a_dose_fails_to_load() {
        let text = include_str!("../../profiles/MP-RX-FP-52-23.toml");
        let broken = text.replacen(
            "{ criterion = \"A.iii\", family = \"gastric_gej\", dose_mg_per_kg = 6.4 }",
            "{ criterion = \"A.iii\", family = \"gastric_gej\" }",
            1,
        );
        let err = load_error(&broken);
        assert!(
            err.ends_with(
                "path `A.iii` has no dose: set `dose_mg_per_kg` on the path or in [limits]"
            ),
            "{err}"
        );
    }

    #[test]
    fn each_policy_decides_only_its_own_drug_and_both_codes_pend() {
        let set = PolicySet::embedded();
        let item = |codes: &[&str]| ItemFacts {
            sequence: 1,
            product_codes: codes
                .iter()
                .map(|c| crate::fhir::Code::of(crate::fhir::CodeSystem::Hcpcs, c))
                .collect(),
            ..ItemFacts::default()
        };
        let facts = Facts::default();
        let policy_of = |codes: &[&str]| set.decide(&facts, &item(codes)).policy.map(|p| p.id);
        assert_eq!(policy_of(&["J9354"]).as_deref(), Some("MP-RX-FP-48-23"));
        assert_eq!(policy_of(&["J9358"]).as_deref(), Some("MP-RX-FP-52-23"));
        let both = set.decide(&facts, &item(&["J9354", "J9358"]));
        assert!(matches!(both.outcome, Outcome::Pended { .. }), "{both:?}");
        assert!(both.summary.contains("contradict"), "{}", both.summary);
        let neither = set.decide(&facts, &item(&["J9355"]));
        assert!(matches!(neither.outcome, Outcome::Pended { .. }));
        assert_eq!(neither.policy, None);
    }

    #[test]
    fn each_policy_publishes_its_own_questionnaire() {
        let set = PolicySet::embedded();
        let enhertu = set.questionnaire("enhertu").unwrap_or_default();
        assert_eq!(
            enhertu["url"],
            "http://example.org/payer/Questionnaire/enhertu"
        );
        let links: Vec<&str> = enhertu["item"]
            .as_array()
            .map(|items| items.iter().filter_map(|i| i["linkId"].as_str()).collect())
            .unwrap_or_default();
        assert!(links.contains(&"ild-grade") && links.contains(&"prior-endocrine-therapy"));
        assert!(!links.contains(&"cycles-received"), "{links:?}");
        let kadcyla = set.questionnaire("kadcyla").unwrap_or_default();
        assert_ne!(kadcyla["url"], enhertu["url"]);
        let policies = set.policies();
        assert!(
            policies[1].names_questionnaire("http://example.org/payer/Questionnaire/enhertu|1.0")
        );
        assert!(
            policies[1].names_questionnaire("https://ehr.example.com/fhir/Questionnaire/enhertu")
        );
        assert!(!policies[1].names_questionnaire("http://example.org/Questionnaire/kadcyla"));
        assert!(!policies[1].names_questionnaire("http://example.org/Questionnaire/not-enhertu"));
    }
}
