//! HER2 status by the policy's Definitions (ASCO/CAP, decisions.md section 4).
//!
//! Each HER2 test in the Bundle is read and classified on its own (IHC score, ISH presence,
//! dual-probe ratio with copy number, single-probe copy number, the pathology report's
//! overall interpretation); the overall status then follows the policy: positive if any test
//! is positive; negative if at least one test was done and none is positive or equivocal, or
//! an equivocal IHC was resolved by a negative ISH; otherwise equivocal or absent (pend).

use std::fmt;

use chrono::NaiveDate;

use super::model::IshRule;
use super::valueset::ValueSet;
use crate::evidence::{Facts, ObsValue, Source};

/// The value sets HER2 reading needs, by their conventional names in the policy file.
pub const REQUIRED_SETS: &[&str] = &[
    "her2_ihc",
    "her2_ish",
    "her2_interpretation",
    "her2_ratio",
    "her2_copies",
    "ihc_0",
    "ihc_1",
    "ihc_2",
    "ihc_3",
    "result_positive",
    "result_negative",
    "result_equivocal",
];

/// The value sets, borrowed from the policy.
pub struct Her2Sets<'a> {
    pub ihc: &'a ValueSet,
    pub ish: &'a ValueSet,
    pub interpretation: &'a ValueSet,
    pub ratio: &'a ValueSet,
    pub copies: &'a ValueSet,
    pub ihc_0: &'a ValueSet,
    pub ihc_1: &'a ValueSet,
    pub ihc_2: &'a ValueSet,
    pub ihc_3: &'a ValueSet,
    pub positive: &'a ValueSet,
    pub negative: &'a ValueSet,
    pub equivocal: &'a ValueSet,
}

impl<'a> Her2Sets<'a> {
    /// The policy's HER2 value sets, by their conventional names (checked at load).
    pub(crate) fn of(policy: &'a super::Policy) -> Self {
        Self {
            ihc: policy.vs("her2_ihc"),
            ish: policy.vs("her2_ish"),
            interpretation: policy.vs("her2_interpretation"),
            ratio: policy.vs("her2_ratio"),
            copies: policy.vs("her2_copies"),
            ihc_0: policy.vs("ihc_0"),
            ihc_1: policy.vs("ihc_1"),
            ihc_2: policy.vs("ihc_2"),
            ihc_3: policy.vs("ihc_3"),
            positive: policy.vs("result_positive"),
            negative: policy.vs("result_negative"),
            equivocal: policy.vs("result_equivocal"),
        }
    }
}

/// One test's reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    Positive,
    Equivocal,
    Negative,
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Positive => "positive",
            Self::Equivocal => "equivocal",
            Self::Negative => "negative",
        })
    }
}

/// Which kind of test a reading came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKind {
    Ihc,
    /// Any in situ hybridization: presence, dual-probe or single-probe.
    Ish,
    /// The overall interpretation of the pathology report.
    Interpretation,
}

/// One classified HER2 test, with what it showed.
#[derive(Debug, Clone, PartialEq)]
pub struct Her2Test {
    pub kind: TestKind,
    pub reading: Reading,
    /// e.g. "IHC 3+", "dual-probe ISH ratio 2.3, 4.1 copies/cell".
    pub detail: String,
    pub source: Source,
}

/// Overall HER2 status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Her2Status {
    Positive,
    Negative,
    Equivocal,
    /// No HER2 test documented.
    Absent,
}

/// The overall status with the tests behind it and the notes a reviewer needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Her2Assessment {
    pub status: Her2Status,
    pub tests: Vec<Her2Test>,
    /// Results that could not be classified (a ratio below 2.0 without a copy number...).
    pub notes: Vec<String>,
}

/// A numeric result read from one observation or panel component.
#[derive(Debug, Clone)]
struct Numeric {
    value: f64,
    date: Option<NaiveDate>,
    source: Source,
    /// Index of the panel it came from, for pairing ratio with copy number.
    panel: Option<usize>,
}

/// Classifies a dual-probe result (HER2/CEP17 ratio, average HER2 copies per cell).
pub fn classify_dual(ratio: f64, copies: Option<f64>) -> Option<Reading> {
    if ratio >= 2.0 {
        return Some(Reading::Positive);
    }
    copies.map(classify_copies)
}

/// Classifies a dual-probe result where ISH is positive only by the ratio (gastric): 2.0 or
/// more positive, below 2.0 negative whatever the copy number.
pub fn classify_ratio_only(ratio: f64) -> Reading {
    if ratio >= 2.0 {
        Reading::Positive
    } else {
        Reading::Negative
    }
}

