//! The store's schema: the embedded migrations and how they are applied.

use std::borrow::Cow;

use sqlx::AnyPool;
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::{Backend, StoreError};

/// The schema, embedded so that the binary migrates any database it is pointed at.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "submissions",
        include_str!("../../migrations/0001_submissions.sql"),
    ),
    (
        2,
        "request identity",
        include_str!("../../migrations/0002_request_identity.sql"),
    ),
    (3, "auth", include_str!("../../migrations/0003_auth.sql")),
    (
        4,
        "review",
        include_str!("../../migrations/0004_review.sql"),
    ),
    (
        5,
        "store probe",
        include_str!("../../migrations/0005_store_probe.sql"),
    ),
];

/// Brings the schema up to date. PostgreSQL instances starting together serialize on the
/// migrator's advisory lock; SQLite has none, so a process that lost the race (its migration
/// saw an old schema version and then hit the tables the winner created) reads the applied
/// versions again and finds nothing left to do.
pub(super) async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
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
    migrator_of(MIGRATIONS)
}

/// A migrator over `migrations` (all of them, or the first few in tests of an upgrade).
fn migrator_of(migrations: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        migrations
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
