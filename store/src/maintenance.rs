//! Scheduled maintenance (issue 16): the claim that lets exactly one replica run each daily
//! slot of a task (`alerts`, `retention`), the record of the last successful run that every
//! replica's `/metrics` reports, and retention itself: what grows with every report and may go
//! once it is old enough (migration 0040).
//!
//! Retention never touches what a report or an alert decision still needs: each terminal keeps
//! its newest report; only holdings *removed* long ago go (live ones make the reports);
//! certificates go only when no holding, live or removed, refers to them; an alert decision
//! goes only when every delivery was sent and its subject is over (the certificate is no longer
//! held, the terminal reported again, the office is covered again), so pruning never makes an
//! alert fire twice. Unknown alert kinds are kept.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::postgres::PgStore;
use super::sqlite::{SqliteStore, parse_ts, ts};
use super::{StoreError, classify};

/// What retention deletes, as cut-off times computed by the caller from `[retention]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Reports received before this go, except each terminal's newest.
    pub reports_before: DateTime<Utc>,
    /// Holdings removed before this go (the terminal page's history of removed certificates).
    pub removed_holdings_before: DateTime<Utc>,
    /// Alert decisions made before this go once their subject is over and all were delivered.
    pub alerts_before: DateTime<Utc>,
    /// Certificates that no holding refers to go when first seen before this: a margin against
    /// an ingest that is about to refer to one again.
    pub orphans_first_seen_before: DateTime<Utc>,
    /// "Now", for whether an office is covered again.
    pub now: DateTime<Utc>,
    /// Rows per statement: each batch is its own short transaction, so ingest never waits
    /// long behind retention, even when a first run deletes a year of reports.
    pub batch: u32,
}

/// Rows retention deleted (or, in a dry run, would delete), by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pruned {
    pub reports: u64,
    pub holdings: u64,
    pub certificates: u64,
    pub alert_events: u64,
    pub alert_deliveries: u64,
}

impl Pruned {
    /// `(kind, count)` in a fixed order: the metric labels and the CLI lines.
    pub fn by_kind(&self) -> [(&'static str, u64); 5] {
        [
            ("reports", self.reports),
            ("holdings", self.holdings),
            ("certificates", self.certificates),
            ("alert_events", self.alert_events),
            ("alert_deliveries", self.alert_deliveries),
        ]
    }
}

/// One scheduled task's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintenanceRun {
    pub task: String,
    /// The newest scheduled time a replica claimed, and which replica (host:pid).
    pub claimed_slot: Option<DateTime<Utc>>,
    pub claimed_by: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// JSON of what the last successful run did.
    pub last_result: Option<String>,
}

/// Scheduled maintenance, implemented by both stores.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Claims the run of `task` scheduled for `slot`: true for exactly one caller per slot
    /// (the first), false for every other replica and for a slot not newer than the last
    /// claimed one.
    async fn claim_maintenance_slot(
        &self,
        task: &str,
        slot: DateTime<Utc>,
        holder: &str,
    ) -> Result<bool, StoreError>;

    /// Records a successful run of `task` at `at` with what it did (`result`, JSON).
    async fn record_maintenance_success(
        &self,
        task: &str,
        at: DateTime<Utc>,
        result: &str,
    ) -> Result<(), StoreError>;

    /// Every task's bookkeeping, for `/metrics` and `retention status`.
    async fn maintenance_runs(&self) -> Result<Vec<MaintenanceRun>, StoreError>;

    /// Deletes what `policy` lets go, in batches; with `dry_run` only counts it.
    async fn prune(&self, policy: &RetentionPolicy, dry_run: bool) -> Result<Pruned, StoreError>;
}

// The candidate rows of each kind, written once for both backends with `$n` parameters
// (SQLite gets `?n`). Parameters: $1 the kind's cut-off; the alert query also $2 = now, the
// certificate query $2 = the removed-holdings cut-off (so a dry run counts the certificates
// that pruning the holdings would orphan).

const REPORT_CANDIDATES: &str = "SELECT r.id FROM reports r WHERE r.received_at < $1 \
     AND EXISTS (SELECT 1 FROM reports n WHERE n.terminal_id = r.terminal_id \
                 AND (n.received_at > r.received_at \
                      OR (n.received_at = r.received_at AND n.id > r.id)))";

const HOLDING_CANDIDATES: &str = "SELECT terminal_id, sha256 FROM holdings \
     WHERE removed_at IS NOT NULL AND removed_at < $1";

