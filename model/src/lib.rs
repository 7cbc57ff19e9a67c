//! The report data model of certfleet: what every report (CLI, JSON API, CSV, dashboard,
//! alerts) is made of. Serde names are the public JSON contract; change them only additively.
//! No report logic lives here: the collector computes these values, the dashboard renders
//! them. Besides the types, the conventions every front end shares have their one home here:
//! the display languages ([`i18n`]), CSV for spreadsheets ([`csv`]) and which characters of
//! agent-supplied text are never shown raw ([`text`]).
#![forbid(unsafe_code)]

pub mod coverage;
pub mod csv;
pub mod i18n;
pub mod text;

pub use coverage::{AgentVersionCount, CoverageGap, CoverageReport, CoverageRow};
pub use i18n::{Catalog, Lang};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// Database-assigned identifier of a terminal.
pub type TerminalId = i64;

/// Expiry status of a (terminal, office) pair at `as_of` with window `W` (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PairStatus {
    /// `not_after <= as_of`.
    Expired,
    /// `not_after <= as_of + W days`.
    Expiring,
    Ok,
}

impl PairStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PairStatus::Expired => "expired",
            PairStatus::Expiring => "expiring",
            PairStatus::Ok => "ok",
        }
    }
}

/// Renewal-tracking state of a (terminal, office) pair (issue 17 §1, SPEC §5b), as every
/// report shows it: the stored entry read at `as_of` (a request turns *stuck*, a hold lapses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingState {
    /// Nobody has marked anything: the renewal has not started.
    NotStarted,
    /// The certsrv request was made and is waiting (approval, installation).
    Requested,
    /// Requested with a password reissue by post (its lead time moves `renew_by` earlier).
    Reissue,
    /// Requested, and still no newer certificate after `tracking.stuck_after_days`.
    Stuck,
    /// Nothing to do until `hold_until`.
    OnHold,
    /// The PC or the office is gone; never alerted.
    Retired,
    /// A newer certificate arrived; the entry closed itself.
    Renewed,
}

impl TrackingState {
    pub const ALL: [TrackingState; 7] = [
        TrackingState::NotStarted,
        TrackingState::Requested,
        TrackingState::Reissue,
        TrackingState::Stuck,
        TrackingState::OnHold,
        TrackingState::Retired,
        TrackingState::Renewed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TrackingState::NotStarted => "not_started",
            TrackingState::Requested => "requested",
            TrackingState::Reissue => "reissue",
            TrackingState::Stuck => "stuck",
            TrackingState::OnHold => "on_hold",
            TrackingState::Retired => "retired",
            TrackingState::Renewed => "renewed",
        }
    }

    pub fn from_name(name: &str) -> Option<TrackingState> {
        TrackingState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A pair's tracking as reports carry it (`tracking` of a row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackingView {
    pub state: TrackingState,
    /// The day the request was made (requested, reissue, stuck, renewed).
    pub requested_on: Option<NaiveDate>,
    /// Days from `requested_on` to `as_of` while the request is open.
    pub days_waiting: Option<i64>,
    /// The day an on-hold entry ends.
    pub hold_until: Option<NaiveDate>,
    /// The operator's note or the reason of a hold (empty when none).
    pub note: String,
    /// When the snapshot with the newer certificate arrived (renewed).
    pub renewed_at: Option<DateTime<Utc>>,
    /// Days from the request to the renewal (renewed).
    pub days_to_renew: Option<i64>,
    /// Who changed the entry last, and when (`None`: not tracked).
    pub changed_by: Option<String>,
    pub changed_at: Option<DateTime<Utc>>,
}

impl TrackingView {
    /// An untracked pair.
    pub fn not_started() -> TrackingView {
        TrackingView {
            state: TrackingState::NotStarted,
            requested_on: None,
            days_waiting: None,
            hold_until: None,
            note: String::new(),
            renewed_at: None,
            days_to_renew: None,
            changed_by: None,
            changed_at: None,
        }
    }
}

