//! The collector's HTTP routes: health, Prometheus metrics and the JSON/CSV report API.
//! Who may call them is decided per request by the listener's access rules
//! ([`certfleet_dashboard::access`], shared with the dashboard): `/api/*` needs the API token
//! and `/metrics` the metrics or the API token, unless nothing is configured and the client is
//! a direct local one; `/healthz` (readiness: the database answers) and `/livez` (liveness:
//! the process answers, no database) are open. Every report error becomes an HTTP status in one
//! place ([`ApiError`]).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::metrics::Metrics;
use crate::ops_metrics::OpsMetrics;
use crate::self_watch::OwnCertificate;
use certfleet_config::{ReportSettings, Settings};
use certfleet_dashboard::access::{self, Access, AccessConfig, Decision};
use certfleet_reports::format::{self, Format};
use certfleet_reports::{self as reports, Fleet, ReportError, ReportKind, ReportParams};
use certfleet_store::{SharedStore, StoreError};

use crate::tracking::{TrackingRequest, TrackingRequestError};

/// Shared state of the HTTP handlers.
#[derive(Debug, Clone)]
pub struct HttpState {
    pub store: SharedStore,
    pub metrics: Arc<Metrics>,
    /// Who may call what (shared with the dashboard).
    pub access: Access,
    pub reports: Arc<ReportSettings>,
    /// The `[selection]` office rule the expected-terminal import checks numbers with.
    pub office_rule: Arc<certfleet_certinfo::OfficeRule>,
    /// Serializes the fleet loads of `/metrics` and lends the last one to scrapes that come
    /// while it is still being written: each load holds the whole fleet (tens of MB at 100k
    /// terminals), so concurrent scrapers share one instead of multiplying the memory. The
    /// lock covers the load only, never the writing to a client, so a scraper that stops
    /// reading delays nobody. A tokio mutex, as the load spans awaits.
    fleet_scrape: Arc<tokio::sync::Mutex<LastScrape>>,
    /// Alert deliveries and retention counters (issue 16).
    pub ops: Arc<OpsMetrics>,
    /// The collector's own certificates, read at start (issue 16).
    pub own_certificates: Arc<Vec<OwnCertificate>>,
}

/// When the last `/metrics` fleet was loaded, and the fleet while some scrape still holds it.
type LastScrape = Option<(Instant, Weak<Fleet>)>;

/// How long a loaded fleet may serve further scrapes while some scrape still writes it.
const SCRAPE_REUSE: Duration = Duration::from_secs(10);

/// The access rules of the collector's HTTP listener, from `[http]` and `[dashboard]`.
pub fn access_rules(settings: &Settings) -> Access {
    Access::new(AccessConfig {
        api_token: settings
            .http
            .api_token
            .as_ref()
            .map(|t| t.expose().to_owned()),
        metrics_token: settings
            .http
            .metrics_token
            .as_ref()
            .map(|t| t.expose().to_owned()),
        users_configured: !settings.dashboard.users.is_empty(),
        trusted_proxies: settings.http.trusted_proxies.clone(),
        allowed_hosts: settings.http.allowed_hosts.clone(),
    })
}

impl HttpState {
    pub fn new(store: SharedStore, metrics: Arc<Metrics>, settings: &Settings) -> Self {
        Self {
            office_rule: Arc::new(settings.selector.office_rule().clone()),
            ..Self::with_reports(
                store,
                metrics,
                access_rules(settings),
                settings.reports.clone(),
            )
        }
    }

    /// State without full server settings (tests, embedding).
    pub fn with_reports(
        store: SharedStore,
        metrics: Arc<Metrics>,
        access: Access,
        reports: ReportSettings,
    ) -> Self {
        Self {
            store,
            metrics,
            access,
            reports: Arc::new(reports),
            office_rule: Arc::new(
                certfleet_certinfo::Selector::default()
                    .office_rule()
                    .clone(),
            ),
            fleet_scrape: Arc::default(),
            ops: Arc::default(),
            own_certificates: Arc::default(),
        }
    }

    /// With the scheduled work's counters and the watched certificates (`serve`).
    pub fn with_ops(mut self, ops: Arc<OpsMetrics>, own: Vec<OwnCertificate>) -> Self {
        self.ops = ops;
        self.own_certificates = Arc::new(own);
        self
    }
}

