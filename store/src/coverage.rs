//! The expected-terminal list of the coverage report (issue 17 §4, migration 0030): which PCs
//! an operator expects to report and which offices each should hold. Replaced as a whole by an
//! import; the coverage semantics live in `certfleet-reports`, not here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::postgres::PgStore;
use super::sqlite::{SqliteStore, parse_ts, ts};
use super::{StoreError, classify};

/// One PC of the expected-terminal list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedTerminal {
    /// As written in the imported file; matched case-insensitively.
    pub hostname: String,
    /// When given, it wins over the hostname for matching a reporting terminal.
    pub machine_id: Option<String>,
    /// Office numbers expected on the PC, in file order, no duplicates.
    pub offices: Vec<String>,
}

impl ExpectedTerminal {
    /// The matching key of the hostname: Windows host names are case-insensitive.
    pub fn hostname_key(&self) -> String {
        hostname_key(&self.hostname)
    }
}

/// The case-insensitive matching key of a hostname (Unicode lower case, which is ASCII lower
/// case for every valid NetBIOS/DNS name).
pub fn hostname_key(hostname: &str) -> String {
    hostname.to_lowercase()
}

/// The expected-terminal list, implemented by both stores.
#[async_trait]
pub trait CoverageStore: Send + Sync {
    /// Replaces the whole list in one transaction: after an error the previous list stays.
    /// The caller has checked the entries (no empty or duplicate hostname or machine id).
    async fn replace_expected_terminals(
        &self,
        entries: &[ExpectedTerminal],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The list in file order, and when it was imported (`None`: never imported).
    async fn expected_terminals(
        &self,
    ) -> Result<(Vec<ExpectedTerminal>, Option<DateTime<Utc>>), StoreError>;
}

/// Rows per PostgreSQL insert statement.
const PG_CHUNK: usize = 5000;

fn split_offices(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

#[async_trait]
impl CoverageStore for PgStore {
    async fn replace_expected_terminals(
        &self,
        entries: &[ExpectedTerminal],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(classify)?;
        sqlx::query("DELETE FROM expected_terminals")
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        // Arrays of a few thousand rows per statement: one round trip per chunk, not per PC
        // (100,000 PCs in about a second instead of tens).
        for (chunk_index, chunk) in entries.chunks(PG_CHUNK).enumerate() {
            let base = chunk_index * PG_CHUNK;
            let positions: Vec<i32> = (0..chunk.len())
                .map(|i| i32::try_from(base + i).unwrap_or(i32::MAX))
                .collect();
            let hostnames: Vec<&str> = chunk.iter().map(|e| e.hostname.as_str()).collect();
            let keys: Vec<String> = chunk.iter().map(ExpectedTerminal::hostname_key).collect();
            let machines: Vec<Option<&str>> =
                chunk.iter().map(|e| e.machine_id.as_deref()).collect();
            let offices: Vec<String> = chunk.iter().map(|e| e.offices.join(" ")).collect();
            sqlx::query(
                "INSERT INTO expected_terminals \
                 (position, hostname, hostname_key, machine_id, offices, imported_at) \
                 SELECT p, h, k, m, o, $6 \
                 FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[], $5::text[]) \
                 AS u(p, h, k, m, o)",
            )
            .bind(&positions)
            .bind(&hostnames)
            .bind(&keys)
            .bind(&machines)
            .bind(&offices)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    async fn expected_terminals(
        &self,
    ) -> Result<(Vec<ExpectedTerminal>, Option<DateTime<Utc>>), StoreError> {
        let rows = sqlx::query(
            "SELECT hostname, machine_id, offices, imported_at FROM expected_terminals \
             ORDER BY position",
        )
        .fetch_all(self.pool())
        .await
        .map_err(classify)?;
        let mut imported_at = None;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            imported_at = Some(row.try_get::<DateTime<Utc>, _>(3).map_err(classify)?);
            out.push(ExpectedTerminal {
                hostname: row.try_get(0).map_err(classify)?,
                machine_id: row.try_get(1).map_err(classify)?,
                offices: split_offices(&row.try_get::<String, _>(2).map_err(classify)?),
            });
        }
        Ok((out, imported_at))
    }
}

#[async_trait]
impl CoverageStore for SqliteStore {
    async fn replace_expected_terminals(
        &self,
        entries: &[ExpectedTerminal],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM expected_terminals")
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        for (position, e) in entries.iter().enumerate() {
            sqlx::query(
                "INSERT INTO expected_terminals \
                 (position, hostname, hostname_key, machine_id, offices, imported_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(&e.hostname)
            .bind(e.hostname_key())
            .bind(e.machine_id.as_deref())
            .bind(e.offices.join(" "))
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    async fn expected_terminals(
        &self,
    ) -> Result<(Vec<ExpectedTerminal>, Option<DateTime<Utc>>), StoreError> {
        let rows = sqlx::query(
            "SELECT hostname, machine_id, offices, imported_at FROM expected_terminals \
             ORDER BY position",
        )
        .fetch_all(self.pool())
        .await
        .map_err(classify)?;
        let mut imported_at = None;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            imported_at = Some(parse_ts(&row.try_get::<String, _>(3).map_err(classify)?)?);
            out.push(ExpectedTerminal {
                hostname: row.try_get(0).map_err(classify)?,
                machine_id: row.try_get(1).map_err(classify)?,
                offices: split_offices(&row.try_get::<String, _>(2).map_err(classify)?),
            });
        }
        Ok((out, imported_at))
    }
}
