//! Deciding one item: three-valued evaluation of the criteria tree, the choice between
//! paths (decisions.md section 5), continuation (B), the limits, and the explanation.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::PathPlan;
use super::decision::{CriterionResult, Decision, Outcome, Status};
use super::her2::{self, Her2Assessment, Her2Sets};
use super::leaf::{self, Combination, CyclesReceived, LeafResult, Tri};
use super::limits::{self, Verdict};
use super::model::{Absent, IshRule, TestSpec};
use super::{Node, Policy};
use crate::evidence::{Facts, ItemFacts, ObsValue};

/// A criterion's evaluated status with its reasons.
#[derive(Debug, Clone, PartialEq)]
struct Eval {
    status: Status,
    because: Vec<String>,
    /// The status rests on contradictory evidence.
    conflict: bool,
}

/// Everything one item's evaluation reads, and the memo of criteria already evaluated.
pub struct Ctx<'a> {
    pub policy: &'a Policy,
    pub facts: &'a Facts,
    pub item: &'a ItemFacts,
    /// Claim.created as a date.
    pub created: Option<NaiveDate>,
    /// The requested start (servicedPeriod.start, servicedDate, else created).
    pub start: NaiveDate,
    /// The end of the period concurrency is judged over (requested end, capped).
    pub end: NaiveDate,
    her2: OnceCell<Her2Assessment>,
    her2_ratio_only: OnceCell<Her2Assessment>,
    combination: OnceCell<Combination>,
    memo: RefCell<HashMap<usize, Eval>>,
}

impl<'a> Ctx<'a> {
    /// The HER2 tests read under one ISH rule, memoized.
    pub fn her2(&self, rule: IshRule) -> &Her2Assessment {
        let cell = match rule {
            IshRule::Breast => &self.her2,
            IshRule::RatioOnly => &self.her2_ratio_only,
        };
        cell.get_or_init(|| her2::assess_with(self.facts, &Her2Sets::of(self.policy), rule))
    }

    pub fn combination(&self) -> &Combination {
        self.combination.get_or_init(|| Combination::analyse(self))
    }

    /// Whether a use over `[start, end]` overlaps the requested period; open ends overlap.
    pub fn overlaps(&self, start: Option<NaiveDate>, end: Option<NaiveDate>) -> bool {
        start.is_none_or(|s| s <= self.end) && end.is_none_or(|e| e >= self.start)
    }

    /// Whether the policy's cycle cap applies (its condition is met), with the cap.
    pub fn cap_applies(&self) -> Option<&'a super::model::CycleCap> {
        let cap = self.policy.cap.as_ref()?;
        (self.eval(cap.applies_when).status == Status::Met).then_some(&cap.spec)
    }

    fn eval(&self, index: usize) -> Eval {
        if let Some(done) = self.memo.borrow().get(&index) {
            return done.clone();
        }
        let result = self.compute(index);
        self.memo.borrow_mut().insert(index, result.clone());
        result
    }

    fn compute(&self, index: usize) -> Eval {
        let criterion = &self.policy.criteria[index];
        match &criterion.node {
            Node::Leaf(test) => from_leaf(leaf::evaluate(self, test), absent_of(test)),
            Node::Not(child) => {
                let e = self.eval(*child);
                let status = match e.status {
                    Status::Met => Status::NotMet,
                    Status::NotMet => Status::Met,
                    Status::Unknown => Status::Unknown,
                };
                Eval {
                    status,
                    because: Vec::new(),
                    conflict: e.conflict,
                }
            }
            Node::All(children) => self.combine(children, Status::NotMet, Status::Met),
            Node::Any(children) => self.combine(children, Status::Met, Status::NotMet),
        }
    }

    /// Kleene conjunction (`decisive` not met) or disjunction (`decisive` met): one decisive
    /// child decides, all children at `otherwise` give `otherwise`, anything else is missing.
    fn combine(&self, children: &[usize], decisive: Status, otherwise: Status) -> Eval {
        let evals: Vec<Eval> = children.iter().map(|c| self.eval(*c)).collect();
        let status = if evals.iter().any(|e| e.status == decisive) {
            decisive
        } else if evals.iter().all(|e| e.status == otherwise) {
            otherwise
        } else {
            Status::Unknown
        };
        Eval {
            status,
            because: Vec::new(),
            conflict: evals.iter().any(|e| e.conflict),
        }
    }

    /// The explanation of a subtree, in policy order. Helper nodes (lower-case ids) are
    /// reported under the policy number of their nearest numbered ancestor. Children of a
    /// met `any` that did not carry it, and children under a `not`, are left out.
    fn explain(&self, index: usize, numbered: &str, out: &mut Vec<CriterionResult>) {
        let criterion = &self.policy.criteria[index];
        let e = self.eval(index);
        let id = if is_numbered(&criterion.id) {
            criterion.id.as_str()
        } else {
            numbered
        };
        if !out.iter().any(|r| r.id == id && r.text == criterion.text) {
            out.push(CriterionResult {
                id: id.to_owned(),
                text: criterion.text.clone(),
                status: e.status,
                because: e.because.clone(),
            });
        }
        match &criterion.node {
            Node::All(children) => children.iter().for_each(|c| self.explain(*c, id, out)),
            Node::Any(children) => {
                for c in children {
                    if e.status != Status::Met || self.eval(*c).status == Status::Met {
                        self.explain(*c, id, out);
                    }
                }
            }
            Node::Not(_) | Node::Leaf(_) => {}
        }
    }

    /// Documents that would settle the unknowns under a criterion.
    fn documents(&self, index: usize, inherited: Option<&str>, out: &mut Vec<String>) {
        let criterion = &self.policy.criteria[index];
        let e = self.eval(index);
        if e.status != Status::Unknown {
            return;
        }
        let doc = criterion.documents.as_deref().or(inherited);
        let children = criterion.node.children();
        if children.is_empty() {
            let text = doc
                .map(str::to_owned)
                .unwrap_or_else(|| format!("documentation of: {}", criterion.text));
            let text = if e.conflict {
                format!("{text} (to resolve: {})", e.because.join("; "))
            } else {
                text
            };
            if !out.contains(&text) {
                out.push(text);
            }
        }
        for c in children {
            self.documents(c, doc, out);
        }
    }
}

