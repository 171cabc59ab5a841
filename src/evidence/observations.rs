//! Observations: every Observation in the Bundle with all its codings, its typed value and its
//! components (a dual-probe ISH panel 74885-5 carries its ratio and copy number as components;
//! a genomic variant 69548-6 names its gene in component 48018-6).
//!
//! Entered-in-error and cancelled Observations are no evidence. An Observation without a value
//! (a `dataAbsentReason`, a panel) still counts, with no value. Values of types no policy reads
//! (Range, Ratio, SampledData, Time, DateTime, Period) are absent rather than approximated.
//! The date is `effective[x]` (a period's start) or else `issued`.

use crate::fhir::BundleView;
use crate::fhir::model::{self, ObservationComponentValue, ObservationEffective, ObservationValue};

use super::site::Site;
use super::{Component, GatherError, ObsValue, Observation};

pub(super) fn gather(view: &BundleView<'_>) -> Result<Vec<Observation>, GatherError> {
    let mut observations = Vec::new();
    for entry in view.of_type("Observation") {
        let site = Site::of(entry);
        let res: model::Observation = model::parse(site.resource, &site.path)?;
        if matches!(res.status.as_ref(), "entered-in-error" | "cancelled") {
            continue;
        }
        let components = res
            .component
            .iter()
            .flatten()
            .map(|c| Component {
                codes: model::codes(&c.code),
                value: c.value.as_ref().and_then(component_value),
            })
            .collect();
        let date = match &res.effective {
            Some(ObservationEffective::DateTime(dt)) => model::date_time(dt),
            Some(ObservationEffective::Period(p)) => model::period(p).0,
            Some(ObservationEffective::Instant(i)) => model::instant(i),
            Some(ObservationEffective::Timing(_)) | None => None,
        }
        .or_else(|| res.issued.as_ref().and_then(model::instant));
        observations.push(Observation {
            codes: model::codes(&res.code),
            value: res.value.as_ref().and_then(value),
            components,
            date,
            source: site.source(""),
        });
    }
    Ok(observations)
}

fn value(v: &ObservationValue) -> Option<ObsValue> {
    match v {
        ObservationValue::Quantity(q) => quantity(q),
        ObservationValue::CodeableConcept(cc) => coded(cc),
        ObservationValue::String(s) => text(s),
        ObservationValue::Boolean(b) => Some(ObsValue::Boolean(*b)),
        ObservationValue::Integer(i) => Some(ObsValue::Integer(i64::from(*i))),
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

fn coded(cc: &model::CodeableConcept) -> Option<ObsValue> {
    let codes = model::codes(cc);
    let text = model::text(cc);
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
                    quantity(154.3, "[lb_av]"),
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
                ("Observation/ratio", vec![loinc("49683-6")], None, None),
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

        // fhir-sdk reads a malformed choice element (`effective[x]`, `value[x]`) as absent...
        let odd = gathered(vec![obs(
            "odd",
            "2",
            json!({"effectiveDateTime": "2026-02-30",
            "valueQuantity": {"value": "many"}}),
        )])?;
        let got: Vec<_> = odd.iter().map(|o| (o.date, o.value.clone())).collect();
        assert_eq!(got, vec![(None, None)]);
        // ...but a malformed plain element makes the resource unreadable, named by its path.
        let bad = gathered(vec![
            obs("ok", "1", json!({})),
            obs("bad", "2", json!({"issued": "2026-02-30T10:00:00Z"})),
        ]);
        assert_eq!(
            bad.err().map(|e| e.path),
            Some("Bundle.entry[2].resource".to_owned())
        );
        Ok(())
    }
}
