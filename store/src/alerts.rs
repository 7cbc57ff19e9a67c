//! Alert bookkeeping: decided alerts (unique by dedupe key), their per-recipient deliveries,
//! and the leadership that lets one collector replica at a time run the scheduler
//! (`pg_try_advisory_lock` on PostgreSQL, a lease row on SQLite).

use std::collections::HashSet;

use async_trait::async_trait;
use certfleet_model::{AlertRecord, TerminalRef};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::pool::PoolConnection;

use super::postgres::PgStore;
use super::sqlite::{SqliteStore, parse_ts, ts};
use super::{StoreError, TerminalId, classify};

/// Advisory-lock key of the alert scheduler ("cert" in ASCII).
const ALERT_LOCK_KEY: i64 = 0x6365_7274;
/// How long a SQLite lease lasts; a crashed leader's lease simply runs out.
const SQLITE_LEASE: chrono::Duration = chrono::Duration::minutes(10);

/// A decided alert to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    pub dedupe_key: String,
    pub threshold: String,
    pub urgency: i64,
    pub office_number: Option<String>,
    pub terminal_id: Option<TerminalId>,
    pub certificate_sha256: Option<String>,
    pub not_after: Option<DateTime<Utc>>,
    /// JSON of the digest item.
    pub payload: String,
}

/// A delivery whose time has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub delivery_id: i64,
    pub recipient: String,
    pub attempts: u32,
    pub payload: String,
}

/// Proof of alert leadership; give it back with [`LeaderGuard::release`].
#[derive(Debug)]
pub enum LeaderGuard {
    /// The session holding the advisory lock. It is closed (not returned to the pool) when
    /// dropped, so a lock can never leak into another pooled session.
    Postgres(PoolConnection<sqlx::Postgres>),
    Sqlite {
        pool: sqlx::SqlitePool,
        holder: String,
    },
}

impl LeaderGuard {
    pub async fn release(self) {
        match self {
            LeaderGuard::Postgres(mut conn) => {
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(ALERT_LOCK_KEY)
                    .execute(&mut *conn)
                    .await;
            }
            LeaderGuard::Sqlite { pool, holder } => {
                let _ = sqlx::query("DELETE FROM alert_leader WHERE holder = ?")
                    .bind(holder)
                    .execute(&pool)
                    .await;
            }
        }
    }
}

