//! Loading a policy file: parse, compile value sets, resolve the criteria tree, and check
//! every reference, so that a broken policy fails at start-up with the place it is broken.
//!
//! Every error names the file, the line and the column of the table or criterion at fault
//! (toml's spanned values), and the name that is wrong. Whatever the engine reads from a
//! policy (value sets, questions, criteria, limits) is checked here: evaluation never meets
//! an unknown name.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::model::{CriterionSpec, Expected, PolicyFile, TestSpec};
use super::valueset::ValueSet;
use super::{CapPlan, Criterion, Node, PathPlan, Policy};
use crate::fhir::codes::{Code, CodeSystem};

/// Why a policy file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("cannot read policy file `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("policy file `{path}` is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{}:{line}:{column}: policy `{policy}`: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        policy: String,
        message: String,
    },
    #[error("policies `{first}` and `{second}` both publish Questionnaire `{questionnaire}`")]
    Duplicate {
        first: String,
        second: String,
        questionnaire: String,
    },
}

/// Reads and compiles one policy file.
pub fn load_file(path: &Path) -> Result<Policy, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        path: path.to_owned(),
        source,
    })?;
    load_str(&text, path)
}

/// Compiles a policy from its TOML text; `origin` names it in errors.
pub fn load_str(text: &str, origin: &Path) -> Result<Policy, PolicyError> {
    // toml's error message names the line and column of the problem.
    let file: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::Parse {
        path: origin.to_owned(),
        message: e.to_string(),
    })?;
    Compiler {
        text,
        origin,
        policy: file.id.clone(),
    }
    .compile(file)
}

/// Turns a byte span of the file into an error with its line and column.
struct Compiler<'a> {
    text: &'a str,
    origin: &'a Path,
    policy: String,
}

