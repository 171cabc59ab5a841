//! The log writer never takes the process down: with stderr unwritable (`2>/dev/full`, as on a
//! full disk) `serve` keeps answering and `evaluate` still prints its response. Both aborted
//! before (exit 134): `eprintln!` panics when stderr cannot be written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

const SAMPLE: &str = "sample-bundles/01-ebc-adjuvant-a1.json";

fn dev_full() -> File {
    OpenOptions::new().write(true).open("/dev/full").unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn regression_evaluate_with_unwritable_stderr_still_answers() {
    let out = Command::new(env!("CARGO_BIN_EXE_pas-adapter"))
        .args(["--log", "debug", "evaluate", SAMPLE])
        .stderr(dev_full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "evaluate must exit 0");
    let response: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(common::item_actions(&response), [(1, "A1".to_owned())]);
}

#[tokio::test]
async fn regression_serve_with_unwritable_stderr_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("pas.db").display());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pas-adapter"))
        .args(["--log", "trace", "serve", "--addr", &addr, "--db", &db])
        .args(["--insecure-no-auth", "--admin-addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(dev_full())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = client.get(format!("{base}/healthz")).send().await;
        if health.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "serve exited while starting with an unwritable stderr"
        );
        assert!(Instant::now() < deadline, "serve did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = std::fs::read(Path::new(SAMPLE)).unwrap();
    for _ in 0..20 {
        let r = client
            .post(format!("{base}/Claim/$submit"))
            .header("content-type", "application/fhir+json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let response: Value = r.json().await.unwrap();
        assert_eq!(common::item_actions(&response), [(1, "A1".to_owned())]);
    }
    assert!(child.try_wait().unwrap().is_none(), "serve died");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(
        exit.code(),
        Some(0),
        "serve must drain and exit 0 on SIGTERM"
    );
}
