//! Section C and the Quantity Limitations: the authorization period, the dose per
//! administration and a cycle cap, as calendar and unit arithmetic.
//!
//! Dates go through chrono (calendar months, day differences); nothing here is hand-rolled
//! date arithmetic.

use chrono::{Days, Months, NaiveDate};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::decision::{Authorization, Period};
use super::model::{CycleCap, LimitsSpec};

/// What the request asks for, and what limits it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub start: NaiveDate,
    /// The requested end (`servicedPeriod.end`); `None` asks for the longest period allowed.
    pub end: Option<NaiveDate>,
    /// Units requested (the product code's billing units).
    pub quantity: Option<f64>,
    /// Body weight in kg, exact, when documented.
    pub weight_kg: Option<Decimal>,
    /// The dose on the path met, mg/kg per administration.
    pub dose_mg_per_kg: Decimal,
    /// Cycles left under the policy's cycle cap, with the cap; `None` when no cap applies.
    pub cycles_left: Option<(u32, CycleCap)>,
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

/// The most units one administration may use: ceil(dose x weight) in exact decimal
/// arithmetic: a product that is a whole number stays one, where binary floating point can
/// land a hair above it and its ceiling give one unit too many.
pub fn max_units_per_administration(dose_per_kg: Decimal, weight_kg: Decimal) -> u64 {
    dose_per_kg
        .checked_mul(weight_kg)
        .map(|mg| mg.ceil())
        .and_then(|mg| mg.to_u64())
        .unwrap_or(0)
}

/// A body weight as an exact decimal in kilograms: the number as written in the request
/// (Rust prints an f64 as the shortest decimal that reads back the same), converted with the
/// exact factors (1 [lb_av] = 0.45359237 kg). `to_kg` decides which values are weights.
pub fn exact_kg(value: f64, unit: Option<&str>) -> Option<Decimal> {
    to_kg(value, unit)?;
    let number: Decimal = value.to_string().parse().ok()?;
    let unit = unit
        .map(|u| u.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match unit.as_str() {
        "[lb_av]" | "lb" | "lbs" | "pound" | "pounds" | "[lb]" => {
            number.checked_mul(Decimal::new(45_359_237, 8))
        }
        "g" | "gram" | "grams" => number.checked_div(Decimal::ONE_THOUSAND),
        _ => Some(number),
    }
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
                "requested period ends {e}, after the {}-month limit: authorized through {cap_end} ({})",
                limits.period_months, limits.period_ref
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
    let allowed_admins = req
        .cycles_left
        .as_ref()
        .map_or(fit, |(left, _)| (*left).min(fit));
    let cap_binds = allowed_admins < fit;
    let cycles_reason = || match &req.cycles_left {
        Some((_, cap)) => format!(
            "{}: {allowed_admins} of {} cycles remain, fewer than the {fit} administrations the period allows ({})",
            cap.label, cap.max, cap.reference
        ),
        None => String::new(),
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
            req.dose_mg_per_kg, limits.interval_days
        ));
    };
    let per_admin = max_units_per_administration(req.dose_mg_per_kg, kg);
    let kg_shown = kg.to_f64().unwrap_or_default();
    let allowed = per_admin.saturating_mul(u64::from(allowed_admins)) as f64;
    let quantity = match req.quantity {
        Some(q) if q > allowed => {
            if cap_binds {
                reasons.push(cycles_reason());
            }
            reasons.push(format!(
                "requested {} units exceed {allowed_admins} administrations x {per_admin} units ({} mg/kg x {kg_shown:.1} kg, every {} days) = {} units ({})",
                fmt_units(q),
                req.dose_mg_per_kg,
                limits.interval_days,
                fmt_units(allowed),
                limits.quantity_ref
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
        let criterion = |id: &str| super::super::model::LimitCriterion {
            id: id.into(),
            text: String::new(),
        };
        LimitsSpec {
            period_months: 6,
            interval_days: 21,
            dose_mg_per_kg: Some(dec("3.6")),
            body_weight: "body_weight".into(),
            weight_document: String::new(),
            period_ref: "C".into(),
            quantity_ref: "Quantity Limitations".into(),
            initial: criterion("C.i"),
            continuation: criterion("C.ii"),
            cycle_cap: None,
        }
    }

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    fn cap() -> CycleCap {
        CycleCap {
            max: 14,
            applies_when: "early_breast".into(),
            answer: "cycles-received".into(),
            reference: "B.ii".into(),
            label: "early breast cancer".into(),
            document: String::new(),
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
        assert_eq!(max_units_per_administration(dec("3.6"), dec("70")), 252);
        assert_eq!(max_units_per_administration(dec("3.6"), dec("68.5")), 247);
        assert_eq!(max_units_per_administration(dec("3.6"), dec("50")), 180);
        assert_eq!(max_units_per_administration(dec("3.6"), dec("72.3")), 261);
        // Binary floating point gives 486.00000000000006 and one unit too many.
        assert_eq!(max_units_per_administration(dec("5.4"), dec("90")), 486);
        assert_eq!(max_units_per_administration(dec("6.4"), dec("72.5")), 464);
    }

    #[test]
    fn exact_kg_converts_with_exact_factors() {
        assert_eq!(exact_kg(90.0, Some("kg")), Some(dec("90")));
        assert_eq!(exact_kg(200.0, Some("[lb_av]")), Some(dec("90.718474")));
        assert_eq!(exact_kg(72_500.0, Some("g")), Some(dec("72.5")));
        assert_eq!(exact_kg(70.0, Some("stone")), None);
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
            weight_kg: kg.and_then(|k| exact_kg(k, Some("kg"))),
            dose_mg_per_kg: dec("3.6"),
            cycles_left: left.map(|l| (l, cap())),
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
