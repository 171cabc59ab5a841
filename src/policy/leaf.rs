//! The kinds of evidence a leaf of the criteria tree can test.
//!
//! Every leaf answers in three values: [`Tri::Met`], [`Tri::NotMet`] (documented to fail) or
//! [`Tri::Open`] (nothing settles it); the criterion's `absent` setting then says what an open
//! leaf is worth. Each result says why, citing the resources it read.

use chrono::NaiveDate;

use super::engine::Ctx;
use super::her2::Her2Status;
use super::model::{Absent, CycleCap, Expected, IshRule, TestSpec};
use crate::evidence::{AnswerValue, MedicationSource, MedicationUse, ObsValue, Source, UseStatus};
use crate::fhir::Code;

/// Value sets the ERBB2 variant kind reads.
pub const VARIANT_SETS: &[&str] = &[
    "variant_assessment",
    "gene_studied",
    "erbb2_gene",
    "variant_present",
    "variant_absent",
];
/// Value sets the combination analysis reads.
pub const COMBINATION_SETS: &[&str] = &["antineoplastic", "endocrine"];
/// Questions the combination analysis reads.
pub const COMBINATION_QUESTIONS: &[&str] = &["single-agent", "combination-agent"];

/// A leaf's own answer, before `absent` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    Met,
    NotMet,
    Open,
}

/// A leaf result with its reasons; `conflict` marks evidence that contradicts itself.
#[derive(Debug, Clone, PartialEq)]
pub struct LeafResult {
    pub tri: Tri,
    pub because: Vec<String>,
    pub conflict: bool,
}

impl LeafResult {
    pub(super) fn new(tri: Tri, because: impl Into<String>) -> Self {
        Self {
            tri,
            because: vec![because.into()],
            conflict: false,
        }
    }

    fn conflict(because: Vec<String>) -> Self {
        Self {
            tri: Tri::Open,
            because,
            conflict: true,
        }
    }
}

pub(super) fn cite(source: &Source) -> String {
    source.resource.clone()
}

/// Evaluates one leaf.
pub fn evaluate(ctx: &Ctx<'_>, test: &TestSpec) -> LeafResult {
    match test {
        TestSpec::Diagnosis { value_set, .. } => diagnosis(ctx, value_set),
        TestSpec::Observation {
            code,
            value,
            negative,
            ..
        } => observation(ctx, code, value, negative.as_deref()),
        TestSpec::Answer {
            link_id,
            equals,
            at_least,
            ..
        } => answer(ctx, link_id, equals.as_ref(), *at_least),
        TestSpec::Therapy { value_set, .. } => therapy_before(ctx, value_set),
        TestSpec::Facts { of, .. } => corroborate(ctx, of),
        TestSpec::Her2Positive { ish, status_codes } => {
            her2_positive(ctx, *ish, status_codes.as_deref())
        }
        TestSpec::Her2Low => super::her2_low::evaluate(ctx),
        TestSpec::Her2Zero => super::her2_low::zero(ctx),
        TestSpec::Age { at_least } => super::person::age(ctx, *at_least),
        TestSpec::TherapySince {
            value_set,
            onset_diagnoses,
            onset_code,
            onset_value,
        } => super::person::therapy_since(
            ctx,
            value_set,
            onset_diagnoses,
            onset_code.as_deref().zip(onset_value.as_deref()),
        ),
        TestSpec::Erbb2Variant => erbb2_variant(ctx),
        TestSpec::NeoadjuvantWeeks {
            taxane,
            trastuzumab,
            min_weeks,
        } => neoadjuvant_weeks(ctx, taxane, trastuzumab, *min_weeks),
        TestSpec::SingleAgent {
            partner,
            answered_false,
        } => single_agent(ctx, partner.as_deref(), *answered_false),
        TestSpec::HormoneReceptor => hormone_receptor(ctx),
        TestSpec::PriorAuthorization => match &ctx.item.authorization_number {
            Some(_) => LeafResult::new(Tri::Met, "the item carries a prior authorization number"),
            None => LeafResult::new(
                Tri::NotMet,
                "the item carries no prior authorization number",
            ),
        },
        TestSpec::DiseaseStatus {
            progression,
            response,
            months,
        } => disease_status(ctx, progression, response, *months),
        TestSpec::CyclesRemaining => cycles_remaining(ctx),
    }
}

