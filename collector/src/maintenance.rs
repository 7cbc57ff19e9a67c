//! The daily work every replica schedules and exactly one runs (issue 16): the alert run and
//! retention. Each replica computes the same next slot (the configured local time); the first
//! to claim it in the database (`MaintenanceStore::claim_maintenance_slot`, one conditional
//! UPDATE) runs it, and the others skip it, so a slot runs once however many replicas there are
//! and whichever of them is up. A replica that crashes mid-run leaves that slot done: the next
//! day's slot runs again (alert deliveries that were due are sent then). The alert run keeps
//! its own advisory lock and dedupe keys underneath, so even a manual `alerts run` at the same
//! moment sends nothing twice.

use std::future::Future;
use std::sync::Arc;

use certfleet_config::RetentionSettings;
use certfleet_store::{Pruned, RetentionPolicy, SharedStore, StoreError};
use chrono::{DateTime, NaiveTime, Utc};

use crate::ops_metrics::OpsMetrics;

/// Task names in `maintenance_runs`.
pub const ALERTS_TASK: &str = "alerts";
pub const RETENTION_TASK: &str = "retention";

/// Rows per retention statement (each its own short transaction).
const RETENTION_BATCH: u32 = 10_000;

/// This process, as the claim records it: `host:pid`.
pub fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .unwrap_or_else(|_| "collector".to_owned());
    format!("{host}:{}", std::process::id())
}

/// The cut-offs of `[retention]` at `now`.
pub fn policy(settings: &RetentionSettings, now: DateTime<Utc>) -> RetentionPolicy {
    let days = |d: u32| chrono::Duration::days(i64::from(d));
    RetentionPolicy {
        reports_before: now - days(settings.reports_days),
        removed_holdings_before: now - days(settings.removed_holdings_days),
        alerts_before: now - days(settings.alert_history_days),
        // A day's margin before a certificate no holding refers to goes, so an ingest that is
        // about to refer to it again does not find it gone.
        orphans_first_seen_before: now - chrono::Duration::days(1),
        now,
        batch: RETENTION_BATCH,
    }
}

/// One retention run at `now` (the schedule's and `retention run`'s): prunes (or, with
/// `dry_run`, counts) and records the success.
pub async fn run_retention(
    store: &SharedStore,
    settings: &RetentionSettings,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Pruned, StoreError> {
    let started = std::time::Instant::now();
    let pruned = store.prune(&policy(settings, now), dry_run).await?;
    if !dry_run {
        let result = serde_json::to_string(&pruned).unwrap_or_default();
        store
            .record_maintenance_success(RETENTION_TASK, Utc::now(), &result)
            .await?;
        tracing::info!(
            reports = pruned.reports,
            holdings = pruned.holdings,
            certificates = pruned.certificates,
            alert_events = pruned.alert_events,
            alert_deliveries = pruned.alert_deliveries,
            seconds = started.elapsed().as_secs_f64(),
            "retention run finished"
        );
    }
    Ok(pruned)
}

/// The answer of one claim: whether this replica got the slot.
pub type ClaimFuture = std::pin::Pin<Box<dyn Future<Output = Result<bool, StoreError>> + Send>>;

/// Claims `task`'s slot in `store` for this process.
pub fn claim_in(
    store: SharedStore,
    task: &'static str,
) -> impl FnMut(DateTime<Utc>) -> ClaimFuture {
    let holder = holder();
    move |slot| {
        let (store, holder) = (store.clone(), holder.clone());
        Box::pin(async move { store.claim_maintenance_slot(task, slot, &holder).await })
    }
}

/// Runs `run(slot)` every day at `at` (local time in `tz`) when `claim(slot)` says this replica
/// has it (see [`claim_in`]), until `shutdown`. `clock` gives the current time (injected, so
/// tests drive it with paused tokio time).
pub async fn daily<C, CFut, F, Fut>(
    task: &'static str,
    at: NaiveTime,
    tz: chrono_tz::Tz,
    mut claim: C,
    clock: impl Fn() -> DateTime<Utc>,
    mut run: F,
    shutdown: impl Future<Output = ()>,
) where
    C: FnMut(DateTime<Utc>) -> CFut,
    CFut: Future<Output = Result<bool, StoreError>>,
    F: FnMut(DateTime<Utc>) -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    let mut last = clock();
    loop {
        let slot = certfleet_alerts::next_run_after(last, at, tz);
        let wait = (slot - clock()).to_std().unwrap_or_default();
        tracing::debug!(task, %slot, "next scheduled run");
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(wait) => {}
        }
        last = slot;
        match claim(slot).await {
            Ok(true) => run(slot).await,
            Ok(false) => {
                tracing::info!(task, %slot, "another collector runs this slot; skipping");
            }
            Err(e) => {
                tracing::error!(task, %slot, error = %e, "cannot claim the scheduled run; the next slot retries");
            }
        }
    }
}

