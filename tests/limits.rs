//! Every server limit through a real server on a loopback port: the status, the
//! OperationOutcome code, `Retry-After` where it applies, and that the server keeps serving
//! afterwards. And SIGTERM: the binary answers the request in flight, then exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body, Frame};
use pas_adapter::http::ServerLimits;
use pas_adapter::pas::Limits;
use pas_adapter::policy::PolicySet;
use pas_adapter::service::{Service, ServiceSettings};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// Upper bound on any wait in these tests: a test that hangs fails instead.
const PATIENCE: Duration = Duration::from_secs(20);

fn sample_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-bundles/01-ebc-adjuvant-a1.json")
}

/// A sample request whose expected answer is A1 on its one item.
fn sample() -> Vec<u8> {
    std::fs::read(sample_path()).unwrap()
}

fn sample_json() -> Value {
    serde_json::from_slice(&sample()).unwrap()
}

/// A server on a loopback port, stopped when dropped.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    client: reqwest::Client,
}

impl Server {
    async fn start(settings: ServiceSettings, limits: ServerLimits) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app =
            pas_adapter::http::router_with(Service::new(PolicySet::embedded(), settings), &limits);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            pas_adapter::http::serve(listener, app, &limits, async {
                let _ = stopped.await;
            })
            .await
        });
        Self {
            addr,
            stop: Some(stop),
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn submit(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        submit_to(&self.client, &self.url("/Claim/$submit"), body.into()).await
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        tokio::time::timeout(PATIENCE, self.client.get(self.url(path)).send())
            .await
            .unwrap()
            .unwrap()
    }

    /// The server still answers a whole request right (A1 on the sample).
    async fn assert_serving(&self) {
        let response = self.submit(sample()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(actions(&response.json().await.unwrap()), vec!["A1"]);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn submit_to(client: &reqwest::Client, url: &str, body: reqwest::Body) -> reqwest::Response {
    tokio::time::timeout(
        PATIENCE,
        client
            .post(url)
            .header("content-type", "application/fhir+json")
            .body(body)
            .send(),
    )
    .await
    .unwrap()
    .unwrap()
}

/// The review action code of every ClaimResponse item.
fn actions(response: &Value) -> Vec<String> {
    common::item_actions(response)
        .into_iter()
        .map(|(_, code)| code)
        .collect()
}

/// Asserts an OperationOutcome answer: status, first issue code, and its expression.
async fn assert_outcome(
    response: reqwest::Response,
    status: u16,
    code: &str,
    expression: Option<&str>,
) -> reqwest::header::HeaderMap {
    assert_eq!(response.status(), status);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/fhir+json")
    );
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome:#}");
    assert_eq!(outcome["issue"][0]["code"], code, "{outcome:#}");
    assert_eq!(
        outcome["issue"][0]["expression"][0].as_str(),
        expression,
        "{outcome:#}"
    );
    headers
}

/// A request body sent in pieces, when the test says so.
struct SlowBody(mpsc::UnboundedReceiver<Bytes>);

impl Body for SlowBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

/// A body whose first `head` bytes are sent now; the rest when the sender sends it.
fn slow_body(head: &[u8]) -> (mpsc::UnboundedSender<Bytes>, reqwest::Body) {
    let (sender, receiver) = mpsc::unbounded_channel();
    sender.send(Bytes::copy_from_slice(head)).unwrap();
    (sender, reqwest::Body::wrap(SlowBody(receiver)))
}

/// Starts a slow `$submit` (only `head` of its body sent) that holds the server's only
/// in-flight slot, and returns the rest of its body's sender, the request, and the 503 a probe
/// of `GET {base}/metadata` got, which proves the slot is held.
///
/// The probe and the slow request race for the slot: when the probe wins, the slow request is
/// the one refused (at once, 503), and it is simply sent again. Regression: the first version
/// of these tests assumed the slow request always won, and failed under load.
async fn hold_the_slot(
    client: &reqwest::Client,
    base: &str,
    head: &[u8],
) -> (
    mpsc::UnboundedSender<Bytes>,
    tokio::task::JoinHandle<reqwest::Response>,
    reqwest::Response,
) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (rest, slow) = slow_body(head);
        let held = {
            let client = client.clone();
            let url = format!("{base}/Claim/$submit");
            tokio::spawn(async move { submit_to(&client, &url, slow).await })
        };
        loop {
            let probe =
                tokio::time::timeout(PATIENCE, client.get(format!("{base}/metadata")).send())
                    .await
                    .unwrap()
                    .unwrap();
            if probe.status() == 503 {
                return (rest, held, probe);
            }
            assert_eq!(probe.status(), 200);
            if held.is_finished() {
                break; // the slow request lost the race and was refused: send it again
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the slow request never took the slot"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn body_over_the_size_limit_is_413_and_the_server_keeps_serving() {
    let settings = ServiceSettings {
        limits: Limits {
            max_body_bytes: sample().len() + 16,
            ..Limits::default()
        },
        ..ServiceSettings::default()
    };
    let server = Server::start(settings, ServerLimits::default()).await;
    let mut padded = sample();
    padded.extend_from_slice(&[b' '; 17]);
    assert_outcome(server.submit(padded).await, 413, "too-long", None).await;
    server.assert_serving().await;
}

#[tokio::test]
async fn nesting_over_the_depth_limit_is_400_and_located() {
    let server = Server::start(ServiceSettings::default(), ServerLimits::default()).await;
    let mut bundle = sample_json();
    let mut nested = json!("deep");
    // 2 levels a turn: past the limit of 64, short of serde_json's own 128.
    for _ in 0..35 {
        nested = json!({"url": "urn:x", "extension": [nested]});
    }
    bundle["meta"] = json!({"extension": [nested]});
    let response = server.submit(bundle.to_string()).await;
    assert_eq!(response.status(), 400);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["issue"][0]["code"], "too-long");
    assert!(
        outcome["issue"][0]["expression"][0]
            .as_str()
            .unwrap()
            .starts_with("Bundle.meta.extension[0].extension[0]")
    );
    server.assert_serving().await;
}

#[tokio::test]
async fn entries_over_the_limit_are_413_at_bundle_entry() {
    let entries = sample_json()["entry"].as_array().unwrap().len();
    let settings = ServiceSettings {
        limits: Limits {
            max_entries: entries,
            ..Limits::default()
        },
        ..ServiceSettings::default()
    };
    let server = Server::start(settings, ServerLimits::default()).await;
    let mut bundle = sample_json();
    let mut extra = bundle["entry"][1].clone();
    extra["fullUrl"] = json!("urn:uuid:5b0c0b6a-4a55-4d4e-9a55-0b2f5c0e7f01");
    bundle["entry"].as_array_mut().unwrap().push(extra);
    assert_outcome(
        server.submit(bundle.to_string()).await,
        413,
        "too-long",
        Some("Bundle.entry"),
    )
    .await;
    // At the limit exactly: answered.
    server.assert_serving().await;
}

#[tokio::test]
async fn a_request_over_the_timeout_is_503_with_retry_after() {
    // Long enough for a whole request on a busy CI machine (the server must keep serving).
    let limits = ServerLimits {
        request_timeout: Duration::from_secs(1),
        ..ServerLimits::default()
    };
    let server = Server::start(ServiceSettings::default(), limits).await;
    let body = sample();
    // Half the body, and the rest never: the request cannot finish in time.
    let (_rest, slow) = slow_body(&body[..body.len() / 2]);
    let headers = assert_outcome(server.submit(slow).await, 503, "timeout", None).await;
    assert_eq!(headers["retry-after"], "1");
    server.assert_serving().await;
}

#[tokio::test]
async fn requests_over_the_in_flight_cap_are_503_transient_with_retry_after() {
    let limits = ServerLimits {
        max_in_flight: 1,
        retry_after: Duration::from_secs(3),
        ..ServerLimits::default()
    };
    let server = Server::start(ServiceSettings::default(), limits).await;
    let body = sample();
    let (rest, held, refused) = hold_the_slot(&server.client, &server.url(""), &body[..100]).await;
    let headers = assert_outcome(refused, 503, "transient", None).await;
    assert_eq!(headers["retry-after"], "3");
    // Refused at once, not queued: another operation is refused too...
    assert_eq!(server.submit(sample()).await.status(), 503);
    // ...but health still answers (metrics are on the admin listener, outside the cap too).
    assert_eq!(server.get("/healthz").await.status(), 200);

    // The request holding the slot is answered in full once its body arrives.
    rest.send(Bytes::copy_from_slice(&body[100..])).unwrap();
    drop(rest);
    let response = tokio::time::timeout(PATIENCE, held).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(actions(&response.json().await.unwrap()), vec!["A1"]);
    server.assert_serving().await;
}

#[tokio::test]
async fn a_client_slower_than_the_header_read_timeout_is_disconnected() {
    let limits = ServerLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ServerLimits::default()
    };
    let server = Server::start(ServiceSettings::default(), limits).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // A request line and one header, and then nothing.
    stream
        .write_all(b"POST /Claim/$submit HTTP/1.1\r\nhost: localhost\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    // The server closes the connection (read returns end of stream): without the timeout
    // this waits forever, and PATIENCE fails the test.
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the connection was kept open");
    assert!(received.is_empty() || received.starts_with(b"HTTP/1.1 408"));
    server.assert_serving().await;
}

/// The `serve` binary on a loopback port, its stderr lines readable as they come.
struct Binary {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    addr: SocketAddr,
    /// The server's own request store, removed with the test.
    _db: tempfile::TempDir,
}

impl Binary {
    fn start(args: &[&str]) -> Self {
        let db = tempfile::tempdir().unwrap();
        let uri = format!("sqlite://{}", db.path().join("limits.db").display());
        let mut child = Command::new(env!("CARGO_BIN_EXE_pas-adapter"))
            .args(["serve", "--addr", "127.0.0.1:0", "--db", &uri])
            .args(["--insecure-no-auth", "--admin-addr", "127.0.0.1:0"])
            .args(args)
            .env("PAS_LOG", "info")
            .env("PAS_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut binary = Self {
            child,
            lines,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            _db: db,
        };
        let line = binary.wait_for("serving PAS");
        let event: Value = serde_json::from_str(&line).unwrap();
        binary.addr = event["addr"].as_str().unwrap().parse().unwrap();
        binary
    }

    /// The first stderr line containing `text` (earlier lines are skipped).
    fn wait_for(&self, text: &str) -> String {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line with `{text}`: {e}"),
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sigterm_drains_the_request_in_flight_and_exits_0() {
    // One slot: a 503 on a probe proves the slow request is in the server before SIGTERM.
    let mut binary = Binary::start(&["--max-in-flight", "1"]);
    let client = reqwest::Client::new();
    let body = sample();
    let base = format!("http://{}", binary.addr);
    let (rest, in_flight, _) = hold_the_slot(&client, &base, &body[..body.len() / 3]).await;

    binary.signal("TERM");
    // The server has taken the signal and stopped accepting before the body is finished.
    binary.wait_for("draining requests in flight");
    rest.send(Bytes::copy_from_slice(&body[body.len() / 3..]))
        .unwrap();
    drop(rest);

    let response = tokio::time::timeout(PATIENCE, in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(actions(&response.json().await.unwrap()), vec!["A1"]);
    binary.wait_for("drained");
    let deadline = std::time::Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = binary.child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn ctrl_c_stops_an_idle_server_with_exit_0() {
    let mut binary = Binary::start(&[]);
    binary.signal("INT");
    binary.wait_for("drained");
    let deadline = std::time::Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = binary.child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}
