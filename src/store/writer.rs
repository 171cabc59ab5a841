//! The writer task: every write of a [`super::Store`] goes through it, so that submissions
//! arriving together share one transaction and one disk flush (group commit).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use sqlx::{AnyConnection, AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

use super::health::{self, PROBE_INTERVAL, WriteHealth};
use super::sql;
use super::{Backend, Counters, NewSubmission, Recorded, Status, StoreError, StoredSubmission};

pub(super) struct Job {
    pub(super) submission: NewSubmission,
    /// The JSON columns, serialized by the caller: the writer is one task for every request,
    /// so the work each record costs it is what caps durable throughput.
    pub(super) json: JsonColumns,
    pub(super) reply: oneshot::Sender<Result<Recorded, StoreError>>,
}

/// `request_json`, `response_json` and `decision_trace_json` as they are written.
pub(super) struct JsonColumns {
    request: String,
    response: ResponseText,
    decision_trace: String,
}

/// The response column: encoded here, or encoded once by the caller, who also sends those
/// very bytes as the HTTP answer (shared, not copied).
enum ResponseText {
    Encoded(String),
    Shared(bytes::Bytes),
}

impl ResponseText {
    fn as_str(&self) -> &str {
        match self {
            Self::Encoded(text) => text,
            // Bytes given by `NewSubmission::response_encoded` are serde_json's output.
            Self::Shared(bytes) => std::str::from_utf8(bytes).unwrap_or_default(),
        }
    }
}

impl JsonColumns {
    /// The columns of `submission`; the request's text as received when it has it.
    pub(super) fn of(submission: &mut NewSubmission) -> Self {
        Self {
            request: submission
                .request_text
                .take()
                .unwrap_or_else(|| submission.request.to_string()),
            response: match submission.response_text.take() {
                Some(bytes) if std::str::from_utf8(&bytes).is_ok() => ResponseText::Shared(bytes),
                _ => ResponseText::Encoded(submission.response.to_string()),
            },
            decision_trace: submission.decision_trace.to_string(),
        }
    }
}

/// What one submission did inside a batch's transaction, before the batch commits.
enum Applied {
    /// Inserted as a new row: the stored record is the submission itself plus these.
    Fresh {
        id: String,
        chain_id: String,
        version: u32,
        received_at: DateTime<Utc>,
    },
    /// The identical request was recorded before.
    Replay(Box<StoredSubmission>),
}

impl Applied {
    /// The record this is, built by moving the submission's parts (no re-read, no re-parse).
    fn into_recorded(self, new: NewSubmission) -> Recorded {
        match self {
            Applied::Replay(stored) => Recorded::Replay(*stored),
            Applied::Fresh {
                id,
                chain_id,
                version,
                received_at,
            } => {
                let authorized_until = new.authorized_until();
                let mut authorizations = new.authorizations;
                authorizations.sort_by_key(|a| a.item_sequence);
                Recorded::Fresh(StoredSubmission {
                    id,
                    chain_id,
                    version,
                    supersedes: new.supersedes,
                    status: new.status,
                    received_at,
                    submitter: new.keys.submitter,
                    bundle_identifier: new.keys.bundle_identifier,
                    claim_identifier: new.keys.claim_identifier,
                    prior_key: new.keys.prior_key,
                    claim_full_url: new.keys.claim_full_url,
                    claim_resource_id: new.keys.claim_resource_id,
                    content_hash: new.content_hash,
                    patient_member_id: new.keys.patient_member_id,
                    provider_id: new.keys.provider_id,
                    insurer_id: new.keys.insurer_id,
                    policy_revision: new.policy_revision,
                    authorized_until,
                    request: new.request,
                    response: new.response,
                    decision_trace: new.decision_trace,
                    authorizations,
                })
            }
        }
    }
}

