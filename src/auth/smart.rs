//! SMART Backend Services: the token endpoint's checks of a client assertion, and the access
//! tokens the adapter issues (HS256 under a key kept in the store, so that every instance on
//! one database accepts every instance's tokens).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Caller;
use super::clients::{Clients, ClientsError, Keys, check_keys};
use crate::store::secrets::{ACCESS_TOKEN_KEY, Secret};
use crate::store::{Store, StoreError};

/// How long an access token is valid (security.md: at most 300 s).
pub const ACCESS_TOKEN_LIFETIME: i64 = 300;
/// How far ahead an assertion's `exp` may be.
const MAX_ASSERTION_LIFETIME: i64 = 300;
/// Clock skew allowed between a client and the adapter.
const SKEW: i64 = 60;
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Assertion algorithms accepted (SMART Backend Services).
const ASSERTION_ALGORITHMS: [Algorithm; 2] = [Algorithm::RS384, Algorithm::ES384];
const KIND_CLIENT: &str = "client";
const KIND_REVIEWER: &str = "reviewer";

/// The token endpoint's form (`application/x-www-form-urlencoded`). `Debug` hides the
/// assertion.
#[derive(Clone, Default, Deserialize)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenForm")
            .field("grant_type", &self.grant_type)
            .field("client_assertion_type", &self.client_assertion_type)
            .field(
                "client_assertion",
                &self.client_assertion.as_ref().map(|_| "***"),
            )
            .field("scope", &self.scope)
            .finish()
    }
}

/// An OAuth error (RFC 6749 section 5.2), answered as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `invalid_scope`,
    /// `unsupported_grant_type`, or `server_error`.
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }

    fn client(description: impl Into<String>) -> Self {
        Self::new("invalid_client", description)
    }

    fn grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    /// 401 for a client that could not be authenticated, 500 for our fault, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self.error {
            "invalid_client" => 401,
            "server_error" => 500,
            _ => 400,
        }
    }

    pub fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

/// A token the endpoint issued. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub client_id: String,
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("client_id", &self.client_id)
            .field("access_token", &"***")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

impl TokenGrant {
    pub fn body(&self) -> Value {
        json!({
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        })
    }
}

/// A refused token request: the error, and the client id the assertion claimed (unverified,
/// for the audit trail) when it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRejection {
    pub claimed_client: Option<String>,
    pub error: OAuthError,
}

/// The claims of the access tokens the adapter issues.
#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    aud: String,
    sub: String,
    exp: i64,
    iat: i64,
    jti: String,
    scope: String,
    kind: String,
}

/// The claims of a client assertion that the library does not check itself.
#[derive(Deserialize)]
struct AssertionClaims {
    exp: i64,
    jti: Option<String>,
}

/// The SMART authority of one server: its clients, its public URL and its token key.
pub struct Smart {
    clients: RwLock<Arc<Clients>>,
    clients_path: Option<PathBuf>,
    public_url: String,
    store: Store,
    encoding: EncodingKey,
    decoding: DecodingKey,
    http: reqwest::Client,
}

impl std::fmt::Debug for Smart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smart")
            .field("public_url", &self.public_url)
            .field("clients_path", &self.clients_path)
            .finish_non_exhaustive()
    }
}

impl Smart {
    /// Loads the clients file and the token key (made at first start) from `store`.
    pub async fn load(
        clients_path: PathBuf,
        public_url: &str,
        store: Store,
    ) -> Result<Self, anyhow::Error> {
        let clients = Clients::load(&clients_path)?;
        let mut smart = Self::with_clients(clients, public_url, store).await?;
        smart.clients_path = Some(clients_path);
        Ok(smart)
    }

