//! Replay: evaluate request Bundles (in process, or against a running server) and compare
//! each item's answer with the expected one kept beside the bundle.
//!
//! `sample-bundles/NAME.json` is a request; `sample-bundles/NAME.expected.json` holds its
//! expected answers (`action` per item, `quantity` and `period` when asserted).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

use crate::pas::Rejection;
use crate::service::{Caller, Service, Submission};

const EXPECTED_SUFFIX: &str = ".expected.json";
const PAS: &str = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition";

/// The expectations for one bundle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub description: String,
    pub items: Vec<ExpectedItem>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedItem {
    pub sequence: u32,
    pub action: String,
    #[serde(default)]
    pub quantity: Option<f64>,
    #[serde(default)]
    pub period: Option<ExpectedPeriod>,
    /// Phrases the item's `processNote` must contain (criteria by the policy's numbering,
    /// evidence set aside...): checked by `tests/samples.rs`; replay compares actions,
    /// quantities and periods only.
    #[serde(default)]
    pub note: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedPeriod {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// One item's answer as read back from a response Bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub sequence: u32,
    pub action: String,
    pub quantity: Option<f64>,
    pub period: Option<(String, String)>,
}

/// The request files under `paths`: files as given; folders' `*.json` files (not
/// `*.expected.json`), sorted by name, not recursing.
pub fn collect(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = fs::read_dir(path)
                .with_context(|| format!("cannot read folder `{}`", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_bundle_file(p))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            bail!("no such file or folder `{}`", path.display());
        }
    }
    if files.is_empty() {
        bail!("no request bundles found");
    }
    Ok(files)
}

fn is_bundle_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".json") && !name.ends_with(EXPECTED_SUFFIX)
}

/// `NAME.expected.json` beside `NAME.json`, if present.
pub fn expected_for(bundle: &Path) -> anyhow::Result<Option<Expected>> {
    let name = bundle.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let stem = name.strip_suffix(".json").unwrap_or(name);
    let path = bundle.with_file_name(format!("{stem}{EXPECTED_SUFFIX}"));
    if !path.exists() {
        return Ok(None);
    }
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let expected = serde_json::from_str(&text)
        .with_context(|| format!("`{}` is not a valid expectation file", path.display()))?;
    Ok(Some(expected))
}

/// Reads each item's answer out of a PAS response Bundle.
pub fn answers(response: &Value) -> Vec<Answer> {
    let items = response["entry"][0]["resource"]["item"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|item| {
            let sequence = u32::try_from(item["itemSequence"].as_u64()?).ok()?;
            let review = item["adjudication"]
                .as_array()?
                .iter()
                .flat_map(|a| a["extension"].as_array().into_iter().flatten())
                .find(|e| e["url"] == format!("{PAS}/extension-reviewAction"))?;
            let action = review["extension"]
                .as_array()?
                .iter()
                .find(|e| e["url"] == format!("{PAS}/extension-reviewActionCode"))?
                ["valueCodeableConcept"]["coding"][0]["code"]
                .as_str()?
                .to_owned();
            let extensions = item["extension"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let period = extensions
                .iter()
                .find(|e| e["url"] == format!("{PAS}/extension-itemPreAuthPeriod"))
                .and_then(|e| {
                    Some((
                        e["valuePeriod"]["start"].as_str()?.to_owned(),
                        e["valuePeriod"]["end"].as_str()?.to_owned(),
                    ))
                });
            let quantity = extensions
                .iter()
                .find(|e| e["url"] == format!("{PAS}/extension-itemAuthorizedDetail"))
                .and_then(|e| e["extension"].as_array())
                .and_then(|parts| parts.iter().find(|p| p["url"] == "quantity"))
                .and_then(|p| p["valueQuantity"]["value"].as_f64());
            Some(Answer {
                sequence,
                action,
                quantity,
                period,
            })
        })
        .collect()
}

/// One row of the replay table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub file: String,
    pub item: String,
    pub answer: String,
    pub expected: String,
    pub agreement: Agreement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    Agree,
    Differ,
    /// No expectation file beside the bundle.
    Unchecked,
}

impl Agreement {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agree => "agree",
            Self::Differ => "DIFFER",
            Self::Unchecked => "no expectation",
        }
    }
}

fn describe(answer: &Answer) -> String {
    let mut text = answer.action.clone();
    if let Some(q) = answer.quantity {
        text.push_str(&format!(" qty {q}"));
    }
    if let Some((start, end)) = &answer.period {
        text.push_str(&format!(" {start}..{end}"));
    }
    text
}

fn describe_expected(item: &ExpectedItem) -> String {
    let mut text = item.action.clone();
    if let Some(q) = item.quantity {
        text.push_str(&format!(" qty {q}"));
    }
    if let Some(p) = item.period {
        text.push_str(&format!(" {}..{}", p.start, p.end));
    }
    text
}

