//! Policy tests as data: `profiles/tests/*.toml`, each a request Bundle, the answer wanted
//! for each item, and the criteria the answer must name with their status. Run by
//! `pas-adapter policy test [DIR]` and by the test suite (`tests/policy_cases.rs`), so that a
//! policy analyst can pin a policy's behaviour without writing Rust.
//!
//! ```toml
//! description = "HER2-low (IHC 1+), HR-negative, chemotherapy after metastasis: A.ii"
//! request = "../../sample-bundles/51-enhertu-her2low-ihc1-hr-negative-a1.json"
//!
//! [[items]]
//! sequence = 1
//! policy = "MP-RX-FP-52-23"
//! action = "A1"
//! quantity = 2916
//! period = { start = "2026-12-01", end = "2027-05-31" }
//! met = ["A.ii", "A.ii.C", "A.ii.E"]
//! not_met = ["A.i.C"]
//! missing = []
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::pas::response::Verdict;
use crate::policy::{Decision, Status};
use crate::service::{Caller, Service};

/// One case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub description: String,
    /// The request Bundle, relative to the case file.
    pub request: PathBuf,
    pub items: Vec<ItemCase>,
}

/// What one item must be answered.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemCase {
    pub sequence: u32,
    /// The policy that must decide the item (absent: any, or none).
    #[serde(default)]
    pub policy: Option<String>,
    /// `A1`, `A3`, `A4` or `A6`.
    pub action: String,
    #[serde(default)]
    pub quantity: Option<f64>,
    #[serde(default)]
    pub period: Option<PeriodCase>,
    /// Criteria the answer must name as met, not met, or missing.
    #[serde(default)]
    pub met: Vec<String>,
    #[serde(default)]
    pub not_met: Vec<String>,
    #[serde(default)]
    pub missing: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodCase {
    pub start: chrono::NaiveDate,
    pub end: chrono::NaiveDate,
}

/// The result of one case file: the differences found (empty when it passes).
#[derive(Debug)]
pub struct CaseResult {
    pub file: PathBuf,
    pub description: String,
    pub failures: Vec<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The case files in `dir`, sorted by name.
pub fn case_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read `{}`", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Runs every case of `dir` through `service` (its policies).
pub async fn run_dir(service: &Service, dir: &Path) -> anyhow::Result<Vec<CaseResult>> {
    let mut results = Vec::new();
    for file in case_files(dir)? {
        results.push(run_file(service, &file).await?);
    }
    Ok(results)
}

/// Runs one case file. An unreadable file or request is an error, not a failed case.
pub async fn run_file(service: &Service, file: &Path) -> anyhow::Result<CaseResult> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    let case: Case = toml::from_str(&text)
        .with_context(|| format!("`{}` is not a valid case", file.display()))?;
    let request = file.parent().unwrap_or(Path::new(".")).join(&case.request);
    let body = std::fs::read(&request)
        .with_context(|| format!("{}: cannot read `{}`", file.display(), request.display()))?;
    let mut failures = Vec::new();
    match service.submit_bytes(&Caller::Unauthenticated, &body).await {
        Ok(submission) => {
            for want in &case.items {
                match submission
                    .answers
                    .iter()
                    .find(|a| a.sequence == want.sequence)
                    .map(|a| &a.verdict)
                {
                    Some(Verdict::Decided(decision)) => compare(want, decision, &mut failures),
                    Some(Verdict::Cancelled) => failures.push(format!(
                        "item {}: cancelled by the request, not decided",
                        want.sequence
                    )),
                    None => failures.push(format!("item {}: not answered", want.sequence)),
                }
            }
        }
        Err(rejection) => failures.push(format!("request rejected: {rejection:?}")),
    }
    Ok(CaseResult {
        file: file.to_owned(),
        description: case.description,
        failures,
    })
}

fn compare(want: &ItemCase, got: &Decision, failures: &mut Vec<String>) {
    let seq = want.sequence;
    let action = got.review_action().code();
    if action != want.action {
        failures.push(format!(
            "item {seq}: answer {action}, wanted {} ({})",
            want.action, got.summary
        ));
    }
    let policy = got.policy.as_ref().map(|p| p.id.as_str());
    if let Some(wanted) = &want.policy
        && policy != Some(wanted.as_str())
    {
        failures.push(format!(
            "item {seq}: decided by {}, wanted {wanted}",
            policy.unwrap_or("no policy")
        ));
    }
    let authorization = got.outcome.authorization();
    if let Some(q) = want.quantity {
        let quantity = authorization.and_then(|a| a.quantity);
        if quantity != Some(q) {
            failures.push(format!(
                "item {seq}: authorized quantity {quantity:?}, wanted {q}"
            ));
        }
    }
    if let Some(p) = &want.period {
        let period = authorization.map(|a| (a.period.start, a.period.end));
        if period != Some((p.start, p.end)) {
            failures.push(format!(
                "item {seq}: authorized period {period:?}, wanted {}..{}",
                p.start, p.end
            ));
        }
    }
    for (ids, status) in [
        (&want.met, Status::Met),
        (&want.not_met, Status::NotMet),
        (&want.missing, Status::Unknown),
    ] {
        for id in ids {
            if !got
                .criteria
                .iter()
                .any(|c| &c.id == id && c.status == status)
            {
                let named: Vec<String> = got
                    .criteria
                    .iter()
                    .filter(|c| &c.id == id)
                    .map(|c| c.status.as_str().to_owned())
                    .collect();
                failures.push(format!(
                    "item {seq}: criterion {id} not named as {} (named: {})",
                    status.as_str(),
                    if named.is_empty() {
                        "never".into()
                    } else {
                        named.join(", ")
                    }
                ));
            }
        }
    }
}
