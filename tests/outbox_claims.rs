//! Several instances on one database: each due notification is claimed by one of them only
//! (row locks with `SKIP LOCKED` on PostgreSQL, the write lock on SQLite), and a claimed row is
//! not claimed again before its lease runs out. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashSet;
use std::path::Path;

use chrono::{Duration, Utc};
use pas_adapter::notify;
use pas_adapter::policy::PolicySet;
use pas_adapter::review::{self, CaseFilter, DecisionInput};
use pas_adapter::service::{Service, ServiceSettings};
use pas_adapter::store::Store;
use serde_json::{Value, json};
use support::db::Db;

fn pended(n: u32) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-bundles/15-ihc2-no-ish-a4.json");
    let mut bundle: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    bundle["identifier"]["value"] = json!(format!("KAD-OB-{n}"));
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = json!(format!("TRN-OB-{n}"));
    bundle
}

async fn each_notification_is_claimed_once(db: &Db) {
    let store = Store::connect(&db.uri).await.unwrap();
    let resource = json!({"resourceType": "Subscription"});
    let spec = notify::SubscriptionSpec {
        endpoint: "http://127.0.0.1:9/hook".into(),
        headers: Vec::new(),
        filters: vec!["1992999999".into()],
        end: None,
    };
    let subscription = store
        .create_subscription("", &spec, &resource)
        .await
        .unwrap();
    store
        .set_subscription_status(&subscription.id, "active", None)
        .await
        .unwrap();
    let (reviewer, _) = store.add_reviewer("R").await.unwrap();
    let service =
        Service::new(PolicySet::embedded(), ServiceSettings::default()).with_store(store.clone());
    const EVENTS: usize = 6;
    for n in 0..EVENTS {
        service
            .submit(
                &pas_adapter::service::Caller::Unauthenticated,
                pended(n as u32),
            )
            .await
            .unwrap();
        let case = store.review_cases(CaseFilter::Open).await.unwrap()[0].clone();
        let input: DecisionInput =
            serde_json::from_value(json!({"items": [{"sequence": 1, "action": "A1"}]})).unwrap();
        review::decide(&service, &case.id, &reviewer, &input)
            .await
            .unwrap();
    }
    let record = store.subscription(&subscription.id).await.unwrap().unwrap();
    assert_eq!(record.events, EVENTS as i64);

    // Two more instances on the same database claim at the same time.
    let a = Store::connect(&db.uri).await.unwrap();
    let b = Store::connect(&db.uri).await.unwrap();
    let now = Utc::now();
    let lease = now + Duration::seconds(60);
    let (left, right) = tokio::join!(
        a.claim_notifications(now, lease, EVENTS as i64),
        b.claim_notifications(now, lease, EVENTS as i64)
    );
    let (left, right) = (left.unwrap(), right.unwrap());
    let ids: Vec<&str> = left.iter().chain(&right).map(|n| n.id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), EVENTS, "every notification claimed");
    assert_eq!(unique.len(), EVENTS, "none claimed twice");
    let mut numbers: Vec<i64> = left.iter().chain(&right).map(|n| n.event_number).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=EVENTS as i64).collect::<Vec<_>>(), "gap-free");
    // Leased: nobody takes them again before the lease ends; after it, they are due again.
    assert!(
        store
            .claim_notifications(now, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let later = lease + Duration::seconds(1);
    assert_eq!(
        store
            .claim_notifications(later, later + Duration::seconds(60), 10)
            .await
            .unwrap()
            .len(),
        EVENTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_each_notification_is_claimed_once() {
    each_notification_is_claimed_once(&Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_each_notification_is_claimed_once() {
    if let Some(db) = Db::postgres("pas_outbox").await {
        each_notification_is_claimed_once(&db).await;
    }
}
