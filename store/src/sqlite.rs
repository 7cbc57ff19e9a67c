//! SQLite implementation of [`Store`]: the embedded, zero-setup default (one file in the data
//! directory).
//!
//! SQLite has one writer at a time, so every writing transaction starts with `BEGIN IMMEDIATE`:
//! it takes the write lock up front (waiting up to `busy_timeout`) instead of failing with
//! SQLITE_BUSY when a read-then-write transaction tries to upgrade. That also serializes
//! concurrent snapshots, which is what ingest needs. Timestamps are fixed-width UTC text (see
//! the migration) written by [`ts`].

// Report queries (issue 4) live in a child module so they can use the pool directly.
mod reports;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::schema::OpenMode;
use super::{
    AuthenticatedTerminal, CertificateRecord, Enrollment, HoldingRecord, IngestOutcome, Location,
    Plan, Snapshot, Store, StoreError, TerminalId, TerminalState, TerminalSummary, classify,
    effective_scanned_at, from_json, normalized_certificates, normalized_holdings,
    resolve_selector, selector_id, to_json,
};

/// This binary's SQLite migrations (tolerating a newer release's: see `schema`).
pub(crate) fn migrator() -> sqlx::migrate::Migrator {
    crate::schema::tolerant(sqlx::migrate!("migrations/sqlite"))
}

/// How long a writer waits for the write lock before the request fails as UNAVAILABLE.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The store in an SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

const SUMMARY_COLUMNS: &str = "t.id, t.machine_id, t.hostname, t.os_name, t.os_version, \
     t.agent_version, t.enrolled_at, t.last_report_at, t.revoked_at, t.pending_since, \
     t.enrolled_from, (SELECT count(*) FROM holdings h WHERE h.terminal_id = t.id AND h.removed_at IS NULL) \
     AS certificate_count";

/// The one text form of a timestamp in SQLite: `YYYY-MM-DDTHH:MM:SS.ffffffZ`. Fixed width so
/// that text order is time order; microseconds like PostgreSQL (finer digits are truncated).
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a timestamp written by [`ts`] (any RFC 3339 form is accepted).
pub fn parse_ts(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| crate::decode_error("a timestamp", e))
}

fn get_ts(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>, StoreError> {
    let text: String = row.try_get(column).map_err(classify)?;
    parse_ts(&text)
}

fn get_opt_ts(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let text: Option<String> = row.try_get(column).map_err(classify)?;
    text.as_deref().map(parse_ts).transpose()
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies migrations.
    pub async fn open_file(path: &Path, max_connections: u32) -> Result<SqliteStore, StoreError> {
        Self::open_file_in(path, max_connections, OpenMode::Migrate).await
    }

    /// Opens the database file at `path` as `mode` says: [`OpenMode::Existing`] refuses a
    /// missing file (naming it) and an outdated schema, and creates or migrates nothing.
    pub async fn open_file_in(
        path: &Path,
        max_connections: u32,
        mode: OpenMode,
    ) -> Result<SqliteStore, StoreError> {
        Self::open_with(
            SqliteConnectOptions::new().filename(path),
            max_connections,
            mode,
        )
        .await
    }

    /// Opens an `sqlite://…` URL (creating the file and its directory if needed).
    pub async fn open_url(url: &str, max_connections: u32) -> Result<SqliteStore, StoreError> {
        Self::open_url_in(url, max_connections, OpenMode::Migrate).await
    }

    /// Opens an `sqlite://…` URL as `mode` says (see [`Self::open_file_in`]).
    pub async fn open_url_in(
        url: &str,
        max_connections: u32,
        mode: OpenMode,
    ) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url).map_err(classify)?;
        if mode == OpenMode::Migrate
            && let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            // Best effort: a failure shows up as the clearer "unable to open database" next.
            let _ = std::fs::create_dir_all(dir);
        }
        Self::open_with(options, max_connections, mode).await
    }

    async fn open_with(
        options: SqliteConnectOptions,
        max_connections: u32,
        mode: OpenMode,
    ) -> Result<SqliteStore, StoreError> {
        let path = options.get_filename().to_owned();
        // In-memory databases (`sqlite::memory:`, `mode=memory`) get a `file:sqlx-in-memory-…`
        // name or keep `:memory:`; they have no file to check.
        let name = path.to_string_lossy();
        let in_memory = name.starts_with("file:sqlx-in-memory-") || name == ":memory:";
        if !in_memory {
            if mode == OpenMode::Existing && !path.exists() {
                return Err(StoreError::Settings(format!(
                    "no certfleet database at {} (and this command never creates one): point \
                     --config (or --data-dir / CERTFLEET_DATA_DIR) at the collector service's \
                     configuration, whose data_dir is where `serve` keeps the database",
                    path.display()
                )));
            }
            check_writable(&path)?;
        }
        let options = options
            .create_if_missing(mode == OpenMode::Migrate)
            // WAL: readers (reports, dashboard) never block the writer and vice versa.
            .journal_mode(SqliteJournalMode::Wal)
            // FULL even in WAL: an acknowledged report must survive a power cut.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(classify)?;
        let store = SqliteStore { pool };
        match mode {
            OpenMode::Migrate => store.migrate().await?,
            OpenMode::Existing => store.check_schema(&path).await?,
        }
        Ok(store)
    }

    /// Compares the applied migrations with this binary's (see `schema::compare`).
    async fn check_schema(&self, path: &Path) -> Result<(), StoreError> {
        let exists: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(classify)?;
        let applied = if exists > 0 {
            let rows = sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations")
                .fetch_all(&self.pool)
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
        crate::schema::compare(&migrator(), applied, &path.display().to_string())
    }

    /// The pool, for the report queries that live next to this module.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)
    }

    async fn update_terminal(
        tx: &mut Transaction<'static, Sqlite>,
        terminal: TerminalId,
        snapshot: &Snapshot,
        digest: Option<&str>,
    ) -> Result<(), StoreError> {
        let f = &snapshot.facts;
        sqlx::query(
            "UPDATE terminals SET hostname = ?2, os_name = ?3, os_version = ?4, \
             agent_version = ?5, last_report_at = ?6, \
             first_report_at = COALESCE(first_report_at, ?6), last_scanned_at = ?7, \
             holdings_digest = COALESCE(?8, holdings_digest) WHERE id = ?1",
        )
        .bind(terminal)
        .bind(&f.hostname)
        .bind(&f.os_name)
        .bind(&f.os_version)
        .bind(&f.agent_version)
        .bind(ts(snapshot.received_at))
        .bind(ts(effective_scanned_at(snapshot)))
        .bind(digest)
        .execute(&mut **tx)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn summary_by_id(
        tx: &mut Transaction<'static, Sqlite>,
        id: TerminalId,
    ) -> Result<Option<TerminalSummary>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM terminals t WHERE t.id = ?1"
        ))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(classify)?;
        row.as_ref().map(summary_from_row).transpose()
    }
}

