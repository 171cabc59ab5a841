//! The audit trail (security.md section 3): one row per authenticated request and per
//! refusal, with who, which operation, the outcome status, the authorization numbers touched
//! and the request id. It never holds clinical content: there is no column for it.

use chrono::{DateTime, Months, NaiveDate, SecondsFormat, SubsecRound, Utc};
use sqlx::Row;

use super::{MIN_RETENTION_MONTHS, Store, StoreError};

/// Who made a request, as far as the adapter could tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKind {
    Client,
    Reviewer,
    /// No valid credential (a refusal), or the credential's owner could not be verified.
    Anonymous,
}

impl AgentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Reviewer => "reviewer",
            Self::Anonymous => "anonymous",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "client" => Some(Self::Client),
            "reviewer" => Some(Self::Reviewer),
            "anonymous" => Some(Self::Anonymous),
            _ => None,
        }
    }
}

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: String,
    pub recorded_at: DateTime<Utc>,
    pub agent_kind: AgentKind,
    /// The client id or reviewer; for an anonymous refusal, the client id the caller claimed
    /// (unverified) when it named one.
    pub agent: Option<String>,
    /// The route pattern (`/Claim/$submit`, `/auth/token`), never the raw path.
    pub operation: String,
    pub method: String,
    pub status: u16,
    /// Authorization numbers the request created or read.
    pub authorizations: Vec<String>,
    pub request_id: String,
}

impl AuditRecord {
    /// A record made now with a fresh id.
    pub fn now(
        agent_kind: AgentKind,
        agent: Option<String>,
        operation: impl Into<String>,
        method: impl Into<String>,
        status: u16,
        request_id: impl Into<String>,
    ) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            recorded_at: Utc::now().trunc_subsecs(6),
            agent_kind,
            agent,
            operation: operation.into(),
            method: method.into(),
            status,
            authorizations: Vec::new(),
            request_id: request_id.into(),
        }
    }
}

/// Which records [`Store::audit_events`] returns: all bounds optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Recorded at or after.
    pub since: Option<DateTime<Utc>>,
    /// Recorded strictly before.
    pub before: Option<DateTime<Utc>>,
    pub agent: Option<String>,
    /// At most this many, oldest first.
    pub limit: u32,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Store {
    /// Writes one audit record (committed when this returns).
    pub async fn record_audit(&self, record: &AuditRecord) -> Result<(), StoreError> {
        let authorizations =
            (!record.authorizations.is_empty()).then(|| record.authorizations.join(","));
        sqlx::query(
            "INSERT INTO audit_events (id, recorded_at, agent_kind, agent, operation, method, \
             status, authorizations, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(record.id.as_str())
        .bind(time(record.recorded_at))
        .bind(record.agent_kind.as_str())
        .bind(record.agent.as_deref())
        .bind(record.operation.as_str())
        .bind(record.method.as_str())
        .bind(i64::from(record.status))
        .bind(authorizations)
        .bind(record.request_id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes audit records past retention (security.md: kept as long as the submissions
    /// they concern): recorded more than `keep_months` before `today`, and naming no
    /// authorization number still stored. Run after [`Store::purge`]; returns how many went.
    pub async fn purge_audit(&self, today: NaiveDate, keep_months: u32) -> Result<u64, StoreError> {
        if keep_months < MIN_RETENTION_MONTHS {
            return Err(StoreError::Retention(keep_months));
        }
        let cutoff = today
            .checked_sub_months(Months::new(keep_months))
            .unwrap_or(NaiveDate::MIN)
            .format("%Y-%m-%d")
            .to_string();
        let rows =
            sqlx::query("SELECT id, authorizations FROM audit_events WHERE recorded_at < $1")
                .bind(cutoff.as_str())
                .fetch_all(&self.pool)
                .await?;
        let mut removed = 0;
        for row in rows {
            let id: String = row.try_get("id")?;
            let numbers: Option<String> = row.try_get("authorizations")?;
            let mut still_stored = false;
            for number in numbers.iter().flat_map(|n| n.split(',')) {
                let found =
                    sqlx::query("SELECT 1 AS one FROM authorizations WHERE number = $1 LIMIT 1")
                        .bind(number)
                        .fetch_optional(&self.pool)
                        .await?;
                if found.is_some() {
                    still_stored = true;
                    break;
                }
            }
            if !still_stored {
                removed += sqlx::query("DELETE FROM audit_events WHERE id = $1")
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
            }
        }
        Ok(removed)
    }

    /// The audit records matching `query`, oldest first.
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let mut conditions = Vec::new();
        let mut binds = Vec::new();
        for (column, op, value) in [
            ("recorded_at", ">=", query.since.map(time)),
            ("recorded_at", "<", query.before.map(time)),
            ("agent", "=", query.agent.clone()),
        ] {
            if let Some(value) = value {
                binds.push(value);
                conditions.push(format!("{column} {op} ${}", binds.len()));
            }
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT id, recorded_at, agent_kind, agent, operation, method, status, \
             authorizations, request_id FROM audit_events {filter} \
             ORDER BY recorded_at, id LIMIT {}",
            query.limit
        );
        let mut select = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in binds {
            select = select.bind(value);
        }
        let rows = select.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                let corrupt = |message: String| StoreError::Corrupt {
                    id: format!("audit event `{id}`"),
                    message,
                };
                let recorded_at: String = row.try_get("recorded_at")?;
                let kind: String = row.try_get("agent_kind")?;
                let status: i64 = row.try_get("status")?;
                let authorizations: Option<String> = row.try_get("authorizations")?;
                Ok(AuditRecord {
                    recorded_at: DateTime::parse_from_rfc3339(&recorded_at)
                        .map_err(|e| corrupt(format!("`recorded_at`: {e}")))?
                        .with_timezone(&Utc),
                    agent_kind: AgentKind::parse(&kind)
                        .ok_or_else(|| corrupt(format!("agent kind `{kind}`")))?,
                    agent: row.try_get("agent")?,
                    operation: row.try_get("operation")?,
                    method: row.try_get("method")?,
                    status: u16::try_from(status).map_err(|e| corrupt(format!("`status`: {e}")))?,
                    authorizations: authorizations
                        .map(|a| a.split(',').map(str::to_owned).collect())
                        .unwrap_or_default(),
                    request_id: row.try_get("request_id")?,
                    id,
                })
            })
            .collect()
    }
}
