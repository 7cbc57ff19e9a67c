//! Report requests as both front ends state them: the CLI's flags and the HTTP API's query
//! string become one [`ReportParams`], which [`run`] turns into one [`Report`]. That single
//! path is why the CLI and the API return identical JSON for the same query.

use certfleet_model::{ExpiringQuery, ExpiringReport, StaleReport, TrackingState};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::{FleetView, ReportError};
use certfleet_config::ReportSettings;
use certfleet_store::Store;

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Expiring,
    Terminals,
    Offices,
    MultiOffice,
    Stale,
    Coverage,
}

impl ReportKind {
    /// The name used by the CLI subcommand and the API path (`multi-office`).
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::Expiring => "expiring",
            ReportKind::Terminals => "terminals",
            ReportKind::Offices => "offices",
            ReportKind::MultiOffice => "multi-office",
            ReportKind::Stale => "stale",
            ReportKind::Coverage => "coverage",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            ReportKind::Expiring,
            ReportKind::Terminals,
            ReportKind::Offices,
            ReportKind::MultiOffice,
            ReportKind::Stale,
            ReportKind::Coverage,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// The parameters of any report, unparsed where the front end has only text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportParams {
    /// Window `W` in days (default: `reports.window_days`, 60).
    pub within: Option<u32>,
    /// RFC 3339 instant or `YYYY-MM-DD` (00:00 in the display time zone); default now.
    pub as_of: Option<String>,
    pub offices: Vec<String>,
    pub terminals: Vec<String>,
    pub include_ok: bool,
    /// Stale threshold in days (default: `reports.stale_after_days`, 7).
    pub older_than: Option<u32>,
    /// Tracking states (`--state`, `state=`); empty: every state but retired.
    pub states: Vec<TrackingState>,
}

/// A built report of any kind; serializes as the model type inside (no wrapper).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Report {
    Expiring(ExpiringReport),
    /// `terminals`, `multi-office` and `offices`: rows built while written.
    Fleet(super::FleetReport),
    Stale(StaleReport),
    Coverage(certfleet_model::CoverageReport),
}

impl Report {
    /// The JSON both front ends return: the model type in the report layout of
    /// [`super::json`] (compact, one row per line).
    pub fn to_json(&self) -> String {
        super::json::to_string(self)
    }

    /// [`Report::to_json`] written to `w` as it is produced (the HTTP body, stdout): a
    /// 100k-terminal report is ≈ 100 MB of JSON that never has to exist in one piece.
    pub fn write_json(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        match self {
            Report::Expiring(r) => super::json::write_expiring(w, r),
            _ => super::json::to_writer(w, self),
        }
    }
}

/// Parses `--as-of` / `as_of=`: an RFC 3339 instant, or a date meaning 00:00 of that day in
/// the display time zone.
pub fn parse_as_of(text: &str, tz: Tz) -> Result<DateTime<Utc>, ReportError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let midnight = d.and_hms_opt(0, 0, 0).expect("midnight exists");
        // `earliest` also covers a zone whose midnight falls into a DST gap or overlap.
        if let Some(t) = tz.from_local_datetime(&midnight).earliest() {
            return Ok(t.with_timezone(&Utc));
        }
    }
    Err(ReportError::invalid(
        "as_of",
        format!(
            "{text:?} is neither an RFC 3339 time (2026-11-26T09:00:00+09:00) nor a date (2026-11-26)"
        ),
    ))
}

/// Parses a `--state` / `state=` value: tracking state names, comma-separated
/// (`requested,stuck`).
pub fn parse_states(text: &str) -> Result<Vec<TrackingState>, ReportError> {
    let mut out = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let state = TrackingState::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = TrackingState::ALL.iter().map(|s| s.as_str()).collect();
            ReportError::invalid(
                "state",
                format!(
                    "{name:?} is not a tracking state (one of {})",
                    known.join(", ")
                ),
            )
        })?;
        if !out.contains(&state) {
            out.push(state);
        }
    }
    Ok(out)
}

/// Builds the requested report: the one code path behind `certfleet-collector report …` and
/// `/api/v1/reports/…`.
pub async fn run(
    store: &dyn Store,
    kind: ReportKind,
    params: &ReportParams,
    now: DateTime<Utc>,
    s: &ReportSettings,
) -> Result<Report, ReportError> {
    let as_of = match &params.as_of {
        Some(text) => parse_as_of(text, s.time_zone)?,
        None => now,
    };
    let within = params.within.unwrap_or(s.window_days);
    let only_for = |name: &'static str, set: bool, allowed: bool| {
        if set && !allowed {
            Err(ReportError::invalid(
                name,
                format!("not supported by the {} report", kind.name()),
            ))
        } else {
            Ok(())
        }
    };
    let is_expiring = kind == ReportKind::Expiring;
    only_for("office", !params.offices.is_empty(), is_expiring)?;
    only_for("terminal", !params.terminals.is_empty(), is_expiring)?;
    only_for("include_ok", params.include_ok, is_expiring)?;
    only_for("state", !params.states.is_empty(), is_expiring)?;
    only_for(
        "older_than",
        params.older_than.is_some(),
        kind == ReportKind::Stale,
    )?;
    Ok(match kind {
        ReportKind::Expiring => {
            let q = ExpiringQuery {
                as_of,
                within_days: within,
                offices: params.offices.clone(),
                terminals: params.terminals.clone(),
                include_ok: params.include_ok,
                states: params.states.clone(),
            };
            Report::Expiring(super::expiring(store, &q, s).await?)
        }
        ReportKind::Terminals | ReportKind::MultiOffice | ReportKind::Offices => {
            let view = match kind {
                ReportKind::Terminals => FleetView::Terminals,
                ReportKind::MultiOffice => FleetView::MultiOffice,
                _ => FleetView::Offices,
            };
            Report::Fleet(super::FleetReport::load(store, view, as_of, within, s).await?)
        }
        ReportKind::Coverage => Report::Coverage(
            super::coverage::coverage(store, as_of, super::coverage::MINIMUM_AGENT_VERSION).await?,
        ),
        ReportKind::Stale => Report::Stale(
            super::stale(
                store,
                as_of,
                params.older_than.unwrap_or(s.stale_after_days),
                s,
            )
            .await?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_accepts_rfc3339_and_local_dates() {
        let tz = chrono_tz::Asia::Tokyo;
        assert_eq!(
            parse_as_of("2026-11-26", tz).unwrap().to_rfc3339(),
            "2026-11-25T15:00:00+00:00"
        );
        assert_eq!(
            parse_as_of("2026-11-26T14:30:00Z", tz)
                .unwrap()
                .to_rfc3339(),
            "2026-11-26T14:30:00+00:00"
        );
        let err = parse_as_of("yesterday", tz).unwrap_err();
        assert!(err.to_string().starts_with("invalid as_of"), "{err}");
    }

    #[test]
    fn kinds_round_trip_by_name() {
        for name in ["expiring", "terminals", "offices", "multi-office", "stale"] {
            assert_eq!(ReportKind::from_name(name).unwrap().name(), name);
        }
        assert!(ReportKind::from_name("nope").is_none());
    }
}
