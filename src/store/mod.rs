//! The durable record of every request we answered, and the lookups `$inquire` needs.
//!
//! A payer must answer for every authorization it issued, so each `$submit` is stored with
//! its request and response Bundles, the decision trace, the policy revision and the keys it
//! can be found under, and the HTTP layer acknowledges a request only once [`Store::record`]
//! has returned: that future resolves after the record's transaction has committed.
//!
//! # Backends
//! One code path over SQLite and PostgreSQL through `sqlx::Any`, chosen by URI:
//! `sqlite://PATH` (created if missing; WAL journal, `synchronous=FULL`, a busy timeout) for a
//! single instance, `postgres://USER@HOST:PORT/DB` for several instances behind one load
//! balancer. One embedded migration set ([`MIGRATIONS`]) uses only types both share (TEXT,
//! BIGINT): ids are UUID text, times fixed-width RFC 3339 UTC text and dates ISO text, so
//! ordering is string ordering on both.
//!
//! # Group commit
//! All writes go through one writer task per [`Store`]: it takes whatever submissions are
//! queued (up to [`StoreOptions::max_batch`]) into one transaction and answers every caller
//! after the COMMIT, so a disk flush is shared by all requests that arrived meanwhile. If the
//! batch fails as a whole, each submission is retried in its own transaction so that one bad
//! record cannot fail its neighbours. [`StoreOptions::flush_per_request`] turns batching off
//! (one transaction per request) for benchmark baselines.
//!
//! # Identity, idempotency and versions
//! A Claim identifier from one submitter names exactly one request content:
//! - the same identifier with the same content ([`extract::content_hash`]) is a replay:
//!   [`Recorded::Replay`] carries the stored answer, with its authorization numbers, and no
//!   row is added (a unique index settles concurrent duplicates, also across instances);
//! - the same identifier with different content is [`StoreError::Conflict`]: silently
//!   answering a different question, or issuing a second authorization, would both be wrong.
//!   A change is sent as an update, which has its own Claim identifier (as in the PAS IG's
//!   update example) and names the prior claim in `Claim.related`.
//!
//! An original request and its updates form a *chain*; each update or cancellation is a new
//! version ([`NewSubmission::superseding`]) linked to the version it was evaluated against.
//! Versions are never overwritten; lookups return the latest version of a chain. An update
//! evaluated against a version that is no longer the latest is a conflict (optimistic
//! concurrency; a unique index on the chain and version enforces it across instances).
//!
//! # Retention
//! [`Store::purge`] removes whole chains whose latest authorized period end (or, without an
//! authorized period, whose last receipt date) lies more than `keep_months` (at least
//! [`MIN_RETENTION_MONTHS`]) before the given day.

/// The PAS IG's own examples, copied into `tests/fixtures/pas-ig/`, for the unit tests of the
/// store's submodules (defined before them so that they can use it).
#[cfg(test)]
macro_rules! ig_example {
    ($name:literal) => {
        serde_json::from_str::<serde_json::Value>(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/pas-ig/",
            $name
        )))
        .unwrap_or(serde_json::Value::Null)
    };
}

pub mod extract;
pub mod inquiry;
pub mod outbox;
pub mod review;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Months, NaiveDate, SecondsFormat, SubsecRound, Utc};
use serde_json::Value;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyConnection, AnyPool, Row, SqlSafeStr};
use tokio::sync::{mpsc, oneshot};

use crate::policy::decision::ReviewAction;
pub use extract::{ExtractError, RequestKeys, content_hash, request_keys};
pub use inquiry::InquiryKeys;

/// The database used when none is configured: `pas-adapter.db` in the working folder.
pub const DEFAULT_URI: &str = "sqlite://pas-adapter.db";

/// Answers are kept at least this long after their authorized period ends.
pub const MIN_RETENTION_MONTHS: u32 = 6;

/// The schema, embedded so that the binary migrates any database it is pointed at.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "submissions",
        include_str!("../../migrations/0001_submissions.sql"),
    ),
    (
        4,
        "review",
        include_str!("../../migrations/0004_review.sql"),
    ),
];

