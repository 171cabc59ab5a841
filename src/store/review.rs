//! The review side of the store (workflow.md sections 1, 2 and 4): who gave each answer,
//! the review cases of pended answers, and the reviewer accounts.
//!
//! Cases are opened and closed by [`recorded`], which the writer calls inside the transaction
//! of every new version, so a pended answer and its case (and the closing of the case it
//! answers) commit or fail together: no pended answer is ever left without a case.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{NewSubmission, Status, Store, StoreError, StoredSubmission};

const LEVEL_OF_SERVICE_URL: &str =
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-levelOfServiceCode";

/// Who gave a stored answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AnsweredBy {
    /// The policy engine, on the original request.
    #[default]
    Engine,
    /// The policy engine, on the provider's update or cancellation.
    ProviderUpdate,
    /// A plan reviewer (the account name; stored, never written into a response).
    Reviewer { name: String, at: DateTime<Utc> },
}

impl AnsweredBy {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Engine => "engine",
            Self::ProviderUpdate => "provider-update",
            Self::Reviewer { .. } => "reviewer",
        }
    }
}

/// How urgent a request is (workflow.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// `extension-levelOfServiceCode` `U` (urgent) or `03` (emergency), or `Claim.priority`
    /// `stat`.
    Expedited,
    Standard,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expedited => "expedited",
            Self::Standard => "standard",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "expedited" => Some(Self::Expedited),
            "standard" => Some(Self::Standard),
            _ => None,
        }
    }

    /// The priority of a request Bundle, read from its (first) Claim.
    pub fn of_request(bundle: &Value) -> Self {
        let claim = bundle
            .get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("resource"))
            .find(|r| r.get("resourceType").and_then(Value::as_str) == Some("Claim"));
        match claim {
            Some(claim) => Self::of_claim(claim),
            None => Self::Standard,
        }
    }

    pub fn of_claim(claim: &Value) -> Self {
        let codes = |concept: Option<&Value>| -> Vec<String> {
            concept
                .and_then(|c| c.get("coding"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("code").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        };
        let stat = codes(claim.get("priority")).iter().any(|c| c == "stat");
        let urgent = claim
            .get("extension")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|e| e.get("url").and_then(Value::as_str) == Some(LEVEL_OF_SERVICE_URL))
            .flat_map(|e| codes(e.get("valueCodeableConcept")))
            .any(|c| c == "U" || c == "03");
        if stat || urgent {
            Self::Expedited
        } else {
            Self::Standard
        }
    }
}

/// How a case was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedHow {
    Reviewer,
    ProviderUpdate,
    Cancellation,
}

impl ClosedHow {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reviewer => "reviewer",
            Self::ProviderUpdate => "provider-update",
            Self::Cancellation => "cancellation",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "reviewer" => Some(Self::Reviewer),
            "provider-update" => Some(Self::ProviderUpdate),
            "cancellation" => Some(Self::Cancellation),
            _ => None,
        }
    }
}

/// The closing of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closing {
    pub at: DateTime<Utc>,
    /// The version (submission id) that answered the pended items.
    pub by: String,
    pub how: ClosedHow,
}

/// A review case as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRecord {
    pub id: String,
    pub chain_id: String,
    /// The version whose pended items the case is about.
    pub opened_by: String,
    /// Changes whenever the case does (1 when opened, 2 when closed).
    pub version: i64,
    pub priority: Priority,
    pub received_at: DateTime<Utc>,
    /// `None` while the case is open.
    pub closed: Option<Closing>,
}

impl CaseRecord {
    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }
}

/// Which cases to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseFilter {
    Open,
    Closed,
    All,
}

/// Who gave one stored version, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerOrigin {
    pub submission_id: String,
    pub answered_by: String,
    /// The reviewer account, for `reviewer` answers.
    pub reviewer: Option<String>,
    pub answered_at: DateTime<Utc>,
}

/// A reviewer account (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewer {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// The sequences of the items a decision trace answers `A4` (and the submitter did not cancel).
pub fn pended_sequences(trace: &Value) -> Vec<u32> {
    trace
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item.get("action").and_then(Value::as_str) == Some("A4"))
        .filter(|item| item.get("cancelled").and_then(Value::as_bool) != Some(true))
        .filter_map(|item| item.get("sequence").and_then(Value::as_u64))
        .filter_map(|s| u32::try_from(s).ok())
        .collect()
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(text: &str, id: &str, column: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            id: id.to_owned(),
            message: format!("`{column}`: {e}"),
        })
}

