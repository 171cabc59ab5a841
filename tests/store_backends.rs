//! The store's whole contract, run against SQLite (a file in a temp dir) and against a real
//! PostgreSQL when `PAS_TEST_POSTGRES_URL` names one (`scripts/postgres-test-server` starts
//! one). Under `CI` the PostgreSQL run is required: a missing URL fails instead of skipping.
//! Each PostgreSQL test gets its own freshly created database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use chrono::{Duration, NaiveDate, Utc};
use pas_adapter::policy::decision::ReviewAction;
use pas_adapter::store::{
    InquiryKeys, ItemAuthorization, NewSubmission, Recorded, Status, Store, StoreError,
    StoreOptions, inquiry,
};
use serde_json::{Value, json};
use support::db::Db;

const SUBMITTER: &str = "urn:ehr:transactions";
const NPI: &str = "http://hl7.org/fhir/sid/us-npi";

/// Opening stores on a test database (as many as a test needs).
trait Open {
    async fn open(&self) -> Store;
    async fn open_with(&self, options: StoreOptions) -> Store;
}

impl Open for Db {
    async fn open(&self) -> Store {
        Store::connect(&self.uri).await.unwrap()
    }

    async fn open_with(&self, options: StoreOptions) -> Store {
        Store::connect_with(&self.uri, options).await.unwrap()
    }
}

/// A PAS-shaped request: Claim (identifier, patient, provider, insurer, coverage), Patient,
/// Coverage with the member id, provider and insurer Organizations. `extra` goes into the
/// Claim (e.g. `related`), `item_code` makes different content.
fn request(claim: &str, member: &str, provider_npi: &str, item_code: &str, extra: Value) -> Value {
    let mut claim_resource = json!({
        "resourceType": "Claim",
        "id": "claim",
        "identifier": [{"system": "urn:ehr:claims", "value": claim}],
        "status": "active",
        "use": "preauthorization",
        "patient": {"reference": "Patient/pat"},
        "created": "2026-11-20T10:00:00Z",
        "insurer": {"reference": "Organization/payer"},
        "provider": {"reference": "Organization/clinic"},
        "insurance": [{"sequence": 1, "focal": true, "coverage": {"reference": "Coverage/cov"}}],
        "item": [{"sequence": 1, "productOrService": {"coding": [
            {"system": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": item_code}]}}]
    });
    if let (Some(c), Some(extra)) = (claim_resource.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "identifier": {"system": SUBMITTER, "value": format!("tx-{claim}")},
        "type": "collection",
        "timestamp": Utc::now().to_rfc3339(),
        "entry": [
            {"fullUrl": "http://ehr.example/fhir/Claim/claim", "resource": claim_resource},
            {"fullUrl": "http://ehr.example/fhir/Patient/pat", "resource": {
                "resourceType": "Patient", "id": "pat", "name": [{"family": "Doe"}]}},
            {"fullUrl": "http://ehr.example/fhir/Coverage/cov", "resource": {
                "resourceType": "Coverage", "id": "cov", "status": "active",
                "subscriberId": member, "beneficiary": {"reference": "Patient/pat"},
                "payor": [{"reference": "Organization/payer"}]}},
            {"fullUrl": "http://ehr.example/fhir/Organization/clinic", "resource": {
                "resourceType": "Organization", "id": "clinic",
                "identifier": [{"system": NPI, "value": provider_npi}]}},
            {"fullUrl": "http://ehr.example/fhir/Organization/payer", "resource": {
                "resourceType": "Organization", "id": "payer",
                "identifier": [{"system": "urn:payer-id", "value": "PAYER1"}]}}
        ]
    })
}

fn update_of(prior: &str, claim: &str, member: &str, item_code: &str) -> Value {
    request(
        claim,
        member,
        "1234567893",
        item_code,
        json!({"related": [{
            "claim": {"identifier": {"system": "urn:ehr:claims", "value": prior}},
            "relationship": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship",
                "code": "prior"}]}}]}),
    )
}

fn certified(number: &str, end: NaiveDate) -> ItemAuthorization {
    ItemAuthorization {
        item_sequence: 1,
        number: number.to_owned(),
        review_action: ReviewAction::Certified,
        period_start: Some(end - Duration::days(180)),
        period_end: Some(end),
    }
}

/// The submission the service would record: a fresh authorization number each time it
/// evaluates, which a replay must not reach the caller.
fn submission(request: Value, action: ReviewAction, end: NaiveDate) -> NewSubmission {
    let number = format!("PA-{}", uuid::Uuid::new_v4().simple());
    let response = json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:cr", "resource": {
            "resourceType": "ClaimResponse",
            "preAuthRef": number,
            "item": [{"itemSequence": 1, "adjudication": [{"extension": [{"extension": [
                {"url": "number", "valueString": number},
                {"url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewActionCode",
                 "valueCodeableConcept": {"coding": [{"system": ReviewAction::SYSTEM, "code": action.code()}]}}]}]}]}]
        }}]
    });
    let mut authorization = certified(&number, end);
    authorization.review_action = action;
    if !matches!(action, ReviewAction::Certified | ReviewAction::Modified) {
        authorization.period_start = None;
        authorization.period_end = None;
    }
    NewSubmission::new(
        request,
        response,
        json!({"items": [{"sequence": 1, "action": action.code()}]}),
        "MP-RX-FP-48-23@test",
        vec![authorization],
    )
    .unwrap()
}