/// Classifies an average HER2 copy number per cell (single probe, or dual probe below 2.0).
pub fn classify_copies(copies: f64) -> Reading {
    if copies >= 6.0 {
        Reading::Positive
    } else if copies >= 4.0 {
        Reading::Equivocal
    } else {
        Reading::Negative
    }
}

/// Reads every HER2 test in the facts and concludes the overall status (breast ISH rules).
pub fn assess(facts: &Facts, sets: &Her2Sets<'_>) -> Her2Assessment {
    assess_with(facts, sets, IshRule::Breast)
}

/// Reads every HER2 test, the ISH numbers under `rule`, and concludes the overall status.
pub fn assess_with(facts: &Facts, sets: &Her2Sets<'_>, rule: IshRule) -> Her2Assessment {
    let mut tests = Vec::new();
    let mut notes = Vec::new();
    let mut ratios = Vec::new();
    let mut copies = Vec::new();
    let mut unread_ratio = false;

    for (index, obs) in facts.observations.iter().enumerate() {
        let mut parts: Vec<(&[crate::fhir::Code], Option<&ObsValue>, Option<usize>)> =
            vec![(obs.codes.as_slice(), obs.value.as_ref(), None)];
        for component in &obs.components {
            parts.push((
                component.codes.as_slice(),
                component.value.as_ref(),
                Some(index),
            ));
        }
        for (codes, value, panel) in parts {
            let source = obs.source.clone();
            if sets.ihc.contains_any(codes) {
                match value.and_then(|v| read_ihc(v, sets)) {
                    Some((reading, score)) => tests.push(Her2Test {
                        kind: TestKind::Ihc,
                        reading,
                        detail: format!("IHC {score}"),
                        source,
                    }),
                    None => notes.push(format!(
                        "HER2 IHC result in {} is not a score (0, 1+, 2+, 3+)",
                        source.resource
                    )),
                }
            } else if sets.ish.contains_any(codes) || sets.interpretation.contains_any(codes) {
                let kind = if sets.ish.contains_any(codes) {
                    TestKind::Ish
                } else {
                    TestKind::Interpretation
                };
                let label = if kind == TestKind::Ish {
                    "ISH"
                } else {
                    "HER2 interpretation"
                };
                match value.and_then(|v| read_result(v, sets)) {
                    Some(reading) => tests.push(Her2Test {
                        kind,
                        reading,
                        detail: format!("{label} {reading}"),
                        source,
                    }),
                    None => notes.push(format!(
                        "{label} in {} is not positive, negative or equivocal",
                        source.resource
                    )),
                }
            } else if sets.ratio.contains_any(codes) {
                match value.and_then(numeric) {
                    Some(value) => ratios.push(Numeric {
                        value,
                        date: obs.date,
                        source,
                        panel,
                    }),
                    // A dual-probe test whose ratio cannot be read is still a dual-probe test:
                    // its copy number must not be read as a single-probe result.
                    None => {
                        unread_ratio = true;
                        notes.push(format!(
                            "dual-probe ISH ratio in {} has no readable value: not classified",
                            source.resource
                        ));
                    }
                }
            } else if sets.copies.contains_any(codes)
                && let Some(value) = value.and_then(numeric)
            {
                copies.push(Numeric {
                    value,
                    date: obs.date,
                    source,
                    panel,
                });
            }
        }
    }

    if unread_ratio && ratios.is_empty() {
        // Only unreadable ratios: no copy number can be classified alone.
        for c in &copies {
            notes.push(format!(
                "{} HER2 copies/cell in {} belong to a dual-probe test whose ratio is unreadable: not classified",
                c.value, c.source.resource
            ));
        }
        copies.clear();
    }
    pair_ish_numbers(&ratios, &copies, rule, &mut tests, &mut notes);
    let status = overall(&tests);
    Her2Assessment {
        status,
        tests,
        notes,
    }
}

