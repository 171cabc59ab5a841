//! Secrets the adapter generates once and keeps in the store (so that every instance on one
//! database shares them), and the client assertion ids (`jti`) already used.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::RngCore;
use sqlx::Row;

use super::{Store, StoreError};

/// The key access tokens are signed with (HMAC-SHA256).
pub const ACCESS_TOKEN_KEY: &str = "access-token-key";
/// The key authorization numbers are derived with (HMAC-SHA256).
pub const AUTHORIZATION_NUMBER_KEY: &str = "authorization-number-key";

/// A secret's bytes. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Store {
    /// The secret `name`: generated (32 random bytes) and stored at first use, read after.
    /// Two instances starting at once agree: the first insert wins, both read it back.
    pub async fn secret(&self, name: &str) -> Result<Secret, StoreError> {
        let mut fresh = [0u8; 32];
        rand::rng().fill_bytes(&mut fresh);
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(hex(&fresh))
        .bind(Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true))
        .execute(&self.pool)
        .await?;
        let value: String = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?
            .try_get("value")?;
        unhex(&value)
            .map(Secret)
            .ok_or_else(|| StoreError::Corrupt {
                id: format!("server secret `{name}`"),
                message: "not hex".to_owned(),
            })
    }

    /// Records that `client` used the assertion id `jti`, valid until `expires_at`. `false`
    /// when it was used before (a replay). Ids past their expiry are forgotten here too.
    pub async fn claim_jti(
        &self,
        client: &str,
        jti: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
        sqlx::query("DELETE FROM assertion_jtis WHERE expires_at < $1")
            .bind(time(now))
            .execute(&self.pool)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(client)
        .bind(jti)
        .bind(time(expires_at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_secrets_do_not_debug_their_bytes() {
        let bytes = vec![0, 1, 0xab, 0xff];
        assert_eq!(unhex(&hex(&bytes)), Some(bytes.clone()));
        assert_eq!(unhex("abc"), None);
        assert_eq!(format!("{:?}", Secret::new(bytes)), "Secret(***)");
    }

    #[tokio::test]
    async fn secrets_are_made_once_and_jtis_only_once() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store =
            Store::connect(&format!("sqlite://{}", dir.path().join("s.db").display())).await?;
        let key = store.secret(ACCESS_TOKEN_KEY).await?;
        assert_eq!(key.bytes().len(), 32);
        assert_eq!(store.secret(ACCESS_TOKEN_KEY).await?, key);
        assert_ne!(store.secret(AUTHORIZATION_NUMBER_KEY).await?, key);
        let now = Utc::now();
        let later = now + chrono::Duration::minutes(5);
        assert!(store.claim_jti("a", "j1", later, now).await?);
        assert!(!store.claim_jti("a", "j1", later, now).await?);
        assert!(store.claim_jti("b", "j1", later, now).await?);
        Ok(())
    }
}