/// Why a store operation failed. `Conflict`, `NotFound` and `InquiryTooBroad` are the
/// caller's (4xx); the others are ours (5xx).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URI `{0}`: expected `sqlite://PATH` or `postgres://...`")]
    InvalidUri(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(
        "an inquiry needs a claim identifier, an authorization number, or the member id with \
         the provider and the insurer"
    )]
    InquiryTooBroad,
    #[error("retention of {0} months is shorter than the minimum of {MIN_RETENTION_MONTHS}")]
    Retention(u32),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored submission `{id}` cannot be read: {message}")]
    Corrupt { id: String, message: String },
    #[error("the store writer has stopped")]
    WriterStopped,
}

impl StoreError {
    /// Errors that belong to one submission and must not fail the rest of its batch.
    fn is_per_submission(&self) -> bool {
        matches!(self, Self::Conflict(_) | Self::NotFound(_))
    }
}

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a URI names, and the URI as sqlx should receive it.
    fn from_uri(uri: &str) -> Result<(Self, String), StoreError> {
        if uri.starts_with("sqlite:") {
            // `mode=rwc` creates the file when it is missing.
            let uri = if uri.contains("mode=") {
                uri.to_owned()
            } else if uri.contains('?') {
                format!("{uri}&mode=rwc")
            } else {
                format!("{uri}?mode=rwc")
            };
            Ok((Self::Sqlite, uri))
        } else if uri.starts_with("postgres://") || uri.starts_with("postgresql://") {
            Ok((Self::Postgres, uri.to_owned()))
        } else {
            Err(StoreError::InvalidUri(redact(uri)))
        }
    }
}

/// A URI without its password, for error messages and logs.
fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &uri[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &uri[..scheme_end + 3], user, &uri[at..])
        }
        _ => uri.to_owned(),
    }
}

/// Whether an authorization chain is still in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    /// Cancelled by the submitter (certificationType 3 or `infoCancelled` on every item).
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// The answer to one Claim item as issued: its authorization (or tracking) number, the
/// review action and, for A1/A6, the authorized period (inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemAuthorization {
    /// `Claim.item.sequence` of the authorized item.
    pub item_sequence: u32,
    pub number: String,
    pub review_action: ReviewAction,
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
}

/// A submission to record: the request, our answer, and what they are found under.
#[derive(Debug, Clone)]
pub struct NewSubmission {
    pub keys: RequestKeys,
    pub content_hash: String,
    pub policy_revision: String,
    pub request: Value,
    pub response: Value,
    pub decision_trace: Value,
    pub authorizations: Vec<ItemAuthorization>,
    /// The version this one replaces (an update or cancellation), by submission id.
    pub supersedes: Option<String>,
    pub status: Status,
    /// Who gave this answer (review: stored in `answer_versions`).
    pub answered_by: review::AnsweredBy,
}

impl NewSubmission {
    /// A new original request: keys and content hash are read from the request Bundle.
    pub fn new(
        request: Value,
        response: Value,
        decision_trace: Value,
        policy_revision: impl Into<String>,
        authorizations: Vec<ItemAuthorization>,
    ) -> Result<Self, ExtractError> {
        let keys = request_keys(&request)?;
        Ok(Self {
            keys,
            content_hash: content_hash(&request),
            policy_revision: policy_revision.into(),
            request,
            response,
            decision_trace,
            authorizations,
            supersedes: None,
            status: Status::Active,
            answered_by: review::AnsweredBy::Engine,
        })
    }

    /// Makes this the next version of `prior`'s chain (an update evaluated against `prior`).
    pub fn superseding(mut self, prior: &StoredSubmission) -> Self {
        self.supersedes = Some(prior.id.clone());
        if self.answered_by == review::AnsweredBy::Engine {
            self.answered_by = review::AnsweredBy::ProviderUpdate;
        }
        self
    }

    /// Marks the chain cancelled from this version on.
    pub fn cancelled(mut self) -> Self {
        self.status = Status::Cancelled;
        self
    }

    /// The last day any item is authorized through (A1/A6 periods), for retention.
    fn authorized_until(&self) -> Option<NaiveDate> {
        self.authorizations
            .iter()
            .filter(|a| {
                matches!(
                    a.review_action,
                    ReviewAction::Certified | ReviewAction::Modified
                )
            })
            .filter_map(|a| a.period_end)
            .max()
    }
}

