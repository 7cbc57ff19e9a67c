//! Metrics of the collector's scheduled work (issue 16), for `/metrics`: alert digests per
//! channel and outcome, rows retention deleted per kind (counters of this process, every series
//! present from the start at 0), and the time of the last successful alert and retention run
//! (from the database, so every replica reports the same value and a restart does not reset
//! it; 0 = never).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use certfleet_store::{MaintenanceRun, Pruned};

/// Counters of scheduled work in this process.
#[derive(Debug, Default)]
pub struct OpsMetrics {
    inner: Mutex<Inner>,
    /// The tasks `serve` schedules (`alerts`, `retention`): only theirs have a "last success"
    /// gauge, so a deployment without alert channels is not told its alerts never ran.
    scheduled: Vec<&'static str>,
}

#[derive(Debug, Default)]
struct Inner {
    /// (channel, outcome) → digests. Channel: `email` or `webhook:NAME`.
    deliveries: BTreeMap<(String, &'static str), u64>,
    pruned: Pruned,
}

/// The channel of a recipient id (`email:ADDRESS` → `email`, `webhook:NAME` stays): an e-mail
/// address must not become a label (unbounded, and personal data).
pub fn channel_of(recipient: &str) -> String {
    if recipient.starts_with("email:") {
        "email".to_owned()
    } else {
        recipient.to_owned()
    }
}

impl OpsMetrics {
    /// Pre-sets the delivery counters of every configured channel to 0; `scheduled` are the
    /// tasks this collector runs daily.
    pub fn new(channels: impl IntoIterator<Item = String>, scheduled: Vec<&'static str>) -> Self {
        let metrics = OpsMetrics {
            scheduled,
            ..OpsMetrics::default()
        };
        {
            let mut inner = metrics.lock();
            for channel in channels {
                for outcome in ["sent", "failed"] {
                    inner
                        .deliveries
                        .entry((channel.clone(), outcome))
                        .or_default();
                }
            }
        }
        metrics
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one alert run's digests.
    pub fn observe_alert_run(&self, summary: &certfleet_alerts::RunSummary) {
        let mut inner = self.lock();
        for (recipient, _) in &summary.delivered {
            *inner
                .deliveries
                .entry((channel_of(recipient), "sent"))
                .or_default() += 1;
        }
        for (recipient, _) in &summary.failed {
            *inner
                .deliveries
                .entry((channel_of(recipient), "failed"))
                .or_default() += 1;
        }
    }

    /// Counts what one retention run deleted.
    pub fn observe_retention(&self, pruned: &Pruned) {
        let mut inner = self.lock();
        let total = &mut inner.pruned;
        total.reports += pruned.reports;
        total.holdings += pruned.holdings;
        total.certificates += pruned.certificates;
        total.alert_events += pruned.alert_events;
        total.alert_deliveries += pruned.alert_deliveries;
    }

    /// Appends these metrics; `runs` is the database's bookkeeping (`None` when it could not
    /// be read: the timestamps are then left out rather than reported as "never").
    pub fn render(&self, runs: Option<&[MaintenanceRun]>, out: &mut String) {
        let inner = self.lock();
        out.push_str(
            "# HELP certfleet_alert_deliveries_total Alert digests handed to a channel by this \
             replica, by channel (email or webhook:NAME) and outcome (sent, failed).\n",
        );
        out.push_str("# TYPE certfleet_alert_deliveries_total counter\n");
        for ((channel, outcome), n) in &inner.deliveries {
            let _ = writeln!(
                out,
                "certfleet_alert_deliveries_total{{channel=\"{}\",outcome=\"{outcome}\"}} {n}",
                channel.replace('\\', "\\\\").replace('"', "\\\"")
            );
        }
        out.push_str(
            "# HELP certfleet_retention_pruned_rows_total Rows retention deleted on this \
             replica, by kind.\n",
        );
        out.push_str("# TYPE certfleet_retention_pruned_rows_total counter\n");
        for (kind, n) in inner.pruned.by_kind() {
            let _ = writeln!(
                out,
                "certfleet_retention_pruned_rows_total{{kind=\"{kind}\"}} {n}"
            );
        }
        let Some(runs) = runs else { return };
        let tasks = [
            (
                "alerts",
                "certfleet_alerts_last_success_timestamp_seconds",
                "End of the last alert run that completed without a failed delivery (any replica; 0 = never).",
            ),
            (
                "retention",
                "certfleet_retention_last_success_timestamp_seconds",
                "End of the last completed retention run (any replica; 0 = never).",
            ),
        ];
        for (task, metric, help) in tasks {
            if !self.scheduled.contains(&task) {
                continue;
            }
            let at = runs
                .iter()
                .find(|r| r.task == task)
                .and_then(|r| r.last_success_at)
                .map_or(0, |t| t.timestamp());
            let _ = writeln!(out, "# HELP {metric} {help}");
            let _ = writeln!(out, "# TYPE {metric} gauge");
            let _ = writeln!(out, "{metric} {at}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_exist_at_zero_and_count_per_channel() {
        let m = OpsMetrics::new(
            ["email".to_owned(), "webhook:teams".to_owned()],
            vec!["alerts", "retention"],
        );
        let mut text = String::new();
        m.render(Some(&[]), &mut text);
        for line in [
            "certfleet_alert_deliveries_total{channel=\"email\",outcome=\"sent\"} 0",
            "certfleet_alert_deliveries_total{channel=\"webhook:teams\",outcome=\"failed\"} 0",
            "certfleet_retention_pruned_rows_total{kind=\"reports\"} 0",
            "certfleet_alerts_last_success_timestamp_seconds 0",
            "certfleet_retention_last_success_timestamp_seconds 0",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        m.observe_alert_run(&certfleet_alerts::RunSummary {
            delivered: vec![
                ("email:a@example.jp".into(), 3),
                ("email:b@example.jp".into(), 1),
            ],
            failed: vec![("webhook:teams".into(), "503".into())],
            ..Default::default()
        });
        m.observe_retention(&Pruned {
            reports: 7,
            ..Pruned::default()
        });
        let mut text = String::new();
        m.render(None, &mut text);
        assert!(
            text.contains("certfleet_alert_deliveries_total{channel=\"email\",outcome=\"sent\"} 2")
        );
        assert!(text.contains(
            "certfleet_alert_deliveries_total{channel=\"webhook:teams\",outcome=\"failed\"} 1"
        ));
        assert!(!text.contains("a@example.jp"), "no address as a label");
        assert!(text.contains("certfleet_retention_pruned_rows_total{kind=\"reports\"} 7"));
        assert!(
            !text.contains("last_success"),
            "unknown without the database"
        );
    }
}