/// Builds the HTTP router.
pub fn router(state: HttpState) -> Router {
    let api = Router::new()
        .route("/api/v1/reports/{kind}", get(report))
        .route("/api/v1/tracking", axum::routing::post(track))
        .route(
            "/api/v1/coverage/expected",
            post(import_expected).layer(DefaultBodyLimit::max(EXPECTED_LIST_MAX_BYTES)),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_api_token,
        ));
    let metrics =
        Router::new()
            .route("/metrics", get(metrics))
            .route_layer(middleware::from_fn_with_state(
                state.clone(),
                require_metrics_token,
            ));
    Router::new()
        .route("/healthz", get(healthz))
        // A calendar program cannot log in: the URL's token is the credential.
        .route("/calendar/{file}", get(calendar_feed))
        .route("/livez", get(livez))
        .merge(api)
        .merge(metrics)
        .layer(middleware::from_fn_with_state(
            state.access.clone(),
            access::check_host,
        ))
        .with_state(state)
}

/// Liveness: the process answers HTTP. Never touches the database, so a database outage makes
/// replicas unready (`/healthz`) without the kubelet restarting them in a loop.
async fn livez() -> &'static str {
    "ok\n"
}

async fn healthz(State(state): State<HttpState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
    }
}

/// `/api/*`: the API token, or a direct local client while nothing is configured.
async fn require_api_token(
    State(state): State<HttpState>,
    request: Request,
    next: Next,
) -> Response {
    let client = state.access.client(request.extensions(), request.headers());
    match state.access.api(&client, request.headers()) {
        Decision::Allowed => next.run(request).await,
        Decision::Missing | Decision::Invalid => unauthorized(),
    }
}

/// `/metrics`: the metrics token or the API token, or a direct local client while nothing is
/// configured.
async fn require_metrics_token(
    State(state): State<HttpState>,
    request: Request,
    next: Next,
) -> Response {
    let client = state.access.client(request.extensions(), request.headers());
    match state.access.metrics(&client, request.headers()) {
        Decision::Allowed => next.run(request).await,
        Decision::Missing | Decision::Invalid => unauthorized(),
    }
}

fn unauthorized() -> Response {
    let mut response = ApiError::Unauthorized.into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"certfleet\""),
    );
    response
}

/// Largest expected-terminal list accepted by the import endpoint (100k PCs with a few
/// offices each fit in well under half of it).
const EXPECTED_LIST_MAX_BYTES: usize = 16 * 1024 * 1024;

/// `POST /api/v1/coverage/expected` (`Content-Type: text/csv`): replaces the expected-terminal
/// list, all or nothing (`collector/src/coverage.rs`). Bad rows → 400 naming each line and
/// field; the previous list stays.
#[tracing::instrument(skip_all)]
async fn import_expected(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/csv"));
    if !is_csv {
        return Err(ApiError::UnsupportedMediaType);
    }
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::BadRows(vec![format!("byte {}: not UTF-8", e.valid_up_to())]))?;
    match crate::coverage::import(
        state.store.as_ref(),
        text,
        &state.office_rule,
        chrono::Utc::now(),
    )
    .await
    {
        Ok(rows) => Ok(axum::Json(serde_json::json!({ "imported": rows })).into_response()),
        Err(crate::registry::RegistryError::BadRows(rows)) => Err(ApiError::BadRows(
            rows.iter().map(ToString::to_string).collect(),
        )),
        Err(crate::registry::RegistryError::Store(e)) => {
            Err(ApiError::Report(ReportError::Store(e)))
        }
    }
}

/// Every way an API request fails, mapped to a status here and nowhere else.
#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    NotFound(String),
    /// An upload with bad rows: each names its line and field; nothing was stored.
    BadRows(Vec<String>),
    UnsupportedMediaType,
    Report(ReportError),
    /// A renewal-tracking change that was not applied (issue 17 §1).
    Tracking(TrackingRequestError),
}

impl From<TrackingRequestError> for ApiError {
    fn from(e: TrackingRequestError) -> Self {
        ApiError::Tracking(e)
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        ApiError::Report(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"error": "a valid bearer token is required"}),
            ),
            ApiError::BadRows(rows) => (
                StatusCode::BAD_REQUEST,
                serde_json::json!({
                    "error": format!("{} bad row(s), nothing imported", rows.len()),
                    "rows": rows,
                }),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                serde_json::json!({"error": "send the list as Content-Type: text/csv"}),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                serde_json::json!({"error": format!("no such report: {what}")}),
            ),
            ApiError::Report(ReportError::InvalidParameter { parameter, message }) => (
                StatusCode::BAD_REQUEST,
                serde_json::json!({
                    "error": format!("invalid {parameter}: {message}"),
                    "parameter": parameter,
                }),
            ),
            ApiError::Report(ReportError::Store(e @ StoreError::Unavailable(_))) => {
                tracing::warn!(error = %e, "report: database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({"error": "database temporarily unavailable, retry later"}),
                )
            }
            ApiError::Tracking(TrackingRequestError::Invalid { field, message }) => (
                StatusCode::BAD_REQUEST,
                serde_json::json!({
                    "error": format!("invalid {field}: {message}"),
                    "parameter": field,
                }),
            ),
            ApiError::Tracking(TrackingRequestError::Conflict(e)) => (
                StatusCode::CONFLICT,
                serde_json::json!({"error": e.to_string()}),
            ),
            ApiError::Tracking(TrackingRequestError::Store(e)) => {
                return ApiError::Report(ReportError::Store(e)).into_response();
            }
            ApiError::Report(ReportError::Store(e)) => {
                tracing::error!(error = %e, "report failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    serde_json::json!({"error": "internal error (logged on the collector)"}),
                )
            }
        };
        (status, axum::Json(body)).into_response()
    }
}

