//! Terminal revocations as a list that can be kept and restored apart from the database
//! (issue 16): restoring a PostgreSQL dump taken before a revocation would otherwise let that
//! terminal report and enroll again, silently. `terminal export-revocations` writes the list,
//! `terminal import-revocations` re-applies it after a restore: by machine id, keeping the
//! earlier revocation time, and creating a revoked placeholder for a terminal the restored
//! database does not know (one enrolled after the dump), so its agent cannot enroll as new.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::postgres::PgStore;
use super::sqlite::{SqliteStore, parse_ts, ts};
use super::{StoreError, classify};

/// One revoked terminal, as exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationRecord {
    pub machine_id: String,
    pub hostname: String,
    pub revoked_at: DateTime<Utc>,
}

/// What re-applying a list did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReapplySummary {
    /// Already revoked in the database.
    pub already_revoked: usize,
    /// Known but not revoked (the restored dump predates the revocation): revoked now.
    pub revoked_again: usize,
    /// Unknown to the database (enrolled after the dump): added as revoked placeholders.
    pub added_revoked: usize,
}

/// Prefix of the node-key hash of a revoked placeholder: no real key hashes to it, so nothing
/// authenticates as the placeholder, and the machine id can neither enroll nor report.
pub const REVOKED_PLACEHOLDER_PREFIX: &str = "revoked-placeholder:";

/// Revocation lists, implemented by both stores.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Every revoked terminal, oldest revocation first.
    async fn revocations(&self) -> Result<Vec<RevocationRecord>, StoreError>;

    /// Re-applies `list` in one transaction (see the module documentation).
    async fn reapply_revocations(
        &self,
        list: &[RevocationRecord],
    ) -> Result<ReapplySummary, StoreError>;
}

#[async_trait]
impl RevocationStore for PgStore {
    async fn revocations(&self) -> Result<Vec<RevocationRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT machine_id, hostname, revoked_at FROM terminals \
             WHERE revoked_at IS NOT NULL ORDER BY revoked_at, id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|r| {
                Ok(RevocationRecord {
                    machine_id: r.try_get("machine_id").map_err(classify)?,
                    hostname: r.try_get("hostname").map_err(classify)?,
                    revoked_at: r.try_get("revoked_at").map_err(classify)?,
                })
            })
            .collect()
    }

    async fn reapply_revocations(
        &self,
        list: &[RevocationRecord],
    ) -> Result<ReapplySummary, StoreError> {
        let mut tx = self.pool().begin().await.map_err(classify)?;
        let mut summary = ReapplySummary::default();
        for r in list {
            let current: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
                "SELECT revoked_at FROM terminals WHERE machine_id = $1 FOR UPDATE",
            )
            .bind(&r.machine_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
            match current {
                Some(Some(_)) => summary.already_revoked += 1,
                Some(None) => {
                    sqlx::query("UPDATE terminals SET revoked_at = $2 WHERE machine_id = $1")
                        .bind(&r.machine_id)
                        .bind(r.revoked_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                    summary.revoked_again += 1;
                }
                None => {
                    sqlx::query(
                        "INSERT INTO terminals (machine_id, hostname, node_key_hash, enrolled_at, \
                         revoked_at) VALUES ($1, $2, $3, $4, $4)",
                    )
                    .bind(&r.machine_id)
                    .bind(&r.hostname)
                    .bind(format!("{REVOKED_PLACEHOLDER_PREFIX}{}", r.machine_id))
                    .bind(r.revoked_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                    summary.added_revoked += 1;
                }
            }
        }
        tx.commit().await.map_err(classify)?;
        Ok(summary)
    }
}

#[async_trait]
impl RevocationStore for SqliteStore {
    async fn revocations(&self) -> Result<Vec<RevocationRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT machine_id, hostname, revoked_at FROM terminals \
             WHERE revoked_at IS NOT NULL ORDER BY revoked_at, id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|r| {
                let revoked_at: String = r.try_get("revoked_at").map_err(classify)?;
                Ok(RevocationRecord {
                    machine_id: r.try_get("machine_id").map_err(classify)?,
                    hostname: r.try_get("hostname").map_err(classify)?,
                    revoked_at: parse_ts(&revoked_at)?,
                })
            })
            .collect()
    }

    async fn reapply_revocations(
        &self,
        list: &[RevocationRecord],
    ) -> Result<ReapplySummary, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut summary = ReapplySummary::default();
        for r in list {
            let current: Option<Option<String>> =
                sqlx::query_scalar("SELECT revoked_at FROM terminals WHERE machine_id = ?1")
                    .bind(&r.machine_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(classify)?;
            match current {
                Some(Some(_)) => summary.already_revoked += 1,
                Some(None) => {
                    sqlx::query("UPDATE terminals SET revoked_at = ?2 WHERE machine_id = ?1")
                        .bind(&r.machine_id)
                        .bind(ts(r.revoked_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                    summary.revoked_again += 1;
                }
                None => {
                    sqlx::query(
                        "INSERT INTO terminals (machine_id, hostname, node_key_hash, enrolled_at, \
                         revoked_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                    )
                    .bind(&r.machine_id)
                    .bind(&r.hostname)
                    .bind(format!("{REVOKED_PLACEHOLDER_PREFIX}{}", r.machine_id))
                    .bind(ts(r.revoked_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                    summary.added_revoked += 1;
                }
            }
        }
        tx.commit().await.map_err(classify)?;
        Ok(summary)
    }
}
