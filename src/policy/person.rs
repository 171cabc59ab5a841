//! Leaves about the patient and the course of the disease: age at the requested start, and
//! therapy given since a condition's onset (e.g. chemotherapy in the metastatic setting).

use chrono::NaiveDate;

use super::engine::Ctx;
use super::leaf::{LeafResult, Tri, cite, history};

/// Age in whole years at the requested start: at least `min` met, under it failed, no birth
/// date missing.
pub fn age(ctx: &Ctx<'_>, min: u32) -> LeafResult {
    let Some(born) = ctx.facts.birth_date else {
        return LeafResult::new(Tri::Open, "the patient's birth date is not documented");
    };
    let Some(years) = ctx.start.years_since(born) else {
        return LeafResult::new(
            Tri::Open,
            format!(
                "birth date {born} is after the requested start {}",
                ctx.start
            ),
        );
    };
    let why = format!("{years} years old on {} (born {born})", ctx.start);
    LeafResult::new(if years >= min { Tri::Met } else { Tri::NotMet }, why)
}

/// The onset of a condition: the earliest date of a diagnosis in `diagnoses`, or of an
/// Observation coded in the first value set of `observation` and valued in the second.
fn onset(ctx: &Ctx<'_>, diagnoses: &str, observation: Option<(&str, &str)>) -> Option<NaiveDate> {
    let dx = ctx.policy.vs(diagnoses);
    let from_dx = ctx
        .facts
        .diagnoses
        .iter()
        .filter(|d| dx.contains(&d.code))
        .filter_map(|d| d.date);
    let from_obs = observation.into_iter().flat_map(|(code, value)| {
        let (code, value) = (ctx.policy.vs(code), ctx.policy.vs(value));
        ctx.facts
            .observations
            .iter()
            .filter(move |o| code.contains_any(&o.codes))
            .filter(move |o| o.value.as_ref().is_some_and(|v| value.matches_value(v)))
            .filter_map(|o| o.date)
    });
    from_dx.chain(from_obs).min()
}

/// A course in `value_set` that started on or after the onset and before the request: met;
/// otherwise open (an answer or the policy's `absent` decides).
pub fn therapy_since(
    ctx: &Ctx<'_>,
    value_set: &str,
    diagnoses: &str,
    observation: Option<(&str, &str)>,
) -> LeafResult {
    let vs = ctx.policy.vs(value_set);
    let Some(onset) = onset(ctx, diagnoses, observation) else {
        return LeafResult::new(
            Tri::Open,
            format!(
                "no dated {} to place {} after",
                ctx.policy.vs(diagnoses).description,
                vs.description
            ),
        );
    };
    let since: Vec<String> = history(ctx, value_set)
        .into_iter()
        .filter(|m| m.start.is_some_and(|s| s >= onset))
        .map(|m| cite(&m.source))
        .collect();
    if since.is_empty() {
        LeafResult::new(
            Tri::Open,
            format!("no {} documented since {onset}", vs.description),
        )
    } else {
        LeafResult::new(
            Tri::Met,
            format!("{} since {onset} ({})", vs.description, since.join(", ")),
        )
    }
}
