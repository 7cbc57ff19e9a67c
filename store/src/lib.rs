//! certfleet's storage: the [`Store`] trait and its two implementations (PostgreSQL for
//! production, SQLite as the zero-setup default), with their migrations in `migrations/`.
//! Only this crate knows SQL, and no driver type appears in its API: callers see
//! [`StoreError`], whose database details are opaque text for logs.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod alerts;
pub mod calendar;
pub mod coverage;
mod maintenance;
mod postgres;
pub mod reports;
mod revocations;
mod schema;
mod sessions;
mod sqlite;
pub mod tracking;

pub use alerts::{AlertStore, DueDelivery, LeaderGuard, NewAlert};
pub use coverage::{CoverageStore, ExpectedTerminal};
pub use maintenance::{MaintenanceRun, MaintenanceStore, Pruned, RetentionPolicy};
pub use revocations::{
    REVOKED_PLACEHOLDER_PREFIX, ReapplySummary, RevocationRecord, RevocationStore,
};
pub use schema::OpenMode;

pub use calendar::{CalendarFeed, CalendarStore};
pub use postgres::PgStore;
pub use reports::ReportStore;
pub use sessions::SessionStore;
pub use sqlite::SqliteStore;
pub use tracking::{TrackingError, TrackingStore};

/// Database-assigned identifier of a terminal.
pub type TerminalId = i64;

/// Errors the store reports to its callers. Internals (SQL text, driver messages) stay in the
/// [`DatabaseError`] of the `Unavailable`, `Database` and `Migrate` variants and are logged,
/// never sent to agents.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or the connection broke; the caller may retry.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] DatabaseError),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[source] DatabaseError),
    #[error("migration failed: {0}")]
    Migrate(#[source] DatabaseError),
    /// The database's schema is not this binary's (none, older, or a changed migration), for a
    /// command that does not migrate: the text says what to run.
    #[error("{0}")]
    Schema(String),
    /// The database settings cannot be used (unknown URL scheme, data directory not creatable).
    #[error("database settings: {0}")]
    Settings(String),
    /// The terminal was revoked by an operator and may not enroll or report again.
    #[error("terminal {0} is revoked")]
    Revoked(TerminalId),
    /// The machine id belongs to an enrolled terminal and the request did not prove it is that
    /// terminal (its current node key) nor did an operator reset it.
    #[error("machine id already enrolled as terminal {0}")]
    AlreadyEnrolled(TerminalId),
    #[error("no terminal matches {0:?}")]
    NoSuchTerminal(String),
    #[error("{0:?} matches more than one terminal; use the numeric id")]
    AmbiguousTerminal(String),
    /// A renewal-tracking change was refused (unknown pair, bad date, senseless transition);
    /// nothing was written.
    #[error(transparent)]
    Tracking(#[from] TrackingError),
}

/// A failure inside the database driver or the database, kept as an opaque error: its text
/// and source chain are for the log, and the driver's own types stay private to this crate.
#[derive(Debug)]
pub struct DatabaseError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl DatabaseError {
    pub(crate) fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        DatabaseError(e.into())
    }

    /// The driver error inside, for the store's own retry decisions.
    fn sqlx(&self) -> Option<&sqlx::Error> {
        self.0.downcast_ref::<sqlx::Error>()
    }
}

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DatabaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(DatabaseError::new(e))
    }
}

/// A value read from the database that does not decode (a corrupt JSON column, a malformed
/// timestamp): a database error naming what failed.
pub(crate) fn decode_error(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(DatabaseError::new(format!("cannot decode {what}: {e}")))
}

/// Facts an agent states about its terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalFacts {
    pub machine_id: String,
    pub hostname: String,
    pub os_name: String,
    pub os_version: String,
    pub agent_version: String,
}

/// Where on a terminal a certificate was found (kept as JSON in the holding).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Location {
    /// `profile_file`, `registry`, `cryptoapi` or `file`.
    pub source: String,
    pub store: String,
    pub user: String,
    pub path: String,
}

/// A parsed certificate as the collector stores it (keyed by SHA-256 of the DER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    pub sha256: String,
    pub sha1: String,
    pub der: Vec<u8>,
    pub subject: String,
    pub issuer: String,
    pub subject_cn: Option<String>,
    pub issuer_cn: Option<String>,
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub client_auth: bool,
    /// Office number when the collector's selection rules make this an office certificate.
    pub office_number: Option<String>,
}

