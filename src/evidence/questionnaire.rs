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

use super::read::Reader;
use super::site::Site;
use super::{Answer, AnswerValue, GatherError, NamedResponse};

/// The QuestionnaireResponses of the request that name their Questionnaire.
pub(super) fn named(
    view: &BundleView<'_>,
    claim: &Site<'_>,
    typed: &model::ClaimParts,
) -> Vec<NamedResponse> {
    sites(view, claim, typed)
        .iter()
        .filter_map(|site| {
            let canonical = site.resource.get("questionnaire")?.as_str()?.trim();
            (!canonical.is_empty()).then(|| NamedResponse {
                resource: site.label.clone(),
                questionnaire: canonical.to_owned(),
            })
        })
        .collect()
}

/// The responses in the Bundle, and those contained in the Claim that `supportingInfo`
/// references.
fn sites<'a>(view: &BundleView<'a>, claim: &Site<'a>, typed: &model::ClaimParts) -> Vec<Site<'a>> {
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
        let contained = claim
            .resolve(view, reference)
            .filter(|s| s.resource_type == "QuestionnaireResponse")
            .filter(|site| !sites.iter().any(|s| s.path == site.path));
        sites.extend(contained);
    }
    sites
}

pub(super) fn gather(
    reader: &Reader<'_, '_>,
    claim: &Site<'_>,
    typed: &model::ClaimParts,
) -> Result<Vec<Answer>, GatherError> {
    let sites = sites(reader.view, claim, typed);
    let mut answers = Vec::new();
    for site in &sites {
        let Some(res) = reader.clinical::<model::QuestionnaireResponse>(site)? else {
            continue;
        };
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::evidence::testing::*;
    use crate::evidence::{AnswerValue, GatherError};

    fn response(id: &str, status: &str, items: Value) -> Value {
        json!({"resourceType": "QuestionnaireResponse", "id": id, "status": status,
            "questionnaire": "http://example.org/Questionnaire/kadcyla", "item": items})
    }

    #[test]
    fn nested_items_and_answers_are_flattened_in_order() -> Result<(), GatherError> {
        let qr = response(
            "qr1",
            "completed",
            json!([
                {"linkId": "request-type", "answer": [{"valueCoding": {"system": "http://example.org/cs", "code": " initial "}}]},
                {"linkId": "history", "item": [
                    {"linkId": "prior-trastuzumab", "answer": [{"valueBoolean": true}]},
                    {"linkId": "neoadjuvant-weeks", "answer": [{"valueInteger": 18}]},
                    {"linkId": "combination-agent", "answer": [{"valueString": "  neratinib "}]},
                    {"linkId": "blank", "answer": [{"valueString": "   "}]}]},
                {"linkId": "single-agent", "answer": [{"valueBoolean": false, "item": [
                    {"linkId": "combination-agent", "answer": [{"valueString": "pertuzumab"}]}]}]},
                {"linkId": "weight", "answer": [{"valueDecimal": 71.5}]},
                {"linkId": "last-dose", "answer": [{"valueDate": "2026-10-01"}, {"valueDate": "2026-10"}]},
                {"linkId": "seen", "answer": [{"valueDateTime": "2026-10-02T23:00:00-05:00"}]},
                {"linkId": "ignored", "answer": [{"valueUri": "http://x"}]}
            ]),
        );
        let raw = bundle(vec![claim(json!({})), qr]);
        let answers = gather_first(&raw)?.answers;
        let got: Vec<_> = answers
            .iter()
            .map(|a| (a.link_id.as_str(), a.value.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("request-type", AnswerValue::Code("initial".into())),
                ("prior-trastuzumab", AnswerValue::Boolean(true)),
                ("neoadjuvant-weeks", AnswerValue::Integer(18)),
                ("combination-agent", AnswerValue::Text("neratinib".into())),
                ("single-agent", AnswerValue::Boolean(false)),
                ("combination-agent", AnswerValue::Text("pertuzumab".into())),
                ("weight", AnswerValue::Decimal(71.5)),
                (
                    "last-dose",
                    AnswerValue::Date(ymd(2026, 10, 1).unwrap_or_default())
                ),
                (
                    "seen",
                    AnswerValue::Date(ymd(2026, 10, 2).unwrap_or_default())
                ),
            ]
        );
        let paths: Vec<_> = answers.iter().map(|a| a.source.path.as_str()).collect();
        assert_eq!(
            paths.get(1),
            Some(&"Bundle.entry[1].resource.item[1].item[0].answer[0]")
        );
        assert_eq!(
            paths.get(5),
            Some(&"Bundle.entry[1].resource.item[2].answer[0].item[0].answer[0]")
        );
        assert_eq!(
            answers.first().map(|a| a.source.resource.as_str()),
            Some("QuestionnaireResponse/qr1")
        );
        Ok(())
    }

    #[test]
    fn contained_responses_in_supporting_info_are_read_and_voided_ones_skipped()
    -> Result<(), GatherError> {
        let contained = response(
            "inner",
            "completed",
            json!([
            {"linkId": "cycles-received", "answer": [{"valueInteger": 4}]}]),
        );
        let voided = response(
            "void",
            "entered-in-error",
            json!([
            {"linkId": "disease-progression", "answer": [{"valueBoolean": true}]}]),
        );
        let in_bundle = response(
            "outer",
            "in-progress",
            json!([
            {"linkId": "disease-progression", "answer": [{"valueBoolean": false}]}]),
        );
        let raw = bundle(vec![
            claim(json!({"contained": [contained], "supportingInfo": [
                {"sequence": 1, "category": {"text": "questionnaire"}, "valueReference": {"reference": "#inner"}},
                {"sequence": 2, "category": {"text": "questionnaire"}, "valueReference": {"reference": "QuestionnaireResponse/outer"}}]})),
            voided,
            in_bundle,
        ]);
        let answers = gather_first(&raw)?.answers;
        let got: Vec<_> = answers
            .iter()
            .map(|a| (a.link_id.as_str(), a.value.clone(), a.source.path.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "disease-progression",
                    AnswerValue::Boolean(false),
                    "Bundle.entry[2].resource.item[0].answer[0]"
                ),
                (
                    "cycles-received",
                    AnswerValue::Integer(4),
                    "Bundle.entry[0].resource.contained[0].item[0].answer[0]"
                ),
            ]
        );
        Ok(())
    }
}
