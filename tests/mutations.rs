//! Mutated requests through the HTTP service: every sample bundle and IG request example,
//! with a few random mutations (a key deleted, a value replaced by another JSON type, an entry
//! duplicated, a string truncated, a date made garbage, a number pushed out of range), is
//! answered with a response Bundle (200) or an OperationOutcome (4xx): never a panic, never
//! a 5xx. The fuzz target (fuzz/) searches the same path for longer; this runs in CI.
//!
//! 64 cases per run; `PROPTEST_CASES=5000 cargo test --test mutations` for a longer search.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use pas_adapter::policy::PolicySet;
use pas_adapter::service::{Service, ServiceSettings};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Every request the mutations start from.
fn seeds() -> &'static [Value] {
    static SEEDS: OnceLock<Vec<Value>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-bundles");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "json")
                    && !p.to_string_lossy().ends_with(".expected.json")
            })
            .collect();
        paths.sort();
        paths.extend(common::IG_REQUESTS.iter().map(|n| common::example_path(n)));
        paths
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    })
}

/// One step from a node to a child.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// The path of every node under `value` (the root excluded).
fn paths(value: &Value) -> Vec<Vec<Step>> {
    fn walk(value: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    here.push(Step::Key(key.clone()));
                    out.push(here.clone());
                    walk(child, here, out);
                    here.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    here.push(Step::Index(i));
                    out.push(here.clone());
                    walk(child, here, out);
                    here.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn node<'v>(root: &'v Value, path: &[Step]) -> &'v Value {
    path.iter().fold(root, |node, step| match step {
        Step::Key(key) => &node[key.as_str()],
        Step::Index(i) => &node[*i],
    })
}

fn node_mut<'v>(root: &'v mut Value, path: &[Step]) -> &'v mut Value {
    path.iter().fold(root, |node, step| match step {
        Step::Key(key) => &mut node[key.as_str()],
        Step::Index(i) => &mut node[*i],
    })
}

/// A value of another JSON type than `old`.
fn other_type(old: &Value, salt: u64) -> Value {
    let choices = [
        Value::Null,
        json!(salt.is_multiple_of(2)),
        json!(salt as i64 - (u32::MAX as i64)),
        json!(f64::from(u32::try_from(salt % 1_000_000).unwrap()) / 7.0),
        json!(format!("s{salt}")),
        json!([]),
        json!({}),
        json!([{"x": salt}]),
    ];
    let start = usize::try_from(salt % choices.len() as u64).unwrap();
    (0..choices.len())
        .map(|k| &choices[(start + k) % choices.len()])
        .find(|c| std::mem::discriminant(*c) != std::mem::discriminant(old))
        .unwrap()
        .clone()
}

/// Garbage that looks almost like a FHIR date or dateTime.
const BAD_DATES: &[&str] = &[
    "2026-13-45",
    "2026-02-30",
    "0000-00-00",
    "2026-1-1",
    "2026-11-20T25:61:61Z",
    "2026-11-20T10:00",
    "yesterday",
    "",
    "99999-01-01",
    "2026-11-20T10:00:00+99:99",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete,
    Retype,
    DuplicateEntry,
    Truncate,
    BadDate,
    ExtremeNumber,
}

