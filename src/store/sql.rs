//! The store's queries (reads; the writes are in [`super::writer`]).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::rows;
use super::{StoreError, StoredSubmission};

pub(super) const COLUMNS: &str = "id, chain_id, version, supersedes, status, received_at, \
    submitter, bundle_identifier, claim_identifier, prior_key, claim_full_url, \
    claim_resource_id, content_hash, patient_member_id, provider_id, insurer_id, \
    policy_revision, authorized_until, request_json, response_json, decision_trace_json";

pub(super) async fn chains_with_number(
    conn: &mut AnyConnection,
    number: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query(
        "SELECT DISTINCT s.chain_id FROM authorizations a JOIN submissions s \
         ON s.id = a.submission_id WHERE a.number = $1 ORDER BY s.chain_id",
    )
    .bind(number)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| row.try_get("chain_id"))
    .collect::<Result<_, _>>()?)
}

pub(super) async fn load(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<StoredSubmission>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM submissions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(Some(with_authorizations(conn, &row).await?)),
        None => Ok(None),
    }
}

pub(super) async fn latest_in_chain(
    conn: &mut AnyConnection,
    chain_id: &str,
) -> Result<Option<StoredSubmission>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM submissions WHERE chain_id = $1 ORDER BY version DESC LIMIT 1"
    )))
    .bind(chain_id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(Some(with_authorizations(conn, &row).await?)),
        None => Ok(None),
    }
}

pub(super) async fn history(
    conn: &mut AnyConnection,
    chain_id: &str,
) -> Result<Vec<StoredSubmission>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM submissions WHERE chain_id = $1 ORDER BY version"
    )))
    .bind(chain_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut versions = Vec::with_capacity(rows.len());
    for row in &rows {
        versions.push(with_authorizations(conn, row).await?);
    }
    Ok(versions)
}

/// The chain a Claim identifier from `submitter` belongs to (the most recent, should an
/// identifier have been reused for another chain).
pub(super) async fn chain_of_claim(
    conn: &mut AnyConnection,
    submitter: &str,
    claim_identifier: &str,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query(
        "SELECT chain_id FROM submissions WHERE submitter = $1 AND claim_identifier = $2 \
         ORDER BY received_at DESC, version DESC LIMIT 1",
    )
    .bind(submitter)
    .bind(claim_identifier)
    .fetch_optional(&mut *conn)
    .await?
    .map(|row| row.try_get("chain_id"))
    .transpose()?)
}

/// The id of the version from `submitter` whose Claim a literal reference names: by the
/// Claim entry's fullUrl, else by `Claim/id` (the reference's last two segments, so that a
/// relative and an absolute reference to the same Claim both find it). The most recent when
/// several match.
pub(super) async fn version_by_reference(
    conn: &mut AnyConnection,
    submitter: &str,
    reference: &str,
) -> Result<Option<String>, StoreError> {
    let reference = reference.split("/_history/").next().unwrap_or(reference);
    let id = reference
        .rsplit_once("Claim/")
        .map(|(_, id)| id)
        .filter(|id| !id.is_empty() && !id.contains('/'));
    Ok(sqlx::query(
        "SELECT id FROM submissions WHERE submitter = $1 \
         AND (claim_full_url = $2 OR claim_resource_id = $3) \
         ORDER BY received_at DESC, version DESC LIMIT 1",
    )
    .bind(submitter)
    .bind(reference)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .map(|row| row.try_get("id"))
    .transpose()?)
}

/// The submission in `row` with its authorizations.
async fn with_authorizations(
    conn: &mut AnyConnection,
    row: &AnyRow,
) -> Result<StoredSubmission, StoreError> {
    let mut stored = rows::submission(row)?;
    let authorizations = sqlx::query(
        "SELECT item_sequence, number, review_action, period_start, period_end \
         FROM authorizations WHERE submission_id = $1 ORDER BY item_sequence",
    )
    .bind(stored.id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    for row in &authorizations {
        stored
            .authorizations
            .push(rows::authorization(&stored.id, row)?);
    }
    Ok(stored)
}