impl Compiler<'_> {
    fn at(&self, span: &Range<usize>, message: String) -> PolicyError {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before.len(), |n| before.len() - n - 1)
            + 1;
        PolicyError::Invalid {
            path: self.origin.to_owned(),
            line,
            column,
            policy: self.policy.clone(),
            message,
        }
    }

    fn compile(&self, file: PolicyFile) -> Result<Policy, PolicyError> {
        let value_sets = self.compile_value_sets(&file)?;

        let mut index = HashMap::new();
        for (i, c) in file.criteria.iter().enumerate() {
            if index.insert(c.get_ref().id.clone(), i).is_some() {
                return Err(self.at(
                    &c.span(),
                    format!("criterion `{}` is defined twice", c.get_ref().id),
                ));
            }
        }
        let lookup = |id: &str, from: &str, span: &Range<usize>| {
            index.get(id).copied().ok_or_else(|| {
                self.at(
                    span,
                    format!("criterion `{from}` names unknown criterion `{id}`"),
                )
            })
        };

        let link_ids: HashSet<&str> = file
            .questions
            .iter()
            .map(|q| q.get_ref().link_id.as_str())
            .collect();
        let limits_span = file.limits.span();
        let limits = file.limits.get_ref();
        let decision_span = file.decision.span();
        let decision = file.decision.get_ref();

        let mut criteria = Vec::with_capacity(file.criteria.len());
        for spanned in &file.criteria {
            let span = spanned.span();
            let spec = spanned.get_ref();
            let node =
                compile_node(spec, &|id, from| lookup(id, from, &span)).map_err(|e| match e {
                    NodeError::Shape(m) => self.at(&span, m),
                    NodeError::Policy(p) => p,
                })?;
            if let Node::Leaf(test) = &node {
                check_test(
                    test,
                    &spec.id,
                    &value_sets,
                    &link_ids,
                    limits.cycle_cap.is_some(),
                )
                .map_err(|m| self.at(&span, m))?;
            }
            criteria.push(Criterion {
                id: spec.id.clone(),
                text: spec.text.clone(),
                node,
                documents: spec.documents.clone(),
            });
        }
        if let Err((i, message)) = check_acyclic(&criteria) {
            return Err(self.at(&file.criteria[i].span(), message));
        }

        let need_set = |name: &str, what: &str, span: &Range<usize>| {
            if value_sets.contains_key(name) {
                Ok(())
            } else {
                Err(self.at(span, format!("{what} names unknown value set `{name}`")))
            }
        };
        let need_question = |link_id: &str, what: &str, span: &Range<usize>| {
            if link_ids.contains(link_id) {
                Ok(())
            } else {
                Err(self.at(span, format!("{what} reads unknown question `{link_id}`")))
            }
        };
        need_set(file.drug.get_ref(), "`drug`", &file.drug.span())?;
        need_set(&limits.body_weight, "`limits.body_weight`", &limits_span)?;
        need_set(
            &decision.supporting_diagnoses,
            "`decision.supporting_diagnoses`",
            &decision_span,
        )?;
        need_question(
            &decision.request_type,
            "`decision.request_type`",
            &decision_span,
        )?;
        let exclusions = decision
            .exclusions
            .iter()
            .map(|id| lookup(id, "decision.exclusions", &decision_span))
            .collect::<Result<Vec<_>, _>>()?;
        let mut paths = Vec::new();
        for p in &decision.paths {
            let what = format!("path `{}`", p.criterion);
            need_set(&p.family, &what, &decision_span)?;
            if let Some(partner) = &p.allows_partner {
                need_set(partner, &what, &decision_span)?;
                if decision.partner_exclusion.is_none() {
                    return Err(self.at(
                        &decision_span,
                        format!(
                            "{what} allows a partner but `decision.partner_exclusion` is not set"
                        ),
                    ));
                }
            }
            let Some(dose) = p.dose_mg_per_kg.or(limits.dose_mg_per_kg) else {
                return Err(self.at(
                    &decision_span,
                    format!("{what} has no dose: set `dose_mg_per_kg` on the path or in [limits]"),
                ));
            };
            if p.cycle_capped && limits.cycle_cap.is_none() {
                return Err(self.at(
                    &decision_span,
                    format!("{what} is `cycle_capped` but [limits] has no `cycle_cap`"),
                ));
            }
            paths.push(PathPlan {
                criterion: lookup(&p.criterion, "decision.paths", &decision_span)?,
                family: p.family.clone(),
                cycle_capped: p.cycle_capped,
                allows_partner: p.allows_partner.clone(),
                dose: dose.normalize(),
            });
        }
        if paths.is_empty() {
            return Err(self.at(&decision_span, "`decision.paths` lists no path".into()));
        }
        let continuation = lookup(
            &decision.continuation,
            "decision.continuation",
            &decision_span,
        )?;
        let continuation_indication = lookup(
            &decision.continuation_indication,
            "decision.continuation_indication",
            &decision_span,
        )?;
        let cap = match &limits.cycle_cap {
            Some(cap) => {
                need_question(&cap.answer, "`limits.cycle_cap.answer`", &limits_span)?;
                Some(CapPlan {
                    applies_when: lookup(&cap.applies_when, "limits.cycle_cap", &limits_span)?,
                    spec: cap.clone(),
                })
            }
            None => None,
        };

        let PolicyFile {
            id,
            revision,
            revision_note,
            title,
            drug,
            questionnaire,
            limits,
            decision,
            questionnaire_meta,
            questions,
            ..
        } = file;
        let decision = decision.into_inner();
        Ok(Policy {
            id,
            revision,
            revision_note,
            title,
            drug: drug.into_inner(),
            questionnaire_id: questionnaire,
            limits: limits.into_inner(),
            criteria,
            exclusions,
            paths,
            supporting_diagnoses: decision.supporting_diagnoses,
            continuation,
            continuation_indication,
            continuation_certification_types: decision.continuation_certification_types,
            request_type: decision.request_type,
            outside_indication: decision.outside_indication,
            no_indication: decision.no_indication,
            partner_exclusion: decision.partner_exclusion,
            contradictions_pend: decision.contradictions_pend,
            cap,
            value_sets,
            questionnaire_meta,
            questions: questions.into_iter().map(|q| q.into_inner()).collect(),
        })
    }

    fn compile_value_sets(
        &self,
        file: &PolicyFile,
    ) -> Result<HashMap<String, ValueSet>, PolicyError> {
        let mut sets = HashMap::new();
        for (name, spanned) in &file.value_sets {
            let spec = spanned.get_ref();
            let mut vs = ValueSet::new(name, &spec.description);
            for include in &spec.include {
                let system = system_of(&include.system);
                for code in &include.codes {
                    vs.add_code(Code::of(system.clone(), code));
                }
                for [low, high] in &include.ranges {
                    vs.add_range(system.clone(), low, high);
                }
                for prefix in &include.prefixes {
                    vs.add_prefix(system.clone(), prefix);
                }
            }
            for t in &spec.text {
                vs.add_text(t);
            }
            for n in &spec.names {
                vs.add_name(n);
            }
            sets.insert(name.clone(), vs);
        }
        // Unions, resolved after every base set exists (one level: unions of unions are refused).
        for (name, spanned) in &file.value_sets {
            for member in &spanned.get_ref().union {
                let other = match file.value_sets.get(member) {
                    Some(m) if m.get_ref().union.is_empty() => sets.get(member).cloned(),
                    Some(_) => {
                        return Err(self.at(
                            &spanned.span(),
                            format!(
                                "value set `{name}`: union member `{member}` is itself a union"
                            ),
                        ));
                    }
                    None => {
                        return Err(self.at(
                            &spanned.span(),
                            format!("value set `{name}` unites unknown value set `{member}`"),
                        ));
                    }
                };
                if let (Some(other), Some(vs)) = (other, sets.get_mut(name)) {
                    vs.extend(&other);
                }
            }
        }
        Ok(sets)
    }
}