/// Refuses, with the fix in the message, a database file this process cannot write: SQLite
/// would open it read-only and fail at the first write with "attempt to write a readonly
/// database". The usual cause is a restore as root into a service's data directory, which
/// leaves a root-owned `certfleet.db` (docs/OPERATIONS.md, "SQLite"). The directory must be
/// writable too (SQLite creates `-wal`/`-shm` next to the file).
fn check_writable(path: &Path) -> Result<(), StoreError> {
    let suffixed = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    let candidates = [path.to_owned(), suffixed("-wal"), suffixed("-shm")];
    for file in candidates.iter().filter(|p| p.exists()) {
        if let Err(e) = std::fs::OpenOptions::new().write(true).open(file)
            && e.kind() == std::io::ErrorKind::PermissionDenied
        {
            return Err(StoreError::Settings(format!(
                "{} is not writable by this process{}: after restoring it as root, give it back \
                 to the collector's user (docs/OPERATIONS.md, \"Backup and restore\", SQLite)",
                file.display(),
                owner_note(file)
            )));
        }
    }
    if let Some(dir) = path.parent().filter(|d| d.is_dir()) {
        let probe = dir.join(format!(".certfleet-write-probe-{}", std::process::id()));
        match std::fs::File::create(&probe) {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(StoreError::Settings(format!(
                    "the data directory {} is not writable by this process{}: SQLite keeps its \
                     -wal and -shm files next to the database",
                    dir.display(),
                    owner_note(dir)
                )));
            }
            Err(_) => {}
        }
    }
    Ok(())
}

/// " (owned by uid N, this process runs as uid M)" where Unix says so.
fn owner_note(path: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let owner = std::fs::metadata(path).map(|m| m.uid()).ok();
        // /proc/self/status names the effective uid without a libc call (no unsafe code).
        let me = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
            });
        match (owner, me) {
            (Some(owner), Some(me)) => {
                format!(" (owned by uid {owner}, this process runs as uid {me})")
            }
            (Some(owner), None) => format!(" (owned by uid {owner})"),
            _ => String::new(),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        String::new()
    }
}

