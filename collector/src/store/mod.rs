//! The storage interface of the collector: one trait, two implementations (PostgreSQL for
//! production, SQLite as the zero-setup default). Only this module and its children know SQL.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Database-assigned identifier of a terminal.
pub type TerminalId = i64;

/// Errors the store reports to its callers. Internals (SQL text, driver messages) stay in the
/// `Database` variant's source and are logged, never sent to agents.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or the connection broke; the caller may retry.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The terminal was revoked by an operator and may not enroll or report again.
    #[error("terminal {0} is revoked")]
    Revoked(TerminalId),
    #[error("no terminal matches {0:?}")]
    NoSuchTerminal(String),
    #[error("{0:?} matches more than one terminal; use the numeric id")]
    AmbiguousTerminal(String),
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
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Applies pending migrations (also done at open).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Cheap liveness probe for health checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates the terminal for `facts.machine_id`, or, when it exists and is not revoked,
    /// replaces its node key (an agent that lost its state enrolls again). Returns
    /// `Revoked` for a revoked terminal.
    async fn enroll(
        &self,
        facts: &TerminalFacts,
        node_key_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<TerminalId, StoreError>;

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

    /// Revokes by numeric id, machine id or hostname (an ambiguous hostname is an error).
    async fn revoke_terminal(
        &self,
        selector: &str,
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
