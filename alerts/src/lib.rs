//! certfleet's scheduled expiry alerts: decide what is due from the report rows, record each
//! decision once (unique key, across restarts and replicas), and deliver one digest per
//! recipient and run over SMTP or webhooks, retrying failed deliveries with backoff.
//!
//! Exactly-once rule: a decision is recorded before anything is sent; a delivery is marked
//! sent only after its channel accepted it. A crash between "accepted" and "marked" repeats at
//! most that one digest at the next run; nothing is ever dropped. Only the leader (PostgreSQL
//! advisory lock / SQLite lease) decides and sends, and the unique key guards even a race.
#![forbid(unsafe_code)]

pub mod channels;
pub mod decide;
pub mod digest;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;

use certfleet_model::{OfficeRow, PairRow, StaleRow};
use chrono::{DateTime, NaiveTime, TimeZone, Utc};

pub use self::channels::{ChannelError, Channels};
pub use self::decide::{Candidate, Level, Subject};
pub use self::digest::{AlertItem, Digest, compose};
use certfleet_config::ReportSettings;
pub use certfleet_config::{AlertSettings, Thresholds};
use certfleet_reports::{self as reports, ReportError};
use certfleet_store::{NewAlert, Store, StoreError};

/// What an alert run needs from the reports, computed at `as_of`.
#[derive(Debug, Clone, Default)]
pub struct AlertInputs {
    /// Effective pairs (expired and expiring at least up to the largest threshold).
    pub pairs: Vec<PairRow>,
    pub stale: Vec<StaleRow>,
    /// Every office (registry and held), for owners' e-mail routing and uncovered offices.
    pub offices: Vec<OfficeRow>,
}

/// Why an alert run failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("could not encode an alert: {0}")]
    Encode(#[from] serde_json::Error),
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// False when another collector holds the leadership (nothing was done).
    pub leader: bool,
    pub dry_run: bool,
    /// (dedupe key, threshold) of alerts decided now (or that would be, in a dry run).
    pub decided: Vec<(String, String)>,
    /// (recipient, number of alerts) of digests delivered.
    pub delivered: Vec<(String, usize)>,
    /// (recipient, error) of digests that failed and will be retried.
    pub failed: Vec<(String, String)>,
}

fn item_for(c: &Candidate) -> AlertItem {
    let mut item = AlertItem {
        threshold: c.threshold.clone(),
        urgency: c.urgency,
        office_number: None,
        office_name: None,
        terminal_id: None,
        hostname: None,
        not_after: None,
        days_left: None,
        renew_by: None,
        billing_month: None,
        last_report_at: None,
        tracking_state: None,
        days_waiting: None,
    };
    match &c.subject {
        Subject::Pair(p) => {
            item.office_number = Some(p.office_number.clone());
            item.office_name = p.office_name.clone();
            item.terminal_id = Some(p.terminal.id);
            item.hostname = Some(p.terminal.hostname.clone());
            item.not_after = Some(p.not_after);
            item.days_left = Some(p.days_left);
            item.renew_by = Some(p.renew_by);
            item.billing_month = Some(p.first_blocked_billing_month.clone());
            item.last_report_at = p.last_report_at;
            item.tracking_state = Some(p.tracking.state.as_str().to_owned());
            item.days_waiting = p.tracking.days_waiting;
        }
        Subject::Stale(s) => {
            item.terminal_id = Some(s.terminal.id);
            item.hostname = Some(s.terminal.hostname.clone());
            item.last_report_at = s.last_report_at;
        }
        Subject::Uncovered(o) => {
            item.office_number = Some(o.office_number.clone());
            item.office_name = o.office_name.clone();
            item.not_after = o.terminals.iter().map(|t| t.not_after).max();
        }
    }
    item
}