/// One stored version of a submission.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSubmission {
    pub id: String,
    /// The id of version 1 of this authorization chain.
    pub chain_id: String,
    pub version: u32,
    pub supersedes: Option<String>,
    pub status: Status,
    pub received_at: DateTime<Utc>,
    pub submitter: String,
    pub bundle_identifier: Option<String>,
    pub claim_identifier: String,
    pub content_hash: String,
    pub patient_member_id: Option<String>,
    pub provider_id: Option<String>,
    pub insurer_id: Option<String>,
    pub policy_revision: String,
    pub authorized_until: Option<NaiveDate>,
    pub request: Value,
    pub response: Value,
    pub decision_trace: Value,
    pub authorizations: Vec<ItemAuthorization>,
}

/// What [`Store::record`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// Committed now as a new record.
    Fresh(StoredSubmission),
    /// The same request was recorded before: answer with its stored response, unchanged.
    Replay(StoredSubmission),
}

impl Recorded {
    pub fn submission(&self) -> &StoredSubmission {
        match self {
            Self::Fresh(s) | Self::Replay(s) => s,
        }
    }

    pub fn into_submission(self) -> StoredSubmission {
        match self {
            Self::Fresh(s) | Self::Replay(s) => s,
        }
    }

    pub fn is_replay(&self) -> bool {
        matches!(self, Self::Replay(_))
    }
}

/// Tuning of a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// The most submissions committed in one transaction.
    pub max_batch: usize,
    /// Pool size (readers and the writer).
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_batch: 256,
            max_connections: 8,
        }
    }
}

impl StoreOptions {
    /// One transaction (one disk flush) per submission: the baseline group commit is
    /// measured against.
    pub fn flush_per_request() -> Self {
        Self {
            max_batch: 1,
            ..Self::default()
        }
    }
}

/// Counters of the writer, for metrics and the group-commit tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Write transactions committed.
    pub transactions: u64,
    /// Submissions committed as new records.
    pub fresh: u64,
    /// Submissions answered from an earlier record.
    pub replays: u64,
}

#[derive(Debug, Default)]
struct Counters {
    transactions: AtomicU64,
    fresh: AtomicU64,
    replays: AtomicU64,
}

/// How many chains and rows [`Store::purge`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeReport {
    pub chains: u64,
    pub submissions: u64,
}

struct Job {
    submission: NewSubmission,
    /// The JSON columns, serialized by the caller: the writer is one task for every request,
    /// so the work each record costs it is what caps durable throughput.
    json: JsonColumns,
    reply: oneshot::Sender<Result<Recorded, StoreError>>,
}

/// `request_json`, `response_json` and `decision_trace_json` as they are written.
struct JsonColumns {
    request: String,
    response: String,
    decision_trace: String,
}

