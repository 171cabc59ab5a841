//! `POST /auth/token` from the attacker's side: every way an assertion can be wrong gets the
//! right OAuth error, and only a well-formed, well-signed, fresh one gets a token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth_common;

use auth_common::{ALL_SCOPES, Assertion, JWT_BEARER, SmartServer, keys, now};
use jsonwebtoken::{Algorithm, EncodingKey};
use pas_adapter::auth::{Caller, Clients, Smart};
use serde_json::Value;

fn assert_oauth_error(status: u16, body: &Value, expected_status: u16, error: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
}

#[tokio::test]
async fn valid_rs384_and_es384_assertions_get_a_token_of_at_most_300_seconds() {
    let server = SmartServer::start().await;
    for key in [&keys().a_rsa, &keys().a_ec] {
        let assertion = Assertion::new("gateway-a", key, &server.token_url()).sign(&key.encoding);
        let (status, body) = server
            .token_request(&assertion, "system/Claim.c system/Claim.r")
            .await;
        assert_eq!(status, 200, "{:?}: {body}", key.alg);
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 300);
        assert_eq!(body["scope"], "system/Claim.c system/Claim.r");
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(
            server.smart.verify(token),
            Some(Caller::Client {
                id: "gateway-a".into(),
                scopes: vec!["system/Claim.c".into(), "system/Claim.r".into()],
            })
        );
    }
}

#[tokio::test]
async fn every_bad_assertion_gets_its_oauth_error() {
    let server = SmartServer::start().await;
    let k = keys();
    let scope = "system/Claim.c";
    let good = || Assertion::new("gateway-a", &k.a_ec, &server.token_url());
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "unknown client",
            Assertion::new("intruder", &k.a_ec, &server.token_url()).sign(&k.a_ec.encoding),
            401,
            "invalid_client",
        ),
        (
            "unknown kid",
            Assertion {
                kid: Some("no-such-key".into()),
                ..good()
            }
            .sign(&k.a_ec.encoding),
            401,
            "invalid_client",
        ),
        (
            "no kid",
            Assertion {
                kid: None,
                ..good()
            }
            .sign(&k.a_ec.encoding),
            401,
            "invalid_client",
        ),
        (
            // Signed with gateway B's key under gateway A's key id.
            "wrong signature",
            good().sign(&k.b_ec.encoding),
            401,
            "invalid_client",
        ),
        (
            // An RSA key id with an EC signature: the key cannot verify ES384.
            "algorithm of another key",
            Assertion {
                kid: Some(k.a_rsa.kid.clone()),
                ..good()
            }
            .sign(&k.a_ec.encoding),
            401,
            "invalid_client",
        ),
        ("alg none", good().unsigned(), 401, "invalid_client"),
        (
            // HS256 under the client's public RSA modulus as the secret: the classic
            // algorithm-confusion attack.
            "alg HS256",
            Assertion {
                alg: Algorithm::HS256,
                kid: Some(k.a_rsa.kid.clone()),
                ..good()
            }
            .sign(&EncodingKey::from_secret(k.a_rsa.jwk_n().as_bytes()).unwrap()),
            401,
            "invalid_client",
        ),
        (
            "wrong aud",
            Assertion {
                aud: "https://elsewhere.example/auth/token".into(),
                ..good()
            }
            .sign(&k.a_ec.encoding),
            400,
            "invalid_grant",
        ),
        (
            "sub is not the client",
            Assertion {
                sub: "gateway-b".into(),
                ..good()
            }
            .sign(&k.a_ec.encoding),
            400,
            "invalid_grant",
        ),
        (
            // Past the minute of skew.
            "expired",
            Assertion {
                exp: now() - 120,
                ..good()
            }
            .sign(&k.a_ec.encoding),
            400,
            "invalid_grant",
        ),
        (
            "exp too far ahead",
            Assertion {
                exp: now() + 600,
                ..good()
            }
            .sign(&k.a_ec.encoding),
            400,
            "invalid_grant",
        ),
        (
            "no jti",
            Assertion {
                jti: None,
                ..good()
            }
            .sign(&k.a_ec.encoding),
            400,
            "invalid_grant",
        ),
        ("not a JWT", "garbage".to_owned(), 401, "invalid_client"),
    ];
    for (name, assertion, status, error) in cases {
        let (got, body) = server.token_request(&assertion, scope).await;
        assert_eq!(got, status, "{name}: {body}");
        assert_eq!(body["error"], error, "{name}: {body}");
        assert!(body.get("access_token").is_none(), "{name}");
    }
}