fn summary_from_row(row: &SqliteRow) -> Result<TerminalSummary, StoreError> {
    Ok(TerminalSummary {
        id: row.try_get("id").map_err(classify)?,
        machine_id: row.try_get("machine_id").map_err(classify)?,
        hostname: row.try_get("hostname").map_err(classify)?,
        os_name: row.try_get("os_name").map_err(classify)?,
        os_version: row.try_get("os_version").map_err(classify)?,
        agent_version: row.try_get("agent_version").map_err(classify)?,
        enrolled_at: get_ts(row, "enrolled_at")?,
        last_report_at: get_opt_ts(row, "last_report_at")?,
        revoked_at: get_opt_ts(row, "revoked_at")?,
        certificate_count: row.try_get("certificate_count").map_err(classify)?,
        pending_since: get_opt_ts(row, "pending_since")?,
        enrolled_from: row.try_get("enrolled_from").map_err(classify)?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
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
        let mut tx = self.begin_write().await?;
        // Same upsert as PostgreSQL: a revoked terminal fails the WHERE and returns no row.
        let id: Option<TerminalId> = sqlx::query_scalar(
            "INSERT INTO terminals (machine_id, hostname, os_name, os_version, agent_version, \
             node_key_hash, enrolled_at, pending_since, enrolled_from) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, CASE WHEN ?10 THEN ?7 END, ?11) \
             ON CONFLICT (machine_id) DO UPDATE SET node_key_hash = excluded.node_key_hash, \
               hostname = excluded.hostname, os_name = excluded.os_name, \
               os_version = excluded.os_version, agent_version = excluded.agent_version, \
               enrolled_from = COALESCE(excluded.enrolled_from, terminals.enrolled_from) \
             WHERE terminals.revoked_at IS NULL AND (?8 OR terminals.node_key_hash = ?9 \
               OR terminals.node_key_hash = 'reset:' || ?9) \
             RETURNING id",
        )
        .bind(&facts.machine_id)
        .bind(&facts.hostname)
        .bind(&facts.os_name)
        .bind(&facts.os_version)
        .bind(&facts.agent_version)
        .bind(e.node_key_hash)
        .bind(ts(e.now))
        .bind(e.authority.is_operator())
        .bind(e.authority.presented())
        .bind(e.pending)
        .bind(e.peer)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let result = match id {
            Some(id) => Ok(id),
            None => {
                let (existing, revoked): (TerminalId, bool) = sqlx::query_as(
                    "SELECT id, revoked_at IS NOT NULL FROM terminals WHERE machine_id = ?1",
                )
                .bind(&facts.machine_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(classify)?;
                Err(if revoked {
                    StoreError::Revoked(existing)
                } else {
                    StoreError::AlreadyEnrolled(existing)
                })
            }
        };
        tx.commit().await.map_err(classify)?;
        result
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
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE terminals SET pending_since = NULL WHERE id = ?1 AND revoked_at IS NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        let summary = Self::summary_by_id(&mut tx, id)
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
             FROM terminals WHERE node_key_hash = ?1",
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
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT last_scanned_at, holdings_digest, revoked_at IS NOT NULL AS revoked \
             FROM terminals WHERE id = ?1",
        )
        .bind(terminal)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let Some(row) = row else {
            return Err(StoreError::NoSuchTerminal(terminal.to_string()));
        };
        let state = TerminalState {
            last_scanned_at: get_opt_ts(&row, "last_scanned_at")?,
            holdings_digest: row.try_get("holdings_digest").map_err(classify)?,
            revoked: row.try_get("revoked").map_err(classify)?,
        };
        if state.revoked {
            return Err(StoreError::Revoked(terminal));
        }
        let plan = Plan::decide(&state, snapshot);
        let holdings = normalized_holdings(snapshot);
        let received = ts(snapshot.received_at);

        let inserted = sqlx::query(
            "INSERT INTO reports (report_id, terminal_id, scanned_at, received_at, outcome, \
             certificate_count, rejected_count, scan_errors) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (terminal_id, report_id) DO NOTHING",
        )
        .bind(&snapshot.report_id)
        .bind(terminal)
        .bind(ts(snapshot.scanned_at))
        .bind(&received)
        .bind(plan.outcome_label())
        .bind(i64::try_from(holdings.len()).unwrap_or(i64::MAX))
        .bind(i64::from(snapshot.rejected_count))
        .bind(to_json(&snapshot.scan_errors)?)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(done) if done.rows_affected() == 1 => {}
            Ok(_) => return Ok(IngestOutcome::Duplicate),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Ok(IngestOutcome::Duplicate);
            }
            Err(e) => return Err(classify(e)),
        }

        match plan {
            Plan::Superseded => {
                sqlx::query(
                    "UPDATE terminals SET \
                     last_report_at = max(COALESCE(last_report_at, ?2), ?2), \
                     first_report_at = COALESCE(first_report_at, ?2) WHERE id = ?1",
                )
                .bind(terminal)
                .bind(&received)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            }
            Plan::Unchanged => {
                sqlx::query(
                    "UPDATE holdings SET last_seen = ?2 \
                     WHERE terminal_id = ?1 AND removed_at IS NULL",
                )
                .bind(terminal)
                .bind(&received)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                Self::update_terminal(&mut tx, terminal, snapshot, None).await?;
            }
            Plan::Replace => {
                // In-process statements are cheap in SQLite, so a loop of prepared (cached)
                // statements inside the transaction is as good as a batch.
                for c in normalized_certificates(snapshot) {
                    sqlx::query(
                        "INSERT INTO certificates (sha256, sha1, der, subject, issuer, \
                         subject_cn, issuer_cn, serial, not_before, not_after, client_auth, \
                         office_number, first_seen) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                         ON CONFLICT (sha256) DO NOTHING",
                    )
                    .bind(&c.sha256)
                    .bind(&c.sha1)
                    .bind(&c.der)
                    .bind(&c.subject)
                    .bind(&c.issuer)
                    .bind(&c.subject_cn)
                    .bind(&c.issuer_cn)
                    .bind(&c.serial)
                    .bind(ts(c.not_before))
                    .bind(ts(c.not_after))
                    .bind(c.client_auth)
                    .bind(&c.office_number)
                    .bind(&received)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                }
                for h in &holdings {
                    // A holding seen again is revived (removed_at cleared), first_seen kept.
                    sqlx::query(
                        "INSERT INTO holdings (terminal_id, sha256, locations, has_private_key, \
                         friendly_name, first_seen, last_seen, removed_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, NULL) \
                         ON CONFLICT (terminal_id, sha256) DO UPDATE SET \
                           locations = excluded.locations, \
                           has_private_key = excluded.has_private_key, \
                           friendly_name = excluded.friendly_name, \
                           last_seen = excluded.last_seen, \
                           removed_at = NULL",
                    )
                    .bind(terminal)
                    .bind(&h.sha256)
                    .bind(to_json(&h.locations)?)
                    .bind(h.has_private_key)
                    .bind(&h.friendly_name)
                    .bind(&received)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                }
                let current: Vec<&str> = holdings.iter().map(|h| h.sha256.as_str()).collect();
                // The snapshot's certificate list goes in as one JSON array parameter: no
                // statement built from data, and no limit on SQLite bind parameters.
                sqlx::query(
                    "UPDATE holdings SET removed_at = ?2 \
                     WHERE terminal_id = ?1 AND removed_at IS NULL \
                       AND sha256 NOT IN (SELECT value FROM json_each(?3))",
                )
                .bind(terminal)
                .bind(&received)
                .bind(to_json(&current)?)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                Self::update_terminal(&mut tx, terminal, snapshot, Some(&snapshot.holdings_digest))
                    .await?;
                // The triggers have moved `pair_expiry`; a tracked pair that now ends later
                // was renewed (issue 17 §1).
                crate::tracking::lite::renew_tracked_pairs(&mut tx, terminal, snapshot.received_at)
                    .await?;
            }
        }
        tx.commit().await.map_err(classify)?;
        Ok(plan.outcome())
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
             WHERE t.id = ?1 OR t.machine_id = ?2 OR t.hostname = ?2 ORDER BY t.id"
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
        let mut tx = self.begin_write().await?;
        // Revoking twice keeps the first time.
        sqlx::query("UPDATE terminals SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1")
            .bind(id)
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let summary = Self::summary_by_id(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NoSuchTerminal(id.to_string()))?;
        tx.commit().await.map_err(classify)?;
        Ok(summary)
    }

    async fn holdings(&self, terminal: TerminalId) -> Result<Vec<HoldingRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT terminal_id, sha256, locations, has_private_key, friendly_name, \
             first_seen, last_seen, removed_at \
             FROM holdings WHERE terminal_id = ?1 ORDER BY sha256",
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
                    first_seen: get_ts(row, "first_seen")?,
                    last_seen: get_ts(row, "last_seen")?,
                    removed_at: get_opt_ts(row, "removed_at")?,
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
             not_before, not_after, client_auth, office_number FROM certificates WHERE sha256 = ?1",
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
                not_before: get_ts(&row, "not_before")?,
                not_after: get_ts(&row, "not_after")?,
                client_auth: row.try_get("client_auth").map_err(classify)?,
                office_number: row.try_get("office_number").map_err(classify)?,
            })
        })
        .transpose()
    }
}
