//! PostgreSQL implementation of [`Store`]: the production backend shared by collector replicas.
//!
//! Ingest serializes per terminal with `SELECT … FOR UPDATE` on the terminal row, writes
//! holdings in batched `UNNEST` statements (a snapshot costs the same few round trips whatever
//! its size) and relies on the `reports.report_id` unique constraint for idempotency across
//! replicas.

// Report queries (issue 4) live in a child module so they can use the pool directly.
mod reports;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

use super::{
    AuthenticatedTerminal, CONFLICT_RETRIES, CertificateRecord, Enrollment, HoldingRecord,
    IngestOutcome, Location, Plan, Snapshot, Store, StoreError, TerminalId, TerminalState,
    TerminalSummary, classify, effective_scanned_at, from_json, is_conflict,
    normalized_certificates, normalized_holdings, resolve_selector, selector_id, to_json,
};

/// This binary's PostgreSQL migrations (tolerating a newer release's: see `schema`).
pub(crate) fn migrator() -> sqlx::migrate::Migrator {
    crate::schema::tolerant(sqlx::migrate!("migrations/postgres"))
}

/// How long a request waits for a pooled connection before answering UNAVAILABLE. While the
/// server restarts, sqlx keeps retrying the connection within this window, so a short restart
/// delays requests instead of failing them; past it, the agent's backoff is the better queue.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The store on a PostgreSQL server.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

const SUMMARY_COLUMNS: &str = "t.id, t.machine_id, t.hostname, t.os_name, t.os_version, \
     t.agent_version, t.enrolled_at, t.last_report_at, t.revoked_at, t.pending_since, \
     t.enrolled_from, (SELECT count(*) FROM holdings h WHERE h.terminal_id = t.id AND h.removed_at IS NULL) \
     AS certificate_count";

