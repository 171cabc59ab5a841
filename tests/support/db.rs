//! The databases the store tests run on: SQLite in a temporary folder, and a fresh database
//! on the PostgreSQL test server (`PAS_TEST_POSTGRES_URL`, started by `scripts/test`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Where a test's database lives; the SQLite folder is removed with it.
pub struct Db {
    pub uri: String,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("sqlite://{}", dir.path().join("pas-adapter.db").display());
        Self {
            uri,
            _dir: Some(dir),
        }
    }

    /// A new, empty database named `{prefix}_{uuid}` on the test server, or `None` when there
    /// is no server (outside CI; under CI its absence fails the test instead of skipping).
    pub async fn postgres(prefix: &str) -> Option<Self> {
        let Ok(admin) = std::env::var("PAS_TEST_POSTGRES_URL") else {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "PAS_TEST_POSTGRES_URL is not set: CI must run the store suites on PostgreSQL"
                );
            }
            eprintln!("PAS_TEST_POSTGRES_URL is not set: skipping the PostgreSQL run");
            return None;
        };
        sqlx::any::install_default_drivers();
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin.as_str(), String::new()),
        };
        let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
        Some(Self {
            uri: format!("{base}/{name}{query}"),
            _dir: None,
        })
    }
}

/// Runs each scenario `async fn name(db: &Db)` of the calling test file as two tests, on
/// SQLite and on a fresh PostgreSQL database named after `prefix` (skipped outside CI when no
/// server is configured). The file must have `Db` in scope. (Unused in the test files that
/// include this module for `Db` alone.)
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($prefix:literal: $($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(&super::Db::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    if let Some(db) = super::Db::postgres($prefix).await {
                        super::$scenario(&db).await;
                    }
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_backends;