fn diagnosis(ctx: &Ctx<'_>, value_set: &str) -> LeafResult {
    let vs = ctx.policy.vs(value_set);
    let hits: Vec<String> = ctx
        .facts
        .diagnoses
        .iter()
        .filter(|d| vs.contains(&d.code))
        .map(|d| format!("{} ({})", d.code.code, cite(&d.source)))
        .collect();
    if hits.is_empty() {
        LeafResult::new(Tri::Open, format!("no diagnosis in {}", vs.description))
    } else {
        LeafResult::new(Tri::Met, format!("diagnosis {}", hits.join(", ")))
    }
}

/// Observation values and components whose code is in `code`.
fn coded_values<'f>(
    ctx: &Ctx<'f>,
    code: &str,
) -> Vec<(Option<&'f ObsValue>, &'f Source, Option<NaiveDate>)> {
    let vs = ctx.policy.vs(code);
    let mut out = Vec::new();
    for obs in &ctx.facts.observations {
        if vs.contains_any(&obs.codes) {
            out.push((obs.value.as_ref(), &obs.source, obs.date));
        }
        for c in &obs.components {
            if vs.contains_any(&c.codes) {
                out.push((c.value.as_ref(), &obs.source, obs.date));
            }
        }
    }
    out
}

fn observation(ctx: &Ctx<'_>, code: &str, value: &str, negative: Option<&str>) -> LeafResult {
    let yes = ctx.policy.vs(value);
    let no = negative.map(|n| ctx.policy.vs(n));
    let found = coded_values(ctx, code);
    if let Some((_, src, _)) = found
        .iter()
        .find(|(v, _, _)| v.is_some_and(|v| yes.matches_value(v)))
    {
        return LeafResult::new(
            Tri::Met,
            format!("{} documented ({})", yes.description, cite(src)),
        );
    }
    if let Some(no) = no
        && let Some((_, src, _)) = found
            .iter()
            .find(|(v, _, _)| v.is_some_and(|v| no.matches_value(v)))
    {
        return LeafResult::new(
            Tri::NotMet,
            format!("{} documented ({})", no.description, cite(src)),
        );
    }
    LeafResult::new(
        Tri::Open,
        format!("no {} documented", ctx.policy.vs(code).description),
    )
}

/// All answers to a question, in document order.
pub fn answers<'f>(ctx: &Ctx<'f>, link_id: &str) -> Vec<(&'f AnswerValue, &'f Source)> {
    ctx.facts
        .answers
        .iter()
        .filter(|a| a.link_id == link_id)
        .map(|a| (&a.value, &a.source))
        .collect()
}

