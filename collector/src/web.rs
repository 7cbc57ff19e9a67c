//! The dashboard as the collector serves it: [`certfleet_dashboard`] renders, and this module
//! feeds it from the same report code as the CLI and the JSON API.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use certfleet_dashboard::{
    Access, DashboardConfig, DashboardData, DataError, ListPage, SessionId, TrackingForm,
    TrackingRejection,
};

use crate::tracking::{TrackingRequest, TrackingRequestError};
use certfleet_model::{
    AlertRecord, ExpiringQuery, ExpiringReport, OfficeRow, OfficesReport, Overview,
    PendingTerminal, StaleReport, TerminalDetail, TerminalId, TerminalRow, TerminalsReport,
};
use chrono::{DateTime, Utc};

use certfleet_config::{ReportSettings, Settings};
use certfleet_reports::{self as reports, Fleet, FleetData, ReportError};
use certfleet_store::{SharedStore, StoreError};

/// Report errors as the dashboard shows them; details go to the log only.
fn data_error(e: ReportError) -> DataError {
    match e {
        ReportError::Store(StoreError::Unavailable(inner)) => {
            DataError::Unavailable(inner.to_string())
        }
        other => DataError::Internal(other.to_string()),
    }
}

fn store_error(e: StoreError) -> DataError {
    data_error(ReportError::Store(e))
}

/// The report engine behind the dashboard.
#[derive(Debug, Clone)]
pub struct ReportData {
    store: SharedStore,
    settings: ReportSettings,
    fleet: Arc<Recent<FleetData>>,
    expiring: Arc<Recent<(ExpiringQuery, ExpiringReport)>>,
}

/// A load for [`Recent`]: owns what it needs, so it can also run as a background task.
type Load<T> = Pin<Box<dyn Future<Output = Result<T, ReportError>> + Send>>;

/// How many `max_age`s an entry may be served while its replacement loads in the background;
/// older ones are loaded in the request (an idle dashboard never shows long-stale data).
const STALE_FACTOR: u32 = 3;

/// The last load of something the dashboard reads often: at 100k terminals loading the fleet
/// or the unfiltered expiring report takes several hundred milliseconds, filtering, sorting
/// and paging a loaded one a few. An entry younger than `max_age` is used as is; one up to
/// [`STALE_FACTOR`] × `max_age` old is still used while one background task loads its
/// replacement, so a dashboard in use never waits for a load after the first one.
#[derive(Debug)]
struct Recent<T> {
    max_age: Duration,
    // A tokio mutex: concurrent page views wait for one load instead of each running it.
    entry: tokio::sync::Mutex<Option<(Instant, Arc<T>)>>,
    refreshing: AtomicBool,
}

impl<T: Send + Sync + 'static> Recent<T> {
    /// Forgets the entry, so the next read loads (after a change made through this replica).
    async fn clear(&self) {
        *self.entry.lock().await = None;
    }

    fn new(max_age: Duration) -> Self {
        Recent {
            max_age,
            entry: tokio::sync::Mutex::new(None),
            refreshing: AtomicBool::new(false),
        }
    }

    /// The entry if `fits` accepts it and it is young enough (see [`Recent`]), else a fresh
    /// `load` (which replaces it). Tests pass their own `now`: the SQLite pool's timeouts do
    /// not survive paused tokio time.
    async fn get_at(
        self: &Arc<Self>,
        now: Instant,
        fits: impl Fn(&T) -> bool,
        load: impl FnOnce() -> Load<T>,
    ) -> Result<Arc<T>, ReportError> {
        let mut entry = self.entry.lock().await;
        if let Some((loaded_at, value)) = entry.as_ref()
            && fits(value)
        {
            let age = now.saturating_duration_since(*loaded_at);
            if age < self.max_age {
                return Ok(value.clone());
            }
            if age < self.max_age * STALE_FACTOR {
                if !self.refreshing.swap(true, Ordering::AcqRel) {
                    let this = Arc::clone(self);
                    let load = load();
                    tokio::spawn(async move {
                        match load.await {
                            Ok(v) => *this.entry.lock().await = Some((Instant::now(), Arc::new(v))),
                            Err(e) => {
                                tracing::warn!(error = %e, "dashboard: refreshing a report failed")
                            }
                        }
                        this.refreshing.store(false, Ordering::Release);
                    });
                }
                return Ok(value.clone());
            }
        }
        // The old entry goes first, so it is not held next to its replacement.
        *entry = None;
        let value = Arc::new(load().await?);
        *entry = Some((now, value.clone()));
        Ok(value)
    }
}

