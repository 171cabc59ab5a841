//! Every server limit through a real server on a loopback port, from the client's side (an
//! attacker's included): the status, the OperationOutcome code, `Retry-After` where it
//! applies, and that the server keeps serving afterwards. And SIGTERM: the binary answers the
//! request in flight, then exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth_common;
mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use pas_adapter::auth::{Clients, Smart};
use pas_adapter::http::{Security, ServerLimits};
use pas_adapter::pas::Limits;
use pas_adapter::policy::PolicySet;
use pas_adapter::service::{Service, ServiceSettings};
use pas_adapter::store::Store;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Upper bound on any wait in these tests: a test that hangs fails instead.
const PATIENCE: Duration = Duration::from_secs(20);

fn sample_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-bundles/04-mbc-fda-a1.json")
}

/// Sample 04: a request whose expected answer is A1 on its one item.
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
    /// A bearer token sent with `$submit` (servers with SMART on).
    token: Option<String>,
}

impl Server {
    /// The server without authentication.
    async fn start(settings: ServiceSettings, limits: ServerLimits) -> Self {
        let app =
            pas_adapter::http::router_with(Service::new(PolicySet::embedded(), settings), &limits);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, app, limits).await
    }

    async fn serve(
        listener: tokio::net::TcpListener,
        app: axum::Router,
        limits: ServerLimits,
    ) -> Self {
        let addr = listener.local_addr().unwrap();
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
            token: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn submit(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/Claim/$submit"))
            .header("content-type", "application/fhir+json")
            .body(body.into());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        tokio::time::timeout(PATIENCE, request.send())
            .await
            .unwrap()
            .unwrap()
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

/// The sample padded with trailing spaces to `len` bytes: still the same JSON.
fn padded_sample(len: usize) -> Vec<u8> {
    let mut body = sample();
    assert!(len >= body.len());
    body.resize(len, b' ');
    body
}

/// A `POST` written by hand on its own connection, as a slow client or an attacker sends it:
/// the test decides when each byte of the body goes, or whether it goes at all.
struct RawRequest {
    stream: TcpStream,
}

/// How a [`RawRequest`] frames its body.
#[derive(Clone, Copy)]
enum Framing {
    /// `Content-Length: n`.
    Length(usize),
    /// `Transfer-Encoding: chunked`: the server cannot know the size before the end.
    Chunked,
}

impl RawRequest {
    /// Connects and sends only the head of `POST {path}` (`Connection: close`, so that the
    /// answer ends with the connection). With `Expect: 100-continue` the server says when it
    /// starts reading the body (see [`Self::continued`]).
    async fn head(addr: SocketAddr, path: &str, framing: Framing, expect_continue: bool) -> Self {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/fhir+json\r\n\
             connection: close\r\n"
        );
        match framing {
            Framing::Length(len) => head.push_str(&format!("content-length: {len}\r\n")),
            Framing::Chunked => head.push_str("transfer-encoding: chunked\r\n"),
        }
        if expect_continue {
            head.push_str("expect: 100-continue\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        Self { stream }
    }

    /// Waits for the server's `100 Continue`: hyper sends it when the server first reads the
    /// body, so the request is then in the server, past the size limit and holding its share
    /// of the byte budget.
    async fn continued(&mut self) {
        let expected = b"HTTP/1.1 100 Continue\r\n\r\n";
        let mut received = vec![0; expected.len()];
        tokio::time::timeout(PATIENCE, self.stream.read_exact(&mut received))
            .await
            .expect("no answer to `Expect: 100-continue`")
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&received),
            String::from_utf8_lossy(expected),
            "the server answered instead of reading the body"
        );
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The server's answer, read to the end of the connection.
    async fn answer(self) -> RawAnswer {
        read_answer(self.stream.into_split().0).await
    }

    /// Sends the body one byte at a time, a byte every 100 ms, until the server answers;
    /// returns the answer.
    async fn trickle(self) -> RawAnswer {
        let (read, mut write) = self.stream.into_split();
        let writer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if write.write_all(b" ").await.is_err() {
                    break;
                }
            }
        });
        let answer = read_answer(read).await;
        writer.abort();
        answer
    }
}

