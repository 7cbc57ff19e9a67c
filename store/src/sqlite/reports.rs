//! SQLite report queries: the same shapes as the PostgreSQL ones. Lists are bound as JSON
//! arrays and expanded with `json_each`, since SQLite has no array parameters.

use async_trait::async_trait;
use certfleet_model::OfficeEntry;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use tokio_stream::StreamExt;

use super::{SqliteStore, get_opt_ts, get_ts, ts};
use crate::reports::{
    PairExpiry, PairFilter, PairHolding, PairReportRow, PairRowFilter, ReportStore,
    TerminalActivity, TerminalFilter, TerminalInfo, decode_superseded,
};
use crate::{StoreError, TerminalId, classify, to_json};

/// `?1` offices, `?2` hostnames, `?3` terminal ids (JSON arrays; empty means all).
const FILTERS: &str = "t.revoked_at IS NULL AND t.pending_since IS NULL \
     AND (json_array_length(?1) = 0 OR h.office_number IN (SELECT value FROM json_each(?1))) \
     AND (json_array_length(?2) = 0 OR t.hostname IN (SELECT value FROM json_each(?2))) \
     AND (json_array_length(?3) = 0 OR h.terminal_id IN (SELECT value FROM json_each(?3)))";

/// Columns of a holding row, all on the holding (migration 0003 copies the certificate's).
const COLUMNS: &str = "h.terminal_id, h.office_number, h.not_before, h.not_after, \
     h.has_private_key, h.sha256";

fn holding_from_row(row: &SqliteRow) -> Result<PairHolding, StoreError> {
    let key: Option<i64> = row.try_get("has_private_key").map_err(classify)?;
    Ok(PairHolding {
        terminal_id: row.try_get("terminal_id").map_err(classify)?,
        office_number: row.try_get("office_number").map_err(classify)?,
        not_before: get_ts(row, "not_before")?,
        not_after: get_ts(row, "not_after")?,
        has_private_key: key.map(|k| k != 0),
        sha256: row.try_get("sha256").map_err(classify)?,
    })
}