fn new_alert(c: &Candidate) -> Result<NewAlert, AlertError> {
    let item = item_for(c);
    let (terminal_id, sha, not_after) = match &c.subject {
        Subject::Pair(p) => (
            Some(p.terminal.id),
            Some(p.certificate.sha256.clone()),
            Some(p.not_after),
        ),
        Subject::Stale(s) => (Some(s.terminal.id), None, None),
        Subject::Uncovered(_) => (None, None, item.not_after),
    };
    Ok(NewAlert {
        dedupe_key: c.dedupe_key.clone(),
        threshold: c.threshold.clone(),
        urgency: c.urgency,
        office_number: c.office_number().map(str::to_owned),
        terminal_id,
        certificate_sha256: sha,
        not_after,
        payload: serde_json::to_string(&item)?,
    })
}

/// Computes the alert inputs from the same report code the CLI, API and dashboard use.
pub async fn gather_inputs(
    store: &dyn Store,
    reports_settings: &ReportSettings,
    settings: &AlertSettings,
    as_of: DateTime<Utc>,
) -> Result<AlertInputs, AlertError> {
    let within = settings.thresholds.max_days().max(1);
    let query = certfleet_model::ExpiringQuery {
        as_of,
        within_days: within,
        offices: Vec::new(),
        terminals: Vec::new(),
        include_ok: false,
        // Every state but retired (on-hold pairs are read so the digest can say so; they are
        // not alerted).
        states: Vec::new(),
    };
    let pairs = reports::expiring(store, &query, reports_settings)
        .await?
        .rows;
    let stale = reports::stale(
        store,
        as_of,
        reports_settings.stale_after_days,
        reports_settings,
    )
    .await?
    .rows;
    let offices = reports::offices(store, as_of, within, reports_settings)
        .await?
        .rows;
    Ok(AlertInputs {
        pairs,
        stale,
        offices,
    })
}

/// Everything due at `as_of`, minus what was decided before.
pub async fn candidates(
    store: &dyn Store,
    inputs: &AlertInputs,
    settings: &AlertSettings,
) -> Result<Vec<Candidate>, AlertError> {
    // Keys at the reached level or any more urgent one: a pair alerted at 7 days is not
    // alerted at 14 days later (e.g. after a time-zone change).
    let mut lookup = Vec::new();
    for row in &inputs.pairs {
        if let Some(level) = decide::nearest(&settings.thresholds, row.status, row.days_left) {
            for l in decide::levels_at_least(&settings.thresholds, level) {
                lookup.push(decide::pair_key(
                    row.terminal.id,
                    &row.certificate.sha256,
                    l,
                ));
            }
        }
    }
    let mut all: Vec<Candidate> = Vec::new();
    let stale = decide::stale_candidates(&inputs.stale);
    let uncovered = decide::uncovered_candidates(&inputs.offices);
    let stuck = decide::stuck_candidates(&inputs.pairs);
    lookup.extend(
        stale
            .iter()
            .chain(uncovered.iter())
            .chain(stuck.iter())
            .map(|c| c.dedupe_key.clone()),
    );
    let existing = store.existing_alert_keys(&lookup).await?;
    all.extend(decide::pair_candidates(
        &inputs.pairs,
        &settings.thresholds,
        |row, level| {
            decide::levels_at_least(&settings.thresholds, level)
                .into_iter()
                .any(|l| {
                    existing.contains(&decide::pair_key(
                        row.terminal.id,
                        &row.certificate.sha256,
                        l,
                    ))
                })
        },
    ));
    all.extend(
        stale
            .into_iter()
            .chain(uncovered)
            .chain(stuck)
            .filter(|c| !existing.contains(&c.dedupe_key)),
    );
    all.sort_by(|a, b| (a.urgency, &a.dedupe_key).cmp(&(b.urgency, &b.dedupe_key)));
    Ok(all)
}

/// Recipients of a candidate: every webhook, the default e-mail recipients, and the owner of
/// the office (from the registry).
fn recipients(
    c: &Candidate,
    settings: &AlertSettings,
    channels: &Channels,
    owners: &HashMap<String, String>,
) -> Vec<String> {
    let mut out: Vec<String> = channels.webhook_recipients();
    if channels.has_email() {
        out.extend(
            settings
                .default_recipients
                .iter()
                .map(|r| format!("email:{r}")),
        );
        if let Some(owner) = c.office_number().and_then(|o| owners.get(o)) {
            out.push(format!("email:{owner}"));
        }
    }
    let mut seen = HashSet::new();
    out.retain(|r| seen.insert(r.clone()));
    out
}