fn is_numbered(id: &str) -> bool {
    id.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

fn absent_of(test: &TestSpec) -> Absent {
    match test {
        TestSpec::Diagnosis { absent, .. }
        | TestSpec::Observation { absent, .. }
        | TestSpec::Answer { absent, .. }
        | TestSpec::Therapy { absent, .. }
        | TestSpec::Facts { absent, .. } => *absent,
        _ => Absent::Missing,
    }
}

fn from_leaf(r: LeafResult, absent: Absent) -> Eval {
    let status = match (r.tri, r.conflict) {
        (_, true) => Status::Unknown,
        (Tri::Met, _) => Status::Met,
        (Tri::NotMet, _) => Status::NotMet,
        (Tri::Open, _) => match absent {
            Absent::Missing => Status::Unknown,
            Absent::NotMet => Status::NotMet,
            Absent::Met => Status::Met,
        },
    };
    Eval {
        status,
        because: r.because,
        conflict: r.conflict,
    }
}

/// Whether the item asks to continue therapy, from the certification type, a prior
/// authorization number, and the `request-type` answer; disagreement is a contradiction.
enum RequestKind {
    Initial,
    Continuation(String),
    Conflict(String),
}

fn request_kind(ctx: &Ctx<'_>) -> RequestKind {
    let item = ctx.item;
    let cert = item.certification_type.as_deref();
    let structured_continuation = match (cert, &item.authorization_number) {
        (Some(c), _)
            if ctx
                .policy
                .continuation_certification_types
                .iter()
                .any(|t| t == c) =>
        {
            Some(format!("certification type `{c}`"))
        }
        (_, Some(n)) => Some(format!("prior authorization `{n}`")),
        _ => None,
    };
    let question = ctx.policy.request_type.as_str();
    let answered: Vec<String> = leaf::answers(ctx, question)
        .into_iter()
        .filter_map(|(v, _)| match v {
            crate::evidence::AnswerValue::Code(s) | crate::evidence::AnswerValue::Text(s) => {
                Some(s.trim().to_ascii_lowercase())
            }
            _ => None,
        })
        .collect();
    if answered.iter().any(|a| a != &answered[0]) {
        return RequestKind::Conflict(format!("contradictory answers to `{question}`"));
    }
    match (
        structured_continuation,
        answered.first().map(String::as_str),
        cert,
    ) {
        (Some(why), Some("initial"), _) => {
            RequestKind::Conflict(format!("{why} contradicts answer `{question}` = `initial`"))
        }
        (Some(why), _, _) => RequestKind::Continuation(why),
        (None, Some("continuation"), Some("I")) => RequestKind::Conflict(format!(
            "certification type `I` (initial) contradicts answer `{question}` = `continuation`"
        )),
        (None, Some("continuation"), _) => {
            RequestKind::Continuation(format!("answer `{question}` = `continuation`"))
        }
        _ => RequestKind::Initial,
    }
}

/// The latest documented body weight, in kg, exact.
fn body_weight(ctx: &Ctx<'_>) -> Option<(Decimal, String)> {
    let vs = ctx.policy.vs(&ctx.policy.limits.body_weight);
    ctx.facts
        .observations
        .iter()
        .filter(|o| vs.contains_any(&o.codes))
        .filter(|o| ctx.created.is_none_or(|c| o.date.is_none_or(|d| d <= c)))
        .filter_map(|o| match &o.value {
            Some(ObsValue::Quantity {
                value,
                unit,
                comparator: None,
            }) => limits::exact_kg(*value, unit.as_deref())
                .map(|kg| (o.date, kg, o.source.resource.clone())),
            _ => None,
        })
        .max_by_key(|(date, _, _)| *date)
        .map(|(_, kg, source)| (kg, source))
}

fn pended(documents: Vec<String>) -> Outcome {
    Outcome::Pended { documents }
}

/// Decides one item by the policy.
pub fn decide(policy: &Policy, facts: &Facts, item: &ItemFacts) -> Decision {
    let created = facts.claim.created;
    let served = item.served.unwrap_or_default();
    let Some(start) = served.start.or(created) else {
        return Decision {
            sequence: item.sequence,
            outcome: pended(vec!["the requested start date of the service".into()]),
            policy: Some(policy.reference()),
            criteria: Vec::new(),
            summary: "pended: the item has no service date and the Claim no created date".into(),
        };
    };
    let cap_end = limits::period_end(start, policy.limits.period_months).unwrap_or(start);
    let end = served.end.map_or(cap_end, |e| e.min(cap_end)).max(start);
    let ctx = Ctx {
        policy,
        facts,
        item,
        created,
        start,
        end,
        her2: OnceCell::new(),
        her2_ratio_only: OnceCell::new(),
        combination: OnceCell::new(),
        memo: RefCell::new(HashMap::new()),
    };
    let mut decision = Decision {
        sequence: item.sequence,
        outcome: Outcome::NotCertified,
        policy: Some(policy.reference()),
        criteria: Vec::new(),
        summary: String::new(),
    };

    // Section D exclusions decide first.
    for &x in &policy.exclusions {
        ctx.explain(x, &policy.criteria[x].id, &mut decision.criteria);
    }
    if let Some(&x) = policy
        .exclusions
        .iter()
        .find(|&&x| ctx.eval(x).status == Status::NotMet)
    {
        decision.summary = format!(
            "not certified: {} (D)",
            policy.criteria[x].text.to_lowercase()
        );
        return decision;
    }

    match request_kind(&ctx) {
        RequestKind::Conflict(why) => {
            decision.outcome = pended(vec![format!(
                "confirmation whether this is an initial request or a continuation ({why})"
            )]);
            decision.summary = format!("pended: {why}");
            decision
        }
        RequestKind::Continuation(why) => continuation(&ctx, decision, &why),
        RequestKind::Initial => initial(&ctx, decision),
    }
}

/// The diagnoses that document an indication (not encounter or receptor-status codes).
fn has_indication_diagnosis(ctx: &Ctx<'_>) -> bool {
    let supporting = ctx.policy.vs(&ctx.policy.supporting_diagnoses);
    ctx.facts
        .diagnoses
        .iter()
        .any(|d| !supporting.contains(&d.code))
}

fn initial(ctx: &Ctx<'_>, mut decision: Decision) -> Decision {
    let policy = ctx.policy;
    let candidates: Vec<&PathPlan> = policy
        .paths
        .iter()
        .filter(|p| {
            ctx.facts
                .diagnoses
                .iter()
                .any(|d| policy.vs(&p.family).contains(&d.code))
        })
        .collect();
    if candidates.is_empty() {
        if has_indication_diagnosis(ctx) {
            let codes: Vec<&str> = ctx
                .facts
                .diagnoses
                .iter()
                .map(|d| d.code.code.as_str())
                .collect();
            let outside = &policy.outside_indication;
            decision.criteria.push(CriterionResult {
                id: outside.id.clone(),
                text: outside.text.clone(),
                status: Status::NotMet,
                because: vec![format!(
                    "diagnoses {} are outside every indication of section A",
                    codes.join(", ")
                )],
            });
            decision.summary = format!(
                "not certified: the diagnosis is not an indication of section A ({})",
                outside.id
            );
        } else {
            let none = &policy.no_indication;
            decision.criteria.push(CriterionResult {
                id: none.id.clone(),
                text: none.text.clone(),
                status: Status::Unknown,
                because: vec!["no cancer diagnosis documented".into()],
            });
            decision.outcome = pended(vec![none.documents.clone()]);
            decision.summary = "pended: no diagnosis documents an indication".into();
        }
        return decision;
    }

    // The exclusions let through only partners some path allows (neratinib on A.ii); with
    // one, every path that allows no partner fails D.i whatever else it documents.
    let combination = ctx.combination();
    let partnered =
        combination.conflicts.is_empty() && combination.partners.iter().any(|p| !p.endocrine);
    let statuses: Vec<Status> = candidates
        .iter()
        .map(|p| {
            if partnered && p.allows_partner.is_none() {
                Status::NotMet
            } else {
                ctx.eval(p.criterion).status
            }
        })
        .collect();
    let met: Vec<&PathPlan> = candidates
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| **s == Status::Met)
        .map(|(p, _)| *p)
        .collect();

    // A contradiction on any candidate path pends, even beside a met path, where the policy
    // says so (`decision.contradictions_pend`).
    let contradicted: Vec<&PathPlan> = candidates
        .iter()
        .copied()
        .filter(|p| ctx.eval(p.criterion).conflict)
        .collect();
    if policy.contradictions_pend && !contradicted.is_empty() {
        for path in &candidates {
            ctx.explain(
                path.criterion,
                &policy.criteria[path.criterion].id,
                &mut decision.criteria,
            );
        }
        let mut documents = Vec::new();
        for path in &contradicted {
            ctx.documents(path.criterion, None, &mut documents);
        }
        let ids: Vec<&str> = contradicted
            .iter()
            .map(|p| policy.criteria[p.criterion].id.as_str())
            .collect();
        decision.outcome = pended(documents);
        decision.summary = format!(
            "pended: the documentation contradicts itself on {}",
            ids.join(", ")
        );
        return decision;
    }

    if let Some(path) = met.first() {
        ctx.explain(
            path.criterion,
            &policy.criteria[path.criterion].id,
            &mut decision.criteria,
        );
        let text = &policy.criteria[path.criterion].text;
        // Paths with different doses all met: the largest dose applies.
        let dose = met.iter().map(|p| p.dose).max().unwrap_or(path.dose);
        let capped = if path.cycle_capped {
            policy.cap.as_ref().map(|c| &c.spec)
        } else {
            None
        };
        return apply_limits(
            ctx,
            decision,
            &format!("{} ({text})", policy.criteria[path.criterion].id),
            capped,
            dose,
            &policy.limits.initial,
        );
    }
    for path in &candidates {
        ctx.explain(
            path.criterion,
            &policy.criteria[path.criterion].id,
            &mut decision.criteria,
        );
    }
    for (path, status) in candidates.iter().zip(&statuses) {
        if *status == Status::NotMet && ctx.eval(path.criterion).status != Status::NotMet {
            let Some(exclusion) = &policy.partner_exclusion else {
                continue;
            };
            decision.criteria.push(CriterionResult {
                id: exclusion.id.clone(),
                text: exclusion.text.clone(),
                status: Status::NotMet,
                because: vec![format!(
                    "{} allows no partner drug",
                    policy.criteria[path.criterion].id
                )],
            });
        }
    }
    let ids: Vec<&str> = candidates
        .iter()
        .map(|p| policy.criteria[p.criterion].id.as_str())
        .collect();
    if statuses.iter().all(|s| *s == Status::NotMet) {
        decision.summary = format!(
            "not certified: the documentation shows the criteria of {} are not met",
            ids.join(", ")
        );
    } else {
        let mut documents = Vec::new();
        for (path, status) in candidates.iter().zip(&statuses) {
            if *status == Status::Unknown {
                ctx.documents(path.criterion, None, &mut documents);
            }
        }
        decision.outcome = pended(documents);
        decision.summary = format!(
            "pended: the documentation does not settle the criteria of {}",
            ids.join(", ")
        );
    }
    decision
}