/// One certificate present on the terminal in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotHolding {
    pub sha256: String,
    /// Sorted and deduplicated by the caller.
    pub locations: Vec<Location>,
    pub has_private_key: Option<bool>,
    pub friendly_name: String,
}

/// A per-source scan error the agent reported (kept for audit and troubleshooting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanErrorRecord {
    pub source: String,
    pub path: String,
    pub message: String,
}

/// A validated snapshot ready to be stored.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub report_id: String,
    pub facts: TerminalFacts,
    pub scanned_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// Every distinct certificate referenced by `holdings` (inserted when new).
    pub certificates: Vec<CertificateRecord>,
    pub holdings: Vec<SnapshotHolding>,
    pub scan_errors: Vec<ScanErrorRecord>,
    /// How many certificates of the request were rejected (unparsable, too large…).
    pub rejected_count: u32,
    /// Digest over the sorted holdings (sha256, locations, key flag, friendly name). When it
    /// equals the terminal's stored digest nothing changed, and the store takes the cheap path:
    /// only `last_seen`/`last_report_at` move.
    pub holdings_digest: String,
}

/// What happened to a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Stored and now the terminal's current holdings.
    Accepted,
    /// Stored; the holdings were identical to the previous snapshot.
    Unchanged,
    /// The report id had been accepted before; nothing was written.
    Duplicate,
    /// Recorded, but a newer snapshot of this terminal was already stored, so the holdings
    /// were not rolled back.
    Superseded,
}

/// Who asks to (re-)enroll a machine id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollAuthority<'a> {
    /// An agent, with the hash of the node key it still holds, if any.
    Agent { presented_key_hash: Option<&'a str> },
    /// An operator on the collector (`terminal reset`).
    Operator,
}

impl EnrollAuthority<'_> {
    /// Hash that must match the stored one (`None` matches nothing).
    pub(crate) fn presented(&self) -> Option<&str> {
        match self {
            EnrollAuthority::Agent { presented_key_hash } => *presented_key_hash,
            EnrollAuthority::Operator => None,
        }
    }

    pub(crate) fn is_operator(&self) -> bool {
        matches!(self, EnrollAuthority::Operator)
    }
}

/// Prefix of the placeholder node-key hash an operator reset leaves: `reset:` followed by the
/// hash of a one-time re-enroll token. Only an agent presenting that token (as its bearer) may
/// enroll the machine id again; it then gets a fresh node key, and the token is spent.
pub const RESET_KEY_PREFIX: &str = "reset:";

/// One enrollment, as the gRPC service asks for it.
#[derive(Debug, Clone, Copy)]
pub struct Enrollment<'a> {
    pub facts: &'a TerminalFacts,
    /// Hash of the node key the agent will hold.
    pub node_key_hash: &'a str,
    pub authority: EnrollAuthority<'a>,
    /// A terminal created by this enrollment starts pending approval (`[enroll] approval`); an
    /// existing terminal keeps its state.
    pub pending: bool,
    /// The client address, shown to the operator who approves.
    pub peer: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// The terminal a node key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedTerminal {
    pub id: TerminalId,
    pub machine_id: String,
    pub revoked: bool,
}

/// A terminal as listed by `terminal list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalSummary {
    pub id: TerminalId,
    pub machine_id: String,
    pub hostname: String,
    pub os_name: String,
    pub os_version: String,
    pub agent_version: String,
    pub enrolled_at: DateTime<Utc>,
    pub last_report_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Live holdings (not removed).
    pub certificate_count: i64,
    /// Since when the terminal waits for an operator's approval; `None` once approved (or when
    /// it enrolled without approval mode).
    pub pending_since: Option<DateTime<Utc>>,
    /// Client address of its latest enrollment, when known.
    pub enrolled_from: Option<String>,
}

/// A holding as stored: terminal × certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldingRecord {
    pub terminal_id: TerminalId,
    pub sha256: String,
    pub locations: Vec<Location>,
    pub has_private_key: Option<bool>,
    pub friendly_name: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
}