impl ReportData {
    /// The fleet viewed at `as_of` with a window of `within_days`.
    async fn fleet(&self, as_of: DateTime<Utc>, within_days: u32) -> Result<Fleet, ReportError> {
        let store = self.store.clone();
        let data = self
            .fleet
            .get_at(
                Instant::now(),
                |_| true,
                move || Box::pin(async move { FleetData::load(store.as_ref(), Vec::new()).await }),
            )
            .await?;
        Fleet::view(data, as_of, within_days)
    }
}

/// Whether the recent unfiltered expiring report made for `recent` answers `q`: same window
/// and `include_ok`, and an `as_of` within `horizon`, so that both mean "now" (a page asking
/// about another date gets its own report).
fn answers(recent: &ExpiringQuery, q: &ExpiringQuery, horizon: Duration) -> bool {
    recent.within_days == q.within_days
        && recent.include_ok == q.include_ok
        && recent.states == q.states
        && recent.offices.is_empty()
        && recent.terminals.is_empty()
        && (q.as_of - recent.as_of)
            .abs()
            .to_std()
            .is_ok_and(|gap| gap < horizon)
}

#[async_trait]
impl DashboardData for ReportData {
    async fn overview(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<Overview, DataError> {
        let fleet = self.fleet(as_of, within_days).await.map_err(data_error)?;
        Ok(fleet.overview(&self.settings))
    }

    async fn expiring(&self, q: &ExpiringQuery) -> Result<ExpiringReport, DataError> {
        let store = self.store.as_ref();
        if !q.offices.is_empty() || !q.terminals.is_empty() {
            // Filtered reports are small and fast; only the fleet-wide one is worth keeping.
            return reports::expiring(store, q, &self.settings)
                .await
                .map_err(data_error);
        }
        let horizon = self.expiring.max_age * STALE_FACTOR;
        let (store, settings, query) = (self.store.clone(), self.settings.clone(), q.clone());
        let recent = self
            .expiring
            .get_at(
                Instant::now(),
                |(made_for, _)| answers(made_for, q, horizon),
                move || {
                    Box::pin(async move {
                        let report = reports::expiring(store.as_ref(), &query, &settings).await?;
                        Ok((query, report))
                    })
                },
            )
            .await
            .map_err(data_error)?;
        Ok(recent.1.clone())
    }

    async fn terminals(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<TerminalsReport, DataError> {
        let fleet = self.fleet(as_of, within_days).await.map_err(data_error)?;
        Ok(TerminalsReport {
            as_of,
            within_days: fleet.within_days,
            rows: fleet.terminal_rows(&self.settings),
        })
    }

    async fn offices(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<OfficesReport, DataError> {
        let fleet = self.fleet(as_of, within_days).await.map_err(data_error)?;
        Ok(OfficesReport {
            as_of,
            within_days: fleet.within_days,
            rows: fleet.office_rows(&self.settings),
        })
    }

    async fn offices_page(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
        uncovered_only: bool,
        offset: usize,
        limit: usize,
    ) -> Result<ListPage<OfficeRow>, DataError> {
        let fleet = self.fleet(as_of, within_days).await.map_err(data_error)?;
        let (rows, total) = fleet.office_rows_page(&self.settings, uncovered_only, offset, limit);
        Ok(ListPage {
            rows,
            total,
            within_days: fleet.within_days,
        })
    }

    async fn multi_office_page(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
        offset: usize,
        limit: usize,
    ) -> Result<ListPage<TerminalRow>, DataError> {
        let fleet = self.fleet(as_of, within_days).await.map_err(data_error)?;
        let (rows, total) = fleet.terminal_rows_page(&self.settings, 2, offset, limit);
        Ok(ListPage {
            rows,
            total,
            within_days: fleet.within_days,
        })
    }

    async fn office(
        &self,
        office_number: &str,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<Option<OfficeRow>, DataError> {
        reports::office(
            self.store.as_ref(),
            office_number,
            as_of,
            within_days,
            &self.settings,
        )
        .await
        .map_err(data_error)
    }

    async fn stale(
        &self,
        as_of: DateTime<Utc>,
        older_than_days: u32,
    ) -> Result<StaleReport, DataError> {
        reports::stale(self.store.as_ref(), as_of, older_than_days, &self.settings)
            .await
            .map_err(data_error)
    }

    async fn terminal_detail(
        &self,
        id: TerminalId,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<Option<TerminalDetail>, DataError> {
        reports::terminal_detail(self.store.as_ref(), id, as_of, within_days, &self.settings)
            .await
            .map_err(data_error)
    }

    async fn coverage(
        &self,
        as_of: DateTime<Utc>,
    ) -> Result<certfleet_model::CoverageReport, DataError> {
        reports::coverage::coverage(
            self.store.as_ref(),
            as_of,
            reports::coverage::MINIMUM_AGENT_VERSION,
        )
        .await
        .map_err(data_error)
    }

    async fn alert_history(&self, limit: u32) -> Result<Vec<AlertRecord>, DataError> {
        self.store.alert_history(limit).await.map_err(store_error)
    }

    async fn pending_terminals(&self) -> Result<Vec<PendingTerminal>, DataError> {
        let pending = self.store.pending_terminals().await.map_err(store_error)?;
        Ok(pending
            .into_iter()
            .filter_map(|t| {
                Some(PendingTerminal {
                    pending_since: t.pending_since?,
                    id: t.id,
                    hostname: t.hostname,
                    machine_id: t.machine_id,
                    os_name: t.os_name,
                    os_version: t.os_version,
                    agent_version: t.agent_version,
                    enrolled_from: t.enrolled_from,
                    last_report_at: t.last_report_at,
                    certificate_count: t.certificate_count,
                })
            })
            .collect())
    }

    async fn approve_terminal(&self, id: TerminalId) -> Result<bool, DataError> {
        // One row by id, not the whole pending list: a numeric selector names the terminal
        // with that id first; anything else found under it is not the terminal asked for.
        let terminal = match self.store.find_terminal(&id.to_string()).await {
            Ok(t) => t,
            Err(
                certfleet_store::StoreError::NoSuchTerminal(_)
                | certfleet_store::StoreError::AmbiguousTerminal(_),
            ) => return Ok(false),
            Err(e) => return Err(store_error(e)),
        };
        if terminal.id != id || terminal.pending_since.is_none() || terminal.revoked_at.is_some() {
            return Ok(false);
        }
        self.store
            .approve_terminal(id, Utc::now())
            .await
            .map_err(store_error)?;
        // The fleet-wide pages reuse one load for a few seconds; the approved terminal shows
        // once that load is renewed.
        Ok(true)
    }

    async fn revoke_session(
        &self,
        id: &SessionId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DataError> {
        self.store
            .revoke_session(id, expires_at, Utc::now())
            .await
            .map_err(store_error)
    }

    async fn session_revoked(&self, id: &SessionId) -> Result<bool, DataError> {
        self.store
            .session_revoked(id, Utc::now())
            .await
            .map_err(store_error)
    }

    async fn change_tracking(
        &self,
        terminal: TerminalId,
        form: &TrackingForm,
        who: &str,
    ) -> Result<(), TrackingRejection> {
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.to_owned());
        let req = TrackingRequest {
            terminal: terminal.to_string(),
            office: form.office.clone(),
            action: form.action.clone(),
            date: text(&form.date),
            until: text(&form.until),
            note: text(&form.note),
        };
        let result =
            crate::tracking::apply(self.store.as_ref(), &req, who, Utc::now(), &self.settings)
                .await;
        // The change shows on the next page view, not after the cache's age.
        self.fleet.clear().await;
        self.expiring.clear().await;
        match result {
            Ok(_) => Ok(()),
            Err(TrackingRequestError::Invalid { field, message }) => {
                Err(TrackingRejection::Invalid {
                    field: field.to_owned(),
                    message,
                })
            }
            Err(TrackingRequestError::Conflict(e)) => {
                Err(TrackingRejection::Conflict(e.to_string()))
            }
            Err(TrackingRequestError::Store(e)) => Err(store_error(e).into()),
        }
    }
}

/// The dashboard router, under the listener's access rules (see `http::access_rules`).
pub fn dashboard_router(
    settings: &Settings,
    store: SharedStore,
    access: Access,
    own_certificates: Vec<certfleet_dashboard::OwnCertificateNotice>,
) -> axum::Router {
    let defaults = DashboardConfig::default();
    let config = DashboardConfig {
        time_zone: settings.reports.time_zone,
        window_days: settings.reports.window_days,
        stale_after_days: settings.reports.stale_after_days,
        users: settings.dashboard.users.clone(),
        access,
        // Replicas behind one load balancer must share the key so sessions work on each.
        session_key: settings
            .dashboard
            .session_key
            .clone()
            .unwrap_or(defaults.session_key.clone()),
        secure_cookies: settings.dashboard.secure_cookies,
        cookie_host_prefix: settings.dashboard.cookie_host_prefix,
        own_certificates,
        ..defaults
    };
    if !config.access.anything_configured() {
        tracing::warn!(
            "no [dashboard] users and no API or metrics token are configured: the dashboard, \
             /api and /metrics are open to direct local clients (loopback, no proxy headers) \
             and closed to everyone else"
        );
    } else if config.users.is_empty() {
        tracing::warn!(
            "no [dashboard] users are configured: the dashboard opens only with the API token \
             (add an account with `certfleet-collector hash-password`)"
        );
    }
    certfleet_dashboard::router(
        config,
        Arc::new(ReportData {
            store,
            settings: settings.reports.clone(),
            fleet: Arc::new(Recent::new(settings.dashboard.fleet_cache)),
            expiring: Arc::new(Recent::new(settings.dashboard.fleet_cache)),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(machine_id: &str) -> certfleet_store::TerminalFacts {
        certfleet_store::TerminalFacts {
            machine_id: machine_id.into(),
            hostname: machine_id.into(),
            os_name: "Windows".into(),
            os_version: "10".into(),
            agent_version: "0.1.0".into(),
        }
    }

    #[tokio::test]
    async fn fleet_pages_reuse_one_load_and_refresh_it_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let store = certfleet_store::open(None, dir.path(), 2).await.unwrap();
        let cache: Arc<Recent<FleetData>> = Arc::new(Recent::new(Duration::from_secs(10)));
        let get = |now| {
            let store = store.clone();
            cache.get_at(
                now,
                |_| true,
                move || Box::pin(async move { FleetData::load(store.as_ref(), Vec::new()).await }),
            )
        };
        let enroll = |id: &'static str| {
            let store = store.clone();
            async move {
                store
                    .enroll(
                        &facts(id),
                        &format!("key-{id}"),
                        certfleet_store::EnrollAuthority::Agent {
                            presented_key_hash: None,
                        },
                        Utc::now(),
                    )
                    .await
                    .unwrap();
            }
        };
        let start = Instant::now();
        enroll("pc-1").await;
        let first = get(start).await.unwrap();
        assert_eq!(first.terminal_count(), 1);
        enroll("pc-2").await;
        let reused = get(start + Duration::from_secs(9)).await.unwrap();
        assert!(
            Arc::ptr_eq(&first, &reused),
            "within max_age the load is reused"
        );
        // Past max_age the old load is still served while a background task replaces it.
        let stale = get(start + Duration::from_secs(10)).await.unwrap();
        assert!(Arc::ptr_eq(&first, &stale));
        let mut refreshed = None;
        for _ in 0..500 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = get(start + Duration::from_secs(11)).await.unwrap();
            if !Arc::ptr_eq(&first, &now) {
                refreshed = Some(now);
                break;
            }
        }
        let refreshed = refreshed.expect("the background refresh replaced the entry");
        assert_eq!(
            refreshed.terminal_count(),
            2,
            "the refresh loaded the fleet again"
        );
        // Far past max_age nothing stale is served: the request loads.
        enroll("pc-3").await;
        let late = get(Instant::now() + Duration::from_secs(31)).await.unwrap();
        assert_eq!(late.terminal_count(), 3);
    }

    #[test]
    fn a_recent_expiring_report_answers_only_the_same_unfiltered_query_now() {
        let max_age = Duration::from_secs(10);
        let now = Utc::now();
        let made_for = ExpiringQuery {
            as_of: now,
            within_days: 60,
            offices: vec![],
            terminals: vec![],
            include_ok: false,
            states: vec![],
        };
        let later = ExpiringQuery {
            as_of: now + chrono::Duration::seconds(9),
            ..made_for.clone()
        };
        assert!(answers(&made_for, &later, max_age));
        let other_day = ExpiringQuery {
            as_of: now - chrono::Duration::days(1),
            ..made_for.clone()
        };
        assert!(!answers(&made_for, &other_day, max_age));
        let wider = ExpiringQuery {
            within_days: 90,
            ..made_for.clone()
        };
        assert!(!answers(&made_for, &wider, max_age));
        let with_ok = ExpiringQuery {
            include_ok: true,
            ..made_for.clone()
        };
        assert!(!answers(&made_for, &with_ok, max_age));
        let filtered = ExpiringQuery {
            offices: vec!["1111111111".into()],
            ..made_for
        };
        assert!(!answers(&filtered, &filtered, max_age));
    }
}