const CERTIFICATE_CANDIDATES: &str = "SELECT c.sha256 FROM certificates c \
     WHERE c.first_seen < $1 AND NOT EXISTS (SELECT 1 FROM holdings h WHERE h.sha256 = c.sha256 \
       AND (h.removed_at IS NULL OR h.removed_at >= $2))";

const ALERT_CANDIDATES: &str = "SELECT e.id FROM alert_events e \
     WHERE e.decided_at < $1 \
       AND NOT EXISTS (SELECT 1 FROM alert_deliveries d \
                       WHERE d.event_id = e.id AND d.state = 'pending') \
       AND CASE \
         WHEN e.dedupe_key LIKE 'pair:%' THEN NOT EXISTS ( \
           SELECT 1 FROM holdings h JOIN terminals t ON t.id = h.terminal_id \
           WHERE h.terminal_id = e.terminal_id AND h.sha256 = e.certificate_sha256 \
             AND h.removed_at IS NULL AND t.revoked_at IS NULL) \
         WHEN e.dedupe_key LIKE 'stale:%' THEN NOT EXISTS ( \
           SELECT 1 FROM terminals t WHERE t.id = e.terminal_id AND t.revoked_at IS NULL \
             AND (t.last_report_at IS NULL OR t.last_report_at <= e.decided_at)) \
         WHEN e.dedupe_key LIKE 'uncovered:%' THEN ( \
           NOT EXISTS (SELECT 1 FROM office_registry o WHERE o.office_number = e.office_number) \
           OR EXISTS (SELECT 1 FROM pair_expiry p JOIN terminals t ON t.id = p.terminal_id \
                      WHERE p.office_number = e.office_number AND p.not_after > $2 \
                        AND t.revoked_at IS NULL)) \
         ELSE 1 = 0 \
       END";

