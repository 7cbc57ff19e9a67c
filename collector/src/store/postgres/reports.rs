//! PostgreSQL report queries over the certificate fields copied onto holdings (migration 0003).
//! Candidate pairs of `report expiring` are an index range of `pair_expiry` (migration 0004),
//! their holdings come from `holdings_live_pair`; the fleet-wide reports read `pair_expiry`.
//! See BENCHMARKS.md "## Reports" for the plans.

use async_trait::async_trait;
use certfleet_model::OfficeEntry;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use tokio_stream::StreamExt;

use super::PgStore;
use crate::store::reports::{
    CertDetails, PairExpiry, PairFilter, PairHolding, ReportStore, TerminalFilter, TerminalInfo,
};
use crate::store::{StoreError, TerminalId, classify};

/// Filters shared by both holdings queries; `$2` offices, `$3` hostnames, `$4` terminal ids.
/// `cardinality(..) = 0` makes an empty list mean "all" without a second query text.
const FILTERS: &str = "t.revoked_at IS NULL \
     AND (cardinality($2::text[]) = 0 OR h.office_number = ANY($2::text[])) \
     AND (cardinality($3::text[]) = 0 OR t.hostname = ANY($3::text[])) \
     AND (cardinality($4::bigint[]) = 0 OR h.terminal_id = ANY($4::bigint[]))";

/// Columns of a holding row; details come from the certificate, the rest from the copies
/// on the holding (migration 0003), so the slim form needs no join with certificates.
fn columns(with_details: bool) -> (&'static str, &'static str) {
    if with_details {
        (
            "h.terminal_id, h.office_number, h.not_before, h.not_after, h.has_private_key, \
             h.sha256, c.serial, c.subject, c.issuer",
            "JOIN certificates c ON c.sha256 = h.sha256",
        )
    } else {
        (
            "h.terminal_id, h.office_number, h.not_before, h.not_after, h.has_private_key",
            "",
        )
    }
}

fn holding_from_row(row: &PgRow, with_details: bool) -> Result<PairHolding, StoreError> {
    let (sha256, details) = if with_details {
        let details = CertDetails {
            serial: row.try_get("serial").map_err(classify)?,
            subject: row.try_get("subject").map_err(classify)?,
            issuer: row.try_get("issuer").map_err(classify)?,
        };
        (
            row.try_get("sha256").map_err(classify)?,
            Some(Box::new(details)),
        )
    } else {
        (String::new(), None)
    };
    Ok(PairHolding {
        terminal_id: row.try_get("terminal_id").map_err(classify)?,
        office_number: row.try_get("office_number").map_err(classify)?,
        not_before: row.try_get("not_before").map_err(classify)?,
        not_after: row.try_get("not_after").map_err(classify)?,
        has_private_key: row.try_get("has_private_key").map_err(classify)?,
        sha256,
        details,
    })
}

#[async_trait]
impl ReportStore for PgStore {
    async fn office_holdings(&self, filter: &PairFilter) -> Result<Vec<PairHolding>, StoreError> {
        let (cols, cert_join) = columns(filter.with_details);
        let sql = match filter.candidate_not_after_max {
            // Candidate pairs first (an index range of `pair_expiry` up to the cutoff: exactly
            // the pairs whose effective certificate ends by then), then every live holding of
            // just those pairs, so Rust still picks the effective one and the superseded ones.
            Some(_) => format!(
                "WITH cand AS ( \
                   SELECT p.terminal_id, p.office_number FROM pair_expiry p \
                   WHERE p.not_after <= $1 \
                     AND (cardinality($2::text[]) = 0 OR p.office_number = ANY($2::text[])) \
                 ) \
                 SELECT {cols} FROM cand \
                 JOIN terminals t ON t.id = cand.terminal_id \
                 JOIN holdings h ON h.terminal_id = cand.terminal_id \
                      AND h.office_number = cand.office_number AND h.removed_at IS NULL \
                 {cert_join} \
                 WHERE {FILTERS}"
            ),
            None => format!(
                "SELECT {cols} FROM holdings h \
                 JOIN terminals t ON t.id = h.terminal_id \
                 {cert_join} \
                 WHERE h.removed_at IS NULL AND h.office_number IS NOT NULL \
                   AND $1::timestamptz IS NULL AND {FILTERS}"
            ),
        };
        // `$1` is NULL in the second form (the check there is always true): one bind order
        // serves both texts.
        let mut rows = sqlx::query(&sql)
            .bind(filter.candidate_not_after_max)
            .bind(&filter.offices)
            .bind(&filter.hostnames)
            .bind(&filter.terminal_ids)
            .fetch(&self.pool);
        // Streamed: 300k decoded rows must not sit next to 300k raw rows in memory.
        let mut out = Vec::new();
        while let Some(row) = rows.next().await {
            out.push(holding_from_row(
                &row.map_err(classify)?,
                filter.with_details,
            )?);
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
             WHERE t.revoked_at IS NULL \
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

    async fn terminal_office_counts(
        &self,
        ids: &[TerminalId],
    ) -> Result<Vec<(TerminalId, u32)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            // One `pair_expiry` row per live (terminal, office) pair: a primary-key range.
            "SELECT p.terminal_id, count(*) AS n FROM pair_expiry p \
             WHERE p.terminal_id = ANY($1::bigint[]) \
             GROUP BY p.terminal_id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("terminal_id").map_err(classify)?;
                let n: i64 = row.try_get("n").map_err(classify)?;
                Ok((id, u32::try_from(n).unwrap_or(u32::MAX)))
            })
            .collect()
    }

    async fn report_terminals(
        &self,
        filter: &TerminalFilter,
    ) -> Result<Vec<TerminalInfo>, StoreError> {
        let mut rows = sqlx::query(
            "SELECT id, machine_id, hostname, os_name, os_version, agent_version, last_report_at \
             FROM terminals t \
             WHERE revoked_at IS NULL \
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
