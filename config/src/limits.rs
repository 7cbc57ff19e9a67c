//! `[limits]`: bounds on what one agent may send and on the collector's own resources.

use serde::Deserialize;

use crate::bounded;
use crate::error::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub max_message_bytes: Option<usize>,
    pub max_certificates_per_report: Option<usize>,
    pub max_concurrent_ingests: Option<usize>,
    pub database_max_connections: Option<u32>,
    /// Bytes of scan errors (paths and messages) stored per report; the rest is dropped with
    /// a note.
    pub max_scan_error_bytes: Option<usize>,
    /// Reports one terminal may send per hour (bursts up to the same number); 0 = no limit.
    pub reports_per_terminal_per_hour: Option<u32>,
    /// `Enroll` calls one client address may make per minute; 0 = no limit.
    pub enroll_per_peer_per_minute: Option<u32>,
    /// Failed authentications (unknown, malformed, missing or revoked node keys) one client
    /// address may cause per minute before its calls are refused unread; 0 = no limit.
    pub unauthenticated_per_peer_per_minute: Option<u32>,
}

/// Bounds on what one agent may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_certificates_per_report: usize,
    pub max_concurrent_ingests: usize,
    pub database_max_connections: u32,
    pub max_scan_error_bytes: usize,
    /// 0 = no limit (also for the two per-peer rates).
    pub reports_per_terminal_per_hour: u32,
    pub enroll_per_peer_per_minute: u32,
    pub unauthenticated_per_peer_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 * 1024 * 1024,
            max_certificates_per_report: 1_000,
            max_concurrent_ingests: 64,
            database_max_connections: 16,
            // A report's diagnostics, not inventory: a few dozen errors with their paths.
            max_scan_error_bytes: 16 * 1024,
            // An agent reports daily, plus a few retries and manual runs.
            reports_per_terminal_per_hour: 12,
            // An office behind one NAT address enrolling all its PCs at once.
            enroll_per_peer_per_minute: 120,
            unauthenticated_per_peer_per_minute: 60,
        }
    }
}

impl Limits {
    /// The section with defaults filled in, each value checked against its range.
    pub fn resolve(section: &LimitsSection) -> Result<Limits, ConfigError> {
        let mut limits = Limits::default();
        if let Some(v) = section.max_message_bytes {
            limits.max_message_bytes =
                bounded("limits.max_message_bytes", v, 16 * 1024, 64 * 1024 * 1024)?;
        }
        if let Some(v) = section.max_certificates_per_report {
            limits.max_certificates_per_report =
                bounded("limits.max_certificates_per_report", v, 1, 100_000)?;
        }
        if let Some(v) = section.max_concurrent_ingests {
            limits.max_concurrent_ingests = bounded("limits.max_concurrent_ingests", v, 1, 10_000)?;
        }
        if let Some(v) = section.max_scan_error_bytes {
            limits.max_scan_error_bytes =
                bounded("limits.max_scan_error_bytes", v, 1024, 1024 * 1024)?;
        }
        let rate = |setting, value: Option<u32>, default: u32| match value {
            Some(v) => bounded(setting, v as usize, 0, 1_000_000).map(|v| v as u32),
            None => Ok(default),
        };
        limits.reports_per_terminal_per_hour = rate(
            "limits.reports_per_terminal_per_hour",
            section.reports_per_terminal_per_hour,
            limits.reports_per_terminal_per_hour,
        )?;
        limits.enroll_per_peer_per_minute = rate(
            "limits.enroll_per_peer_per_minute",
            section.enroll_per_peer_per_minute,
            limits.enroll_per_peer_per_minute,
        )?;
        limits.unauthenticated_per_peer_per_minute = rate(
            "limits.unauthenticated_per_peer_per_minute",
            section.unauthenticated_per_peer_per_minute,
            limits.unauthenticated_per_peer_per_minute,
        )?;
        limits.database_max_connections = database_max_connections(section)?;
        Ok(limits)
    }
}

/// `limits.database_max_connections` alone: database-only commands check nothing else.
pub(crate) fn database_max_connections(section: &LimitsSection) -> Result<u32, ConfigError> {
    match section.database_max_connections {
        Some(v) => Ok(bounded("limits.database_max_connections", v as usize, 1, 1_000)? as u32),
        None => Ok(Limits::default().database_max_connections),
    }
}
