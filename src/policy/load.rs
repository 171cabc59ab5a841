//! Loading a policy file: parse, compile value sets, resolve the criteria tree, and check
//! every reference, so that a broken policy fails at start-up with the place it is broken.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::model::{CriterionSpec, Expected, PolicyFile, TestSpec};
use super::valueset::ValueSet;
use super::{Criterion, Node, PathPlan, Policy};
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
    #[error("policy `{policy}`: {message}")]
    Invalid { policy: String, message: String },
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
    compile(file)
}

fn compile(file: PolicyFile) -> Result<Policy, PolicyError> {
    let policy_id = file.id.clone();
    let invalid = |message: String| PolicyError::Invalid {
        policy: policy_id.clone(),
        message,
    };

    let value_sets = compile_value_sets(&file).map_err(&invalid)?;

    let mut index = HashMap::new();
    for (i, c) in file.criteria.iter().enumerate() {
        if index.insert(c.id.clone(), i).is_some() {
            return Err(invalid(format!("criterion `{}` is defined twice", c.id)));
        }
    }
    let lookup = |id: &str, from: &str| {
        index
            .get(id)
            .copied()
            .ok_or_else(|| invalid(format!("criterion `{from}` names unknown criterion `{id}`")))
    };

    let link_ids: HashSet<&str> = file.questions.iter().map(|q| q.link_id.as_str()).collect();
    let mut criteria = Vec::with_capacity(file.criteria.len());
    for spec in &file.criteria {
        let node = compile_node(spec, &lookup).map_err(|e| match e {
            NodeError::Shape(m) => invalid(m),
            NodeError::Policy(p) => p,
        })?;
        if let Node::Leaf(test) = &node {
            check_test(test, &spec.id, &value_sets, &link_ids).map_err(&invalid)?;
        }
        criteria.push(Criterion {
            id: spec.id.clone(),
            text: spec.text.clone(),
            node,
            documents: spec.documents.clone(),
        });
    }
    check_acyclic(&criteria).map_err(&invalid)?;

    let need_set = |name: &str, what: &str| {
        if value_sets.contains_key(name) {
            Ok(())
        } else {
            Err(invalid(format!("{what} names unknown value set `{name}`")))
        }
    };
    need_set(&file.drug, "`drug`")?;
    need_set(
        &file.decision.supporting_diagnoses,
        "`decision.supporting_diagnoses`",
    )?;
    let exclusions = file
        .decision
        .exclusions
        .iter()
        .map(|id| lookup(id, "decision.exclusions"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut paths = Vec::new();
    for p in &file.decision.paths {
        need_set(&p.family, &format!("path `{}`", p.criterion))?;
        if let Some(partner) = &p.allows_partner {
            need_set(partner, &format!("path `{}`", p.criterion))?;
        }
        paths.push(PathPlan {
            criterion: lookup(&p.criterion, "decision.paths")?,
            family: p.family.clone(),
            early_breast: p.early_breast,
            allows_partner: p.allows_partner.clone(),
        });
    }
    let continuation = lookup(&file.decision.continuation, "decision.continuation")?;
    let early_breast = lookup(&file.decision.early_breast, "decision.early_breast")?;

    Ok(Policy {
        id: file.id,
        revision: file.revision,
        revision_note: file.revision_note,
        title: file.title,
        drug: file.drug,
        questionnaire_id: file.questionnaire,
        limits: file.limits,
        criteria,
        index,
        exclusions,
        paths,
        supporting_diagnoses: file.decision.supporting_diagnoses,
        continuation,
        continuation_certification_types: file.decision.continuation_certification_types,
        early_breast,
        value_sets,
        questionnaire_meta: file.questionnaire_meta,
        questions: file.questions,
    })
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
/// value sets its kind reads are defined.
fn check_test(
    test: &TestSpec,
    criterion: &str,
    sets: &HashMap<String, ValueSet>,
    link_ids: &HashSet<&str>,
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
    match test {
        TestSpec::Diagnosis { value_set, .. } | TestSpec::Therapy { value_set, .. } => need(value_set),
        TestSpec::Observation { code, value, negative, .. } => {
            need(code)?;
            need(value)?;
            negative.as_deref().map_or(Ok(()), need)
        }
        TestSpec::Answer { link_id, equals, at_least, .. } => {
            if !link_ids.contains(link_id.as_str()) {
                return Err(format!("criterion `{criterion}` reads unknown question `{link_id}`"));
            }
            match (equals, at_least) {
                (Some(_), None) | (None, Some(_)) => Ok(()),
                _ => Err(format!("criterion `{criterion}`: an answer test needs exactly one of `equals`, `at_least`")),
            }
        }
        TestSpec::Facts { of, .. } => {
            if of.is_empty() {
                return Err(format!("criterion `{criterion}`: `facts` needs at least one test"));
            }
            of.iter().try_for_each(|t| check_test(t, criterion, sets, link_ids))
        }
        TestSpec::Her2Positive => super::her2::REQUIRED_SETS.iter().try_for_each(|s| need(s)),
        TestSpec::Erbb2Variant => super::leaf::VARIANT_SETS.iter().try_for_each(|s| need(s)),
        TestSpec::NeoadjuvantWeeks { taxane, trastuzumab } => {
            need(taxane)?;
            need(trastuzumab)
        }
        TestSpec::SingleAgent { partner } => {
            super::leaf::COMBINATION_SETS.iter().try_for_each(|s| need(s))?;
            partner.as_deref().map_or(Ok(()), need)
        }
        TestSpec::HormoneReceptor => need("hormone_receptor"),
        TestSpec::PriorAuthorization => Ok(()),
        TestSpec::DiseaseStatus { progression, response } => {
            need("disease_status")?;
            need(progression)?;
            need(response)
        }
        TestSpec::CyclesRemaining => {
            if link_ids.contains("cycles-received") {
                Ok(())
            } else {
                Err(format!("criterion `{criterion}` reads unknown question `cycles-received`"))
            }
        }
    }
    .and_then(|()| match test {
        TestSpec::Answer { equals: Some(Expected::OneOf(v)), .. } if v.is_empty() => {
            Err(format!("criterion `{criterion}`: `equals` lists no value"))
        }
        _ => Ok(()),
    })
}

fn check_acyclic(criteria: &[Criterion]) -> Result<(), String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(i: usize, criteria: &[Criterion], marks: &mut [Mark]) -> Result<(), String> {
        match marks[i] {
            Mark::Done => return Ok(()),
            Mark::Open => return Err(format!("criterion `{}` contains itself", criteria[i].id)),
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

fn compile_value_sets(file: &PolicyFile) -> Result<HashMap<String, ValueSet>, String> {
    let mut sets = HashMap::new();
    for (name, spec) in &file.value_sets {
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
    for (name, spec) in &file.value_sets {
        for member in &spec.union {
            let other = match file.value_sets.get(member) {
                Some(m) if m.union.is_empty() => sets.get(member).cloned(),
                Some(_) => {
                    return Err(format!(
                        "value set `{name}`: union member `{member}` is itself a union"
                    ));
                }
                None => {
                    return Err(format!(
                        "value set `{name}` unites unknown value set `{member}`"
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

fn system_of(name: &str) -> CodeSystem {
    CodeSystem::from_name(name).unwrap_or_else(|| CodeSystem::from_uri(name))
}