/// Pairs each ratio with its copy number (same panel, else same date, else the only one) and
/// reads copy numbers without any ratio in the Bundle as single-probe results.
fn pair_ish_numbers(
    ratios: &[Numeric],
    copies: &[Numeric],
    rule: IshRule,
    tests: &mut Vec<Her2Test>,
    notes: &mut Vec<String>,
) {
    for ratio in ratios {
        let partner = copies
            .iter()
            .find(|c| ratio.panel.is_some() && c.panel == ratio.panel)
            .or_else(|| {
                copies.iter().find(|c| {
                    c.panel.is_none()
                        && ratio.panel.is_none()
                        && c.date.is_some()
                        && c.date == ratio.date
                })
            })
            .or_else(|| (ratios.len() == 1 && copies.len() == 1).then(|| &copies[0]));
        let copy_number = partner.map(|c| c.value);
        let reading = match rule {
            IshRule::Breast => classify_dual(ratio.value, copy_number),
            IshRule::RatioOnly => Some(classify_ratio_only(ratio.value)),
        };
        match reading {
            Some(reading) => {
                let detail = match copy_number {
                    Some(c) => format!("dual-probe ISH ratio {} with {} HER2 copies/cell", ratio.value, c),
                    None => format!("dual-probe ISH ratio {}", ratio.value),
                };
                tests.push(Her2Test { kind: TestKind::Ish, reading, detail, source: ratio.source.clone() });
            }
            None => notes.push(format!(
                "dual-probe ISH ratio {} in {} is below 2.0 and has no HER2 copy number to classify it",
                ratio.value, ratio.source.resource
            )),
        }
    }
    if ratios.is_empty() && rule == IshRule::RatioOnly {
        for c in copies {
            notes.push(format!(
                "single-probe ISH {} HER2 copies/cell in {} is not classified where ISH is positive only by the HER2/CEP17 ratio",
                c.value, c.source.resource
            ));
        }
    } else if ratios.is_empty() {
        for c in copies {
            let reading = classify_copies(c.value);
            tests.push(Her2Test {
                kind: TestKind::Ish,
                reading,
                detail: format!("single-probe ISH {} HER2 copies/cell", c.value),
                source: c.source.clone(),
            });
        }
    }
}

/// The policy's overall rule.
pub fn overall(tests: &[Her2Test]) -> Her2Status {
    if tests.is_empty() {
        return Her2Status::Absent;
    }
    if tests.iter().any(|t| t.reading == Reading::Positive) {
        return Her2Status::Positive;
    }
    let equivocal: Vec<&Her2Test> = tests
        .iter()
        .filter(|t| t.reading == Reading::Equivocal)
        .collect();
    if equivocal.is_empty() {
        return Her2Status::Negative;
    }
    let ish_negative = tests
        .iter()
        .any(|t| t.kind == TestKind::Ish && t.reading == Reading::Negative);
    if ish_negative && equivocal.iter().all(|t| t.kind == TestKind::Ihc) {
        return Her2Status::Negative;
    }
    Her2Status::Equivocal
}

/// One IHC value's reading and score (`0`, `1+`, `2+`, `3+`), as HER2-low needs the score.
pub(crate) fn read_ihc(value: &ObsValue, sets: &Her2Sets<'_>) -> Option<(Reading, &'static str)> {
    if sets.ihc_3.matches_value(value) {
        return Some((Reading::Positive, "3+"));
    }
    if sets.ihc_2.matches_value(value) {
        return Some((Reading::Equivocal, "2+"));
    }
    if sets.ihc_1.matches_value(value) {
        return Some((Reading::Negative, "1+"));
    }
    if sets.ihc_0.matches_value(value) {
        return Some((Reading::Negative, "0"));
    }
    match numeric(value) {
        Some(3.0) => Some((Reading::Positive, "3+")),
        Some(2.0) => Some((Reading::Equivocal, "2+")),
        Some(1.0) => Some((Reading::Negative, "1+")),
        Some(0.0) => Some((Reading::Negative, "0")),
        _ => read_result(value, sets).map(|r| {
            let label = match r {
                Reading::Positive => "positive",
                Reading::Equivocal => "equivocal",
                Reading::Negative => "negative",
            };
            (r, label)
        }),
    }
}

fn read_result(value: &ObsValue, sets: &Her2Sets<'_>) -> Option<Reading> {
    if sets.positive.matches_value(value) {
        Some(Reading::Positive)
    } else if sets.negative.matches_value(value) {
        Some(Reading::Negative)
    } else if sets.equivocal.matches_value(value) {
        Some(Reading::Equivocal)
    } else {
        None
    }
}

