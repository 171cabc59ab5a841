//! Review cases as reviewers see them: the JSON of workflow.md section 4 (and the data the
//! reviewer page renders).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{CaseRecord, ReviewClock, pended_sequences};
use crate::store::{Store, StoreError, StoredSubmission};

/// A case with the versions it is about.
#[derive(Debug, Clone)]
pub struct Case {
    pub record: CaseRecord,
    /// The version whose pended items the case is about.
    pub opened: StoredSubmission,
    /// The version that closed it.
    pub closing: Option<StoredSubmission>,
}

impl Case {
    pub async fn load(store: &Store, record: CaseRecord) -> Result<Self, StoreError> {
        let opened = store
            .get(&record.opened_by)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("submission `{}`", record.opened_by)))?;
        let closing = match &record.closed {
            Some(closing) => store.get(&closing.by).await?,
            None => None,
        };
        Ok(Self {
            record,
            opened,
            closing,
        })
    }

    /// The sequences of the items this case is about.
    pub fn pended(&self) -> Vec<u32> {
        pended_sequences(&self.opened.decision_trace)
    }

    /// The opening version's trace entry of item `sequence`.
    pub fn trace_item(&self, sequence: u32) -> Option<&Value> {
        trace_item(&self.opened.decision_trace, sequence)
    }
}

pub fn trace_item(trace: &Value, sequence: u32) -> Option<&Value> {
    trace
        .as_array()?
        .iter()
        .find(|i| i.get("sequence").and_then(Value::as_u64) == Some(u64::from(sequence)))
}

pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn strings(value: Option<&Value>) -> Vec<Value> {
    value.and_then(Value::as_array).cloned().unwrap_or_default()
}

/// The criteria the engine could not settle for an item (status `missing`).
pub fn missing_criteria(item: &Value) -> Vec<String> {
    item.get("criteria")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("status").and_then(Value::as_str) == Some("missing"))
        .filter_map(|c| c.get("id").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// The case as `GET /review/cases` lists it.
pub fn summary(case: &Case, clock: &ReviewClock, now: DateTime<Utc>) -> Value {
    let record = &case.record;
    let due = clock.due_of(record);
    let items: Vec<Value> = case
        .pended()
        .into_iter()
        .map(|sequence| {
            let item = case.trace_item(sequence).cloned().unwrap_or(Value::Null);
            let action = case
                .closing
                .as_ref()
                .and_then(|c| trace_item(&c.decision_trace, sequence))
                .and_then(|i| i.get("action"))
                .cloned()
                .unwrap_or_else(|| json!("A4"));
            json!({
                "sequence": sequence,
                "action": action,
                "policy": item.pointer("/policy/id").cloned().unwrap_or(Value::Null),
                "missing": missing_criteria(&item),
                "documents": strings(item.get("documents")),
            })
        })
        .collect();
    let mut value = json!({
        "id": record.id,
        "version": record.version,
        "claimIdentifier": case.opened.claim_identifier,
        "receivedAt": time(record.received_at),
        "dueAt": time(due),
        "priority": record.priority.as_str(),
        "status": if record.is_open() { "open" } else { "closed" },
        "overdue": clock.overdue(record, now),
        "items": items,
    });
    if let Some(closing) = &record.closed {
        value["closedAt"] = json!(time(closing.at));
        value["closedBy"] = json!(closing.how.as_str());
    } else {
        value["secondsLeft"] = json!((due - now).num_seconds());
    }
    value
}

/// The case as `GET /review/cases/{id}` shows it: the summary, each pended item's criteria
/// and the engine's summary, and the answer history of the authorization.
pub async fn detail(
    store: &Store,
    case: &Case,
    clock: &ReviewClock,
    now: DateTime<Utc>,
) -> Result<Value, StoreError> {
    let mut value = summary(case, clock, now);
    if let Some(items) = value.get_mut("items").and_then(Value::as_array_mut) {
        for item in items {
            let Some(sequence) = item
                .get("sequence")
                .and_then(Value::as_u64)
                .and_then(|s| u32::try_from(s).ok())
            else {
                continue;
            };
            if let Some(trace) = case.trace_item(sequence) {
                item["summary"] = trace.get("summary").cloned().unwrap_or(Value::Null);
                item["criteria"] = trace.get("criteria").cloned().unwrap_or(json!([]));
            }
        }
    }
    let history = store.answer_history(&case.record.chain_id).await?;
    value["history"] = Value::Array(
        history
            .iter()
            .map(|(version, origin)| {
                let actions: Vec<Value> = version
                    .decision_trace
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| json!({"sequence": i.get("sequence"), "action": i.get("action")}))
                    .collect();
                json!({
                    "version": version.version,
                    "status": version.status.as_str(),
                    "answeredBy": origin.as_ref().map(|o| o.answered_by.as_str()),
                    "reviewer": origin.as_ref().and_then(|o| o.reviewer.as_deref()),
                    "answeredAt": origin.as_ref().map(|o| time(o.answered_at)),
                    "receivedAt": time(version.received_at),
                    "items": actions,
                })
            })
            .collect(),
    );
    Ok(value)
}
