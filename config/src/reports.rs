//! `[reports]`: the report semantics settings of SPEC §5 (display time zone, window, lead
//! time, staleness, billing window) and the office registry file.

use std::path::PathBuf;

use serde::Deserialize;

use crate::bounded;
use crate::error::{ConfigError, invalid};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsSection {
    pub time_zone: Option<String>,
    pub window_days: Option<u32>,
    pub lead_days: Option<u32>,
    pub stale_after_days: Option<u32>,
    pub billing_window_start_day: Option<u32>,
    pub billing_window_end_day: Option<u32>,
    pub office_registry: Option<PathBuf>,
}

/// Report semantics settings (SPEC §5).
#[derive(Debug, Clone)]
pub struct ReportSettings {
    pub time_zone: chrono_tz::Tz,
    pub window_days: u32,
    pub lead_days: u32,
    pub stale_after_days: u32,
    pub billing_window_start_day: u32,
    pub billing_window_end_day: u32,
    /// `[tracking]` (issue 17 §1), resolved from its own section.
    pub tracking: crate::tracking::TrackingSettings,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self {
            time_zone: chrono_tz::Asia::Tokyo,
            window_days: 60,
            lead_days: 14,
            stale_after_days: 7,
            billing_window_start_day: 1,
            billing_window_end_day: 10,
            tracking: crate::tracking::TrackingSettings::default(),
        }
    }
}

impl ReportSettings {
    /// The section with defaults filled in and every value checked.
    pub fn resolve(section: &ReportsSection) -> Result<ReportSettings, ConfigError> {
        let mut r = ReportSettings::default();
        if let Some(tz) = &section.time_zone {
            r.time_zone = tz.parse().map_err(|_| {
                invalid(
                    "reports.time_zone",
                    format!("{tz:?} is not an IANA time zone like Asia/Tokyo"),
                )
            })?;
        }
        if let Some(v) = section.window_days {
            r.window_days = bounded("reports.window_days", v as usize, 1, 3650)? as u32;
        }
        if let Some(v) = section.lead_days {
            r.lead_days = bounded("reports.lead_days", v as usize, 0, 365)? as u32;
        }
        if let Some(v) = section.stale_after_days {
            r.stale_after_days = bounded("reports.stale_after_days", v as usize, 1, 3650)? as u32;
        }
        if let Some(v) = section.billing_window_start_day {
            r.billing_window_start_day =
                bounded("reports.billing_window_start_day", v as usize, 1, 28)? as u32;
        }
        if let Some(v) = section.billing_window_end_day {
            r.billing_window_end_day =
                bounded("reports.billing_window_end_day", v as usize, 1, 28)? as u32;
        }
        if r.billing_window_end_day < r.billing_window_start_day {
            return Err(invalid(
                "reports.billing_window_end_day",
                "ends before billing_window_start_day",
            ));
        }
        Ok(r)
    }
}
