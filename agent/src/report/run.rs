//! Running reports: `certfleet-agent report` (once, after an optional random delay) and
//! `certfleet-agent run` (forever at an interval with jitter, until shutdown). Every run is
//! recorded in the state directory (`status`).

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;

use super::client::{Delivery, ReportError, ReportSettings, deliver};
use super::state::StateDir;
use super::status::{AckRecord, Outcome, RunRecord};
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

/// One report: waits a random time of up to `random_delay` before scanning, so that a fleet
/// switched on at 8:30 does not report in the same second (Task Scheduler's boot trigger has
/// no random delay of its own), then scans, delivers and records the run.
#[tracing::instrument(skip_all, fields(random_delay_secs = random_delay.as_secs()))]
pub async fn report_once(
    settings: &ReportSettings,
    random_delay: Duration,
    scan: impl FnOnce() -> ScanResult,
) -> Result<Delivery, ReportError> {
    let wait = jittered(Duration::ZERO, random_delay, &mut rand::rng());
    if !wait.is_zero() {
        tracing::info!(
            seconds = wait.as_secs(),
            "waiting before the scan (--random-delay)"
        );
        tokio::time::sleep(wait).await;
    }
    let result = scan();
    let outcome = deliver(settings, &result).await;
    record(settings, &result, &outcome);
    outcome
}

/// Leaves the run's trace in the state directory; a failure to do so is logged, never fatal.
fn record(settings: &ReportSettings, result: &ScanResult, outcome: &Result<Delivery, ReportError>) {
    let state = match StateDir::open(&settings.state_dir) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot record the run");
            return;
        }
    };
    let now = Utc::now();
    let (run, ack) = match outcome {
        Ok(d) => (
            RunRecord {
                at: now,
                outcome: Outcome::Delivered,
                certificates: result.certificates.len(),
                scan_errors: result.errors.len(),
                error: None,
                via_proxy: d.via_proxy.clone(),
            },
            Some(AckRecord {
                at: now,
                report_id: d.report_id.clone(),
                terminal_id: d.terminal_id.clone(),
                accepted_certificates: d.accepted_certificates,
                rejected_certificates: d.rejected.len(),
            }),
        ),
        Err(e) => {
            let spooled = state.spooled().ok().flatten().is_some();
            (
                RunRecord {
                    at: now,
                    outcome: if spooled {
                        Outcome::Spooled
                    } else {
                        Outcome::Failed
                    },
                    certificates: result.certificates.len(),
                    scan_errors: result.errors.len(),
                    error: Some(e.to_string()),
                    via_proxy: None,
                },
                None,
            )
        }
    };
    if let Err(e) = state.record_run(run, ack) {
        tracing::warn!(error = %e, "cannot record the run");
    }
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
        let outcome = deliver(settings, &result).await;
        record(settings, &result, &outcome);
        match outcome {
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
        let state = StateDir::open(dir.path()).unwrap();
        assert_eq!(state.log_tail(10).len(), 4, "one log line per round");
        assert_eq!(
            state.status().unwrap().last_run.unwrap().outcome,
            Outcome::Spooled
        );
    }

    #[tokio::test(start_paused = true)]
    async fn report_once_waits_a_random_time_within_the_delay() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = ReportSettings::new("http://127.0.0.1:9", dir.path().to_owned());
        settings.insecure_plaintext = true;
        settings.attempts = 1;
        settings.facts.machine_id = Some("m-test".into());
        let delay = Duration::from_secs(1800);
        let mut waits = Vec::new();
        for _ in 0..20 {
            let start = tokio::time::Instant::now();
            let mut scanned_after = None;
            let outcome = report_once(&settings, delay, || {
                scanned_after = Some(start.elapsed());
                ScanResult::default()
            })
            .await;
            assert!(outcome.is_err(), "nothing listens on port 9");
            let waited = scanned_after.expect("scanned");
            assert!(waited <= delay, "{waited:?}");
            waits.push(waited);
        }
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 15, "delays must spread: {waits:?}");
        assert!(
            waits.iter().any(|w| *w > Duration::from_secs(900)),
            "{waits:?}"
        );
        // No delay asked: the scan starts at once.
        let start = tokio::time::Instant::now();
        let mut waited = None;
        let _ = report_once(&settings, Duration::ZERO, || {
            waited = Some(start.elapsed());
            ScanResult::default()
        })
        .await;
        assert_eq!(waited, Some(Duration::ZERO));
    }
}
