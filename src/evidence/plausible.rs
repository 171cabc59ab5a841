//! Values no clinician would write are not evidence (decisions.md section 7).
//!
//! Two kinds of observation carry numbers that decide an answer, and each has a range outside
//! which the number is a typing error or an attack, not a measurement:
//!
//! - **body weight** (LOINC 29463-7, 3141-9 measured, 8335-2 estimated): converted to kg here
//!   (UCUM `kg`, `g`, `[lb_av]`, `[oz_av]` and their plain spellings), then 0.5-500 kg. Outside,
//!   the value is dropped, so the dose cannot be checked (A4) unless another weight can;
//! - **HER2 numbers** (LOINC 49683-6 HER2/CEP17 ratio, 74860-8 HER2 copies per nucleus,
//!   74861-6 CEP17 copies per nucleus): 0-100, inclusive. Outside, the value is dropped and the
//!   result is not classified (a ratio of 1e308, copies of -3).
//!
//! Each dropped value is set aside with a reason naming the value, so the note says why.
//! The codes are the universal LOINC codes of codes.md, the same for every policy; which
//! criteria read them stays the policy's business.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::fhir::{Code, CodeSystem};

use super::ObsValue;

const BODY_WEIGHT: &[&str] = &["29463-7", "3141-9", "8335-2"];
const HER2_RATIO: &[&str] = &["49683-6"];
const HER2_COPIES: &[&str] = &["74860-8", "74861-6"];

/// The lightest and heaviest body weight read as one, in kg.
pub const WEIGHT_KG: (f64, f64) = (0.5, 500.0);
/// The range of a HER2/CEP17 ratio or a copy number per nucleus.
pub const HER2_RANGE: (f64, f64) = (0.0, 100.0);

/// A number as a reader would write it: `1e308`, not 309 digits.
pub(super) fn show(n: f64) -> String {
    let a = n.abs();
    if a != 0.0 && !(1e-4..1e6).contains(&a) {
        format!("{n:e}")
    } else {
        format!("{}", (n * 1e6).round() / 1e6)
    }
}

fn is(codes: &[Code], list: &[&str]) -> bool {
    codes
        .iter()
        .any(|c| c.system == CodeSystem::Loinc && list.contains(&c.code.as_str()))
}

/// The value of an observation (or component) coded `codes`, normalized; `Err` with the
/// reason when the value must be set aside.
pub(super) fn check(codes: &[Code], value: Option<ObsValue>) -> Result<Option<ObsValue>, String> {
    let Some(value) = value else { return Ok(None) };
    if is(codes, BODY_WEIGHT) {
        return weight(value).map(Some);
    }
    let what = if is(codes, HER2_RATIO) {
        "HER2/CEP17 ratio"
    } else if is(codes, HER2_COPIES) {
        "copy number per nucleus"
    } else {
        return Ok(Some(value));
    };
    her2_number(what, value).map(Some)
}

fn weight(value: ObsValue) -> Result<ObsValue, String> {
    let ObsValue::Quantity {
        value: number,
        unit,
        comparator,
    } = &value
    else {
        return Ok(value);
    };
    let Some(kg) = to_kg(*number, unit.as_deref()) else {
        return Err(format!(
            "body weight {} {} is not in a unit of mass",
            show(*number),
            unit.as_deref().unwrap_or("(no unit)")
        ));
    };
    if !(WEIGHT_KG.0..=WEIGHT_KG.1).contains(&kg) {
        let unit = unit.as_deref().unwrap_or_default();
        let converted = if unit == "kg" {
            String::new()
        } else {
            format!(" ({} kg)", show(kg))
        };
        return Err(format!(
            "body weight {} {unit}{converted} is outside {}-{} kg: not a weight",
            show(*number),
            WEIGHT_KG.0,
            WEIGHT_KG.1
        ));
    }
    Ok(ObsValue::Quantity {
        value: kg,
        unit: Some("kg".into()),
        comparator: comparator.clone(),
    })
}

/// Kilograms from a UCUM unit or a plain spelling; `None` for anything else.
///
/// The product is taken in exact decimal arithmetic on the number as written, then read back
/// as the nearest f64: a dose limit multiplies this weight again in exact decimals
/// (decisions-enhertu.md section 7: `[lb_av]` x 0.45359237), and 154 lb must reach it as
/// 69.85322498 kg, not a binary product a hair off that a ceiling can tell apart.
pub(super) fn to_kg(value: f64, unit: Option<&str>) -> Option<f64> {
    let unit = unit.map(str::trim).unwrap_or_default();
    // kg per unit, as (mantissa, scale): 0.45359237 is (45_359_237, 8).
    let (mantissa, scale) = match unit.to_ascii_lowercase().as_str() {
        "kg" | "kilogram" | "kilograms" => (1, 0),
        "g" | "gram" | "grams" => (1, 3),
        "[lb_av]" | "lb" | "lbs" | "pound" | "pounds" | "[lb]" => (45_359_237, 8),
        "[oz_av]" | "oz" | "ounce" | "ounces" => (28_349_523_125, 12),
        _ => return None,
    };
    let factor = Decimal::new(mantissa, scale);
    let exact = value
        .to_string()
        .parse::<Decimal>()
        .ok()
        .and_then(|number| number.checked_mul(factor))
        .and_then(|kg| kg.normalize().to_string().parse::<f64>().ok());
    // A number Decimal cannot hold (1e308) is far outside any weight range anyway.
    let kg = exact.unwrap_or_else(|| value * factor.to_f64().unwrap_or(f64::NAN));
    kg.is_finite().then_some(kg)
}