#[async_trait]
impl ReportStore for SqliteStore {
    async fn office_holdings(&self, filter: &PairFilter) -> Result<Vec<PairHolding>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM holdings h \
             JOIN terminals t ON t.id = h.terminal_id \
             WHERE h.removed_at IS NULL AND h.office_number IS NOT NULL AND {FILTERS}"
        );
        let mut rows = sqlx::query(&sql)
            .bind(to_json(&filter.offices)?)
            .bind(to_json(&filter.hostnames)?)
            .bind(to_json(&filter.terminal_ids)?)
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
               AND (json_array_length(?1) = 0 \
                    OR p.terminal_id IN (SELECT value FROM json_each(?1))) \
               AND (json_array_length(?2) = 0 \
                    OR p.office_number IN (SELECT value FROM json_each(?2))) \
             ORDER BY p.terminal_id, p.office_number",
        )
        .bind(to_json(&terminal_ids)?)
        .bind(to_json(&offices)?)
        .fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.next().await {
            let row = row.map_err(classify)?;
            out.push(PairExpiry {
                terminal_id: row.try_get("terminal_id").map_err(classify)?,
                office_number: row.try_get("office_number").map_err(classify)?,
                not_after: get_ts(&row, "not_after")?,
            });
        }
        Ok(out)
    }

    async fn pair_report_rows(
        &self,
        filter: &PairRowFilter,
        each: &mut (dyn FnMut(PairReportRow) + Send),
    ) -> Result<Vec<TerminalActivity>, StoreError> {
        // The PostgreSQL twin says why this is two reads; `?1` is NULL in the second form.
        let range = if filter.not_after_max.is_some() {
            "p.not_after <= ?1"
        } else {
            "?1 IS NULL"
        };
        let pair_filter = format!(
            "{range} \
             AND (json_array_length(?2) = 0 \
                  OR p.office_number IN (SELECT value FROM json_each(?2))) \
             AND (json_array_length(?3) = 0 \
                  OR p.terminal_id IN (SELECT id FROM terminals \
                                       WHERE hostname IN (SELECT value FROM json_each(?3))))"
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
        let (not_after_max, offices, hostnames) = (
            filter.not_after_max.map(ts),
            to_json(&filter.offices)?,
            to_json(&filter.hostnames)?,
        );
        let pairs = async {
            let mut rows = sqlx::query(&pairs_sql)
                .bind(&not_after_max)
                .bind(&offices)
                .bind(&hostnames)
                .fetch(&self.pool);
            while let Some(row) = rows.next().await {
                let row = row.map_err(classify)?;
                let key: Option<i64> = row.try_get("has_private_key").map_err(classify)?;
                let superseded: Option<String> = row.try_get("superseded").map_err(classify)?;
                each(PairReportRow {
                    terminal_id: row.try_get("terminal_id").map_err(classify)?,
                    hostname: row.try_get("hostname").map_err(classify)?,
                    machine_id: row.try_get("machine_id").map_err(classify)?,
                    office_number: row.try_get("office_number").map_err(classify)?,
                    office_name: row.try_get("office_name").map_err(classify)?,
                    not_after: get_ts(&row, "not_after")?,
                    has_private_key: key.map(|k| k != 0),
                    sha256: row.try_get("sha256").map_err(classify)?,
                    serial: row.try_get("serial").map_err(classify)?,
                    subject: row.try_get("subject").map_err(classify)?,
                    issuer: row.try_get("issuer").map_err(classify)?,
                    superseded: decode_superseded(superseded.as_deref())?,
                });
            }
            Ok::<_, StoreError>(())
        };
        let activity = async {
            let mut rows = sqlx::query(&activity_sql)
                .bind(&not_after_max)
                .bind(&offices)
                .bind(&hostnames)
                .fetch(&self.pool);
            let mut out = Vec::new();
            while let Some(row) = rows.next().await {
                let row = row.map_err(classify)?;
                let office_count: i64 = row.try_get("office_count").map_err(classify)?;
                out.push(TerminalActivity {
                    id: row.try_get("id").map_err(classify)?,
                    last_report_at: get_opt_ts(&row, "last_report_at")?,
                    office_count: u32::try_from(office_count).unwrap_or(0),
                });
            }
            Ok::<_, StoreError>(out)
        };
        let ((), activity) = tokio::try_join!(pairs, activity)?;
        Ok(activity)
    }

    async fn report_terminals(
        &self,
        filter: &TerminalFilter,
    ) -> Result<Vec<TerminalInfo>, StoreError> {
        let mut rows = sqlx::query(
            "SELECT id, machine_id, hostname, os_name, os_version, agent_version, last_report_at, \
                    office_count \
             FROM terminals \
             WHERE revoked_at IS NULL AND pending_since IS NULL \
               AND (json_array_length(?1) = 0 OR id IN (SELECT value FROM json_each(?1))) \
               AND (json_array_length(?2) = 0 OR hostname IN (SELECT value FROM json_each(?2))) \
               AND (?3 IS NULL OR last_report_at IS NULL OR last_report_at < ?3) \
             ORDER BY hostname, id",
        )
        .bind(to_json(&filter.ids)?)
        .bind(to_json(&filter.hostnames)?)
        .bind(filter.not_reported_since.map(ts))
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
                last_report_at: get_opt_ts(&row, "last_report_at")?,
                office_count: u32::try_from(
                    row.try_get::<i64, _>("office_count").map_err(classify)?,
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
        let mut tx = self.begin_write().await?;
        let mut changed = 0;
        for e in entries {
            let r = sqlx::query(
                "INSERT INTO office_registry (office_number, name, site, owner_email, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (office_number) DO UPDATE SET name = excluded.name, \
                   site = excluded.site, owner_email = excluded.owner_email, \
                   updated_at = excluded.updated_at \
                 WHERE office_registry.name IS NOT excluded.name \
                    OR office_registry.site IS NOT excluded.site \
                    OR office_registry.owner_email IS NOT excluded.owner_email",
            )
            .bind(&e.office_number)
            .bind(&e.name)
            .bind(&e.site)
            .bind(&e.owner_email)
            .bind(ts(now))
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
