//! Which alerts are due: thresholds per (terminal, office, effective certificate), stale
//! terminals once per stale episode, uncovered offices once per uncovered episode. Pure
//! functions over report rows; the store records decisions under a unique key so each is made
//! once, across restarts and replicas.

use certfleet_config::Thresholds;
use certfleet_model::{OfficeRow, PairRow, PairStatus, StaleRow, TrackingState};
use chrono::{DateTime, Utc};

/// A threshold a pair can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `not_after <= as_of`.
    Expired,
    /// `days_left <= n` (display-time-zone days).
    Days(u32),
}

impl Level {
    /// Stable text used in dedupe keys, history and messages: `expired`, `30d`.
    pub fn label(self) -> String {
        match self {
            Level::Expired => "expired".to_owned(),
            Level::Days(n) => format!("{n}d"),
        }
    }

    /// Smaller is more urgent.
    fn urgency(self) -> i64 {
        match self {
            Level::Expired => -1,
            Level::Days(n) => i64::from(n),
        }
    }
}

/// The most urgent threshold a pair has reached, if any (`thresholds` is sorted ascending, so
/// the first threshold at or above `days_left` is the nearest). Only this one is alerted, so a
/// certificate first seen 5 days before expiry gets the 7-day alert, not 60/30/14/7.
pub fn nearest(thresholds: &Thresholds, status: PairStatus, days_left: i64) -> Option<Level> {
    if status == PairStatus::Expired {
        return Some(Level::Expired);
    }
    thresholds
        .days()
        .iter()
        .copied()
        .find(|d| days_left <= i64::from(*d))
        .map(Level::Days)
}

/// What an alert is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A (terminal, office) pair's effective certificate reached a threshold.
    Pair(Box<PairRow>),
    /// A terminal stopped reporting.
    Stale(StaleRow),
    /// A registry office has no valid certificate on any terminal.
    Uncovered(Box<OfficeRow>),
}

/// A due alert: its dedupe key decides "once".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Unique per (terminal, certificate, level), (terminal, stale episode) or (office,
    /// uncovered episode). Inserted with a unique constraint; a second insert is a no-op.
    pub dedupe_key: String,
    /// `expired`, `30d`…, `stale` or `uncovered`.
    pub threshold: String,
    /// Urgency for ordering digests (smaller first).
    pub urgency: i64,
    pub subject: Subject,
}

impl Candidate {
    pub fn office_number(&self) -> Option<&str> {
        match &self.subject {
            Subject::Pair(p) => Some(&p.office_number),
            Subject::Uncovered(o) => Some(&o.office_number),
            Subject::Stale(_) => None,
        }
    }
}

/// Alerts due for pair rows. Superseded certificates never appear here (rows carry only the
/// effective certificate), and a renewal changes the certificate and with it every key.
///
/// `already` answers whether an alert at `level` or a more urgent one was already decided for
/// this (terminal, certificate): a pair that got the 7-day alert does not get the 14-day one
/// when, say, the display time zone changes.
pub fn pair_candidates(
    rows: &[PairRow],
    thresholds: &Thresholds,
    mut already: impl FnMut(&PairRow, Level) -> bool,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for row in rows {
        let Some(level) = nearest(thresholds, row.status, row.days_left) else {
            continue;
        };
        if !alerted_in_state(row.tracking.state, level) {
            continue;
        }
        if already(row, level) {
            continue;
        }
        out.push(Candidate {
            dedupe_key: pair_key(row.terminal.id, &row.certificate.sha256, level),
            threshold: level.label(),
            urgency: level.urgency(),
            subject: Subject::Pair(Box::new(row.clone())),
        });
    }
    out
}

/// Below this many days a requested pair is alerted again (the request may not make it).
pub const REQUESTED_ALERT_DAYS: u32 = 7;

/// Whether a pair in tracking `state` is alerted at `level` (issue 17 §2): on-hold and retired
/// pairs never; a pair whose renewal was requested only from the 7-day threshold on (being
/// stuck has its own alert, [`stuck_candidates`]); every other pair at every threshold.
pub fn alerted_in_state(state: TrackingState, level: Level) -> bool {
    match state {
        TrackingState::OnHold | TrackingState::Retired => false,
        TrackingState::Requested | TrackingState::Reissue | TrackingState::Stuck => {
            level.urgency() <= i64::from(REQUESTED_ALERT_DAYS)
        }
        TrackingState::NotStarted | TrackingState::Renewed => true,
    }
}

