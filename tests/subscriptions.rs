//! Subscribe, pend, review, notify (issue 8): the real `pas-adapter serve` binary and real
//! rest-hook receivers (axum on 127.0.0.1). A subscription gets its handshake; a pended
//! request decided through the reviewer API is notified with the full response Bundle; a
//! receiver answering 500 gets it once it recovers; a slow receiver delays no one else; a
//! SIGKILL between decision and delivery loses nothing, repeats nothing, and keeps the event
//! number. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};
use support::db::Db;

const TOPIC: &str = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic";
const PROVIDER_NPI: &str = "1992999999";

// ---------------------------------------------------------------------------------------------
// Receivers

#[derive(Default)]
struct Inbox {
    /// Answer 500 while set.
    failing: bool,
    /// Answer only after this long.
    delay: Option<Duration>,
    /// Bundles acknowledged with a 2xx.
    acknowledged: Vec<Value>,
    /// Attempts answered 500.
    refused: usize,
    /// Every POST received, answered or not.
    calls: usize,
    /// `X-Subscriber-Key` of every POST.
    keys: Vec<String>,
}

#[derive(Clone)]
struct Receiver {
    inbox: Arc<Mutex<Inbox>>,
    url: String,
}

async fn hook(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    headers: axum::http::HeaderMap,
    body: String,
) -> StatusCode {
    let delay = {
        let mut inbox = inbox.lock().unwrap();
        inbox.calls += 1;
        let key = headers
            .get("x-subscriber-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        inbox.keys.push(key);
        inbox.delay
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut inbox = inbox.lock().unwrap();
    if inbox.failing {
        inbox.refused += 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    inbox
        .acknowledged
        .push(serde_json::from_str(&body).unwrap_or(Value::Null));
    StatusCode::OK
}

impl Receiver {
    async fn start() -> Self {
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(Arc::clone(&inbox));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { inbox, url }
    }

    fn set_failing(&self, failing: bool) {
        self.inbox.lock().unwrap().failing = failing;
    }

    fn events(&self) -> Vec<Value> {
        self.inbox
            .lock()
            .unwrap()
            .acknowledged
            .iter()
            .filter(|b| parameter(b, "type")["valueCode"] == "event-notification")
            .cloned()
            .collect()
    }

    fn event_numbers(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|b| {
                event_part(b, "event-number")["valueString"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }
}

fn parameter<'v>(bundle: &'v Value, name: &str) -> &'v Value {
    bundle["entry"][0]["resource"]["parameter"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or(&Value::Null)
}

fn event_part<'v>(bundle: &'v Value, name: &str) -> &'v Value {
    parameter(bundle, "notification-event")["part"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or(&Value::Null)
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..300 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

// ---------------------------------------------------------------------------------------------
// The adapter

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(db: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pas-adapter"))
            .args(["serve", "--addr", "127.0.0.1:0", "--db", db])
            .args(["--insecure-no-auth", "--admin-addr", "127.0.0.1:0"])
            .args(["--notify-timeout", "1", "--notify-first-retry", "0.2"])
            .args(["--notify-max-retry", "0.5", "--notify-poll", "0.1"])
            .env("PAS_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => match line.strip_prefix("listening on ") {
                    Some(addr) => break addr.trim().to_owned(),
                    None => seen.push(line),
                },
                _ => panic!("the server exited before listening: {seen:#?}"),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            base: format!("http://{addr}"),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/fhir+json")
                .body(body.to_string());
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// SIGKILL.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn add_reviewer(db: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_pas-adapter"))
        .args(["reviewer", "add", "Dr. Okafor", "--db", db])
        .env("PAS_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned()
}

fn subscription(endpoint: &str, filter: &str) -> Value {
    json!({
        "resourceType": "Subscription",
        "meta": {"profile": ["http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-subscription"]},
        "status": "requested",
        "reason": "Notifications about claim responses for my organization",
        "criteria": TOPIC,
        "_criteria": {"extension": [{
            "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria",
            "valueString": filter}]},
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "_payload": {"extension": [{
                "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content",
                "valueCode": "full-resource"}]},
            "header": ["X-Subscriber-Key: k-123"]
        }
    })
}

/// Sample 15 (pended) under its own identifiers `n`.
fn pended(n: u32) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-bundles/15-ihc2-no-ish-a4.json");
    let mut bundle: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    bundle["identifier"]["value"] = json!(format!("KAD-SUB-{n}"));
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = json!(format!("TRN-SUB-{n}"));
    bundle
}

/// Submits a pended request and denies it through the reviewer API; the decision's response.
async fn pend_and_deny(server: &Server, token: &str, n: u32) -> Value {
    let (status, answer) = server
        .call(
            reqwest::Method::POST,
            "/Claim/$submit",
            Some(&pended(n)),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer:#}");
    let (status, cases) = server
        .call(reqwest::Method::GET, "/review/cases", None, Some(token))
        .await;
    assert_eq!(status, 200, "{cases:#}");
    let case = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["claimIdentifier"]
                .as_str()
                .unwrap()
                .ends_with(&format!("|TRN-SUB-{n}"))
        })
        .unwrap()
        .clone();
    let criterion = case["items"][0]["missing"][0].clone();
    let decision = json!({"version": case["version"], "items": [{"sequence": 1, "action": "A3",
        "reason": format!("No ISH result for request {n}"), "criteria": [criterion]}]});
    let (status, response) = server
        .call(
            reqwest::Method::POST,
            &format!("/review/cases/{}/decision", case["id"].as_str().unwrap()),
            Some(&decision),
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "{response:#}");
    response
}

// ---------------------------------------------------------------------------------------------

async fn subscribe_pend_review_notify(db: &Db) {
    let token = add_reviewer(&db.uri);
    let receiver = Receiver::start().await;
    let slow = Receiver::start().await;
    let server = Server::start(&db.uri);

    // Refused shapes name the element.
    let mut websocket = subscription(&receiver.url, "orgIdentifier=1");
    websocket["channel"]["type"] = json!("websocket");
    let (status, outcome) = server
        .call(
            reqwest::Method::POST,
            "/Subscription",
            Some(&websocket),
            None,
        )
        .await;
    assert_eq!(status, 422, "{outcome:#}");
    assert_eq!(
        outcome["issue"][0]["expression"][0],
        "Subscription.channel.type"
    );

    // Create: handshake, then active.
    let (status, created) = server
        .call(
            reqwest::Method::POST,
            "/Subscription",
            Some(&subscription(
                &receiver.url,
                &format!("orgIdentifier={PROVIDER_NPI}"),
            )),
            None,
        )
        .await;
    assert_eq!(status, 201, "{created:#}");
    assert_eq!(created["status"], "active");
    let id = created["id"].as_str().unwrap().to_owned();
    {
        let inbox = receiver.inbox.lock().unwrap();
        assert_eq!(inbox.acknowledged.len(), 1);
        let handshake = &inbox.acknowledged[0];
        assert_eq!(handshake["type"], "history");
        assert_eq!(parameter(handshake, "type")["valueCode"], "handshake");
        assert_eq!(
            parameter(handshake, "subscription")["valueReference"]["reference"],
            format!("Subscription/{id}")
        );
    }
    // Update: the resource is replaced and handshaken again; the id must match the URL.
    let mut changed = subscription(&receiver.url, &format!("orgIdentifier={PROVIDER_NPI}"));
    changed["id"] = json!(id);
    changed["channel"]["header"] = json!(["X-Subscriber-Key: k-456"]);
    let (status, updated) = server
        .call(
            reqwest::Method::PUT,
            &format!("/Subscription/{id}"),
            Some(&changed),
            None,
        )
        .await;
    assert_eq!(status, 200, "{updated:#}");
    assert_eq!(updated["status"], "active");
    // Header values are never echoed: they often carry the subscriber's credentials.
    assert_eq!(updated["channel"]["header"][0], "X-Subscriber-Key: ***");
    assert_eq!(receiver.inbox.lock().unwrap().acknowledged.len(), 2);
    let (status, _) = server
        .call(
            reqwest::Method::PUT,
            "/Subscription/other-id",
            Some(&changed),
            None,
        )
        .await;
    assert_eq!(status, 400);
    changed["id"] = json!("no-such");
    let (status, _) = server
        .call(
            reqwest::Method::PUT,
            "/Subscription/no-such",
            Some(&changed),
            None,
        )
        .await;
    assert_eq!(status, 404);
    // A subscription whose endpoint does not answer is created in `error`.
    let (status, dead) = server
        .call(
            reqwest::Method::POST,
            "/Subscription",
            Some(&subscription(
                "http://127.0.0.1:9/hook",
                &format!("orgIdentifier={PROVIDER_NPI}"),
            )),
            None,
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(dead["status"], "error", "{dead:#}");

    // A slow subscriber (answers after the 1 s timeout) for the same organization, with the
    // other spelling of the filter; its handshake is answered at once.
    let (status, slow_sub) = server
        .call(
            reqwest::Method::POST,
            "/Subscription",
            Some(&subscription(
                &slow.url,
                &format!("org-identifier=x,{PROVIDER_NPI}"),
            )),
            None,
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(slow_sub["status"], "active");
    slow.inbox.lock().unwrap().delay = Some(Duration::from_secs(3));
    // One for another organization hears nothing.
    let other = Receiver::start().await;
    let (status, _) = server
        .call(
            reqwest::Method::POST,
            "/Subscription",
            Some(&subscription(&other.url, "orgIdentifier=0000000000")),
            None,
        )
        .await;
    assert_eq!(status, 201);
    let (status, search) = server
        .call(
            reqwest::Method::GET,
            "/Subscription?status=active",
            None,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(search["total"], 3);
    let (_, all) = server
        .call(reqwest::Method::GET, "/Subscription", None, None)
        .await;
    assert_eq!(all["total"], 4);
    let (_, metadata) = server
        .call(reqwest::Method::GET, "/metadata", None, None)
        .await;
    assert!(
        metadata["rest"][0]["resource"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["type"] == "Subscription" && r["extension"][0]["valueCanonical"] == TOPIC),
        "{metadata:#}"
    );

    // Pend, review, notify: event 1 carries the reviewer's answer as the second entry.
    let first = pend_and_deny(&server, &token, 1).await;
    eventually("event 1", || receiver.events().len() == 1).await;
    let event = &receiver.events()[0];
    assert_eq!(event["type"], "history");
    assert_eq!(event_part(event, "event-number")["valueString"], "1");
    // The channel's header lines go with every POST (the updated one now).
    assert_eq!(
        receiver.inbox.lock().unwrap().keys.first().unwrap(),
        "k-123"
    );
    assert_eq!(receiver.inbox.lock().unwrap().keys.last().unwrap(), "k-456");
    assert_eq!(
        event_part(event, "focus")["valueReference"]["reference"],
        event["entry"][1]["fullUrl"]
    );
    assert_eq!(event["entry"][1]["resource"], first);
    assert_eq!(
        parameter(event, "events-since-subscription-start")["valueString"],
        "1"
    );
    let (_, inquiry) = server
        .call(
            reqwest::Method::POST,
            "/Claim/$inquire",
            Some(&pended(1)),
            None,
        )
        .await;
    let text =
        inquiry["parameter"][0]["resource"]["entry"][0]["resource"]["processNote"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned();
    assert!(
        text.contains("Reason: No ISH result for request 1."),
        "{text}"
    );

    // A receiver answering 500: retried until it recovers, then delivered once.
    receiver.set_failing(true);
    pend_and_deny(&server, &token, 2).await;
    eventually("failed attempts", || {
        receiver.inbox.lock().unwrap().refused >= 2
    })
    .await;
    let (_, status_bundle) = server
        .call(
            reqwest::Method::GET,
            &format!("/Subscription/{id}/$status"),
            None,
            None,
        )
        .await;
    let parameters = &status_bundle["entry"][0]["resource"];
    assert!(parameters.to_string().contains("500"), "{parameters:#}");
    receiver.set_failing(false);
    eventually("event 2", || receiver.events().len() == 2).await;

    // SIGKILL between the decision and its delivery: delivered after restart, same number.
    receiver.set_failing(true);
    let third = pend_and_deny(&server, &token, 3).await;
    server.kill();
    receiver.set_failing(false);
    let server = Server::start(&db.uri);
    eventually("event 3 after restart", || receiver.events().len() == 3).await;
    assert_eq!(receiver.event_numbers(), ["1", "2", "3"]);
    assert_eq!(receiver.events()[2]["entry"][1]["resource"], third);
    // Nothing more comes: each acknowledged event was sent once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.event_numbers(), ["1", "2", "3"]);
    let (_, status_bundle) = server
        .call(
            reqwest::Method::GET,
            &format!("/Subscription/{id}/$status"),
            None,
            None,
        )
        .await;
    let parameters = &status_bundle["entry"][0]["resource"];
    assert_eq!(
        parameter(
            &json!({"entry": [{"resource": parameters}]}),
            "events-since-subscription-start"
        )["valueString"],
        "3"
    );
    // The slow receiver (handshake, then events it answers too late) never held the fast one
    // up.
    assert!(slow.inbox.lock().unwrap().calls >= 2);
    // The other organization's subscriber got its handshake only.
    assert_eq!(other.inbox.lock().unwrap().acknowledged.len(), 1);
    assert!(other.events().is_empty());

    // Delete: gone.
    let (status, _) = server
        .call(
            reqwest::Method::DELETE,
            &format!("/Subscription/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .call(
            reqwest::Method::GET,
            &format!("/Subscription/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_subscribe_pend_review_notify() {
    subscribe_pend_review_notify(&Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_subscribe_pend_review_notify() {
    if let Some(db) = Db::postgres("pas_subscriptions").await {
        subscribe_pend_review_notify(&db).await;
    }
}
