//! Group commit against one flush per request: 64 concurrent submissions recorded on a SQLite
//! file with `synchronous=FULL`. Run with `cargo bench --bench store_commit`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pas_adapter::policy::decision::ReviewAction;
use pas_adapter::store::{ItemAuthorization, NewSubmission, Store, StoreOptions};
use serde_json::json;

const CONCURRENT: usize = 64;

fn submission(claim: &str) -> NewSubmission {
    let request = json!({
        "resourceType": "Bundle",
        "identifier": {"system": "urn:bench", "value": claim},
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:claim", "resource": {
            "resourceType": "Claim",
            "identifier": [{"system": "urn:bench:claims", "value": claim}],
            "item": [{"sequence": 1}]
        }}]
    });
    NewSubmission::new(
        request,
        json!({"resourceType": "Bundle", "type": "collection"}),
        json!({}),
        "bench",
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

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("record_64_concurrent");
    group.throughput(Throughput::Elements(CONCURRENT as u64));
    group.sample_size(10);
    for (name, options) in [
        ("group_commit", StoreOptions::default()),
        ("flush_per_request", StoreOptions::flush_per_request()),
    ] {
        let uri = format!(
            "sqlite://{}",
            dir.path().join(format!("{name}.db")).display()
        );
        let store = rt.block_on(Store::connect_with(&uri, options)).unwrap();
        let mut round = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                round += 1;
                rt.block_on(async {
                    let tasks: Vec<_> = (0..CONCURRENT)
                        .map(|i| {
                            let store = store.clone();
                            let sub = submission(&format!("{round}-{i}"));
                            tokio::spawn(async move { store.record(sub).await })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap().unwrap();
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
