//! A record is durable once `Store::record` returns: a process killed with SIGKILL right after
//! acknowledging submissions loses none of them. The child is this test binary itself, run
//! with `PAS_CRASH_CHILD_DB` set: it records submissions concurrently and prints each
//! authorization number as soon as its `record` resolves; the parent kills it mid-stream and
//! reopens the database. Runs on SQLite, and on PostgreSQL when `PAS_TEST_POSTGRES_URL` is set
//! (required under `CI`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use support::db::Db;

use pas_adapter::policy::decision::ReviewAction;
use pas_adapter::store::{ItemAuthorization, NewSubmission, Store};
use serde_json::json;

const CHILD_ENV: &str = "PAS_CRASH_CHILD_DB";
const ACKNOWLEDGED_BEFORE_KILL: usize = 40;

fn submission(claim: &str) -> NewSubmission {
    let request = json!({
        "resourceType": "Bundle",
        "identifier": {"system": "urn:crash", "value": claim},
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:claim", "resource": {
            "resourceType": "Claim",
            "identifier": [{"system": "urn:crash:claims", "value": claim}],
            "item": [{"sequence": 1}]
        }}]
    });
    NewSubmission::new(
        request,
        json!({"resourceType": "Bundle", "type": "collection"}),
        json!({}),
        "crash",
        vec![ItemAuthorization {
            item_sequence: 1,
            number: format!("PA-{claim}"),
            review_action: ReviewAction::Pended,
            period_start: None,
            period_end: None,
        }],
    )
    .unwrap()
}

/// The child's work; a no-op unless the parent started this binary to be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_records_until_killed() {
    let Ok(uri) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::connect(&uri).await.unwrap();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0.. {
        let store = store.clone();
        let sub = submission(&format!("{run}-{i}"));
        tasks.spawn(async move {
            let number = sub.authorizations[0].number.clone();
            store.record(sub).await.unwrap();
            // Acknowledge only after `record` resolved, as the HTTP layer will.
            println!("committed {number}");
        });
        if tasks.len() >= 32 {
            tasks.join_next().await;
        }
    }
}

async fn killed_after_acknowledging_loses_nothing(uri: &str) {
    // Create the schema first so the child starts writing at once.
    Store::connect(uri).await.unwrap().close().await;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_records_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, uri)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acknowledged = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(number) = line.strip_prefix("committed ") {
            acknowledged.push(number.to_owned());
            if acknowledged.len() == ACKNOWLEDGED_BEFORE_KILL {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert_eq!(
        acknowledged.len(),
        ACKNOWLEDGED_BEFORE_KILL,
        "the child stopped early"
    );

    let store = Store::connect(uri).await.unwrap();
    for number in &acknowledged {
        let found = store.find_authorization(number).await.unwrap();
        assert!(found.is_some(), "acknowledged `{number}` was lost");
    }
}

#[tokio::test]
async fn sqlite_killed_after_acknowledging_loses_nothing() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("sqlite://{}", dir.path().join("crash.db").display());
    killed_after_acknowledging_loses_nothing(&uri).await;
}

#[tokio::test]
async fn postgres_killed_after_acknowledging_loses_nothing() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let Some(db) = Db::postgres("pas_crash").await else {
        return;
    };
    killed_after_acknowledging_loses_nothing(&db.uri).await;
}
