//! certfleet's web dashboard: server-rendered HTML pages over the report model, served by the
//! collector's HTTP listener through [`router`]. Data comes through [`DashboardData`], which the
//! collector implements with the same report code path as its CLI and JSON API.
#![forbid(unsafe_code)]

pub mod access;
mod assets;
mod auth;
mod chart;
mod csv;
mod display;
mod filters;
mod html;
mod i18n;
mod pages;
mod throttle;
mod web;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use certfleet_model::{
    AlertRecord, ExpiringQuery, ExpiringReport, OfficeRow, OfficesReport, Overview,
    PendingTerminal, StaleReport, TerminalDetail, TerminalId, TerminalRow, TerminalsReport,
};
use chrono::{DateTime, Utc};

pub use access::{Access, AccessConfig};
pub use auth::{SessionId, hash_password, loggable};
pub use throttle::ThrottleLimits;

/// Why the data behind a page could not be produced. Shown to users only as a generic page
/// (503 / 500); the detail goes to the log, never into HTML.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The database (or another dependency) is unreachable right now; retrying may help.
    #[error("data source unavailable: {0}")]
    Unavailable(String),
    /// Anything else that went wrong.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A renewal-tracking change submitted from the terminal page (issue 17 §1): the form's
/// fields as text; the collector parses them with the same code as the CLI and the API.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct TrackingForm {
    pub office: String,
    /// `requested`, `reissue`, `hold`, `retire` or `clear`.
    pub action: String,
    #[serde(default)]
    pub date: String,
    #[serde(default)]
    pub until: String,
    #[serde(default)]
    pub note: String,
}

/// Why a tracking change was not applied.
#[derive(Debug, thiserror::Error)]
pub enum TrackingRejection {
    /// A field is missing or malformed (or names an unknown pair); shown to the user.
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    /// The change makes no sense from the pair's state; shown to the user.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Data(#[from] DataError),
}