impl PgStore {
    /// Connects (failing fast with [`StoreError::Unavailable`] when the server is down) and
    /// applies pending migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<PgStore, StoreError> {
        let store = Self::connect_pool(url, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without changing the schema, and checks that it is this binary's (every
    /// migration applied, none changed): for every command except `serve` and `migrate`.
    pub async fn connect_existing(url: &str, max_connections: u32) -> Result<PgStore, StoreError> {
        let store = Self::connect_pool(url, max_connections).await?;
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&store.pool)
            .await
            .map_err(classify)?;
        let applied = if exists {
            let rows = sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations")
                .fetch_all(&store.pool)
                .await
                .map_err(classify)?;
            let applied = rows
                .iter()
                .map(|r| {
                    Ok(crate::schema::Applied {
                        version: r.try_get("version").map_err(classify)?,
                        checksum: r.try_get("checksum").map_err(classify)?,
                        success: r.try_get("success").map_err(classify)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Some(applied)
        } else {
            None
        };
        crate::schema::compare(&migrator(), applied, "the PostgreSQL database")?;
        Ok(store)
    }

    async fn connect_pool(url: &str, max_connections: u32) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // Connections that died with a restarted server are detected here and replaced,
            // so the collector recovers without a restart.
            .test_before_acquire(true)
            .connect(url)
            .await
            .map_err(classify)?;
        Ok(PgStore { pool })
    }

    /// The pool, for the report queries that live next to this module.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The common case in one statement (one round trip, no explicit transaction): a snapshot
    /// whose digest equals the stored one and that is not older. The CTE locks the terminal row
    /// only if those conditions hold (re-checked on the newest row version after a lock wait),
    /// records the report, and moves `last_seen` and the terminal's timestamps only if the
    /// report id was new. Returns `None` when the conditions do not hold; the full
    /// transactional path then decides (revoked, unknown, superseded, changed).
    async fn try_unchanged(
        &self,
        terminal: TerminalId,
        snapshot: &Snapshot,
    ) -> Result<Option<IngestOutcome>, StoreError> {
        if snapshot.holdings_digest.is_empty() {
            return Ok(None);
        }
        let f = &snapshot.facts;
        let row = sqlx::query(
            "WITH t AS ( \
               SELECT id FROM terminals \
               WHERE id = $1 AND revoked_at IS NULL AND holdings_digest = $2 \
                 AND (last_scanned_at IS NULL OR last_scanned_at <= $3) \
               FOR UPDATE \
             ), r AS ( \
               INSERT INTO reports (report_id, terminal_id, scanned_at, received_at, outcome, \
                 certificate_count, rejected_count, scan_errors) \
               SELECT $4, t.id, $5, $6, 'unchanged', $7, $8, $9::jsonb FROM t \
               ON CONFLICT (terminal_id, report_id) DO NOTHING \
               RETURNING terminal_id \
             ), h AS ( \
               UPDATE holdings SET last_seen = $6 FROM r \
               WHERE holdings.terminal_id = r.terminal_id AND holdings.removed_at IS NULL \
             ), u AS ( \
               UPDATE terminals SET hostname = $10, os_name = $11, os_version = $12, \
                 agent_version = $13, last_report_at = $6, \
                 first_report_at = COALESCE(first_report_at, $6), last_scanned_at = $3 \
               FROM r WHERE terminals.id = r.terminal_id \
             ) \
             SELECT (SELECT count(*) FROM t) AS matched, (SELECT count(*) FROM r) AS inserted",
        )
        .bind(terminal)
        .bind(&snapshot.holdings_digest)
        .bind(effective_scanned_at(snapshot))
        .bind(&snapshot.report_id)
        .bind(snapshot.scanned_at)
        .bind(snapshot.received_at)
        .bind(i32::try_from(normalized_holdings(snapshot).len()).unwrap_or(i32::MAX))
        .bind(i32::try_from(snapshot.rejected_count).unwrap_or(i32::MAX))
        .bind(to_json(&snapshot.scan_errors)?)
        .bind(&f.hostname)
        .bind(&f.os_name)
        .bind(&f.os_version)
        .bind(&f.agent_version)
        .fetch_one(&self.pool)
        .await;
        let row = match row {
            Ok(row) => row,
            // A concurrent replica inserted the same report id first.
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Ok(Some(IngestOutcome::Duplicate));
            }
            Err(e) => return Err(classify(e)),
        };
        let matched: i64 = row.try_get("matched").map_err(classify)?;
        let inserted: i64 = row.try_get("inserted").map_err(classify)?;
        Ok(match (matched, inserted) {
            (0, _) => None,
            (_, 0) => Some(IngestOutcome::Duplicate),
            _ => Some(IngestOutcome::Unchanged),
        })
    }

    async fn ingest_once(
        &self,
        terminal: TerminalId,
        snapshot: &Snapshot,
    ) -> Result<IngestOutcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        // The row lock orders concurrent snapshots of one terminal (two replicas, or a spooled
        // snapshot racing a fresh one): the second sees the first's last_scanned_at.
        let row = sqlx::query(
            "SELECT last_scanned_at, holdings_digest, revoked_at IS NOT NULL AS revoked \
             FROM terminals WHERE id = $1 FOR UPDATE",
        )
        .bind(terminal)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let Some(row) = row else {
            return Err(StoreError::NoSuchTerminal(terminal.to_string()));
        };
        let state = TerminalState {
            last_scanned_at: row.try_get("last_scanned_at").map_err(classify)?,
            holdings_digest: row.try_get("holdings_digest").map_err(classify)?,
            revoked: row.try_get("revoked").map_err(classify)?,
        };
        if state.revoked {
            return Err(StoreError::Revoked(terminal));
        }
        let plan = Plan::decide(&state, snapshot);
        let holdings = normalized_holdings(snapshot);

        // ON CONFLICT DO NOTHING waits for a concurrent insert of the same id (another
        // replica) and then yields no row: exactly one of them proceeds.
        let inserted = sqlx::query(
            "INSERT INTO reports (report_id, terminal_id, scanned_at, received_at, outcome, \
             certificate_count, rejected_count, scan_errors) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) \
             ON CONFLICT (terminal_id, report_id) DO NOTHING RETURNING id",
        )
        .bind(&snapshot.report_id)
        .bind(terminal)
        .bind(snapshot.scanned_at)
        .bind(snapshot.received_at)
        .bind(plan.outcome_label())
        .bind(i32::try_from(holdings.len()).unwrap_or(i32::MAX))
        .bind(i32::try_from(snapshot.rejected_count).unwrap_or(i32::MAX))
        .bind(to_json(&snapshot.scan_errors)?)
        .fetch_optional(&mut *tx)
        .await;
        match inserted {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(IngestOutcome::Duplicate),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Ok(IngestOutcome::Duplicate);
            }
            Err(e) => return Err(classify(e)),
        }

        let received = snapshot.received_at;
        match plan {
            Plan::Superseded => {
                // The terminal is alive even though this snapshot is stale.
                sqlx::query(
                    "UPDATE terminals SET last_report_at = GREATEST(last_report_at, $2), \
                     first_report_at = COALESCE(first_report_at, $2) WHERE id = $1",
                )
                .bind(terminal)
                .bind(received)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            }
            Plan::Unchanged => {
                // The common case: same holdings as last time. Certificates are already stored
                // (the holdings reference them), so only the timestamps move.
                sqlx::query(
                    "UPDATE holdings SET last_seen = $2 \
                     WHERE terminal_id = $1 AND removed_at IS NULL",
                )
                .bind(terminal)
                .bind(received)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                self.update_terminal(&mut tx, terminal, snapshot, None)
                    .await?;
            }
            Plan::Replace => {
                insert_certificates(&mut tx, snapshot).await?;
                let mut sha256s = Vec::with_capacity(holdings.len());
                let mut locations = Vec::with_capacity(holdings.len());
                let mut keys = Vec::with_capacity(holdings.len());
                let mut names = Vec::with_capacity(holdings.len());
                for h in &holdings {
                    sha256s.push(h.sha256.as_str());
                    locations.push(to_json(&h.locations)?);
                    keys.push(h.has_private_key);
                    names.push(h.friendly_name.as_str());
                }
                // A holding seen again is revived (removed_at cleared) but keeps first_seen.
                sqlx::query(
                    "INSERT INTO holdings (terminal_id, sha256, locations, has_private_key, \
                     friendly_name, first_seen, last_seen, removed_at) \
                     SELECT $1, u.sha256, u.locations::jsonb, u.has_key, u.friendly_name, $2, $2, NULL \
                     FROM UNNEST($3::text[], $4::text[], $5::bool[], $6::text[]) \
                       AS u(sha256, locations, has_key, friendly_name) \
                     ON CONFLICT (terminal_id, sha256) DO UPDATE SET \
                       locations = EXCLUDED.locations, \
                       has_private_key = EXCLUDED.has_private_key, \
                       friendly_name = EXCLUDED.friendly_name, \
                       last_seen = EXCLUDED.last_seen, \
                       removed_at = NULL",
                )
                .bind(terminal)
                .bind(received)
                .bind(&sha256s)
                .bind(&locations)
                .bind(&keys)
                .bind(&names)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                sqlx::query(
                    "UPDATE holdings SET removed_at = $2 \
                     WHERE terminal_id = $1 AND removed_at IS NULL AND sha256 <> ALL($3::text[])",
                )
                .bind(terminal)
                .bind(received)
                .bind(&sha256s)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                self.update_terminal(&mut tx, terminal, snapshot, Some(&snapshot.holdings_digest))
                    .await?;
                // The triggers have moved `pair_expiry`; a tracked pair that now ends later
                // was renewed (issue 17 §1).
                crate::tracking::pg::renew_tracked_pairs(&mut tx, terminal, received).await?;
            }
        }
        tx.commit().await.map_err(classify)?;
        Ok(plan.outcome())
    }