/// Delay before retry number `attempts` (1-based): base · 2^(attempts−1), at most a day.
fn retry_delay(base: chrono::Duration, attempts: u32) -> chrono::Duration {
    let factor = 1i32
        .checked_shl(attempts.saturating_sub(1).min(16))
        .unwrap_or(i32::MAX);
    (base * factor).min(chrono::Duration::days(1))
}

/// The alerts due at `as_of`, end to end: the report inputs, then [`run_once`]. What `serve`'s
/// daily schedule and `alerts run` both call.
pub async fn run(
    store: &dyn Store,
    reports_settings: &ReportSettings,
    settings: &AlertSettings,
    channels: &Channels,
    as_of: DateTime<Utc>,
    dry_run: bool,
) -> Result<RunSummary, AlertError> {
    let inputs = gather_inputs(store, reports_settings, settings, as_of).await?;
    run_once(store, &inputs, settings, channels, as_of, dry_run).await
}

/// One alert run at `as_of` over already gathered `inputs`: decide, record, deliver. Without
/// leadership it does nothing.
#[tracing::instrument(skip_all, fields(%as_of, dry_run))]
pub async fn run_once(
    store: &dyn Store,
    inputs: &AlertInputs,
    settings: &AlertSettings,
    channels: &Channels,
    as_of: DateTime<Utc>,
    dry_run: bool,
) -> Result<RunSummary, AlertError> {
    let mut summary = RunSummary {
        dry_run,
        ..Default::default()
    };
    let holder = format!("{}:{}", hostname(), std::process::id());
    let guard = if dry_run {
        None
    } else {
        match store.try_alert_leadership(&holder, as_of).await? {
            Some(g) => Some(g),
            None => {
                tracing::info!("another collector runs the alerts; skipping");
                return Ok(summary);
            }
        }
    };
    summary.leader = true;
    let result = run_as_leader(
        store,
        inputs,
        settings,
        channels,
        as_of,
        dry_run,
        &mut summary,
    )
    .await;
    if let Some(g) = guard {
        g.release().await;
    }
    result.map(|()| summary)
}