/// The terminal a row is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalRef {
    pub id: TerminalId,
    pub hostname: String,
    pub machine_id: String,
}

/// The identifying fields of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateRef {
    pub sha256: String,
    pub serial: String,
    pub subject: String,
    pub issuer: String,
}

/// An older certificate of the same pair (kept after a renewal; never alerted on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupersededCert {
    pub sha256: String,
    pub not_after: DateTime<Utc>,
}

/// One (terminal, office) pair with its effective certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairRow {
    pub office_number: String,
    pub office_name: Option<String>,
    pub terminal: TerminalRef,
    pub status: PairStatus,
    pub not_after: DateTime<Utc>,
    /// Whole days from `as_of` to `not_after`, as calendar dates in the display time zone
    /// (negative once expired).
    pub days_left: i64,
    /// `not_after − lead_days` as a date in the display time zone.
    pub renew_by: NaiveDate,
    /// True once `as_of` is past `renew_by` (request + approval may no longer fit).
    pub renew_now: bool,
    /// The first month (`YYYY-MM`) whose claim window the office cannot use on this terminal.
    pub first_blocked_billing_month: String,
    pub superseded: Vec<SupersededCert>,
    /// Number of distinct offices with certificates on this terminal.
    pub terminal_office_count: u32,
    pub has_private_key: Option<bool>,
    pub stale: bool,
    pub last_report_at: Option<DateTime<Utc>>,
    pub certificate: CertificateRef,
    /// The renewal-tracking state (issue 17 §1).
    pub tracking: TrackingView,
}

/// `report expiring`: pairs that are expired or expiring (or all with `include_ok`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpiringReport {
    pub as_of: DateTime<Utc>,
    pub within_days: u32,
    pub rows: Vec<PairRow>,
}

/// An office's status on one terminal (used by the terminal, office and multi-office reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfficeOnTerminal {
    pub office_number: String,
    pub office_name: Option<String>,
    pub status: PairStatus,
    pub not_after: DateTime<Utc>,
    pub days_left: i64,
}

/// A terminal with every office it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalRow {
    pub terminal: TerminalRef,
    pub os_name: String,
    pub os_version: String,
    pub agent_version: String,
    pub last_report_at: Option<DateTime<Utc>>,
    pub stale: bool,
    pub offices: Vec<OfficeOnTerminal>,
    /// Soonest effective expiry among the terminal's offices.
    pub soonest_not_after: Option<DateTime<Utc>>,
}

/// `report terminals` (and, filtered to ≥ 2 offices, `report multi-office`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalsReport {
    pub as_of: DateTime<Utc>,
    pub within_days: u32,
    pub rows: Vec<TerminalRow>,
}

/// A terminal holding an office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalOfOffice {
    pub terminal: TerminalRef,
    pub status: PairStatus,
    pub not_after: DateTime<Utc>,
    pub days_left: i64,
    pub stale: bool,
}

/// An office with every terminal holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfficeRow {
    pub office_number: String,
    pub office_name: Option<String>,
    pub site: Option<String>,
    pub owner_email: Option<String>,
    pub terminals: Vec<TerminalOfOffice>,
    /// Soonest effective expiry over its terminals (`None` when no terminal holds it).
    pub soonest_not_after: Option<DateTime<Utc>>,
    /// In the registry, but no terminal holds a non-expired certificate for it.
    pub uncovered: bool,
    /// How many PCs the registry says the office uses (issue 17 §3).
    pub expected_pcs: Option<u32>,
}

/// `report offices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfficesReport {
    pub as_of: DateTime<Utc>,
    pub within_days: u32,
    pub rows: Vec<OfficeRow>,
}

/// A terminal waiting for an operator's approval (`[enroll] approval`): its reports are
/// stored but count nowhere until it is approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingTerminal {
    pub id: TerminalId,
    pub hostname: String,
    pub machine_id: String,
    pub os_name: String,
    pub os_version: String,
    pub agent_version: String,
    pub pending_since: DateTime<Utc>,
    /// Client address of its latest enrollment, when known.
    pub enrolled_from: Option<String>,
    pub last_report_at: Option<DateTime<Utc>>,
    /// Live holdings already stored.
    pub certificate_count: i64,
}