fn apply(bundle: &mut Value, mutation: &Mutation, pick: usize, salt: u64) {
    let all = paths(bundle);
    let select = |filter: &dyn Fn(&Value) -> bool, bundle: &Value| -> Option<Vec<Step>> {
        let matching: Vec<&Vec<Step>> = all.iter().filter(|p| filter(node(bundle, p))).collect();
        (!matching.is_empty()).then(|| matching[pick % matching.len()].clone())
    };
    match mutation {
        Mutation::Delete => {
            if all.is_empty() {
                return;
            }
            let path = &all[pick % all.len()];
            let (last, parent) = path.split_last().unwrap();
            match (node_mut(bundle, parent), last) {
                (Value::Object(map), Step::Key(key)) => {
                    map.shift_remove(key);
                }
                (Value::Array(items), Step::Index(i)) => {
                    items.remove(*i);
                }
                _ => {}
            }
        }
        Mutation::Retype => {
            if all.is_empty() {
                return;
            }
            let node = node_mut(bundle, &all[pick % all.len()]);
            *node = other_type(node, salt);
        }
        Mutation::DuplicateEntry => {
            if let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut)
                && !entries.is_empty()
            {
                let copy = entries[pick % entries.len()].clone();
                let at = usize::try_from(salt % (entries.len() as u64 + 1)).unwrap();
                entries.insert(at, copy);
            }
        }
        Mutation::Truncate => {
            if let Some(path) = select(&|v| v.as_str().is_some_and(|s| !s.is_empty()), bundle) {
                let node = node_mut(bundle, &path);
                let text = node.as_str().unwrap();
                let chars: Vec<char> = text.chars().collect();
                let keep = usize::try_from(salt % chars.len() as u64).unwrap();
                *node = json!(chars[..keep].iter().collect::<String>());
            }
        }
        Mutation::BadDate => {
            let looks_like_date = |v: &Value| {
                v.as_str().is_some_and(|s| {
                    s.len() >= 4 && s.as_bytes()[..4].iter().all(u8::is_ascii_digit)
                })
            };
            if let Some(path) = select(&looks_like_date, bundle) {
                let garbage = BAD_DATES[usize::try_from(salt % BAD_DATES.len() as u64).unwrap()];
                *node_mut(bundle, &path) = json!(garbage);
            }
        }
        Mutation::ExtremeNumber => {
            if let Some(path) = select(&Value::is_number, bundle) {
                let extreme = [
                    json!(0),
                    json!(-1),
                    json!(u64::MAX),
                    json!(i64::MIN),
                    json!(1e308),
                    json!(-0.000_001),
                    json!(4_294_967_296_u64),
                ];
                *node_mut(bundle, &path) =
                    extreme[usize::try_from(salt % extreme.len() as u64).unwrap()].clone();
            }
        }
    }
}

fn mutation() -> impl Strategy<Value = (Mutation, usize, u64)> {
    (
        prop_oneof![
            Just(Mutation::Delete),
            Just(Mutation::Retype),
            Just(Mutation::DuplicateEntry),
            Just(Mutation::Truncate),
            Just(Mutation::BadDate),
            Just(Mutation::ExtremeNumber),
        ],
        any::<usize>(),
        any::<u64>(),
    )
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

/// POSTs `body` to `$submit` through the router; the status and the JSON answer.
fn submit(body: String) -> (u16, Value) {
    static APP: OnceLock<axum::Router> = OnceLock::new();
    let app = APP
        .get_or_init(|| {
            pas_adapter::http::router(Service::new(
                PolicySet::embedded(),
                ServiceSettings::default(),
            ))
        })
        .clone();
    runtime().block_on(async {
        let request = Request::post("/Claim/$submit")
            .header(header::CONTENT_TYPE, "application/fhir+json")
            .body(Body::from(body))
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn a_mutated_request_is_answered_or_refused_never_failed(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut bundle = seed.get(seeds()).clone();
        for (mutation, pick, salt) in &mutations {
            apply(&mut bundle, mutation, *pick, *salt);
        }
        let (status, answer) = submit(bundle.to_string());
        match status {
            200 => {
                prop_assert_eq!(&answer["resourceType"], "Bundle");
                prop_assert_eq!(&answer["entry"][0]["resource"]["resourceType"], "ClaimResponse");
                // Every Claim item is answered.
                let requested = bundle["entry"][0]["resource"]["item"].as_array().map(Vec::len);
                let answered = answer["entry"][0]["resource"]["item"].as_array().map(Vec::len);
                prop_assert_eq!(requested, answered);
            }
            400..=499 => {
                prop_assert_eq!(&answer["resourceType"], "OperationOutcome", "{}", answer);
                let issues = answer["issue"].as_array().map(Vec::len).unwrap_or(0);
                prop_assert!(issues > 0, "{}", answer);
            }
            other => prop_assert!(false, "answered {} to a mutated request: {}", other, answer),
        }
    }
}

/// The mutations do what they say (so the property is not passing on untouched bundles).
#[test]
fn mutations_change_the_bundle() {
    let original = seeds()[0].clone();
    for (i, mutation) in [
        Mutation::Delete,
        Mutation::Retype,
        Mutation::DuplicateEntry,
        Mutation::Truncate,
        Mutation::BadDate,
        Mutation::ExtremeNumber,
    ]
    .iter()
    .enumerate()
    {
        let mut bundle = original.clone();
        apply(&mut bundle, mutation, 7 + i, 3);
        assert_ne!(bundle, original, "{mutation:?} left the bundle as it was");
    }
}
