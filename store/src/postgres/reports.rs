//! PostgreSQL report queries. `report expiring` and the fleet-wide reports read `pair_expiry`
//! (migrations 0004, 0006 and 0007: each live pair with its effective certificate and its
//! terminal's names, kept by triggers); the terminal page reads one terminal's holdings. See
//! BENCHMARKS.md "## Reports" for the plans.

use async_trait::async_trait;
use certfleet_model::OfficeEntry;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use tokio_stream::StreamExt;

use super::PgStore;
use crate::reports::{
    PairExpiry, PairFilter, PairHolding, PairReportRow, PairRowFilter, ReportStore,
    TerminalActivity, TerminalFilter, TerminalInfo, decode_superseded,
};
use crate::{StoreError, TerminalId, classify};

/// Filters of the holdings query; `$1` offices, `$2` hostnames, `$3` terminal ids.
/// `cardinality(..) = 0` makes an empty list mean "all" without a second query text.
const FILTERS: &str = "t.revoked_at IS NULL AND t.pending_since IS NULL \
     AND (cardinality($1::text[]) = 0 OR h.office_number = ANY($1::text[])) \
     AND (cardinality($2::text[]) = 0 OR t.hostname = ANY($2::text[])) \
     AND (cardinality($3::bigint[]) = 0 OR h.terminal_id = ANY($3::bigint[]))";

/// Columns of a holding row, all on the holding (migration 0003 copies the certificate's).
const COLUMNS: &str = "h.terminal_id, h.office_number, h.not_before, h.not_after, \
     h.has_private_key, h.sha256";

fn holding_from_row(row: &PgRow) -> Result<PairHolding, StoreError> {
    Ok(PairHolding {
        terminal_id: row.try_get("terminal_id").map_err(classify)?,
        office_number: row.try_get("office_number").map_err(classify)?,
        not_before: row.try_get("not_before").map_err(classify)?,
        not_after: row.try_get("not_after").map_err(classify)?,
        has_private_key: row.try_get("has_private_key").map_err(classify)?,
        sha256: row.try_get("sha256").map_err(classify)?,
    })
}