fn matches(answer: &Answer, expected: &ExpectedItem) -> bool {
    let quantity_ok = match expected.quantity {
        None => true,
        Some(want) => answer.quantity.is_some_and(|got| (got - want).abs() < 1e-6),
    };
    let period_ok = match expected.period {
        None => true,
        Some(want) => answer
            .period
            .as_ref()
            .is_some_and(|(s, e)| *s == want.start.to_string() && *e == want.end.to_string()),
    };
    answer.action == expected.action && quantity_ok && period_ok
}

/// Compares a bundle's answers (or the rejection it got) with its expectations.
pub fn compare(
    file: &str,
    outcome: Result<Vec<Answer>, String>,
    expected: Option<&Expected>,
) -> Vec<Row> {
    let row = |item: String, answer: String, expected: String, agreement| Row {
        file: file.to_owned(),
        item,
        answer,
        expected,
        agreement,
    };
    let answers = match outcome {
        Ok(answers) => answers,
        // A rejection differs from any expected answer; without one it is only reported.
        Err(rejection) => {
            let row = match expected {
                Some(e) => {
                    let wanted = e.items.iter().map(describe_expected).collect::<Vec<_>>();
                    row("-".into(), rejection, wanted.join(", "), Agreement::Differ)
                }
                None => row("-".into(), rejection, "-".into(), Agreement::Unchecked),
            };
            return vec![row];
        }
    };
    let Some(expected) = expected else {
        return answers
            .iter()
            .map(|a| {
                row(
                    a.sequence.to_string(),
                    describe(a),
                    "-".into(),
                    Agreement::Unchecked,
                )
            })
            .collect();
    };
    let mut rows = Vec::new();
    for want in &expected.items {
        match answers.iter().find(|a| a.sequence == want.sequence) {
            Some(got) => {
                let agreement = if matches(got, want) {
                    Agreement::Agree
                } else {
                    Agreement::Differ
                };
                rows.push(row(
                    want.sequence.to_string(),
                    describe(got),
                    describe_expected(want),
                    agreement,
                ));
            }
            None => rows.push(row(
                want.sequence.to_string(),
                "(no answer)".into(),
                describe_expected(want),
                Agreement::Differ,
            )),
        }
    }
    for got in answers
        .iter()
        .filter(|a| !expected.items.iter().any(|w| w.sequence == a.sequence))
    {
        rows.push(row(
            got.sequence.to_string(),
            describe(got),
            "(not expected)".into(),
            Agreement::Differ,
        ));
    }
    rows
}

/// The table, aligned, with a header line.
pub fn render(rows: &[Row]) -> String {
    let header = ["file", "item", "answer", "expected", "agreement"];
    let cells: Vec<[&str; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.file.as_str(),
                r.item.as_str(),
                r.answer.as_str(),
                r.expected.as_str(),
                r.agreement.as_str(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |row: [&str; 5]| {
        row.iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(header)];
    out.extend(cells.into_iter().map(line));
    out.join("\n")
}

/// Totals for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub bundles: usize,
    pub agree: usize,
    pub differ: usize,
    pub unchecked: usize,
}

impl Summary {
    pub fn of(bundles: usize, rows: &[Row]) -> Self {
        let count = |a| rows.iter().filter(|r| r.agreement == a).count();
        Self {
            bundles,
            agree: count(Agreement::Agree),
            differ: count(Agreement::Differ),
            unchecked: count(Agreement::Unchecked),
        }
    }

    pub fn passed(&self) -> bool {
        self.differ == 0
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bundles, {} answers: {} agree, {} differ, {} without expectation",
            self.bundles,
            self.agree + self.differ + self.unchecked,
            self.agree,
            self.differ,
            self.unchecked
        )
    }
}

/// A service outcome as replay reports it: the answers, or the rejection in one line.
pub fn outcome(result: &Result<Submission, Rejection>) -> Result<Vec<Answer>, String> {
    match result {
        Ok(submission) => Ok(answers(&submission.response)),
        Err(rejection) => Err(format!(
            "rejected {}: {}",
            rejection.status,
            rejection
                .issues
                .first()
                .map(|i| i.diagnostics.as_str())
                .unwrap_or("")
        )),
    }
}

/// `replay --repeat`: evaluates every body `rounds` times in process, round after round,
/// timing each evaluation, and returns the timings with the first round's outcomes (for the
/// comparison table).
///
/// One evaluation is what the HTTP handler does short of the network: [`Service::submit_bytes`]
/// on the raw body, then the response serialized to bytes (a rejection's OperationOutcome
/// likewise). The service given should have no store, so that the figure is the evaluation's.
pub async fn repeat(
    service: &Service,
    bodies: &[Vec<u8>],
    rounds: u32,
) -> (Timing, Vec<Result<Submission, Rejection>>) {
    let mut durations = Vec::with_capacity(bodies.len().saturating_mul(rounds as usize));
    let mut first = Vec::with_capacity(bodies.len());
    let started = Instant::now();
    for round in 0..rounds {
        for body in bodies {
            let start = Instant::now();
            let result = service.submit_bytes(&Caller::Unauthenticated, body).await;
            let written = match &result {
                Ok(submission) => serde_json::to_vec(&submission.response),
                Err(rejection) => serde_json::to_vec(&rejection.outcome()),
            };
            durations.push(start.elapsed());
            // The bytes would go to the client; this keeps the write from being optimized out.
            let _ = std::hint::black_box(written);
            if round == 0 {
                first.push(result);
            }
        }
    }
    (Timing::of(durations, started.elapsed()), first)
}

