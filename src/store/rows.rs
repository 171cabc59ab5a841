//! Row decoding: a `submissions` row and its `authorizations` rows back into a
//! [`StoredSubmission`]. A value that does not decode is [`StoreError::Corrupt`], naming the
//! submission and the column, never a panic.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{ItemAuthorization, Status, StoreError, StoredSubmission};
use crate::policy::decision::ReviewAction;

/// Reads the columns of one submission row (see [`super::sql::COLUMNS`]), without its
/// authorizations.
pub(super) fn submission(row: &AnyRow) -> Result<StoredSubmission, StoreError> {
    let id: String = row.try_get("id")?;
    let corrupt = corrupt(&id);
    let json = |column: &str| -> Result<Value, StoreError> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| corrupt(format!("`{column}`: {e}")))
    };
    let status: String = row.try_get("status")?;
    let received_at: String = row.try_get("received_at")?;
    let version: i64 = row.try_get("version")?;
    Ok(StoredSubmission {
        id: id.clone(),
        chain_id: row.try_get("chain_id")?,
        version: u32::try_from(version).map_err(|e| corrupt(format!("`version`: {e}")))?,
        supersedes: row.try_get("supersedes")?,
        status: Status::parse(&status).ok_or_else(|| corrupt(format!("status `{status}`")))?,
        received_at: DateTime::parse_from_rfc3339(&received_at)
            .map_err(|e| corrupt(format!("`received_at`: {e}")))?
            .with_timezone(&Utc),
        submitter: row.try_get("submitter")?,
        bundle_identifier: row.try_get("bundle_identifier")?,
        claim_identifier: row.try_get("claim_identifier")?,
        prior_key: row.try_get("prior_key")?,
        claim_full_url: row.try_get("claim_full_url")?,
        claim_resource_id: row.try_get("claim_resource_id")?,
        content_hash: row.try_get("content_hash")?,
        patient_member_id: row.try_get("patient_member_id")?,
        provider_id: row.try_get("provider_id")?,
        insurer_id: row.try_get("insurer_id")?,
        policy_revision: row.try_get("policy_revision")?,
        authorized_until: date(&id, row.try_get("authorized_until")?, "authorized_until")?,
        request: json("request_json")?,
        response: json("response_json")?,
        decision_trace: json("decision_trace_json")?,
        authorizations: Vec::new(),
    })
}

/// Reads one `authorizations` row of submission `id`.
pub(super) fn authorization(id: &str, row: &AnyRow) -> Result<ItemAuthorization, StoreError> {
    let corrupt = corrupt(id);
    let sequence: i64 = row.try_get("item_sequence")?;
    let action: String = row.try_get("review_action")?;
    Ok(ItemAuthorization {
        item_sequence: u32::try_from(sequence)
            .map_err(|e| corrupt(format!("`item_sequence`: {e}")))?,
        number: row.try_get("number")?,
        review_action: ReviewAction::from_code(&action)
            .ok_or_else(|| corrupt(format!("review action `{action}`")))?,
        period_start: date(id, row.try_get("period_start")?, "period_start")?,
        period_end: date(id, row.try_get("period_end")?, "period_end")?,
    })
}

fn corrupt(id: &str) -> impl Fn(String) -> StoreError + '_ {
    move |message| StoreError::Corrupt {
        id: id.to_owned(),
        message,
    }
}

/// An ISO date column (`YYYY-MM-DD`), absent or not.
fn date(id: &str, text: Option<String>, column: &str) -> Result<Option<NaiveDate>, StoreError> {
    text.map(|t| {
        NaiveDate::parse_from_str(&t, "%Y-%m-%d")
            .map_err(|e| corrupt(id)(format!("`{column}` `{t}`: {e}")))
    })
    .transpose()
}
