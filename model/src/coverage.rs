//! The coverage report (issue 17 §4): where the fleet differs from the expected-terminal list,
//! and which PCs run an outdated agent. Its serde names are part of the public JSON contract
//! (golden files in `reports/tests/golden/`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::TerminalRef;

/// What one coverage row reports, in the order rows are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoverageGap {
    /// An expected PC with no counting terminal, or one enrolled that never sent a report.
    NeverReported,
    /// An office expected on a reporting PC with no live certificate for it there.
    OfficeMissing,
    /// An office expected on a reporting PC whose effective certificate there is expired.
    OfficeExpired,
    /// A reporting PC that is not on the expected-terminal list.
    NotExpected,
    /// A reporting PC whose agent is below the minimum agent version (semver order).
    OutdatedAgent,
}

impl CoverageGap {
    pub fn as_str(self) -> &'static str {
        match self {
            CoverageGap::NeverReported => "never_reported",
            CoverageGap::OfficeMissing => "office_missing",
            CoverageGap::OfficeExpired => "office_expired",
            CoverageGap::NotExpected => "not_expected",
            CoverageGap::OutdatedAgent => "outdated_agent",
        }
    }
}

/// One difference between the fleet and the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageRow {
    pub gap: CoverageGap,
    /// The list's hostname for an expected PC, the terminal's otherwise.
    pub hostname: String,
    /// The list's machine id (expected PCs) or the terminal's; `None` when neither has one.
    pub machine_id: Option<String>,
    /// The matching terminal, when there is one.
    pub terminal: Option<TerminalRef>,
    /// For `office_missing` and `office_expired`.
    pub office_number: Option<String>,
    /// The office's registry name, when registered.
    pub office_name: Option<String>,
    /// For `office_expired`: the effective certificate's expiry.
    pub not_after: Option<DateTime<Utc>>,
    pub last_report_at: Option<DateTime<Utc>>,
    /// The terminal's agent version, when there is a terminal.
    pub agent_version: Option<String>,
}

/// How many counting terminals run one agent version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentVersionCount {
    pub version: String,
    pub terminals: u32,
    /// Below `minimum_agent_version`, or not a semantic version at all.
    pub outdated: bool,
}

/// `report coverage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageReport {
    pub as_of: DateTime<Utc>,
    /// When the expected-terminal list was imported; `None`: no list, so only the agent
    /// version rows are reported.
    pub list_imported_at: Option<DateTime<Utc>>,
    /// PCs on the list.
    pub expected_terminals: u32,
    /// Counting terminals (neither revoked nor pending approval).
    pub terminals: u32,
    /// Agents below this version are outdated.
    pub minimum_agent_version: String,
    /// Newest version first.
    pub agent_versions: Vec<AgentVersionCount>,
    pub rows: Vec<CoverageRow>,
}