/// A HER2 number as a plain Quantity (a numeric string read as its number), checked against
/// [`HER2_RANGE`].
fn her2_number(what: &str, value: ObsValue) -> Result<ObsValue, String> {
    let (number, unit, comparator) = match &value {
        ObsValue::Quantity {
            value,
            unit,
            comparator,
        } => (*value, unit.clone(), comparator.clone()),
        ObsValue::Integer(i) => (*i as f64, None, None),
        ObsValue::Text(text) => match text.trim().parse::<f64>() {
            Ok(n) => (n, None, None),
            Err(_) => return Ok(value),
        },
        ObsValue::Coded { .. } | ObsValue::Boolean(_) => return Ok(value),
    };
    if !number.is_finite() || !(HER2_RANGE.0..=HER2_RANGE.1).contains(&number) {
        return Err(format!(
            "{what} {} is outside {}-{}: not classified",
            show(number),
            HER2_RANGE.0,
            HER2_RANGE.1
        ));
    }
    Ok(ObsValue::Quantity {
        value: number,
        unit,
        comparator,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loinc(c: &str) -> Vec<Code> {
        vec![Code::of(CodeSystem::Loinc, c)]
    }

    fn q(value: f64, unit: Option<&str>) -> Option<ObsValue> {
        Some(ObsValue::Quantity {
            value,
            unit: unit.map(str::to_owned),
            comparator: None,
        })
    }

    /// Regression (merge of enhertu onto encodings): the weight reached the exact-decimal
    /// dose limit as a binary product of pounds; it must be 154 x 0.45359237 = 69.85322498
    /// kg exactly as written (decisions-enhertu.md section 7), and 200 lb 90.718474 kg.
    #[test]
    fn pounds_reach_the_dose_limit_as_the_exact_decimal_product() {
        assert_eq!(
            to_kg(154.0, Some("[lb_av]")).map(|kg| kg.to_string()),
            Some("69.85322498".into())
        );
        assert_eq!(
            to_kg(200.0, Some("lb")).map(|kg| kg.to_string()),
            Some("90.718474".into())
        );
        assert_eq!(to_kg(72_500.0, Some("g")), Some(72.5));
        assert_eq!(to_kg(70.0, Some("stone")), None);
        assert_eq!(
            to_kg(1e308, Some("[lb_av]")).map(|kg| kg > 4e307),
            Some(true)
        );
    }

    #[test]
    fn weights_are_kilograms_within_half_a_kilo_and_500() {
        let w = loinc("29463-7");
        assert_eq!(check(&w, q(70.0, Some("kg"))), Ok(q(70.0, Some("kg"))));
        assert_eq!(check(&w, q(70_000.0, Some("g"))), Ok(q(70.0, Some("kg"))));
        assert_eq!(check(&w, q(500.0, Some("kg"))), Ok(q(500.0, Some("kg"))));
        assert_eq!(check(&w, q(0.5, Some("kg"))), Ok(q(0.5, Some("kg"))));
        assert_eq!(
            check(&w, q(10_000.0, Some("kg"))),
            Err("body weight 10000 kg is outside 0.5-500 kg: not a weight".into())
        );
        assert!(check(&w, q(0.3, Some("kg"))).is_err());
        assert!(check(&w, q(-70.0, Some("kg"))).is_err());
        assert_eq!(
            check(&loinc("3141-9"), q(1200.0, Some("[lb_av]"))),
            Err(
                "body weight 1200 [lb_av] (544.310844 kg) is outside 0.5-500 kg: not a weight"
                    .into()
            )
        );
        assert_eq!(
            check(&w, q(70.0, Some("stone"))),
            Err("body weight 70 stone is not in a unit of mass".into())
        );
        assert_eq!(
            check(&w, q(70.0, None)),
            Err("body weight 70 (no unit) is not in a unit of mass".into())
        );
    }

    #[test]
    fn her2_numbers_outside_0_to_100_are_not_classified() {
        let ratio = loinc("49683-6");
        let copies = loinc("74860-8");
        assert_eq!(
            check(&ratio, q(2.3, Some("{ratio}"))),
            Ok(q(2.3, Some("{ratio}")))
        );
        assert_eq!(
            check(&ratio, Some(ObsValue::Text(" 2.3 ".into()))),
            Ok(q(2.3, None))
        );
        assert_eq!(check(&copies, Some(ObsValue::Integer(7))), Ok(q(7.0, None)));
        assert_eq!(
            check(&ratio, q(1e308, None)),
            Err("HER2/CEP17 ratio 1e308 is outside 0-100: not classified".into())
        );
        assert_eq!(
            check(&copies, q(-3.0, None)),
            Err("copy number per nucleus -3 is outside 0-100: not classified".into())
        );
        assert!(check(&ratio, Some(ObsValue::Text("NaN".into()))).is_err());
        // Not a number: left for the policy to read (or not).
        assert_eq!(
            check(&ratio, Some(ObsValue::Text("amplified".into()))),
            Ok(Some(ObsValue::Text("amplified".into())))
        );
        // Other observations are untouched.
        assert_eq!(check(&loinc("8302-2"), q(1e308, None)), Ok(q(1e308, None)));
    }
}
