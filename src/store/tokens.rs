//! Named access tokens. A token's secret is shown once, when it is made;
//! the store keeps its SHA-256 only. Secrets carry 256 random bits, so a
//! plain hash is enough (a slow password hash guards guessable secrets).

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{now_us, Result, Store, StoreError};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Pages, charts, exports, the read API and `/metrics`.
    Read,
    /// Everything `read` may, plus every change: imports, scenario runs,
    /// soak, devices, experiments, ELF uploads.
    Write,
    /// Only the agents' ingest endpoints: a token left on a desk machine
    /// can feed the server but not read or change anything.
    Ingest,
}

impl TokenScope {
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
            TokenScope::Ingest => "ingest",
        }
    }
}

impl std::str::FromStr for TokenScope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read" => Ok(TokenScope::Read),
            "write" => Ok(TokenScope::Write),
            "ingest" => Ok(TokenScope::Ingest),
            other => Err(format!("unknown scope {other:?}: read, write or ingest")),
        }
    }
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub scope: TokenScope,
    pub created_us: i64,
    pub revoked_us: Option<i64>,
}

/// Prefix of every secret, so one pasted in the wrong place is recognisable.
const SECRET_PREFIX: &str = "hl_";

/// The stored form of a secret.
pub fn secret_hash(secret: &str) -> String {
    format!("{:x}", Sha256::digest(secret.as_bytes()))
}

fn new_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Conflict(format!("no system randomness for a token: {e}")))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{SECRET_PREFIX}{hex}"))
}

impl Store {
    /// Makes a token; returns it and its secret (shown to the user once).
    #[tracing::instrument(skip(self))]
    pub async fn create_token(
        &self,
        name: &str,
        scope: TokenScope,
    ) -> Result<(TokenRecord, String)> {
        let secret = new_secret()?;
        let created_us = now_us();
        let id = with_pool!(self, |pool| {
            sqlx::query_scalar(
            "INSERT INTO api_tokens (name, scope, secret_hash, created_us) VALUES ($1, $2, $3, $4) \
             RETURNING id",
        )
        .bind(name)
        .bind(scope)
        .bind(secret_hash(&secret))
        .bind(created_us)
        .fetch_one(pool)
        .await
        })
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("a token named {name:?} already exists"))
            }
            sqlx::Error::Database(d) if d.is_check_violation() => {
                StoreError::Conflict("a token name is 1 to 64 characters".to_owned())
            }
            other => StoreError::Sqlx(other),
        })?;
        let record = TokenRecord {
            id,
            name: name.to_owned(),
            scope,
            created_us,
            revoked_us: None,
        };
        Ok((record, secret))
    }

    /// Every token, revoked ones included, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            "SELECT id, name, scope, created_us, revoked_us FROM api_tokens ORDER BY id",
        )
        .fetch_all(pool)
        .await)?)
    }

    /// Revokes the named token; it stops working at once.
    #[tracing::instrument(skip(self))]
    pub async fn revoke_token(&self, name: &str) -> Result<TokenRecord> {
        let record: Option<TokenRecord> = with_pool!(self, |pool| sqlx::query_as(
            "UPDATE api_tokens SET revoked_us = COALESCE(revoked_us, $1) WHERE name = $2 \
             RETURNING id, name, scope, created_us, revoked_us",
        )
        .bind(now_us())
        .bind(name)
        .fetch_optional(pool)
        .await)?;
        record.ok_or_else(|| StoreError::NotFound {
            what: "token",
            id: name.to_owned(),
        })
    }

    /// The live (unrevoked) token whose secret this is.
    pub async fn token_for_secret(&self, secret: &str) -> Result<Option<TokenRecord>> {
        if !secret.starts_with(SECRET_PREFIX) {
            return Ok(None);
        }
        Ok(with_pool!(self, |pool| sqlx::query_as(
            "SELECT id, name, scope, created_us, revoked_us FROM api_tokens \
             WHERE secret_hash = $1 AND revoked_us IS NULL",
        )
        .bind(secret_hash(secret))
        .fetch_optional(pool)
        .await)?)
    }

    /// True when any unrevoked token exists (access control is on).
    pub async fn has_live_tokens(&self) -> Result<bool> {
        let one: Option<i64> = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM api_tokens WHERE revoked_us IS NULL LIMIT 1"
        )
        .fetch_optional(pool)
        .await)?;
        Ok(one.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_secret_works_until_revoked_and_is_stored_only_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let store = Store::open(&db).await.unwrap();
        assert!(!store.has_live_tokens().await.unwrap());
        let (record, secret) = store.create_token("ci", TokenScope::Read).await.unwrap();
        assert!(secret.starts_with("hl_") && secret.len() == 67);
        assert!(store.has_live_tokens().await.unwrap());
        let found = store.token_for_secret(&secret).await.unwrap();
        assert_eq!(found.as_ref().map(|t| t.scope), Some(TokenScope::Read));
        assert_eq!(store.token_for_secret("hl_nope").await.unwrap(), None);
        let dup = store
            .create_token("ci", TokenScope::Write)
            .await
            .unwrap_err();
        assert!(dup.to_string().contains("already exists"), "{dup}");

        let bytes = std::fs::read(&db).unwrap();
        let wal = std::fs::read(dir.path().join("t.db-wal")).unwrap_or_default();
        for file in [&bytes, &wal] {
            assert!(!file.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }

        let revoked = store.revoke_token("ci").await.unwrap();
        assert_eq!(revoked.id, record.id);
        assert!(revoked.revoked_us.is_some());
        assert_eq!(store.token_for_secret(&secret).await.unwrap(), None);
        assert!(!store.has_live_tokens().await.unwrap());
        assert!(store.revoke_token("missing").await.is_err());
    }
}
