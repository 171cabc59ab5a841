//! The SMART side of the auth tests: keys generated per run (no private key is committed),
//! client assertions signed with them, and an in-process server on a loopback port with a
//! real store and a clients file naming those keys.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pas_adapter::auth::{Caller, Clients, Smart};
use pas_adapter::http::{Security, ServerLimits};
use pas_adapter::policy::PolicySet;
use pas_adapter::service::{Service, ServiceSettings};
use pas_adapter::store::Store;
use serde_json::{Value, json};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const ALL_SCOPES: &[&str] = &[
    "system/Claim.c",
    "system/Claim.r",
    "system/ClaimResponse.r",
    "system/Questionnaire.r",
    "system/Subscription.cruds",
];

/// A signing key and its public JWK (with `kid` and `alg`).
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Jwk,
}

fn with_kid(mut jwk: Jwk, kid: &str) -> Jwk {
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

fn rsa_key(kid: &str) -> TestKey {
    use rsa::Generate;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let private = rsa::PrivateKey::generate();
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let jwk = with_kid(
        Jwk::from_encoding_key(&encoding, Algorithm::RS384).unwrap(),
        kid,
    );
    TestKey {
        kid: kid.to_owned(),
        alg: Algorithm::RS384,
        encoding,
        jwk,
    }
}

pub fn ec_key(kid: &str) -> TestKey {
    use p384::elliptic_curve::Generate;
    use p384::pkcs8::{EncodePrivateKey, LineEnding};
    let private = p384::SecretKey::generate();
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
    let jwk = with_kid(
        Jwk::from_encoding_key(&encoding, Algorithm::ES384).unwrap(),
        kid,
    );
    TestKey {
        kid: kid.to_owned(),
        alg: Algorithm::ES384,
        encoding,
        jwk,
    }
}

/// The keys of a run: client A has an RSA and an EC key, client B and the reader an EC key
/// each. RSA generation is slow in a debug build, so it happens once per test binary.
pub struct Keys {
    pub a_rsa: TestKey,
    pub a_ec: TestKey,
    pub b_ec: TestKey,
    pub reader_ec: TestKey,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        a_rsa: rsa_key("a-rsa-1"),
        a_ec: ec_key("a-ec-1"),
        b_ec: ec_key("b-ec-1"),
        reader_ec: ec_key("reader-ec-1"),
    })
}

pub fn jwks(keys: &[&TestKey]) -> String {
    serde_json::to_string(&JwkSet {
        keys: keys.iter().map(|k| k.jwk.clone()).collect(),
    })
    .unwrap()
}

