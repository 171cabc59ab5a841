//! QuestionnaireResponse answers, flattened: nested groups (`item.item`) and questions under
//! answers (`answer.item`) are walked in document order, and each answer becomes one
//! [`Answer`] with the FHIRPath of that answer.
//!
//! Responses are read from the Bundle (whether or not `Claim.supportingInfo` points at them)
//! and from the Claim's contained resources that `supportingInfo` references. Entered-in-error
//! responses are skipped. Answer types no policy reads (time, uri, attachment, quantity,
//! reference) are skipped; a `valueDateTime` counts as its calendar date.

use crate::fhir::BundleView;
use crate::fhir::model::{
    self, ClaimSupportingInfoValue, QuestionnaireResponseItem,
    QuestionnaireResponseItemAnswerValue as Value,
};

use super::site::Site;
use super::{Answer, AnswerValue, GatherError};

pub(super) fn gather(
    view: &BundleView<'_>,
    claim: &Site<'_>,
    typed: &model::Claim,
) -> Result<Vec<Answer>, GatherError> {
    let mut sites: Vec<Site<'_>> = view
        .of_type("QuestionnaireResponse")
        .map(Site::of)
        .collect();
    for info in typed.supporting_info.iter().flatten() {
        let Some(ClaimSupportingInfoValue::Reference(r)) = &info.value else {
            continue;
        };
        let Some(reference) = model::reference(r).filter(|r| r.starts_with('#')) else {
            continue;
        };
        let contained = claim.resolve(view, reference);
        if let Some(site) = contained.filter(|s| s.resource_type == "QuestionnaireResponse") {
            if !sites.iter().any(|s| s.path == site.path) {
                sites.push(site);
            }
        }
    }
    let mut answers = Vec::new();
    for site in &sites {
        let res: model::QuestionnaireResponse = model::parse(site.resource, &site.path)?;
        if res.status.as_ref() == "entered-in-error" {
            continue;
        }
        walk(site, &res.item, "", &mut answers);
    }
    Ok(answers)
}

fn walk(
    site: &Site<'_>,
    items: &[Option<QuestionnaireResponseItem>],
    prefix: &str,
    out: &mut Vec<Answer>,
) {
    for (j, item) in items.iter().enumerate() {
        let Some(item) = item else { continue };
        let item_path = format!("{prefix}.item[{j}]");
        let link_id = item.link_id.trim();
        for (a, answer) in item.answer.iter().enumerate() {
            let Some(answer) = answer else { continue };
            let answer_path = format!("{item_path}.answer[{a}]");
            if let Some(value) = answer.value.as_ref().and_then(answer_value) {
                out.push(Answer {
                    link_id: link_id.to_owned(),
                    value,
                    source: site.source(&answer_path),
                });
            }
            walk(site, &answer.item, &answer_path, out);
        }
        walk(site, &item.item, &item_path, out);
    }
}

fn answer_value(value: &Value) -> Option<AnswerValue> {
    Some(match value {
        Value::Boolean(b) => AnswerValue::Boolean(*b),
        Value::Integer(i) => AnswerValue::Integer(i64::from(*i)),
        Value::Decimal(d) => AnswerValue::Decimal(*d),
        Value::Coding(c) => AnswerValue::Code(model::coding(c)?.code),
        Value::String(s) => AnswerValue::Text(model::non_blank(Some(s))?),
        Value::Date(d) => AnswerValue::Date(model::date(d)?),
        Value::DateTime(dt) => AnswerValue::Date(model::date_time(dt)?),
        _ => return None,
    })
}