    /// Moves the terminal's facts and timestamps to this snapshot; `digest` is `None` when the
    /// holdings did not change.
    async fn update_terminal(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        terminal: TerminalId,
        snapshot: &Snapshot,
        digest: Option<&str>,
    ) -> Result<(), StoreError> {
        let f = &snapshot.facts;
        sqlx::query(
            "UPDATE terminals SET hostname = $2, os_name = $3, os_version = $4, \
             agent_version = $5, last_report_at = $6, \
             first_report_at = COALESCE(first_report_at, $6), last_scanned_at = $7, \
             holdings_digest = COALESCE($8, holdings_digest) WHERE id = $1",
        )
        .bind(terminal)
        .bind(&f.hostname)
        .bind(&f.os_name)
        .bind(&f.os_version)
        .bind(&f.agent_version)
        .bind(snapshot.received_at)
        .bind(effective_scanned_at(snapshot))
        .bind(digest)
        .execute(&mut **tx)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn summary_by_id(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        id: TerminalId,
    ) -> Result<Option<TerminalSummary>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM terminals t WHERE t.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(classify)?;
        row.as_ref().map(summary_from_row).transpose()
    }
}

/// Inserts the snapshot's certificates that are not stored yet, in one statement.
async fn insert_certificates(
    tx: &mut Transaction<'static, Postgres>,
    snapshot: &Snapshot,
) -> Result<(), StoreError> {
    let certs = normalized_certificates(snapshot);
    if certs.is_empty() {
        return Ok(());
    }
    let n = certs.len();
    let (mut sha256, mut sha1, mut der, mut subject, mut issuer) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut subject_cn, mut issuer_cn, mut serial) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut not_before, mut not_after, mut client_auth, mut office) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for c in certs {
        sha256.push(c.sha256.as_str());
        sha1.push(c.sha1.as_str());
        der.push(c.der.as_slice());
        subject.push(c.subject.as_str());
        issuer.push(c.issuer.as_str());
        subject_cn.push(c.subject_cn.as_deref());
        issuer_cn.push(c.issuer_cn.as_deref());
        serial.push(c.serial.as_str());
        not_before.push(c.not_before);
        not_after.push(c.not_after);
        client_auth.push(c.client_auth);
        office.push(c.office_number.as_deref());
    }
    sqlx::query(
        "INSERT INTO certificates (sha256, sha1, der, subject, issuer, subject_cn, issuer_cn, \
         serial, not_before, not_after, client_auth, office_number, first_seen) \
         SELECT u.*, $13 FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::text[], \
           $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], \
           $10::timestamptz[], $11::bool[], $12::text[]) AS u \
         ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(&sha256)
    .bind(&sha1)
    .bind(&der)
    .bind(&subject)
    .bind(&issuer)
    .bind(&subject_cn)
    .bind(&issuer_cn)
    .bind(&serial)
    .bind(&not_before)
    .bind(&not_after)
    .bind(&client_auth)
    .bind(&office)
    .bind(snapshot.received_at)
    .execute(&mut **tx)
    .await
    .map_err(classify)?;
    Ok(())
}