fn quoted(list: &[&str]) -> String {
    list.iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The clients file of the tests: `gateway-a`, `gateway-b` (every scope), `reader` (inquiry
/// only).
pub fn clients_toml() -> String {
    let k = keys();
    format!(
        "[[client]]\nid = \"gateway-a\"\nname = \"Gateway A\"\norganizations = [\"1234567893\"]\n\
         scopes = [{all}]\njwks = '{a}'\n\n\
         [[client]]\nid = \"gateway-b\"\nname = \"Gateway B\"\norganizations = [\"1999999984\"]\n\
         scopes = [{all}]\njwks = '{b}'\n\n\
         [[client]]\nid = \"reader\"\nname = \"Inquiry only\"\nscopes = [\"system/Claim.r\"]\n\
         jwks = '{r}'\n",
        all = quoted(ALL_SCOPES),
        a = jwks(&[&k.a_rsa, &k.a_ec]),
        b = jwks(&[&k.b_ec]),
        r = jwks(&[&k.reader_ec]),
    )
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A client assertion, valid unless a test changes a field.
#[derive(Debug, Clone)]
pub struct Assertion {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub jti: Option<String>,
    pub kid: Option<String>,
    pub alg: Algorithm,
}

impl Assertion {
    pub fn new(client: &str, key: &TestKey, aud: &str) -> Self {
        Self {
            iss: client.to_owned(),
            sub: client.to_owned(),
            aud: aud.to_owned(),
            exp: now() + 240,
            jti: Some(uuid::Uuid::new_v4().to_string()),
            kid: Some(key.kid.clone()),
            alg: key.alg,
        }
    }

    fn claims(&self) -> Value {
        let mut claims =
            json!({"iss": self.iss, "sub": self.sub, "aud": self.aud, "exp": self.exp});
        if let Some(jti) = &self.jti {
            claims["jti"] = json!(jti);
        }
        claims
    }

    pub fn sign(&self, key: &EncodingKey) -> String {
        let mut header = Header::new(self.alg);
        header.kid = self.kid.clone();
        jsonwebtoken::encode(&header, &self.claims(), key).unwrap()
    }

    /// The same claims under `{"alg": "none"}` and an empty signature.
    pub fn unsigned(&self) -> String {
        let header = json!({"alg": "none", "typ": "JWT", "kid": self.kid});
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(self.claims().to_string())
        )
    }
}

/// A server with SMART on a loopback port, its store in a temporary folder.
pub struct SmartServer {
    pub base: String,
    pub smart: Arc<Smart>,
    pub store: Store,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl SmartServer {
    pub async fn start() -> Self {
        Self::start_with(Clients::parse(&clients_toml()).unwrap()).await
    }

    pub async fn start_with(clients: Clients) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!(
            "sqlite://{}",
            dir.path().join("auth.db").display()
        ))
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let smart = Arc::new(
            Smart::with_clients(clients, &base, store.clone())
                .await
                .unwrap(),
        );
        let service = Service::new(PolicySet::embedded(), ServiceSettings::default())
            .with_store(store.clone());
        let app = pas_adapter::http::app(
            service,
            &ServerLimits::default(),
            Security::Smart(Arc::clone(&smart)),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(pas_adapter::http::launch(listener, app, async {
            let _ = stopped.await;
        }));
        Self {
            base,
            smart,
            store,
            client: reqwest::Client::new(),
            stop: Some(stop),
            _dir: dir,
        }
    }

    pub fn token_url(&self) -> String {
        format!("{}/auth/token", self.base)
    }

    /// `POST /auth/token` with this assertion and scope: status and JSON body.
    pub async fn token_request(&self, assertion: &str, scope: &str) -> (u16, Value) {
        let response = self
            .client
            .post(self.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// A token for `client` signed with `key`, for `scope`, through the token endpoint.
    pub async fn token(&self, client: &str, key: &TestKey, scope: &str) -> String {
        let assertion = Assertion::new(client, key, &self.token_url()).sign(&key.encoding);
        let (status, body) = self.token_request(&assertion, scope).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn token_a(&self) -> String {
        self.token("gateway-a", &keys().a_ec, &ALL_SCOPES.join(" "))
            .await
    }

    pub async fn token_b(&self) -> String {
        self.token("gateway-b", &keys().b_ec, &ALL_SCOPES.join(" "))
            .await
    }

    /// A reviewer token, as the review issue's login will issue them.
    pub fn reviewer_token(&self) -> String {
        self.smart.issue_reviewer("compliance-1").unwrap()
    }

    /// An access token for `caller` issued `seconds_ago` (expired past 300).
    pub fn issued_ago(&self, caller: &Caller, seconds_ago: i64) -> String {
        self.smart
            .issue(
                caller,
                chrono::Utc::now() - chrono::Duration::seconds(seconds_ago),
            )
            .unwrap()
    }

    /// A request to `path` with an optional bearer token and a FHIR JSON body (POST) or none
    /// (GET): status, headers and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "POST" => self.client.post(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.get(url),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/fhir+json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, json)
    }
}

impl Drop for SmartServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn sample_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-bundles/04-mbc-fda-a1.json")
}

/// Sample 04: one J9354 item certified (A1); Claim identifier `TRN-2026-0004`.
pub fn sample() -> Value {
    serde_json::from_str(&std::fs::read_to_string(sample_path()).unwrap()).unwrap()
}

/// An inquiry Bundle from the sample: its Claim identifier, and `number` as `preAuthRef`.
pub fn inquiry(number: Option<&str>) -> Value {
    let mut bundle = sample();
    bundle["identifier"]["value"] = json!("inquiry-1");
    if let Some(number) = number {
        bundle["entry"][0]["resource"]["insurance"][0]["preAuthRef"] = json!([number]);
    }
    bundle
}

/// The authorization number of the first item of a response Bundle.
pub fn first_number(response: &Value) -> String {
    let numbers = pas_adapter::http::authorization_numbers(response);
    numbers
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no number in {response:#}"))
}

/// The inquiry response Bundles of a `$inquire` answer.
pub fn returned(answer: &Value) -> Vec<Value> {
    answer["parameter"]
        .as_array()
        .map(|p| p.iter().map(|p| p["resource"].clone()).collect())
        .unwrap_or_default()
}

impl TestKey {
    /// The RSA modulus of the public JWK (empty for EC keys).
    pub fn jwk_n(&self) -> String {
        match &self.jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) => rsa.n.clone(),
            _ => String::new(),
        }
    }
}
