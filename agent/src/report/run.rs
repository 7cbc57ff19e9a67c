//! `certfleet-agent run`: scan and report forever at an interval with jitter, until shutdown.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use super::client::{ReportSettings, deliver};
use crate::model::ScanResult;

/// When the loop runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSchedule {
    pub interval: Duration,
    /// Each wait is lengthened by a random amount up to this, so a fleet booted together spreads out.
    pub jitter: Duration,
}

fn jittered(base: Duration, jitter: Duration, rng: &mut impl Rng) -> Duration {
    let max = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
    base + Duration::from_millis(rng.random_range(0..=max))
}

/// Runs `scan` and delivers its result every `schedule.interval` until `shutdown` completes.
/// Delivery failures are logged; the spool keeps the snapshot for the next round.
pub async fn run_loop(
    settings: &ReportSettings,
    schedule: RunSchedule,
    mut scan: impl FnMut() -> ScanResult,
    shutdown: impl Future<Output = ()>,
) -> u64 {
    let mut rounds = 0u64;
    tokio::pin!(shutdown);
    let mut rng = rand::rng();
    let mut wait = jittered(Duration::ZERO, schedule.jitter, &mut rng);
    loop {
        tokio::select! {
            () = &mut shutdown => return rounds,
            () = tokio::time::sleep(wait) => {}
        }
        let result = scan();
        rounds += 1;
        match deliver(settings, &result).await {
            Ok(d) => {
                tracing::info!(report_id = %d.report_id, accepted = d.accepted_certificates, rejected = d.rejected.len(), "snapshot delivered")
            }
            Err(e) => tracing::warn!(error = %e, "snapshot not delivered"),
        }
        wait = jittered(schedule.interval, schedule.jitter, &mut rng);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn loop_runs_on_schedule_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing listens on port 9 of loopback: every delivery fails fast and is spooled.
        let mut settings = ReportSettings::new("http://127.0.0.1:9", dir.path().to_owned());
        settings.insecure_plaintext = true;
        settings.attempts = 1;
        settings.facts.machine_id = Some("m-test".into());
        let schedule = RunSchedule {
            interval: Duration::from_secs(3600),
            jitter: Duration::ZERO,
        };
        let mut scans = 0;
        let rounds = run_loop(
            &settings,
            schedule,
            || {
                scans += 1;
                ScanResult::default()
            },
            tokio::time::sleep(Duration::from_secs(3 * 3600 + 1800)),
        )
        .await;
        assert_eq!(
            rounds, 4,
            "rounds at 0h, 1h, 2h and 3h before the 3.5h shutdown"
        );
        assert_eq!(scans, 4);
        assert!(
            dir.path().join("pending-report.pb").exists(),
            "undelivered snapshot is spooled"
        );
    }
}