impl JsonColumns {
    fn of(submission: &NewSubmission) -> Self {
        Self {
            request: submission.request.to_string(),
            response: submission.response.to_string(),
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

/// The submission store. Cheap to clone; all clones share one pool and one writer task.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    writer: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, chain_id, version, supersedes, status, received_at, submitter, \
    bundle_identifier, claim_identifier, content_hash, patient_member_id, provider_id, \
    insurer_id, policy_revision, authorized_until, request_json, response_json, \
    decision_trace_json";

impl Store {
    /// Opens (creating a SQLite file if missing) and migrates the database at `uri`, and
    /// starts the writer task. Must be called inside a Tokio runtime.
    pub async fn connect(uri: &str) -> Result<Self, StoreError> {
        Self::connect_with(uri, StoreOptions::default()).await
    }

    pub async fn connect_with(uri: &str, options: StoreOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, uri) = Backend::from_uri(uri)?;
        let mut pool_options =
            AnyPoolOptions::new().max_connections(options.max_connections.max(2));
        if backend == Backend::Sqlite {
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers run beside the writer; FULL syncs the WAL on every
                    // commit, which is what "durable before acknowledged" means.
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = FULL",
                        "PRAGMA busy_timeout = 10000",
                        "PRAGMA foreign_keys = ON",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            });
        }
        let pool = pool_options.connect(&uri).await?;
        migrate(&pool, backend).await?;
        // review: cases for pended answers stored before review cases existed.
        review::open_missing_cases(&mut *pool.acquire().await?).await?;

        let (tx, rx) = mpsc::channel(options.max_batch.max(1) * 4);
        let counters = Arc::new(Counters::default());
        tokio::spawn(write_loop(
            pool.clone(),
            backend,
            rx,
            options.max_batch.max(1),
            Arc::clone(&counters),
        ));
        Ok(Self {
            pool,
            backend,
            writer: tx,
            counters,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Records a submission, or finds the identical one recorded before. Resolves only after
    /// the record is committed (or found committed).
    pub async fn record(&self, submission: NewSubmission) -> Result<Recorded, StoreError> {
        let (reply, answer) = oneshot::channel();
        let json = JsonColumns::of(&submission);
        self.writer
            .send(Job {
                submission,
                json,
                reply,
            })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// One stored version by id.
    pub async fn get(&self, id: &str) -> Result<Option<StoredSubmission>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load(&mut conn, id).await
    }

    /// The latest version of the chain the claim identifier (of any of its versions) from
    /// this submitter belongs to: the prior an update or cancellation applies to.
    pub async fn latest_for_claim(
        &self,
        submitter: &str,
        claim_identifier: &str,
    ) -> Result<Option<StoredSubmission>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let chain: Option<String> = sqlx::query(
            "SELECT chain_id FROM submissions WHERE submitter = $1 AND claim_identifier = $2",
        )
        .bind(submitter)
        .bind(claim_identifier)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| row.try_get("chain_id"))
        .transpose()?;
        match chain {
            Some(chain) => latest_in_chain(&mut conn, &chain).await,
            None => Ok(None),
        }
    }

    /// The latest version of the chain that issued this authorization number.
    pub async fn find_authorization(
        &self,
        number: &str,
    ) -> Result<Option<StoredSubmission>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let chains = chains_with_number(&mut conn, number).await?;
        match chains.first() {
            Some(chain) => latest_in_chain(&mut conn, chain).await,
            None => Ok(None),
        }
    }

    /// Every version of a chain, oldest first.
    pub async fn history(&self, chain_id: &str) -> Result<Vec<StoredSubmission>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        history(&mut conn, chain_id).await
    }

    /// The latest version of every chain the inquiry matches, oldest chain first.
    ///
    /// Every key the inquiry carries must match: the claim identifier and the authorization
    /// number may be those of any version of the chain; member id, provider and insurer are
    /// compared with the latest version. An inquiry must carry a claim identifier, an
    /// authorization number, or all three of member id, provider and insurer.
    pub async fn inquire(&self, keys: &InquiryKeys) -> Result<Vec<StoredSubmission>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let candidates: Vec<String> = if let Some(number) = &keys.authorization_number {
            chains_with_number(&mut conn, number).await?
        } else if let Some(claim) = &keys.claim_identifier {
            sqlx::query(
                "SELECT DISTINCT chain_id FROM submissions WHERE claim_identifier = $1 \
                 ORDER BY chain_id",
            )
            .bind(claim.as_str())
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| row.try_get("chain_id"))
            .collect::<Result<_, _>>()?
        } else if let (Some(member), Some(provider), Some(insurer)) =
            (&keys.patient_member_id, &keys.provider, &keys.insurer)
        {
            sqlx::query(
                "SELECT DISTINCT chain_id FROM submissions WHERE patient_member_id = $1 \
                 AND provider_id = $2 AND insurer_id = $3 ORDER BY chain_id",
            )
            .bind(member.as_str())
            .bind(provider.as_str())
            .bind(insurer.as_str())
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| row.try_get("chain_id"))
            .collect::<Result<_, _>>()?
        } else {
            return Err(StoreError::InquiryTooBroad);
        };

        let mut found = Vec::new();
        for chain in candidates {
            let versions = history(&mut conn, &chain).await?;
            if !keys.matches_chain(&versions) {
                continue;
            }
            if let Some(latest) = versions.into_iter().last() {
                found.push(latest);
            }
        }
        found.sort_by(|a, b| a.chain_id.cmp(&b.chain_id));
        found.sort_by_key(|s| s.received_at);
        Ok(found)
    }

    /// Removes every chain whose answers are past retention on `today`: its latest
    /// authorized period end (or, without one, its last receipt date) lies more than
    /// `keep_months` (at least [`MIN_RETENTION_MONTHS`]) before `today`.
    pub async fn purge(
        &self,
        today: NaiveDate,
        keep_months: u32,
    ) -> Result<PurgeReport, StoreError> {
        if keep_months < MIN_RETENTION_MONTHS {
            return Err(StoreError::Retention(keep_months));
        }
        let cutoff = today
            .checked_sub_months(Months::new(keep_months))
            .unwrap_or(NaiveDate::MIN)
            .format("%Y-%m-%d")
            .to_string();
        const EXPIRED: &str = "SELECT chain_id FROM submissions GROUP BY chain_id \
            HAVING MAX(COALESCE(authorized_until, SUBSTR(received_at, 1, 10))) < $1";
        let mut tx = begin_write(&self.pool, self.backend).await?;
        let chains: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM ({EXPIRED}) expired"
        )))
        .bind(cutoff.as_str())
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM authorizations WHERE submission_id IN \
             (SELECT id FROM submissions WHERE chain_id IN ({EXPIRED}))"
        )))
        .bind(cutoff.as_str())
        .execute(&mut *tx)
        .await?;
        let submissions = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM submissions WHERE chain_id IN ({EXPIRED})"
        )))
        .bind(cutoff.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(PurgeReport {
            chains: u64::try_from(chains).unwrap_or_default(),
            submissions,
        })
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats {
            transactions: self.counters.transactions.load(Ordering::Relaxed),
            fresh: self.counters.fresh.load(Ordering::Relaxed),
            replays: self.counters.replays.load(Ordering::Relaxed),
        }
    }

    /// Closes the pool, waiting for connections in use; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Brings the schema up to date. PostgreSQL instances starting together serialize on the
