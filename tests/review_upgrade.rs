//! A database made by the schema before review cases (migration 1 only) upgrades in place:
//! its records are kept, their answers are attributed to the engine, and a pended answer it
//! holds gets its review case. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::borrow::Cow;
use std::path::Path;

use pas_adapter::policy::PolicySet;
use pas_adapter::review::CaseFilter;
use pas_adapter::service::{Service, ServiceSettings};
use pas_adapter::store::{MIGRATIONS, Store};
use serde_json::{Value, json};
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use support::db::Db;

fn pended() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-bundles/15-ihc2-no-ish-a4.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn old_database(uri: &str) -> (String, Value) {
    sqlx::any::install_default_drivers();
    let uri = if uri.starts_with("sqlite:") {
        format!("{uri}?mode=rwc")
    } else {
        uri.to_owned()
    };
    let pool = sqlx::AnyPool::connect(&uri).await.unwrap();
    let (version, description, sql) = MIGRATIONS[0];
    assert_eq!(version, 1);
    Migrator::with_migrations(vec![Migration::new(
        version,
        Cow::Borrowed(description),
        MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )])
    .run(&pool)
    .await
    .unwrap();
    // What the previous version of the adapter stored for sample 15: a pended answer.
    let response = Service::new(PolicySet::embedded(), ServiceSettings::default())
        .submit(&pas_adapter::service::Caller::Unauthenticated, pended())
        .await
        .unwrap()
        .response;
    let trace = json!([{"sequence": 1, "action": "A4", "cancelled": false, "authorization": null,
        "summary": "pended", "policy": {"id": "MP-RX-FP-48-23", "revision": "2023-09"},
        "criteria": [{"id": "A.i.B", "status": "missing", "because": []}]}]);
    let id = "0b9d7d3e-5d4c-4f7e-9c1e-000000000015";
    sqlx::query(
        "INSERT INTO submissions (id, chain_id, version, supersedes, status, received_at, \
         submitter, bundle_identifier, claim_identifier, content_hash, patient_member_id, \
         provider_id, insurer_id, policy_revision, authorized_until, request_json, \
         response_json, decision_trace_json) VALUES ($1, $1, 1, NULL, 'active', \
         '2026-11-30T10:00:00.000000Z', 'http://example.org/SUBMITTER_TRANSACTION_IDENTIFIER', \
         NULL, 'http://example.org/PATIENT_EVENT_TRACE_NUMBER|TRN-2026-0015', 'h', NULL, NULL, \
         NULL, 'MP-RX-FP-48-23@2023-09', NULL, $2, $3, $4)",
    )
    .bind(id)
    .bind(pended().to_string())
    .bind(response.to_string())
    .bind(trace.to_string())
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    (id.to_owned(), response)
}

async fn an_old_database_upgrades_in_place(db: &Db) {
    let (id, response) = old_database(&db.uri).await;
    let store = Store::connect(&db.uri).await.unwrap();
    let kept = store
        .get(&id)
        .await
        .unwrap()
        .expect("the old record is kept");
    assert_eq!(kept.response, response);
    assert_eq!(kept.version, 1);
    let cases = store.review_cases(CaseFilter::Open).await.unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].opened_by, id);
    assert_eq!(
        cases[0].received_at.to_rfc3339(),
        "2026-11-30T10:00:00+00:00"
    );
    let history = store.answer_history(&id).await.unwrap();
    assert_eq!(history.len(), 1);
    let origin = history[0]
        .1
        .as_ref()
        .expect("the old answer has its origin");
    assert_eq!(origin.answered_by, "engine");
    store.close().await;
    // Opening again neither migrates again nor opens a second case.
    let store = Store::connect(&db.uri).await.unwrap();
    assert_eq!(store.review_cases(CaseFilter::All).await.unwrap().len(), 1);
}

#[tokio::test]
async fn sqlite_database_upgrades_in_place() {
    an_old_database_upgrades_in_place(&Db::sqlite()).await;
}

#[tokio::test]
async fn postgres_database_upgrades_in_place() {
    if let Some(db) = Db::postgres("pas_upgrade").await {
        an_old_database_upgrades_in_place(&db).await;
    }
}