fn continuation(ctx: &Ctx<'_>, mut decision: Decision, why: &str) -> Decision {
    let policy = ctx.policy;
    let b = policy.continuation;
    ctx.explain(b, &policy.criteria[b].id, &mut decision.criteria);
    match ctx.eval(b).status {
        Status::Met => {
            // The dose follows the diagnosis family: the largest dose of the paths whose
            // family is documented (the first path's when none is).
            let dose = policy
                .paths
                .iter()
                .filter(|p| {
                    ctx.facts
                        .diagnoses
                        .iter()
                        .any(|d| policy.vs(&p.family).contains(&d.code))
                })
                .map(|p| p.dose)
                .max()
                .or_else(|| policy.paths.first().map(|p| p.dose))
                .unwrap_or_default();
            apply_limits(
                ctx,
                decision,
                &format!("{} (continuation: {why})", policy.criteria[b].id),
                ctx.cap_applies(),
                dose,
                &policy.limits.continuation,
            )
        }
        Status::NotMet => {
            let b_i = ctx.eval(policy.continuation_indication).status;
            // No diagnosis documents an indication: absence pends, prior authorization or
            // not, unless another continuation criterion fails on documented evidence.
            let other_failed = policy.criteria[b]
                .node
                .children()
                .into_iter()
                .filter(|&c| c != policy.continuation_indication)
                .any(|c| ctx.eval(c).status == Status::NotMet);
            if b_i == Status::NotMet && !other_failed && !has_indication_diagnosis(ctx) {
                let wanted = if ctx.item.authorization_number.is_none() {
                    "the cancer diagnosis (ICD-10-CM) and the prior authorization number"
                } else {
                    "the cancer diagnosis (ICD-10-CM)"
                };
                decision.outcome = pended(vec![wanted.into()]);
                decision.summary =
                    format!("pended: continuation ({why}) with no indication documented");
            } else {
                decision.summary =
                    format!("not certified: continuation ({why}) does not meet section B");
            }
            decision
        }
        Status::Unknown => {
            let mut documents = Vec::new();
            ctx.documents(b, None, &mut documents);
            decision.outcome = pended(documents);
            decision.summary = format!(
                "pended: the documentation does not settle section B for this continuation ({why})"
            );
            decision
        }
    }
}