/// migrator's advisory lock; SQLite has none, so a process that lost the race (its migration
/// saw an old schema version and then hit the tables the winner created) reads the applied
/// versions again and finds nothing left to do.
async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let migrator = migrator();
    let mut attempt = 0;
    loop {
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            Err(error) if backend == Backend::Sqlite && attempt < 5 => {
                attempt += 1;
                tracing::debug!(%error, attempt, "retrying the migration after a concurrent one");
                tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// The writer task: drains the queue into one transaction per batch, answers after COMMIT.
async fn write_loop(
    pool: AnyPool,
    backend: Backend,
    mut jobs: mpsc::Receiver<Job>,
    max_batch: usize,
    counters: Arc<Counters>,
) {
    while let Some(first) = jobs.recv().await {
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
        for (job, outcome) in batch.into_iter().zip(outcomes) {
            let outcome = outcome.map(|applied| applied.into_recorded(job.submission));
            // A caller that went away (client disconnected) still has its record committed.
            let _ = job.reply.send(outcome);
        }
    }
}

/// Starts a transaction that will write. On SQLite it takes the write lock at BEGIN
/// (`BEGIN IMMEDIATE`), so that it waits out another writer (busy timeout) instead of failing
/// with `database is locked` when a read-then-write transaction cannot upgrade its snapshot.
async fn begin_write(
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
    if let Some(recorded) = existing(conn, new).await? {
        return recorded;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let (chain_id, version) = match &new.supersedes {
        None => (id.clone(), 1),
        Some(prior_id) => {
            let prior = load(conn, prior_id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("prior submission `{prior_id}`")))?;
            let latest = latest_in_chain(conn, &prior.chain_id)
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
         response_json, decision_trace_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16, $17, $18) ON CONFLICT DO NOTHING",
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
    // review: who answered, and the review case this version opens or closes; when it
    // answers a pended authorization, its notifications (outbox) in the same transaction.
    if review::recorded(conn, new, &id, &chain_id, received_at).await? {
        outbox::enqueue(conn, new, &id, received_at).await?;
    }
    Ok(Applied::Fresh {
        id,
        chain_id,
        version,
        received_at,
    })
}

/// A row recorded before under the same submitter and Claim identifier: a replay when the
/// content is the same, a conflict when it is not.
async fn existing(
    conn: &mut AnyConnection,
    new: &NewSubmission,
) -> Result<Option<Result<Applied, StoreError>>, StoreError> {
    let row = sqlx::query(
        "SELECT id, content_hash FROM submissions WHERE submitter = $1 AND claim_identifier = $2",
    )
    .bind(new.keys.submitter.as_str())
    .bind(new.keys.claim_identifier.as_str())
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
             as an update with its own identifier and `Claim.related` naming the prior claim",
            new.keys.claim_identifier
        )))));
    }
    let stored = load(conn, &id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("submission `{id}`")))?;
    Ok(Some(Ok(Applied::Replay(Box::new(stored)))))
}

