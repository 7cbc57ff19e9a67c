//! `[retention]`: how long what grows with every report is kept (issue 16). One replica runs
//! it daily at `daily_at` (local time in `[reports] time_zone`); `retention run` runs it now.
//!
//! ```toml
//! [retention]
//! enabled = true               # the default
//! daily_at = "03:30"
//! reports_days = 90            # each terminal's newest report is always kept
//! removed_holdings_days = 365  # certificates gone from a PC: the terminal page's history
//! alert_history_days = 365     # alert decisions whose subject is over, all delivered
//! ```

use chrono::NaiveTime;
use serde::Deserialize;

use crate::error::{ConfigError, invalid};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    pub enabled: Option<bool>,
    pub daily_at: Option<String>,
    pub reports_days: Option<u32>,
    pub removed_holdings_days: Option<u32>,
    pub alert_history_days: Option<u32>,
}

/// Resolved `[retention]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    pub enabled: bool,
    pub daily_at: NaiveTime,
    pub time_zone: chrono_tz::Tz,
    pub reports_days: u32,
    pub removed_holdings_days: u32,
    pub alert_history_days: u32,
}

/// Defaults: three months of reports (each terminal's last one always stays), a year of
/// history. A year of daily reports from 100,000 PCs is 36.5 million rows; 90 days keep the
/// database at a quarter of that (BENCHMARKS.md, "Retention").
pub const DEFAULT_REPORTS_DAYS: u32 = 90;
pub const DEFAULT_HISTORY_DAYS: u32 = 365;

impl RetentionSettings {
    pub fn resolve(
        section: &RetentionSection,
        time_zone: chrono_tz::Tz,
    ) -> Result<RetentionSettings, ConfigError> {
        let daily_at = match &section.daily_at {
            None => NaiveTime::from_hms_opt(3, 30, 0).expect("valid time"),
            Some(at) => NaiveTime::parse_from_str(at, "%H:%M:%S")
                .or_else(|_| NaiveTime::parse_from_str(at, "%H:%M"))
                .map_err(|_| {
                    invalid(
                        "retention.daily_at",
                        format!("{at:?} is not a time like \"03:30\""),
                    )
                })?,
        };
        let days = |setting: &'static str, value: Option<u32>, default: u32, min: u32| {
            let v = value.unwrap_or(default);
            if v < min || v > 36_500 {
                return Err(invalid(
                    setting,
                    format!("{v} is outside {min}..=36500 days"),
                ));
            }
            Ok(v)
        };
        Ok(RetentionSettings {
            enabled: section.enabled.unwrap_or(true),
            daily_at,
            time_zone,
            // A week at least: the stale report and the alerts look back that far.
            reports_days: days(
                "retention.reports_days",
                section.reports_days,
                DEFAULT_REPORTS_DAYS,
                7,
            )?,
            removed_holdings_days: days(
                "retention.removed_holdings_days",
                section.removed_holdings_days,
                DEFAULT_HISTORY_DAYS,
                1,
            )?,
            alert_history_days: days(
                "retention.alert_history_days",
                section.alert_history_days,
                DEFAULT_HISTORY_DAYS,
                1,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bad_values_name_the_setting() {
        let tz = chrono_tz::Asia::Tokyo;
        let s = RetentionSettings::resolve(&RetentionSection::default(), tz).unwrap();
        assert!(s.enabled);
        assert_eq!(s.reports_days, 90);
        assert_eq!(s.daily_at, NaiveTime::from_hms_opt(3, 30, 0).unwrap());
        let section: RetentionSection = toml::from_str("reports_days = 3").unwrap();
        let err = RetentionSettings::resolve(&section, tz)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("retention.reports_days"), "{err}");
        let section: RetentionSection = toml::from_str("daily_at = \"3 am\"").unwrap();
        let err = RetentionSettings::resolve(&section, tz)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("retention.daily_at"), "{err}");
        assert!(toml::from_str::<RetentionSection>("report_days = 90").is_err());
    }
}