/// The storage interface. Every method is one transaction: it fully happens or not at all.
#[async_trait]
pub trait Store:
    AlertStore
    + ReportStore
    + SessionStore
    + TrackingStore
    + CalendarStore
    + MaintenanceStore
    + RevocationStore
    + CoverageStore
    + Send
    + Sync
    + std::fmt::Debug
{
    /// Applies pending migrations (also done at open).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Cheap liveness probe for health checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates the terminal for `facts.machine_id` (pending approval if `pending`), or, when it
    /// exists and is not revoked, replaces its node key if `authority` allows it: an agent
    /// presenting the terminal's current node key (key rotation), an agent presenting the
    /// one-time token of an operator reset ([`RESET_KEY_PREFIX`]), or the operator
    /// (`terminal reset`). Otherwise `AlreadyEnrolled`, so the holder of the enroll secret cannot
    /// take over another terminal. `Revoked` for a revoked terminal.
    async fn enroll_terminal(&self, enrollment: &Enrollment<'_>) -> Result<TerminalId, StoreError>;

    /// [`Store::enroll_terminal`] of a terminal that counts at once, from no known address.
    async fn enroll(
        &self,
        facts: &TerminalFacts,
        node_key_hash: &str,
        authority: EnrollAuthority<'_>,
        now: DateTime<Utc>,
    ) -> Result<TerminalId, StoreError> {
        self.enroll_terminal(&Enrollment {
            facts,
            node_key_hash,
            authority,
            pending: false,
            peer: None,
            now,
        })
        .await
    }

    /// Terminals waiting for approval, oldest first.
    async fn pending_terminals(&self) -> Result<Vec<TerminalSummary>, StoreError>;

    /// Approves terminal `id`: from now on its holdings count in reports and alerts.
    /// Approving an approved terminal changes nothing. `NoSuchTerminal` when there is none,
    /// `Revoked` for a revoked one.
    async fn approve_terminal(
        &self,
        id: TerminalId,
        now: DateTime<Utc>,
    ) -> Result<TerminalSummary, StoreError>;

    /// Finds the terminal whose node key hashes to `node_key_hash`.
    async fn authenticate(
        &self,
        node_key_hash: &str,
    ) -> Result<Option<AuthenticatedTerminal>, StoreError>;

    /// Stores a snapshot for `terminal` in one transaction: idempotent by report id, never
    /// rolls back to an older `scanned_at`, marks vanished holdings `removed_at`.
    async fn ingest(
        &self,
        terminal: TerminalId,
        snapshot: &Snapshot,
    ) -> Result<IngestOutcome, StoreError>;

    async fn list_terminals(&self) -> Result<Vec<TerminalSummary>, StoreError>;

    /// The terminal an operator means by `selector`: a numeric id, else a machine id, else a
    /// hostname held by exactly one terminal (see [`resolve_selector`]). `NoSuchTerminal` or
    /// `AmbiguousTerminal` otherwise. Every CLI command naming a terminal goes through this.
    async fn find_terminal(&self, selector: &str) -> Result<TerminalSummary, StoreError>;

    /// Revokes terminal `id` (its node key stops working and it cannot enroll again); revoking
    /// twice keeps the first time. `NoSuchTerminal` when there is no such terminal.
    async fn revoke_terminal(
        &self,
        id: TerminalId,
        now: DateTime<Utc>,
    ) -> Result<TerminalSummary, StoreError>;

    /// Every holding of a terminal, removed ones included, for tests and the terminal page.
    async fn holdings(&self, terminal: TerminalId) -> Result<Vec<HoldingRecord>, StoreError>;

    /// Number of accepted reports stored (audit; exactly-once checks in tests and benchmarks).
    async fn report_count(&self) -> Result<i64, StoreError>;

    /// The stored certificate, if any.
    async fn certificate(&self, sha256: &str) -> Result<Option<CertificateRecord>, StoreError>;
}

/// A shared handle to whichever store the configuration selected.
pub type SharedStore = Arc<dyn Store>;

/// File name of the embedded database inside the data directory.
pub const SQLITE_FILE_NAME: &str = "certfleet.db";

/// Opens the store the configuration names and applies pending migrations.
///
/// - `postgres://…` / `postgresql://…` → [`PgStore`] (production; replicas share it);
/// - `sqlite://…` → [`SqliteStore`] on that file;
/// - `None` (or an empty string) → [`SqliteStore`] on `data_dir/certfleet.db`, creating the
///   directory and the file, so a first start needs no setup.
///
/// Any other scheme is a configuration error naming it. A server that cannot be reached is
/// [`StoreError::Unavailable`], so callers can tell "retry later" from "fix the config".
pub async fn open(
    database_url: Option<&str>,
    data_dir: &Path,
    max_connections: u32,
) -> Result<SharedStore, StoreError> {
    open_in(database_url, data_dir, max_connections, OpenMode::Migrate).await
}

/// [`open`] for `serve` and `migrate` ([`OpenMode::Migrate`]) or for every other command
/// ([`OpenMode::Existing`]: nothing is created or migrated; a missing database file, no
/// certfleet schema or an outdated one is an error that names the path and what to run).
pub async fn open_in(
    database_url: Option<&str>,
    data_dir: &Path,
    max_connections: u32,
    mode: OpenMode,
) -> Result<SharedStore, StoreError> {
    // A pool of zero would hang every caller; treat it as "the smallest useful pool".
    let max_connections = max_connections.max(1);
    match database_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(match mode {
                OpenMode::Migrate => Arc::new(PgStore::connect(url, max_connections).await?),
                OpenMode::Existing => {
                    Arc::new(PgStore::connect_existing(url, max_connections).await?)
                }
            })
        }
        Some(url) if url.starts_with("sqlite:") => Ok(Arc::new(
            SqliteStore::open_url_in(url, max_connections, mode).await?,
        )),
        None => {
            if mode == OpenMode::Migrate {
                std::fs::create_dir_all(data_dir).map_err(|e| {
                    config_error(format!(
                        "cannot create data directory {}: {e}",
                        data_dir.display()
                    ))
                })?;
            }
            let path = data_dir.join(SQLITE_FILE_NAME);
            Ok(Arc::new(
                SqliteStore::open_file_in(&path, max_connections, mode).await?,
            ))
        }
        Some(url) => {
            // Name the scheme only: the rest of a URL may carry a password.
            let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
            Err(config_error(format!(
                "unsupported database URL scheme {scheme:?}: use postgres://…, postgresql://… \
                 or sqlite://… (or no URL for the embedded SQLite file)"
            )))
        }
    }
}

