//! The normalized facts a policy reads, independent of how the Bundle spelled them.
//!
//! Gathering turns FHIR resources (Claim, Condition, Observation, Medication*, Procedure,
//! QuestionnaireResponse) into these plain types: codes normalized ([`Code`]), values typed,
//! dates as calendar dates, and every fact remembers where it came from ([`Source`]) so that an
//! explanation can cite it. What the facts *mean* for a policy (which LOINC is a HER2 IHC, which
//! RxNorm is a taxane) is decided by the policy's value sets, not here.
//!
//! Dates: a partial date (`2024-05`, `2024`) names a span of days. Where a fact begins (a
//! therapy's start, "since") it is read as the span's first day; where a fact ends (a
//! therapy's end, "until") as its last day; a single-date fact (an observation, a diagnosis)
//! as its first day, the earliest day it may mean, so that no recency window ("within the last
//! 6 months") is met by a date that may lie outside it.

use chrono::NaiveDate;

use crate::fhir::Code;

/// Where a fact came from: the resource and its FHIRPath location in the request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Source {
    /// `Type/id` (or fullUrl) of the resource, for humans.
    pub resource: String,
    /// FHIRPath location, e.g. `Bundle.entry[4].resource.valueQuantity`.
    pub path: String,
}

/// Everything gathered from one request Bundle.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub claim: ClaimFacts,
    /// `Claim.diagnosis` (codes and resolved references) and every Condition in the Bundle,
    /// excluding refuted / entered-in-error ones.
    pub diagnoses: Vec<Diagnosis>,
    /// Every Observation in the Bundle (excluding entered-in-error / cancelled), panels kept
    /// with their components.
    pub observations: Vec<Observation>,
    /// Drug and procedure history and current therapy from MedicationStatement,
    /// MedicationAdministration, MedicationRequest, Procedure, and the other Claim items.
    pub medications: Vec<MedicationUse>,
    /// QuestionnaireResponse answers, flattened (nested items included), in document order.
    pub answers: Vec<Answer>,
    /// Resources and values read but not used as evidence, each with the reason: another
    /// patient's resource, a resource the typed model cannot read, a value no clinician would
    /// write (decisions.md section 7). Every decision's note names them.
    pub set_aside: Vec<SetAside>,
    /// The Questionnaire each QuestionnaireResponse names, so that its answers go to the
    /// policy that publishes it.
    pub questionnaires: Vec<NamedResponse>,
    /// `Patient.birthDate` of the Claim's patient, when a full date.
    pub birth_date: Option<NaiveDate>,
}

/// Evidence left out of this request, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    pub source: Source,
    pub reason: String,
}

/// Something about an item's request that no policy may certify as sent (decisions.md
/// section 7): a quantity in a unit that cannot be checked, a period far from the request; or
/// a reading the note must state (a quantity converted to mg).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concern {
    pub kind: ConcernKind,
    /// FHIRPath of the element, e.g. `Bundle.entry[0].resource.item[0].quantity`.
    pub path: String,
    /// What is wrong, naming the value.
    pub message: String,
}

/// What a [`Concern`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcernKind {
    /// The quantity's unit is neither mg, another mass, nor units of service: the dose cannot
    /// be checked, so the item cannot be certified.
    QuantityUnit,
    /// The requested start is more than 30 days before `Claim.created` or more than a year
    /// after it: a reviewer decides.
    PeriodFarFromRequest,
    /// Not a problem, said for the reader: the quantity was sent in another mass unit and is
    /// read in mg (`300 g` is 300000 mg).
    QuantityConverted,
}

/// A QuestionnaireResponse that names the Questionnaire it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedResponse {
    /// The response, as its answers' [`Source::resource`] cites it.
    pub resource: String,
    /// `QuestionnaireResponse.questionnaire` (a canonical URL).
    pub questionnaire: String,
}

/// The Claim itself.
#[derive(Debug, Clone, Default)]
pub struct ClaimFacts {
    /// `Claim.created` as a date (the reference date for "the last 6 months").
    pub created: Option<NaiveDate>,
    pub items: Vec<ItemFacts>,
}