/// A terminal that has not reported for longer than the threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleRow {
    pub terminal: TerminalRef,
    pub last_report_at: Option<DateTime<Utc>>,
    pub days_since_report: Option<i64>,
    pub office_count: u32,
}

/// `report stale --older-than DAYS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleReport {
    pub as_of: DateTime<Utc>,
    pub older_than_days: u32,
    pub rows: Vec<StaleRow>,
}

/// One entry of the office registry (CSV: office number, name, site, owner e-mail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfficeEntry {
    pub office_number: String,
    pub name: String,
    pub site: String,
    pub owner_email: String,
    /// How many PCs the office expects to use (optional fifth CSV column; issue 17 §3).
    pub expected_pcs: Option<u32>,
}

/// Which pairs `report expiring` (and the dashboard's table and office page) return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringQuery {
    pub as_of: DateTime<Utc>,
    pub within_days: u32,
    /// Only these office numbers (empty: all).
    pub offices: Vec<String>,
    /// Only terminals with these hostnames (empty: all).
    pub terminals: Vec<String>,
    /// Also return `ok` pairs.
    pub include_ok: bool,
    /// Only pairs in these tracking states; empty: every state but `retired` (retired pairs
    /// have their own list, `--state retired`).
    pub states: Vec<TrackingState>,
}

/// Pairs expiring in one month, by status (for the dashboard's timeline chart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineBucket {
    /// `YYYY-MM` in the display time zone.
    pub month: String,
    pub expired: u32,
    pub expiring: u32,
    pub ok: u32,
}

/// Fleet-wide counts (dashboard overview, Prometheus gauges).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overview {
    pub as_of: DateTime<Utc>,
    pub within_days: u32,
    /// Pairs (effective certificates) by status.
    pub expired: u32,
    /// Non-expired pairs past their renew-by date.
    pub renew_now: u32,
    pub expiring: u32,
    pub ok: u32,
    pub terminals: u32,
    pub stale_terminals: u32,
    pub offices: u32,
    pub uncovered_offices: u32,
    /// The next 36 months starting with the month of `as_of` (expired pairs count in that month).
    pub timeline: Vec<TimelineBucket>,
}

/// Where on a terminal a certificate was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocationView {
    /// `profile_file`, `registry`, `cryptoapi` or `file`.
    pub source: String,
    pub store: String,
    pub user: String,
    pub path: String,
}

/// A certificate held by a terminal, for the terminal page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldingView {
    pub certificate: CertificateRef,
    /// `None` for certificates that are not office certificates.
    pub office_number: Option<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub has_private_key: Option<bool>,
    pub friendly_name: String,
    pub locations: Vec<LocationView>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// True for the effective certificate of its (terminal, office) pair; false when superseded.
    pub effective: bool,
}

/// The terminal page: the terminal with every office and every live certificate it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalDetail {
    pub row: TerminalRow,
    pub holdings: Vec<HoldingView>,
    /// The renewal-tracking state of each office on the terminal (issue 17 §1), in the order
    /// of `row.offices`.
    pub tracking: Vec<OfficeTracking>,
}

/// One office's renewal tracking on a terminal (the terminal page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfficeTracking {
    pub office_number: String,
    pub tracking: TrackingView,
}

/// One alert that was decided (and possibly delivered), for `alerts history` and the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertRecord {
    pub id: i64,
    pub decided_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// `60d`, `30d`, …, `1d`, `expired`, `stale` or `uncovered`.
    pub threshold: String,
    pub office_number: Option<String>,
    pub terminal: Option<TerminalRef>,
    pub certificate_sha256: Option<String>,
    pub not_after: Option<DateTime<Utc>>,
    /// `email:owner@example` or `webhook:name`.
    pub recipient: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}
