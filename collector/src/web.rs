//! The dashboard as the collector serves it: [`certfleet_dashboard`] renders, and this module
//! feeds it from the same report code as the CLI and the JSON API.

use std::sync::Arc;

use async_trait::async_trait;
use certfleet_dashboard::{DashboardConfig, DashboardData, DataError};
use certfleet_model::{
    AlertRecord, ExpiringQuery, ExpiringReport, OfficeRow, OfficesReport, Overview, StaleReport,
    TerminalDetail, TerminalId, TerminalsReport,
};
use chrono::{DateTime, Utc};

use crate::config::{ReportSettings, Settings};
use crate::reports::{self, ReportError};
use crate::store::{SharedStore, StoreError};

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
}

#[async_trait]
impl DashboardData for ReportData {
    async fn overview(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<Overview, DataError> {
        reports::overview(self.store.as_ref(), as_of, within_days, &self.settings)
            .await
            .map_err(data_error)
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
        reports::terminals(self.store.as_ref(), as_of, within_days, &self.settings)
            .await
            .map_err(data_error)
    }

    async fn offices(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<OfficesReport, DataError> {
        reports::offices(self.store.as_ref(), as_of, within_days, &self.settings)
            .await
            .map_err(data_error)
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
        }),
    )
}