/// A number from a Quantity, an integer, or a numeric string.
pub fn numeric(value: &ObsValue) -> Option<f64> {
    match value {
        // A bound (`<2.0`) is not a measurement: it cannot be classified against a threshold.
        ObsValue::Quantity {
            value,
            comparator: None,
            ..
        } => Some(*value),
        ObsValue::Quantity {
            comparator: Some(_),
            ..
        } => None,
        ObsValue::Integer(i) => Some(*i as f64),
        ObsValue::Text(text) => text.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
        ObsValue::Coded { .. } | ObsValue::Boolean(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{Component, Observation};
    use crate::fhir::{Code, CodeSystem};
    use crate::policy::PolicySet;

    #[test]
    fn single_probe_boundaries() {
        assert_eq!(classify_copies(6.0), Reading::Positive);
        assert_eq!(classify_copies(5.99), Reading::Equivocal);
        assert_eq!(classify_copies(4.0), Reading::Equivocal);
        assert_eq!(classify_copies(3.99), Reading::Negative);
    }

    #[test]
    fn dual_probe_rows_of_the_definitions() {
        // Ratio >= 2.0 is positive whatever the copy number (both rows the policy prints).
        assert_eq!(classify_dual(2.0, Some(4.0)), Some(Reading::Positive));
        assert_eq!(classify_dual(2.0, Some(3.0)), Some(Reading::Positive));
        assert_eq!(classify_dual(2.0, None), Some(Reading::Positive));
        // Ratio < 2.0: the copy number decides.
        assert_eq!(classify_dual(1.99, Some(6.0)), Some(Reading::Positive));
        assert_eq!(classify_dual(1.99, Some(4.0)), Some(Reading::Equivocal));
        assert_eq!(classify_dual(1.99, Some(5.99)), Some(Reading::Equivocal));
        assert_eq!(classify_dual(1.99, Some(3.99)), Some(Reading::Negative));
        assert_eq!(classify_dual(1.5, None), None);
    }

    fn test(kind: TestKind, reading: Reading) -> Her2Test {
        Her2Test {
            kind,
            reading,
            detail: String::new(),
            source: Source::default(),
        }
    }

    #[test]
    fn overall_status_rules() {
        use Reading::*;
        use TestKind::*;
        assert_eq!(overall(&[]), Her2Status::Absent);
        assert_eq!(overall(&[test(Ihc, Positive)]), Her2Status::Positive);
        assert_eq!(
            overall(&[test(Ihc, Negative), test(Ish, Positive)]),
            Her2Status::Positive
        );
        assert_eq!(overall(&[test(Ihc, Negative)]), Her2Status::Negative);
        assert_eq!(overall(&[test(Ihc, Equivocal)]), Her2Status::Equivocal);
        assert_eq!(
            overall(&[test(Ihc, Equivocal), test(Ish, Negative)]),
            Her2Status::Negative
        );
        assert_eq!(
            overall(&[test(Ihc, Negative), test(Ish, Equivocal)]),
            Her2Status::Equivocal
        );
        assert_eq!(
            overall(&[test(Interpretation, Negative)]),
            Her2Status::Negative
        );
        assert_eq!(
            overall(&[test(Interpretation, Equivocal), test(Ish, Negative)]),
            Her2Status::Equivocal
        );
    }

    fn obs(
        code: &str,
        value: Option<ObsValue>,
        components: Vec<Component>,
        date: &str,
    ) -> Observation {
        Observation {
            codes: vec![Code::of(CodeSystem::Loinc, code)],
            value,
            components,
            date: NaiveDate::parse_from_str(date, "%Y-%m-%d").ok(),
            source: Source {
                resource: format!("Observation/{code}"),
                path: String::new(),
            },
        }
    }

    fn quantity(v: f64) -> Option<ObsValue> {
        Some(ObsValue::Quantity {
            value: v,
            unit: None,
            comparator: None,
        })
    }

    fn status_of(observations: Vec<Observation>) -> Her2Status {
        let set = PolicySet::embedded();
        let p = &set.policies()[0];
        let sets = Her2Sets::of(p);
        let facts = Facts {
            observations,
            ..Facts::default()
        };
        assess(&facts, &sets).status
    }

    fn coded(code: &str) -> Option<ObsValue> {
        Some(ObsValue::Coded {
            codes: vec![Code::of(CodeSystem::Loinc, code)],
            text: None,
        })
    }

    #[test]
    fn ihc_values_as_codes_text_or_numbers() {
        assert_eq!(
            status_of(vec![obs(
                "85319-2",
                coded("LA11843-2"),
                vec![],
                "2026-01-01"
            )]),
            Her2Status::Positive
        );
        assert_eq!(
            status_of(vec![obs(
                "18474-7",
                Some(ObsValue::Text("3+".into())),
                vec![],
                "2026-01-01"
            )]),
            Her2Status::Positive
        );
        assert_eq!(
            status_of(vec![obs(
                "85319-2",
                coded("LA11842-4"),
                vec![],
                "2026-01-01"
            )]),
            Her2Status::Equivocal
        );
        assert_eq!(
            status_of(vec![obs(
                "85319-2",
                coded("LA11841-6"),
                vec![],
                "2026-01-01"
            )]),
            Her2Status::Negative
        );
        assert_eq!(
            status_of(vec![obs(
                "85319-2",
                coded("LA6111-4"),
                vec![],
                "2026-01-01"
            )]),
            Her2Status::Negative
        );
        assert_eq!(
            status_of(vec![obs(
                "85319-2",
                Some(ObsValue::Integer(3)),
                vec![],
                "2026-01-01"
            )]),
            Her2Status::Positive
        );
        let text = Some(ObsValue::Coded {
            codes: vec![],
            text: Some("2+".into()),
        });
        assert_eq!(
            status_of(vec![obs("85319-2", text, vec![], "2026-01-01")]),
            Her2Status::Equivocal
        );
    }

    #[test]
    fn ish_presence_and_interpretation() {
        assert_eq!(
            status_of(vec![obs(
                "85318-4",
                coded("LA6576-8"),
                vec![],
                "2026-01-01"
            )]),
            Her2Status::Positive
        );
        assert_eq!(
            status_of(vec![obs(
                "96893-3",
                coded("LA6577-6"),
                vec![],
                "2026-01-01"
            )]),
            Her2Status::Negative
        );
        let snomed_positive = Some(ObsValue::Coded {
            codes: vec![Code::of(CodeSystem::Snomed, "10828004")],
            text: None,
        });
        assert_eq!(
            status_of(vec![obs("48676-1", snomed_positive, vec![], "2026-01-01")]),
            Her2Status::Positive
        );
        // IHC 2+ resolved by a negative FISH.
        let both = vec![
            obs("85319-2", coded("LA11842-4"), vec![], "2026-01-01"),
            obs("85318-4", coded("LA6577-6"), vec![], "2026-01-02"),
        ];
        assert_eq!(status_of(both), Her2Status::Negative);
    }

    #[test]
    fn dual_probe_as_separate_observations_or_panel() {
        let separate = vec![
            obs("49683-6", quantity(1.5), vec![], "2026-01-01"),
            obs("74860-8", quantity(6.2), vec![], "2026-01-01"),
        ];
        assert_eq!(status_of(separate), Her2Status::Positive);
        let comp = |code: &str, v: f64| Component {
            codes: vec![Code::of(CodeSystem::Loinc, code)],
            value: quantity(v),
        };
        let panel = vec![obs(
            "74885-5",
            None,
            vec![comp("49683-6", 1.4), comp("74860-8", 4.5)],
            "2026-01-01",
        )];
        assert_eq!(status_of(panel), Her2Status::Equivocal);
        let panel = vec![obs(
            "74885-5",
            None,
            vec![comp("49683-6", 1.4), comp("74860-8", 3.1)],
            "2026-01-01",
        )];
        assert_eq!(status_of(panel), Her2Status::Negative);
        // A copy number with no ratio anywhere is a single-probe result.
        assert_eq!(
            status_of(vec![obs("74860-8", quantity(6.0), vec![], "2026-01-01")]),
            Her2Status::Positive
        );
        assert_eq!(
            status_of(vec![obs("74860-8", quantity(4.0), vec![], "2026-01-01")]),
            Her2Status::Equivocal
        );
        // A ratio below 2.0 alone cannot be classified.
        assert_eq!(
            status_of(vec![obs("49683-6", quantity(1.9), vec![], "2026-01-01")]),
            Her2Status::Absent
        );
    }

    /// Regression (issue 10): a panel whose ratio the evidence set aside (1e308) or could not
    /// read kept its 3.0 copies, which were then read as a single-probe negative.
    #[test]
    fn the_copies_of_a_panel_without_a_readable_ratio_are_not_single_probe() {
        let panel = vec![obs(
            "74885-5",
            None,
            vec![
                Component {
                    codes: vec![Code::of(CodeSystem::Loinc, "49683-6")],
                    value: None,
                },
                Component {
                    codes: vec![Code::of(CodeSystem::Loinc, "74860-8")],
                    value: quantity(3.0),
                },
            ],
            "2026-01-01",
        )];
        assert_eq!(status_of(panel), Her2Status::Absent);
    }
}
