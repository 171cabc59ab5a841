//! The Claim's values that make no sense (decisions.md section 7): a request carrying one is
//! malformed, and answered 400 at the element rather than decided on a guess.
//!
//! - a zero or negative `Claim.item.quantity`;
//! - a date that is not a calendar date (`2026-02-30`) in `Claim.created`, an item's
//!   `servicedDate` or `servicedPeriod`, or `Claim.billablePeriod`;
//! - a period whose end is before its start (`servicedPeriod`, `billablePeriod`);
//! - a second Claim in the Bundle, other than the prior Claim that `Claim.related` names.
//!
//! Dates are read with chrono: a FHIR `date` (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`) or `dateTime`
//! (a date, or a date and time with seconds and a zone, RFC 3339).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use serde_json::Value;

use super::request::{Prior, prior};
use crate::fhir::bundle::Entry;
use crate::fhir::{BundleView, Issue, IssueType};

/// The issues of the Claim in `claim` (empty when its values make sense).
pub(super) fn check(view: &BundleView<'_>, claim: &Entry<'_>) -> Vec<Issue> {
    let at = claim.path();
    let resource = claim.resource;
    let mut issues = Vec::new();
    if let Some(created) = resource.get("created") {
        date_time(created, &format!("{at}.created"), &mut issues);
    }
    if let Some(period) = resource.get("billablePeriod") {
        self::period(period, &format!("{at}.billablePeriod"), &mut issues);
    }
    let items = resource
        .get("item")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{at}.item[{i}]");
        if let Some(date) = item.get("servicedDate") {
            date_time(date, &format!("{at}.servicedDate"), &mut issues);
        }
        if let Some(period) = item.get("servicedPeriod") {
            self::period(period, &format!("{at}.servicedPeriod"), &mut issues);
        }
        if let Some(value) = item.pointer("/quantity/value").and_then(Value::as_f64)
            && value <= 0.0
        {
            issues.push(
                Issue::error(
                    IssueType::Value,
                    format!("item quantity `{value}` is not a positive amount"),
                )
                .at(format!("{at}.quantity.value")),
            );
        }
    }
    second_claims(view, claim, &mut issues);
    issues
}

/// Claims in the Bundle besides the request's own and the prior it names (an update carries
/// its prior Claim): one request is one Claim.
fn second_claims(view: &BundleView<'_>, claim: &Entry<'_>, issues: &mut Vec<Issue>) {
    let prior_url = match prior(view, claim) {
        Some(Prior::Carried { full_url, .. }) => Some(full_url),
        _ => None,
    };
    for other in view.of_type("Claim") {
        if other.index == claim.index || other.full_url == prior_url.as_deref() {
            continue;
        }
        issues.push(
            Issue::error(
                IssueType::Value,
                "a second Claim in the Bundle: a PAS request carries one Claim (and, in an \
                 update, the prior Claim its `related` names)",
            )
            .at(other.path()),
        );
    }
}

/// What a FHIR date or dateTime stands for: the earliest and the latest moment of it as
/// written (a partial date is its whole month or year; a time is read in its own zone), and,
/// for a time, the instant in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Moments {
    first: NaiveDateTime,
    last: NaiveDateTime,
    instant: Option<NaiveDateTime>,
}

impl Moments {
    /// Whether `self` (an end) is before `start`: two times compare as instants; otherwise
    /// the calendar as written decides, a date lasting the whole day.
    fn before(&self, start: &Moments) -> bool {
        match (self.instant, start.instant) {
            (Some(end), Some(start)) => end < start,
            _ => self.last < start.first,
        }
    }
}

/// The moments of a FHIR date or dateTime; `None` when it is not a calendar date.
fn moments(text: &str) -> Option<Moments> {
    let day_end = NaiveTime::from_hms_opt(23, 59, 59)?;
    if text.len() > 10 {
        let time = DateTime::parse_from_rfc3339(text).ok()?;
        return Some(Moments {
            first: time.naive_local(),
            last: time.naive_local(),
            instant: Some(time.naive_utc()),
        });
    }
    let (first, last) = match text.len() {
        4 => {
            let year: i32 = text.parse().ok()?;
            (
                NaiveDate::from_ymd_opt(year, 1, 1)?,
                NaiveDate::from_ymd_opt(year, 12, 31)?,
            )
        }
        7 => {
            let first = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").ok()?;
            let last = first
                .checked_add_months(chrono::Months::new(1))?
                .pred_opt()?;
            (first, last)
        }
        10 => {
            let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            (day, day)
        }
        _ => return None,
    };
    Some(Moments {
        first: first.and_time(NaiveTime::MIN),
        last: last.and_time(day_end),
        instant: None,
    })
}

/// A FHIR date or dateTime at `at`: its moments, or an issue when it is not a calendar date.
fn date_time(value: &Value, at: &str, issues: &mut Vec<Issue>) -> Option<Moments> {
    let found = value
        .as_str()
        .and_then(|text| moments(text.trim()).filter(|_| text.trim() == text));
    if found.is_none() {
        issues.push(
            Issue::error(
                IssueType::Value,
                format!("`{value}` is not a calendar date (FHIR date or dateTime)"),
            )
            .at(at),
        );
    }
    found
}

/// A Period at `at`: each end a calendar date, and the end not before the start.
fn period(period: &Value, at: &str, issues: &mut Vec<Issue>) {
    let start = period
        .get("start")
        .and_then(|v| date_time(v, &format!("{at}.start"), issues));
    let end = period
        .get("end")
        .and_then(|v| date_time(v, &format!("{at}.end"), issues));
    if let (Some(start), Some(end)) = (start, end)
        && end.before(&start)
    {
        issues.push(
            Issue::error(
                IssueType::Invariant,
                "the period ends before it starts (per-1)",
            )
            .at(at),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_dates_are_read_with_their_precision() {
        let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        let days = |text: &str| moments(text).map(|m| (m.first.date(), m.last.date()));
        assert_eq!(days("2024-02"), Some((ymd(2024, 2, 1), ymd(2024, 2, 29))));
        assert_eq!(days("2026"), Some((ymd(2026, 1, 1), ymd(2026, 12, 31))));
        assert!(moments("2026-12-01T10:00:00-05:00").is_some());
        for bad in [
            "2026-02-30",
            "2026-13",
            "2026-12-01T10:00",
            "26-12-01",
            "yesterday",
            "",
        ] {
            assert_eq!(moments(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_end_is_before_a_start_only_when_no_reading_overlaps() {
        let before = |end: &str, start: &str| {
            moments(end)
                .zip(moments(start))
                .is_some_and(|(end, start)| end.before(&start))
        };
        assert!(before("2026-11-30", "2026-12-01"));
        assert!(!before("2026-12-01", "2026-12-01"));
        assert!(!before("2026-12", "2026-12-15"));
        // A time on the start's day, in its own zone, is not before the date.
        assert!(!before("2026-12-01T00:30:00+14:00", "2026-12-01"));
        // Two times compare as instants.
        assert!(before("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"));
        assert!(!before("2026-12-01T09:00:00-05:00", "2026-12-01T10:00:00Z"));
    }
}
