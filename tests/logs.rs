//! Logs carry no patient data. The binary serves every sample bundle (and a rejected variant
//! of each, whose OperationOutcome quotes a patient identifier back to the sender) at debug
//! level for every crate, in both log formats, and `evaluate` runs over every bundle; then
//! none of the bundles' patient names, identifiers, birth dates, addresses, telecoms or
//! observation values may appear in what was logged. The logs must still say what happened:
//! one `answered` line per request with its request id, method, route, status, review
//! actions and latency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth_common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(30);

/// Every sample request bundle, with its expected review actions (`A1,A4`).
fn samples() -> Vec<(PathBuf, Value, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-bundles");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p.to_string_lossy().ends_with(".expected.json")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 30, "sample bundles missing");
    files
        .into_iter()
        .map(|path| {
            let bundle: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let expected: Value = serde_json::from_slice(
                &std::fs::read(path.with_extension("expected.json")).unwrap(),
            )
            .unwrap();
            let actions = expected["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["action"].as_str().unwrap())
                .collect::<Vec<_>>()
                .join(",");
            (path, bundle, actions)
        })
        .collect()
}

/// The patient data of a bundle: what must never be logged.
fn patient_data(bundle: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut push = |v: &Value| {
        if let Some(s) = v.as_str() {
            found.push(s.to_owned());
        }
    };
    for entry in bundle["entry"].as_array().unwrap() {
        let resource = &entry["resource"];
        let each = |key: &str| resource[key].as_array().cloned().unwrap_or_default();
        match resource["resourceType"].as_str().unwrap() {
            "Patient" => {
                for name in each("name") {
                    push(&name["family"]);
                    push(&name["text"]);
                    name["given"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .for_each(&mut push);
                }
                for identifier in each("identifier") {
                    push(&identifier["value"]);
                }
                push(&resource["birthDate"]);
                for address in each("address") {
                    address["line"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .for_each(&mut push);
                    push(&address["city"]);
                    push(&address["postalCode"]);
                }
                for telecom in each("telecom") {
                    push(&telecom["value"]);
                }
            }
            "Coverage" => {
                push(&resource["subscriberId"]);
                for identifier in each("identifier") {
                    push(&identifier["value"]);
                }
            }
            "Observation" => {
                for holder in std::iter::once(resource.clone()).chain(each("component")) {
                    push(&holder["valueString"]);
                    push(&holder["valueCodeableConcept"]["text"]);
                    for coding in holder["valueCodeableConcept"]["coding"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        push(&coding["display"]);
                    }
                    let quantity = &holder["valueQuantity"];
                    if let Some(value) = quantity.get("value") {
                        // A bare number is everywhere (latencies, counts); a measured value
                        // is a number with its unit, or the quantity as it is written.
                        for unit in [&quantity["unit"], &quantity["code"]] {
                            if let Some(unit) = unit.as_str() {
                                push(&Value::from(format!("{value} {unit}")));
                                push(&Value::from(format!("{value}{unit}")));
                            }
                        }
                        push(&Value::from(format!("\"value\":{value}")));
                    }
                }
            }
            _ => {}
        }
    }
    found.retain(|s| s.len() >= 3);
    found.sort();
    found.dedup();
    found
}

/// The first occurrence of `needle` in `text` as a whole word (no letter or digit right
/// before or after), so that `Ana` is found in `patient Ana,` but not in `Analysis`.
fn find_word(text: &str, needle: &str) -> Option<usize> {
    let is_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    text.match_indices(needle).map(|(at, _)| at).find(|&at| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        let first = needle.chars().next();
        let last = needle.chars().next_back();
        // Only a needle that starts (ends) with a word character needs a boundary there.
        let glued_before = is_word(first) && is_word(before);
        let glued_after = is_word(last) && is_word(after);
        !glued_before && !glued_after
    })
}

/// Every needle found in `logs`, with the line it is in.
fn leaks(logs: &str, needles: &[String]) -> Vec<String> {
    needles
        .iter()
        .filter_map(|needle| {
            find_word(logs, needle).map(|at| {
                let start = logs[..at].rfind('\n').map_or(0, |i| i + 1);
                let end = logs[at..].find('\n').map_or(logs.len(), |i| at + i);
                format!("`{needle}` in: {}", &logs[start..end])
            })
        })
        .collect()
}

#[test]
fn the_scanner_finds_planted_values() {
    let bundle = &samples()[0].1;
    let needles = patient_data(bundle);
    let family = bundle["entry"][1]["resource"]["name"][0]["family"]
        .as_str()
        .unwrap();
    assert_eq!(bundle["entry"][1]["resource"]["resourceType"], "Patient");
    for expected in [
        family,
        "MRN700101",
        "1968-03-14",
        "68 kg",
        "Positive",
        "MMA0553201",
    ] {
        assert!(
            needles.iter().any(|n| n == expected),
            "`{expected}` is not collected"
        );
    }
    let clean = "{\"message\":\"answered\",\"route\":\"/Claim/$submit\",\"status\":200}\n";
    assert!(leaks(clean, &needles).is_empty());
    for planted in [
        format!("{{\"message\":\"patient {family}\"}}"),
        "x birth=1968-03-14 y".to_owned(),
        "weight: 68 kg\n".to_owned(),
        "{\"valueQuantity\":{\"value\":68,\"unit\":\"kg\"}}".to_owned(),
        "id=MRN700101".to_owned(),
    ] {
        assert_eq!(leaks(&planted, &needles).len(), 1, "{planted}");
    }
    // Word boundaries: a longer word or number is not the value.
    assert_eq!(find_word("Analysis Ana,", "Ana"), Some(9));
    assert_eq!(find_word("MRN7001012", "MRN700101"), None);
    assert_eq!(find_word("\"value\":680", "\"value\":68"), None);
}

/// A child process whose stderr is collected as it comes.
struct Captured {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Captured {
    fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pipe = child.stderr.take().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Self { child, stderr }
    }

    fn text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.text();
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            assert!(Instant::now() < deadline, "no `{needle}` in:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the exit; the whole stderr.
    fn finish(mut self) -> String {
        let deadline = Instant::now() + PATIENCE;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "still running");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The reader thread ends at end of stream, just after the exit.
        std::thread::sleep(Duration::from_millis(100));
        self.text()
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pas-adapter"));
    // Every crate at debug: hyper, tower-http, and the store once it is wired.
    command.env("PAS_LOG", "debug");
    command
}

/// The sample with its Claim's patient reference replaced by the patient's record number:
/// rejected 400, and its OperationOutcome quotes the number back.
fn rejected_variant(bundle: &Value) -> Value {
    let patient = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Patient")
        .unwrap();
    let mrn = patient["resource"]["identifier"][0]["value"]
        .as_str()
        .unwrap();
    let mut variant = bundle.clone();
    variant["entry"][0]["resource"]["patient"] = json!({"reference": format!("Patient/{mrn}")});
    variant
}

/// The `x-request-id` sent with sample `i`: a UUID, since the server replaces any other id.
fn request_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

/// Serves every sample and its rejected variant through the binary; the server's logs.
fn serve_samples(format: &str, samples: &[(PathBuf, Value, String)]) -> String {
    let db = tempfile::tempdir().unwrap();
    let uri = format!("sqlite://{}", db.path().join("logs.db").display());
    let server = Captured::spawn(bin().args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--db",
        &uri,
        "--log-format",
        format,
        "--insecure-no-auth",
        "--admin-addr",
        "127.0.0.1:0",
    ]));
    let line = server.wait_for("serving PAS");
    let addr = match serde_json::from_str::<Value>(&line) {
        Ok(event) => event["addr"].as_str().unwrap().to_owned(),
        Err(_) => line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("addr="))
            .unwrap()
            .to_owned(),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("http://{addr}/Claim/$submit");
        for (i, (path, bundle, _)) in samples.iter().enumerate() {
            for (body, status) in [(bundle.clone(), 200), (rejected_variant(bundle), 400)] {
                let response = client
                    .post(&url)
                    .header("content-type", "application/fhir+json")
                    .header("x-request-id", request_id(i))
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), status, "{}", path.display());
                let answer = response.text().await.unwrap();
                if status == 400 {
                    // The sender is told what is wrong, quoting its value.
                    assert!(answer.contains("does not resolve"), "{answer}");
                }
            }
        }
        for path in ["/metadata", "/Questionnaire/kadcyla", "/healthz"] {
            let response = client
                .get(format!("http://{addr}{path}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    });
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    server.finish()
}

#[test]
fn logs_of_a_run_over_the_sample_bundles_carry_no_patient_data() {
    let samples = samples();
    let mut needles: Vec<String> = samples.iter().flat_map(|s| patient_data(&s.1)).collect();
    needles.sort();
    needles.dedup();

    let json_logs = serve_samples("json", &samples);
    let human_logs = serve_samples("human", &samples);
    let mut evaluate_logs = String::new();
    for (path, _, _) in &samples {
        let output = bin()
            .args(["evaluate", "--log-format", "json"])
            .arg(path)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", path.display());
        evaluate_logs.push_str(&String::from_utf8_lossy(&output.stderr));
    }

    for (name, logs) in [
        ("serve --log-format json", &json_logs),
        ("serve --log-format human", &human_logs),
        ("evaluate", &evaluate_logs),
    ] {
        let found = leaks(logs, &needles);
        assert!(
            found.is_empty(),
            "{name} logged patient data:\n{}",
            found.join("\n")
        );
    }

    // The logs still say what happened: one `answered` line per request.
    let answered: Vec<Value> = json_logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "answered")
        .collect();
    let submits: Vec<&Value> = answered
        .iter()
        .filter(|l| l["route"] == "/Claim/$submit")
        .collect();
    assert_eq!(submits.len(), 2 * samples.len());
    for (i, (_, _, actions)) in samples.iter().enumerate() {
        let request_id = request_id(i);
        let lines: Vec<&&Value> = submits
            .iter()
            .filter(|l| l["span"]["request_id"] == request_id.as_str())
            .collect();
        assert_eq!(lines.len(), 2, "{request_id}");
        assert_eq!(lines[0]["status"], 200);
        assert_eq!(lines[0]["actions"], actions.as_str(), "sample {i}");
        assert_eq!(lines[1]["status"], 400);
        assert_eq!(lines[1]["actions"], "-");
        for line in lines {
            assert_eq!(line["span"]["method"], "POST");
            assert!(line["latency_ms"].is_f64());
            assert_eq!(line["level"], "INFO");
        }
    }
    assert!(
        human_logs
            .lines()
            .any(|l| l.contains("answered") && l.contains("route=/Claim/$submit"))
    );
    // Not a vacuous pass: debug lines of the libraries were captured too.
    assert!(json_logs.lines().any(|l| l.contains("\"level\":\"DEBUG\"")));
}

/// Secrets never reach the logs (issue 9): at debug level for every crate, a server with a
/// clients file and a number key given in the environment issues a token and answers with it;
/// neither the assertion, the access token, the number key nor the database password (of a
/// PostgreSQL URL that cannot be reached, so that the error path is logged too) appears.
#[test]
fn logs_carry_no_token_assertion_number_key_or_database_password() {
    const DB_PASSWORD: &str = "LogS3cretDbPassw0rd";
    const NUMBER_KEY: &str = "LogNumberKeySecret-0123456789";
    // The error path: the store cannot be opened.
    let failed = bin()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
        ])
        .args(["--insecure-no-auth", "--db"])
        .arg(format!("postgres://pas:{DB_PASSWORD}@127.0.0.1:1/pas"))
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(2));
    let failed = String::from_utf8_lossy(&failed.stderr).to_string();
    assert!(failed.contains("cannot open the request store"), "{failed}");
    assert!(!failed.contains(DB_PASSWORD), "{failed}");

    let dir = tempfile::tempdir().unwrap();
    let clients = dir.path().join("clients.toml");
    std::fs::write(&clients, auth_common::clients_toml()).unwrap();
    let uri = format!("sqlite://{}", dir.path().join("logs.db").display());
    let server = Captured::spawn(
        bin()
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--admin-addr",
                "127.0.0.1:0",
            ])
            .args(["--db", &uri, "--log-format", "json", "--clients"])
            .arg(&clients)
            .env("PAS_NUMBER_KEY", NUMBER_KEY),
    );
    let line = server.wait_for("serving PAS");
    let addr = serde_json::from_str::<Value>(&line).unwrap()["addr"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("http://{addr}");
    let key = &auth_common::keys().a_rsa;
    let assertion = auth_common::Assertion::new("gateway-a", key, &format!("{base}/auth/token"))
        .sign(&key.encoding);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let token = runtime.block_on(async {
        let client = reqwest::Client::new();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_assertion_type", auth_common::JWT_BEARER),
            ("client_assertion", assertion.as_str()),
            ("scope", "system/Claim.c"),
        ];
        let answer: Value = client
            .post(format!("{base}/auth/token"))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = answer["access_token"].as_str().unwrap().to_owned();
        // The replay is refused, with the assertion in the request again.
        let replay = client
            .post(format!("{base}/auth/token"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(replay.status(), 400);
        let submitted = client
            .post(format!("{base}/Claim/$submit"))
            .bearer_auth(&token)
            .header("content-type", "application/fhir+json")
            .body(auth_common::sample().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(submitted.status(), 200);
        let refused = client
            .post(format!("{base}/Claim/$inquire"))
            .bearer_auth(&token)
            .header("content-type", "application/fhir+json")
            .body(auth_common::inquiry(None).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);
        token
    });
    drop(runtime);
    let logs = server.text();
    assert!(logs.contains("\"answered\""), "{logs}");
    let signature = assertion.rsplit('.').next().unwrap();
    let token_signature = token.rsplit('.').next().unwrap();
    for (name, secret) in [
        ("assertion", assertion.as_str()),
        ("assertion signature", signature),
        ("access token", token.as_str()),
        ("access token signature", token_signature),
        ("number key", NUMBER_KEY),
        ("RSA modulus", &key.jwk_n()[..40]),
    ] {
        assert!(!logs.contains(secret), "the {name} is in the logs:\n{logs}");
    }
}