#[tokio::test]
async fn an_assertion_within_the_minute_of_skew_is_accepted() {
    let server = SmartServer::start().await;
    let k = keys();
    let assertion = Assertion {
        exp: now() - 30,
        ..Assertion::new("gateway-a", &k.a_ec, &server.token_url())
    };
    let (status, body) = server
        .token_request(&assertion.sign(&k.a_ec.encoding), "system/Claim.c")
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_replayed_jti_is_refused() {
    let server = SmartServer::start().await;
    let k = keys();
    let assertion =
        Assertion::new("gateway-a", &k.a_rsa, &server.token_url()).sign(&k.a_rsa.encoding);
    let (status, _) = server.token_request(&assertion, "system/Claim.c").await;
    assert_eq!(status, 200);
    let (status, body) = server.token_request(&assertion, "system/Claim.c").await;
    assert_oauth_error(status, &body, 400, "invalid_grant");
    assert!(
        body["error_description"].as_str().unwrap().contains("jti"),
        "{body}"
    );
}

#[tokio::test]
async fn a_scope_the_client_may_not_have_is_refused_not_narrowed() {
    let server = SmartServer::start().await;
    let k = keys();
    for scope in [
        "system/Claim.c",
        "system/Claim.r system/Claim.c",
        "system/*.cruds",
        "",
    ] {
        let assertion =
            Assertion::new("reader", &k.reader_ec, &server.token_url()).sign(&k.reader_ec.encoding);
        let (status, body) = server.token_request(&assertion, scope).await;
        assert_oauth_error(status, &body, 400, "invalid_scope");
    }
    let assertion =
        Assertion::new("reader", &k.reader_ec, &server.token_url()).sign(&k.reader_ec.encoding);
    let (status, body) = server.token_request(&assertion, "system/Claim.r").await;
    assert_eq!(
        (status, body["scope"].as_str()),
        (200, Some("system/Claim.r"))
    );
}

#[tokio::test]
async fn the_grant_type_and_assertion_type_are_checked() {
    let server = SmartServer::start().await;
    let k = keys();
    let assertion =
        Assertion::new("gateway-a", &k.a_ec, &server.token_url()).sign(&k.a_ec.encoding);
    let post = |form: Vec<(&'static str, String)>| {
        let client = server.client.clone();
        let url = server.token_url();
        async move {
            let response = client.post(url).form(&form).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = post(vec![
        ("grant_type", "password".into()),
        ("client_assertion_type", JWT_BEARER.into()),
        ("client_assertion", assertion.clone()),
        ("scope", "system/Claim.c".into()),
    ])
    .await;
    assert_oauth_error(status, &body, 400, "unsupported_grant_type");
    let (status, body) = post(vec![
        ("grant_type", "client_credentials".into()),
        ("client_assertion_type", "urn:other".into()),
        ("client_assertion", assertion),
        ("scope", "system/Claim.c".into()),
    ])
    .await;
    assert_oauth_error(status, &body, 401, "invalid_client");
    // Not a form at all.
    let response = server
        .client
        .post(server.token_url())
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn smart_configuration_names_the_token_endpoint_and_algorithms() {
    let server = SmartServer::start().await;
    let (status, _, config) = server
        .call("GET", "/.well-known/smart-configuration", None, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(config["token_endpoint"], server.token_url());
    assert_eq!(
        config["token_endpoint_auth_signing_alg_values_supported"],
        serde_json::json!(["RS384", "ES384"])
    );
    assert_eq!(
        config["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(
        config["token_endpoint_auth_methods_supported"],
        serde_json::json!(["private_key_jwt"])
    );
    let mut scopes: Vec<&str> = ALL_SCOPES.to_vec();
    scopes.sort();
    assert_eq!(config["scopes_supported"], serde_json::json!(scopes));
}

/// A client whose keys are at `jwks_url` (served here by a local axum server).
#[tokio::test]
async fn keys_are_fetched_from_a_jwks_url() {
    let k = keys();
    let jwks: Value = serde_json::from_str(&auth_common::jwks(&[&k.b_ec])).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let keys_addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let clients = Clients::parse(&format!(
        "[[client]]\nid = \"remote\"\nname = \"Remote keys\"\nscopes = [\"system/Claim.c\"]\n\
         jwks_url = \"http://{keys_addr}/jwks.json\"\n\n\
         [[client]]\nid = \"gone\"\nname = \"Keys unreachable\"\nscopes = [\"system/Claim.c\"]\n\
         jwks_url = \"http://{keys_addr}/missing.json\"\n"
    ))
    .unwrap();
    let server = SmartServer::start_with(clients).await;
    let good = Assertion::new("remote", &k.b_ec, &server.token_url()).sign(&k.b_ec.encoding);
    let (status, body) = server.token_request(&good, "system/Claim.c").await;
    assert_eq!(status, 200, "{body}");
    let gone = Assertion::new("gone", &k.b_ec, &server.token_url()).sign(&k.b_ec.encoding);
    let (status, body) = server.token_request(&gone, "system/Claim.c").await;
    assert_oauth_error(status, &body, 401, "invalid_client");
}

/// The clients file is read again on reload (SIGHUP); a broken file keeps the clients in
/// force, and a client removed from the file loses its tokens.
#[tokio::test]
async fn reloading_the_clients_file_adds_and_removes_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clients.toml");
    let store = pas_adapter::store::Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("s.db").display()
    ))
    .await
    .unwrap();
    let full = auth_common::clients_toml();
    let only_b = full
        .split("\n\n")
        .filter(|block| !block.contains("gateway-a"))
        .collect::<Vec<_>>()
        .join("\n\n");
    std::fs::write(&path, &only_b).unwrap();
    let smart = Smart::load(path.clone(), "http://pas.test", store)
        .await
        .unwrap();
    assert!(smart.clients().get("gateway-a").is_none());
    std::fs::write(&path, &full).unwrap();
    assert_eq!(smart.reload().unwrap(), 3);
    assert!(smart.clients().get("gateway-a").is_some());
    let token = smart
        .issue(
            &Caller::Client {
                id: "gateway-a".into(),
                scopes: vec!["system/Claim.c".into()],
            },
            chrono::Utc::now(),
        )
        .unwrap();
    assert!(smart.verify(&token).is_some());
    std::fs::write(&path, "[[client]]\nid = \"broken\"\n").unwrap();
    assert!(smart.reload().is_err());
    assert_eq!(
        smart.clients().len(),
        3,
        "a broken file keeps the clients in force"
    );
    std::fs::write(&path, &only_b).unwrap();
    assert_eq!(smart.reload().unwrap(), 2);
    assert_eq!(
        smart.verify(&token),
        None,
        "a removed client's token is dead"
    );
}