fn far_end() -> NaiveDate {
    Utc::now().date_naive() + Duration::days(200)
}

fn fresh(recorded: Result<Recorded, StoreError>) -> pas_adapter::store::StoredSubmission {
    match recorded {
        Ok(Recorded::Fresh(s)) => s,
        other => panic!("expected a fresh record, got {other:?}"),
    }
}

async fn fresh_record_then_identical_replay(db: &Db) {
    let store = db.open().await;
    let req = request("C-1", "M-1", "1234567893", "J9354", json!({}));
    let first = fresh(
        store
            .record(submission(req.clone(), ReviewAction::Certified, far_end()))
            .await,
    );
    assert_eq!(first.version, 1);
    assert_eq!(first.chain_id, first.id);
    assert_eq!(first.status, Status::Active);
    assert_eq!(first.claim_identifier, "urn:ehr:claims|C-1");
    assert_eq!(first.submitter, SUBMITTER);
    assert_eq!(first.patient_member_id.as_deref(), Some("M-1"));
    assert_eq!(
        first.provider_id.as_deref(),
        Some("http://hl7.org/fhir/sid/us-npi|1234567893")
    );
    assert_eq!(first.insurer_id.as_deref(), Some("urn:payer-id|PAYER1"));
    assert_eq!(first.policy_revision, "MP-RX-FP-48-23@test");
    assert_eq!(first.authorized_until, Some(far_end()));
    assert_eq!(first.request, req);
    // The record answered at commit (built from the submission, not read back) is exactly
    // what the database holds.
    assert_eq!(store.get(&first.id).await.unwrap().as_ref(), Some(&first));

    // The EHR retries with a rebuilt envelope (new Bundle.id and timestamp); the service
    // evaluates again and mints a new number, which must not reach the caller.
    let mut again = req.clone();
    again["id"] = json!("retry");
    again["timestamp"] = json!("2030-01-01T00:00:00Z");
    let replay = store
        .record(submission(again, ReviewAction::Certified, far_end()))
        .await
        .unwrap();
    assert!(replay.is_replay());
    let replay = replay.into_submission();
    assert_eq!(replay.id, first.id);
    assert_eq!(replay.authorizations, first.authorizations);
    assert_eq!(replay.response, first.response);
    assert_eq!(store.history(&first.chain_id).await.unwrap().len(), 1);
    let stats = store.stats();
    assert_eq!((stats.fresh, stats.replays), (1, 1));
}

