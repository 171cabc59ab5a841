//! Whether the store can take writes, for the answers of a failing store (503) and for
//! `/healthz`, which a load balancer reads to stop sending requests to an instance that
//! cannot record them.
//!
//! The writer is the one place that learns it: a write transaction that fails for a reason
//! of the store's own (a full disk, an I/O error, a database that went away; see
//! [`is_store_level`]) marks the store failing; the next transaction that commits, a batch
//! or the writer's probe ([`probe`], run while failing and idle), marks it writable again.
//! A failure caused by one record (a constraint its data breaks) does not.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::AnyPool;

use super::Backend;

/// How often the idle writer tries a write while the store is failing.
pub(super) const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Since when writes have been failing; `None` while they work.
#[derive(Debug, Clone, Default)]
pub(super) struct WriteHealth(Arc<Mutex<Option<DateTime<Utc>>>>);

impl WriteHealth {
    /// Since when writes have been failing, if they are.
    pub(super) fn failing_since(&self) -> Option<DateTime<Utc>> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A write transaction failed for a reason of the store's own.
    pub(super) fn failed(&self) {
        let mut since = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if since.is_none() {
            *since = Some(Utc::now());
            metrics::gauge!("pas_store_writable").set(0.0);
        }
    }

    /// A write transaction committed.
    pub(super) fn committed(&self) {
        let mut since = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(failing_since) = since.take() {
            metrics::gauge!("pas_store_writable").set(1.0);
            tracing::info!(
                failing_since = %failing_since.to_rfc3339_opts(SecondsFormat::Secs, true),
                "store writes work again"
            );
        }
    }
}

/// What `/healthz` reports of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreHealth {
    /// Writes commit and reads answer.
    Ready,
    /// Write transactions have been failing since then (full disk, I/O error, database
    /// gone); requests that must be recorded are answered 503 meanwhile.
    WritesFailing { since: DateTime<Utc> },
    /// A read did not answer in time, or failed.
    Unreachable,
}

impl StoreHealth {
    pub fn is_ready(self) -> bool {
        self == Self::Ready
    }
}

/// Whether `error` says the store itself cannot write (rather than that one record's data
/// was refused): I/O and connection failures, and the databases' own codes for a full disk,
/// I/O errors and resources or the server going away.
pub(crate) fn is_store_level(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(database) => {
            let Some(code) = database.code() else {
                return false;
            };
            if database
                .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                .is_some()
            {
                // SQLite: the primary result code (the low byte of an extended one). 13 FULL,
                // 10 IOERR, 14 CANTOPEN, 8 READONLY, 5 BUSY (the lock not released in the
                // busy timeout), 11 CORRUPT, 26 NOTADB.
                code.parse::<i64>()
                    .is_ok_and(|code| matches!(code & 0xff, 5 | 8 | 10 | 11 | 13 | 14 | 26))
            } else {
                // PostgreSQL: SQLSTATE classes 53 (insufficient resources, 53100 disk full),
                // 08 (connection), 57 (operator intervention, e.g. shutdown), 58 (system
                // error). Compared as text: "08006" is no number.
                ["53", "08", "57", "58"]
                    .iter()
                    .any(|class| code.starts_with(class))
            }
        }
        _ => false,
    }
}

/// One small write transaction: whether the store takes writes now.
pub(super) async fn probe(pool: &AnyPool, backend: Backend) -> Result<(), sqlx::Error> {
    let mut tx = super::writer::begin_write(pool, backend).await?;
    sqlx::query(
        "INSERT INTO store_probe (id, checked_at) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
    )
    .bind(Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true))
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    #[test]
    fn io_and_pool_failures_are_the_stores() {
        let io = std::io::Error::other("no space left on device");
        assert!(is_store_level(&sqlx::Error::Io(io)));
        assert!(is_store_level(&sqlx::Error::PoolTimedOut));
        assert!(!is_store_level(&sqlx::Error::RowNotFound));
    }

    #[tokio::test]
    async fn a_record_refused_by_a_constraint_is_not_the_stores_failure() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .execute(&mut conn)
            .await
            .expect("table");
        sqlx::query("INSERT INTO t (id) VALUES (1)")
            .execute(&mut conn)
            .await
            .expect("first row");
        let duplicate = sqlx::query("INSERT INTO t (id) VALUES (1)")
            .execute(&mut conn)
            .await
            .expect_err("a duplicate key");
        assert!(!is_store_level(&duplicate), "{duplicate}");
        // A read-only database is the store's (SQLITE_READONLY, 8).
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("ro.db");
        let uri = format!("sqlite://{}", path.display());
        sqlx::SqliteConnection::connect(&format!("{uri}?mode=rwc"))
            .await
            .expect("create the file")
            .close()
            .await
            .expect("close");
        let mut readonly = sqlx::SqliteConnection::connect(&format!("{uri}?mode=ro"))
            .await
            .expect("open read-only");
        let error = sqlx::query("CREATE TABLE u (id INTEGER)")
            .execute(&mut readonly)
            .await
            .expect_err("a read-only database refuses writes");
        assert!(is_store_level(&error), "{error}");
    }
}
