//! The plan's prior-authorization figures (workflow.md section 5; the CMS rule's yearly
//! public report) over the requests received in a date range: one request per authorization
//! chain, its latest answer counting, separately for standard and expedited requests.
//!
//! A request is *pended* while any item of its latest answer is A4, *denied* when every item
//! is A3, and *approved* when at least one item is A1 or A6 (a partial approval counts as an
//! approval; its denied items are in the answer). A cancelled chain counts as a request but in
//! none of the three. The time to a final answer runs from the receipt of the original request
//! to the first answer without a pended item. Figures the adapter cannot know (appeals,
//! extensions) are `null` with a note.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use super::{Priority, ReviewClock};
use crate::store::review::AnswerOrigin;
use crate::store::{Status, StoredSubmission};

/// One authorization chain: its versions, oldest first, with who answered each.
pub type Chain = Vec<(StoredSubmission, Option<AnswerOrigin>)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Approved,
    Denied,
    Pended,
    Cancelled,
}

fn actions(version: &StoredSubmission) -> Vec<String> {
    version
        .decision_trace
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i.get("cancelled").and_then(Value::as_bool) != Some(true))
        .filter_map(|i| i.get("action").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

fn outcome(latest: &StoredSubmission) -> Outcome {
    let actions = actions(latest);
    if latest.status == Status::Cancelled {
        Outcome::Cancelled
    } else if actions.iter().any(|a| a == "A4") {
        Outcome::Pended
    } else if actions.iter().any(|a| a == "A1" || a == "A6") {
        Outcome::Approved
    } else {
        Outcome::Denied
    }
}

#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    approved: u64,
    denied: u64,
    pended: u64,
    cancelled: u64,
    /// Hours from receipt to final answer, per decided request.
    hours: Vec<f64>,
    past_due: u64,
}

fn percent(part: u64, whole: u64) -> Value {
    if whole == 0 {
        Value::Null
    } else {
        json!(((part as f64) * 10_000.0 / whole as f64).round() / 100.0)
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

impl Tally {
    fn add(&mut self, chain: &Chain, clock: &ReviewClock) {
        let (Some((first, _)), Some((latest, _))) = (chain.first(), chain.last()) else {
            return;
        };
        self.requests += 1;
        match outcome(latest) {
            Outcome::Approved => self.approved += 1,
            Outcome::Denied => self.denied += 1,
            Outcome::Pended => self.pended += 1,
            Outcome::Cancelled => self.cancelled += 1,
        }
        if matches!(outcome(latest), Outcome::Pended | Outcome::Cancelled) {
            return;
        }
        let received = first.received_at;
        let final_answer = chain
            .iter()
            .find(|(version, _)| !actions(version).iter().any(|a| a == "A4"))
            .map(|(version, origin)| {
                origin
                    .as_ref()
                    .map(|o| o.answered_at)
                    .unwrap_or(version.received_at)
            });
        if let Some(at) = final_answer {
            self.hours
                .push((at - received).num_milliseconds() as f64 / 3_600_000.0);
            if at > clock.due(received, Priority::of_request(&first.request)) {
                self.past_due += 1;
            }
        }
    }

    fn json(&self) -> Value {
        let mut hours = self.hours.clone();
        hours.sort_by(f64::total_cmp);
        let average = (!hours.is_empty()).then(|| hours.iter().sum::<f64>() / hours.len() as f64);
        let median = match hours.len() {
            0 => None,
            n if n % 2 == 1 => Some(hours[n / 2]),
            n => Some((hours[n / 2 - 1] + hours[n / 2]) / 2.0),
        };
        json!({
            "requests": self.requests,
            "approved": self.approved,
            "denied": self.denied,
            "pended": self.pended,
            "cancelled": self.cancelled,
            "percentApproved": percent(self.approved, self.requests),
            "percentDenied": percent(self.denied, self.requests),
            "percentPended": percent(self.pended, self.requests),
            "averageHoursToFinalAnswer": average.map(round2),
            "medianHoursToFinalAnswer": median.map(round2),
            "decidedPastDue": self.past_due,
            "percentApprovedAfterAppeal": null,
            "percentApprovedAfterExtension": null,
        })
    }
}

/// What a policy puts under prior authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyItems {
    pub policy: String,
    pub title: String,
    pub codes: Vec<String>,
}

/// The report over `chains` (those whose original request was received from `from` through
/// `to`).
pub fn report(
    from: NaiveDate,
    to: NaiveDate,
    chains: &[Chain],
    clock: &ReviewClock,
    items: &[PolicyItems],
    now: DateTime<Utc>,
) -> Value {
    let mut standard = Tally::default();
    let mut expedited = Tally::default();
    for chain in chains {
        let Some((first, _)) = chain.first() else {
            continue;
        };
        match Priority::of_request(&first.request) {
            Priority::Standard => standard.add(chain, clock),
            Priority::Expedited => expedited.add(chain, clock),
        }
    }
    json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "generatedAt": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "standard": standard.json(),
        "expedited": expedited.json(),
        "itemsRequiringPriorAuthorization": items.iter().map(|p| json!({
            "policy": p.policy, "title": p.title, "codes": p.codes,
        })).collect::<Vec<_>>(),
        "notes": [
            "percentApprovedAfterAppeal is null: appeals are handled outside this adapter, which never sees their outcome.",
            "percentApprovedAfterExtension is null: the adapter does not record review-time extensions.",
            "A request is approved when its latest answer certifies at least one item (A1 or A6), denied when every item is A3, pended while any item is A4; cancelled requests count in `requests` only.",
            "Time to final answer runs from the receipt of the original request to the first answer without a pended item; due times use the configured clocks.",
        ],
    })
}

