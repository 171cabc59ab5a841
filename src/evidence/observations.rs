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
