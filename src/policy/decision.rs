//! What the engine concludes for one Claim item, and why.

use chrono::NaiveDate;

/// X12 306 review action, as carried in `extension-reviewActionCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReviewAction {
    /// A1: certified in total.
    Certified,
    /// A6: modified (certified for less quantity or a shorter period than asked).
    Modified,
    /// A3: not certified.
    NotCertified,
    /// A4: pended for review.
    Pended,
}

impl ReviewAction {
    pub const SYSTEM: &'static str = "https://codesystem.x12.org/005010/306";

    pub fn code(self) -> &'static str {
        match self {
            Self::Certified => "A1",
            Self::Modified => "A6",
            Self::NotCertified => "A3",
            Self::Pended => "A4",
        }
    }

    pub fn display(self) -> &'static str {
        match self {
            Self::Certified => "Certified in total",
            Self::Modified => "Modified",
            Self::NotCertified => "Not Certified",
            Self::Pended => "Pended",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "A1" => Self::Certified,
            "A6" => Self::Modified,
            "A3" => Self::NotCertified,
            "A4" => Self::Pended,
            _ => return None,
        })
    }
}

/// An authorized calendar period, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// What is authorized for a certified (A1) or modified (A6) item.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    /// Units authorized (the product code's billing units). `None` when the request carried no quantity and no
    /// limit required one (the period alone is authorized).
    pub quantity: Option<f64>,
    pub period: Period,
}

/// The answer for an item. A certified or modified answer cannot exist without what it
/// authorizes; a denial or a pend cannot carry one.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A1.
    Certified(Authorization),
    /// A6: `authorized` is less than what was requested.
    Modified { authorized: Authorization },
    /// A3.
    NotCertified,
    /// A4, with the documents a reviewer needs to settle it.
    Pended { documents: Vec<String> },
}

impl Outcome {
    pub fn review_action(&self) -> ReviewAction {
        match self {
            Self::Certified(_) => ReviewAction::Certified,
            Self::Modified { .. } => ReviewAction::Modified,
            Self::NotCertified => ReviewAction::NotCertified,
            Self::Pended { .. } => ReviewAction::Pended,
        }
    }

    pub fn authorization(&self) -> Option<&Authorization> {
        match self {
            Self::Certified(a) | Self::Modified { authorized: a } => Some(a),
            Self::NotCertified | Self::Pended { .. } => None,
        }
    }
}

/// Three-valued result of a criterion: documented met, documented not met, or not settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Met,
    NotMet,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Met => "met",
            Self::NotMet => "not met",
            Self::Unknown => "missing",
        }
    }
}

/// One criterion's result, by the policy's own numbering.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionResult {
    /// The policy's numbering, e.g. `A.i.C.2.b`.
    pub id: String,
    /// The policy's wording.
    pub text: String,
    pub status: Status,
    /// The evidence (or its absence) behind the status, citing resources.
    pub because: Vec<String>,
}

/// The policy that decided an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRef {
    pub id: String,
    pub revision: String,
    pub title: String,
}

/// The engine's answer for one item, with its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `Claim.item.sequence`.
    pub sequence: u32,
    pub outcome: Outcome,
    /// `None` when no policy applies to the item.
    pub policy: Option<PolicyRef>,
    /// Criteria met, failed and missing, in policy order.
    pub criteria: Vec<CriterionResult>,
    /// A short human summary ("certified on path A.i.C.2; quantity cut to 1,080 mg ...").
    pub summary: String,
}

impl Decision {
    pub fn review_action(&self) -> ReviewAction {
        self.outcome.review_action()
    }
}
