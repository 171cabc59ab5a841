//! Subscriptions and the notification outbox (workflow.md section 3).
//!
//! A notification is written by [`enqueue`] in the transaction of the answer that causes it,
//! with the next event number of its subscription (the counter is incremented in the same
//! transaction, so a rolled-back answer leaves no gap). Delivery workers claim due rows with a
//! lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so each row is taken by one instance; the
//! SQLite writer lock does the same on one file), and mark them delivered or due again later.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sqlx::{AnyConnection, Row};

use super::writer::begin_write;
use super::{Backend, NewSubmission, Store, StoreError};
use crate::notify::{self, NotificationType};

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(text: &str, id: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            id: id.to_owned(),
            message: format!("time `{text}`: {e}"),
        })
}

fn json_of(text: &str, id: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        id: id.to_owned(),
        message: format!("JSON: {e}"),
    })
}

/// A stored subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRecord {
    pub id: String,
    /// The submitter key of the client that created it (empty without authentication).
    pub owner: String,
    /// `requested`, `active`, `error` or `off`.
    pub status: String,
    pub endpoint: String,
    pub headers: Vec<String>,
    pub filters: Vec<String>,
    pub end: Option<DateTime<Utc>>,
    /// Events issued since the subscription started.
    pub events: i64,
    pub last_error: Option<String>,
    /// The resource as received (its `id` and `status` are set when it is answered).
    pub resource: Value,
}

impl SubscriptionRecord {
    /// The resource as answered: the stored one with its id and current status, and the
    /// values of `channel.header` masked (they often carry the subscriber's credentials).
    pub fn to_resource(&self) -> Value {
        let mut resource = self.resource.clone();
        if let Some(headers) = resource
            .pointer_mut("/channel/header")
            .and_then(Value::as_array_mut)
        {
            for header in headers.iter_mut() {
                if let Some((name, _)) = header.as_str().and_then(|h| h.split_once(':')) {
                    *header = Value::String(format!("{}: ***", name.trim()));
                }
            }
        }
        resource["id"] = Value::String(self.id.clone());
        resource["status"] = Value::String(self.status.clone());
        if let Some(error) = &self.last_error {
            resource["error"] = Value::String(error.clone());
        } else if let Some(fields) = resource.as_object_mut() {
            fields.remove("error");
        }
        resource
    }
}

/// A notification ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingNotification {
    pub id: String,
    pub subscription_id: String,
    pub event_number: i64,
    pub endpoint: String,
    pub headers: Vec<String>,
    pub payload: String,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
}

const SUBSCRIPTION_COLUMNS: &str = "id, owner, status, endpoint, headers_json, filters_json, end_at, events, last_error, \
     resource_json";

fn subscription_of(row: &sqlx::any::AnyRow) -> Result<SubscriptionRecord, StoreError> {
    let id: String = row.try_get("id")?;
    let list = |column: &str| -> Result<Vec<String>, StoreError> {
        let text: String = row.try_get(column)?;
        serde_json::from_value(json_of(&text, &id)?).map_err(|e| StoreError::Corrupt {
            id: id.clone(),
            message: format!("`{column}`: {e}"),
        })
    };
    let end: Option<String> = row.try_get("end_at")?;
    Ok(SubscriptionRecord {
        owner: row.try_get("owner")?,
        status: row.try_get("status")?,
        endpoint: row.try_get("endpoint")?,
        headers: list("headers_json")?,
        filters: list("filters_json")?,
        end: end.map(|t| parse_time(&t, &id)).transpose()?,
        events: row.try_get("events")?,
        last_error: row.try_get("last_error")?,
        resource: json_of(&row.try_get::<String, _>("resource_json")?, &id)?,
        id,
    })
}