fn parse_u32(parameter: &'static str, value: &str) -> Result<u32, ReportError> {
    value.trim().parse().map_err(|_| {
        ReportError::invalid(
            parameter,
            format!("{value:?} is not a whole number of days"),
        )
    })
}

fn parse_bool(parameter: &'static str, value: &str) -> Result<bool, ReportError> {
    match value.trim() {
        "" | "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        other => Err(ReportError::invalid(
            parameter,
            format!("{other:?} is not true or false"),
        )),
    }
}

/// Query string → the same [`ReportParams`] the CLI builds from its flags. Repeated keys
/// (`office=1&office=2`) and comma lists both work; unknown keys are errors, so a typo does
/// not silently return an unfiltered report.
fn parse_query(query: Option<&str>) -> Result<(ReportParams, Format), ReportError> {
    let mut params = ReportParams::default();
    let mut format = Format::Json;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let list = || {
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        match key.as_ref() {
            "within" => params.within = Some(parse_u32("within", &value)?),
            "as_of" => params.as_of = Some(value.into_owned()),
            "office" => params.offices.extend(list()),
            "terminal" => params.terminals.extend(list()),
            "include_ok" => params.include_ok = parse_bool("include_ok", &value)?,
            "older_than" => params.older_than = Some(parse_u32("older_than", &value)?),
            "state" => params.states.extend(reports::params::parse_states(&value)?),
            "format" => {
                format = match Format::from_name(&value) {
                    Some(Format::Table) | None => {
                        return Err(ReportError::invalid("format", "use json or csv"));
                    }
                    Some(f) => f,
                }
            }
            _ => {
                return Err(ReportError::InvalidParameter {
                    parameter: "query",
                    message: format!("unknown parameter {key:?}"),
                });
            }
        }
    }
    Ok((params, format))
}

/// `/api/v1/reports/{expiring|terminals|offices|multi-office|stale}`.
async fn report(
    State(state): State<HttpState>,
    Path(kind): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let kind = ReportKind::from_name(&kind).ok_or(ApiError::NotFound(kind))?;
    let (params, format) = parse_query(query.as_deref())?;
    let report = reports::params::run(
        state.store.as_ref(),
        kind,
        &params,
        chrono::Utc::now(),
        &state.reports,
    )
    .await?;
    let mut headers = HeaderMap::new();
    let tz = state.reports.time_zone;
    let body = match format {
        Format::Csv => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            let name = format!("attachment; filename=\"certfleet-{}.csv\"", kind.name());
            if let Ok(v) = HeaderValue::from_str(&name) {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
            streamed_body(move |w| format::write_csv(&report, tz, w))
        }
        Format::Json | Format::Table => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            streamed_body(move |w| report.write_json(w))
        }
    };
    Ok((headers, body).into_response())
}

/// `POST /api/v1/tracking`: one renewal-tracking change, as JSON
/// ([`crate::tracking::TrackingRequest`]). The caller passed the API token (the middleware),
/// so the history names `api-token`; a malformed body is a 400 naming the field.
async fn track(
    State(state): State<HttpState>,
    body: Result<axum::Json<TrackingRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let axum::Json(req) = body.map_err(|e| {
        ApiError::Tracking(TrackingRequestError::Invalid {
            field: "body",
            message: e.body_text(),
        })
    })?;
    let entry = crate::tracking::apply(
        state.store.as_ref(),
        &req,
        API_OPERATOR,
        chrono::Utc::now(),
        &state.reports,
    )
    .await?;
    Ok(axum::Json(serde_json::json!({ "entry": entry })).into_response())
}