fn as_bool(v: &AnswerValue) -> Option<bool> {
    match v {
        AnswerValue::Boolean(b) => Some(*b),
        AnswerValue::Code(s) | AnswerValue::Text(s) => match s.trim().to_ascii_lowercase().as_str()
        {
            "true" | "yes" | "y" => Some(true),
            "false" | "no" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

pub fn as_int(v: &AnswerValue) -> Option<i64> {
    match v {
        AnswerValue::Integer(i) => Some(*i),
        AnswerValue::Decimal(d) if d.fract() == 0.0 && d.is_finite() => Some(*d as i64),
        AnswerValue::Code(s) | AnswerValue::Text(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_code(v: &AnswerValue) -> Option<String> {
    match v {
        AnswerValue::Code(s) | AnswerValue::Text(s) => Some(s.trim().to_ascii_lowercase()),
        _ => None,
    }
}

fn show(v: &AnswerValue) -> String {
    match v {
        AnswerValue::Boolean(b) => b.to_string(),
        AnswerValue::Integer(i) => i.to_string(),
        AnswerValue::Decimal(d) => d.to_string(),
        AnswerValue::Code(s) | AnswerValue::Text(s) => format!("`{s}`"),
        AnswerValue::Date(d) => d.to_string(),
    }
}

/// Compares one answer with what the criterion expects; `None` when the answer's type does
/// not fit the question.
fn answer_meets(v: &AnswerValue, equals: Option<&Expected>, at_least: Option<i64>) -> Option<bool> {
    if let Some(min) = at_least {
        return as_int(v).map(|n| n >= min);
    }
    match equals? {
        Expected::Bool(b) => as_bool(v).map(|x| x == *b),
        Expected::Integer(n) => as_int(v).map(|x| x == *n),
        Expected::Code(c) => as_code(v).map(|x| x == c.to_ascii_lowercase()),
        Expected::OneOf(list) => {
            as_code(v).map(|x| list.iter().any(|c| c.to_ascii_lowercase() == x))
        }
    }
}

fn answer(
    ctx: &Ctx<'_>,
    link_id: &str,
    equals: Option<&Expected>,
    at_least: Option<i64>,
) -> LeafResult {
    let found = answers(ctx, link_id);
    let mut verdicts = Vec::new();
    for (value, source) in &found {
        match answer_meets(value, equals, at_least) {
            Some(ok) => verdicts.push((
                ok,
                format!("answer `{link_id}` = {} ({})", show(value), cite(source)),
            )),
            None => {
                return LeafResult::new(
                    Tri::Open,
                    format!(
                        "answer `{link_id}` = {} is not of the expected type ({})",
                        show(value),
                        cite(source)
                    ),
                );
            }
        }
    }
    let Some((first, _)) = verdicts.first() else {
        return LeafResult::new(Tri::Open, format!("question `{link_id}` not answered"));
    };
    let first = *first;
    if verdicts.iter().any(|(ok, _)| *ok != first) {
        let mut because = vec![format!("contradictory answers to `{link_id}`")];
        because.extend(verdicts.into_iter().map(|(_, why)| why));
        return LeafResult::conflict(because);
    }
    let tri = if first { Tri::Met } else { Tri::NotMet };
    LeafResult {
        tri,
        because: verdicts.into_iter().map(|(_, why)| why).collect(),
        conflict: false,
    }
}

/// Uses documented before the requested start (history, or started before it), other Claim
/// items excluded.
pub(super) fn history<'f>(ctx: &Ctx<'f>, value_set: &str) -> Vec<&'f MedicationUse> {
    let vs = ctx.policy.vs(value_set);
    ctx.facts
        .medications
        .iter()
        .filter(|m| !matches!(m.kind, MedicationSource::ClaimItem(_)))
        .filter(|m| vs.contains_any(&m.codes))
        .filter(|m| m.status == UseStatus::History || m.start.is_some_and(|s| s < ctx.start))
        .collect()
}

fn therapy_before(ctx: &Ctx<'_>, value_set: &str) -> LeafResult {
    let uses = history(ctx, value_set);
    let vs = ctx.policy.vs(value_set);
    if uses.is_empty() {
        LeafResult::new(
            Tri::Open,
            format!("no {} in the therapy history", vs.description),
        )
    } else {
        let cited: Vec<String> = uses.iter().map(|m| cite(&m.source)).collect();
        LeafResult::new(
            Tri::Met,
            format!("{} received before ({})", vs.description, cited.join(", ")),
        )
    }
}

/// Structured evidence first, answers after; any two settled pieces that disagree make a
/// contradiction, which pends.
fn corroborate(ctx: &Ctx<'_>, tests: &[TestSpec]) -> LeafResult {
    let results: Vec<LeafResult> = tests.iter().map(|t| evaluate(ctx, t)).collect();
    if let Some(conflicted) = results.iter().find(|r| r.conflict) {
        return conflicted.clone();
    }
    let settled: Vec<&LeafResult> = results.iter().filter(|r| r.tri != Tri::Open).collect();
    let Some(first) = settled.first() else {
        return LeafResult {
            tri: Tri::Open,
            because: results.into_iter().flat_map(|r| r.because).collect(),
            conflict: false,
        };
    };
    if settled.iter().any(|r| r.tri != first.tri) {
        let mut because = vec!["documented evidence contradicts itself".to_owned()];
        because.extend(settled.iter().flat_map(|r| r.because.iter().cloned()));
        return LeafResult::conflict(because);
    }
    LeafResult {
        tri: first.tri,
        because: settled
            .iter()
            .flat_map(|r| r.because.iter().cloned())
            .collect(),
        conflict: false,
    }
}

fn her2_positive(ctx: &Ctx<'_>, ish: IshRule, status_codes: Option<&str>) -> LeafResult {
    let assessment = ctx.her2(ish);
    let mut because: Vec<String> = assessment
        .tests
        .iter()
        .map(|t| format!("{}: {} ({})", t.detail, t.reading, cite(&t.source)))
        .collect();
    because.extend(assessment.notes.iter().cloned());
    let tri = match assessment.status {
        Her2Status::Positive => Tri::Met,
        Her2Status::Negative => {
            because.push("HER2-negative by the policy's definitions".into());
            Tri::NotMet
        }
        Her2Status::Equivocal => {
            because.push(
                "HER2 equivocal: an ISH result or the final pathology report is needed".into(),
            );
            Tri::Open
        }
        Her2Status::Absent => {
            let coded: Vec<&str> = status_codes
                .map(|name| ctx.policy.vs(name))
                .map(|vs| {
                    ctx.facts
                        .diagnoses
                        .iter()
                        .filter(|d| vs.contains(&d.code))
                        .map(|d| d.code.code.as_str())
                        .collect()
                })
                .unwrap_or_default();
            if coded.is_empty() {
                because.push("no HER2 test result documented".into());
            } else {
                because.push(format!(
                    "no HER2 test result documented; a diagnosis code ({}) is not test documentation",
                    coded.join(", ")
                ));
            }
            Tri::Open
        }
    };
    LeafResult {
        tri,
        because,
        conflict: false,
    }
}

fn erbb2_variant(ctx: &Ctx<'_>) -> LeafResult {
    let p = ctx.policy;
    let (assessment, gene, erbb2) = (
        p.vs("variant_assessment"),
        p.vs("gene_studied"),
        p.vs("erbb2_gene"),
    );
    let (present, absent) = (p.vs("variant_present"), p.vs("variant_absent"));
    let mut tri = Tri::Open;
    let mut because = Vec::new();
    for obs in &ctx.facts.observations {
        if !assessment.contains_any(&obs.codes) {
            continue;
        }
        let is_erbb2 = obs.components.iter().any(|c| {
            gene.contains_any(&c.codes) && c.value.as_ref().is_some_and(|v| erbb2.matches_value(v))
        });
        if !is_erbb2 {
            continue;
        }
        match obs.value.as_ref() {
            Some(v) if present.matches_value(v) => {
                tri = Tri::Met;
                because.push(format!("ERBB2 variant present ({})", cite(&obs.source)));
            }
            Some(v) if absent.matches_value(v) => {
                if tri == Tri::Open {
                    tri = Tri::NotMet;
                }
                because.push(format!("ERBB2 variant absent ({})", cite(&obs.source)));
            }
            _ => because.push(format!(
                "ERBB2 variant assessment without a call ({})",
                cite(&obs.source)
            )),
        }
    }
    if because.is_empty() {
        because.push("no ERBB2 variant assessment documented".into());
    }
    LeafResult {
        tri,
        because,
        conflict: false,
    }
}

fn neoadjuvant_weeks(ctx: &Ctx<'_>, taxane: &str, trastuzumab: &str, min_weeks: u32) -> LeafResult {
    let taxanes = history(ctx, taxane);
    let trastuzumabs = history(ctx, trastuzumab);
    if taxanes.is_empty() || trastuzumabs.is_empty() {
        return LeafResult::new(
            Tri::Open,
            "taxane and trastuzumab courses are not both documented",
        );
    }
    let courses: Vec<&MedicationUse> = taxanes.into_iter().chain(trastuzumabs).collect();
    let starts = courses.iter().filter_map(|m| m.start.or(m.end));
    let ends = courses.iter().filter_map(|m| m.end.or(m.start));
    let (Some(first), Some(last)) = (starts.min(), ends.max()) else {
        return LeafResult::new(
            Tri::Open,
            "the taxane and trastuzumab courses carry no dates",
        );
    };
    let days = (last - first).num_days();
    let min_days = i64::from(min_weeks) * 7;
    let weeks = days as f64 / 7.0;
    let cited: Vec<String> = courses.iter().map(|m| cite(&m.source)).collect();
    let why = format!(
        "taxane and trastuzumab from {first} to {last}: {weeks:.1} weeks ({})",
        cited.join(", ")
    );
    LeafResult::new(
        if days >= min_days {
            Tri::Met
        } else {
            Tri::NotMet
        },
        why,
    )
}

/// Another drug documented alongside the request.
#[derive(Debug, Clone)]
pub struct Partner {
    /// The codes of a documented use, or empty for a drug named in an answer.
    pub codes: Vec<Code>,
    /// What the drug was called in an answer.
    pub named: Option<String>,
    pub endocrine: bool,
    pub source: Source,
}

/// What the request documents about drugs given with the requested one.
#[derive(Debug, Clone, Default)]
pub struct Combination {
    /// Anticancer and endocrine drugs over the requested period.
    pub partners: Vec<Partner>,
    /// The `single-agent` answer.
    pub single_agent: Option<(bool, Source)>,
    /// A `combination-agent` answer naming no drug the policy knows.
    pub unknown_agent: Option<(String, Source)>,
    /// Contradictions between the evidence and the answers.
    pub conflicts: Vec<String>,
}

impl Combination {
    /// Reads concurrent therapy: current uses and other Claim items overlapping the request,
    /// and the `single-agent` / `combination-agent` answers.
    pub fn analyse(ctx: &Ctx<'_>) -> Self {
        let p = ctx.policy;
        let (anticancer, endocrine, own) =
            (p.vs("antineoplastic"), p.vs("endocrine"), p.vs(&p.drug));
        let mut out = Combination::default();
        for m in &ctx.facts.medications {
            let current = match m.kind {
                MedicationSource::ClaimItem(seq) => seq != ctx.item.sequence,
                _ => m.status == UseStatus::Current,
            };
            if !current || own.contains_any(&m.codes) || !ctx.overlaps(m.start, m.end) {
                continue;
            }
            let is_endocrine = endocrine.contains_any(&m.codes);
            if is_endocrine || anticancer.contains_any(&m.codes) {
                out.partners.push(Partner {
                    codes: m.codes.clone(),
                    named: None,
                    endocrine: is_endocrine,
                    source: m.source.clone(),
                });
            }
        }
        let structured_anticancer = out.partners.iter().any(|p| !p.endocrine);

        let mut single: Vec<(bool, &Source)> = Vec::new();
        for (value, source) in answers(ctx, "single-agent") {
            if let Some(b) = as_bool(value) {
                single.push((b, source));
            }
        }
        if single.iter().any(|(b, _)| *b) && single.iter().any(|(b, _)| !*b) {
            out.conflicts
                .push("contradictory answers to `single-agent`".into());
        }
        out.single_agent = single.first().map(|(b, s)| (*b, (*s).clone()));

        for (value, source) in answers(ctx, "combination-agent") {
            let (AnswerValue::Text(text) | AnswerValue::Code(text)) = value else {
                continue;
            };
            let t = text.trim();
            if t.is_empty()
                || ["none", "n/a", "na", "no", "-"].contains(&t.to_ascii_lowercase().as_str())
            {
                continue;
            }
            if own.names_drug(t) {
                continue;
            }
            if endocrine.names_drug(t) || anticancer.names_drug(t) {
                out.partners.push(Partner {
                    codes: Vec::new(),
                    named: Some(t.to_owned()),
                    endocrine: endocrine.names_drug(t) && !anticancer.names_drug(t),
                    source: source.clone(),
                });
            } else {
                out.unknown_agent = Some((t.to_owned(), source.clone()));
            }
        }

        let answered_anticancer = out
            .partners
            .iter()
            .any(|p| !p.endocrine && p.named.is_some());
        if let Some((true, source)) = &out.single_agent {
            if structured_anticancer {
                let drugs: Vec<String> = out
                    .partners
                    .iter()
                    .filter(|p| !p.endocrine && p.named.is_none())
                    .map(|p| cite(&p.source))
                    .collect();
                out.conflicts.push(format!(
                    "answer `single-agent` = true ({}) contradicts concurrent anticancer therapy ({})",
                    cite(source),
                    drugs.join(", ")
                ));
            }
            if answered_anticancer || out.unknown_agent.is_some() {
                out.conflicts.push(format!(
                    "answer `single-agent` = true ({}) contradicts the `combination-agent` answer",
                    cite(source)
                ));
            }
        }
        out
    }

    fn describe(p: &Partner) -> String {
        match &p.named {
            Some(name) => format!("`{name}` (answer, {})", cite(&p.source)),
            None => format!(
                "{} ({})",
                p.codes
                    .iter()
                    .map(|c| c.code.as_str())
                    .collect::<Vec<_>>()
                    .join("/"),
                cite(&p.source)
            ),
        }
    }
}

fn single_agent(ctx: &Ctx<'_>, partner: Option<&str>, answered_false: Absent) -> LeafResult {
    let combo = ctx.combination();
    if !combo.conflicts.is_empty() {
        return LeafResult::conflict(combo.conflicts.clone());
    }
    let allowed = partner.map(|name| ctx.policy.vs(name));
    let is_allowed = |p: &Partner| {
        allowed.is_some_and(|vs| {
            vs.contains_any(&p.codes) || p.named.as_deref().is_some_and(|n| vs.names_drug(n))
        })
    };
    let anticancer: Vec<&Partner> = combo.partners.iter().filter(|p| !p.endocrine).collect();
    let disallowed: Vec<String> = anticancer
        .iter()
        .filter(|p| !is_allowed(p))
        .map(|p| Combination::describe(p))
        .collect();
    if !disallowed.is_empty() {
        return LeafResult::new(
            Tri::NotMet,
            format!("used in combination with {}", disallowed.join(", ")),
        );
    }
    let endocrine: Vec<String> = combo
        .partners
        .iter()
        .filter(|p| p.endocrine)
        .map(Combination::describe)
        .collect();
    let mut because = Vec::new();
    if !anticancer.is_empty() {
        let names: Vec<String> = anticancer
            .iter()
            .map(|p| Combination::describe(p))
            .collect();
        because.push(format!(
            "with {}, an allowed partner on this criterion",
            names.join(", ")
        ));
    }
    if !endocrine.is_empty() {
        because.push(format!(
            "with endocrine therapy {}, which the policy allows",
            endocrine.join(", ")
        ));
    }
    if let Some((name, source)) = &combo.unknown_agent {
        because.push(format!(
            "answer `combination-agent` = `{name}` ({}) names no drug the policy knows",
            cite(source)
        ));
        return LeafResult {
            tri: Tri::Open,
            because,
            conflict: false,
        };
    }
    if let Some((false, source)) = &combo.single_agent
        && combo.partners.is_empty()
    {
        let tri = match answered_false {
            Absent::NotMet => {
                because.push(format!(
                    "answer `single-agent` = false ({}): used in combination",
                    cite(source)
                ));
                Tri::NotMet
            }
            Absent::Missing | Absent::Met => {
                because.push(format!(
                    "answer `single-agent` = false ({}) but no partner drug is named",
                    cite(source)
                ));
                Tri::Open
            }
        };
        return LeafResult {
            tri,
            because,
            conflict: false,
        };
    }
    if anticancer.is_empty() {
        because.insert(
            0,
            "no other anticancer drug documented over the requested period".into(),
        );
    }
    LeafResult {
        tri: Tri::Met,
        because,
        conflict: false,
    }
}

fn hormone_receptor(ctx: &Ctx<'_>) -> LeafResult {
    let hr = ctx.policy.vs("hormone_receptor");
    let (pos, neg) = (
        ctx.policy.vs("result_positive"),
        ctx.policy.vs("result_negative"),
    );
    let mut because = Vec::new();
    for obs in &ctx.facts.observations {
        if hr.contains_any(&obs.codes) {
            let reading = match obs.value.as_ref() {
                Some(v) if pos.matches_value(v) => "positive",
                Some(v) if neg.matches_value(v) => "negative",
                _ => "documented",
            };
            because.push(format!(
                "hormone receptor {reading} ({})",
                cite(&obs.source)
            ));
        }
    }
    if because.is_empty() {
        because.push("hormone receptor status not documented; any status is accepted".into());
    } else {
        because.push("any hormone receptor status is accepted".into());
    }
    LeafResult {
        tri: Tri::Met,
        because,
        conflict: false,
    }
}

fn disease_status(ctx: &Ctx<'_>, progression: &str, response: &str, months: u32) -> LeafResult {
    let (worse, ok) = (ctx.policy.vs(progression), ctx.policy.vs(response));
    let Some(reference) = ctx.created else {
        return LeafResult::new(
            Tri::Open,
            "the Claim has no created date to measure the last 6 months from",
        );
    };
    let Some(window_start) = reference.checked_sub_months(chrono::Months::new(months)) else {
        return LeafResult::new(Tri::Open, "the disease-status window cannot be computed");
    };
    let in_window: Vec<(NaiveDate, Option<&ObsValue>, &Source)> =
        coded_values(ctx, "disease_status")
            .into_iter()
            .filter_map(|(v, s, d)| {
                d.filter(|d| *d >= window_start && *d <= reference)
                    .map(|d| (d, v, s))
            })
            .collect();
    let Some(latest) = in_window.iter().map(|(d, _, _)| *d).max() else {
        return LeafResult::new(
            Tri::Open,
            format!("no disease status documented between {window_start} and {reference}"),
        );
    };
    let newest: Vec<&(NaiveDate, Option<&ObsValue>, &Source)> =
        in_window.iter().filter(|(d, _, _)| *d == latest).collect();
    let progressed = newest
        .iter()
        .any(|(_, v, _)| v.is_some_and(|v| worse.matches_value(v)));
    let responded = newest
        .iter()
        .any(|(_, v, _)| v.is_some_and(|v| ok.matches_value(v)));
    let cited: Vec<String> = newest.iter().map(|(_, _, s)| cite(s)).collect();
    match (progressed, responded) {
        (true, true) => LeafResult::conflict(vec![format!(
            "disease status on {latest} shows both progression and response ({})",
            cited.join(", ")
        )]),
        (true, false) => LeafResult::new(
            Tri::NotMet,
            format!("disease progression on {latest} ({})", cited.join(", ")),
        ),
        (false, true) => LeafResult::new(
            Tri::Met,
            format!(
                "no progression: disease status on {latest} ({})",
                cited.join(", ")
            ),
        ),
        (false, false) => LeafResult::new(
            Tri::Open,
            format!(
                "disease status on {latest} is undetermined ({})",
                cited.join(", ")
            ),
        ),
    }
}

/// Cycles of the policy's drug already received: the cap's answer, or the documented
/// administrations of the policy's drug. Documented administrations are a lower bound; an
/// answer below them contradicts the record.
#[derive(Debug, Clone, PartialEq)]
pub enum CyclesReceived {
    Count { count: u32, because: String },
    Conflict(String),
}

pub fn cycles_received(ctx: &Ctx<'_>, cap: &CycleCap) -> CyclesReceived {
    let question = cap.answer.as_str();
    let own = ctx.policy.vs(&ctx.policy.drug);
    let documented: Vec<&MedicationUse> = ctx
        .facts
        .medications
        .iter()
        .filter(|m| {
            matches!(
                m.kind,
                MedicationSource::Administration | MedicationSource::Procedure
            )
        })
        .filter(|m| m.status == UseStatus::History && own.contains_any(&m.codes))
        .collect();
    let documented_count = u32::try_from(documented.len()).unwrap_or(u32::MAX);
    let answered: Vec<(i64, &Source)> = answers(ctx, question)
        .into_iter()
        .filter_map(|(v, s)| as_int(v).map(|n| (n, s)))
        .collect();
    match answered.first() {
        Some((n, source)) => {
            if answered.iter().any(|(m, _)| m != n) {
                return CyclesReceived::Conflict(format!("contradictory answers to `{question}`"));
            }
            let n = u32::try_from(*n).unwrap_or(0);
            if documented_count > n {
                return CyclesReceived::Conflict(format!(
                    "answer `{question}` = {n} ({}) but {documented_count} administrations are documented",
                    cite(source)
                ));
            }
            CyclesReceived::Count {
                count: n,
                because: format!("answer `{question}` = {n} ({})", cite(source)),
            }
        }
        None => CyclesReceived::Count {
            count: documented_count,
            because: format!("{documented_count} administrations documented"),
        },
    }
}

fn cycles_remaining(ctx: &Ctx<'_>) -> LeafResult {
    let Some(cap) = ctx.cap_applies() else {
        let (label, max) = ctx
            .policy
            .cap
            .as_ref()
            .map(|c| (c.spec.label.as_str(), c.spec.max))
            .unwrap_or_default();
        return LeafResult::new(
            Tri::Met,
            format!("not {label}: no {max}-cycle total applies"),
        );
    };
    let max = cap.max;
    match cycles_received(ctx, cap) {
        CyclesReceived::Conflict(why) => LeafResult::conflict(vec![why]),
        CyclesReceived::Count { count, because } if count >= max => LeafResult::new(
            Tri::NotMet,
            format!("{count} of {max} cycles already received: {because}"),
        ),
        CyclesReceived::Count { count, because } => LeafResult::new(
            Tri::Met,
            format!("{count} of {max} cycles received: {because}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_compare_by_type() {
        let yes = AnswerValue::Boolean(true);
        assert_eq!(
            answer_meets(&yes, Some(&Expected::Bool(true)), None),
            Some(true)
        );
        assert_eq!(
            answer_meets(
                &AnswerValue::Text("No".into()),
                Some(&Expected::Bool(true)),
                None
            ),
            Some(false)
        );
        assert_eq!(
            answer_meets(&AnswerValue::Integer(16), None, Some(16)),
            Some(true)
        );
        assert_eq!(
            answer_meets(&AnswerValue::Integer(15), None, Some(16)),
            Some(false)
        );
        assert_eq!(
            answer_meets(
                &AnswerValue::Code("Metastatic".into()),
                Some(&Expected::Code("metastatic".into())),
                None
            ),
            Some(true)
        );
        let one_of = Expected::OneOf(vec!["adjuvant".into(), "metastatic".into()]);
        assert_eq!(
            answer_meets(
                &AnswerValue::Code("neoadjuvant".into()),
                Some(&one_of),
                None
            ),
            Some(false)
        );
        assert_eq!(
            answer_meets(&AnswerValue::Integer(2), Some(&Expected::Bool(true)), None),
            None
        );
    }
}
