//! HER2-low as a category of its own (MP-RX-FP-52-23 Definitions): IHC 1+, or IHC 2+ with a
//! negative ISH, and no positive test. IHC 1+ is not "negative" here, and a bare overall
//! interpretation "Negative" cannot tell HER2-low from HER2-0.

use super::engine::Ctx;
use super::her2::{self, Her2Sets, Reading, TestKind};
use super::leaf::{LeafResult, Tri, cite};
use super::model::IshRule;

/// Met: no positive test, and IHC 1+ or IHC 2+ with a negative ISH. Failed: a positive
/// test, or IHC results that are all 0. Missing: anything else (no IHC score, IHC 2+ with no
/// or an unresolved ISH, only an ISH or an overall interpretation).
pub fn evaluate(ctx: &Ctx<'_>) -> LeafResult {
    let assessment = ctx.her2(IshRule::Breast);
    let sets = Her2Sets::of(ctx.policy);
    let mut because: Vec<String> = assessment
        .tests
        .iter()
        .map(|t| format!("{}: {} ({})", t.detail, t.reading, cite(&t.source)))
        .collect();
    because.extend(assessment.notes.iter().cloned());

    let positive = assessment
        .tests
        .iter()
        .any(|t| t.reading == Reading::Positive);
    if positive {
        because.push("HER2-positive, not HER2-low".into());
        return result(Tri::NotMet, because);
    }
    let scores = ihc_scores(ctx, &sets);
    let ish_negative = assessment
        .tests
        .iter()
        .any(|t| t.kind == TestKind::Ish && t.reading == Reading::Negative);
    if scores.contains(&"1+") {
        because.push("HER2-low: IHC 1+".into());
        return result(Tri::Met, because);
    }
    if scores.contains(&"2+") && ish_negative {
        because.push("HER2-low: IHC 2+ with a negative ISH".into());
        return result(Tri::Met, because);
    }
    if !scores.is_empty() && scores.iter().all(|s| *s == "0") {
        because.push("IHC 0: HER2-0 or HER2-ultralow, not HER2-low".into());
        return result(Tri::NotMet, because);
    }
    because.push(if scores.contains(&"2+") {
        "IHC 2+ without a resolving ISH result: HER2-low is not settled".into()
    } else if assessment.tests.is_empty() {
        "no HER2 test result documented".into()
    } else {
        "no IHC score documented: the results do not tell HER2-low from HER2-0".into()
    });
    result(Tri::Open, because)
}

fn result(tri: Tri, because: Vec<String>) -> LeafResult {
    LeafResult {
        tri,
        because,
        conflict: false,
    }
}

/// The IHC scores documented (observations and panel components).
fn ihc_scores(ctx: &Ctx<'_>, sets: &Her2Sets<'_>) -> Vec<&'static str> {
    let mut scores = Vec::new();
    for obs in &ctx.facts.observations {
        let parts = std::iter::once((obs.codes.as_slice(), obs.value.as_ref())).chain(
            obs.components
                .iter()
                .map(|c| (c.codes.as_slice(), c.value.as_ref())),
        );
        for (codes, value) in parts {
            if sets.ihc.contains_any(codes)
                && let Some((_, score)) = value.and_then(|v| her2::read_ihc(v, sets))
                && ["0", "1+", "2+", "3+"].contains(&score)
            {
                scores.push(score);
            }
        }
    }
    scores
}

/// Met: at least one IHC result, every IHC result 0, and no positive test (HER2-0 or
/// ultralow). Failed: a positive test, or an IHC result other than 0. Open: no IHC score.
pub fn zero(ctx: &Ctx<'_>) -> LeafResult {
    let assessment = ctx.her2(IshRule::Breast);
    let sets = Her2Sets::of(ctx.policy);
    let scores = ihc_scores(ctx, &sets);
    if assessment
        .tests
        .iter()
        .any(|t| t.reading == Reading::Positive)
    {
        return LeafResult::new(Tri::NotMet, "a HER2 test is positive");
    }
    if scores.is_empty() {
        return LeafResult::new(Tri::Open, "no IHC score documented");
    }
    if scores.iter().all(|s| *s == "0") {
        LeafResult::new(Tri::Met, "every IHC result is 0: HER2-0 or HER2-ultralow")
    } else {
        LeafResult::new(Tri::NotMet, format!("IHC {} documented", scores.join(", ")))
    }
}