/// Alerts for stuck requests: one per request (identified by its day), so a stuck pair is
/// escalated once, and again only after a new request gets stuck.
pub fn stuck_candidates(rows: &[PairRow]) -> Vec<Candidate> {
    rows.iter()
        .filter(|r| r.tracking.state == TrackingState::Stuck)
        .map(|r| Candidate {
            dedupe_key: format!(
                "stuck:{}:{}:{}",
                r.terminal.id,
                r.office_number,
                r.tracking
                    .requested_on
                    .map_or_else(String::new, |d| d.to_string())
            ),
            threshold: "stuck".to_owned(),
            urgency: r.days_left.max(0),
            subject: Subject::Pair(Box::new(r.clone())),
        })
        .collect()
}

/// The dedupe key of a pair alert.
pub fn pair_key(terminal: i64, sha256: &str, level: Level) -> String {
    format!("pair:{terminal}:{sha256}:{}", level.label())
}

/// Every level at least as urgent as `level` (for the "already alerted" lookup).
pub fn levels_at_least(thresholds: &Thresholds, level: Level) -> Vec<Level> {
    let mut v = vec![Level::Expired];
    v.extend(
        thresholds
            .days()
            .iter()
            .copied()
            .map(Level::Days)
            .filter(|l| l.urgency() <= level.urgency()),
    );
    v
}

/// Alerts for stale terminals: one per stale episode, identified by the last report time
/// (a terminal that reports again and later goes stale again starts a new episode).
pub fn stale_candidates(rows: &[StaleRow]) -> Vec<Candidate> {
    rows.iter()
        .map(|row| {
            let episode = row.last_report_at.map_or(0, |t| t.timestamp());
            Candidate {
                dedupe_key: format!("stale:{}:{episode}", row.terminal.id),
                threshold: "stale".to_owned(),
                urgency: 1000,
                subject: Subject::Stale(row.clone()),
            }
        })
        .collect()
}

/// Alerts for uncovered registry offices: one per episode, identified by the latest expiry the
/// office had (a renewal that later lapses again is a new episode).
pub fn uncovered_candidates(rows: &[OfficeRow]) -> Vec<Candidate> {
    rows.iter()
        .filter(|o| o.uncovered)
        .map(|o| {
            let last: Option<DateTime<Utc>> = o.terminals.iter().map(|t| t.not_after).max();
            Candidate {
                dedupe_key: format!(
                    "uncovered:{}:{}",
                    o.office_number,
                    last.map_or(0, |t| t.timestamp())
                ),
                threshold: "uncovered".to_owned(),
                urgency: -2,
                subject: Subject::Uncovered(Box::new(o.clone())),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_threshold_only() {
        let t = Thresholds::default();
        assert_eq!(nearest(&t, PairStatus::Expiring, 5), Some(Level::Days(7)));
        assert_eq!(nearest(&t, PairStatus::Expiring, 60), Some(Level::Days(60)));
        assert_eq!(nearest(&t, PairStatus::Ok, 61), None);
        assert_eq!(nearest(&t, PairStatus::Expiring, 0), Some(Level::Days(1)));
        assert_eq!(nearest(&t, PairStatus::Expired, -3), Some(Level::Expired));
    }

    #[test]
    fn tracking_states_silence_or_escalate() {
        for level in [Level::Days(30), Level::Days(7), Level::Expired] {
            assert!(!alerted_in_state(TrackingState::OnHold, level));
            assert!(!alerted_in_state(TrackingState::Retired, level));
            assert!(alerted_in_state(TrackingState::NotStarted, level));
        }
        assert!(!alerted_in_state(TrackingState::Requested, Level::Days(14)));
        assert!(alerted_in_state(TrackingState::Requested, Level::Days(7)));
        assert!(alerted_in_state(TrackingState::Reissue, Level::Expired));
    }

    #[test]
    fn custom_thresholds_are_sorted_and_deduplicated() {
        let t = Thresholds::new(vec![7, 90, 7, 30]);
        assert_eq!(nearest(&t, PairStatus::Ok, 80), Some(Level::Days(90)));
        assert_eq!(
            levels_at_least(&t, Level::Days(30)),
            vec![Level::Expired, Level::Days(7), Level::Days(30)]
        );
    }
}