/// The report as CSV: one row per priority, empty cells for unknowable (null) figures.
pub fn csv(report: &Value) -> String {
    const COLUMNS: [&str; 13] = [
        "requests",
        "approved",
        "denied",
        "pended",
        "cancelled",
        "percentApproved",
        "percentDenied",
        "percentPended",
        "averageHoursToFinalAnswer",
        "medianHoursToFinalAnswer",
        "decidedPastDue",
        "percentApprovedAfterAppeal",
        "percentApprovedAfterExtension",
    ];
    let mut out = format!("priority,from,to,{}\n", COLUMNS.join(","));
    for priority in ["standard", "expedited"] {
        let row = &report[priority];
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|c| match &row[*c] {
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .collect();
        out.push_str(&format!(
            "{priority},{},{},{}\n",
            report["from"].as_str().unwrap_or_default(),
            report["to"].as_str().unwrap_or_default(),
            cells.join(",")
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const STAT: &str = "stat";

    fn version(
        chain: &str,
        n: u32,
        actions: &[&str],
        received: DateTime<Utc>,
        priority: &str,
        status: Status,
    ) -> StoredSubmission {
        let trace: Vec<Value> = actions
            .iter()
            .enumerate()
            .map(|(i, a)| json!({"sequence": i + 1, "action": a, "cancelled": false}))
            .collect();
        StoredSubmission {
            id: format!("{chain}-{n}"),
            chain_id: chain.into(),
            version: n,
            supersedes: None,
            status,
            received_at: received,
            submitter: "s".into(),
            bundle_identifier: None,
            claim_identifier: format!("c|{chain}"),
            prior_key: String::new(),
            claim_full_url: None,
            claim_resource_id: None,
            content_hash: "h".into(),
            patient_member_id: None,
            provider_id: None,
            insurer_id: None,
            policy_revision: "p".into(),
            authorized_until: None,
            request: json!({"entry": [{"resource": {"resourceType": "Claim",
                "priority": {"coding": [{"code": priority}]}}}]}),
            response: Value::Null,
            decision_trace: Value::Array(trace),
            authorizations: Vec::new(),
        }
    }

    fn origin(by: &str, at: DateTime<Utc>) -> Option<AnswerOrigin> {
        Some(AnswerOrigin {
            submission_id: String::new(),
            answered_by: by.into(),
            reviewer: None,
            answered_at: at,
        })
    }

    #[test]
    fn figures_on_a_known_set_of_answers() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 5, 8, 0, 0).unwrap();
        let h = chrono::Duration::hours;
        let a = Status::Active;
        let chains: Vec<Chain> = vec![
            // Standard: approved at once; denied by a reviewer after 200 h (past the 168 h);
            // approved (A1 + A3 partial) by a reviewer after 24 h; still pended; cancelled.
            vec![(
                version("s1", 1, &["A1"], t0, "normal", a),
                origin("engine", t0),
            )],
            vec![
                (
                    version("s2", 1, &["A4"], t0, "normal", a),
                    origin("engine", t0),
                ),
                (
                    version("s2", 2, &["A3"], t0 + h(200), "normal", a),
                    origin("reviewer", t0 + h(200)),
                ),
            ],
            vec![
                (
                    version("s3", 1, &["A4", "A3"], t0, "normal", a),
                    origin("engine", t0),
                ),
                (
                    version("s3", 2, &["A1", "A3"], t0 + h(24), "normal", a),
                    origin("reviewer", t0 + h(24)),
                ),
            ],
            vec![(
                version("s4", 1, &["A4"], t0, "normal", a),
                origin("engine", t0),
            )],
            vec![
                (
                    version("s5", 1, &["A4"], t0, "normal", a),
                    origin("engine", t0),
                ),
                (
                    version("s5", 2, &["A4"], t0 + h(1), "normal", Status::Cancelled),
                    origin("provider-update", t0 + h(1)),
                ),
            ],
            // Expedited: modified by a reviewer after 80 h (past the 72 h), denied at once.
            vec![
                (version("e1", 1, &["A4"], t0, STAT, a), origin("engine", t0)),
                (
                    version("e1", 2, &["A6"], t0 + h(80), STAT, a),
                    origin("reviewer", t0 + h(80)),
                ),
            ],
            vec![(version("e2", 1, &["A3"], t0, STAT, a), origin("engine", t0))],
        ];
        let items = [PolicyItems {
            policy: "MP-RX-FP-48-23".into(),
            title: "Kadcyla".into(),
            codes: vec!["http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets|J9354".into()],
        }];
        let from = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let to = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
        let report = report(from, to, &chains, &ReviewClock::default(), &items, t0);
        let standard = &report["standard"];
        assert_eq!(standard["requests"], 5);
        assert_eq!(
            (
                &standard["approved"],
                &standard["denied"],
                &standard["pended"],
                &standard["cancelled"]
            ),
            (&json!(2), &json!(1), &json!(1), &json!(1))
        );
        assert_eq!(standard["percentApproved"], 40.0);
        assert_eq!(standard["percentDenied"], 20.0);
        assert_eq!(standard["percentPended"], 20.0);
        // Decided: 0 h, 200 h, 24 h.
        assert_eq!(standard["averageHoursToFinalAnswer"], 74.67);
        assert_eq!(standard["medianHoursToFinalAnswer"], 24.0);
        assert_eq!(standard["decidedPastDue"], 1);
        assert_eq!(standard["percentApprovedAfterAppeal"], Value::Null);
        let expedited = &report["expedited"];
        assert_eq!(expedited["requests"], 2);
        assert_eq!(expedited["percentApproved"], 50.0);
        assert_eq!(expedited["percentDenied"], 50.0);
        assert_eq!(expedited["averageHoursToFinalAnswer"], 40.0);
        assert_eq!(expedited["medianHoursToFinalAnswer"], 40.0);
        assert_eq!(expedited["decidedPastDue"], 1);
        assert_eq!(
            report["itemsRequiringPriorAuthorization"][0]["codes"][0],
            "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets|J9354"
        );
        assert!(report["notes"].as_array().unwrap().len() >= 2);
        let csv = csv(&report);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("priority,from,to,requests,approved,denied"));
        assert_eq!(
            lines[1],
            "standard,2026-01-01,2026-01-31,5,2,1,1,1,40.0,20.0,20.0,74.67,24.0,1,,"
        );
        assert_eq!(
            lines[2],
            "expedited,2026-01-01,2026-01-31,2,1,1,0,0,50.0,50.0,0.0,40.0,40.0,1,,"
        );
    }

    #[test]
    fn an_empty_range_has_no_percentages() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let report = report(day, day, &[], &ReviewClock::default(), &[], Utc::now());
        assert_eq!(report["standard"]["requests"], 0);
        assert_eq!(report["standard"]["percentApproved"], Value::Null);
        assert_eq!(report["standard"]["medianHoursToFinalAnswer"], Value::Null);
    }
}
