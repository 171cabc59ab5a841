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
//! A request is identified by its submitter, its Claim identifier and its prior (the claim it
//! updates, as the request names it: [`RequestKeys::prior_key`], empty for an original),
//! and that identity names exactly one request content:
//! - the same identity with the same content ([`extract::content_hash`]) is a replay:
//!   [`Recorded::Replay`] carries the stored answer, with its authorization numbers, and no
//!   row is added (a unique index settles concurrent duplicates, also across instances);
//! - the same identity with different content is [`StoreError::Conflict`]: silently
//!   answering a different question, or issuing a second authorization, would both be wrong.
//!   A change is sent as an update naming the prior claim in `Claim.related`, under its own
//!   Claim identifier (the PAS IG's update example) or the prior's (the PAS conformance kit).
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

pub mod audit;
pub mod extract;
mod health;
pub mod inquiry;
pub mod outbox;
pub mod review;
mod rows;
mod schema;
pub mod secrets;
mod sql;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde_json::Value;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

use crate::pas::Prior;
use crate::policy::decision::ReviewAction;
pub use extract::{ExtractError, RequestKeys, content_hash, request_keys};
pub use health::StoreHealth;
use health::WriteHealth;
pub use inquiry::InquiryKeys;
pub use schema::MIGRATIONS;
use writer::{Job, JsonColumns};

/// The database used when none is configured: `pas-adapter.db` in the working folder.
pub const DEFAULT_URI: &str = "sqlite://pas-adapter.db";

