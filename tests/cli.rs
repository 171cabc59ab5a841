//! The `pas-adapter` binary: `evaluate`, `replay` and `--help`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use common::{IG_REQUESTS, assert_response_shape, example, example_path, referral};

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pas-adapter"));
    command.env("PAS_LOG", "warn");
    command
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[test]
fn evaluate_prints_the_response_bundle() {
    for name in IG_REQUESTS {
        let output = bin()
            .arg("evaluate")
            .arg(example_path(name))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{name}");
        assert_response_shape(&example(name), &stdout_json(&output));
    }
}

#[test]
fn evaluate_reads_standard_input() {
    let mut child = bin()
        .args(["evaluate", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(referral().to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout_json(&output)["entry"][0]["resource"]["resourceType"],
        "ClaimResponse"
    );
}

#[test]
fn evaluate_prints_the_operation_outcome_and_exits_1_when_it_cannot_adjudicate() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "this is not a bundle").unwrap();
    let output = bin().arg("evaluate").arg(&garbage).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let outcome = stdout_json(&output);
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["code"], "structure");

    let mut bundle = referral();
    bundle["entry"][0]["resource"]["patient"] = json!({"reference": "Patient/missing"});
    let unresolved = dir.path().join("unresolved.json");
    std::fs::write(&unresolved, bundle.to_string()).unwrap();
    let output = bin().arg("evaluate").arg(&unresolved).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout_json(&output)["issue"][0]["expression"][0],
        "Bundle.entry[0].resource.patient"
    );
}

#[test]
fn evaluate_of_a_missing_file_is_an_error_not_an_answer() {
    let output = bin()
        .args(["evaluate", "/no/such/file.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read"));
}

/// A folder with the Referral example and an expectation beside it.
fn replay_dir(expected_action: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("referral.json"), referral().to_string()).unwrap();
    let expected = json!({
        "description": "IG referral example: a consultation, outside every automated policy, so pended",
        "items": [{"sequence": 1, "action": expected_action}]
    });
    std::fs::write(
        dir.path().join("referral.expected.json"),
        expected.to_string(),
    )
    .unwrap();
    dir
}

#[test]
fn replay_reports_agreement() {
    let dir = replay_dir("A4");
    let output = bin().arg("replay").arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("file"), "{stdout}");
    assert!(stdout.contains("referral.json"), "{stdout}");
    // The expectation file is not replayed as a bundle.
    assert!(!stdout.contains("referral.expected.json"), "{stdout}");
    assert!(
        stdout.contains("1 bundles, 1 answers: 1 agree, 0 differ"),
        "{stdout}"
    );
}

#[test]
fn replay_reports_disagreement_and_exits_1() {
    let dir = replay_dir("A1");
    let output = bin().arg("replay").arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("DIFFER"), "{stdout}");
    assert!(stdout.contains("0 agree, 1 differ"), "{stdout}");
}

#[test]
fn replay_against_a_server() {
    let dir = replay_dir("A4");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (addr, stop) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = pas_adapter::service::Service::new(
            pas_adapter::policy::PolicySet::embedded(),
            pas_adapter::service::ServiceSettings::default(),
        );
        tokio::spawn(pas_adapter::http::launch(
            listener,
            pas_adapter::http::router(service),
            async {
                let _ = stopped.await;
            },
        ));
        (addr, stop)
    });
    let output = bin()
        .arg("replay")
        .arg(dir.path())
        .args(["--server", &format!("http://{addr}")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("1 agree"), "{stdout}");
    let _ = stop.send(());
}

#[test]
fn replay_of_nothing_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = bin().arg("replay").arg(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn help_is_available_everywhere() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["evaluate", "--help"],
        vec!["replay", "--help"],
    ] {
        let output = bin().args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("Usage: pas-adapter"), "{text}");
    }
    let output = bin().args(["serve", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("PAS_ADDR"));
}

/// Regression (issue 9): `serve --help` printed `[env: PAS_DB=postgres://u:PASSWORD@...]`.
#[test]
fn help_never_prints_the_database_password_or_the_number_key() {
    let output = bin()
        .args(["serve", "--help"])
        .env("PAS_DB", "postgres://pas:HelpS3cretPw@db:5432/pas")
        .env("PAS_NUMBER_KEY", "HelpNumberKeySecret-0123456789")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0));
    assert!(text.contains("PAS_DB"), "{text}");
    assert!(!text.contains("HelpS3cretPw"), "{text}");
    assert!(!text.contains("HelpNumberKeySecret"), "{text}");
}

/// `serve` refuses to start without a clients file unless told `--insecure-no-auth`.
#[test]
fn serve_refuses_to_start_without_clients() {
    let output = bin()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env_remove("PAS_CLIENTS")
        .env_remove("PAS_INSECURE_NO_AUTH")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("--clients"), "{text}");
}
