//! Dashboard logouts: the MACs of ended sessions until the time those sessions would have
//! expired anyway, so a logout holds on every replica and across restarts. Expired rows are
//! pruned whenever a logout is recorded, so the table holds at most the sessions logged out
//! within one session lifetime.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::postgres::PgStore;
use super::sqlite::{SqliteStore, ts};
use super::{StoreError, classify};

/// Session revocations, implemented by both stores.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Records that the session with this MAC ended; it stays refused until `expires_at`.
    /// Recording it twice is harmless. Prunes revocations expired at `now`.
    async fn revoke_session(
        &self,
        mac: &[u8; 32],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Whether the session with this MAC was ended and is not yet expired at `now`.
    async fn session_revoked(&self, mac: &[u8; 32], now: DateTime<Utc>)
    -> Result<bool, StoreError>;
}

#[async_trait]
impl SessionStore for PgStore {
    async fn revoke_session(
        &self,
        mac: &[u8; 32],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(classify)?;
        sqlx::query("DELETE FROM session_revocations WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        if expires_at > now {
            sqlx::query(
                "INSERT INTO session_revocations (mac, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (mac) DO NOTHING",
            )
            .bind(&mac[..])
            .bind(expires_at)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    async fn session_revoked(
        &self,
        mac: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM session_revocations WHERE mac = $1 AND expires_at > $2",
        )
        .bind(&mac[..])
        .bind(now)
        .fetch_optional(self.pool())
        .await
        .map_err(classify)?;
        Ok(found.is_some())
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn revoke_session(
        &self,
        mac: &[u8; 32],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM session_revocations WHERE expires_at <= ?")
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        if expires_at > now {
            sqlx::query(
                "INSERT INTO session_revocations (mac, expires_at) VALUES (?, ?) \
                 ON CONFLICT (mac) DO NOTHING",
            )
            .bind(&mac[..])
            .bind(ts(expires_at))
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    async fn session_revoked(
        &self,
        mac: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM session_revocations WHERE mac = ? AND expires_at > ?",
        )
        .bind(&mac[..])
        .bind(ts(now))
        .fetch_optional(self.pool())
        .await
        .map_err(classify)?;
        Ok(found.is_some())
    }
}