/// An answer read off a connection: status, headers (lower-case names), the body as JSON.
#[derive(Debug)]
struct RawAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an OperationOutcome answer: status and first issue code.
    fn assert_outcome(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:#?}");
        assert_eq!(self.body["resourceType"], "OperationOutcome", "{self:#?}");
        assert_eq!(self.body["issue"][0]["code"], code, "{self:#?}");
    }
}

/// Reads until the server closes the connection. A reset after the answer (the server closed
/// with body bytes unread) ends the read too: what came before it is the answer.
async fn read_answer(mut read: tokio::net::tcp::OwnedReadHalf) -> RawAnswer {
    let mut received = Vec::new();
    let mut chunk = [0; 4096];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, read.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("no answer within {PATIENCE:?}"),
        }
    }
    let text = String::from_utf8(received).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("no complete answer");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    // Every answer here has a `Content-Length`; the connection ends with the body.
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "content-length" && v.parse() == Ok(body.len())),
        "{headers:?}"
    );
    RawAnswer {
        status,
        headers,
        body: serde_json::from_str(body).unwrap(),
    }
}

/// A client's keys served by a local key server that answers only when the test lets it: the
/// token endpoint fetches them in its handler, so a token request can be held in the server,
/// in its in-flight slot, for as long as the test needs.
struct SlowKeys {
    addr: SocketAddr,
    /// Each fetch of the keys, as it arrives.
    fetched: mpsc::UnboundedReceiver<()>,
    /// One permit lets one fetch be answered.
    gate: Arc<Semaphore>,
}

impl SlowKeys {
    async fn start(key: &auth_common::TestKey) -> Self {
        let jwks: Value = serde_json::from_str(&auth_common::jwks(&[key])).unwrap();
        let (notify, fetched) = mpsc::unbounded_channel();
        let gate = Arc::new(Semaphore::new(0));
        let held = Arc::clone(&gate);
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (jwks, notify, gate) = (jwks.clone(), notify.clone(), Arc::clone(&held));
                async move {
                    let _ = notify.send(());
                    gate.acquire().await.unwrap().forget();
                    axum::Json(jwks)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            fetched,
            gate,
        }
    }

    /// Waits until the server has asked for the keys.
    async fn wait_for_fetch(&mut self) {
        tokio::time::timeout(PATIENCE, self.fetched.recv())
            .await
            .expect("the server never fetched the keys")
            .unwrap();
    }

    fn release(&self, fetches: usize) {
        self.gate.add_permits(fetches);
    }
}

/// A server with SMART on, whose one client `slow-keys` keeps its keys at `keys`.
async fn smart_server(keys: &SlowKeys, limits: ServerLimits) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("limits.db").display()
    ))
    .await
    .unwrap();
    let clients = Clients::parse(&format!(
        "[[client]]\nid = \"slow-keys\"\nname = \"Keys served slowly\"\n\
         scopes = [\"system/Claim.c\"]\njwks_url = \"http://{}/jwks.json\"\n",
        keys.addr
    ))
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let smart = Smart::with_clients(clients, &base, store.clone())
        .await
        .unwrap();
    let service = Service::new(PolicySet::embedded(), ServiceSettings::default()).with_store(store);
    let app = pas_adapter::http::app(service, &limits, Security::Smart(Arc::new(smart)));
    (Server::serve(listener, app, limits).await, dir)
}

