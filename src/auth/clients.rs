//! The clients file (security.md section 1): every system allowed to call the adapter, the
//! organizations it acts for, the scopes it may be granted and its public keys.
//!
//! ```toml
//! [[client]]
//! id = "gateway-a"
//! name = "Plan gateway A"
//! organizations = ["1234567893"]
//! scopes = ["system/Claim.c", "system/Claim.r"]
//! jwks = '{"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS384", "n": "...", "e": "AQAB"}]}'
//! # or: jwks_url = "http://keys.internal/gateway-a.json"
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;

use super::scopes::Scope;

/// Why a clients file cannot be used. The server refuses to start with it, and a reload
/// keeps the previous clients.
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    #[error("cannot read the clients file `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the clients file `{path}` is not valid: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    client: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    name: String,
    #[serde(default)]
    organizations: Vec<String>,
    scopes: Vec<String>,
    jwks: Option<String>,
    jwks_url: Option<String>,
}

/// Where a client's public keys are.
#[derive(Debug, Clone, PartialEq)]
pub enum Keys {
    Inline(JwkSet),
    /// Fetched when an assertion arrives (so a client can rotate its keys).
    Url(String),
}

/// One registered client.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// Identifier values of the organizations it acts for (bounds its Subscriptions).
    pub organizations: Vec<String>,
    /// The scopes it may be granted.
    pub scopes: Vec<String>,
    pub keys: Keys,
}

/// Every registered client, by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Clients {
    by_id: BTreeMap<String, Client>,
}

impl Clients {
    /// Reads and checks the clients file at `path`.
    pub fn load(path: &Path) -> Result<Self, ClientsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ClientsError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ClientsError::Invalid {
            path: shown,
            message,
        })
    }

    /// Parses clients file text; the error says which client and what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut by_id = BTreeMap::new();
        for entry in file.client {
            let id = entry.id.trim().to_owned();
            if id.is_empty() {
                return Err("a client has an empty `id`".to_owned());
            }
            let context = |message: String| format!("client `{id}`: {message}");
            let keys = match (entry.jwks, entry.jwks_url) {
                (Some(jwks), None) => {
                    let set: JwkSet = serde_json::from_str(&jwks)
                        .map_err(|e| context(format!("`jwks` is not a JWK Set: {e}")))?;
                    check_keys(&set).map_err(context)?;
                    Keys::Inline(set)
                }
                (None, Some(url)) if url.starts_with("http://") => Keys::Url(url),
                // reqwest is built without TLS (no TLS stack in the dependency tree yet): an
                // https URL would fail at every token request, so it is refused at load.
                (None, Some(url)) if url.starts_with("https://") => {
                    return Err(context(format!(
                        "`jwks_url` `{url}`: this build fetches keys over plain http only (an \
                         internal key server); put the JWKS inline in `jwks` instead"
                    )));
                }
                (None, Some(url)) => {
                    return Err(context(format!("`jwks_url` `{url}` is not an http URL")));
                }
                _ => {
                    return Err(context(
                        "give exactly one of `jwks` and `jwks_url`".to_owned(),
                    ));
                }
            };
            if let Some(bad) = entry.scopes.iter().find(|s| Scope::parse(s).is_none()) {
                return Err(context(format!(
                    "scope `{bad}` is not a system scope (`system/Resource.cruds`)"
                )));
            }
            let client = Client {
                id: id.clone(),
                name: entry.name,
                organizations: entry.organizations,
                scopes: entry.scopes,
                keys,
            };
            if by_id.insert(id.clone(), client).is_some() {
                return Err(format!("client `{id}` is listed twice"));
            }
        }
        Ok(Self { by_id })
    }

    pub fn get(&self, id: &str) -> Option<&Client> {
        self.by_id.get(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every scope some client may be granted, for the SMART configuration.
    pub fn all_scopes(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut scopes: Vec<String> = self
            .by_id
            .values()
            .flat_map(|c| c.scopes.iter().cloned())
            .filter(|s| seen.insert(s.clone()))
            .collect();
        scopes.sort();
        scopes
    }
}

/// Every key of a JWK Set needs a `kid` (assertions pick their key by it), unique in the set.
pub fn check_keys(set: &JwkSet) -> Result<(), String> {
    let mut kids = HashSet::new();
    for key in &set.keys {
        let kid = key
            .common
            .key_id
            .as_deref()
            .ok_or("a key of its JWK Set has no `kid`")?;
        if !kids.insert(kid) {
            return Err(format!("two keys of its JWK Set have the `kid` `{kid}`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWKS: &str = r#"{"keys":[{"kty":"EC","kid":"k1","crv":"P-384","x":"AA","y":"AA"}]}"#;

    fn file(extra: &str) -> String {
        format!(
            "[[client]]\nid = \"a\"\nname = \"A\"\norganizations = [\"1234567893\"]\n\
             scopes = [\"system/Claim.c\"]\n{extra}\n"
        )
    }

    #[test]
    fn a_client_with_inline_keys_loads() {
        let clients = Clients::parse(&file(&format!("jwks = '{JWKS}'")));
        let clients = clients.unwrap_or_default();
        let a = clients.get("a");
        assert_eq!(
            a.map(|c| c.organizations.clone()),
            Some(vec!["1234567893".to_owned()])
        );
        assert!(matches!(a.map(|c| &c.keys), Some(Keys::Inline(set)) if set.keys.len() == 1));
        assert_eq!(clients.all_scopes(), ["system/Claim.c"]);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let cases = [
            (file(""), "exactly one of `jwks` and `jwks_url`"),
            (
                file(&format!("jwks = '{JWKS}'\njwks_url = \"http://x\"")),
                "exactly one",
            ),
            (file("jwks_url = \"ftp://x\""), "not an http URL"),
            (file("jwks_url = \"https://x\""), "plain http only"),
            (
                file(
                    "jwks = '{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"}]}'",
                ),
                "no `kid`",
            ),
            (file("jwks = 'nope'"), "not a JWK Set"),
            (file("jwks_url = \"http://x\"\nsecret = 1"), "unknown field"),
            (
                file("jwks_url = \"http://x\"").replace("system/Claim.c", "patient/*.read"),
                "not a system scope",
            ),
            (
                format!("{0}{0}", file("jwks_url = \"http://x\"")),
                "listed twice",
            ),
        ];
        for (text, expected) in cases {
            let error = Clients::parse(&text).err().unwrap_or_default();
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }
}
