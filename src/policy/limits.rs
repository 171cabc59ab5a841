//! Section C and the Quantity Limitations: the authorization period, the dose per
//! administration and the early-breast cycle cap, as calendar and unit arithmetic.
//!
//! Dates go through chrono (calendar months, day differences); nothing here is hand-rolled
//! date arithmetic.

use chrono::{Days, Months, NaiveDate};

use super::decision::{Authorization, Period};
use super::model::LimitsSpec;

/// What the request asks for, and what limits it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub start: NaiveDate,
    /// The requested end (`servicedPeriod.end`); `None` asks for the longest period allowed.
    pub end: Option<NaiveDate>,
    /// Units requested (for J9354, mg).
    pub quantity: Option<f64>,
    /// Body weight in kg, when documented.
    pub weight_kg: Option<f64>,
    /// Cycles left under the early-breast cap; `None` when no cap applies.
    pub cycles_left: Option<u32>,
}

/// The limits' verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Within every limit: authorize what was asked.
    Within(Authorization),
    /// Above a limit: authorize less, for these reasons.
    Reduced {
        authorized: Authorization,
        reasons: Vec<String>,
    },
    /// A limit cannot be checked: no body weight for the dose, or no computable period.
    Unchecked(String),
}

/// The last day of an authorization starting on `start`: `months` calendar months later,
/// less one day (2026-12-01 -> 2027-05-31).
pub fn period_end(start: NaiveDate, months: u32) -> Option<NaiveDate> {
    start
        .checked_add_months(Months::new(months))?
        .checked_sub_days(Days::new(1))
}

