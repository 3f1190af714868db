//! API tokens: an id, a label, a role, the keyed hash of the secret, and
//! when the token was created, expires and was revoked. Tokens are never
//! deleted: a revoked one stays listed.

use chrono::{DateTime, Utc};

use super::{Result, Store};

/// A stored token (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredToken {
    pub id: String,
    pub name: String,
    /// As written: `admin`, `finance`, `group:NAME`, `team:NAME`.
    pub role: String,
    /// Hex of the keyed hash of the secret.
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, name, role, secret_hash, created_at, expires_at, revoked_at";

impl Store {
    /// Stores a new token.
    pub async fn insert_token(&self, token: &StoredToken) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO api_tokens (id, name, role, secret_hash, created_at, expires_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&token.id)
            .bind(&token.name)
            .bind(&token.role)
            .bind(&token.secret_hash)
            .bind(token.created_at)
            .bind(token.expires_at)
            .bind(token.revoked_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The token `id`, if there is one.
    pub async fn token(&self, id: &str) -> Result<Option<StoredToken>> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1");
        with_pool!(self, pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?)
        })
    }

    /// Every token, oldest first.
    pub async fn tokens(&self) -> Result<Vec<StoredToken>> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens ORDER BY created_at, id");
        with_pool!(self, pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?)
        })
    }

    /// Marks token `id` revoked at `now`; false when there is no such
    /// token or it was revoked already.
    pub async fn revoke_token(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        with_pool!(self, pool => {
            let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}
