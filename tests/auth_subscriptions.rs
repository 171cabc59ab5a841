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