/// Called by the writer when a new version changed the answer of a pended authorization:
/// one notification per active subscription whose filter matches the request, each with the
/// next event number of its subscription.
pub(super) async fn enqueue(
    conn: &mut AnyConnection,
    new: &NewSubmission,
    submission_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let identifiers = notify::request_org_identifiers(&new.request);
    if identifiers.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE status = 'active' ORDER BY id"
    )))
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let subscription = subscription_of(row)?;
        // A client's subscription hears of that client's requests only: another submitter's
        // answer is never sent to it, whatever organization identifiers match.
        let foreign = !subscription.owner.is_empty() && subscription.owner != new.keys.submitter;
        if foreign
            || subscription.end.is_some_and(|end| end <= at)
            || !notify::matches(&subscription.filters, &identifiers)
        {
            continue;
        }
        // The row lock taken here (PostgreSQL) or the writer lock (SQLite) makes the number
        // unique; the transaction makes it gap-free.
        let number: i64 = sqlx::query(
            "UPDATE subscriptions SET events = events + 1 WHERE id = $1 RETURNING events",
        )
        .bind(subscription.id.as_str())
        .fetch_one(&mut *conn)
        .await?
        .try_get("events")?;
        let payload = notify::notification(
            &subscription.id,
            NotificationType::EventNotification,
            Some((number, at, &new.response)),
            number,
        );
        sqlx::query(
            "INSERT INTO notifications (id, subscription_id, event_number, submission_id, \
             created_at, payload_json, attempts, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $5)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(subscription.id.as_str())
        .bind(number)
        .bind(submission_id)
        .bind(rfc3339(at))
        .bind(payload.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Stores a new subscription of `owner` (status `requested`).
    pub async fn create_subscription(
        &self,
        owner: &str,
        spec: &notify::SubscriptionSpec,
        resource: &Value,
    ) -> Result<SubscriptionRecord, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO subscriptions (id, owner, status, endpoint, headers_json, filters_json, \
             end_at, events, last_error, resource_json, created_at) \
             VALUES ($1, $8, 'requested', $2, $3, $4, $5, 0, NULL, $6, $7)",
        )
        .bind(id.as_str())
        .bind(spec.endpoint.as_str())
        .bind(serde_json::to_string(&spec.headers).unwrap_or_else(|_| "[]".into()))
        .bind(serde_json::to_string(&spec.filters).unwrap_or_else(|_| "[]".into()))
        .bind(spec.end.map(rfc3339))
        .bind(resource.to_string())
        .bind(rfc3339(Utc::now()))
        .bind(owner)
        .execute(&self.pool)
        .await?;
        self.subscription(&id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("subscription `{id}`")))
    }

    /// Replaces a subscription's resource; it is `requested` again until its handshake.
    /// `false` when there is no such subscription.
    pub async fn update_subscription(
        &self,
        id: &str,
        spec: &notify::SubscriptionSpec,
        resource: &Value,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE subscriptions SET status = 'requested', endpoint = $2, headers_json = $3, \
             filters_json = $4, end_at = $5, last_error = NULL, resource_json = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(spec.endpoint.as_str())
        .bind(serde_json::to_string(&spec.headers).unwrap_or_else(|_| "[]".into()))
        .bind(serde_json::to_string(&spec.filters).unwrap_or_else(|_| "[]".into()))
        .bind(spec.end.map(rfc3339))
        .bind(resource.to_string())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated > 0)
    }

    pub async fn set_subscription_status(
        &self,
        id: &str,
        status: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE subscriptions SET status = $2, last_error = $3 WHERE id = $1")
            .bind(id)
            .bind(status)
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(subscription_of)
        .transpose()
    }

    /// Subscriptions, optionally only those with `status`.
    pub async fn subscriptions(
        &self,
        status: Option<&str>,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let rows =
            match status {
                Some(status) => sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE status = $1 ORDER BY id"
                )))
                .bind(status)
                .fetch_all(&self.pool)
                .await?,
                None => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY id"
                    )))
                    .fetch_all(&self.pool)
                    .await?
                }
            };
        rows.iter().map(subscription_of).collect()
    }

    /// Deletes a subscription and its undelivered notifications. `false` when none had `id`.
    pub async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.pool, self.backend).await?;
        sqlx::query("DELETE FROM notifications WHERE subscription_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM subscriptions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    /// Takes up to `limit` notifications due at `now` for delivery, leased until
    /// `leased_until` (a worker that dies leaves them to be taken again after the lease).
    pub async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        leased_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<PendingNotification>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = begin_write(&self.pool, self.backend).await?;
        let ids: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM notifications WHERE delivered_at IS NULL AND abandoned_at IS NULL \
             AND next_attempt_at <= $1 AND (leased_until IS NULL OR leased_until <= $1) \
             ORDER BY subscription_id, event_number LIMIT $2 {lock}"
        )))
        .bind(rfc3339(now))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            sqlx::query("UPDATE notifications SET leased_until = $2 WHERE id = $1")
                .bind(id.as_str())
                .bind(rfc3339(leased_until))
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query(
                "SELECT n.id, n.subscription_id, n.event_number, n.payload_json, n.attempts, \
                 n.created_at, s.endpoint, s.headers_json FROM notifications n \
                 JOIN subscriptions s ON s.id = n.subscription_id WHERE n.id = $1",
            )
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            let headers: String = row.try_get("headers_json")?;
            claimed.push(PendingNotification {
                subscription_id: row.try_get("subscription_id")?,
                event_number: row.try_get("event_number")?,
                endpoint: row.try_get("endpoint")?,
                headers: serde_json::from_value(json_of(&headers, &id)?).unwrap_or_default(),
                payload: row.try_get("payload_json")?,
                attempts: row.try_get("attempts")?,
                created_at: parse_time(&row.try_get::<String, _>("created_at")?, &id)?,
                id,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// The endpoint acknowledged the notification: it is never sent again.
    pub async fn notification_delivered(
        &self,
        notification: &PendingNotification,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE notifications SET delivered_at = $2, attempts = attempts + 1, \
             leased_until = NULL, last_error = NULL WHERE id = $1",
        )
        .bind(notification.id.as_str())
        .bind(rfc3339(at))
        .execute(&self.pool)
        .await?;
        sqlx::query("UPDATE subscriptions SET last_error = NULL WHERE id = $1")
            .bind(notification.subscription_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A failed attempt: due again at `retry_at`, or abandoned when `retry_at` is `None`.
    pub async fn notification_failed(
        &self,
        notification: &PendingNotification,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        sqlx::query(
            "UPDATE notifications SET attempts = attempts + 1, leased_until = NULL, \
             last_error = $2, next_attempt_at = $3, abandoned_at = $4 WHERE id = $1",
        )
        .bind(notification.id.as_str())
        .bind(error)
        .bind(rfc3339(retry_at.unwrap_or(now)))
        .bind(retry_at.is_none().then(|| rfc3339(now)))
        .execute(&self.pool)
        .await?;
        sqlx::query("UPDATE subscriptions SET last_error = $2 WHERE id = $1")
            .bind(notification.subscription_id.as_str())
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