/// The writer task: drains the queue into one transaction per batch, answers after COMMIT.
/// While writes are failing it probes the store whenever it is idle, so that it (and
/// `/healthz`) learns that writes work again without waiting for a request.
pub(super) async fn write_loop(
    pool: AnyPool,
    backend: Backend,
    mut jobs: mpsc::Receiver<Job>,
    max_batch: usize,
    counters: Arc<Counters>,
    health: WriteHealth,
) {
    loop {
        let next = if health.failing_since().is_some() {
            tokio::select! {
                job = jobs.recv() => job,
                () = tokio::time::sleep(PROBE_INTERVAL) => {
                    probe_once(&pool, backend, &health).await;
                    continue;
                }
            }
        } else {
            jobs.recv().await
        };
        let Some(first) = next else { break };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let submissions: Vec<(&NewSubmission, &JsonColumns)> =
            batch.iter().map(|j| (&j.submission, &j.json)).collect();
        let outcomes = match commit_batch(&pool, backend, &submissions, &counters).await {
            Ok(outcomes) => outcomes,
            Err(error) if batch.len() == 1 => vec![Err(error)],
            Err(error) if error.is_store_level() => {
                // The store, not a record, failed: retrying each alone would fail each alike.
                tracing::warn!(%error, size = batch.len(), "batch failed: the store cannot write");
                batch.iter().map(|_| Err(error.unavailable())).collect()
            }
            Err(error) => {
                tracing::warn!(%error, size = batch.len(), "batch failed; committing its submissions one by one");
                let mut outcomes = Vec::with_capacity(batch.len());
                for submission in &submissions {
                    let outcome = commit_batch(&pool, backend, &[*submission], &counters)
                        .await
                        .and_then(|mut v| v.pop().ok_or(StoreError::WriterStopped))
                        .and_then(|o| o);
                    outcomes.push(outcome);
                }
                outcomes
            }
        };
        if outcomes
            .iter()
            .any(|o| o.as_ref().is_err_and(StoreError::is_store_level))
        {
            health.failed();
        } else if outcomes.iter().any(Result::is_ok) {
            health.committed();
        }
        for (job, outcome) in batch.into_iter().zip(outcomes) {
            let outcome = outcome
                .map(|applied| applied.into_recorded(job.submission))
                .map_err(|error| {
                    if error.is_store_level() {
                        error.unavailable()
                    } else {
                        error
                    }
                });
            // A caller that went away (client disconnected) still has its record committed.
            let _ = job.reply.send(outcome);
        }
    }
}

/// One probe write while the store is failing; a commit marks it writable again.
async fn probe_once(pool: &AnyPool, backend: Backend, health: &WriteHealth) {
    match health::probe(pool, backend).await {
        Ok(()) => health.committed(),
        Err(error) => tracing::debug!(%error, "store probe failed; writes still failing"),
    }
}

/// Starts a transaction that will write. On SQLite it takes the write lock at BEGIN
/// (`BEGIN IMMEDIATE`), so that it waits out another writer (busy timeout) instead of failing
/// with `database is locked` when a read-then-write transaction cannot upgrade its snapshot.
pub(super) async fn begin_write(
    pool: &AnyPool,
    backend: Backend,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    }
}