async fn chains_with_number(
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

async fn load(conn: &mut AnyConnection, id: &str) -> Result<Option<StoredSubmission>, StoreError> {
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

async fn latest_in_chain(
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

async fn history(
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

async fn with_authorizations(
    conn: &mut AnyConnection,
    row: &AnyRow,
) -> Result<StoredSubmission, StoreError> {
    let id: String = row.try_get("id")?;
    let corrupt = |message: String| StoreError::Corrupt {
        id: id.clone(),
        message,
    };
    let json = |column: &str| -> Result<Value, StoreError> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| corrupt(format!("`{column}`: {e}")))
    };
    let date = |text: Option<String>, column: &str| -> Result<Option<NaiveDate>, StoreError> {
        text.map(|t| {
            NaiveDate::parse_from_str(&t, "%Y-%m-%d")
                .map_err(|e| corrupt(format!("`{column}` `{t}`: {e}")))
        })
        .transpose()
    };
    let status: String = row.try_get("status")?;
    let received_at: String = row.try_get("received_at")?;
    let version: i64 = row.try_get("version")?;
    let mut stored = StoredSubmission {
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
        content_hash: row.try_get("content_hash")?,
        patient_member_id: row.try_get("patient_member_id")?,
        provider_id: row.try_get("provider_id")?,
        insurer_id: row.try_get("insurer_id")?,
        policy_revision: row.try_get("policy_revision")?,
        authorized_until: date(row.try_get("authorized_until")?, "authorized_until")?,
        request: json("request_json")?,
        response: json("response_json")?,
        decision_trace: json("decision_trace_json")?,
        authorizations: Vec::new(),
    };
    let rows = sqlx::query(
        "SELECT item_sequence, number, review_action, period_start, period_end \
         FROM authorizations WHERE submission_id = $1 ORDER BY item_sequence",
    )
    .bind(id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let sequence: i64 = row.try_get("item_sequence")?;
        let action: String = row.try_get("review_action")?;
        stored.authorizations.push(ItemAuthorization {
            item_sequence: u32::try_from(sequence)
                .map_err(|e| corrupt(format!("`item_sequence`: {e}")))?,
            number: row.try_get("number")?,
            review_action: ReviewAction::from_code(&action)
                .ok_or_else(|| corrupt(format!("review action `{action}`")))?,
            period_start: date(row.try_get("period_start")?, "period_start")?,
            period_end: date(row.try_get("period_end")?, "period_end")?,
        });
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_choose_the_backend() {
        assert!(matches!(
            Backend::from_uri("sqlite://x.db"),
            Ok((Backend::Sqlite, ref u)) if u == "sqlite://x.db?mode=rwc"
        ));
        assert!(matches!(
            Backend::from_uri("sqlite:///tmp/x.db?mode=ro"),
            Ok((Backend::Sqlite, ref u)) if u == "sqlite:///tmp/x.db?mode=ro"
        ));
        assert!(matches!(
            Backend::from_uri("postgresql://u@h/db"),
            Ok((Backend::Postgres, _))
        ));
        let err = Backend::from_uri("mysql://root:secret@h/db").err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some(
                "unsupported database URI `mysql://root:***@h/db`: expected `sqlite://PATH` or \
                 `postgres://...`"
                    .to_owned()
            )
        );
    }

    #[tokio::test]
    async fn sqlite_connections_are_durable_and_the_file_is_created()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("sub.db");
        let store = Store::connect(&format!("sqlite://{}", path.display())).await?;
        assert!(path.exists());
        let mut conn = store.pool.acquire().await?;
        let mut settings = Vec::new();
        for name in [
            "journal_mode",
            "synchronous",
            "foreign_keys",
            "busy_timeout",
        ] {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
                .fetch_one(&mut *conn)
                .await?;
            let value = match row.try_get::<String, _>(0) {
                Ok(text) => text,
                Err(_) => row.try_get::<i64, _>(0)?.to_string(),
            };
            settings.push(value);
        }
        // synchronous 2 is FULL.
        assert_eq!(settings, ["wal", "2", "1", "10000"]);
        Ok(())
    }
}