/// Administrations that fit in a period: one at the start, then one per full interval.
pub fn administrations(start: NaiveDate, end: NaiveDate, interval_days: u32) -> u32 {
    let days = (end - start).num_days().max(0);
    let n = days / i64::from(interval_days.max(1)) + 1;
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The most units one administration may use: ceil(dose x weight), robust to binary
/// floating-point (3.6 x 70 is 252, not 253).
pub fn max_units_per_administration(dose_per_kg: f64, weight_kg: f64) -> u64 {
    let exact = (dose_per_kg * weight_kg * 1e6).round() / 1e6;
    exact.ceil().max(0.0) as u64
}

/// Converts a body weight to kilograms from its UCUM unit (or a common spelling).
pub fn to_kg(value: f64, unit: Option<&str>) -> Option<f64> {
    let unit = unit
        .map(|u| u.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let kg = match unit.as_str() {
        "kg" | "kilogram" | "kilograms" => value,
        "[lb_av]" | "lb" | "lbs" | "pound" | "pounds" | "[lb]" => value * 0.453_592_37,
        "g" | "gram" | "grams" => value / 1000.0,
        _ => return None,
    };
    (kg.is_finite() && kg > 0.0).then_some(kg)
}

fn fmt_units(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Applies the limits to a request that meets the criteria.
pub fn apply(limits: &LimitsSpec, req: &Request) -> Verdict {
    let Some(cap_end) = period_end(req.start, limits.period_months) else {
        return Verdict::Unchecked(
            "the authorization period cannot be computed from the requested start".into(),
        );
    };
    let mut reasons = Vec::new();
    let requested_end = req.end.map(|e| e.max(req.start));
    let end = match requested_end {
        Some(e) if e > cap_end => {
            reasons.push(format!(
                "requested period ends {e}, after the {}-month limit: authorized through {cap_end} (C)",
                limits.period_months
            ));
            cap_end
        }
        Some(e) => e,
        None => cap_end,
    };
    let period = Period {
        start: req.start,
        end,
    };
    let fit = administrations(req.start, end, limits.interval_days);
    let allowed_admins = req.cycles_left.map_or(fit, |left| left.min(fit));
    let cap_binds = allowed_admins < fit;
    let cycles_reason = || {
        format!(
            "early breast cancer: {allowed_admins} of {} cycles remain, fewer than the {fit} administrations the period allows (B.ii)",
            limits.early_breast_max_cycles
        )
    };
    if req.quantity.is_none() && !cap_binds {
        let authorized = Authorization {
            quantity: None,
            period,
        };
        return if reasons.is_empty() {
            Verdict::Within(authorized)
        } else {
            Verdict::Reduced {
                authorized,
                reasons,
            }
        };
    }
    let Some(kg) = req.weight_kg else {
        return Verdict::Unchecked(format!(
            "the dose ({} mg/kg every {} days) cannot be checked without a current body weight",
            limits.dose_mg_per_kg, limits.interval_days
        ));
    };
    let per_admin = max_units_per_administration(limits.dose_mg_per_kg, kg);
    let allowed = per_admin.saturating_mul(u64::from(allowed_admins)) as f64;
    let quantity = match req.quantity {
        Some(q) if q > allowed => {
            if cap_binds {
                reasons.push(cycles_reason());
            }
            reasons.push(format!(
                "requested {} units exceed {allowed_admins} administrations x {per_admin} units ({} mg/kg x {kg:.1} kg, every {} days) = {} units (Quantity Limitations)",
                fmt_units(q),
                limits.dose_mg_per_kg,
                limits.interval_days,
                fmt_units(allowed)
            ));
            allowed
        }
        Some(q) => q,
        None => {
            reasons.push(cycles_reason());
            allowed
        }
    };
    let authorized = Authorization {
        quantity: Some(quantity),
        period,
    };
    if reasons.is_empty() {
        Verdict::Within(authorized)
    } else {
        Verdict::Reduced {
            authorized,
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    fn limits() -> LimitsSpec {
        LimitsSpec {
            period_months: 6,
            dose_mg_per_kg: 3.6,
            interval_days: 21,
            early_breast_max_cycles: 14,
            disease_status_months: 6,
            neoadjuvant_min_weeks: 16,
        }
    }

    #[test]
    fn six_months_less_a_day() {
        assert_eq!(period_end(d("2026-12-01"), 6), Some(d("2027-05-31")));
        assert_eq!(period_end(d("2026-01-15"), 6), Some(d("2026-07-14")));
        assert_eq!(period_end(d("2027-03-01"), 6), Some(d("2027-08-31")));
        // chrono clamps to the end of a shorter month: 08-31 + 6 months = 02-28.
        assert_eq!(period_end(d("2026-08-31"), 6), Some(d("2027-02-27")));
    }

    #[test]
    fn administrations_are_floor_days_over_21_plus_one() {
        assert_eq!(administrations(d("2026-12-01"), d("2026-12-01"), 21), 1);
        assert_eq!(administrations(d("2026-12-01"), d("2026-12-21"), 21), 1);
        assert_eq!(administrations(d("2026-12-01"), d("2026-12-22"), 21), 2);
        assert_eq!(administrations(d("2026-12-01"), d("2027-05-31"), 21), 9);
    }

    #[test]
    fn dose_ceiling_is_exact() {
        assert_eq!(max_units_per_administration(3.6, 70.0), 252);
        assert_eq!(max_units_per_administration(3.6, 68.5), 247);
        assert_eq!(max_units_per_administration(3.6, 50.0), 180);
        assert_eq!(max_units_per_administration(3.6, 72.3), 261);
    }

    #[test]
    fn pounds_and_grams_to_kg() {
        assert!((to_kg(154.0, Some("[lb_av]")).unwrap_or(0.0) - 69.853_225).abs() < 1e-5);
        assert_eq!(to_kg(70_000.0, Some("g")), Some(70.0));
        assert_eq!(to_kg(70.0, Some("kg")), Some(70.0));
        assert_eq!(to_kg(70.0, Some("stone")), None);
        assert_eq!(to_kg(70.0, None), None);
    }

    fn req(
        end: Option<&str>,
        quantity: Option<f64>,
        kg: Option<f64>,
        left: Option<u32>,
    ) -> Request {
        Request {
            start: d("2026-12-01"),
            end: end.map(d),
            quantity,
            weight_kg: kg,
            cycles_left: left,
        }
    }

    #[test]
    fn within_limits_keeps_the_request() {
        let v = apply(
            &limits(),
            &req(Some("2027-05-31"), Some(2268.0), Some(70.0), None),
        );
        let period = Period {
            start: d("2026-12-01"),
            end: d("2027-05-31"),
        };
        assert_eq!(
            v,
            Verdict::Within(Authorization {
                quantity: Some(2268.0),
                period
            })
        );
    }

    #[test]
    fn quantity_over_the_dose_is_cut() {
        let v = apply(
            &limits(),
            &req(Some("2027-05-31"), Some(3000.0), Some(70.0), None),
        );
        match v {
            Verdict::Reduced { authorized, .. } => assert_eq!(authorized.quantity, Some(2268.0)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn period_over_six_months_is_cut() {
        let v = apply(&limits(), &req(Some("2027-11-30"), None, None, None));
        match v {
            Verdict::Reduced { authorized, .. } => {
                assert_eq!(authorized.period.end, d("2027-05-31"));
                assert_eq!(authorized.quantity, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_weight_pends_only_when_a_dose_must_be_checked() {
        assert!(matches!(
            apply(&limits(), &req(None, Some(500.0), None, None)),
            Verdict::Unchecked(_)
        ));
        assert!(matches!(
            apply(&limits(), &req(None, None, None, None)),
            Verdict::Within(_)
        ));
    }

    #[test]
    fn fourteen_cycle_cap_cuts_to_cycles_left() {
        // 12 received: 2 left, period allows 9 administrations of 252 mg.
        let v = apply(
            &limits(),
            &req(Some("2027-05-31"), Some(2268.0), Some(70.0), Some(2)),
        );
        match v {
            Verdict::Reduced { authorized, .. } => assert_eq!(authorized.quantity, Some(504.0)),
            other => panic!("{other:?}"),
        }
        // A request that fits the cycles left is not cut.
        let v = apply(
            &limits(),
            &req(Some("2027-05-31"), Some(504.0), Some(70.0), Some(2)),
        );
        assert!(matches!(v, Verdict::Within(_)));
        // Without a quantity the cap still needs the weight to say how much.
        assert!(matches!(
            apply(&limits(), &req(None, None, None, Some(2))),
            Verdict::Unchecked(_)
        ));
        // 14 administrations fit exactly: 5 left and a 3-month period (5 administrations).
        let v = apply(
            &limits(),
            &req(Some("2027-02-28"), None, Some(70.0), Some(5)),
        );
        assert!(matches!(v, Verdict::Within(_)), "{v:?}");
    }
}