/// `POST /auth/token` for `slow-keys`, signed with `key`, in its own task.
fn token_request(
    server: &Server,
    key: &auth_common::TestKey,
) -> tokio::task::JoinHandle<reqwest::Response> {
    let url = server.url("/auth/token");
    let assertion = auth_common::Assertion::new("slow-keys", key, &url).sign(&key.encoding);
    let client = server.client.clone();
    tokio::spawn(async move {
        let request = client.post(url).form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", auth_common::JWT_BEARER),
            ("client_assertion", assertion.as_str()),
            ("scope", "system/Claim.c"),
        ]);
        tokio::time::timeout(PATIENCE, request.send())
            .await
            .unwrap()
            .unwrap()
    })
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
    assert_outcome(
        server.submit(padded_sample(sample().len() + 17)).await,
        413,
        "too-long",
        None,
    )
    .await;
    // At the limit exactly: answered.
    let response = server.submit(padded_sample(sample().len() + 16)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(actions(&response.json().await.unwrap()), vec!["A1"]);
}

/// The client sends the head only, declaring a body over the limit, and asks
/// `Expect: 100-continue`: the server answers 413 at once, never asking for the body (the
/// first thing it sends is the 413, not `100 Continue`), and closes the connection.
#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_before_any_of_the_body_is_sent() {
    let limit = sample().len();
    let settings = ServiceSettings {
        limits: Limits {
            max_body_bytes: limit,
            ..Limits::default()
        },
        ..ServiceSettings::default()
    };
    let server = Server::start(settings, ServerLimits::default()).await;
    for expect_continue in [true, false] {
        let request = RawRequest::head(
            server.addr,
            "/Claim/$submit",
            Framing::Length(limit + 1),
            expect_continue,
        )
        .await;
        let answer = request.answer().await;
        answer.assert_outcome(413, "too-long");
        assert_eq!(answer.header("connection"), Some("close"));
        assert_eq!(
            answer.body["issue"][0]["diagnostics"],
            format!(
                "request body is `{}` bytes; the limit is `{limit}` bytes",
                limit + 1
            )
        );
    }
    server.assert_serving().await;
}