/// Applies section C and the quantity limitations to a met path.
fn apply_limits(
    ctx: &Ctx<'_>,
    mut decision: Decision,
    path: &str,
    cap: Option<&super::model::CycleCap>,
    dose: Decimal,
    limit: &super::model::LimitCriterion,
) -> Decision {
    let policy = ctx.policy;
    // An exclusion the documentation cannot settle keeps a met path from certifying.
    let unsettled: Vec<usize> = policy
        .exclusions
        .iter()
        .copied()
        .filter(|&x| ctx.eval(x).status == Status::Unknown)
        .collect();
    if !unsettled.is_empty() {
        let mut documents = Vec::new();
        for x in &unsettled {
            ctx.documents(*x, None, &mut documents);
        }
        decision.outcome = pended(documents);
        decision.summary = format!("pended: {path} is met but section D cannot be settled");
        return decision;
    }
    let served = ctx.item.served.unwrap_or_default();
    let cycles_left = match cap {
        Some(cap) => match leaf::cycles_received(ctx, cap) {
            CyclesReceived::Count { count, .. } => {
                Some((cap.max.saturating_sub(count), cap.clone()))
            }
            CyclesReceived::Conflict(why) => {
                decision.outcome = pended(vec![format!("{} ({why})", cap.document)]);
                decision.summary = format!("pended: {why}");
                return decision;
            }
        },
        None => None,
    };
    let weight = body_weight(ctx);
    let request = limits::Request {
        start: ctx.start,
        end: served.end,
        quantity: ctx.item.quantity,
        weight_kg: weight.as_ref().map(|(kg, _)| *kg),
        dose_mg_per_kg: dose,
        cycles_left,
    };
    let mut because = vec![format!(
        "{dose} mg/kg every {} days; up to {} months",
        policy.limits.interval_days, policy.limits.period_months
    )];
    if let Some((kg, source)) = &weight {
        let kg = kg.to_f64().unwrap_or_default();
        because.push(format!("body weight {kg:.1} kg ({source})"));
    }
    let verdict = limits::apply(&policy.limits, &request);
    let (status, outcome, summary) = match verdict {
        Verdict::Within(a) => {
            let s = format!("certified: {path} is met and the request is within the limits");
            (Status::Met, Outcome::Certified(a), s)
        }
        Verdict::Reduced {
            authorized,
            reasons,
        } => {
            because.extend(reasons.iter().cloned());
            let s = format!("modified: {path} is met; {}", reasons.join("; "));
            (Status::NotMet, Outcome::Modified { authorized }, s)
        }
        Verdict::Unchecked(why) => {
            because.push(why.clone());
            let s = format!("pended: {path} is met but {why}");
            (
                Status::Unknown,
                pended(vec![policy.limits.weight_document.clone()]),
                s,
            )
        }
    };
    decision.criteria.push(CriterionResult {
        id: limit.id.clone(),
        text: limit.text.clone(),
        status,
        because,
    });
    decision.outcome = outcome;
    decision.summary = summary;
    decision
}