/// Timings of `replay --repeat`: per-evaluation durations and the wall time of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Sorted, shortest first.
    durations: Vec<Duration>,
    total: Duration,
}

impl Timing {
    pub fn of(mut durations: Vec<Duration>, total: Duration) -> Self {
        durations.sort_unstable();
        Self { durations, total }
    }

    pub fn count(&self) -> usize {
        self.durations.len()
    }

    /// The `p`-th percentile (0 < p <= 100) by nearest rank; zero without samples.
    pub fn percentile(&self, p: f64) -> Duration {
        let n = self.durations.len();
        if n == 0 {
            return Duration::ZERO;
        }
        // Nearest rank: the smallest value with at least p% of the samples at or below it.
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.durations[rank.clamp(1, n) - 1]
    }

    /// Evaluations per second of wall time.
    pub fn rate(&self) -> f64 {
        let seconds = self.total.as_secs_f64();
        if seconds > 0.0 {
            self.count() as f64 / seconds
        } else {
            0.0
        }
    }
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        write!(
            f,
            "{} bundles in {:.3} s: {:.1} bundles/s, p50 {:.1} us, p99 {:.1} us",
            self.count(),
            self.total.as_secs_f64(),
            self.rate(),
            micros(self.percentile(50.0)),
            micros(self.percentile(99.0)),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let ms = |n: u64| Duration::from_millis(n);
        let timing = Timing::of((1..=100).rev().map(ms).collect(), Duration::from_secs(2));
        assert_eq!(timing.percentile(50.0), ms(50));
        assert_eq!(timing.percentile(99.0), ms(99));
        assert_eq!(timing.percentile(100.0), ms(100));
        assert_eq!(timing.rate(), 50.0);
        let one = Timing::of(vec![ms(7)], ms(7));
        assert_eq!((one.percentile(50.0), one.percentile(99.0)), (ms(7), ms(7)));
        assert_eq!(
            Timing::of(vec![], Duration::ZERO).percentile(99.0),
            Duration::ZERO
        );
        assert_eq!(
            timing.to_string(),
            "100 bundles in 2.000 s: 50.0 bundles/s, p50 50000.0 us, p99 99000.0 us"
        );
    }

    fn answer(action: &str, quantity: Option<f64>) -> Answer {
        Answer {
            sequence: 1,
            action: action.into(),
            quantity,
            period: Some(("2026-12-01".into(), "2027-05-31".into())),
        }
    }

    fn expected(json: &str) -> Expected {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn quantity_and_period_are_checked_when_given() {
        let e = expected(
            r#"{"description": "d", "items": [{"sequence": 1, "action": "A6", "quantity": 720, "period": {"start": "2026-12-01", "end": "2027-05-31"}}]}"#,
        );
        let rows = compare("f", Ok(vec![answer("A6", Some(720.0))]), Some(&e));
        assert_eq!(rows[0].agreement, Agreement::Agree);
        let rows = compare("f", Ok(vec![answer("A6", Some(1080.0))]), Some(&e));
        assert_eq!(rows[0].agreement, Agreement::Differ);
    }

    #[test]
    fn missing_and_extra_items_differ() {
        let e = expected(r#"{"description": "d", "items": [{"sequence": 2, "action": "A4"}]}"#);
        let rows = compare("f", Ok(vec![answer("A4", None)]), Some(&e));
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.agreement == Agreement::Differ));
    }

    #[test]
    fn rejection_differs_and_unknown_fields_are_refused() {
        let e = expected(r#"{"description": "d", "items": [{"sequence": 1, "action": "A1"}]}"#);
        let rows = compare("f", Err("rejected 400".into()), Some(&e));
        assert_eq!(rows[0].agreement, Agreement::Differ);
        let rows = compare("f", Err("rejected 400".into()), None);
        assert_eq!(rows[0].agreement, Agreement::Unchecked);
        assert!(
            serde_json::from_str::<Expected>(r#"{"description": "d", "items": [], "x": 1}"#)
                .is_err()
        );
    }

    #[test]
    fn table_is_aligned() {
        let rows = compare("a.json", Ok(vec![answer("A4", None)]), None);
        let table = render(&rows);
        assert!(table.starts_with("file"));
        assert!(table.contains("no expectation"));
        assert_eq!(Summary::of(1, &rows).unchecked, 1);
    }
}