fn config_error(message: String) -> StoreError {
    StoreError::Settings(message)
}

impl StoreError {
    /// True when retrying later may succeed (gRPC `UNAVAILABLE`).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Sorts driver errors into "the database is (temporarily) not there" and everything else.
pub(crate) fn classify(e: sqlx::Error) -> StoreError {
    let transient = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_transient_code(&code)),
        _ => false,
    };
    if transient {
        StoreError::Unavailable(DatabaseError::new(e))
    } else {
        StoreError::Database(DatabaseError::new(e))
    }
}

/// SQLSTATEs (PostgreSQL) and result codes (SQLite) after which the same request can succeed.
fn is_transient_code(code: &str) -> bool {
    // PostgreSQL: class 08 connection exception; shutdown/startup in progress; too many
    // connections; serialization failure and deadlock (the transaction was rolled back whole).
    code.starts_with("08")
        || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01")
        // SQLite: BUSY / LOCKED (after busy_timeout) and their extended codes.
        || matches!(code, "5" | "6" | "261" | "262" | "517")
}

/// A deadlock or serialization failure: the transaction rolled back and is worth re-running
/// at once rather than bouncing the agent.
pub(crate) fn is_conflict(e: &StoreError) -> bool {
    let StoreError::Unavailable(inner) = e else {
        return false;
    };
    matches!(inner.sqlx(), Some(sqlx::Error::Database(db))
        if db.code().is_some_and(|c| c == "40001" || c == "40P01"))
}

/// How often `ingest` re-runs a transaction that lost a deadlock.
pub(crate) const CONFLICT_RETRIES: u32 = 3;

/// The terminal row as ingest sees it, read under lock.
#[derive(Debug)]
pub(crate) struct TerminalState {
    pub last_scanned_at: Option<DateTime<Utc>>,
    pub holdings_digest: Option<String>,
    pub revoked: bool,
}

/// What ingest will do with a (non-duplicate) snapshot; both backends share this decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    Superseded,
    Unchanged,
    Replace,
}

impl Plan {
    pub(crate) fn decide(state: &TerminalState, snapshot: &Snapshot) -> Plan {
        if state
            .last_scanned_at
            .is_some_and(|last| effective_scanned_at(snapshot) < last)
        {
            Plan::Superseded
        } else if !snapshot.holdings_digest.is_empty()
            && state.holdings_digest.as_deref() == Some(snapshot.holdings_digest.as_str())
        {
            Plan::Unchanged
        } else {
            Plan::Replace
        }
    }

    /// The `reports.outcome` value.
    pub(crate) fn outcome_label(self) -> &'static str {
        match self {
            Plan::Superseded => "superseded",
            Plan::Unchanged => "unchanged",
            Plan::Replace => "accepted",
        }
    }

    pub(crate) fn outcome(self) -> IngestOutcome {
        match self {
            Plan::Superseded => IngestOutcome::Superseded,
            Plan::Unchanged => IngestOutcome::Unchanged,
            Plan::Replace => IngestOutcome::Accepted,
        }
    }
}

