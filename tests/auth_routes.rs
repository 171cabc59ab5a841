//! Every FHIR route from the attacker's side: without a token, with an expired, forged or
//! reviewer token, with a token lacking the route's scope, and with a good one; discovery
//! and health stay open; `/metrics` is not on the public address.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use auth_common::{SmartServer, inquiry, sample};
use pas_adapter::auth::Caller;
use serde_json::Value;

/// `(method, path, body, the scope it needs)` of every FHIR route.
fn fhir_routes() -> Vec<(&'static str, &'static str, Option<Value>, &'static str)> {
    vec![
        ("POST", "/Claim/$submit", Some(sample()), "system/Claim.c"),
        (
            "POST",
            "/Claim/$inquire",
            Some(inquiry(None)),
            "system/Claim.r",
        ),
        (
            "GET",
            "/Questionnaire/kadcyla",
            None,
            "system/Questionnaire.r",
        ),
    ]
}

fn client(scopes: &[&str]) -> Caller {
    Caller::Client {
        id: "gateway-a".into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn assert_outcome(status: u16, body: &Value, expected: u16, code: &str, route: &str) {
    assert_eq!(status, expected, "{route}: {body}");
    assert_eq!(body["resourceType"], "OperationOutcome", "{route}: {body}");
    assert_eq!(body["issue"][0]["code"], code, "{route}: {body}");
}

#[tokio::test]
async fn fhir_routes_without_a_token_are_401_with_a_bearer_challenge() {
    let server = SmartServer::start().await;
    for (method, path, body, _) in fhir_routes() {
        let (status, headers, answer) = server.call(method, path, None, body.as_ref()).await;
        assert_outcome(status, &answer, 401, "login", path);
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }
}

#[tokio::test]
async fn expired_forged_and_malformed_tokens_are_401() {
    let server = SmartServer::start().await;
    let expired = server.issued_ago(&client(auth_common::ALL_SCOPES), 301);
    // A token of another server (another store, so another key) for the same client.
    let other = SmartServer::start().await;
    let forged = other.token_a().await;
    let good = server.token_a().await;
    let tampered = format!("{}x", &good[..good.len() - 1]);
    for (method, path, body, _) in fhir_routes() {
        for (name, token) in [
            ("expired", expired.as_str()),
            ("forged", forged.as_str()),
            ("tampered", tampered.as_str()),
            ("garbage", "not-a-token"),
        ] {
            let (status, headers, answer) =
                server.call(method, path, Some(token), body.as_ref()).await;
            assert_outcome(status, &answer, 401, "login", &format!("{name} {path}"));
            assert!(
                headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .contains("invalid_token")
            );
        }
    }
}

#[tokio::test]
async fn a_token_lacking_the_scope_is_403_and_a_good_one_opens_the_route() {
    let server = SmartServer::start().await;
    for (method, path, body, scope) in fhir_routes() {
        let others: Vec<&str> = auth_common::ALL_SCOPES
            .iter()
            .copied()
            .filter(|s| {
                *s != scope && !(path == "/Claim/$inquire" && *s == "system/ClaimResponse.r")
            })
            .collect();
        let lacking = server.issued_ago(&client(&others), 0);
        let (status, _, answer) = server
            .call(method, path, Some(&lacking), body.as_ref())
            .await;
        assert_outcome(status, &answer, 403, "forbidden", path);
        assert!(
            answer["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains(scope),
            "{answer}"
        );
        // The scope alone, through the token endpoint, opens it.
        let token = server
            .token("gateway-a", &auth_common::keys().a_ec, scope)
            .await;
        let (status, _, answer) = server.call(method, path, Some(&token), body.as_ref()).await;
        assert_eq!(status, 200, "{path}: {answer}");
        let expected = match path {
            "/Claim/$submit" => "Bundle",
            "/Claim/$inquire" => "Parameters",
            _ => "Questionnaire",
        };
        assert_eq!(answer["resourceType"], expected, "{path}");
    }
    // `system/ClaimResponse.r` and the SMART v1 spelling open `$inquire` too.
    for scope in ["system/ClaimResponse.r"] {
        let token = server
            .token("gateway-a", &auth_common::keys().a_rsa, scope)
            .await;
        let (status, _, _) = server
            .call(
                "POST",
                "/Claim/$inquire",
                Some(&token),
                Some(&inquiry(None)),
            )
            .await;
        assert_eq!(status, 200, "{scope}");
    }
    let v1 = server.issued_ago(&client(&["system/*.read"]), 0);
    let (status, _, _) = server
        .call("POST", "/Claim/$inquire", Some(&v1), Some(&inquiry(None)))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn client_tokens_open_no_reviewer_route_and_reviewer_tokens_no_client_route() {
    let server = SmartServer::start().await;
    let client_token = server.token_a().await;
    let (status, _, answer) = server
        .call("GET", "/AuditEvent", Some(&client_token), None)
        .await;
    assert_outcome(status, &answer, 403, "forbidden", "/AuditEvent");
    let reviewer = server.reviewer_token();
    let (status, _, answer) = server
        .call("GET", "/AuditEvent", Some(&reviewer), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    for (method, path, body, _) in fhir_routes() {
        let (status, _, answer) = server
            .call(method, path, Some(&reviewer), body.as_ref())
            .await;
        assert_outcome(status, &answer, 403, "forbidden", path);
    }
}

#[tokio::test]
async fn discovery_and_health_stay_open_and_metadata_advertises_smart() {
    let server = SmartServer::start().await;
    let (status, _, metadata) = server.call("GET", "/metadata", None, None).await;
    assert_eq!(status, 200);
    let security = &metadata["rest"][0]["security"];
    assert_eq!(security["service"][0]["coding"][0]["code"], "SMART-on-FHIR");
    assert_eq!(
        security["extension"][0]["extension"][0]["valueUri"],
        server.token_url()
    );
    let (status, _, health) = server.call("GET", "/healthz", None, None).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let (status, _, _) = server
        .call("GET", "/.well-known/smart-configuration", None, None)
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = server.call("GET", "/metrics", None, None).await;
    assert_eq!(status, 404, "/metrics is not on the public address");
}

/// A `pas-adapter serve` process; its addresses read from its `listening on` lines.
struct Binary {
    child: std::process::Child,
    public: String,
    admin: String,
    clients: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Binary {
    fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clients = dir.path().join("clients.toml");
        std::fs::write(&clients, auth_common::clients_toml()).unwrap();
        let db = format!("sqlite://{}", dir.path().join("serve.db").display());
        let mut command = Command::new(env!("CARGO_BIN_EXE_pas-adapter"));
        command
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--admin-addr",
                "127.0.0.1:0",
            ])
            .args(["--db", &db])
            .env("PAS_LOG", "warn")
            .env_remove("PAS_CLIENTS")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for arg in args {
            command.arg(arg.replace("{clients}", clients.to_str().unwrap()));
        }
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (mut public, mut admin) = (None, None);
        let mut seen = Vec::new();
        while public.is_none() {
            let line = match lines.next() {
                Some(Ok(line)) => line,
                _ => panic!("the server exited before listening: {seen:#?}"),
            };
            if let Some(addr) = line.strip_prefix("admin listening on ") {
                admin = Some(addr.trim().to_owned());
            } else if let Some(addr) = line.strip_prefix("listening on ") {
                public = Some(addr.trim().to_owned());
            }
            seen.push(line);
        }
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            public: public.unwrap(),
            admin: admin.unwrap(),
            clients,
            _dir: dir,
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn serve_puts_metrics_on_the_admin_address_only() {
    let server = Binary::start(&["--clients", "{clients}"]);
    let client = reqwest::Client::new();
    let public = client
        .get(format!("http://{}/metrics", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    let unauthenticated = client
        .post(format!("http://{}/Claim/$submit", server.public))
        .header("content-type", "application/fhir+json")
        .body(sample().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let admin = client
        .get(format!("http://{}/metrics", server.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    let text = admin.text().await.unwrap();
    assert!(text.contains("pas_http_requests_total"), "{text}");
    assert!(server.admin.starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn insecure_mode_says_so_in_metadata() {
    let server = Binary::start(&["--insecure-no-auth"]);
    let metadata: Value = reqwest::get(format!("http://{}/metadata", server.public))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let description = metadata["rest"][0]["security"]["description"]
        .as_str()
        .unwrap();
    assert!(description.contains("INSECURE"), "{description}");
    assert!(metadata["rest"][0]["security"].get("service").is_none());
}

/// `replay --server --token` submits with the token; without one every bundle is refused.
#[tokio::test(flavor = "multi_thread")]
async fn replay_against_a_secured_server_needs_a_token() {
    let server = SmartServer::start().await;
    let token = server
        .token("gateway-a", &auth_common::keys().a_ec, "system/Claim.c")
        .await;
    let replay = |token: Option<String>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pas-adapter"));
        command
            .args(["replay", "--server", &server.base])
            .arg(auth_common::sample_path())
            .env("PAS_LOG", "warn")
            .env_remove("PAS_TOKEN");
        if let Some(token) = token {
            command.env("PAS_TOKEN", token);
        }
        command.output().unwrap()
    };
    let refused = tokio::task::block_in_place(|| replay(None));
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("rejected 401"));
    let accepted = tokio::task::block_in_place(|| replay(Some(token)));
    assert_eq!(
        accepted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&accepted.stdout)
    );
}

/// SIGHUP reloads the clients file: a client added to the file can get a token without a
/// restart, and one removed loses its token at once.
#[tokio::test]
async fn sighup_reloads_the_clients_file() {
    let server = Binary::start(&["--clients", "{clients}"]);
    let full = std::fs::read_to_string(&server.clients).unwrap();
    let without_a = full
        .split("\n\n")
        .filter(|block| !block.contains("gateway-a"))
        .collect::<Vec<_>>()
        .join("\n\n");
    let base = format!("http://{}", server.public);
    let k = &auth_common::keys().a_ec;
    let ask = || {
        let assertion = auth_common::Assertion::new("gateway-a", k, &format!("{base}/auth/token"))
            .sign(&k.encoding);
        let url = format!("{base}/auth/token");
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", auth_common::JWT_BEARER),
                    ("client_assertion", assertion.as_str()),
                    ("scope", "system/Claim.c"),
                ])
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }
    };
    let (status, body) = ask().await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let hangup = |pid: u32| {
        let status = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    std::fs::write(&server.clients, &without_a).unwrap();
    hangup(server.child.id());
    // The reload is asynchronous: wait until gateway-a is refused.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = ask().await;
        if status == 401 {
            assert_eq!(body["error"], "invalid_client");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reloaded: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let submitted = reqwest::Client::new()
        .post(format!("{base}/Claim/$submit"))
        .bearer_auth(&token)
        .header("content-type", "application/fhir+json")
        .body(sample().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 401, "a removed client's token is dead");
    // Back in the file: a token again, same process.
    std::fs::write(&server.clients, &full).unwrap();
    hangup(server.child.id());
    loop {
        let (status, body) = ask().await;
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reloaded: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