fn summary_from_row(row: &PgRow) -> Result<TerminalSummary, StoreError> {
    let get = |e| classify(e);
    Ok(TerminalSummary {
        id: row.try_get("id").map_err(get)?,
        machine_id: row.try_get("machine_id").map_err(get)?,
        hostname: row.try_get("hostname").map_err(get)?,
        os_name: row.try_get("os_name").map_err(get)?,
        os_version: row.try_get("os_version").map_err(get)?,
        agent_version: row.try_get("agent_version").map_err(get)?,
        enrolled_at: row.try_get("enrolled_at").map_err(get)?,
        last_report_at: row.try_get("last_report_at").map_err(get)?,
        revoked_at: row.try_get("revoked_at").map_err(get)?,
        certificate_count: row.try_get("certificate_count").map_err(get)?,
        pending_since: row.try_get("pending_since").map_err(get)?,
        enrolled_from: row.try_get("enrolled_from").map_err(get)?,
    })
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx holds an advisory lock while migrating, so replicas starting together are safe.
        migrator().run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn enroll_terminal(&self, e: &Enrollment<'_>) -> Result<TerminalId, StoreError> {
        let facts = e.facts;
        // One statement: insert, or replace key and facts of a non-revoked terminal when the
        // caller may (operator, current key presented, or the token of a reset presented).
        // Otherwise the WHERE fails and no row returns. enrolled_at keeps the first enrollment,
        // pending_since is only ever set on the new row.
        let id: Option<TerminalId> = sqlx::query_scalar(
            "INSERT INTO terminals (machine_id, hostname, os_name, os_version, agent_version, \
             node_key_hash, enrolled_at, pending_since, enrolled_from) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $10 THEN $7 END, $11) \
             ON CONFLICT (machine_id) DO UPDATE SET node_key_hash = EXCLUDED.node_key_hash, \
               hostname = EXCLUDED.hostname, os_name = EXCLUDED.os_name, \
               os_version = EXCLUDED.os_version, agent_version = EXCLUDED.agent_version, \
               enrolled_from = COALESCE(EXCLUDED.enrolled_from, terminals.enrolled_from) \
             WHERE terminals.revoked_at IS NULL AND ($8 OR terminals.node_key_hash = $9 \
               OR terminals.node_key_hash = 'reset:' || $9) \
             RETURNING id",
        )
        .bind(&facts.machine_id)
        .bind(&facts.hostname)
        .bind(&facts.os_name)
        .bind(&facts.os_version)
        .bind(&facts.agent_version)
        .bind(e.node_key_hash)
        .bind(e.now)
        .bind(e.authority.is_operator())
        .bind(e.authority.presented())
        .bind(e.pending)
        .bind(e.peer)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        if let Some(id) = id {
            return Ok(id);
        }
        let (existing, revoked): (TerminalId, bool) = sqlx::query_as(
            "SELECT id, revoked_at IS NOT NULL FROM terminals WHERE machine_id = $1",
        )
        .bind(&facts.machine_id)
        .fetch_one(&self.pool)
        .await
        .map_err(classify)?;
        Err(if revoked {
            StoreError::Revoked(existing)
        } else {
            StoreError::AlreadyEnrolled(existing)
        })
    }

    async fn pending_terminals(&self) -> Result<Vec<TerminalSummary>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM terminals t \
             WHERE t.pending_since IS NOT NULL AND t.revoked_at IS NULL \
             ORDER BY t.pending_since, t.id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter().map(summary_from_row).collect()
    }

    async fn approve_terminal(
        &self,
        id: TerminalId,
        _now: DateTime<Utc>,
    ) -> Result<TerminalSummary, StoreError> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        sqlx::query(
            "UPDATE terminals SET pending_since = NULL WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        let summary = self
            .summary_by_id(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NoSuchTerminal(id.to_string()))?;
        tx.commit().await.map_err(classify)?;
        if summary.revoked_at.is_some() {
            return Err(StoreError::Revoked(id));
        }
        Ok(summary)
    }

    async fn authenticate(
        &self,
        node_key_hash: &str,
    ) -> Result<Option<AuthenticatedTerminal>, StoreError> {
        let row = sqlx::query(
            "SELECT id, machine_id, revoked_at IS NOT NULL AS revoked \
             FROM terminals WHERE node_key_hash = $1",
        )
        .bind(node_key_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.map(|row| {
            Ok(AuthenticatedTerminal {
                id: row.try_get("id").map_err(classify)?,
                machine_id: row.try_get("machine_id").map_err(classify)?,
                revoked: row.try_get("revoked").map_err(classify)?,
            })
        })
        .transpose()
    }

    async fn ingest(
        &self,
        terminal: TerminalId,
        snapshot: &Snapshot,
    ) -> Result<IngestOutcome, StoreError> {
        if let Some(outcome) = self.try_unchanged(terminal, snapshot).await? {
            return Ok(outcome);
        }
        let mut attempt = 0;
        loop {
            match self.ingest_once(terminal, snapshot).await {
                Err(e) if is_conflict(&e) && attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                    tracing::debug!(terminal, attempt, "ingest retried after a conflict: {e}");
                }
                other => return other,
            }
        }
    }

    async fn list_terminals(&self) -> Result<Vec<TerminalSummary>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM terminals t ORDER BY t.id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter().map(summary_from_row).collect()
    }

    async fn find_terminal(&self, selector: &str) -> Result<TerminalSummary, StoreError> {
        let selector = selector.trim();
        let rows = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM terminals t \
             WHERE t.id = $1 OR t.machine_id = $2 OR t.hostname = $2 ORDER BY t.id"
        ))
        .bind(selector_id(selector))
        .bind(selector)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        let candidates = rows
            .iter()
            .map(summary_from_row)
            .collect::<Result<_, _>>()?;
        resolve_selector(selector, candidates)
    }

    async fn revoke_terminal(
        &self,
        id: TerminalId,
        now: DateTime<Utc>,
    ) -> Result<TerminalSummary, StoreError> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        // Revoking twice keeps the first time.
        sqlx::query("UPDATE terminals SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let summary = self
            .summary_by_id(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NoSuchTerminal(id.to_string()))?;
        tx.commit().await.map_err(classify)?;
        Ok(summary)
    }

    async fn holdings(&self, terminal: TerminalId) -> Result<Vec<HoldingRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT terminal_id, sha256, locations::text AS locations, has_private_key, \
             friendly_name, first_seen, last_seen, removed_at \
             FROM holdings WHERE terminal_id = $1 ORDER BY sha256",
        )
        .bind(terminal)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|row| {
                let locations: String = row.try_get("locations").map_err(classify)?;
                Ok(HoldingRecord {
                    terminal_id: row.try_get("terminal_id").map_err(classify)?,
                    sha256: row.try_get("sha256").map_err(classify)?,
                    locations: from_json::<Vec<Location>>(&locations)?,
                    has_private_key: row.try_get("has_private_key").map_err(classify)?,
                    friendly_name: row.try_get("friendly_name").map_err(classify)?,
                    first_seen: row.try_get("first_seen").map_err(classify)?,
                    last_seen: row.try_get("last_seen").map_err(classify)?,
                    removed_at: row.try_get("removed_at").map_err(classify)?,
                })
            })
            .collect()
    }

    async fn report_count(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT count(*) FROM reports")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)
    }

    async fn certificate(&self, sha256: &str) -> Result<Option<CertificateRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT sha256, sha1, der, subject, issuer, subject_cn, issuer_cn, serial, \
             not_before, not_after, client_auth, office_number FROM certificates WHERE sha256 = $1",
        )
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.map(|row| {
            Ok(CertificateRecord {
                sha256: row.try_get("sha256").map_err(classify)?,
                sha1: row.try_get("sha1").map_err(classify)?,
                der: row.try_get("der").map_err(classify)?,
                subject: row.try_get("subject").map_err(classify)?,
                issuer: row.try_get("issuer").map_err(classify)?,
                subject_cn: row.try_get("subject_cn").map_err(classify)?,
                issuer_cn: row.try_get("issuer_cn").map_err(classify)?,
                serial: row.try_get("serial").map_err(classify)?,
                not_before: row.try_get("not_before").map_err(classify)?,
                not_after: row.try_get("not_after").map_err(classify)?,
                client_auth: row.try_get("client_auth").map_err(classify)?,
                office_number: row.try_get("office_number").map_err(classify)?,
            })
        })
        .transpose()
    }
}
