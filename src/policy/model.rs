//! The policy file as written: serde types that mirror `profiles/*.toml` one to one.
//!
//! Unknown fields are errors (`deny_unknown_fields`), so a typo in a policy file fails the
//! load instead of silently dropping a criterion. `load.rs` compiles these into the
//! evaluable [`super::Policy`].

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub id: String,
    pub revision: String,
    #[serde(default)]
    pub revision_note: Option<String>,
    pub title: String,
    /// Value set naming the drug whose Claim items this policy decides.
    pub drug: Spanned<String>,
    /// Id of the Questionnaire the policy publishes.
    pub questionnaire: String,
    pub limits: Spanned<LimitsSpec>,
    pub decision: Spanned<DecisionSpec>,
    pub criteria: Vec<Spanned<CriterionSpec>>,
    pub questionnaire_meta: QuestionnaireMeta,
    #[serde(default)]
    pub questions: Vec<Spanned<QuestionSpec>>,
    pub value_sets: BTreeMap<String, Spanned<ValueSetSpec>>,
}

/// A dose in mg/kg, read from a TOML number as the decimal it was written as (`0.1` is 0.1
/// exactly, not the nearest binary fraction), so that dose x weight is exact.
pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        Int(i64),
        Float(f64),
        Text(String),
    }
    let text = match Num::deserialize(d)? {
        Num::Int(i) => i.to_string(),
        // Rust prints the shortest decimal that reads back as the same f64: the text written.
        Num::Float(f) => f.to_string(),
        Num::Text(t) => t,
    };
    text.trim()
        .parse::<Decimal>()
        .map_err(|e| serde::de::Error::custom(format!("`{text}` is not a decimal number: {e}")))
}

fn decimal_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    decimal(d).map(Some)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Authorization length: this many calendar months from the start, less one day.
    pub period_months: u32,
    /// Days between administrations.
    pub interval_days: u32,
    /// The dose of every path that names none (a path's own `dose_mg_per_kg` wins).
    #[serde(default, deserialize_with = "decimal_opt")]
    pub dose_mg_per_kg: Option<Decimal>,
    /// Value set of the body-weight Observation the dose is computed from.
    pub body_weight: String,
    /// What to send when no body weight is documented.
    pub weight_document: String,
    /// How the policy names its authorization-duration section in reasons, e.g. `C`.
    pub period_ref: String,
    /// How the policy names its quantity limits in reasons, e.g. `Quantity Limitations`.
    pub quantity_ref: String,
    /// The criterion reported for the limits of an initial request (e.g. `C.i`).
    pub initial: LimitCriterion,
    /// The criterion reported for the limits of a continuation (e.g. `C.ii`).
    pub continuation: LimitCriterion,
    /// A cap on the administrations of a course, for the uses a criterion singles out.
    #[serde(default)]
    pub cycle_cap: Option<CycleCap>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitCriterion {
    pub id: String,
    pub text: String,
}

/// A total number of administrations, counted from the policy drug's documented
/// administrations or a questionnaire answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CycleCap {
    pub max: u32,
    /// The criterion whose being met makes the cap apply to a continuation (paths opt in
    /// with `cycle_capped`).
    pub applies_when: String,
    /// The question that reports the administrations already received.
    pub answer: String,
    /// The criterion id the cap's reasons cite, e.g. `B.ii`.
    pub reference: String,
    /// What the capped use is called in reasons.
    pub label: String,
    /// What to send when the count is contradictory.
    pub document: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionSpec {
    pub exclusions: Vec<String>,
    pub paths: Vec<PathSpec>,
    pub supporting_diagnoses: String,
    pub continuation: String,
    /// The continuation criterion that documents an indication of section A: when it fails
    /// with no diagnosis and no prior authorization, the item pends instead of being denied.
    pub continuation_indication: String,
    pub continuation_certification_types: Vec<String>,
    /// The question that says whether a request is initial or a continuation (answers
    /// `initial` / `continuation`).
    pub request_type: String,
    /// Reported when the diagnoses are outside every path (A3), e.g. `D.ii`.
    pub outside_indication: LimitCriterion,
    /// Reported when no diagnosis documents an indication (A4).
    pub no_indication: NoIndication,
    /// Reported when a partner drug allowed on one path makes another path fail, e.g. `D.i`.
    #[serde(default)]
    pub partner_exclusion: Option<LimitCriterion>,
    /// A contradictory criterion on any candidate path pends the item even when another path
    /// is met; otherwise a met path certifies.
    #[serde(default)]
    pub contradictions_pend: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoIndication {
    pub id: String,
    pub text: String,
    pub documents: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathSpec {
    pub criterion: String,
    /// Value set of diagnoses that make this path a candidate.
    pub family: String,
    /// The path's administrations count against `limits.cycle_cap`.
    #[serde(default)]
    pub cycle_capped: bool,
    /// The dose on this path, when it differs from `limits.dose_mg_per_kg`.
    #[serde(default, deserialize_with = "decimal_opt")]
    pub dose_mg_per_kg: Option<Decimal>,
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
    Her2Positive {
        /// How ISH numbers are read: the breast rules, or the gastric rule (ratio only).
        #[serde(default)]
        ish: IshRule,
        /// Diagnosis codes that state a HER2 status but are not test documentation.
        #[serde(default)]
        status_codes: Option<String>,
    },
    /// HER2-low: IHC 1+, or IHC 2+ with a negative ISH, and no positive test; IHC 0 only fails.
    Her2Low,
    /// HER2-0 / ultralow: IHC results that are all 0, and no positive test.
    Her2Zero,
    /// Age in whole years at the requested start, from the patient's birth date.
    Age { at_least: u32 },
    /// A drug in the value set started on or after the onset of a condition (the earliest
    /// diagnosis in `onset_diagnoses`, or an Observation in `onset_code` valued in
    /// `onset_value`), before the request.
    TherapySince {
        value_set: String,
        onset_diagnoses: String,
        #[serde(default)]
        onset_code: Option<String>,
        #[serde(default)]
        onset_value: Option<String>,
    },
    /// ERBB2 variant present (Genomics Reporting variant observation).
    Erbb2Variant,
    /// Weeks from the earliest start to the latest end of the taxane and trastuzumab courses
    /// documented before the request (both drugs present).
    NeoadjuvantWeeks {
        taxane: String,
        trastuzumab: String,
        min_weeks: u32,
    },
    /// No other anticancer drug over the same period, but for an allowed partner.
    SingleAgent {
        #[serde(default)]
        partner: Option<String>,
        /// What `single-agent` = false naming no partner is worth: `missing` (pend, asking
        /// for the partner) or `not_met` (the answer itself documents a combination).
        #[serde(default)]
        answered_false: Absent,
    },
    /// Hormone receptor status, any of which is accepted (reported for the reviewer).
    HormoneReceptor,
    /// The item carries a prior authorization number.
    PriorAuthorization,
    /// Most recent disease status within the policy's window, not progression.
    DiseaseStatus {
        progression: String,
        response: String,
        /// The window before `Claim.created`, in calendar months.
        months: u32,
    },
    /// Cycles left under `limits.cycle_cap` when the cap applies.
    CyclesRemaining,
}

/// How a HER2-positive criterion reads ISH numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IshRule {
    /// ASCO/CAP breast: ratio >= 2.0, or copy number >= 6.0, positive; 4.0-6.0 equivocal.
    #[default]
    Breast,
    /// Gastric: positive only when the HER2/CEP17 ratio is 2.0 or more; a ratio below 2.0 is
    /// negative whatever the copy number; a single-probe result alone is not classified.
    RatioOnly,
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