    /// An authority over `clients` given in code (tests, embedding); [`Smart::reload`] then
    /// has no file to read.
    pub async fn with_clients(
        clients: Clients,
        public_url: &str,
        store: Store,
    ) -> Result<Self, StoreError> {
        let key: Secret = store.secret(ACCESS_TOKEN_KEY).await?;
        let bad_key = |e: jsonwebtoken::errors::Error| StoreError::Corrupt {
            id: "server secret `access-token-key`".to_owned(),
            message: e.to_string(),
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Ok(Self {
            clients: RwLock::new(Arc::new(clients)),
            clients_path: None,
            public_url: public_url.trim_end_matches('/').to_owned(),
            store,
            encoding: EncodingKey::from_secret(key.bytes()).map_err(bad_key)?,
            decoding: DecodingKey::from_secret(key.bytes()).map_err(bad_key)?,
            http,
        })
    }

    /// Reads the clients file again (SIGHUP). On error the clients in force stay.
    pub fn reload(&self) -> Result<usize, ClientsError> {
        let Some(path) = &self.clients_path else {
            return Ok(self.clients().len());
        };
        let clients = Clients::load(path)?;
        let count = clients.len();
        if let Ok(mut current) = self.clients.write() {
            *current = Arc::new(clients);
        }
        Ok(count)
    }

    pub fn clients(&self) -> Arc<Clients> {
        match self.clients.read() {
            Ok(clients) => Arc::clone(&clients),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// `{public-url}/auth/token`: the only `aud` an assertion may carry.
    pub fn token_url(&self) -> String {
        format!("{}/auth/token", self.public_url)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `/.well-known/smart-configuration`.
    pub fn configuration(&self) -> Value {
        json!({
            "issuer": self.public_url,
            "token_endpoint": self.token_url(),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            "scopes_supported": self.clients().all_scopes(),
            "capabilities": ["client-confidential-asymmetric"],
        })
    }

    /// `POST /auth/token`: checks the client assertion and issues an access token.
    pub async fn exchange(&self, form: &TokenForm) -> Result<TokenGrant, TokenRejection> {
        let mut claimed = None;
        let result = self.exchange_inner(form, &mut claimed).await;
        result.map_err(|error| TokenRejection {
            claimed_client: claimed,
            error,
        })
    }

    async fn exchange_inner(
        &self,
        form: &TokenForm,
        claimed: &mut Option<String>,
    ) -> Result<TokenGrant, OAuthError> {
        match form.grant_type.as_deref() {
            Some("client_credentials") => {}
            Some(_) => {
                return Err(OAuthError::new(
                    "unsupported_grant_type",
                    "only `client_credentials` is supported",
                ));
            }
            None => {
                return Err(OAuthError::new(
                    "invalid_request",
                    "`grant_type` is missing",
                ));
            }
        }
        if form.client_assertion_type.as_deref() != Some(JWT_BEARER) {
            return Err(OAuthError::client(format!(
                "`client_assertion_type` must be `{JWT_BEARER}`"
            )));
        }
        let assertion = form
            .client_assertion
            .as_deref()
            .ok_or_else(|| OAuthError::client("`client_assertion` is missing"))?;
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| {
            OAuthError::client("the assertion is not a JWT signed with RS384 or ES384")
        })?;
        if !ASSERTION_ALGORITHMS.contains(&header.alg) {
            return Err(OAuthError::client(
                "the assertion must be signed with RS384 or ES384",
            ));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| OAuthError::client("the assertion header has no `kid`"))?;
        // Only to find whose keys to check the signature with; nothing else is trusted yet.
        let unverified: Value = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
            .map_err(|_| OAuthError::client("the assertion's claims are not JSON"))?;
        let issuer = unverified
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| OAuthError::client("the assertion has no `iss`"))?;
        let clients = self.clients();
        let client = clients
            .get(issuer)
            .ok_or_else(|| OAuthError::client("unknown client"))?;
        *claimed = Some(client.id.clone());
        let keys = self.keys(&client.keys).await?;
        let jwk = keys.find(kid).ok_or_else(|| {
            OAuthError::client(format!("no key `{kid}` registered for the client"))
        })?;
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|_| OAuthError::client(format!("key `{kid}` cannot verify signatures")))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = SKEW as u64;
        validation.set_audience(&[self.token_url()]);
        validation.set_issuer(&[client.id.as_str()]);
        validation.sub = Some(client.id.clone());
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        let claims: AssertionClaims = jsonwebtoken::decode(assertion, &key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => OAuthError::grant("the assertion has expired"),
                ErrorKind::InvalidAudience => OAuthError::grant(format!(
                    "the assertion's `aud` must be `{}`",
                    self.token_url()
                )),
                ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => {
                    OAuthError::grant("the assertion's `iss` and `sub` must both be the client id")
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    OAuthError::grant(format!("the assertion has no `{claim}`"))
                }
                ErrorKind::ImmatureSignature => OAuthError::grant("the assertion is not valid yet"),
                ErrorKind::InvalidClaimFormat(_) | ErrorKind::Json(_) => {
                    OAuthError::grant("the assertion's claims are malformed")
                }
                _ => OAuthError::client("the assertion's signature does not verify"),
            })?
            .claims;
        let now = Utc::now().timestamp();
        if claims.exp > now + MAX_ASSERTION_LIFETIME + SKEW {
            return Err(OAuthError::grant(
                "the assertion's `exp` is more than 5 minutes ahead",
            ));
        }
        let jti = claims
            .jti
            .filter(|j| !j.is_empty())
            .ok_or_else(|| OAuthError::grant("the assertion has no `jti`"))?;
        let requested: Vec<String> = form
            .scope
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if requested.is_empty() {
            return Err(OAuthError::new("invalid_scope", "no scope requested"));
        }
        if let Some(refused) = requested.iter().find(|s| !client.scopes.contains(s)) {
            return Err(OAuthError::new(
                "invalid_scope",
                format!("the client may not be granted `{refused}`"),
            ));
        }
        let expires = DateTime::from_timestamp(claims.exp + SKEW, 0).unwrap_or_else(Utc::now);
        let fresh = self
            .store
            .claim_jti(&client.id, &jti, expires, Utc::now())
            .await
            .map_err(|error| {
                tracing::error!(%error, "cannot record an assertion id");
                OAuthError::new("server_error", "the token could not be issued")
            })?;
        if !fresh {
            return Err(OAuthError::grant("the assertion's `jti` was used before"));
        }
        let scope = requested.join(" ");
        let caller = Caller::Client {
            id: client.id.clone(),
            scopes: requested,
        };
        let access_token = self
            .issue(&caller, Utc::now())
            .map_err(|_| OAuthError::new("server_error", "the token could not be issued"))?;
        Ok(TokenGrant {
            client_id: client.id.clone(),
            access_token,
            expires_in: ACCESS_TOKEN_LIFETIME,
            scope,
        })
    }

