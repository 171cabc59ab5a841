//! The decision trace stored with every answer: per item, the answer, the policy and every
//! criterion with its evidence, so that a reviewer can see later why it was given; and the
//! reading of it back into what the stored response says of each item.

use serde_json::{Value, json};

use crate::pas::response::CANCELLED_CODE;
use crate::pas::{ItemAnswer, Verdict};
use crate::policy::decision::ReviewAction;

/// What a response says of one item: its sequence and review action (A1, A6, A3, A4 or `C`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemAction {
    pub sequence: u32,
    pub code: &'static str,
}

impl ItemAction {
    pub fn of(answer: &ItemAnswer) -> Self {
        Self {
            sequence: answer.sequence,
            code: answer.review_code(),
        }
    }
}

/// The trace of an answer, item by item in Claim order.
pub(crate) fn encode(answers: &[ItemAnswer]) -> Value {
    Value::Array(
        answers
            .iter()
            .map(|answer| {
                let mut entry = json!({
                    "sequence": answer.sequence,
                    "action": answer.review_code(),
                    "cancelled": matches!(answer.verdict, Verdict::Cancelled),
                    "number": answer.authorization_number,
                    "authorization": Value::Null,
                    "summary": "cancelled by the submitter",
                    "documents": [],
                    "policy": Value::Null,
                    "criteria": [],
                });
                if let Some(d) = answer.decision() {
                    entry["authorization"] = json!(d.outcome.authorization().map(|a| json!({
                        "quantity": a.quantity,
                        "start": a.period.start.to_string(),
                        "end": a.period.end.to_string(),
                    })));
                    entry["summary"] = json!(d.summary);
                    // What a reviewer of a pended item is shown as asked for.
                    if let crate::policy::Outcome::Pended { documents } = &d.outcome {
                        entry["documents"] = json!(documents);
                    }
                    entry["policy"] = json!(
                        d.policy
                            .as_ref()
                            .map(|p| json!({"id": p.id, "revision": p.revision}))
                    );
                    entry["criteria"] = Value::Array(
                        d.criteria
                            .iter()
                            .map(|c| {
                                json!({
                                    "id": c.id,
                                    // The criterion's wording, for the reviewer's criteria tree.
                                    "text": c.text,
                                    "status": c.status.as_str(),
                                    "because": c.because,
                                })
                            })
                            .collect(),
                    );
                }
                entry
            })
            .collect(),
    )
}

/// What a stored answer said of each item, from its trace. Traces written before cancelled
/// items were answered `C` in the trace carry the engine's action with `cancelled: true`:
/// those read as `C`, as their response said.
pub fn actions(trace: &Value) -> Vec<ItemAction> {
    trace
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let sequence = entry
                .get("sequence")
                .and_then(Value::as_u64)
                .and_then(|s| u32::try_from(s).ok())?;
            let code = if entry.get("cancelled").and_then(Value::as_bool) == Some(true) {
                CANCELLED_CODE
            } else {
                ReviewAction::from_code(entry.get("action").and_then(Value::as_str)?)?.code()
            };
            Some(ItemAction { sequence, code })
        })
        .collect()
}

/// The sequences a stored answer answered, in its order.
pub(super) fn sequences(trace: &Value) -> Vec<u32> {
    entries(trace).map(|(sequence, _)| sequence).collect()
}

/// The authorization number a stored answer gave item `sequence` (issued, or cancelled).
pub(crate) fn number(trace: &Value, sequence: u32) -> Option<String> {
    entries(trace)
        .find(|(s, _)| *s == sequence)
        .and_then(|(_, entry)| entry.get("number").and_then(Value::as_str))
        .map(str::to_owned)
}

fn entries(trace: &Value) -> impl Iterator<Item = (u32, &Value)> {
    trace.as_array().into_iter().flatten().filter_map(|entry| {
        let sequence = entry
            .get("sequence")
            .and_then(Value::as_u64)
            .and_then(|s| u32::try_from(s).ok())?;
        Some((sequence, entry))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_actions_read_cancelled_items_as_c() {
        let trace = json!([
            {"sequence": 1, "action": "A1", "cancelled": false},
            {"sequence": 2, "action": "A4", "cancelled": true},
            {"sequence": 3, "action": "C", "cancelled": true},
        ]);
        assert_eq!(
            actions(&trace),
            [
                ItemAction {
                    sequence: 1,
                    code: "A1"
                },
                ItemAction {
                    sequence: 2,
                    code: "C"
                },
                ItemAction {
                    sequence: 3,
                    code: "C"
                },
            ]
        );
        let encoded = encode(&[ItemAnswer::cancelled(7, Some("PA-1".into()))]);
        assert_eq!(
            actions(&encoded),
            [ItemAction {
                sequence: 7,
                code: "C"
            }]
        );
        assert_eq!(encoded[0]["action"], "C");
        assert_eq!(number(&encoded, 7).as_deref(), Some("PA-1"));
        assert_eq!(sequences(&encoded), [7]);
    }
}