/// How long `/healthz` waits for the store to answer a read.
pub const HEALTH_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Answers are kept at least this long after their authorized period ends.
pub const MIN_RETENTION_MONTHS: u32 = 6;

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
    /// The store cannot write now (a full disk, an I/O error, the database gone): nothing
    /// was recorded, and the same request may be sent again once `/healthz` is ready.
    #[error("the store cannot write now: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Errors that belong to one submission and must not fail the rest of its batch.
    pub(crate) fn is_per_submission(&self) -> bool {
        matches!(self, Self::Conflict(_) | Self::NotFound(_))
    }

    /// The store itself failed (rather than one request's data): answered 503, not 500.
    pub fn is_store_level(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::WriterStopped => true,
            Self::Database(error) => health::is_store_level(error),
            _ => false,
        }
    }

    /// This store-level error as [`StoreError::Unavailable`], for each caller it fails.
    fn unavailable(&self) -> Self {
        match self {
            Self::Unavailable(message) => Self::Unavailable(message.clone()),
            Self::Database(error) => Self::Unavailable(error.to_string()),
            other => Self::Unavailable(other.to_string()),
        }
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

/// A URI without its password, for error messages, logs and `Debug`.
pub fn redact(uri: &str) -> String {
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

    pub(crate) fn parse(s: &str) -> Option<Self> {
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
    /// The request Bundle's text as received, stored as the record instead of an encoding
    /// of `request` (the raw JSON is the record, and it is not encoded twice).
    request_text: Option<String>,
    /// `response` as the caller encoded it for its answer, stored as is.
    response_text: Option<bytes::Bytes>,
}

impl NewSubmission {
    /// A submission of a Bundle that has not been through the request checks (store tests,
    /// tools): its keys are read from the Bundle ([`request_keys`]).
    pub fn new(
        request: Value,
        response: Value,
        decision_trace: Value,
        policy_revision: impl Into<String>,
        authorizations: Vec<ItemAuthorization>,
    ) -> Result<Self, ExtractError> {
        let keys = request_keys(&request)?;
        Ok(Self::with_keys(
            keys,
            request,
            response,
            decision_trace,
            policy_revision,
            authorizations,
        ))
    }

    /// A submission filed under `keys`, which the caller read from the checked request.
    pub fn with_keys(
        keys: RequestKeys,
        request: Value,
        response: Value,
        decision_trace: Value,
        policy_revision: impl Into<String>,
        authorizations: Vec<ItemAuthorization>,
    ) -> Self {
        let hash = content_hash(&request);
        Self::with_hash(
            keys,
            hash,
            request,
            response,
            decision_trace,
            policy_revision,
            authorizations,
        )
    }

    /// [`NewSubmission::with_keys`] with the content hash given: a version that restates an
    /// earlier request (a reviewer's decision) keeps that request's hash.
    pub fn with_hash(
        keys: RequestKeys,
        content_hash: String,
        request: Value,
        response: Value,
        decision_trace: Value,
        policy_revision: impl Into<String>,
        authorizations: Vec<ItemAuthorization>,
    ) -> Self {
        Self {
            keys,
            content_hash,
            policy_revision: policy_revision.into(),
            request,
            response,
            decision_trace,
            authorizations,
            supersedes: None,
            status: Status::Active,
            answered_by: review::AnsweredBy::Engine,
            request_text: None,
            response_text: None,
        }
    }

    /// Stores `encoded`, the caller's encoding of `response` (what it answers with), as the
    /// response's record: the response is encoded once per request.
    pub fn response_encoded(mut self, encoded: bytes::Bytes) -> Self {
        self.response_text = Some(encoded);
        self
    }

    /// Stores `text`, the body `request` was parsed from, as the request's record.
    pub fn received_as(mut self, text: String) -> Self {
        self.request_text = Some(text);
        self
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
    pub(crate) fn authorized_until(&self) -> Option<NaiveDate> {
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
    /// The prior as this version's request named it ('' for an original request).
    pub prior_key: String,
    /// The fullUrl and logical id of this version's Claim, by which an update may name it.
    pub claim_full_url: Option<String>,
    pub claim_resource_id: Option<String>,
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

/// The submission store. Cheap to clone; all clones share one pool and one writer task.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    writer: mpsc::Sender<Job>,
    counters: Arc<Counters>,
    health: WriteHealth,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

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
        // A transaction that failed at COMMIT (SQLite rolls back by itself on a full disk)
        // leaves sqlx's transaction depth behind, and every later BEGIN on that connection
        // fails: such a connection is closed on release instead of reused. The ping first
        // lets the rollback queued by the dropped transaction run.
        pool_options = pool_options.after_release(|conn, _meta| {
            Box::pin(async move {
                use sqlx::Connection;
                conn.ping().await?;
                Ok(!conn.is_in_transaction())
            })
        });
        let pool = pool_options.connect(&uri).await?;
        schema::migrate(&pool, backend).await?;
        // Cases for pended answers stored before review cases existed.
        review::open_missing_cases(&mut *pool.acquire().await?).await?;

        let (tx, rx) = mpsc::channel(options.max_batch.max(1) * 4);
        let counters = Arc::new(Counters::default());
        let health = WriteHealth::default();
        tokio::spawn(writer::write_loop(
            pool.clone(),
            backend,
            rx,
            options.max_batch.max(1),
            Arc::clone(&counters),
            health.clone(),
        ));
        metrics::gauge!("pas_store_writable").set(1.0);
        Ok(Self {
            pool,
            backend,
            writer: tx,
            counters,
            health,
        })
    }

    /// Whether the store takes writes and answers reads now (`/healthz`): writes are failing
    /// from a failed write transaction until one commits again; a read must answer within
    /// [`HEALTH_READ_TIMEOUT`].
    pub async fn health(&self) -> StoreHealth {
        if let Some(since) = self.health.failing_since() {
            return StoreHealth::WritesFailing { since };
        }
        let read = async {
            let mut conn = self.pool.acquire().await?;
            sqlx::query("SELECT 1").execute(&mut *conn).await
        };
        match tokio::time::timeout(HEALTH_READ_TIMEOUT, read).await {
            Ok(Ok(_)) => StoreHealth::Ready,
            _ => StoreHealth::Unreachable,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Records a submission, or finds the identical one recorded before. Resolves only after
    /// the record is committed (or found committed).
    pub async fn record(&self, mut submission: NewSubmission) -> Result<Recorded, StoreError> {
        let (reply, answer) = oneshot::channel();
        let json = JsonColumns::of(&mut submission);
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
        sql::load(&mut conn, id).await
    }

    /// The latest version of the chain the claim identifier (of any of its versions) from
    /// this submitter belongs to: the prior an update or cancellation applies to.
    pub async fn latest_for_claim(
        &self,
        submitter: &str,
        claim_identifier: &str,
    ) -> Result<Option<StoredSubmission>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        match sql::chain_of_claim(&mut conn, submitter, claim_identifier).await? {
            Some(chain) => sql::latest_in_chain(&mut conn, &chain).await,
            None => Ok(None),
        }
    }

    /// The stored version an update from `submitter` applies to, however it names its prior:
    /// by identifier, the latest version of that identifier's chain; by a Claim it carries,
    /// the version recorded with that Claim's fullUrl, else the latest of the carried
    /// Claim's identifier; by a literal reference to a Claim it does not carry, the version
    /// recorded with that fullUrl or `Claim/id`. An update of a version that is no longer
    /// the latest is then refused by [`Store::record`] (409).
    pub async fn find_prior(
        &self,
        submitter: &str,
        prior: &Prior,
    ) -> Result<Option<StoredSubmission>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let by_claim = |identifier: &str| (submitter.to_owned(), identifier.to_owned());
        let chain_identifier = match prior {
            Prior::Identifier(identifier) => Some(by_claim(identifier)),
            Prior::Carried {
                full_url,
                identifier,
            } => {
                if let Some(id) = sql::version_by_reference(&mut conn, submitter, full_url).await? {
                    return sql::load(&mut conn, &id).await;
                }
                identifier.as_deref().map(by_claim)
            }
            Prior::Reference(reference) => {
                return match sql::version_by_reference(&mut conn, submitter, reference).await? {
                    Some(id) => sql::load(&mut conn, &id).await,
                    None => Ok(None),
                };
            }
        };
        let Some((submitter, identifier)) = chain_identifier else {
            return Ok(None);
        };
        match sql::chain_of_claim(&mut conn, &submitter, &identifier).await? {
            Some(chain) => sql::latest_in_chain(&mut conn, &chain).await,
            None => Ok(None),
        }
    }

    /// The latest version of the chain that issued this authorization number.
    pub async fn find_authorization(
        &self,
        number: &str,
    ) -> Result<Option<StoredSubmission>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let chains = sql::chains_with_number(&mut conn, number).await?;
        match chains.first() {
            Some(chain) => sql::latest_in_chain(&mut conn, chain).await,
            None => Ok(None),
        }
    }

    /// Every version of a chain, oldest first.
    pub async fn history(&self, chain_id: &str) -> Result<Vec<StoredSubmission>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        sql::history(&mut conn, chain_id).await
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
            sql::chains_with_number(&mut conn, number).await?
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
            let versions = sql::history(&mut conn, &chain).await?;
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
        let mut tx = writer::begin_write(&self.pool, self.backend).await?;
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
