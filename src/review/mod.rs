//! The other half of the workflow (workflow.md sections 1, 2 and 4): review cases of pended
//! answers, their clocks, and reviewer decisions that become the next version of an
//! authorization.
//!
//! The store opens and closes cases in the transaction of each answer ([`crate::store::review`]);
//! this module reads them for reviewers ([`view`]), times them ([`ReviewClock`]) and turns a
//! reviewer's decision into a full PAS response ([`decide`]).

pub mod decide;
pub mod report;
pub mod view;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use crate::store::review::{
    AnsweredBy, CaseFilter, CaseRecord, ClosedHow, Priority, Reviewer, pended_sequences,
};
pub use decide::{DecisionInput, ReviewError, decide};

/// Default time to a final answer for an expedited request: 72 hours.
pub const DEFAULT_EXPEDITED: Duration = Duration::from_secs(72 * 3600);
/// Default time to a final answer for a standard request: 7 calendar days.
pub const DEFAULT_STANDARD: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long the plan has to answer a pended request, by priority (configurable, e.g. for a
/// state's 24-hour drug rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewClock {
    pub expedited: Duration,
    pub standard: Duration,
}

impl Default for ReviewClock {
    fn default() -> Self {
        Self {
            expedited: DEFAULT_EXPEDITED,
            standard: DEFAULT_STANDARD,
        }
    }
}

impl ReviewClock {
    /// When the final answer is due for a request of `priority` received at `received`.
    pub fn due(&self, received: DateTime<Utc>, priority: Priority) -> DateTime<Utc> {
        let allowed = match priority {
            Priority::Expedited => self.expedited,
            Priority::Standard => self.standard,
        };
        // A clock too large for chrono is no deadline at all.
        chrono::Duration::from_std(allowed)
            .ok()
            .and_then(|d| received.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The due time of a case.
    pub fn due_of(&self, case: &CaseRecord) -> DateTime<Utc> {
        self.due(case.received_at, case.priority)
    }

    /// Whether an open case is past its due time at `now` (a closed case is overdue when it
    /// was closed after its due time).
    pub fn overdue(&self, case: &CaseRecord, now: DateTime<Utc>) -> bool {
        let due = self.due_of(case);
        match &case.closed {
            Some(closing) => closing.at > due,
            None => now > due,
        }
    }

    /// Orders cases for a worklist: earliest due first, so overdue cases lead.
    pub fn sort(&self, cases: &mut [CaseRecord]) {
        cases.sort_by(|a, b| {
            self.due_of(a)
                .cmp(&self.due_of(b))
                .then_with(|| a.id.cmp(&b.id))
        });
    }
}

/// Updates the review gauges: open cases, overdue cases, and the age of the oldest open case.
pub async fn refresh_metrics(
    store: &crate::store::Store,
    clock: &ReviewClock,
) -> Result<(), crate::store::StoreError> {
    let now = Utc::now();
    let open = store.review_cases(CaseFilter::Open).await?;
    let overdue = open.iter().filter(|c| clock.overdue(c, now)).count();
    let oldest = open
        .iter()
        .map(|c| (now - c.received_at).num_milliseconds() as f64 / 1000.0)
        .fold(0.0_f64, f64::max);
    metrics::gauge!("pas_review_cases_open").set(open.len() as f64);
    metrics::gauge!("pas_review_cases_overdue").set(overdue as f64);
    metrics::gauge!("pas_review_oldest_case_age_seconds").set(oldest);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::review::Closing;
    use chrono::TimeZone;

    fn case(priority: Priority, received: DateTime<Utc>, id: &str) -> CaseRecord {
        CaseRecord {
            id: id.into(),
            chain_id: "c".into(),
            opened_by: "s".into(),
            version: 1,
            priority,
            received_at: received,
            closed: None,
        }
    }

    #[test]
    fn expedited_is_due_in_72_hours_standard_in_7_days() {
        let clock = ReviewClock::default();
        let received = Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 0).unwrap();
        assert_eq!(
            clock.due(received, Priority::Expedited),
            Utc.with_ymd_and_hms(2026, 12, 4, 9, 30, 0).unwrap()
        );
        assert_eq!(
            clock.due(received, Priority::Standard),
            Utc.with_ymd_and_hms(2026, 12, 8, 9, 30, 0).unwrap()
        );
    }

    #[test]
    fn a_configured_clock_moves_the_due_time() {
        let clock = ReviewClock {
            expedited: Duration::from_secs(24 * 3600),
            standard: Duration::from_secs(3 * 24 * 3600),
        };
        let received = Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap();
        assert_eq!(
            clock.due(received, Priority::Expedited),
            Utc.with_ymd_and_hms(2027, 1, 1, 23, 0, 0).unwrap()
        );
        assert_eq!(
            clock.due(received, Priority::Standard),
            Utc.with_ymd_and_hms(2027, 1, 3, 23, 0, 0).unwrap()
        );
    }

    #[test]
    fn overdue_open_and_closed_cases() {
        let clock = ReviewClock::default();
        let received = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let mut expedited = case(Priority::Expedited, received, "e");
        let just_before = Utc.with_ymd_and_hms(2026, 12, 4, 0, 0, 0).unwrap();
        let just_after = Utc.with_ymd_and_hms(2026, 12, 4, 0, 0, 1).unwrap();
        assert!(!clock.overdue(&expedited, just_before));
        assert!(clock.overdue(&expedited, just_after));
        // Closed in time stays in time whenever it is looked at.
        expedited.closed = Some(Closing {
            at: just_before,
            by: "v2".into(),
            how: ClosedHow::Reviewer,
        });
        assert!(!clock.overdue(&expedited, just_after + chrono::Duration::days(30)));
        let standard = case(Priority::Standard, received, "s");
        assert!(!clock.overdue(&standard, just_after));
    }

    #[test]
    fn overdue_cases_come_first_then_by_due_time() {
        let clock = ReviewClock::default();
        let day = |d: u32| Utc.with_ymd_and_hms(2026, 12, d, 0, 0, 0).unwrap();
        // Standard received 1st: due 8th. Expedited received 6th: due 9th. Standard 2nd: due 9th.
        let mut cases = vec![
            case(Priority::Expedited, day(6), "b-exp"),
            case(Priority::Standard, day(2), "c-std"),
            case(Priority::Standard, day(1), "a-std"),
        ];
        clock.sort(&mut cases);
        let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["a-std", "b-exp", "c-std"]);
    }
}
