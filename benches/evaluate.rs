//! Evaluation against its floor, per sample bundle: `cargo bench --bench evaluate`.
//!
//! - `evaluate`: [`Service::submit_bytes`] on the raw bytes (check, gather, decide, build the
//!   response; no store) and the response written to bytes, as the HTTP handler does.
//! - `floor`: what any `$submit` must do with the same bytes: `serde_json::from_slice::<Value>`
//!   of the request, and `serde_json::to_vec` of a response Value of the same size (the very
//!   response the evaluation produced, computed once beforehand).
//!
//! After criterion's own report, the bench prints one line per bundle with the ratio
//! evaluation / floor, read back from criterion's estimates (the mean of the same run).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use criterion::{BenchmarkId, Criterion};
use pas_adapter::policy::PolicySet;
use pas_adapter::service::{Caller, Service, ServiceSettings};
use serde_json::Value;

/// The same allocator as the `pas-adapter` binary, so that the floor is measured alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A representative subset of `sample-bundles/`: an A1 metastatic, an A6, an A4, a
/// multi-item request and an early-breast A1.
const BUNDLES: &[&str] = &[
    "04-mbc-fda-a1",
    "05-mbc-fda-over-limit-a6",
    "15-ihc2-no-ish-a4",
    "29-multi-item-requested-service",
    "01-ebc-adjuvant-a1",
];

const GROUP: &str = "evaluate_vs_floor";

fn sample(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-bundles")
        .join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn bench(c: &mut Criterion, service: &Service, runtime: &tokio::runtime::Runtime) {
    let mut group = c.benchmark_group(GROUP);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for name in BUNDLES {
        let body = sample(name);
        let response = runtime
            .block_on(service.submit_bytes(&Caller::Unauthenticated, &body))
            .unwrap_or_else(|r| panic!("{name} was rejected: {:?}", r.issues))
            .response;
        group.bench_with_input(BenchmarkId::new("evaluate", name), &body, |b, body| {
            b.iter(|| {
                let submission = runtime
                    .block_on(service.submit_bytes(&Caller::Unauthenticated, body))
                    .unwrap();
                serde_json::to_vec(&submission.response).unwrap()
            })
        });
        group.bench_with_input(BenchmarkId::new("floor", name), &body, |b, body| {
            b.iter(|| {
                let parsed: Value = serde_json::from_slice(body).unwrap();
                std::hint::black_box(parsed);
                serde_json::to_vec(&response).unwrap()
            })
        });
    }
    group.finish();
}

/// Mean time in nanoseconds of one benchmark of this run (an estimates file written since
/// `since`, so that a filtered run never reports an old figure), from criterion's files.
fn mean_ns(criterion_dir: &Path, since: SystemTime, function: &str, bundle: &str) -> Option<f64> {
    let path = criterion_dir
        .join(GROUP)
        .join(function)
        .join(bundle)
        .join("new")
        .join("estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let estimates: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    estimates["mean"]["point_estimate"].as_f64()
}

fn criterion_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("criterion")
}

fn main() {
    let started = SystemTime::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let service = Service::new(PolicySet::embedded(), ServiceSettings::default());
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion, &service, &runtime);
    criterion.final_summary();

    let dir = criterion_dir();
    println!(
        "\n{:<34} {:>12} {:>12} {:>7}",
        "bundle", "evaluate us", "floor us", "ratio"
    );
    for name in BUNDLES {
        match (
            mean_ns(&dir, started, "evaluate", name),
            mean_ns(&dir, started, "floor", name),
        ) {
            (Some(evaluate), Some(floor)) => println!(
                "{name:<34} {:>12.1} {:>12.1} {:>7.2}",
                evaluate / 1e3,
                floor / 1e3,
                evaluate / floor
            ),
            _ => println!("{name:<34} (no estimates: filtered out or not measured)"),
        }
    }
}
