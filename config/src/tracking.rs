//! `[tracking]`: the renewal-tracking settings of issue 17 §1 (when a request counts as stuck,
//! how much earlier a password reissue moves the renew-by date).

use serde::Deserialize;

use crate::bounded;
use crate::error::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingSection {
    pub stuck_after_days: Option<u32>,
    pub password_reissue_lead_days: Option<u32>,
}

/// Renewal-tracking settings, carried inside [`crate::ReportSettings`] because every report
/// that shows a pair's state needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackingSettings {
    /// A request with no newer certificate after this many days is *stuck*.
    pub stuck_after_days: u32,
    /// A password reissue by post takes about this long; it moves `renew_by` this much earlier.
    pub password_reissue_lead_days: u32,
}

impl Default for TrackingSettings {
    fn default() -> Self {
        Self {
            stuck_after_days: 5,
            password_reissue_lead_days: 7,
        }
    }
}

impl TrackingSettings {
    /// The section with defaults filled in and every value checked.
    pub fn resolve(section: &TrackingSection) -> Result<TrackingSettings, ConfigError> {
        let mut t = TrackingSettings::default();
        if let Some(v) = section.stuck_after_days {
            t.stuck_after_days = bounded("tracking.stuck_after_days", v as usize, 1, 365)? as u32;
        }
        if let Some(v) = section.password_reissue_lead_days {
            t.password_reissue_lead_days =
                bounded("tracking.password_reissue_lead_days", v as usize, 0, 365)? as u32;
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let t = TrackingSettings::resolve(&TrackingSection::default()).unwrap();
        assert_eq!(t, TrackingSettings::default());
        let bad = TrackingSection {
            stuck_after_days: Some(0),
            password_reissue_lead_days: None,
        };
        let e = TrackingSettings::resolve(&bad).unwrap_err().to_string();
        assert!(e.contains("tracking.stuck_after_days"), "{e}");
    }
}