#[async_trait]
impl ReportStore for PgStore {
    async fn office_holdings(&self, filter: &PairFilter) -> Result<Vec<PairHolding>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM holdings h \
             JOIN terminals t ON t.id = h.terminal_id \
             WHERE h.removed_at IS NULL AND h.office_number IS NOT NULL AND {FILTERS}"
        );
        let mut rows = sqlx::query(&sql)
            .bind(&filter.offices)
            .bind(&filter.hostnames)
            .bind(&filter.terminal_ids)
            .fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.next().await {
            out.push(holding_from_row(&row.map_err(classify)?)?);
        }
        Ok(out)
    }

    async fn pair_expiries(
        &self,
        terminal_ids: &[TerminalId],
        offices: &[String],
    ) -> Result<Vec<PairExpiry>, StoreError> {
        let mut rows = sqlx::query(
            "SELECT p.terminal_id, p.office_number, p.not_after \
             FROM pair_expiry p JOIN terminals t ON t.id = p.terminal_id \
             WHERE t.revoked_at IS NULL AND t.pending_since IS NULL \
               AND (cardinality($1::bigint[]) = 0 OR p.terminal_id = ANY($1::bigint[])) \
               AND (cardinality($2::text[]) = 0 OR p.office_number = ANY($2::text[])) \
             ORDER BY p.terminal_id, p.office_number",
        )
        .bind(terminal_ids)
        .bind(offices)
        .fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.next().await {
            let row = row.map_err(classify)?;
            out.push(PairExpiry {
                terminal_id: row.try_get("terminal_id").map_err(classify)?,
                office_number: row.try_get("office_number").map_err(classify)?,
                not_after: row.try_get("not_after").map_err(classify)?,
            });
        }
        Ok(out)
    }

    async fn pair_report_rows(
        &self,
        filter: &PairRowFilter,
        each: &mut (dyn FnMut(PairReportRow) + Send),
    ) -> Result<Vec<TerminalActivity>, StoreError> {
        // Everything a row shows but two terminal columns is on `pair_expiry` (migrations 0006
        // and 0007): one range of `pair_expiry_not_after`; no holdings, certificates or
        // registry. The two columns that change with every report come from `terminals` in a
        // second query on another connection at the same time; the report engine joins the
        // two, which costs less than a join in PostgreSQL over 100k terminals. `$1` is NULL in
        // the second form of the range (the check there is always true): one bind order for
        // both.
        let range = if filter.not_after_max.is_some() {
            "p.not_after <= $1"
        } else {
            "$1::timestamptz IS NULL"
        };
        let pair_filter = format!(
            "{range} \
             AND (cardinality($2::text[]) = 0 OR p.office_number = ANY($2::text[])) \
             AND (cardinality($3::text[]) = 0 OR p.terminal_id IN \
                  (SELECT id FROM terminals WHERE hostname = ANY($3::text[])))"
        );
        let pairs_sql = format!(
            "SELECT p.terminal_id, p.hostname, p.machine_id, p.office_number, p.office_name, \
                    p.not_after, p.has_private_key, p.sha256, p.serial, p.subject, p.issuer, \
                    p.superseded \
             FROM pair_expiry p WHERE {pair_filter}"
        );
        let activity_sql = format!(
            "SELECT t.id, t.last_report_at, t.office_count FROM terminals t \
             WHERE t.revoked_at IS NULL AND t.pending_since IS NULL \
               AND t.id IN (SELECT p.terminal_id FROM pair_expiry p WHERE {pair_filter})"
        );
        // Not cached prepared statements: PostgreSQL then plans each run for its own
        // parameters. A cached statement soon gets the generic plan, which cannot know that
        // `--office` makes this a few index probes, nor how much of the range the cutoff keeps.
        let pairs = async {
            let mut rows = sqlx::query(&pairs_sql)
                .persistent(false)
                .bind(filter.not_after_max)
                .bind(&filter.offices)
                .bind(&filter.hostnames)
                .fetch(&self.pool);
            // Columns by position, in the order of the SELECT: 20k rows × 12 name lookups
            // are measurable next to the decoding itself.
            while let Some(row) = rows.next().await {
                let row = row.map_err(classify)?;
                let get = |e| classify(e);
                let superseded: Option<&str> = row.try_get(11).map_err(get)?;
                each(PairReportRow {
                    terminal_id: row.try_get(0).map_err(get)?,
                    hostname: row.try_get(1).map_err(get)?,
                    machine_id: row.try_get(2).map_err(get)?,
                    office_number: row.try_get(3).map_err(get)?,
                    office_name: row.try_get(4).map_err(get)?,
                    not_after: row.try_get(5).map_err(get)?,
                    has_private_key: row.try_get(6).map_err(get)?,
                    sha256: row.try_get(7).map_err(get)?,
                    serial: row.try_get(8).map_err(get)?,
                    subject: row.try_get(9).map_err(get)?,
                    issuer: row.try_get(10).map_err(get)?,
                    superseded: decode_superseded(superseded)?,
                });
            }
            Ok::<_, StoreError>(())
        };
        // Its own task, so its rows are decoded on another worker thread while this one
        // decodes the pairs; the set aborts it if the pairs fail first.
        let mut activity = tokio::task::JoinSet::new();
        activity.spawn({
            let pool = self.pool.clone();
            let filter = filter.clone();
            async move {
                let mut rows = sqlx::query(&activity_sql)
                    .persistent(false)
                    .bind(filter.not_after_max)
                    .bind(&filter.offices)
                    .bind(&filter.hostnames)
                    .fetch(&pool);
                let mut out = Vec::new();
                while let Some(row) = rows.next().await {
                    let row = row.map_err(classify)?;
                    let office_count: i32 = row.try_get(2).map_err(classify)?;
                    out.push(TerminalActivity {
                        id: row.try_get(0).map_err(classify)?,
                        last_report_at: row.try_get(1).map_err(classify)?,
                        office_count: u32::try_from(office_count).unwrap_or(0),
                    });
                }
                Ok::<_, StoreError>(out)
            }
        });
        pairs.await?;
        match activity.join_next().await.expect("one task was spawned") {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: only when the runtime shuts down.
            Err(_) => Err(crate::classify(sqlx::Error::PoolClosed)),
        }
    }

    async fn report_terminals(
        &self,
        filter: &TerminalFilter,
    ) -> Result<Vec<TerminalInfo>, StoreError> {
        let mut rows = sqlx::query(
            "SELECT id, machine_id, hostname, os_name, os_version, agent_version, last_report_at, \
                    office_count \
             FROM terminals t \
             WHERE revoked_at IS NULL AND pending_since IS NULL \
               AND (cardinality($1::bigint[]) = 0 OR id = ANY($1::bigint[])) \
               AND (cardinality($2::text[]) = 0 OR hostname = ANY($2::text[])) \
               AND ($3::timestamptz IS NULL OR last_report_at IS NULL OR last_report_at < $3) \
             ORDER BY hostname, id",
        )
        .bind(&filter.ids)
        .bind(&filter.hostnames)
        .bind(filter.not_reported_since)
        .fetch(&self.pool);
        // Streamed: 100k decoded terminals must not sit next to 100k raw rows in memory.
        let mut out = Vec::new();
        while let Some(row) = rows.next().await {
            let row = row.map_err(classify)?;
            out.push(TerminalInfo {
                id: row.try_get("id").map_err(classify)?,
                machine_id: row.try_get("machine_id").map_err(classify)?,
                hostname: row.try_get("hostname").map_err(classify)?,
                os_name: row.try_get("os_name").map_err(classify)?,
                os_version: row.try_get("os_version").map_err(classify)?,
                agent_version: row.try_get("agent_version").map_err(classify)?,
                last_report_at: row.try_get("last_report_at").map_err(classify)?,
                office_count: u32::try_from(
                    row.try_get::<i32, _>("office_count").map_err(classify)?,
                )
                .unwrap_or(0),
            });
        }
        Ok(out)
    }

    async fn upsert_offices(
        &self,
        entries: &[OfficeEntry],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let mut changed = 0;
        for e in entries {
            let r = sqlx::query(
                "INSERT INTO office_registry (office_number, name, site, owner_email, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (office_number) DO UPDATE SET name = EXCLUDED.name, \
                   site = EXCLUDED.site, owner_email = EXCLUDED.owner_email, \
                   updated_at = EXCLUDED.updated_at \
                 WHERE (office_registry.name, office_registry.site, office_registry.owner_email) \
                   IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.site, EXCLUDED.owner_email)",
            )
            .bind(&e.office_number)
            .bind(&e.name)
            .bind(&e.site)
            .bind(&e.owner_email)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
            changed += r.rows_affected();
        }
        tx.commit().await.map_err(classify)?;
        Ok(changed)
    }

    async fn list_offices(&self) -> Result<Vec<OfficeEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT office_number, name, site, owner_email FROM office_registry \
             ORDER BY office_number",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|row| {
                Ok(OfficeEntry {
                    office_number: row.try_get("office_number").map_err(classify)?,
                    name: row.try_get("name").map_err(classify)?,
                    site: row.try_get("site").map_err(classify)?,
                    owner_email: row.try_get("owner_email").map_err(classify)?,
                })
            })
            .collect()
    }
}