    /// A client's keys: inline, or fetched from its `jwks_url`.
    async fn keys(&self, keys: &Keys) -> Result<JwkSet, OAuthError> {
        match keys {
            Keys::Inline(set) => Ok(set.clone()),
            Keys::Url(url) => {
                let fetched = async {
                    let set: JwkSet = self
                        .http
                        .get(url)
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    Ok::<_, reqwest::Error>(set)
                }
                .await;
                match fetched {
                    Ok(set) => {
                        check_keys(&set).map_err(OAuthError::client)?;
                        Ok(set)
                    }
                    Err(error) => {
                        tracing::warn!(%url, error = %error.without_url(), "cannot fetch a client's JWKS");
                        Err(OAuthError::client("the client's keys cannot be fetched"))
                    }
                }
            }
        }
    }

    /// An access token for `caller`, valid [`ACCESS_TOKEN_LIFETIME`] seconds from `issued_at`.
    pub fn issue(
        &self,
        caller: &Caller,
        issued_at: DateTime<Utc>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let (kind, scope) = match caller {
            Caller::Client { scopes, .. } => (KIND_CLIENT, scopes.join(" ")),
            Caller::Reviewer { .. } => (KIND_REVIEWER, String::new()),
        };
        let iat = issued_at.timestamp();
        let claims = AccessClaims {
            iss: self.public_url.clone(),
            aud: self.public_url.clone(),
            sub: caller.id().to_owned(),
            exp: iat + ACCESS_TOKEN_LIFETIME,
            iat,
            jti: uuid::Uuid::new_v4().to_string(),
            scope,
            kind: kind.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// A reviewer's access token (for the review issue's login).
    pub fn issue_reviewer(&self, reviewer: &str) -> Result<String, jsonwebtoken::errors::Error> {
        self.issue(
            &Caller::Reviewer {
                id: reviewer.to_owned(),
            },
            Utc::now(),
        )
    }

    /// The caller an access token names, if the token is ours, unexpired, and its client is
    /// still registered (a client removed from the file loses its tokens at the reload).
    pub fn verify(&self, token: &str) -> Option<Caller> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_audience(&[self.public_url.as_str()]);
        validation.set_issuer(&[self.public_url.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation)
            .ok()?
            .claims;
        match claims.kind.as_str() {
            KIND_CLIENT => {
                self.clients().get(&claims.sub)?;
                Some(Caller::Client {
                    id: claims.sub,
                    scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
                })
            }
            KIND_REVIEWER => Some(Caller::Reviewer { id: claims.sub }),
            _ => None,
        }
    }
}