/// A chunked body declares no size: it is read until it passes the limit, and cut off there.
#[tokio::test]
async fn a_chunked_body_growing_past_the_limit_is_cut_off_with_413() {
    let limit = sample().len();
    let settings = ServiceSettings {
        limits: Limits {
            max_body_bytes: limit,
            ..Limits::default()
        },
        ..ServiceSettings::default()
    };
    let server = Server::start(settings, ServerLimits::default()).await;
    let mut request = RawRequest::head(server.addr, "/Claim/$submit", Framing::Chunked, true).await;
    request.continued().await;
    let body = padded_sample(limit + 1);
    let (first, second) = body.split_at(limit);
    for chunk in [first, second] {
        request
            .send(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await;
        request.send(chunk).await;
        request.send(b"\r\n").await;
    }
    let answer = request.answer().await;
    answer.assert_outcome(413, "too-long");
    assert_eq!(
        answer.body["issue"][0]["diagnostics"],
        format!("request body is over the limit of `{limit}` bytes")
    );
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

/// Regression (issue 11, "slow bodies starve everyone"): more clients than the in-flight
/// cap, each trickling a declared 1,000-byte body a byte at a time, held every slot until the
/// request timeout, and a valid `$submit` got 503. Bodies are now read before a request takes
/// a slot, under their own timeout.
///
/// Each slow client waits for the server's `100 Continue` before its first byte, so the valid
/// request is sent only once every slow one is in the server reading its body (the old server
/// read the body in the handler, so past the cap the slow ones got a 503 instead).
#[tokio::test]
async fn slow_bodies_do_not_starve_valid_requests() {
    const SLOW: usize = 6;
    let limits = ServerLimits {
        max_in_flight: 4,
        // A liveness bound for the test, long enough for the valid request on a busy machine.
        body_read_timeout: Duration::from_secs(3),
        ..ServerLimits::default()
    };
    let server = Server::start(ServiceSettings::default(), limits).await;
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        let mut request =
            RawRequest::head(server.addr, "/Claim/$submit", Framing::Length(1000), true).await;
        request.continued().await;
        request.send(b"{").await;
        slow.push(tokio::spawn(request.trickle()));
    }

    let response = server.submit(sample()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(actions(&response.json().await.unwrap()), vec!["A1"]);
    assert_eq!(server.get("/metadata").await.status(), 200);

    for request in slow {
        let answer = request.await.unwrap();
        answer.assert_outcome(408, "timeout");
        assert_eq!(answer.header("connection"), Some("close"));
    }
    server.assert_serving().await;
}

/// The byte budget, exactly: with a budget of three samples and a body limit of two, a body
/// held at the limit leaves room for one sample and not a byte more. Bodies that do not fit
/// are refused at once with 503 `transient` and `Retry-After`, without being read (the
/// server asks for none of them: no `100 Continue`); once the held body is answered the whole
/// budget is free again.
#[tokio::test]
async fn body_bytes_over_the_budget_are_503_transient_until_given_back() {
    let one = sample().len();
    let settings = ServiceSettings {
        limits: Limits {
            max_body_bytes: 2 * one,
            ..Limits::default()
        },
        ..ServiceSettings::default()
    };
    let limits = ServerLimits {
        max_body_bytes_in_flight: 3 * one,
        retry_after: Duration::from_secs(2),
        ..ServerLimits::default()
    };
    let server = Server::start(settings, limits).await;

    for round in 0..2 {
        // Holds two thirds of the budget while its body is read.
        let mut held = RawRequest::head(
            server.addr,
            "/Claim/$submit",
            Framing::Length(2 * one),
            true,
        )
        .await;
        held.continued().await;

        // Concurrent bodies beyond what is left: a byte too many, and a chunked body (counted
        // at the limit while it is read).
        let mut refused = Vec::new();
        for framing in [
            Framing::Length(one + 1),
            Framing::Length(one + 1),
            Framing::Length(2 * one),
            Framing::Chunked,
        ] {
            let request = RawRequest::head(server.addr, "/Claim/$submit", framing, true).await;
            refused.push(tokio::spawn(request.answer()));
        }
        for request in refused {
            let answer = request.await.unwrap();
            answer.assert_outcome(503, "transient");
            assert_eq!(answer.header("retry-after"), Some("2"));
        }
        // One that fits exactly is answered.
        let response = server.submit(sample()).await;
        assert_eq!(response.status(), 200, "round {round}");
        assert_eq!(actions(&response.json().await.unwrap()), vec!["A1"]);

        held.send(&padded_sample(2 * one)).await;
        let answer = held.answer().await;
        assert_eq!(answer.status, 200, "{answer:#?}");
        assert_eq!(actions(&answer.body), vec!["A1"]);
        // Next round: the same exact fit, so nothing of the budget was kept by any of them.
    }
}

/// The in-flight cap, with a request really held in its handler: a token request whose
/// client's keys are at a `jwks_url` served by this test, which answers only when the test
/// says. A body no longer holds a slot while it is read, and no production route waits on
/// the client otherwise; the key fetch is a dependency the token endpoint really waits on.
/// (The server gives a key fetch 5 s: the probes below take milliseconds.)
#[tokio::test]
async fn requests_over_the_in_flight_cap_are_503_transient_with_retry_after() {
    let key = auth_common::ec_key("slow-1");
    let mut keys = SlowKeys::start(&key).await;
    let limits = ServerLimits {
        max_in_flight: 1,
        retry_after: Duration::from_secs(3),
        ..ServerLimits::default()
    };
    let (mut server, _dir) = smart_server(&keys, limits).await;
    let held = token_request(&server, &key);
    // The token endpoint is asking for the keys: the request holds the only slot.
    keys.wait_for_fetch().await;

    let headers = assert_outcome(server.get("/metadata").await, 503, "transient", None).await;
    assert_eq!(headers["retry-after"], "3");
    // Refused at once, not queued: another operation is refused too...
    let other = token_request(&server, &key);
    let other = tokio::time::timeout(PATIENCE, other)
        .await
        .unwrap()
        .unwrap();
    assert_outcome(other, 503, "transient", None).await;
    // ...but health still answers (metrics are on the admin listener, outside the cap too).
    assert_eq!(server.get("/healthz").await.status(), 200);

    // The held request is answered in full once the keys come.
    keys.release(1);
    let response = tokio::time::timeout(PATIENCE, held).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let grant: Value = response.json().await.unwrap();
    assert_eq!(grant["scope"], "system/Claim.c");
    server.token = Some(grant["access_token"].as_str().unwrap().to_owned());
    server.assert_serving().await;
}

/// The request timeout bounds the handler's time (the body has its own): a token request
/// whose client's keys never come is answered 503 `timeout` with `Retry-After`.
#[tokio::test]
async fn a_request_over_the_timeout_is_503_with_retry_after() {
    let key = auth_common::ec_key("slow-1");
    let mut keys = SlowKeys::start(&key).await;
    let limits = ServerLimits {
        // Long enough for a whole request on a busy CI machine (the server must keep serving).
        request_timeout: Duration::from_secs(1),
        ..ServerLimits::default()
    };
    let (mut server, _dir) = smart_server(&keys, limits).await;
    let held = token_request(&server, &key);
    keys.wait_for_fetch().await;
    let response = tokio::time::timeout(PATIENCE, held).await.unwrap().unwrap();
    let headers = assert_outcome(response, 503, "timeout", None).await;
    assert_eq!(headers["retry-after"], "1");

    // The server keeps serving: with the keys answering, a token, then a `$submit`.
    keys.release(100);
    let response = tokio::time::timeout(PATIENCE, token_request(&server, &key))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    let grant: Value = response.json().await.unwrap();
    server.token = Some(grant["access_token"].as_str().unwrap().to_owned());
    server.assert_serving().await;
}

/// Authorization comes before the body: a `$submit` without a token, declaring the largest
/// body allowed and asking `Expect: 100-continue`, is answered 401 without the server asking
/// for the body, and it takes none of the byte budget (here exactly one such body).
#[tokio::test]
async fn an_unauthenticated_body_is_refused_401_unread() {
    let key = auth_common::ec_key("slow-1");
    let keys = SlowKeys::start(&key).await;
    let limits = ServerLimits {
        max_body_bytes_in_flight: 0,
        ..ServerLimits::default()
    };
    let (server, _dir) = smart_server(&keys, limits).await;
    let limit = Limits::default().max_body_bytes;
    let mut refused = Vec::new();
    for _ in 0..3 {
        let request =
            RawRequest::head(server.addr, "/Claim/$submit", Framing::Length(limit), true).await;
        refused.push(tokio::spawn(request.answer()));
    }
    for request in refused {
        request.await.unwrap().assert_outcome(401, "login");
    }
}

#[tokio::test]
async fn a_client_slower_than_the_header_read_timeout_is_disconnected() {
    let limits = ServerLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ServerLimits::default()
    };
    let server = Server::start(ServiceSettings::default(), limits).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
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

/// The request in flight when SIGTERM comes is answered in full: its body is still coming
/// (the `100 Continue` proves the server has it) and arrives after the signal.
#[tokio::test]
async fn sigterm_drains_the_request_in_flight_and_exits_0() {
    let mut binary = Binary::start(&[]);
    let body = sample();
    let mut in_flight = RawRequest::head(
        binary.addr,
        "/Claim/$submit",
        Framing::Length(body.len()),
        true,
    )
    .await;
    in_flight.continued().await;
    in_flight.send(&body[..body.len() / 3]).await;

    binary.signal("TERM");
    // The server has taken the signal and stopped accepting before the body is finished.
    binary.wait_for("draining requests in flight");
    in_flight.send(&body[body.len() / 3..]).await;
    let answer = in_flight.answer().await;
    assert_eq!(answer.status, 200, "{answer:#?}");
    assert_eq!(actions(&answer.body), vec!["A1"]);
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