enum NodeError {
    Shape(String),
    Policy(PolicyError),
}

fn compile_node(
    spec: &CriterionSpec,
    lookup: &dyn Fn(&str, &str) -> Result<usize, PolicyError>,
) -> Result<Node, NodeError> {
    let kinds = [
        spec.all.is_some(),
        spec.any.is_some(),
        spec.not.is_some(),
        spec.test.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(NodeError::Shape(format!(
            "criterion `{}` must have exactly one of `all`, `any`, `not`, `test`",
            spec.id
        )));
    }
    let children = |ids: &[String]| -> Result<Vec<usize>, NodeError> {
        if ids.is_empty() {
            return Err(NodeError::Shape(format!(
                "criterion `{}` has no children",
                spec.id
            )));
        }
        ids.iter()
            .map(|id| lookup(id, &spec.id).map_err(NodeError::Policy))
            .collect()
    };
    Ok(match (&spec.all, &spec.any, &spec.not, &spec.test) {
        (Some(ids), _, _, _) => Node::All(children(ids)?),
        (_, Some(ids), _, _) => Node::Any(children(ids)?),
        (_, _, Some(id), _) => Node::Not(lookup(id, &spec.id).map_err(NodeError::Policy)?),
        (_, _, _, Some(test)) => Node::Leaf(test.clone()),
        _ => {
            return Err(NodeError::Shape(format!(
                "criterion `{}` is empty",
                spec.id
            )));
        }
    })
}