/// One `Claim.item`.
#[derive(Debug, Clone, Default)]
pub struct ItemFacts {
    pub sequence: u32,
    /// FHIRPath of the item, e.g. `Bundle.entry[0].resource.item[1]`.
    pub path: String,
    /// `productOrService` codings, plus the medication codes of the MedicationRequest (or
    /// ServiceRequest / DeviceRequest code) that `extension-requestedService` points to.
    pub product_codes: Vec<Code>,
    /// `extension-certificationType` code (X12 1322): `I`, `R`, `4`, `3`, ...
    pub certification_type: Option<String>,
    /// `extension-authorizationNumber`: a prior authorization this request continues.
    pub authorization_number: Option<String>,
    /// `quantity.value` in mg (the unit of the product codes the policy files name): no unit,
    /// `mg` and units-of-service spellings are read as sent, `g` / `ug` / `kg` converted; `None`
    /// when absent or in a unit that cannot be read as mg (then [`ItemFacts::concerns`] says so).
    pub quantity: Option<f64>,
    /// `servicedPeriod` or `servicedDate` (start = end for a date).
    pub served: Option<DateSpan>,
    /// What keeps this item from being certified as sent (decisions.md section 7).
    pub concerns: Vec<Concern>,
}

/// A span of calendar dates; either end may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateSpan {
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
}

/// A diagnosis code with its date.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnosis {
    pub code: Code,
    /// Onset / recorded / diagnosisRecordedDate, whichever is present first.
    pub date: Option<NaiveDate>,
    pub source: Source,
}

/// An Observation (or one of its components), values typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// All codings of `Observation.code`.
    pub codes: Vec<Code>,
    pub value: Option<ObsValue>,
    pub components: Vec<Component>,
    /// `effective[x]` (start of a period) or `issued`, as a date.
    pub date: Option<NaiveDate>,
    pub source: Source,
}

/// One `Observation.component`.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub codes: Vec<Code>,
    pub value: Option<ObsValue>,
}

/// A typed observation value.
#[derive(Debug, Clone, PartialEq)]
pub enum ObsValue {
    /// `valueCodeableConcept`: its codings, and its text.
    Coded {
        codes: Vec<Code>,
        text: Option<String>,
    },
    /// `valueQuantity`: the number, and the UCUM code (or `unit` text when no code).
    Quantity {
        value: f64,
        unit: Option<String>,
        /// `Quantity.comparator` (`<`, `<=`, `>=`, `>`): when present, `value` is a bound,
        /// not the measured value (`<2.0` is not a ratio of 2.0).
        comparator: Option<String>,
    },
    /// `valueString`, trimmed.
    Text(String),
    Boolean(bool),
    Integer(i64),
}

/// Where a medication use was documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MedicationSource {
    Statement,
    Administration,
    Request,
    Procedure,
    /// Another item of the same Claim (its `sequence`).
    ClaimItem(u32),
}

/// Whether a documented use is behind the patient or ongoing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseStatus {
    /// Completed or stopped (a MedicationRequest `completed`/`stopped`, an administration or
    /// procedure that happened, a statement `completed`/`stopped`).
    History,
    /// Active, or requested alongside (another Claim item, an `active` MedicationRequest).
    Current,
}

/// One documented use of a drug (or a drug-administration procedure).
#[derive(Debug, Clone, PartialEq)]
pub struct MedicationUse {
    /// Medication codes (RxNorm, NDC) or procedure / product codes (HCPCS).
    pub codes: Vec<Code>,
    pub kind: MedicationSource,
    pub status: UseStatus,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    pub source: Source,
}

/// One QuestionnaireResponse answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub link_id: String,
    pub value: AnswerValue,
    pub source: Source,
}

/// A typed answer value.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerValue {
    Boolean(bool),
    Integer(i64),
    Decimal(f64),
    /// `valueCoding.code` (a choice), or a `valueString` that names a choice.
    Code(String),
    Text(String),
    Date(NaiveDate),
}
