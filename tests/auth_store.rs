//! The store's auth tables on SQLite and on PostgreSQL (when `PAS_TEST_POSTGRES_URL` names
//! one): secrets made once and shared by every instance, assertion ids usable once across
//! instances, the audit trail's queries and its retention.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use chrono::{Duration, SubsecRound, Utc};
use pas_adapter::store::Store;
use pas_adapter::store::audit::{AgentKind, AuditQuery, AuditRecord};
use pas_adapter::store::secrets::{ACCESS_TOKEN_KEY, AUTHORIZATION_NUMBER_KEY};
use support::db::Db;

async fn two_instances(db: &Db) -> (Store, Store) {
    (
        Store::connect(&db.uri).await.unwrap(),
        Store::connect(&db.uri).await.unwrap(),
    )
}

async fn secrets_are_shared_by_every_instance(db: &Db) {
    let (one, two) = two_instances(db).await;
    let (a, b) = tokio::join!(one.secret(ACCESS_TOKEN_KEY), two.secret(ACCESS_TOKEN_KEY));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(a.bytes().len(), 32);
    assert_ne!(one.secret(AUTHORIZATION_NUMBER_KEY).await.unwrap(), a);
}

async fn an_assertion_id_is_used_once_across_instances(db: &Db) {
    let (one, two) = two_instances(db).await;
    let now = Utc::now();
    let expires = now + Duration::minutes(6);
    let (a, b) = tokio::join!(
        one.claim_jti("gateway-a", "jti-1", expires, now),
        two.claim_jti("gateway-a", "jti-1", expires, now)
    );
    assert_eq!(
        [a.unwrap(), b.unwrap()]
            .iter()
            .filter(|fresh| **fresh)
            .count(),
        1
    );
    // Another client may use the same id; an expired id is forgotten.
    assert!(
        one.claim_jti("gateway-b", "jti-1", expires, now)
            .await
            .unwrap()
    );
    let past = now - Duration::minutes(10);
    assert!(one.claim_jti("gateway-a", "old", past, past).await.unwrap());
    assert!(
        one.claim_jti("gateway-a", "old", expires, now)
            .await
            .unwrap()
    );
}

async fn audit_records_are_found_by_time_and_agent_and_purged_with_their_submissions(db: &Db) {
    let store = Store::connect(&db.uri).await.unwrap();
    let mut old = AuditRecord::now(
        AgentKind::Client,
        Some("gateway-a".into()),
        "/Claim/$submit",
        "POST",
        200,
        "r-old",
    );
    old.recorded_at = (Utc::now() - Duration::days(400)).trunc_subsecs(6);
    old.authorizations = vec!["PA-GONE00000000".into()];
    let refusal = AuditRecord::now(
        AgentKind::Anonymous,
        None,
        "/Claim/$inquire",
        "POST",
        401,
        "r-1",
    );
    let mut recent = AuditRecord::now(
        AgentKind::Client,
        Some("gateway-b".into()),
        "/Claim/$inquire",
        "POST",
        200,
        "r-2",
    );
    recent.authorizations = vec!["PA-1".into(), "PA-2".into()];
    for record in [&old, &refusal, &recent] {
        store.record_audit(record).await.unwrap();
    }
    let all = |query: AuditQuery| {
        let store = store.clone();
        async move {
            store
                .audit_events(&AuditQuery { limit: 10, ..query })
                .await
                .unwrap()
        }
    };
    assert_eq!(
        all(AuditQuery::default()).await,
        vec![old.clone(), refusal.clone(), recent.clone()]
    );
    let today = Utc::now() - Duration::hours(1);
    assert_eq!(
        all(AuditQuery {
            since: Some(today),
            ..AuditQuery::default()
        })
        .await,
        vec![refusal.clone(), recent.clone()]
    );
    assert_eq!(
        all(AuditQuery {
            before: Some(today),
            ..AuditQuery::default()
        })
        .await,
        vec![old.clone()]
    );
    assert_eq!(
        all(AuditQuery {
            agent: Some("gateway-b".into()),
            ..AuditQuery::default()
        })
        .await,
        vec![recent.clone()]
    );
    // Retention: the 400-day-old record names no stored authorization: it goes.
    assert_eq!(
        store.purge_audit(Utc::now().date_naive(), 6).await.unwrap(),
        1
    );
    assert_eq!(all(AuditQuery::default()).await, vec![refusal, recent]);
    assert!(store.purge_audit(Utc::now().date_naive(), 5).await.is_err());
}

support::db::on_both_backends!(
    "pas_auth":
    secrets_are_shared_by_every_instance,
    an_assertion_id_is_used_once_across_instances,
    audit_records_are_found_by_time_and_agent_and_purged_with_their_submissions,
);
