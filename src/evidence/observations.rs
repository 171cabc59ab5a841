//! Observations: every Observation in the Bundle with all its codings, its typed value and its
//! components (a dual-probe ISH panel 74885-5 carries its ratio and copy number as components;
//! a genomic variant 69548-6 names its gene in component 48018-6).
//!
//! Entered-in-error and cancelled Observations are no evidence; one without a status counts
//! (see [`super::read`]). An Observation without a value (a `dataAbsentReason`, a panel) still
//! counts, with no value. Values are typed as the policies read them:
//! - `valueRatio` (a HER2/CEP17 ratio sent as numerator / denominator, or signals over nuclei)
//!   is its quotient, a Quantity without unit; a zero denominator is no value;
//! - numbers outside a plausible range are set aside ([`super::plausible`]); a numeric string
//!   of a HER2 number is read as its number;
//! - a coding without a code but with a display (`{"system": HGNC, "display": "ERBB2"}`) gives
//!   its display as the value's text when the concept has no text;
//! - Range, SampledData, Time, DateTime and Period values are absent rather than approximated.
//!
//! The date is `effective[x]` (a period's start) or else `issued`; a partial date is its
//! first day (see [`super::facts`]).

use crate::fhir::model::{self, ObservationComponentValue, ObservationEffective, ObservationValue};

use super::read::Reader;
use super::site::Site;
use super::{Component, GatherError, ObsValue, Observation, plausible};

pub(super) fn gather(reader: &Reader<'_, '_>) -> Result<Vec<Observation>, GatherError> {
    let mut observations = Vec::new();
    for entry in reader.view.of_type("Observation") {
        let site = Site::of(entry);
        let Some(res) = reader.clinical::<model::Observation>(&site)? else {
            continue;
        };
        if matches!(res.status.as_ref(), "entered-in-error" | "cancelled") {
            continue;
        }
        let mut components = Vec::new();
        for (k, c) in res.component.iter().enumerate() {
            let Some(c) = c else { continue };
            let codes = model::codes(&c.code);
            let value = c.value.as_ref().and_then(component_value);
            let value = checked(reader, &site, &format!(".component[{k}]"), &codes, value);
            components.push(Component { codes, value });
        }
        let date = match &res.effective {
            Some(ObservationEffective::DateTime(dt)) => first_day(dt),
            Some(ObservationEffective::Period(p)) => model::period_bounds(p).0,
            Some(ObservationEffective::Instant(i)) => model::instant(i),
            Some(ObservationEffective::Timing(_)) | None => None,
        }
        .or_else(|| res.issued.as_ref().and_then(model::instant));
        let codes = model::codes(&res.code);
        let value = res.value.as_ref().and_then(value);
        let value = checked(reader, &site, "", &codes, value);
        observations.push(Observation {
            codes,
            value,
            components,
            date,
            source: site.source(""),
        });
    }
    Ok(observations)
}

/// A value that passes [`plausible::check`]; one that does not is set aside, naming it.
fn checked(
    reader: &Reader<'_, '_>,
    site: &Site<'_>,
    suffix: &str,
    codes: &[crate::fhir::Code],
    value: Option<ObsValue>,
) -> Option<ObsValue> {
    match plausible::check(codes, value) {
        Ok(value) => value,
        Err(reason) => {
            reader.set_aside(site, suffix, reason);
            None
        }
    }
}

fn first_day(dt: &model::DateTime) -> Option<chrono::NaiveDate> {
    model::date_time_bounds(dt).map(|(first, _)| first)
}

fn value(v: &ObservationValue) -> Option<ObsValue> {
    match v {
        ObservationValue::Quantity(q) => quantity(q),
        ObservationValue::CodeableConcept(cc) => coded(cc),
        ObservationValue::String(s) => text(s),
        ObservationValue::Boolean(b) => Some(ObsValue::Boolean(*b)),
        ObservationValue::Integer(i) => Some(ObsValue::Integer(i64::from(*i))),
        ObservationValue::Ratio(r) => ratio(r),
        _ => None,
    }
}

fn component_value(v: &ObservationComponentValue) -> Option<ObsValue> {
    match v {
        ObservationComponentValue::Quantity(q) => quantity(q),
        ObservationComponentValue::CodeableConcept(cc) => coded(cc),
        ObservationComponentValue::String(s) => text(s),
        ObservationComponentValue::Boolean(b) => Some(ObsValue::Boolean(*b)),
        ObservationComponentValue::Integer(i) => Some(ObsValue::Integer(i64::from(*i))),
        ObservationComponentValue::Ratio(r) => ratio(r),
        _ => None,
    }
}