/// `sql` with SQLite's `?n` parameters instead of PostgreSQL's `$n`.
fn for_sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[async_trait]
impl MaintenanceStore for PgStore {
    async fn claim_maintenance_slot(
        &self,
        task: &str,
        slot: DateTime<Utc>,
        holder: &str,
    ) -> Result<bool, StoreError> {
        sqlx::query(
            "INSERT INTO maintenance_runs (task) VALUES ($1) ON CONFLICT (task) DO NOTHING",
        )
        .bind(task)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        let done = sqlx::query(
            "UPDATE maintenance_runs SET claimed_slot = $2, claimed_by = $3 \
             WHERE task = $1 AND (claimed_slot IS NULL OR claimed_slot < $2)",
        )
        .bind(task)
        .bind(slot)
        .bind(holder)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_maintenance_success(
        &self,
        task: &str,
        at: DateTime<Utc>,
        result: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO maintenance_runs (task, last_success_at, last_result) VALUES ($1, $2, $3) \
             ON CONFLICT (task) DO UPDATE SET last_success_at = excluded.last_success_at, \
             last_result = excluded.last_result",
        )
        .bind(task)
        .bind(at)
        .bind(result)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn maintenance_runs(&self) -> Result<Vec<MaintenanceRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT task, claimed_slot, claimed_by, last_success_at, last_result \
             FROM maintenance_runs ORDER BY task",
        )
        .fetch_all(self.pool())
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|r| {
                Ok(MaintenanceRun {
                    task: r.try_get("task").map_err(classify)?,
                    claimed_slot: r.try_get("claimed_slot").map_err(classify)?,
                    claimed_by: r.try_get("claimed_by").map_err(classify)?,
                    last_success_at: r.try_get("last_success_at").map_err(classify)?,
                    last_result: r.try_get("last_result").map_err(classify)?,
                })
            })
            .collect()
    }

    async fn prune(&self, p: &RetentionPolicy, dry_run: bool) -> Result<Pruned, StoreError> {
        let pool = self.pool();
        if dry_run {
            let reports: i64 =
                sqlx::query_scalar(&format!("SELECT count(*) FROM ({REPORT_CANDIDATES}) c"))
                    .bind(p.reports_before)
                    .fetch_one(pool)
                    .await
                    .map_err(classify)?;
            let holdings: i64 =
                sqlx::query_scalar(&format!("SELECT count(*) FROM ({HOLDING_CANDIDATES}) c"))
                    .bind(p.removed_holdings_before)
                    .fetch_one(pool)
                    .await
                    .map_err(classify)?;
            let certificates: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM ({CERTIFICATE_CANDIDATES}) c"
            ))
            .bind(p.orphans_first_seen_before)
            .bind(p.removed_holdings_before)
            .fetch_one(pool)
            .await
            .map_err(classify)?;
            let events: i64 =
                sqlx::query_scalar(&format!("SELECT count(*) FROM ({ALERT_CANDIDATES}) c"))
                    .bind(p.alerts_before)
                    .bind(p.now)
                    .fetch_one(pool)
                    .await
                    .map_err(classify)?;
            let deliveries: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM alert_deliveries WHERE event_id IN ({ALERT_CANDIDATES})"
            ))
            .bind(p.alerts_before)
            .bind(p.now)
            .fetch_one(pool)
            .await
            .map_err(classify)?;
            return Ok(Pruned {
                reports: count(reports),
                holdings: count(holdings),
                certificates: count(certificates),
                alert_events: count(events),
                alert_deliveries: count(deliveries),
            });
        }
        let batch = u64::from(p.batch.max(1));
        let limit = i64::from(p.batch.max(1));
        let mut out = Pruned::default();
        let sql = format!("DELETE FROM reports WHERE id IN ({REPORT_CANDIDATES} LIMIT $2)");
        loop {
            let n = sqlx::query(&sql)
                .bind(p.reports_before)
                .bind(limit)
                .execute(pool)
                .await
                .map_err(classify)?
                .rows_affected();
            out.reports += n;
            if n < batch {
                break;
            }
        }
        let sql = format!(
            "DELETE FROM holdings WHERE (terminal_id, sha256) IN ({HOLDING_CANDIDATES} LIMIT $2)"
        );
        loop {
            let n = sqlx::query(&sql)
                .bind(p.removed_holdings_before)
                .bind(limit)
                .execute(pool)
                .await
                .map_err(classify)?
                .rows_affected();
            out.holdings += n;
            if n < batch {
                break;
            }
        }
        let sql =
            format!("DELETE FROM certificates WHERE sha256 IN ({CERTIFICATE_CANDIDATES} LIMIT $3)");
        loop {
            let n = sqlx::query(&sql)
                .bind(p.orphans_first_seen_before)
                .bind(p.removed_holdings_before)
                .bind(limit)
                .execute(pool)
                .await
                .map_err(classify)?
                .rows_affected();
            out.certificates += n;
            if n < batch {
                break;
            }
        }
        let select = format!("{ALERT_CANDIDATES} LIMIT $3");
        loop {
            let mut tx = pool.begin().await.map_err(classify)?;
            let ids: Vec<i64> = sqlx::query_scalar(&select)
                .bind(p.alerts_before)
                .bind(p.now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
            out.alert_deliveries +=
                sqlx::query("DELETE FROM alert_deliveries WHERE event_id = ANY($1)")
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?
                    .rows_affected();
            let n = sqlx::query("DELETE FROM alert_events WHERE id = ANY($1)")
                .bind(&ids)
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected();
            tx.commit().await.map_err(classify)?;
            out.alert_events += n;
            if n < batch {
                break;
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl MaintenanceStore for SqliteStore {
    async fn claim_maintenance_slot(
        &self,
        task: &str,
        slot: DateTime<Utc>,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO maintenance_runs (task) VALUES (?1) ON CONFLICT (task) DO NOTHING",
        )
        .bind(task)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        let done = sqlx::query(
            "UPDATE maintenance_runs SET claimed_slot = ?2, claimed_by = ?3 \
             WHERE task = ?1 AND (claimed_slot IS NULL OR claimed_slot < ?2)",
        )
        .bind(task)
        .bind(ts(slot))
        .bind(holder)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_maintenance_success(
        &self,
        task: &str,
        at: DateTime<Utc>,
        result: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO maintenance_runs (task, last_success_at, last_result) VALUES (?1, ?2, ?3) \
             ON CONFLICT (task) DO UPDATE SET last_success_at = excluded.last_success_at, \
             last_result = excluded.last_result",
        )
        .bind(task)
        .bind(ts(at))
        .bind(result)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn maintenance_runs(&self) -> Result<Vec<MaintenanceRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT task, claimed_slot, claimed_by, last_success_at, last_result \
             FROM maintenance_runs ORDER BY task",
        )
        .fetch_all(self.pool())
        .await
        .map_err(classify)?;
        let opt_ts = |r: &sqlx::sqlite::SqliteRow, col: &str| -> Result<_, StoreError> {
            let text: Option<String> = r.try_get(col).map_err(classify)?;
            text.as_deref().map(parse_ts).transpose()
        };
        rows.iter()
            .map(|r| {
                Ok(MaintenanceRun {
                    task: r.try_get("task").map_err(classify)?,
                    claimed_slot: opt_ts(r, "claimed_slot")?,
                    claimed_by: r.try_get("claimed_by").map_err(classify)?,
                    last_success_at: opt_ts(r, "last_success_at")?,
                    last_result: r.try_get("last_result").map_err(classify)?,
                })
            })
            .collect()
    }

    async fn prune(&self, p: &RetentionPolicy, dry_run: bool) -> Result<Pruned, StoreError> {
        let pool = self.pool();
        let (reports_before, holdings_before, alerts_before, orphans_before, now) = (
            ts(p.reports_before),
            ts(p.removed_holdings_before),
            ts(p.alerts_before),
            ts(p.orphans_first_seen_before),
            ts(p.now),
        );
        if dry_run {
            let counted = |sql: &str| for_sqlite(&format!("SELECT count(*) FROM ({sql}) c"));
            let reports: i64 = sqlx::query_scalar(&counted(REPORT_CANDIDATES))
                .bind(&reports_before)
                .fetch_one(pool)
                .await
                .map_err(classify)?;
            let holdings: i64 = sqlx::query_scalar(&counted(HOLDING_CANDIDATES))
                .bind(&holdings_before)
                .fetch_one(pool)
                .await
                .map_err(classify)?;
            let certificates: i64 = sqlx::query_scalar(&counted(CERTIFICATE_CANDIDATES))
                .bind(&orphans_before)
                .bind(&holdings_before)
                .fetch_one(pool)
                .await
                .map_err(classify)?;
            let events: i64 = sqlx::query_scalar(&counted(ALERT_CANDIDATES))
                .bind(&alerts_before)
                .bind(&now)
                .fetch_one(pool)
                .await
                .map_err(classify)?;
            let deliveries: i64 = sqlx::query_scalar(&for_sqlite(&format!(
                "SELECT count(*) FROM alert_deliveries WHERE event_id IN ({ALERT_CANDIDATES})"
            )))
            .bind(&alerts_before)
            .bind(&now)
            .fetch_one(pool)
            .await
            .map_err(classify)?;
            return Ok(Pruned {
                reports: count(reports),
                holdings: count(holdings),
                certificates: count(certificates),
                alert_events: count(events),
                alert_deliveries: count(deliveries),
            });
        }
        // SQLite has one writer: each batch is its own short BEGIN IMMEDIATE transaction, so an
        // ingest waits for at most one batch.
        let batch = u64::from(p.batch.max(1));
        let limit = i64::from(p.batch.max(1));
        let mut out = Pruned::default();
        let kinds: [(&str, Vec<&String>, &mut u64); 3] = [
            (REPORT_CANDIDATES, vec![&reports_before], &mut out.reports),
            (
                HOLDING_CANDIDATES,
                vec![&holdings_before],
                &mut out.holdings,
            ),
            (
                CERTIFICATE_CANDIDATES,
                vec![&orphans_before, &holdings_before],
                &mut out.certificates,
            ),
        ];
        for (candidates, params, total) in kinds {
            let target = match candidates {
                REPORT_CANDIDATES => "DELETE FROM reports WHERE id IN",
                HOLDING_CANDIDATES => "DELETE FROM holdings WHERE (terminal_id, sha256) IN",
                _ => "DELETE FROM certificates WHERE sha256 IN",
            };
            let limit_param = params.len() + 1;
            let sql = for_sqlite(&format!("{target} ({candidates} LIMIT ${limit_param})"));
            loop {
                let mut tx = self.begin_write().await?;
                let mut q = sqlx::query(&sql);
                for param in &params {
                    q = q.bind(*param);
                }
                let n = q
                    .bind(limit)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?
                    .rows_affected();
                tx.commit().await.map_err(classify)?;
                *total += n;
                if n < batch {
                    break;
                }
            }
        }
        let select = for_sqlite(&format!("{ALERT_CANDIDATES} LIMIT $3"));
        loop {
            let mut tx = self.begin_write().await?;
            let ids: Vec<i64> = sqlx::query_scalar(&select)
                .bind(&alerts_before)
                .bind(&now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
            for id in &ids {
                out.alert_deliveries +=
                    sqlx::query("DELETE FROM alert_deliveries WHERE event_id = ?1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?
                        .rows_affected();
                sqlx::query("DELETE FROM alert_events WHERE id = ?1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
            }
            tx.commit().await.map_err(classify)?;
            let n = u64::try_from(ids.len()).unwrap_or(u64::MAX);
            out.alert_events += n;
            if n < batch {
                break;
            }
        }
        Ok(out)
    }
}