async fn run_as_leader(
    store: &dyn Store,
    inputs: &AlertInputs,
    settings: &AlertSettings,
    channels: &Channels,
    as_of: DateTime<Utc>,
    dry_run: bool,
    summary: &mut RunSummary,
) -> Result<(), AlertError> {
    let owners: HashMap<String, String> = inputs
        .offices
        .iter()
        .filter_map(|o| {
            o.owner_email
                .clone()
                .filter(|e| !e.is_empty())
                .map(|e| (o.office_number.clone(), e))
        })
        .collect();
    for c in candidates(store, inputs, settings).await? {
        if dry_run {
            summary
                .decided
                .push((c.dedupe_key.clone(), c.threshold.clone()));
            continue;
        }
        let to = recipients(&c, settings, channels, &owners);
        if store.record_alert(&new_alert(&c)?, &to, as_of).await? {
            summary
                .decided
                .push((c.dedupe_key.clone(), c.threshold.clone()));
        }
    }
    if dry_run {
        return Ok(());
    }
    let due = store.due_deliveries(as_of, 100_000).await?;
    let mut by_recipient: BTreeMap<String, Vec<(i64, u32, AlertItem)>> = BTreeMap::new();
    for d in due {
        match serde_json::from_str::<AlertItem>(&d.payload) {
            Ok(item) => {
                by_recipient
                    .entry(d.recipient)
                    .or_default()
                    .push((d.delivery_id, d.attempts, item))
            }
            Err(e) => {
                tracing::error!(delivery = d.delivery_id, error = %e, "undecodable alert payload")
            }
        }
    }
    for (recipient, entries) in by_recipient {
        let items: Vec<AlertItem> = entries.iter().map(|(_, _, i)| i.clone()).collect();
        let ids: Vec<i64> = entries.iter().map(|(id, _, _)| *id).collect();
        let digest = compose(&items, settings.language, settings.time_zone, as_of);
        match channels.send(&recipient, &digest).await {
            Ok(()) => {
                store.mark_delivered(&ids, as_of).await?;
                tracing::info!(%recipient, alerts = items.len(), "alert digest delivered");
                summary.delivered.push((recipient, items.len()));
            }
            Err(e) => {
                let attempts = entries.iter().map(|(_, a, _)| *a).max().unwrap_or(0) + 1;
                let next = as_of + retry_delay(settings.retry_base, attempts);
                store.mark_failed(&ids, &e.to_string(), next).await?;
                tracing::warn!(%recipient, error = %e, %next, "alert digest failed; will retry");
                summary.failed.push((recipient, e.to_string()));
            }
        }
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .unwrap_or_else(|_| "collector".to_owned())
}

/// The next daily run strictly after `after`, at `at` local time in `tz`.
pub fn next_run_after(after: DateTime<Utc>, at: NaiveTime, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let local_date = after.with_timezone(&tz).date_naive();
    for offset in 0..3 {
        let date = local_date + chrono::Days::new(offset);
        if let Some(t) = tz.from_local_datetime(&date.and_time(at)).earliest() {
            let t = t.with_timezone(&Utc);
            if t > after {
                return t;
            }
        }
    }
    after + chrono::Duration::days(1)
}

/// Runs `run(as_of)` every day at the configured local time until `shutdown`. `clock` gives
/// the current time (injected so tests can drive it with paused tokio time).
pub async fn schedule<F, Fut>(
    settings: &AlertSettings,
    clock: impl Fn() -> DateTime<Utc>,
    mut run: F,
    shutdown: impl Future<Output = ()>,
) where
    F: FnMut(DateTime<Utc>) -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    let mut last = clock();
    loop {
        let next = next_run_after(last, settings.daily_at, settings.time_zone);
        let wait = (next - clock()).to_std().unwrap_or_default();
        tracing::debug!(%next, "next alert run");
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(wait) => {}
        }
        run(next).await;
        last = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_run_is_today_or_tomorrow_at_local_time() {
        let tz = chrono_tz::Asia::Tokyo;
        let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        // 2026-11-26 08:00 JST = 2026-11-25T23:00Z → today 09:00 JST = 00:00Z.
        let t: DateTime<Utc> = "2026-11-25T23:00:00Z".parse().unwrap();
        assert_eq!(
            next_run_after(t, nine, tz),
            "2026-11-26T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let t: DateTime<Utc> = "2026-11-26T00:00:00Z".parse().unwrap();
        assert_eq!(
            next_run_after(t, nine, tz),
            "2026-11-27T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn retry_delays_double_and_cap() {
        let base = chrono::Duration::minutes(10);
        assert_eq!(retry_delay(base, 1), chrono::Duration::minutes(10));
        assert_eq!(retry_delay(base, 3), chrono::Duration::minutes(40));
        assert_eq!(retry_delay(base, 30), chrono::Duration::days(1));
    }

    #[tokio::test(start_paused = true)]
    async fn schedule_fires_daily_at_the_local_time() {
        let start: DateTime<Utc> = "2026-11-25T22:00:00Z".parse().unwrap();
        let t0 = tokio::time::Instant::now();
        let clock = move || start + chrono::Duration::from_std(t0.elapsed()).unwrap();
        let settings = AlertSettings::default();
        let runs = std::cell::RefCell::new(Vec::new());
        schedule(
            &settings,
            clock,
            |as_of| {
                runs.borrow_mut().push(as_of);
                async {}
            },
            tokio::time::sleep(std::time::Duration::from_secs(3 * 86_400)),
        )
        .await;
        let runs = runs.into_inner();
        assert_eq!(
            runs,
            vec![
                "2026-11-26T00:00:00Z".parse::<DateTime<Utc>>().unwrap(),
                "2026-11-27T00:00:00Z".parse().unwrap(),
                "2026-11-28T00:00:00Z".parse().unwrap(),
            ]
        );
    }
}