/// Alert storage, implemented by both stores.
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Leadership of the alert scheduler, or `None` when another collector has it.
    async fn try_alert_leadership(
        &self,
        holder: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LeaderGuard>, StoreError>;
    /// Which of `keys` were already decided.
    async fn existing_alert_keys(&self, keys: &[String]) -> Result<HashSet<String>, StoreError>;
    /// Records a decided alert with one pending delivery per recipient, due at `now`. Returns
    /// false (and writes nothing) when the dedupe key exists.
    async fn record_alert(
        &self,
        alert: &NewAlert,
        recipients: &[String],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Pending deliveries due at `now`, oldest first.
    async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError>;
    async fn mark_delivered(&self, ids: &[i64], now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Counts a failed attempt and schedules the next one.
    async fn mark_failed(
        &self,
        ids: &[i64],
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Newest first.
    async fn alert_history(&self, limit: u32) -> Result<Vec<AlertRecord>, StoreError>;
}

fn record_from(
    id: i64,
    decided_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    row: &impl HistoryRow,
) -> Result<AlertRecord, StoreError> {
    let terminal = match row.terminal_id()? {
        Some(id) => Some(TerminalRef {
            id,
            hostname: row.string("hostname")?.unwrap_or_default(),
            machine_id: row.string("machine_id")?.unwrap_or_default(),
        }),
        None => None,
    };
    let state: String = row.string("state")?.unwrap_or_default();
    let attempts = row.attempts()?;
    let state = if state == "pending" && attempts > 0 {
        "failed".to_owned()
    } else {
        state
    };
    Ok(AlertRecord {
        id,
        decided_at,
        delivered_at,
        threshold: row.string("threshold")?.unwrap_or_default(),
        office_number: row.string("office_number")?,
        terminal,
        certificate_sha256: row.string("certificate_sha256")?,
        not_after: row.not_after()?,
        recipient: row.string("recipient")?.unwrap_or_default(),
        state,
        attempts,
        last_error: row.string("last_error")?,
    })
}

/// The columns of a history row, read the same way from both backends.
trait HistoryRow {
    fn string(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn terminal_id(&self) -> Result<Option<i64>, StoreError>;
    fn attempts(&self) -> Result<u32, StoreError>;
    fn not_after(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
}

impl HistoryRow for sqlx::postgres::PgRow {
    fn string(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.try_get(col).map_err(classify)
    }
    fn terminal_id(&self) -> Result<Option<i64>, StoreError> {
        self.try_get("terminal_id").map_err(classify)
    }
    fn attempts(&self) -> Result<u32, StoreError> {
        let n: i32 = self.try_get("attempts").map_err(classify)?;
        Ok(u32::try_from(n).unwrap_or(0))
    }
    fn not_after(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.try_get("not_after").map_err(classify)
    }
}

impl HistoryRow for sqlx::sqlite::SqliteRow {
    fn string(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.try_get(col).map_err(classify)
    }
    fn terminal_id(&self) -> Result<Option<i64>, StoreError> {
        self.try_get("terminal_id").map_err(classify)
    }
    fn attempts(&self) -> Result<u32, StoreError> {
        let n: i64 = self.try_get("attempts").map_err(classify)?;
        Ok(u32::try_from(n).unwrap_or(0))
    }
    fn not_after(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let t: Option<String> = self.try_get("not_after").map_err(classify)?;
        t.as_deref().map(parse_ts).transpose()
    }
}

const HISTORY_SQL: &str = "SELECT d.id, e.decided_at, d.delivered_at, e.threshold, e.office_number, e.terminal_id, \
     t.hostname, t.machine_id, e.certificate_sha256, e.not_after, d.recipient, d.state, d.attempts, d.last_error \
     FROM alert_deliveries d JOIN alert_events e ON e.id = d.event_id \
     LEFT JOIN terminals t ON t.id = e.terminal_id ORDER BY e.decided_at DESC, d.id DESC LIMIT ";

#[async_trait]
impl AlertStore for PgStore {
    async fn try_alert_leadership(
        &self,
        _holder: &str,
        _now: DateTime<Utc>,
    ) -> Result<Option<LeaderGuard>, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(classify)?;
        conn.close_on_drop();
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(ALERT_LOCK_KEY)
            .fetch_one(&mut *conn)
            .await
            .map_err(classify)?;
        Ok(got.then_some(LeaderGuard::Postgres(conn)))
    }

    async fn existing_alert_keys(&self, keys: &[String]) -> Result<HashSet<String>, StoreError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT dedupe_key FROM alert_events WHERE dedupe_key = ANY($1)")
                .bind(keys)
                .fetch_all(self.pool())
                .await
                .map_err(classify)?;
        Ok(rows.into_iter().collect())
    }

    async fn record_alert(
        &self,
        a: &NewAlert,
        recipients: &[String],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await.map_err(classify)?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO alert_events (dedupe_key, decided_at, threshold, urgency, office_number, terminal_id, \
             certificate_sha256, not_after, payload) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) \
             ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        )
        .bind(&a.dedupe_key)
        .bind(now)
        .bind(&a.threshold)
        .bind(a.urgency)
        .bind(&a.office_number)
        .bind(a.terminal_id)
        .bind(&a.certificate_sha256)
        .bind(a.not_after)
        .bind(&a.payload)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let Some(id) = id else { return Ok(false) };
        for r in recipients {
            sqlx::query("INSERT INTO alert_deliveries (event_id, recipient, next_attempt_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(id)
                .bind(r)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)?;
        Ok(true)
    }

    async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, d.recipient, d.attempts, e.payload FROM alert_deliveries d JOIN alert_events e ON e.id = d.event_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 ORDER BY d.id LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|r| {
                let attempts: i32 = r.try_get("attempts").map_err(classify)?;
                Ok(DueDelivery {
                    delivery_id: r.try_get("id").map_err(classify)?,
                    recipient: r.try_get("recipient").map_err(classify)?,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    payload: r.try_get("payload").map_err(classify)?,
                })
            })
            .collect()
    }

    async fn mark_delivered(&self, ids: &[i64], now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE alert_deliveries SET state = 'sent', delivered_at = $2, attempts = attempts + 1, last_error = NULL WHERE id = ANY($1)")
            .bind(ids)
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        ids: &[i64],
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE alert_deliveries SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = ANY($1)")
            .bind(ids)
            .bind(error)
            .bind(next_attempt_at)
            .execute(self.pool())
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn alert_history(&self, limit: u32) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = sqlx::query(&format!("{HISTORY_SQL}{}", limit.min(100_000)))
            .fetch_all(self.pool())
            .await
            .map_err(classify)?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.try_get("id").map_err(classify)?;
                let decided: DateTime<Utc> = r.try_get("decided_at").map_err(classify)?;
                let delivered: Option<DateTime<Utc>> =
                    r.try_get("delivered_at").map_err(classify)?;
                record_from(id, decided, delivered, r)
            })
            .collect()
    }
}

