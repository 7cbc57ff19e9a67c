//! The report side of the store: fetches only, no semantics. SQL narrows the rows (live office
//! holdings of candidate pairs, terminals that count); `crate::reports` decides effective
//! certificates, statuses and dates in Rust.
//!
//! A terminal *counts* when it is neither revoked nor pending approval (migration 0014): the
//! reports, metrics and alerts never see the others. "Non-revoked" below means "counting".

use async_trait::async_trait;
use certfleet_model::OfficeEntry;
use chrono::{DateTime, Utc};

use super::{StoreError, TerminalId};

/// Which live office holdings to fetch. Revoked terminals are never returned: an operator
/// revoked them, so their certificates are no longer the fleet's business; nor are terminals
/// pending approval, which are not the fleet's business yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairFilter {
    /// Only these office numbers (empty: all).
    pub offices: Vec<String>,
    /// Only terminals with these hostnames (empty: all).
    pub hostnames: Vec<String>,
    /// Only these terminals (empty: all).
    pub terminal_ids: Vec<TerminalId>,
}

/// One live holding of an office certificate on a non-revoked terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairHolding {
    pub terminal_id: TerminalId,
    pub office_number: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub has_private_key: Option<bool>,
    pub sha256: String,
}

/// The effective expiry of one live (terminal, office) pair, as kept in `pair_expiry`
/// (migration 0004): the `not_after` the effective-certificate rule picks for the pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairExpiry {
    pub terminal_id: TerminalId,
    pub office_number: String,
    pub not_after: DateTime<Utc>,
}

/// Which pairs [`ReportStore::pair_report_rows`] reads (always excluding revoked terminals).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairRowFilter {
    /// Only pairs whose effective `not_after` is `<=` this instant; `None`: every pair.
    pub not_after_max: Option<DateTime<Utc>>,
    /// Only these office numbers (empty: all).
    pub offices: Vec<String>,
    /// Only terminals with these hostnames (empty: all).
    pub hostnames: Vec<String>,
}

/// One live (terminal, office) pair as `report expiring` shows it, before the fields that
/// depend on `as_of` or change with every report: the effective certificate, the superseded
/// holdings and the terminal's names kept on `pair_expiry` (migrations 0006 and 0007), and the
/// office's registry name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairReportRow {
    pub terminal_id: TerminalId,
    pub hostname: String,
    pub machine_id: String,
    pub office_number: String,
    pub office_name: Option<String>,
    pub not_after: DateTime<Utc>,
    pub has_private_key: Option<bool>,
    pub sha256: String,
    pub serial: String,
    pub subject: String,
    pub issuer: String,
    /// The pair's other live holdings, latest `not_after` first (ties by sha256).
    pub superseded: Vec<(String, DateTime<Utc>)>,
}

/// What a report row needs from `terminals` besides the names: the two columns that change
/// with reports, so they are not copied onto `pair_expiry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalActivity {
    pub id: TerminalId,
    pub last_report_at: Option<DateTime<Utc>>,
    /// Live (terminal, office) pairs of the terminal (`terminals.office_count`).
    pub office_count: u32,
}

/// Decodes the `superseded` column of `pair_expiry` (migration 0006): a JSON array of
/// `[sha256, not_after]`, or NULL when the pair has a single holding. Both backends store
/// RFC 3339 timestamps there (PostgreSQL with an offset, SQLite in UTC); the list is sorted
/// here so neither backend's aggregate order matters.
pub fn decode_superseded(text: Option<&str>) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let bad = |e: &dyn std::fmt::Display| crate::decode_error("pair_expiry.superseded", e);
    let raw: Vec<(String, String)> = serde_json::from_str(text).map_err(|e| bad(&e))?;
    let mut out = raw
        .into_iter()
        .map(|(sha256, not_after)| {
            let t = DateTime::parse_from_rfc3339(&not_after).map_err(|e| bad(&e))?;
            Ok((sha256, t.with_timezone(&Utc)))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// Which terminals to list for reports (always excluding revoked ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerminalFilter {
    /// Only these terminals (empty: all).
    pub ids: Vec<TerminalId>,
    /// Only these hostnames (empty: all).
    pub hostnames: Vec<String>,
    /// Only terminals that never reported or last reported before this instant.
    pub not_reported_since: Option<DateTime<Utc>>,
}

/// A non-revoked terminal as reports show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalInfo {
    pub id: TerminalId,
    pub machine_id: String,
    pub hostname: String,
    pub os_name: String,
    pub os_version: String,
    pub agent_version: String,
    pub last_report_at: Option<DateTime<Utc>>,
    /// Live (terminal, office) pairs of the terminal (`terminals.office_count`).
    pub office_count: u32,
}

/// Report queries and the office registry. A supertrait of [`super::Store`], so every store
/// has them and `&dyn Store` callers use them directly.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Live office holdings (`removed_at IS NULL`, `office_number IS NOT NULL`) of
    /// non-revoked terminals matching `filter`, with certificate fields, in no particular order.
    async fn office_holdings(&self, filter: &PairFilter) -> Result<Vec<PairHolding>, StoreError>;

    /// Every live (terminal, office) pair of a non-revoked terminal with its effective
    /// `not_after`, limited to `terminal_ids` and `offices` when they are not empty, ordered by
    /// terminal id then office number. What the fleet-wide reports, the overview and the
    /// metrics are computed from: one narrow row per pair, no holding evaluated.
    async fn pair_expiries(
        &self,
        terminal_ids: &[TerminalId],
        offices: &[String],
    ) -> Result<Vec<PairExpiry>, StoreError>;

    /// The rows of `report expiring`: hands every live pair matching `filter` to `each` as it
    /// is decoded, in no particular order, and returns the activity of the non-revoked
    /// terminals among them, read at the same time. A pair whose terminal has no activity
    /// (revoked, or gone meanwhile) is not part of the report.
    async fn pair_report_rows(
        &self,
        filter: &PairRowFilter,
        each: &mut (dyn FnMut(PairReportRow) + Send),
    ) -> Result<Vec<TerminalActivity>, StoreError>;

    /// Non-revoked terminals matching `filter`, ordered by hostname then id.
    async fn report_terminals(
        &self,
        filter: &TerminalFilter,
    ) -> Result<Vec<TerminalInfo>, StoreError>;

    /// Inserts or updates registry entries by office number, all in one transaction.
    async fn upsert_offices(
        &self,
        entries: &[OfficeEntry],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// The office registry, ordered by office number.
    async fn list_offices(&self) -> Result<Vec<OfficeEntry>, StoreError>;
}