/// `GET /calendar/{token}.ics`: the feed whose token this is, unless revoked (issue 17 §5).
/// An unknown or revoked token is a plain 404, the same for both.
async fn calendar_feed(
    State(state): State<HttpState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let token = file.strip_suffix(".ics").unwrap_or(&file);
    let not_found = || ApiError::NotFound("calendar feed".into());
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let feed = state
        .store
        .calendar_feed_by_token(&crate::calendar::token_hash(token))
        .await
        .map_err(|e| ApiError::Report(ReportError::Store(e)))?
        .ok_or_else(not_found)?;
    let body = crate::calendar::render_feed(
        state.store.as_ref(),
        &feed,
        chrono::Utc::now(),
        &state.reports,
    )
    .await?;
    let headers = [
        (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    Ok((headers, body).into_response())
}

/// The operator the tracking history names for changes made with the API token.
pub const API_OPERATOR: &str = "api-token";

/// Size of the chunks a streamed body is cut into.
const BODY_CHUNK: usize = 64 * 1024;

/// An HTTP body written by `produce` on a blocking thread, chunk by chunk: the serializers are
/// synchronous and CPU-bound, and a fleet-wide report is ≈ 100 MB of JSON that should neither
/// sit in memory in one piece nor stall the async workers while it is written. The channel
/// holds a few chunks, so a slow client slows the writer instead of growing a buffer.
fn streamed_body(
    produce: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + Send + 'static,
) -> axum::body::Body {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut writer = ChunkWriter {
            tx,
            buf: Vec::with_capacity(BODY_CHUNK),
        };
        let result = produce(&mut writer).and_then(|()| writer.send_chunk());
        if let Err(e) = result {
            // Almost always the client going away; the body then ends early.
            tracing::debug!(error = %e, "streamed response ended early");
            let _ = writer.tx.blocking_send(Err(e));
        }
    });
    axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// `io::Write` into the channel behind [`streamed_body`].
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<axum::body::Bytes>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send_chunk(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(BODY_CHUNK));
        self.tx
            .blocking_send(Ok(axum::body::Bytes::from(chunk)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BODY_CHUNK {
            self.send_chunk()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn metrics(State(state): State<HttpState>) -> Response {
    let mut head = String::new();
    state.metrics.render(&mut head);
    crate::self_watch::render(&state.own_certificates, &mut head);
    let runs = match state.store.maintenance_runs().await {
        Ok(runs) => Some(runs),
        Err(e) => {
            tracing::warn!(error = %e, "maintenance runs unavailable for /metrics");
            None
        }
    };
    state.ops.render(runs.as_deref(), &mut head);
    head.push_str("# HELP certfleet_fleet_metrics_up 1 when the fleet gauges could be computed.\n");
    head.push_str("# TYPE certfleet_fleet_metrics_up gauge\n");
    let s = state.reports.clone();
    let fleet = {
        let mut last = state.fleet_scrape.lock().await;
        let reusable = last
            .as_ref()
            .filter(|(loaded_at, _)| loaded_at.elapsed() < SCRAPE_REUSE)
            .and_then(|(_, fleet)| fleet.upgrade());
        match reusable {
            Some(fleet) => Ok(fleet),
            None => {
                *last = None;
                Fleet::load(
                    state.store.as_ref(),
                    chrono::Utc::now(),
                    s.window_days,
                    Vec::new(),
                )
                .await
                .map(|fleet| {
                    let fleet = Arc::new(fleet);
                    *last = Some((Instant::now(), Arc::downgrade(&fleet)));
                    fleet
                })
            }
        }
        // The lock ends here: writing to the client happens without it.
    };
    let body = match fleet {
        // Streamed: 260k per-pair series are ≈ 34 MB of text.
        Ok(fleet) => streamed_body(move |w| {
            w.write_all(head.as_bytes())?;
            w.write_all(b"certfleet_fleet_metrics_up 1\n")?;
            reports::metrics::write(&fleet, &s, w)
        }),
        Err(e) => {
            // Ingest metrics stay useful while the database is away; the gauge says so.
            tracing::warn!(error = %e, "fleet metrics unavailable");
            head.push_str("certfleet_fleet_metrics_up 0\n");
            axum::body::Body::from(head)
        }
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_checked_and_named() {
        let (p, f) =
            parse_query(Some("within=30&office=1&office=2,3&include_ok&format=csv")).unwrap();
        assert_eq!(p.within, Some(30));
        assert_eq!(p.offices, ["1", "2", "3"]);
        assert!(p.include_ok);
        assert_eq!(f, Format::Csv);
        for (q, name) in [
            ("within=abc", "within"),
            ("include_ok=maybe", "include_ok"),
            ("format=xml", "format"),
            ("offce=1", "query"),
        ] {
            match parse_query(Some(q)).unwrap_err() {
                ReportError::InvalidParameter { parameter, .. } => assert_eq!(parameter, name),
                other => panic!("{other:?}"),
            }
        }
    }
}
