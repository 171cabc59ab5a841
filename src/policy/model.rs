//! The policy file as written: serde types that mirror `profiles/*.toml` one to one.
//!
//! Unknown fields are errors (`deny_unknown_fields`), so a typo in a policy file fails the
//! load instead of silently dropping a criterion. `load.rs` compiles these into the
//! evaluable [`super::Policy`].

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub id: String,
    pub revision: String,
    #[serde(default)]
    pub revision_note: Option<String>,
    pub title: String,
    /// Value set naming the drug whose Claim items this policy decides.
    pub drug: String,
    /// Id of the Questionnaire the policy publishes.
    pub questionnaire: String,
    pub limits: LimitsSpec,
    pub decision: DecisionSpec,
    pub criteria: Vec<CriterionSpec>,
    pub questionnaire_meta: QuestionnaireMeta,
    #[serde(default)]
    pub questions: Vec<QuestionSpec>,
    pub value_sets: BTreeMap<String, ValueSetSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    pub period_months: u32,
    pub dose_mg_per_kg: f64,
    pub interval_days: u32,
    pub early_breast_max_cycles: u32,
    pub disease_status_months: u32,
    pub neoadjuvant_min_weeks: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionSpec {
    pub exclusions: Vec<String>,
    pub paths: Vec<PathSpec>,
    pub supporting_diagnoses: String,
    pub continuation: String,
    pub continuation_certification_types: Vec<String>,
    pub early_breast: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathSpec {
    pub criterion: String,
    /// Value set of diagnoses that make this path a candidate.
    pub family: String,
    /// The path whose cycles are capped (early breast cancer, B.ii).
    #[serde(default)]
    pub early_breast: bool,
    /// A value set of partner drugs this path allows (neratinib on A.ii).
    #[serde(default)]
    pub allows_partner: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionSpec {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub all: Option<Vec<String>>,
    #[serde(default)]
    pub any: Option<Vec<String>>,
    #[serde(default)]
    pub not: Option<String>,
    #[serde(default)]
    pub test: Option<TestSpec>,
    /// What to send when this criterion cannot be settled.
    #[serde(default)]
    pub documents: Option<String>,
}

/// What an undocumented leaf is worth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Absent {
    /// Nothing documents it: the item pends.
    #[default]
    Missing,
    /// No evidence of a state means the state is not there (e.g. no metastasis coded).
    NotMet,
    /// No evidence against it means it holds (e.g. "no evidence of unacceptable toxicity").
    Met,
}

/// A leaf: a kind of evidence (implemented in `leaf.rs`) with its parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TestSpec {
    /// A diagnosis (Claim.diagnosis or Condition) in the value set.
    Diagnosis {
        value_set: String,
        #[serde(default)]
        absent: Absent,
    },
    /// An Observation coded in `code` whose value is in `value` (met) or `negative` (not met).
    Observation {
        code: String,
        value: String,
        #[serde(default)]
        negative: Option<String>,
        #[serde(default)]
        absent: Absent,
    },
    /// A questionnaire answer compared with `equals` or `at_least`.
    Answer {
        link_id: String,
        #[serde(default)]
        equals: Option<Expected>,
        #[serde(default)]
        at_least: Option<i64>,
        #[serde(default)]
        absent: Absent,
    },
    /// A drug in the value set documented before the request (history).
    Therapy {
        value_set: String,
        when: TherapyWhen,
        #[serde(default)]
        absent: Absent,
    },
    /// Corroborates several leaves: structured evidence first, answers fill the gaps, and
    /// disagreement pends.
    Facts {
        of: Vec<TestSpec>,
        #[serde(default)]
        absent: Absent,
    },
    /// HER2-positive per the policy's Definitions (decisions.md section 4).
    Her2Positive,
    /// ERBB2 variant present (Genomics Reporting variant observation).
    Erbb2Variant,
    /// Weeks from the earliest start to the latest end of the taxane and trastuzumab courses
    /// documented before the request (both drugs present).
    NeoadjuvantWeeks { taxane: String, trastuzumab: String },
    /// No other anticancer drug over the same period, but for an allowed partner.
    SingleAgent {
        #[serde(default)]
        partner: Option<String>,
    },
    /// Hormone receptor status, any of which is accepted (reported for the reviewer).
    HormoneReceptor,
    /// The item carries a prior authorization number.
    PriorAuthorization,
    /// Most recent disease status within the policy's window, not progression.
    DiseaseStatus {
        progression: String,
        response: String,
    },
    /// Early breast cancer has cycles left under the 14-cycle cap.
    CyclesRemaining,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TherapyWhen {
    /// Documented as history, or started before the requested start.
    Before,
}

/// The value an answer must have.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Expected {
    Bool(bool),
    Integer(i64),
    Code(String),
    OneOf(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionnaireMeta {
    pub url: String,
    pub name: String,
    pub title: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionSpec {
    pub link_id: String,
    #[serde(rename = "type")]
    pub kind: QuestionType,
    pub text: String,
    #[serde(default)]
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    Boolean,
    Integer,
    String,
    Choice,
}

impl QuestionType {
    pub fn fhir_code(self) -> &'static str {
        match self {
            Self::Boolean => "boolean",
            Self::Integer => "integer",
            Self::String => "string",
            Self::Choice => "choice",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueSetSpec {
    pub description: String,
    #[serde(default)]
    pub include: Vec<IncludeSpec>,
    /// Other value sets whose members belong to this one.
    #[serde(default)]
    pub union: Vec<String>,
    /// Free-text spellings (`"3+"`, `"positive"`) matched case-insensitively.
    #[serde(default)]
    pub text: Vec<String>,
    /// Drug names a free-text answer may use.
    #[serde(default)]
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncludeSpec {
    /// A short system name (`icd-10-cm`, `loinc`, ...) or a system URI.
    pub system: String,
    #[serde(default)]
    pub codes: Vec<String>,
    /// Inclusive ICD-10-CM ranges; their header codes match too.
    #[serde(default)]
    pub ranges: Vec<[String; 2]>,
    #[serde(default)]
    pub prefixes: Vec<String>,
}