/// The agent's scan time, but never later than the collector received it: one snapshot from a
/// PC whose clock ran years ahead would otherwise make every later, correct snapshot of that
/// terminal "older" and freeze its holdings for good.
pub(crate) fn effective_scanned_at(snapshot: &Snapshot) -> DateTime<Utc> {
    snapshot.scanned_at.min(snapshot.received_at)
}

/// Holdings sorted by certificate and deduplicated (first wins): a stable order keeps lock
/// order deterministic, and a repeated certificate would make a batched upsert touch one row
/// twice.
pub(crate) fn normalized_holdings(snapshot: &Snapshot) -> Vec<&SnapshotHolding> {
    let mut holdings: Vec<&SnapshotHolding> = snapshot.holdings.iter().collect();
    holdings.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    holdings.dedup_by(|a, b| a.sha256 == b.sha256);
    holdings
}

/// Certificates sorted by SHA-256 and deduplicated. Concurrent snapshots from different
/// terminals insert shared certificates; inserting in one global order prevents deadlocks on
/// the primary key.
pub(crate) fn normalized_certificates(snapshot: &Snapshot) -> Vec<&CertificateRecord> {
    let mut certs: Vec<&CertificateRecord> = snapshot.certificates.iter().collect();
    certs.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    certs.dedup_by(|a, b| a.sha256 == b.sha256);
    certs
}

pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Database(DatabaseError::new(format!("cannot encode JSON: {e}"))))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| decode_error("a JSON column", e))
}

/// The numeric-id reading of a terminal selector, if it is one.
pub(crate) fn selector_id(selector: &str) -> Option<TerminalId> {
    selector.trim().parse::<TerminalId>().ok()
}

/// The one rule for terminal selectors, given every terminal whose id, machine id or hostname
/// equals `selector` (the backends fetch them in one query): a numeric id wins, then a machine
/// id, then a hostname, which must name exactly one terminal.
pub fn resolve_selector(
    selector: &str,
    candidates: Vec<TerminalSummary>,
) -> Result<TerminalSummary, StoreError> {
    let selector = selector.trim();
    let id = selector_id(selector);
    let mut by_host = Vec::new();
    let mut by_machine = None;
    for t in candidates {
        if Some(t.id) == id {
            return Ok(t);
        }
        if t.machine_id == selector {
            by_machine = Some(t);
        } else if t.hostname == selector {
            by_host.push(t);
        }
    }
    if let Some(t) = by_machine {
        return Ok(t);
    }
    match by_host.len() {
        0 => Err(StoreError::NoSuchTerminal(selector.to_owned())),
        1 => Ok(by_host.remove(0)),
        _ => Err(StoreError::AmbiguousTerminal(selector.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminal(id: TerminalId, machine_id: &str, hostname: &str) -> TerminalSummary {
        TerminalSummary {
            id,
            machine_id: machine_id.into(),
            hostname: hostname.into(),
            os_name: String::new(),
            os_version: String::new(),
            agent_version: String::new(),
            enrolled_at: DateTime::UNIX_EPOCH,
            last_report_at: None,
            revoked_at: None,
            certificate_count: 0,
            pending_since: None,
            enrolled_from: None,
        }
    }

    #[test]
    fn selectors_prefer_id_then_machine_id_then_a_unique_hostname() {
        // "7" is terminal 7's id, another terminal's machine id and a third one's hostname.
        let all = || {
            vec![
                terminal(3, "7", "pc-a"),
                terminal(7, "m-7", "pc-b"),
                terminal(9, "m-9", "7"),
            ]
        };
        assert_eq!(resolve_selector(" 7 ", all()).unwrap().id, 7);
        assert_eq!(resolve_selector("m-9", all()).unwrap().id, 9);
        let dup = vec![terminal(1, "m-1", "pc"), terminal(2, "m-2", "pc")];
        assert!(matches!(
            resolve_selector("pc", dup),
            Err(StoreError::AmbiguousTerminal(s)) if s == "pc"
        ));
        assert!(matches!(
            resolve_selector("nobody", all()),
            Err(StoreError::NoSuchTerminal(s)) if s == "nobody"
        ));
        let by_machine_and_host = vec![terminal(1, "x", "pc"), terminal(2, "m-2", "x")];
        assert_eq!(resolve_selector("x", by_machine_and_host).unwrap().id, 1);
    }
}
