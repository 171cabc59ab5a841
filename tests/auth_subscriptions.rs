//! Subscriptions are per client (security.md section 2), tried from the attacker's side: a
//! client cannot subscribe on an organization identifier its clients-file entry does not list,
//! and another client's subscription is "not found" to it, for read, `$status`, delete and
//! search alike.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth_common;

use auth_common::SmartServer;
use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};

const TOPIC: &str = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic";
/// Gateway A's organization (its NPI in the test clients file); B acts for another.
const ORG_A: &str = "1234567893";

/// A receiver that acknowledges everything (handshakes here).
async fn receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/hook", post(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

fn subscription(endpoint: &str, organization: &str) -> Value {
    json!({
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "claim responses for my organization",
        "criteria": TOPIC,
        "_criteria": {"extension": [{
            "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria",
            "valueString": format!("org-identifier={organization}")}]},
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "_payload": {"extension": [{
                "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content",
                "valueCode": "full-resource"}]}
        }
    })
}

fn issue_code(outcome: &Value) -> &str {
    outcome["issue"][0]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_client_sees_and_changes_only_its_own_subscriptions() {
    let server = SmartServer::start().await;
    let endpoint = receiver().await;
    let (a, b) = (server.token_a().await, server.token_b().await);

    // No token: 401, nothing created.
    let (status, _, _) = server
        .call(
            "POST",
            "/Subscription",
            None,
            Some(&subscription(&endpoint, ORG_A)),
        )
        .await;
    assert_eq!(status, 401);

    // A subscribes on its own organization.
    let (status, _, created) = server
        .call(
            "POST",
            "/Subscription",
            Some(&a),
            Some(&subscription(&endpoint, ORG_A)),
        )
        .await;
    assert_eq!(status, 201, "{created:#}");
    assert_eq!(created["status"], "active");
    let id = created["id"].as_str().unwrap().to_owned();

    // B may not subscribe on A's organization.
    let (status, _, refused) = server
        .call(
            "POST",
            "/Subscription",
            Some(&b),
            Some(&subscription(&endpoint, ORG_A)),
        )
        .await;
    assert_eq!(status, 403, "{refused:#}");
    assert_eq!(issue_code(&refused), "forbidden");
    assert_eq!(
        refused["issue"][0]["expression"][0],
        "Subscription._criteria"
    );

    // A's subscription does not exist for B: read, $status and delete are 404, search is empty.
    for (method, path) in [
        ("GET", format!("/Subscription/{id}")),
        ("GET", format!("/Subscription/{id}/$status")),
        ("DELETE", format!("/Subscription/{id}")),
    ] {
        let (status, _, outcome) = server.call(method, &path, Some(&b), None).await;
        assert_eq!(status, 404, "{method} {path}: {outcome:#}");
    }
    let (status, _, found) = server
        .call("GET", "/Subscription?status=active", Some(&b), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(found["total"], 0, "{found:#}");

    // A still has it, sees it in its search, and deletes it.
    let (status, _, found) = server
        .call("GET", "/Subscription?status=active", Some(&a), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(found["total"], 1, "{found:#}");
    assert_eq!(found["entry"][0]["resource"]["id"], id.as_str());
    let (status, _, _) = server
        .call("DELETE", &format!("/Subscription/{id}"), Some(&a), None)
        .await;
    assert_eq!(status, 204);
}

/// The organization sample 15's Claim names as `provider` (its NPI).
const PROVIDER: &str = "1992999999";

/// Sample 15 (pended: IHC 2+ without ISH), sent for [`PROVIDER`].
fn pended() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-bundles/15-ihc2-no-ish-a4.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn a_subscription_hears_only_of_its_own_clients_requests() {
    // Both gateways act for the same organization (say the provider's own system and its
    // clearinghouse), so both may subscribe on it; neither may hear of the other's requests.
    let clients = auth_common::clients_toml()
        .replace(
            &format!("organizations = [\"{ORG_A}\"]"),
            &format!("organizations = [\"{PROVIDER}\"]"),
        )
        .replace(
            "organizations = [\"1999999984\"]",
            &format!("organizations = [\"{PROVIDER}\"]"),
        );
    let server =
        SmartServer::start_with(pas_adapter::auth::Clients::parse(&clients).unwrap()).await;
    let endpoint = receiver().await;
    let (a, b) = (server.token_a().await, server.token_b().await);
    let mut ids = Vec::new();
    for token in [&a, &b] {
        let (status, _, created) = server
            .call(
                "POST",
                "/Subscription",
                Some(token),
                Some(&subscription(&endpoint, PROVIDER)),
            )
            .await;
        assert_eq!(status, 201, "{created:#}");
        ids.push(created["id"].as_str().unwrap().to_owned());
    }

    // A's request pends; a reviewer denies it, which changes a pended answer: an event.
    let (status, _, answer) = server
        .call("POST", "/Claim/$submit", Some(&a), Some(&pended()))
        .await;
    assert_eq!(status, 200, "{answer:#}");
    let (_, reviewer) = server.store.add_reviewer("Dr. Osei").await.unwrap();
    let (status, _, cases) = server
        .call("GET", "/review/cases", Some(&reviewer), None)
        .await;
    assert_eq!(status, 200, "{cases:#}");
    let case = &cases["cases"][0];
    let criterion = case["items"][0]["missing"][0].clone();
    let decision = json!({"items": [{"sequence": 1, "action": "A3",
        "reason": "no ISH result after two requests", "criteria": [criterion]}]});
    let (status, _, decided) = server
        .call(
            "POST",
            &format!("/review/cases/{}/decision", case["id"].as_str().unwrap()),
            Some(&reviewer),
            Some(&decision),
        )
        .await;
    assert_eq!(status, 200, "{decided:#}");

    // The event went to A's subscription only.
    let events = |id: String| {
        let store = server.store.clone();
        async move { store.subscription(&id).await.unwrap().unwrap().events }
    };
    assert_eq!(
        events(ids[0].clone()).await,
        1,
        "A hears of its own request"
    );
    assert_eq!(
        events(ids[1].clone()).await,
        0,
        "B never hears of A's request"
    );
}