/// Called by the writer inside the transaction of every new version `id` of `chain_id`:
/// records who answered, closes the chain's open case (the pended items are answered now) and
/// opens a case when this version pends an item. Returns whether a case was closed, i.e.
/// whether the answer of a pended authorization changed (what subscribers are told).
pub(super) async fn recorded(
    conn: &mut AnyConnection,
    new: &NewSubmission,
    id: &str,
    chain_id: &str,
    received_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let (reviewer, answered_at) = match &new.answered_by {
        AnsweredBy::Reviewer { name, at } => (Some(name.as_str()), *at),
        AnsweredBy::Engine | AnsweredBy::ProviderUpdate => (None, received_at),
    };
    sqlx::query(
        "INSERT INTO answer_versions (submission_id, answered_by, reviewer, answered_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(new.answered_by.kind())
    .bind(reviewer)
    .bind(rfc3339(answered_at))
    .execute(&mut *conn)
    .await?;
    let how = match (&new.answered_by, new.status) {
        (AnsweredBy::Reviewer { .. }, _) => ClosedHow::Reviewer,
        (_, Status::Cancelled) => ClosedHow::Cancellation,
        _ => ClosedHow::ProviderUpdate,
    };
    // A new chain (an original request) has no case to close.
    let closed = if new.supersedes.is_none() {
        0
    } else {
        sqlx::query(
            "UPDATE review_cases SET status = 'closed', version = version + 1, closed_at = $1, \
         closed_by = $2, closed_how = $3 WHERE chain_id = $4 AND status = 'open'",
        )
        .bind(rfc3339(answered_at))
        .bind(id)
        .bind(how.as_str())
        .bind(chain_id)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    };
    if new.status == Status::Active && !pended_sequences(&new.decision_trace).is_empty() {
        open_case(
            conn,
            chain_id,
            id,
            Priority::of_request(&new.request),
            received_at,
        )
        .await?;
    }
    Ok(closed > 0)
}

async fn open_case(
    conn: &mut AnyConnection,
    chain_id: &str,
    opened_by: &str,
    priority: Priority,
    received_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO review_cases (id, chain_id, opened_by, version, status, priority, \
         received_at) VALUES ($1, $2, $3, 1, 'open', $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(chain_id)
    .bind(opened_by)
    .bind(priority.as_str())
    .bind(rfc3339(received_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Opens the cases of pended answers stored before review cases existed (a database made by
/// an earlier schema): every latest, active version with an A4 item and no case.
pub(super) async fn open_missing_cases(conn: &mut AnyConnection) -> Result<u64, StoreError> {
    // The LIKE narrows the scan to traces that name A4 at all; the trace is then read.
    let rows = sqlx::query(
        "SELECT s.id, s.chain_id, s.received_at, s.request_json, s.decision_trace_json \
         FROM submissions s WHERE s.status = 'active' \
         AND s.decision_trace_json LIKE '%\"A4\"%' \
         AND s.version = (SELECT MAX(v.version) FROM submissions v WHERE v.chain_id = s.chain_id) \
         AND NOT EXISTS (SELECT 1 FROM review_cases c WHERE c.opened_by = s.id)",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut opened = 0;
    for row in rows {
        let id: String = row.try_get("id")?;
        let corrupt = |message: String| StoreError::Corrupt {
            id: id.clone(),
            message,
        };
        let trace: Value = serde_json::from_str(&row.try_get::<String, _>("decision_trace_json")?)
            .map_err(|e| corrupt(format!("`decision_trace_json`: {e}")))?;
        if pended_sequences(&trace).is_empty() {
            continue;
        }
        let request: Value = serde_json::from_str(&row.try_get::<String, _>("request_json")?)
            .map_err(|e| corrupt(format!("`request_json`: {e}")))?;
        let received_at = parse_time(
            &row.try_get::<String, _>("received_at")?,
            &id,
            "received_at",
        )?;
        let chain_id: String = row.try_get("chain_id")?;
        open_case(
            conn,
            &chain_id,
            &id,
            Priority::of_request(&request),
            received_at,
        )
        .await?;
        opened += 1;
    }
    Ok(opened)
}

const CASE_COLUMNS: &str = "id, chain_id, opened_by, version, status, priority, received_at, \
    closed_at, closed_by, closed_how";

fn case_of(row: &AnyRow) -> Result<CaseRecord, StoreError> {
    let id: String = row.try_get("id")?;
    let corrupt = |message: String| StoreError::Corrupt {
        id: id.clone(),
        message,
    };
    let priority: String = row.try_get("priority")?;
    let status: String = row.try_get("status")?;
    let closed = if status == "closed" {
        let at: Option<String> = row.try_get("closed_at")?;
        let by: Option<String> = row.try_get("closed_by")?;
        let how: Option<String> = row.try_get("closed_how")?;
        match (at, by, how) {
            (Some(at), Some(by), Some(how)) => Some(Closing {
                at: parse_time(&at, &id, "closed_at")?,
                by,
                how: ClosedHow::parse(&how)
                    .ok_or_else(|| corrupt(format!("closed_how `{how}`")))?,
            }),
            _ => return Err(corrupt("a closed case without its closing".into())),
        }
    } else {
        None
    };
    Ok(CaseRecord {
        id: id.clone(),
        chain_id: row.try_get("chain_id")?,
        opened_by: row.try_get("opened_by")?,
        version: row.try_get("version")?,
        priority: Priority::parse(&priority)
            .ok_or_else(|| corrupt(format!("priority `{priority}`")))?,
        received_at: parse_time(
            &row.try_get::<String, _>("received_at")?,
            &id,
            "received_at",
        )?,
        closed,
    })
}

/// SHA-256 of a reviewer token, hex.
fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// The cases, oldest receipt first (the caller orders by due time, which depends on the
    /// configured clocks).
    pub async fn review_cases(&self, filter: CaseFilter) -> Result<Vec<CaseRecord>, StoreError> {
        let condition = match filter {
            CaseFilter::Open => "WHERE status = 'open'",
            CaseFilter::Closed => "WHERE status = 'closed'",
            CaseFilter::All => "",
        };
        let mut conn = self.pool.acquire().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM review_cases {condition} ORDER BY received_at, id"
        )))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(case_of)
        .collect()
    }

    pub async fn review_case(&self, id: &str) -> Result<Option<CaseRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM review_cases WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(case_of)
        .transpose()
    }

    /// Who gave each version of a chain, oldest first, with the versions themselves.
    pub async fn answer_history(
        &self,
        chain_id: &str,
    ) -> Result<Vec<(StoredSubmission, Option<AnswerOrigin>)>, StoreError> {
        let versions = self.history(chain_id).await?;
        let mut conn = self.pool.acquire().await?;
        let mut out = Vec::with_capacity(versions.len());
        for version in versions {
            let row = sqlx::query(
                "SELECT answered_by, reviewer, answered_at FROM answer_versions \
                 WHERE submission_id = $1",
            )
            .bind(version.id.as_str())
            .fetch_optional(&mut *conn)
            .await?;
            let origin = match row {
                Some(row) => Some(AnswerOrigin {
                    submission_id: version.id.clone(),
                    answered_by: row.try_get("answered_by")?,
                    reviewer: row.try_get("reviewer")?,
                    answered_at: parse_time(
                        &row.try_get::<String, _>("answered_at")?,
                        &version.id,
                        "answered_at",
                    )?,
                }),
                None => None,
            };
            out.push((version, origin));
        }
        Ok(out)
    }

    /// The chains whose original request was received from `from` through `to` (UTC days).
    pub async fn chains_received(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<String>, StoreError> {
        let end = to.succ_opt().unwrap_or(to);
        sqlx::query(
            "SELECT chain_id FROM submissions WHERE version = 1 AND received_at >= $1 \
             AND received_at < $2 ORDER BY received_at, chain_id",
        )
        .bind(from.format("%Y-%m-%d").to_string())
        .bind(end.format("%Y-%m-%d").to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok(row.try_get("chain_id")?))
        .collect()
    }

    /// Creates a reviewer account and returns its token, which is not kept: only its hash.
    pub async fn add_reviewer(&self, name: &str) -> Result<(Reviewer, String), StoreError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::Conflict("a reviewer needs a name".into()));
        }
        // Two v4 UUIDs: 244 random bits from the operating system's generator.
        let token = format!(
            "pasr_{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let reviewer = Reviewer {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            created_at: Utc::now(),
        };
        let inserted = sqlx::query(
            "INSERT INTO reviewers (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(reviewer.id.as_str())
        .bind(reviewer.name.as_str())
        .bind(token_hash(&token))
        .bind(rfc3339(reviewer.created_at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "a reviewer named `{name}` already exists"
            )));
        }
        Ok((reviewer, token))
    }

    pub async fn reviewers(&self) -> Result<Vec<Reviewer>, StoreError> {
        sqlx::query("SELECT id, name, created_at FROM reviewers ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                Ok(Reviewer {
                    name: row.try_get("name")?,
                    created_at: parse_time(
                        &row.try_get::<String, _>("created_at")?,
                        &id,
                        "created_at",
                    )?,
                    id,
                })
            })
            .collect()
    }

    /// Signs a reviewer in to the page: a new session (cookie value) and its form token.
    pub async fn create_review_session(
        &self,
        reviewer: &Reviewer,
        lasts: chrono::Duration,
    ) -> Result<(String, String), StoreError> {
        let session = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let csrf = uuid::Uuid::new_v4().simple().to_string();
        let now = Utc::now();
        sqlx::query("DELETE FROM review_sessions WHERE expires_at < $1")
            .bind(rfc3339(now))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO review_sessions (id_hash, reviewer_id, csrf, expires_at)              VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash(&session))
        .bind(reviewer.id.as_str())
        .bind(csrf.as_str())
        .bind(rfc3339(now + lasts))
        .execute(&self.pool)
        .await?;
        Ok((session, csrf))
    }

    /// The reviewer and form token of a live session.
    pub async fn review_session(
        &self,
        session: &str,
    ) -> Result<Option<(Reviewer, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT r.id, r.name, r.created_at, s.csrf FROM review_sessions s              JOIN reviewers r ON r.id = s.reviewer_id WHERE s.id_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash(session))
        .bind(rfc3339(Utc::now()))
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => {
                let id: String = row.try_get("id")?;
                Ok(Some((
                    Reviewer {
                        name: row.try_get("name")?,
                        created_at: parse_time(
                            &row.try_get::<String, _>("created_at")?,
                            &id,
                            "created_at",
                        )?,
                        id,
                    },
                    row.try_get("csrf")?,
                )))
            }
            None => Ok(None),
        }
    }

    pub async fn end_review_session(&self, session: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM review_sessions WHERE id_hash = $1")
            .bind(token_hash(session))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes a reviewer account (its token stops working at once). `false` when none had
    /// that name.
    pub async fn remove_reviewer(&self, name: &str) -> Result<bool, StoreError> {
        let removed = sqlx::query("DELETE FROM reviewers WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    /// The reviewer a token belongs to.
    pub async fn reviewer_by_token(&self, token: &str) -> Result<Option<Reviewer>, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at FROM reviewers WHERE token_hash = $1")
            .bind(token_hash(token))
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => {
                let id: String = row.try_get("id")?;
                Ok(Some(Reviewer {
                    name: row.try_get("name")?,
                    created_at: parse_time(
                        &row.try_get::<String, _>("created_at")?,
                        &id,
                        "created_at",
                    )?,
                    id,
                }))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expedited_by_level_of_service_or_stat_priority() {
        let claim = |ext_code: Option<&str>, priority: &str| {
            let mut claim = json!({"resourceType": "Claim",
                "priority": {"coding": [{"code": priority}]}});
            if let Some(code) = ext_code {
                claim["extension"] = json!([{"url": LEVEL_OF_SERVICE_URL,
                    "valueCodeableConcept": {"coding": [{"code": code}]}}]);
            }
            Priority::of_claim(&claim)
        };
        assert_eq!(claim(Some("U"), "normal"), Priority::Expedited);
        assert_eq!(claim(Some("03"), "normal"), Priority::Expedited);
        assert_eq!(claim(None, "stat"), Priority::Expedited);
        assert_eq!(claim(Some("E"), "normal"), Priority::Standard);
        assert_eq!(claim(None, "normal"), Priority::Standard);
        assert_eq!(Priority::of_request(&json!({})), Priority::Standard);
    }

    #[test]
    fn pended_items_are_read_from_the_trace_without_cancelled_ones() {
        let trace = json!([
            {"sequence": 1, "action": "A1", "cancelled": false},
            {"sequence": 2, "action": "A4", "cancelled": false},
            {"sequence": 3, "action": "A4", "cancelled": true},
        ]);
        assert_eq!(pended_sequences(&trace), vec![2]);
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
