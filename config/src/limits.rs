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
}

/// Bounds on what one agent may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_certificates_per_report: usize,
    pub max_concurrent_ingests: usize,
    pub database_max_connections: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 * 1024 * 1024,
            max_certificates_per_report: 1_000,
            max_concurrent_ingests: 64,
            database_max_connections: 16,
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