/// Checks that a leaf names value sets and questions that exist, and that the conventional
/// value sets and questions its kind reads are defined.
fn check_test(
    test: &TestSpec,
    criterion: &str,
    sets: &HashMap<String, ValueSet>,
    link_ids: &HashSet<&str>,
    has_cap: bool,
) -> Result<(), String> {
    let need = |name: &str| {
        if sets.contains_key(name) {
            Ok(())
        } else {
            Err(format!(
                "criterion `{criterion}` names unknown value set `{name}`"
            ))
        }
    };
    let ask = |link_id: &str| {
        if link_ids.contains(link_id) {
            Ok(())
        } else {
            Err(format!(
                "criterion `{criterion}` reads unknown question `{link_id}`"
            ))
        }
    };
    let all = |names: &[&str]| names.iter().try_for_each(|s| need(s));
    match test {
        TestSpec::Diagnosis { value_set, .. } | TestSpec::Therapy { value_set, .. } => {
            need(value_set)
        }
        TestSpec::Observation {
            code,
            value,
            negative,
            ..
        } => {
            need(code)?;
            need(value)?;
            negative.as_deref().map_or(Ok(()), need)
        }
        TestSpec::Answer {
            link_id,
            equals,
            at_least,
            ..
        } => {
            ask(link_id)?;
            match (equals, at_least) {
                (Some(Expected::OneOf(v)), None) if v.is_empty() => {
                    Err(format!("criterion `{criterion}`: `equals` lists no value"))
                }
                (Some(_), None) | (None, Some(_)) => Ok(()),
                _ => Err(format!(
                    "criterion `{criterion}`: an answer test needs exactly one of `equals`, `at_least`"
                )),
            }
        }
        TestSpec::Facts { of, .. } => {
            if of.is_empty() {
                return Err(format!(
                    "criterion `{criterion}`: `facts` needs at least one test"
                ));
            }
            of.iter()
                .try_for_each(|t| check_test(t, criterion, sets, link_ids, has_cap))
        }
        TestSpec::Her2Positive { status_codes, .. } => {
            all(super::her2::REQUIRED_SETS)?;
            status_codes.as_deref().map_or(Ok(()), need)
        }
        TestSpec::Her2Low | TestSpec::Her2Zero => all(super::her2::REQUIRED_SETS),
        TestSpec::Age { .. } => Ok(()),
        TestSpec::TherapySince {
            value_set,
            onset_diagnoses,
            onset_code,
            onset_value,
        } => {
            need(value_set)?;
            need(onset_diagnoses)?;
            match (onset_code, onset_value) {
                (Some(c), Some(v)) => {
                    need(c)?;
                    need(v)
                }
                (None, None) => Ok(()),
                _ => Err(format!(
                    "criterion `{criterion}`: `onset_code` and `onset_value` go together"
                )),
            }
        }
        TestSpec::Erbb2Variant => all(super::leaf::VARIANT_SETS),
        TestSpec::NeoadjuvantWeeks {
            taxane,
            trastuzumab,
            ..
        } => {
            need(taxane)?;
            need(trastuzumab)
        }
        TestSpec::SingleAgent { partner, .. } => {
            all(super::leaf::COMBINATION_SETS)?;
            super::leaf::COMBINATION_QUESTIONS
                .iter()
                .try_for_each(|q| ask(q))?;
            partner.as_deref().map_or(Ok(()), need)
        }
        TestSpec::HormoneReceptor => {
            all(&["hormone_receptor", "result_positive", "result_negative"])
        }
        TestSpec::PriorAuthorization => Ok(()),
        TestSpec::DiseaseStatus {
            progression,
            response,
            ..
        } => {
            need("disease_status")?;
            need(progression)?;
            need(response)
        }
        TestSpec::CyclesRemaining => {
            if has_cap {
                Ok(())
            } else {
                Err(format!(
                    "criterion `{criterion}`: `cycles_remaining` needs [limits.cycle_cap]"
                ))
            }
        }
    }
}

/// The index of a criterion that contains itself, with the message.
fn check_acyclic(criteria: &[Criterion]) -> Result<(), (usize, String)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(i: usize, criteria: &[Criterion], marks: &mut [Mark]) -> Result<(), (usize, String)> {
        match marks[i] {
            Mark::Done => return Ok(()),
            Mark::Open => {
                return Err((i, format!("criterion `{}` contains itself", criteria[i].id)));
            }
            Mark::New => {}
        }
        marks[i] = Mark::Open;
        for child in criteria[i].node.children() {
            visit(child, criteria, marks)?;
        }
        marks[i] = Mark::Done;
        Ok(())
    }
    let mut marks = vec![Mark::New; criteria.len()];
    (0..criteria.len()).try_for_each(|i| visit(i, criteria, &mut marks))
}

fn system_of(name: &str) -> CodeSystem {
    CodeSystem::from_name(name).unwrap_or_else(|| CodeSystem::from_uri(name))
}