fn quantity(q: &model::Quantity) -> Option<ObsValue> {
    let (value, unit) = model::quantity(q)?;
    Some(ObsValue::Quantity {
        value,
        unit,
        comparator: model::comparator(q),
    })
}

fn ratio(r: &model::Ratio) -> Option<ObsValue> {
    let (value, comparator) = model::ratio(r)?;
    Some(ObsValue::Quantity {
        value,
        unit: None,
        comparator,
    })
}

fn coded(cc: &model::CodeableConcept) -> Option<ObsValue> {
    let codes = model::codes(cc);
    let text = model::text(cc).or_else(|| {
        // A coding with a display and no code (a gene named by its symbol) says what the
        // value is in words; a coding with a code is read by its code only.
        cc.coding
            .iter()
            .flatten()
            .filter(|c| model::coding(c).is_none())
            .find_map(|c| model::non_blank(c.display.as_deref()))
    });
    (!codes.is_empty() || text.is_some()).then_some(ObsValue::Coded { codes, text })
}

fn text(s: &str) -> Option<ObsValue> {
    model::non_blank(Some(s)).map(ObsValue::Text)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::evidence::testing::*;
    use crate::evidence::{Component, GatherError, ObsValue, Observation};
    use crate::fhir::{Code, CodeSystem};

    fn obs(id: &str, loinc: &str, extra: Value) -> Value {
        let mut o = json!({"resourceType": "Observation", "id": id, "status": "final",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": LOINC, "code": loinc}]}});
        if let (Some(o), Some(extra)) = (o.as_object_mut(), extra.as_object()) {
            o.extend(extra.clone());
        }
        o
    }

    fn gathered(resources: Vec<Value>) -> Result<Vec<Observation>, GatherError> {
        let mut all = vec![claim(json!({}))];
        all.extend(resources);
        Ok(gather_first(&bundle(all))?.observations)
    }

    fn loinc(c: &str) -> Code {
        code(CodeSystem::Loinc, c)
    }

    fn quantity(value: f64, unit: &str) -> Option<ObsValue> {
        Some(ObsValue::Quantity {
            value,
            unit: Some(unit.to_owned()),
            comparator: None,
        })
    }

    #[test]
    fn values_are_typed() -> Result<(), GatherError> {
        let found = gathered(vec![
            obs(
                "ihc-coded",
                "85319-2",
                json!({"effectiveDateTime": "2026-10-01T09:00:00+02:00",
                "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA11843-2", "display": "3+"}], "text": " 3+ "}}),
            ),
            obs(
                "ihc-text",
                "18474-7",
                json!({"valueString": " 3+ ", "issued": "2026-10-02T23:59:00-07:00"}),
            ),
            obs(
                "weight",
                "29463-7",
                json!({"effectivePeriod": {"start": "2026-11-01", "end": "2026-11-02"},
                "valueQuantity": {"value": 154.3, "unit": "lb", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}}),
            ),
            obs(
                "copies",
                "74860-8",
                json!({"valueQuantity": {"value": 4.0, "comparator": "<"}}),
            ),
            obs(
                "flag",
                "x",
                json!({"valueBoolean": true, "effectiveInstant": "2026-01-05T10:00:00Z"}),
            ),
            obs("count", "y", json!({"valueInteger": 14})),
            obs(
                "absent",
                "85318-4",
                json!({"dataAbsentReason": {"text": "not done"}}),
            ),
            obs(
                "ratio",
                "49683-6",
                json!({"valueRatio": {"numerator": {"value": 2}, "denominator": {"value": 1}}}),
            ),
        ])?;
        let got: Vec<_> = found
            .iter()
            .map(|o| {
                (
                    o.source.resource.as_str(),
                    o.codes.clone(),
                    o.value.clone(),
                    o.date,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "Observation/ihc-coded",
                    vec![loinc("85319-2")],
                    Some(ObsValue::Coded {
                        codes: vec![loinc("LA11843-2")],
                        text: Some("3+".into())
                    }),
                    ymd(2026, 10, 1)
                ),
                (
                    "Observation/ihc-text",
                    vec![loinc("18474-7")],
                    Some(ObsValue::Text("3+".into())),
                    ymd(2026, 10, 2)
                ),
                (
                    "Observation/weight",
                    vec![loinc("29463-7")],
                    // Body weight is read in kg (plausible.rs).
                    quantity(154.3 * 0.453_592_37, "kg"),
                    ymd(2026, 11, 1)
                ),
                (
                    "Observation/copies",
                    vec![loinc("74860-8")],
                    Some(ObsValue::Quantity {
                        value: 4.0,
                        unit: None,
                        comparator: Some("<".into())
                    }),
                    None
                ),
                (
                    "Observation/flag",
                    vec![loinc("x")],
                    Some(ObsValue::Boolean(true)),
                    ymd(2026, 1, 5)
                ),
                (
                    "Observation/count",
                    vec![loinc("y")],
                    Some(ObsValue::Integer(14)),
                    None
                ),
                ("Observation/absent", vec![loinc("85318-4")], None, None),
                (
                    "Observation/ratio",
                    vec![loinc("49683-6")],
                    Some(ObsValue::Quantity {
                        value: 2.0,
                        unit: None,
                        comparator: None
                    }),
                    None
                ),
            ]
        );
        assert_eq!(
            found.first().map(|o| o.source.path.as_str()),
            Some("Bundle.entry[1].resource")
        );
        Ok(())
    }

    #[test]
    fn panels_keep_their_components() -> Result<(), GatherError> {
        let found = gathered(vec![
            obs(
                "ish",
                "74885-5",
                json!({"effectiveDateTime": "2026-09-30", "component": [
                {"code": {"coding": [{"system": LOINC, "code": "49683-6"}]},
                 "valueQuantity": {"value": 2.4, "system": "http://unitsofmeasure.org", "code": "{ratio}"}},
                {"code": {"coding": [{"system": LOINC, "code": "74860-8"}]},
                 "valueQuantity": {"value": 5.1, "unit": "{copies}/{nucleus}"}}]}),
            ),
            obs(
                "variant",
                "69548-6",
                json!({
                "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9633-4"}]},
                "component": [{"code": {"coding": [{"system": LOINC, "code": "48018-6"}]},
                    "valueCodeableConcept": {"coding": [{"system": "http://www.genenames.org/geneId", "code": "HGNC:3430", "display": "ERBB2"}]}}]}),
            ),
        ])?;
        let got: Vec<_> = found.iter().map(|o| o.components.clone()).collect();
        assert_eq!(
            got,
            vec![
                vec![
                    Component {
                        codes: vec![loinc("49683-6")],
                        value: quantity(2.4, "{ratio}")
                    },
                    Component {
                        codes: vec![loinc("74860-8")],
                        value: quantity(5.1, "{copies}/{nucleus}")
                    },
                ],
                vec![Component {
                    codes: vec![loinc("48018-6")],
                    value: Some(ObsValue::Coded {
                        codes: vec![Code::new("http://www.genenames.org/geneId", "HGNC:3430")],
                        text: None,
                    }),
                }],
            ]
        );
        assert_eq!(found.first().and_then(|o| o.value.clone()), None);
        Ok(())
    }

    #[test]
    fn voided_observations_are_skipped_and_bad_ones_are_located() -> Result<(), GatherError> {
        let found = gathered(vec![
            obs(
                "err",
                "85319-2",
                json!({"status": "entered-in-error", "valueString": "3+"}),
            ),
            obs(
                "cancel",
                "85319-2",
                json!({"status": "cancelled", "valueString": "3+"}),
            ),
            obs(
                "prelim",
                "85319-2",
                json!({"status": "preliminary", "valueString": "2+"}),
            ),
        ])?;
        let got: Vec<_> = found.iter().map(|o| o.source.resource.as_str()).collect();
        assert_eq!(got, vec!["Observation/prelim"]);

        // fhir-sdk reads a malformed value[x] as absent...
        let odd = gathered(vec![obs(
            "odd",
            "2",
            json!({"valueQuantity": {"value": "many"}}),
        )])?;
        let got: Vec<_> = odd.iter().map(|o| o.value.clone()).collect();
        assert_eq!(got, vec![None]);
        // ...but a date that is not a calendar date is a malformed request, at the element,
        // whether in a choice element or a plain one (decisions.md section 7).
        for (extra, element) in [
            (
                json!({"effectiveDateTime": "2026-02-30"}),
                "effectiveDateTime",
            ),
            (json!({"issued": "2026-02-30T10:00:00Z"}), "issued"),
            (
                json!({"effectivePeriod": {"start": "2026-01-01", "end": "2026-13"}}),
                "effectivePeriod.end",
            ),
        ] {
            let bad = gathered(vec![obs("ok", "1", json!({})), obs("bad", "2", extra)]);
            assert_eq!(
                bad.err().map(|e| e.path),
                Some(format!("Bundle.entry[2].resource.{element}"))
            );
        }
        Ok(())
    }

    /// Issue 10, numbers in other value types: a ratio as valueRatio, a Quantity without unit
    /// or a string; copy numbers likewise; numbers outside 0-100 set aside (section 7).
    #[test]
    fn her2_numbers_in_every_value_type() -> Result<(), GatherError> {
        let component = |code: &str, value: Value| {
            let mut c = json!({"code": {"coding": [{"system": LOINC, "code": code}]}});
            if let (Some(c), Some(v)) = (c.as_object_mut(), value.as_object()) {
                c.extend(v.clone());
            }
            c
        };
        let facts = gather_first(&bundle(vec![
            claim(json!({})),
            obs(
                "panel",
                "74885-5",
                json!({"component": [
                    component("49683-6", json!({"valueRatio": {"numerator": {"value": 4.6}, "denominator": {"value": 2.0}}})),
                    component("74860-8", json!({"valueRatio": {"numerator": {"value": 46}, "denominator": {"value": 10}}})),
                    component("74861-6", json!({"valueString": "2.0"}))]}),
            ),
            obs("ratio-text", "49683-6", json!({"valueString": "2.3"})),
            obs(
                "ratio-zero-den",
                "49683-6",
                json!({"valueRatio": {"numerator": {"value": 2}, "denominator": {"value": 0}}}),
            ),
            obs(
                "ratio-huge",
                "49683-6",
                json!({"valueQuantity": {"value": 1e308}}),
            ),
            obs(
                "copies-negative",
                "74860-8",
                json!({"valueQuantity": {"value": -3, "unit": "{copies}/{nucleus}"}}),
            ),
        ]))?;
        let plain = |v: f64| {
            Some(ObsValue::Quantity {
                value: v,
                unit: None,
                comparator: None,
            })
        };
        let panel: Vec<Option<ObsValue>> = facts
            .observations
            .first()
            .map(|o| o.components.iter().map(|c| c.value.clone()).collect())
            .unwrap_or_default();
        assert_eq!(panel, vec![plain(2.3), plain(4.6), plain(2.0)]);
        let values: Vec<(&str, Option<ObsValue>)> = facts
            .observations
            .iter()
            .skip(1)
            .map(|o| (o.source.resource.as_str(), o.value.clone()))
            .collect();
        assert_eq!(
            values,
            vec![
                ("Observation/ratio-text", plain(2.3)),
                ("Observation/ratio-zero-den", None),
                ("Observation/ratio-huge", None),
                ("Observation/copies-negative", None),
            ]
        );
        let set_aside: Vec<(&str, &str)> = facts
            .set_aside
            .iter()
            .map(|s| (s.source.path.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            set_aside,
            vec![
                (
                    "Bundle.entry[4].resource",
                    "HER2/CEP17 ratio 1e308 is outside 0-100: not classified"
                ),
                (
                    "Bundle.entry[5].resource",
                    "copy number per nucleus -3 is outside 0-100: not classified"
                ),
            ]
        );
        Ok(())
    }

    /// Issue 10, gene identity: every HGNC spelling meets in one code; a gene named by its
    /// symbol only (a coding with a display and no code) gives the symbol as text.
    #[test]
    fn gene_identity_in_any_spelling() -> Result<(), GatherError> {
        let gene = |id: &str, concept: Value| {
            obs(
                id,
                "69548-6",
                json!({"component": [{"code": {"coding": [{"system": LOINC, "code": "48018-6"}]},
                    "valueCodeableConcept": concept}]}),
            )
        };
        let found = gathered(vec![
            gene(
                "https",
                json!({"coding": [{"system": "https://www.genenames.org/", "code": "3430"}]}),
            ),
            gene(
                "bare",
                json!({"coding": [{"system": "http://www.genenames.org", "code": "HGNC:3430"}]}),
            ),
            gene(
                "symbol",
                json!({"coding": [{"system": "http://www.genenames.org/geneId", "display": "ERBB2"}]}),
            ),
        ])?;
        let got: Vec<Option<ObsValue>> = found
            .iter()
            .flat_map(|o| o.components.iter().map(|c| c.value.clone()))
            .collect();
        let hgnc = Code::new("http://www.genenames.org/geneId", "HGNC:3430");
        assert_eq!(
            got,
            vec![
                Some(ObsValue::Coded {
                    codes: vec![hgnc.clone()],
                    text: None
                }),
                Some(ObsValue::Coded {
                    codes: vec![hgnc],
                    text: None
                }),
                Some(ObsValue::Coded {
                    codes: vec![],
                    text: Some("ERBB2".into())
                }),
            ]
        );
        Ok(())
    }
}