#[async_trait]
impl AlertStore for SqliteStore {
    async fn try_alert_leadership(
        &self,
        holder: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LeaderGuard>, StoreError> {
        let done = sqlx::query(
            "INSERT INTO alert_leader (id, holder, expires_at) VALUES (1, ?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE alert_leader.expires_at < ?3 OR alert_leader.holder = excluded.holder",
        )
        .bind(holder)
        .bind(ts(now + SQLITE_LEASE))
        .bind(ts(now))
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok((done.rows_affected() == 1).then(|| LeaderGuard::Sqlite {
            pool: self.pool().clone(),
            holder: holder.to_owned(),
        }))
    }

    async fn existing_alert_keys(&self, keys: &[String]) -> Result<HashSet<String>, StoreError> {
        let mut found = HashSet::new();
        // SQLite caps bound parameters per statement; look keys up in chunks.
        for chunk in keys.chunks(500) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            let sql =
                format!("SELECT dedupe_key FROM alert_events WHERE dedupe_key IN ({placeholders})");
            let mut q = sqlx::query_scalar::<_, String>(&sql);
            for k in chunk {
                q = q.bind(k);
            }
            found.extend(q.fetch_all(self.pool()).await.map_err(classify)?);
        }
        Ok(found)
    }

    async fn record_alert(
        &self,
        a: &NewAlert,
        recipients: &[String],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await.map_err(classify)?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO alert_events (dedupe_key, decided_at, threshold, urgency, office_number, terminal_id, \
             certificate_sha256, not_after, payload) VALUES (?,?,?,?,?,?,?,?,?) \
             ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        )
        .bind(&a.dedupe_key)
        .bind(ts(now))
        .bind(&a.threshold)
        .bind(a.urgency)
        .bind(&a.office_number)
        .bind(a.terminal_id)
        .bind(&a.certificate_sha256)
        .bind(a.not_after.map(ts))
        .bind(&a.payload)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let Some(id) = id else { return Ok(false) };
        for r in recipients {
            sqlx::query("INSERT INTO alert_deliveries (event_id, recipient, next_attempt_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                .bind(id)
                .bind(r)
                .bind(ts(now))
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)?;
        Ok(true)
    }

    async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, d.recipient, d.attempts, e.payload FROM alert_deliveries d JOIN alert_events e ON e.id = d.event_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= ? ORDER BY d.id LIMIT ?",
        )
        .bind(ts(now))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|r| {
                let attempts: i64 = r.try_get("attempts").map_err(classify)?;
                Ok(DueDelivery {
                    delivery_id: r.try_get("id").map_err(classify)?,
                    recipient: r.try_get("recipient").map_err(classify)?,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    payload: r.try_get("payload").map_err(classify)?,
                })
            })
            .collect()
    }

    async fn mark_delivered(&self, ids: &[i64], now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(classify)?;
        for id in ids {
            sqlx::query("UPDATE alert_deliveries SET state = 'sent', delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?")
                .bind(ts(now))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    async fn mark_failed(
        &self,
        ids: &[i64],
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(classify)?;
        for id in ids {
            sqlx::query("UPDATE alert_deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?")
                .bind(error)
                .bind(ts(next_attempt_at))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    async fn alert_history(&self, limit: u32) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = sqlx::query(&format!("{HISTORY_SQL}{}", limit.min(100_000)))
            .fetch_all(self.pool())
            .await
            .map_err(classify)?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.try_get("id").map_err(classify)?;
                let decided: String = r.try_get("decided_at").map_err(classify)?;
                let delivered: Option<String> = r.try_get("delivered_at").map_err(classify)?;
                record_from(
                    id,
                    parse_ts(&decided)?,
                    delivered.as_deref().map(parse_ts).transpose()?,
                    r,
                )
            })
            .collect()
    }
}