/// Where the dashboard's data comes from. The collector implements it over its report engine.
#[async_trait::async_trait]
pub trait DashboardData: Send + Sync + 'static {
    /// Fleet-wide counts and the 36-month timeline.
    async fn overview(&self, as_of: DateTime<Utc>, within_days: u32)
    -> Result<Overview, DataError>;
    /// `report expiring`: the expiring table, CSV and office page.
    async fn expiring(&self, q: &ExpiringQuery) -> Result<ExpiringReport, DataError>;
    /// `report terminals`: the multi-office page (filtered to ≥ 2 offices here).
    async fn terminals(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<TerminalsReport, DataError>;
    /// `report offices`: the office list.
    async fn offices(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<OfficesReport, DataError>;
    /// One page of the office list: rows `offset..offset + limit` (only uncovered offices when
    /// `uncovered_only`) and how many there are. The default slices [`Self::offices`]; an
    /// implementation should override it when building every row is too slow for one page.
    async fn offices_page(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
        uncovered_only: bool,
        offset: usize,
        limit: usize,
    ) -> Result<ListPage<OfficeRow>, DataError> {
        let report = self.offices(as_of, within_days).await?;
        let rows = report
            .rows
            .into_iter()
            .filter(|o| !uncovered_only || o.uncovered);
        Ok(ListPage::slice(rows, report.within_days, offset, limit))
    }
    /// One page of the multi-office list (terminals with two or more offices). The default
    /// slices [`Self::terminals`]; override it like [`Self::offices_page`].
    async fn multi_office_page(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
        offset: usize,
        limit: usize,
    ) -> Result<ListPage<TerminalRow>, DataError> {
        let report = self.terminals(as_of, within_days).await?;
        let rows = report.rows.into_iter().filter(|t| t.offices.len() >= 2);
        Ok(ListPage::slice(rows, report.within_days, offset, limit))
    }
    /// One office's row (office page header). The default filters [`Self::offices`]; an
    /// implementation should override it when the full report is too slow for one page.
    async fn office(
        &self,
        office_number: &str,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<Option<OfficeRow>, DataError> {
        let report = self.offices(as_of, within_days).await?;
        Ok(report
            .rows
            .into_iter()
            .find(|r| r.office_number == office_number))
    }
    /// `report stale --older-than DAYS`.
    async fn stale(
        &self,
        as_of: DateTime<Utc>,
        older_than_days: u32,
    ) -> Result<StaleReport, DataError>;
    /// The terminal page; `None` when no such terminal exists.
    async fn terminal_detail(
        &self,
        id: TerminalId,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<Option<TerminalDetail>, DataError>;
    /// `report coverage` at `as_of`: the expected-terminal list against the fleet, and the
    /// agent version spread. The default (a data source without an expected-terminal list)
    /// refuses, and the page says so.
    async fn coverage(
        &self,
        as_of: DateTime<Utc>,
    ) -> Result<certfleet_model::CoverageReport, DataError> {
        let _ = as_of;
        Err(DataError::Internal(
            "this data source has no coverage report".into(),
        ))
    }
    /// The most recent `limit` alert decisions, newest first.
    async fn alert_history(&self, limit: u32) -> Result<Vec<AlertRecord>, DataError>;
    /// Terminals waiting for approval, oldest first. The default: none (no approval mode).
    async fn pending_terminals(&self) -> Result<Vec<PendingTerminal>, DataError> {
        Ok(Vec::new())
    }
    /// Approves pending terminal `id`; `false` when no such terminal waits. The default
    /// approves nothing.
    async fn approve_terminal(&self, id: TerminalId) -> Result<bool, DataError> {
        let _ = id;
        Ok(false)
    }
    /// Records that the session `id` (its MAC) was logged out; it would have expired at
    /// `expires_at` anyway, after which the record may be pruned. Must be visible to every
    /// replica sharing the data, and survive restarts.
    async fn revoke_session(
        &self,
        id: &SessionId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DataError>;
    /// Whether the session `id` was logged out. Asked on every request with a valid session
    /// cookie, so it must be a cheap lookup.
    async fn session_revoked(&self, id: &SessionId) -> Result<bool, DataError>;
    /// Applies a renewal-tracking change to a pair of `terminal` for operator `who`. The
    /// default refuses: a data source without tracking.
    async fn change_tracking(
        &self,
        terminal: TerminalId,
        form: &TrackingForm,
        who: &str,
    ) -> Result<(), TrackingRejection> {
        let _ = (terminal, form, who);
        Err(DataError::Internal("renewal tracking is not available".into()).into())
    }
}

/// One page of a long list: its rows and the length of the whole list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage<R> {
    /// Rows `offset..offset + limit` of the list.
    pub rows: Vec<R>,
    /// Rows in the whole list.
    pub total: usize,
    /// The window the list was computed with.
    pub within_days: u32,
}

impl<R> ListPage<R> {
    /// The page `offset..offset + limit` of `rows`.
    pub fn slice(
        rows: impl Iterator<Item = R>,
        within_days: u32,
        offset: usize,
        limit: usize,
    ) -> Self {
        let mut page = Vec::new();
        let mut total = 0;
        for row in rows {
            if total >= offset && page.len() < limit {
                page.push(row);
            }
            total += 1;
        }
        ListPage {
            rows: page,
            total,
            within_days,
        }
    }
}

/// One of the collector's own certificates (server, CA, database CA): every page shows a
/// warning while one expires within [`OWN_CERTIFICATE_WARN_DAYS`] (issue 16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnCertificateNotice {
    /// What it is, for the operator ("server certificate (server.pem) \"collector.example\"").
    pub what: String,
    pub not_after: DateTime<Utc>,
}

/// Days before expiry from which the dashboard warns about the collector's own certificates.
pub const OWN_CERTIFICATE_WARN_DAYS: i64 = 60;

/// How the dashboard behaves. Build with [`DashboardConfig::default`] and override fields.
#[derive(Clone)]
pub struct DashboardConfig {
    /// Dates and times are shown in this zone (SPEC §5: Asia/Tokyo by default).
    pub time_zone: chrono_tz::Tz,
    /// Default expiry window `W` in days when a page has no `within` parameter.
    pub window_days: u32,
    /// Default threshold of the stale terminals page.
    pub stale_after_days: u32,
    /// `(username, argon2 PHC hash)` pairs allowed to log in (see [`hash_password`]).
    pub users: Vec<(String, String)>,
    /// Who may open the pages without a session (the API token, a direct local client while
    /// nothing is configured) and which `Host`s are answered; shared with the collector's API
    /// and `/metrics`. Its `users_configured` must say whether `users` is empty; the router
    /// also checks `users` itself.
    pub access: Access,
    /// HMAC key signing session cookies. Replicas behind one load balancer must share it;
    /// the default is 32 random bytes, so sessions end when the process restarts.
    pub session_key: Vec<u8>,
    /// Lifetime of a session cookie.
    pub session_ttl: Duration,
    /// Adds `Secure` to cookies; set it when the dashboard is only reached over HTTPS.
    pub secure_cookies: bool,
    /// Names the session cookie `__Host-cf_session` (needs `secure_cookies`).
    pub cookie_host_prefix: bool,
    /// Failed logins allowed per account and per address.
    pub login_throttle: ThrottleLimits,
    /// Rows per page of the expiring table (the CSV always has every row).
    pub page_size: usize,
    /// Fixes "now" for every page (tests, demos with a fixture fleet); `None` = the clock.
    pub as_of_override: Option<DateTime<Utc>>,
    /// The collector's own certificates, watched for expiry.
    pub own_certificates: Vec<OwnCertificateNotice>,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            time_zone: chrono_tz::Asia::Tokyo,
            window_days: 60,
            stale_after_days: 7,
            users: Vec::new(),
            access: Access::default(),
            session_key: rand::random::<[u8; 32]>().to_vec(),
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            cookie_host_prefix: false,
            login_throttle: ThrottleLimits::default(),
            page_size: 500,
            as_of_override: None,
            own_certificates: Vec::new(),
        }
    }
}

// Hand-written so that password hashes, the token and the session key never reach a log.
impl fmt::Debug for DashboardConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardConfig")
            .field("time_zone", &self.time_zone)
            .field("window_days", &self.window_days)
            .field("stale_after_days", &self.stale_after_days)
            .field(
                "users",
                &self
                    .users
                    .iter()
                    .map(|(u, _)| u.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("access", &self.access)
            .field("session_key", &"<redacted>")
            .field("session_ttl", &self.session_ttl)
            .field("secure_cookies", &self.secure_cookies)
            .field("cookie_host_prefix", &self.cookie_host_prefix)
            .field("login_throttle", &self.login_throttle)
            .field("page_size", &self.page_size)
            .field("as_of_override", &self.as_of_override)
            .field("own_certificates", &self.own_certificates)
            .finish()
    }
}

/// The dashboard's routes: `/`, `/expiring`, `/expiring.csv`, `/offices`, `/offices/{number}`,
/// `/terminals/{id}`, `/multi-office`, `/stale`, `/alerts`, `/pending`,
/// `/pending/{id}/approve` (POST), `/login` (GET, POST), `/logout` (POST) and
/// `/assets/{file}`. No fallback is set, so the collector can merge it with its own.
pub fn router(config: DashboardConfig, data: Arc<dyn DashboardData>) -> axum::Router {
    web::router(config, data)
}