async fn same_identifier_other_content_is_a_conflict(db: &Db) {
    let store = db.open().await;
    let req = request("C-2", "M-2", "1234567893", "J9354", json!({}));
    fresh(
        store
            .record(submission(req, ReviewAction::Certified, far_end()))
            .await,
    );
    let changed = request("C-2", "M-2", "1234567893", "J9355", json!({}));
    let err = store
        .record(submission(changed, ReviewAction::Certified, far_end()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("`urn:ehr:claims|C-2`")),
        "{err}"
    );
    let latest = store
        .latest_for_claim(SUBMITTER, "urn:ehr:claims|C-2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.history(&latest.chain_id).await.unwrap().len(), 1);
}

async fn concurrent_identical_submissions_make_one_record(db: &Db) {
    // Two stores on one database stand for two adapter instances, starting (and migrating
    // the new database) at the same time.
    let (a, b) = tokio::join!(db.open(), db.open());
    let req = request("C-3", "M-3", "1234567893", "J9354", json!({}));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let sub = submission(req.clone(), ReviewAction::Certified, far_end());
        tasks.push(tokio::spawn(async move { store.record(sub).await }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    assert_eq!(results.iter().filter(|r| !r.is_replay()).count(), 1);
    let numbers: std::collections::BTreeSet<_> = results
        .iter()
        .map(|r| r.submission().authorizations[0].number.clone())
        .collect();
    assert_eq!(numbers.len(), 1, "one authorization number for one request");
    let latest = a
        .latest_for_claim(SUBMITTER, "urn:ehr:claims|C-3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.history(&latest.chain_id).await.unwrap().len(), 1);
}

async fn update_adds_a_version_and_inquiry_returns_the_latest(db: &Db) {
    let store = db.open().await;
    let v1 = fresh(
        store
            .record(submission(
                request("C-4", "M-4", "1234567893", "J9354", json!({})),
                ReviewAction::Pended,
                far_end(),
            ))
            .await,
    );
    assert_eq!(v1.authorized_until, None);

    // The service reads the prior claim named in `Claim.related`, re-evaluates, records.
    let update = update_of("C-4", "C-4-U1", "M-4", "J9354");
    let keys = pas_adapter::store::request_keys(&update).unwrap();
    assert_eq!(
        keys.prior_claim_identifier.as_deref(),
        Some("urn:ehr:claims|C-4")
    );
    let prior = store
        .latest_for_claim(
            &keys.submitter,
            keys.prior_claim_identifier.as_deref().unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(prior.id, v1.id);
    let v2 = fresh(
        store
            .record(
                submission(update.clone(), ReviewAction::Certified, far_end()).superseding(&prior),
            )
            .await,
    );
    assert_eq!((v2.version, v2.chain_id.as_str()), (2, v1.id.as_str()));
    assert_eq!(v2.supersedes.as_deref(), Some(v1.id.as_str()));

    // Version 1 is kept, unchanged.
    let history = store.history(&v1.chain_id).await.unwrap();
    assert_eq!(
        history.iter().map(|s| s.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(history[0], v1);

    for claim in ["urn:ehr:claims|C-4", "urn:ehr:claims|C-4-U1"] {
        let found = store
            .inquire(&InquiryKeys {
                claim_identifier: Some(claim.to_owned()),
                ..InquiryKeys::default()
            })
            .await
            .unwrap();
        assert_eq!(
            found.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            [v2.id.as_str()]
        );
    }
    assert_eq!(
        store
            .latest_for_claim(SUBMITTER, "urn:ehr:claims|C-4")
            .await
            .unwrap()
            .map(|s| s.id),
        Some(v2.id.clone())
    );

    // The same update again is a replay of version 2, not version 3.
    let again = store
        .record(submission(update, ReviewAction::Certified, far_end()).superseding(&prior))
        .await
        .unwrap();
    assert!(again.is_replay());
    assert_eq!(again.submission().id, v2.id);

    // A different update evaluated against the stale version 1 is refused.
    let stale = update_of("C-4", "C-4-U2", "M-4", "J9355");
    let err = store
        .record(submission(stale, ReviewAction::Certified, far_end()).superseding(&v1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("updated since version 1")),
        "{err}"
    );
}

async fn cancel_marks_the_chain_cancelled(db: &Db) {
    let store = db.open().await;
    let v1 = fresh(
        store
            .record(submission(
                request("C-5", "M-5", "1234567893", "J9354", json!({})),
                ReviewAction::Certified,
                far_end(),
            ))
            .await,
    );
    let cancel = update_of("C-5", "C-5-X", "M-5", "J9354");
    let mut sub = submission(cancel, ReviewAction::NotCertified, far_end())
        .superseding(&v1)
        .cancelled();
    sub.authorizations.clear();
    let v2 = fresh(store.record(sub).await);
    assert_eq!((v2.version, v2.status), (2, Status::Cancelled));
    let by_number = store
        .find_authorization(&v1.authorizations[0].number)
        .await
        .unwrap();
    assert_eq!(
        by_number.map(|s| (s.id, s.status)),
        Some((v2.id.clone(), Status::Cancelled))
    );

    let after = update_of("C-5", "C-5-Y", "M-5", "J9355");
    let err = store
        .record(submission(after, ReviewAction::Certified, far_end()).superseding(&v2))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("cancelled")),
        "{err}"
    );
}

async fn inquiry_by_each_key(db: &Db) {
    let store = db.open().await;
    let a = fresh(
        store
            .record(submission(
                request("C-6", "M-6", "1234567893", "J9354", json!({})),
                ReviewAction::Certified,
                far_end(),
            ))
            .await,
    );
    let b = fresh(
        store
            .record(submission(
                request("C-7", "M-6", "1234567893", "J9355", json!({})),
                ReviewAction::Certified,
                far_end(),
            ))
            .await,
    );
    let other = fresh(
        store
            .record(submission(
                request("C-8", "M-7", "1234567893", "J9354", json!({})),
                ReviewAction::Certified,
                far_end(),
            ))
            .await,
    );
    let ids = |found: Vec<pas_adapter::store::StoredSubmission>| {
        found.into_iter().map(|s| s.id).collect::<Vec<_>>()
    };
    let person = InquiryKeys {
        claim_identifier: None,
        patient_member_id: Some("M-6".into()),
        provider: Some("http://hl7.org/fhir/sid/us-npi|1234567893".into()),
        insurer: Some("urn:payer-id|PAYER1".into()),
        authorization_number: None,
        submitter: None,
    };
    // Member id + provider + insurer: both of M-6's authorizations, oldest first.
    assert_eq!(
        ids(store.inquire(&person).await.unwrap()),
        [a.id.clone(), b.id.clone()]
    );
    // Claim identifier, also together with the person keys.
    let by_claim = InquiryKeys {
        claim_identifier: Some("urn:ehr:claims|C-7".into()),
        ..person.clone()
    };
    assert_eq!(
        ids(store.inquire(&by_claim).await.unwrap()),
        [b.id.as_str()]
    );
    // Authorization number alone.
    let by_number = InquiryKeys {
        authorization_number: Some(other.authorizations[0].number.clone()),
        ..InquiryKeys::default()
    };
    assert_eq!(
        ids(store.inquire(&by_number).await.unwrap()),
        [other.id.as_str()]
    );
    // Every key present must match: C-8 is not M-6's.
    let mismatched = InquiryKeys {
        claim_identifier: Some("urn:ehr:claims|C-8".into()),
        ..person.clone()
    };
    assert!(store.inquire(&mismatched).await.unwrap().is_empty());
    let wrong_provider = InquiryKeys {
        provider: Some("http://hl7.org/fhir/sid/us-npi|1999999984".into()),
        ..person.clone()
    };
    assert!(store.inquire(&wrong_provider).await.unwrap().is_empty());
    // No match: empty, not an error.
    let unknown = InquiryKeys {
        claim_identifier: Some("urn:ehr:claims|nope".into()),
        ..InquiryKeys::default()
    };
    assert!(store.inquire(&unknown).await.unwrap().is_empty());
    assert!(
        store
            .find_authorization("PA-unknown")
            .await
            .unwrap()
            .is_none()
    );
    // The member id alone would list a patient's authorizations to anyone: refused.
    let broad = InquiryKeys {
        patient_member_id: Some("M-6".into()),
        ..InquiryKeys::default()
    };
    assert!(matches!(
        store.inquire(&broad).await,
        Err(StoreError::InquiryTooBroad)
    ));
}

async fn ig_inquiry_finds_the_ig_request(db: &Db) {
    let store = db.open().await;
    let request: Value = serde_json::from_str(include_str!(
        "fixtures/pas-ig/Bundle-HomecareAuthorizationBundleExample.json"
    ))
    .unwrap();
    let stored = fresh(
        store
            .record(submission(request, ReviewAction::Certified, far_end()))
            .await,
    );
    let inquiry_bundle: Value = serde_json::from_str(include_str!(
        "fixtures/pas-ig/Bundle-PASClaimInquiryBundleExample.json"
    ))
    .unwrap();
    let keys = inquiry::parse(&inquiry_bundle).unwrap();
    let found = store.inquire(&keys).await.unwrap();
    assert_eq!(
        found.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [stored.id.as_str()]
    );

    let answer = inquiry::response(&inquiry_bundle, &found);
    assert_eq!(answer["resourceType"], "Parameters");
    let params = answer["parameter"].as_array().unwrap();
    assert_eq!(params.len(), 1);
    assert_eq!(params[0]["name"], "return");
    let bundle = &params[0]["resource"];
    assert_eq!(bundle["type"], "collection");
    assert_eq!(bundle["identifier"], inquiry_bundle["identifier"]);
    assert_eq!(
        bundle["entry"][0]["resource"]["meta"]["profile"][0],
        "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-claiminquiryresponse"
    );
    assert_eq!(
        bundle["entry"][0]["resource"]["preAuthRef"],
        json!(stored.authorizations[0].number)
    );
}

async fn purge_keeps_six_months_after_the_authorized_end(db: &Db) {
    let store = db.open().await;
    let today = Utc::now().date_naive();
    let long_ago = today - Duration::days(400);
    let record = |claim: &'static str, action, end| {
        let store = store.clone();
        async move {
            fresh(
                store
                    .record(submission(
                        request(claim, "M-9", "1234567893", "J9354", json!({})),
                        action,
                        end,
                    ))
                    .await,
            )
        }
    };
    let expired = record("P-1", ReviewAction::Certified, long_ago).await;
    let recent = record("P-2", ReviewAction::Certified, today - Duration::days(30)).await;
    let denied_today = record("P-3", ReviewAction::NotCertified, long_ago).await;
    // An old authorization extended by an update: the chain's latest end counts.
    let old_v1 = record("P-4", ReviewAction::Certified, long_ago).await;
    let extended = fresh(
        store
            .record(
                submission(
                    update_of("P-4", "P-4-U", "M-9", "J9354"),
                    ReviewAction::Certified,
                    far_end(),
                )
                .superseding(&old_v1),
            )
            .await,
    );

    assert!(matches!(
        store.purge(today, 5).await,
        Err(StoreError::Retention(5))
    ));
    let report = store.purge(today, 6).await.unwrap();
    assert_eq!((report.chains, report.submissions), (1, 1));
    assert!(store.get(&expired.id).await.unwrap().is_none());
    assert!(
        store
            .find_authorization(&expired.authorizations[0].number)
            .await
            .unwrap()
            .is_none()
    );
    for kept in [&recent, &denied_today, &old_v1, &extended] {
        assert!(
            store.get(&kept.id).await.unwrap().is_some(),
            "{} was purged",
            kept.claim_identifier
        );
    }

    // Eight months on, the recent authorization and today's denial are past retention too.
    let later = store.purge(today + Duration::days(240), 6).await.unwrap();
    assert_eq!((later.chains, later.submissions), (2, 2));
    assert!(store.get(&recent.id).await.unwrap().is_none());
    assert!(store.get(&denied_today.id).await.unwrap().is_none());
    assert_eq!(store.history(&old_v1.chain_id).await.unwrap().len(), 2);
}

async fn committed_records_survive_reopening(db: &Db) {
    let store = db.open().await;
    let stored = fresh(
        store
            .record(submission(
                request("D-1", "M-10", "1234567893", "J9354", json!({})),
                ReviewAction::Certified,
                far_end(),
            ))
            .await,
    );
    store.close().await;
    drop(store);
    let reopened = db.open().await;
    let found = reopened
        .find_authorization(&stored.authorizations[0].number)
        .await
        .unwrap();
    assert_eq!(found, Some(stored));
}

async fn concurrent_records_share_transactions(db: &Db) {
    // Tasks spawned before the test yields queue their submissions before the writer runs
    // (current-thread runtime), so the writer finds them all waiting.
    async fn record_fifty(store: &Store, prefix: &str) {
        let mut tasks = Vec::new();
        for i in 0..50 {
            let store = store.clone();
            let sub = submission(
                request(
                    &format!("{prefix}-{i}"),
                    "M-11",
                    "1234567893",
                    "J9354",
                    json!({}),
                ),
                ReviewAction::Certified,
                far_end(),
            );
            tasks.push(tokio::spawn(async move { store.record(sub).await }));
        }
        for t in tasks {
            fresh(t.await.unwrap());
        }
    }
    let grouped = db.open().await;
    record_fifty(&grouped, "G").await;
    let stats = grouped.stats();
    assert_eq!(stats.fresh, 50);
    assert!(
        stats.transactions < 50,
        "50 records took {} transactions",
        stats.transactions
    );

    let baseline = db.open_with(StoreOptions::flush_per_request()).await;
    record_fifty(&baseline, "F").await;
    assert_eq!(
        (baseline.stats().fresh, baseline.stats().transactions),
        (50, 50)
    );
}

/// Migration 0002 rebuilds both tables (SQLite cannot drop the old identity constraint):
/// every record written under schema 0001 is still there, with its versions and numbers,
/// and behaves as before (a replay is a replay; an update adds a version).
async fn upgrade_from_schema_0001_keeps_every_record(db: &Db) {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    sqlx::any::install_default_drivers();
    let uri = if db.uri.starts_with("sqlite:") {
        format!("{}?mode=rwc", db.uri)
    } else {
        db.uri.clone()
    };
    let pool = sqlx::AnyPool::connect(&uri).await.unwrap();
    let (version, description, sql) = pas_adapter::store::MIGRATIONS[0];
    let first = Migration::new(
        version,
        description.into(),
        MigrationType::Simple,
        sql.into_sql_str(),
        false,
    );
    Migrator::with_migrations(vec![first])
        .run(&pool)
        .await
        .unwrap();
    let original = request("C-9", "M-9", "1234567893", "J9354", json!({}));
    let update = update_of("C-9", "C-9-U1", "M-9", "J9354");
    let row = |id: &str, version: i64, supersedes: Option<&str>, claim: &str, body: &Value| {
        let (id, supersedes, claim) = (
            id.to_owned(),
            supersedes.map(str::to_owned),
            claim.to_owned(),
        );
        let hash = pas_adapter::store::content_hash(body);
        let body = body.to_string();
        let pool = pool.clone();
        async move {
            sqlx::query(
                "INSERT INTO submissions (id, chain_id, version, supersedes, status, received_at, \
                 submitter, bundle_identifier, claim_identifier, content_hash, patient_member_id, \
                 provider_id, insurer_id, policy_revision, authorized_until, request_json, \
                 response_json, decision_trace_json) VALUES ($1, 'chain-9', $2, $3, 'active', \
                 '2026-11-20T10:00:00.000000Z', $4, NULL, $5, $6, 'M-9', NULL, NULL, 'p@1', \
                 '2027-05-31', $7, '{}', '[]')",
            )
            .bind(id.clone())
            .bind(version)
            .bind(supersedes)
            .bind(SUBMITTER)
            .bind(format!("urn:ehr:claims|{claim}"))
            .bind(hash)
            .bind(body)
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO authorizations (submission_id, item_sequence, number, \
                 review_action, period_start, period_end) VALUES ($1, 1, 'PA-000000000009', \
                 'A1', '2026-12-01', '2027-05-31')",
            )
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    row("chain-9", 1, None, "C-9", &original).await;
    row("v2-9", 2, Some("chain-9"), "C-9-U1", &update).await;
    pool.close().await;

    let store = db.open().await;
    let latest = store
        .latest_for_claim(SUBMITTER, "urn:ehr:claims|C-9")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((latest.id.as_str(), latest.version), ("v2-9", 2));
    let history = store.history("chain-9").await.unwrap();
    assert_eq!(history.len(), 2);
    for version in &history {
        assert_eq!(version.prior_key, "");
        assert_eq!(version.authorizations.len(), 1);
        assert_eq!(version.authorizations[0].number, "PA-000000000009");
    }
    assert_eq!(history[1].supersedes.as_deref(), Some("chain-9"));
    // The original sent again is still a replay of the record kept through the upgrade.
    let again = store
        .record(submission(original, ReviewAction::Certified, far_end()))
        .await
        .unwrap();
    assert!(again.is_replay());
    assert_eq!(again.submission().id, "chain-9");
    // Purge still removes the whole chain with its authorizations.
    let report = store
        .purge(NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(), 6)
        .await
        .unwrap();
    assert_eq!((report.chains, report.submissions), (1, 2));
}

support::db::on_both_backends!(
    "pas_test":
    fresh_record_then_identical_replay,
    same_identifier_other_content_is_a_conflict,
    concurrent_identical_submissions_make_one_record,
    update_adds_a_version_and_inquiry_returns_the_latest,
    cancel_marks_the_chain_cancelled,
    inquiry_by_each_key,
    ig_inquiry_finds_the_ig_request,
    purge_keeps_six_months_after_the_authorized_end,
    committed_records_survive_reopening,
    concurrent_records_share_transactions,
    upgrade_from_schema_0001_keeps_every_record,
);