/// The alert schedule of `serve`: the run of [`certfleet_alerts::run`] at each claimed slot,
/// counted in `ops` and recorded as the last success when no delivery failed.
pub async fn alert_schedule(
    store: SharedStore,
    settings: certfleet_config::Settings,
    channels: certfleet_alerts::Channels,
    ops: Arc<OpsMetrics>,
    shutdown: impl Future<Output = ()>,
) {
    let (alerts, reports) = (settings.alerts.clone(), settings.reports.clone());
    let run = |slot: DateTime<Utc>| {
        let (store, channels, ops) = (store.clone(), channels.clone(), ops.clone());
        let (alerts, reports) = (alerts.clone(), reports.clone());
        async move {
            let result =
                certfleet_alerts::run(store.as_ref(), &reports, &alerts, &channels, slot, false)
                    .await;
            match result {
                Ok(s) => {
                    ops.observe_alert_run(&s);
                    tracing::info!(
                        leader = s.leader,
                        decided = s.decided.len(),
                        delivered = s.delivered.len(),
                        failed = s.failed.len(),
                        "alert run finished"
                    );
                    if s.leader && s.failed.is_empty() {
                        record_alert_success(&store, &s).await;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "alert run failed; the next run retries")
                }
            }
        }
    };
    daily(
        ALERTS_TASK,
        settings.alerts.daily_at,
        settings.alerts.time_zone,
        claim_in(store.clone(), ALERTS_TASK),
        Utc::now,
        run,
        shutdown,
    )
    .await;
}

/// Records a completed alert run (schedule or `alerts run`) in the database.
pub async fn record_alert_success(store: &SharedStore, s: &certfleet_alerts::RunSummary) {
    let result = serde_json::json!({
        "decided": s.decided.len(),
        "delivered": s.delivered.len(),
    })
    .to_string();
    if let Err(e) = store
        .record_maintenance_success(ALERTS_TASK, Utc::now(), &result)
        .await
    {
        tracing::warn!(error = %e, "cannot record the alert run");
    }
}

/// The retention schedule of `serve`.
pub async fn retention_schedule(
    store: SharedStore,
    settings: RetentionSettings,
    ops: Arc<OpsMetrics>,
    shutdown: impl Future<Output = ()>,
) {
    let run = |_slot: DateTime<Utc>| {
        let (store, settings, ops) = (store.clone(), settings.clone(), ops.clone());
        async move {
            // The cut-offs count from the actual start, not the slot, which is the same moment.
            match run_retention(&store, &settings, Utc::now(), false).await {
                Ok(pruned) => ops.observe_retention(&pruned),
                Err(e) => {
                    tracing::error!(error = %e, "retention run failed; the next run retries")
                }
            }
        }
    };
    daily(
        RETENTION_TASK,
        settings.daily_at,
        settings.time_zone,
        claim_in(store.clone(), RETENTION_TASK),
        Utc::now,
        run,
        shutdown,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn two_replicas_run_each_daily_slot_once() {
        // The claim as the database makes it: the first caller for a newer slot wins.
        let claimed = Arc::new(std::sync::Mutex::new(None::<DateTime<Utc>>));
        let start: DateTime<Utc> = "2026-11-25T22:00:00Z".parse().unwrap();
        let t0 = tokio::time::Instant::now();
        let clock = move || start + chrono::Duration::from_std(t0.elapsed()).unwrap();
        let runs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let replica = |name: &'static str| {
            let (runs, claimed) = (runs.clone(), claimed.clone());
            daily(
                RETENTION_TASK,
                NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                chrono_tz::Asia::Tokyo,
                move |slot| {
                    let mut last = claimed.lock().unwrap();
                    let won = last.is_none_or(|l| l < slot);
                    if won {
                        *last = Some(slot);
                    }
                    std::future::ready(Ok(won))
                },
                clock,
                move |slot| {
                    runs.lock().unwrap().push((name, slot));
                    async {}
                },
                tokio::time::sleep(std::time::Duration::from_secs(3 * 86_400)),
            )
        };
        tokio::join!(replica("a"), replica("b"));
        let runs = runs.lock().unwrap().clone();
        let slots: Vec<DateTime<Utc>> = runs.iter().map(|(_, s)| *s).collect();
        assert_eq!(
            slots,
            [
                "2026-11-26T00:00:00Z".parse::<DateTime<Utc>>().unwrap(),
                "2026-11-27T00:00:00Z".parse().unwrap(),
                "2026-11-28T00:00:00Z".parse().unwrap(),
            ],
            "each day's slot ran once, at 09:00 Tokyo: {runs:?}"
        );
    }
}
