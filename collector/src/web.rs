//! The dashboard as the collector serves it: [`certfleet_dashboard`] renders, and this module
//! feeds it from the same report code as the CLI and the JSON API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use certfleet_dashboard::{DashboardConfig, DashboardData, DataError};
use certfleet_model::{
    AlertRecord, ExpiringQuery, ExpiringReport, OfficeRow, OfficesReport, Overview, StaleReport,
    TerminalDetail, TerminalId, TerminalsReport,
};
use chrono::{DateTime, Utc};

use crate::config::{ReportSettings, Settings};
use crate::reports::{self, Fleet, FleetData, ReportError};
use crate::store::{SharedStore, Store, StoreError};

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
    fleet: Arc<FleetCache>,
}

/// One load of the fleet reused by the fleet-wide pages for `max_age`: at 100k terminals a
/// load takes a few hundred milliseconds, a view of a loaded fleet a few. Only the stored
/// data is shared; every page still views it at its own `as_of` and window.
#[derive(Debug)]
struct FleetCache {
    max_age: Duration,
    // A tokio mutex: concurrent page views wait for one load instead of each running it.
    entry: tokio::sync::Mutex<Option<(Instant, Arc<FleetData>)>>,
}

impl FleetCache {
    async fn get(&self, store: &dyn Store) -> Result<Arc<FleetData>, ReportError> {
        self.get_at(store, Instant::now()).await
    }

    /// [`FleetCache::get`] at a given instant (tests pass their own clock: the SQLite pool's
    /// timeouts do not survive paused tokio time).
    async fn get_at(&self, store: &dyn Store, now: Instant) -> Result<Arc<FleetData>, ReportError> {
        let mut entry = self.entry.lock().await;
        if let Some((loaded_at, data)) = entry.as_ref()
            && now.saturating_duration_since(*loaded_at) < self.max_age
        {
            return Ok(data.clone());
        }
        let data = Arc::new(FleetData::load(store, Vec::new()).await?);
        *entry = Some((now, data.clone()));
        Ok(data)
    }
}

impl ReportData {
    /// The fleet viewed at `as_of` with a window of `within_days`.
    async fn fleet(&self, as_of: DateTime<Utc>, within_days: u32) -> Result<Fleet, ReportError> {
        let data = self.fleet.get(self.store.as_ref()).await?;
        Fleet::view(data, as_of, within_days)
    }
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
        reports::expiring(self.store.as_ref(), q, &self.settings)
            .await
            .map_err(data_error)
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

    async fn alert_history(&self, limit: u32) -> Result<Vec<AlertRecord>, DataError> {
        self.store.alert_history(limit).await.map_err(store_error)
    }
}

/// The dashboard router for a listener; login is required unless it is bound to loopback.
pub fn dashboard_router(settings: &Settings, store: SharedStore, loopback: bool) -> axum::Router {
    let defaults = DashboardConfig::default();
    let config = DashboardConfig {
        time_zone: settings.reports.time_zone,
        window_days: settings.reports.window_days,
        stale_after_days: settings.reports.stale_after_days,
        users: settings.dashboard.users.clone(),
        api_token: settings.api_token.clone(),
        require_login: !loopback,
        // Replicas behind one load balancer must share the key so sessions work on each.
        session_key: settings
            .dashboard
            .session_key
            .clone()
            .unwrap_or(defaults.session_key.clone()),
        secure_cookies: settings.dashboard.secure_cookies,
        ..defaults
    };
    if config.require_login && config.users.is_empty() && config.api_token.is_none() {
        tracing::warn!(
            "dashboard is off loopback but no [dashboard] users or API token are configured: nobody can log in"
        );
    }
    certfleet_dashboard::router(
        config,
        Arc::new(ReportData {
            store,
            settings: settings.reports.clone(),
            fleet: Arc::new(FleetCache {
                max_age: settings.dashboard.fleet_cache,
                entry: tokio::sync::Mutex::new(None),
            }),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(machine_id: &str) -> crate::store::TerminalFacts {
        crate::store::TerminalFacts {
            machine_id: machine_id.into(),
            hostname: machine_id.into(),
            os_name: "Windows".into(),
            os_version: "10".into(),
            agent_version: "0.1.0".into(),
        }
    }

    #[tokio::test]
    async fn fleet_pages_reuse_one_load_for_max_age_then_reload() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open(None, dir.path(), 2).await.unwrap();
        let cache = FleetCache {
            max_age: Duration::from_secs(10),
            entry: tokio::sync::Mutex::new(None),
        };
        let enroll = |id: &'static str| {
            let store = store.clone();
            async move {
                store
                    .enroll(
                        &facts(id),
                        &format!("key-{id}"),
                        crate::store::EnrollAuthority::Agent {
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
        let first = cache.get_at(store.as_ref(), start).await.unwrap();
        assert_eq!(first.terminal_count(), 1);
        enroll("pc-2").await;
        let later = start + Duration::from_secs(9);
        let reused = cache.get_at(store.as_ref(), later).await.unwrap();
        assert!(
            Arc::ptr_eq(&first, &reused),
            "within max_age the load is reused"
        );
        let expired = start + Duration::from_secs(10);
        let reloaded = cache.get_at(store.as_ref(), expired).await.unwrap();
        assert_eq!(
            reloaded.terminal_count(),
            2,
            "after max_age the fleet is loaded again"
        );
    }
}
