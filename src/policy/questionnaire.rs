//! The FHIR R4 Questionnaire a policy publishes, generated from its `questions`, so that the
//! linkIds an EHR answers are exactly the ones the criteria read.

use serde_json::{Value, json};

use super::Policy;
use super::model::QuestionType;

pub fn build(policy: &Policy) -> Value {
    let items: Vec<Value> = policy
        .questions
        .iter()
        .map(|q| {
            let mut item = json!({
                "linkId": q.link_id,
                "text": q.text,
                "type": q.kind.fhir_code(),
                "required": false,
            });
            if q.kind == QuestionType::Choice {
                item["answerOption"] = q
                    .options
                    .iter()
                    .map(|o| json!({ "valueCoding": { "code": o, "display": o } }))
                    .collect();
            }
            item
        })
        .collect();
    json!({
        "resourceType": "Questionnaire",
        "id": policy.questionnaire_id,
        "url": policy.questionnaire_meta.url,
        "version": policy.revision,
        "name": policy.questionnaire_meta.name,
        "title": policy.questionnaire_meta.title,
        "status": "active",
        "subjectType": ["Patient"],
        "description": format!("Questions for facts EHRs rarely code, read by policy {} revision {}", policy.id, policy.revision),
        "item": items,
    })
}