/// Applies the submissions in one transaction. `Err` when the transaction as a whole failed
/// (nothing committed); otherwise one outcome per submission, in order.
async fn commit_batch(
    pool: &AnyPool,
    backend: Backend,
    submissions: &[(&NewSubmission, &JsonColumns)],
    counters: &Counters,
) -> Result<Vec<Result<Applied, StoreError>>, StoreError> {
    let mut tx = begin_write(pool, backend).await?;
    let mut outcomes = Vec::with_capacity(submissions.len());
    for (submission, json) in submissions {
        match apply(&mut tx, submission, json).await {
            Err(error) if !error.is_per_submission() => return Err(error),
            outcome => outcomes.push(outcome),
        }
    }
    tx.commit().await?;
    counters.transactions.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("pas_store_transactions_total").increment(1);
    metrics::histogram!("pas_store_batch_size").record(submissions.len() as f64);
    for outcome in &outcomes {
        let (counter, kind) = match outcome {
            Ok(Applied::Fresh { .. }) => (&counters.fresh, "fresh"),
            Ok(Applied::Replay(_)) => (&counters.replays, "replay"),
            Err(_) => continue,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("pas_store_records_total", "kind" => kind).increment(1);
    }
    Ok(outcomes)
}

/// Records one submission inside the writer's transaction.
async fn apply(
    conn: &mut AnyConnection,
    new: &NewSubmission,
    json: &JsonColumns,
) -> Result<Applied, StoreError> {
    // An update is checked against what is stored first: its replay must be found before
    // the prior's version check would call it a conflict. An original is inserted at once;
    // the identity's unique key turns a replay into "no row inserted", looked up below.
    // That saves a lookup per fresh record, the common case.
    if new.supersedes.is_some()
        && let Some(recorded) = existing(conn, new).await?
    {
        return recorded;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let (chain_id, version) = match &new.supersedes {
        None => (id.clone(), 1),
        Some(prior_id) => {
            let prior = sql::load(conn, prior_id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("prior submission `{prior_id}`")))?;
            let latest = sql::latest_in_chain(conn, &prior.chain_id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("chain `{}`", prior.chain_id)))?;
            if latest.version != prior.version {
                return Err(StoreError::Conflict(format!(
                    "claim `{}` was updated since version {}; inquire for the latest version and \
                     resubmit",
                    prior.claim_identifier, prior.version
                )));
            }
            if latest.status == Status::Cancelled {
                return Err(StoreError::Conflict(format!(
                    "the authorization for claim `{}` was cancelled",
                    prior.claim_identifier
                )));
            }
            (prior.chain_id, prior.version + 1)
        }
    };
    // Stored at microsecond precision: the record answered now equals the one read back later.
    let received_at = Utc::now().trunc_subsecs(6);
    let authorized_until = new
        .authorized_until()
        .map(|d| d.format("%Y-%m-%d").to_string());
    let inserted = sqlx::query(
        "INSERT INTO submissions (id, chain_id, version, supersedes, status, received_at, \
         submitter, bundle_identifier, claim_identifier, content_hash, patient_member_id, \
         provider_id, insurer_id, policy_revision, authorized_until, request_json, \
         response_json, decision_trace_json, prior_key, claim_full_url, claim_resource_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21) ON CONFLICT DO NOTHING",
    )
    .bind(id.as_str())
    .bind(chain_id.as_str())
    .bind(i64::from(version))
    .bind(new.supersedes.as_deref())
    .bind(new.status.as_str())
    .bind(received_at.to_rfc3339_opts(SecondsFormat::Micros, true))
    .bind(new.keys.submitter.as_str())
    .bind(new.keys.bundle_identifier.as_deref())
    .bind(new.keys.claim_identifier.as_str())
    .bind(new.content_hash.as_str())
    .bind(new.keys.patient_member_id.as_deref())
    .bind(new.keys.provider_id.as_deref())
    .bind(new.keys.insurer_id.as_deref())
    .bind(new.policy_revision.as_str())
    .bind(authorized_until)
    .bind(json.request.as_str())
    .bind(json.response.as_str())
    .bind(json.decision_trace.as_str())
    .bind(new.keys.prior_key.as_str())
    .bind(new.keys.claim_full_url.as_deref())
    .bind(new.keys.claim_resource_id.as_deref())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        // Another instance committed a row with the same key since we looked: the same
        // request (a replay), the same identifier for other content, or the same version.
        if let Some(recorded) = existing(conn, new).await? {
            return recorded;
        }
        return Err(StoreError::Conflict(format!(
            "claim `{}` was updated concurrently; inquire for the latest version and resubmit",
            new.keys.claim_identifier
        )));
    }
    for a in &new.authorizations {
        sqlx::query(
            "INSERT INTO authorizations (submission_id, item_sequence, number, review_action, \
             period_start, period_end) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(i64::from(a.item_sequence))
        .bind(a.number.as_str())
        .bind(a.review_action.code())
        .bind(a.period_start.map(|d| d.format("%Y-%m-%d").to_string()))
        .bind(a.period_end.map(|d| d.format("%Y-%m-%d").to_string()))
        .execute(&mut *conn)
        .await?;
    }
    // Who answered, and the review case this version opens or closes; when it answers a
    // pended authorization, its notifications (outbox) in the same transaction.
    if super::review::recorded(conn, new, &id, &chain_id, received_at).await? {
        super::outbox::enqueue(conn, new, &id, received_at).await?;
    }
    Ok(Applied::Fresh {
        id,
        chain_id,
        version,
        received_at,
    })
}

/// A row recorded before under the same identity (submitter, Claim identifier, prior): a
/// replay when the content is the same, a conflict when it is not.
async fn existing(
    conn: &mut AnyConnection,
    new: &NewSubmission,
) -> Result<Option<Result<Applied, StoreError>>, StoreError> {
    let row = sqlx::query(
        "SELECT id, content_hash FROM submissions WHERE submitter = $1 AND claim_identifier = $2 \
         AND prior_key = $3",
    )
    .bind(new.keys.submitter.as_str())
    .bind(new.keys.claim_identifier.as_str())
    .bind(new.keys.prior_key.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let id: String = row.try_get("id")?;
    let hash: String = row.try_get("content_hash")?;
    if hash != new.content_hash {
        return Ok(Some(Err(StoreError::Conflict(format!(
            "claim identifier `{}` was already submitted with different content; send changes \
             as an update naming the prior claim in `Claim.related`",
            new.keys.claim_identifier
        )))));
    }
    let stored = sql::load(conn, &id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("submission `{id}`")))?;
    Ok(Some(Ok(Applied::Replay(Box::new(stored)))))
}
