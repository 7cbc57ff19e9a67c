//! Routing, middleware (request context, security headers, login) and the page handlers.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use chrono::Utc;
use serde::Deserialize;

use crate::access::{self, Client, Decision};
use crate::auth::{self, Sessions, VerifiedSession};
use crate::filters::{ExpiringFilter, Params};
use crate::html::{Ctx, Markup};
use crate::i18n::Lang;
use crate::pages;
use crate::throttle::LoginThrottle;
use crate::{DashboardConfig, DashboardData, DataError, ListPage, TrackingRejection, assets};

const SESSION_COOKIE: &str = "cf_session";
/// The session cookie's name with `cookie_host_prefix`: browsers keep a `__Host-` cookie only
/// if it is `Secure`, has `Path=/` and no `Domain`, so no subdomain can plant or shadow it.
const HOST_SESSION_COOKIE: &str = "__Host-cf_session";
/// Largest login or logout form read; the fields themselves are capped lower.
const MAX_FORM_BYTES: usize = 8 * 1024;
const LANG_COOKIE: &str = "cf_lang";
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";
const ALERT_HISTORY_LIMIT: u32 = 500;

struct App {
    config: DashboardConfig,
    data: Arc<dyn DashboardData>,
    sessions: Sessions,
    /// Bounds concurrent argon2 checks (each takes ~19 MiB and a core for tens of ms), so a
    /// flood of login attempts cannot exhaust memory or the blocking pool.
    login_slots: tokio::sync::Semaphore,
    /// Failed logins per account and per address.
    throttle: LoginThrottle,
}

impl App {
    fn session_cookie_name(&self) -> &'static str {
        if self.config.cookie_host_prefix {
            HOST_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }
}

/// Who sent a request, put in its extensions by [`context`].
#[derive(Clone, Debug)]
struct Auth {
    client: Client,
    /// A session cookie that verified and is not logged out.
    session: Option<VerifiedSession>,
    /// A verified session cookie whose logout state could not be read (database down).
    session_unknown: bool,
}

type AppState = Arc<App>;
type Cx = Extension<Arc<Ctx>>;

pub fn router(config: DashboardConfig, data: Arc<dyn DashboardData>) -> Router {
    let app = Arc::new(App {
        sessions: Sessions::new(&config.session_key),
        login_slots: tokio::sync::Semaphore::new(2),
        throttle: LoginThrottle::new(config.login_throttle),
        config,
        data,
    });
    let protected = Router::new()
        .route("/", get(overview))
        .route("/expiring", get(expiring))
        .route("/expiring.csv", get(expiring_csv))
        .route("/offices", get(offices))
        .route("/offices/{number}", get(office))
        .route("/terminals/{id}", get(terminal))
        .route("/terminals/{id}/tracking", post(change_tracking))
        .route("/multi-office", get(multi_office))
        .route("/stale", get(stale))
        .route("/alerts", get(alerts))
        .route("/coverage", get(coverage))
        .route("/pending", get(pending))
        .route("/pending/{id}/approve", post(approve))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_login));
    let public = Router::new()
        .route("/login", get(login_form).post(login_submit))
        .route("/logout", post(logout))
        .route("/assets/{file}", get(asset));
    protected
        .merge(public)
        .layer(middleware::from_fn_with_state(app.clone(), context))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(middleware::from_fn_with_state(
            app.config.access.clone(),
            access::check_host,
        ))
        .with_state(app)
}

/// The value of cookie `name` from the `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// Builds the request context (language, user, "now") for every route, remembers an explicit
/// `?lang=` in a cookie and adds the security headers to every response.
async fn context(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let params = Params::parse(req.uri().query());
    let query_lang = params.get("lang").and_then(Lang::parse);
    let lang = query_lang
        .or_else(|| cookie(headers, LANG_COOKIE).and_then(Lang::parse))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or(Lang::Ja);
    let now = Utc::now();
    let client = app.config.access.client(req.extensions(), headers);
    // A session counts only while its user is configured with the password it logged in
    // with (the MAC covers the hash) and it was not logged out. Only a cookie whose MAC
    // verified costs a database lookup, so forged cookies cannot load the database.
    let mut session = cookie(headers, app.session_cookie_name())
        .and_then(|c| app.sessions.verify(c, &app.config.users, now.timestamp()));
    let mut session_unknown = false;
    if let Some(s) = &session {
        match app.data.session_revoked(&s.id).await {
            Ok(false) => {}
            Ok(true) => session = None,
            Err(e) => {
                tracing::warn!(error = %e, "dashboard: cannot check whether a session was logged out");
                session = None;
                session_unknown = true;
            }
        }
    }
    let ctx = Ctx {
        lang,
        tz: app.config.time_zone,
        as_of: app.config.as_of_override.unwrap_or(now),
        user: session.as_ref().map(|s| s.user.clone()),
        path: req.uri().path().to_owned(),
        params,
        page_size: app.config.page_size.max(1),
        csrf: app.sessions.csrf_token(session.as_ref().map(|s| &s.id)),
        own_certificates_expiring: app
            .config
            .own_certificates
            .iter()
            .filter(|c| {
                let as_of = app.config.as_of_override.unwrap_or(now);
                c.not_after - as_of < chrono::Duration::days(crate::OWN_CERTIFICATE_WARN_DAYS)
            })
            .cloned()
            .collect(),
    };
    req.extensions_mut().insert(Arc::new(ctx));
    req.extensions_mut().insert(Auth {
        client,
        session,
        session_unknown,
    });
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Some(l) = query_lang {
        let c = format!(
            "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Strict{}",
            l.code(),
            if app.config.secure_cookies {
                "; Secure"
            } else {
                ""
            }
        );
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Language, Cookie"),
    );
    resp
}

/// Lets a request through when login is not required, or it has a session or the token.
/// Browsers without a session are sent to the login page; a wrong token gets 401.
async fn require_login(
    State(app): State<AppState>,
    Extension(ctx): Cx,
    Extension(auth): Extension<Auth>,
    req: Request,
    next: Next,
) -> Response {
    if ctx.user.is_some() {
        return next.run(req).await;
    }
    if auth.session_unknown {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            pages::error(&ctx, ctx.tr().error_unavailable),
        );
    }
    let mut decision = app
        .config
        .access
        .dashboard_without_session(&auth.client, req.headers());
    // The local convenience never applies while accounts exist, whatever `access` was told.
    if decision == Decision::Allowed
        && !app.config.users.is_empty()
        && access::bearer_token(req.headers()).is_none()
    {
        decision = Decision::Missing;
    }
    match decision {
        Decision::Allowed => next.run(req).await,
        Decision::Invalid => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "invalid token\n",
        )
            .into_response(),
        Decision::Missing if req.method() == Method::GET || req.method() == Method::HEAD => {
            let target = match req.uri().path_and_query() {
                Some(pq) => pq.as_str().to_owned(),
                None => "/".to_owned(),
            };
            let q = form_urlencoded::Serializer::new(String::new())
                .append_pair("next", &target)
                .finish();
            see_other(&format!("/login?{q}"))
        }
        Decision::Missing => StatusCode::UNAUTHORIZED.into_response(),
    }
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response(),
    }
}

/// An HTML response. Its body can only be a template's output (see `html/mod.rs`).
fn html(status: StatusCode, body: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body.into_string(),
    )
        .into_response()
}

fn not_found(ctx: &Ctx) -> Response {
    html(StatusCode::NOT_FOUND, pages::error(ctx, ctx.tr().not_found))
}

/// Maps a data error to a generic page; the detail goes only to the log.
fn data_error(ctx: &Ctx, e: &DataError) -> Response {
    match e {
        DataError::Unavailable(_) => {
            tracing::warn!(error = %e, path = %ctx.path, "dashboard: data unavailable");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::error(ctx, ctx.tr().error_unavailable),
            )
        }
        DataError::Internal(_) => {
            tracing::error!(error = %e, path = %ctx.path, "dashboard: internal error");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                pages::error(ctx, ctx.tr().error_internal),
            )
        }
    }
}

/// Unwraps a data result or returns the error page from the handler.
macro_rules! tryd {
    ($ctx:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return data_error(&$ctx, &e),
        }
    };
}

async fn overview(State(app): State<AppState>, Extension(ctx): Cx) -> Response {
    let within = ctx.params.within_or(app.config.window_days);
    let o = tryd!(ctx, app.data.overview(ctx.as_of, within).await);
    html(StatusCode::OK, pages::overview(&ctx, &o))
}

async fn filtered_rows(
    app: &App,
    ctx: &Ctx,
) -> Result<(ExpiringFilter, certfleet_model::ExpiringReport), DataError> {
    let f = ExpiringFilter::parse(&ctx.params, app.config.window_days);
    let mut report = app.data.expiring(&f.to_query(ctx.as_of)).await?;
    f.apply(&mut report.rows);
    Ok((f, report))
}

async fn expiring(State(app): State<AppState>, Extension(ctx): Cx) -> Response {
    let (f, mut report) = tryd!(ctx, filtered_rows(&app, &ctx).await);
    let rows = std::mem::take(&mut report.rows);
    html(
        StatusCode::OK,
        pages::expiring(&ctx, &f, &report, &rows, ctx.page_size),
    )
}

async fn expiring_csv(State(app): State<AppState>, Extension(ctx): Cx) -> Response {
    let (_, report) = tryd!(ctx, filtered_rows(&app, &ctx).await);
    let body = crate::csv::expiring_csv(&report.rows, ctx.tr(), ctx.tz);
    let day = ctx.as_of.with_timezone(&ctx.tz).format("%Y%m%d");
    let disposition = format!("attachment; filename=\"certfleet-expiring-{day}.csv\"");
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

async fn offices(State(app): State<AppState>, Extension(ctx): Cx) -> Response {
    let within = ctx.params.within_or(app.config.window_days);
    let uncovered_only = ctx.params.get("uncovered").is_some_and(|v| v != "0");
    let list = tryd!(
        ctx,
        list_page(&ctx, |offset, limit| app.data.offices_page(
            ctx.as_of,
            within,
            uncovered_only,
            offset,
            limit
        ))
        .await
    );
    html(StatusCode::OK, pages::offices(&ctx, &list, uncovered_only))
}

async fn office(
    State(app): State<AppState>,
    Extension(ctx): Cx,
    Path(number): Path<String>,
) -> Response {
    if number.is_empty() || number.len() > 128 {
        return not_found(&ctx);
    }
    let within = ctx.params.within_or(app.config.window_days);
    let q = certfleet_model::ExpiringQuery {
        as_of: ctx.as_of,
        within_days: within,
        offices: vec![number.clone()],
        terminals: Vec::new(),
        include_ok: true,
        // The office's whole picture, retired PCs included.
        states: certfleet_model::TrackingState::ALL.to_vec(),
    };
    let (row, report) = tryd!(
        ctx,
        tokio::try_join!(
            app.data.office(&number, ctx.as_of, within),
            app.data.expiring(&q)
        )
    );
    if row.is_none() && report.rows.is_empty() {
        return not_found(&ctx);
    }
    html(
        StatusCode::OK,
        pages::office(&ctx, &number, row.as_ref(), &report.rows),
    )
}

async fn terminal(
    State(app): State<AppState>,
    Extension(ctx): Cx,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return not_found(&ctx);
    };
    let within = ctx.params.within_or(app.config.window_days);
    match tryd!(ctx, app.data.terminal_detail(id, ctx.as_of, within).await) {
        Some(d) => html(StatusCode::OK, pages::terminal(&ctx, &d)),
        None => not_found(&ctx),
    }
}

/// `POST /terminals/{id}/tracking`: a tracking change from the terminal page's forms. Same
/// origin and the form's CSRF token are required (the session cookie alone proves nothing
/// about who built the request); then back to the terminal page (303), or a 400 page naming
/// the field that was wrong, or 409 when the change makes no sense from the pair's state.
async fn change_tracking(
    State(app): State<AppState>,
    Extension(ctx): Cx,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    form: Result<Form<TrackingFormWithToken>, axum::extract::rejection::FormRejection>,
) -> Response {
    if !same_origin(
        &headers,
        browser_host(&app, &auth, &headers, &uri).as_deref(),
    ) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let Ok(id) = id.parse::<i64>() else {
        return not_found(&ctx);
    };
    let Ok(Form(form)) = form else {
        return html(
            StatusCode::BAD_REQUEST,
            pages::error(&ctx, ctx.tr().tracking_bad_form),
        );
    };
    let session = auth.session.as_ref().map(|s| &s.id);
    if !app.sessions.csrf_ok(session, &form.csrf) {
        tracing::warn!(path = %ctx.path, "dashboard: tracking form with a wrong CSRF token");
        return html(
            StatusCode::FORBIDDEN,
            pages::error(&ctx, ctx.tr().tracking_bad_form),
        );
    }
    // A browser session names its user; otherwise the request passed the local or token rule.
    let who = match &auth.session {
        Some(s) => s.user.clone(),
        None if access::bearer_token(&headers).is_some() => "api-token".to_owned(),
        None => "dashboard".to_owned(),
    };
    match app.data.change_tracking(id, &form.fields, &who).await {
        Ok(()) => see_other(&format!("/terminals/{id}")),
        Err(TrackingRejection::Data(e)) => data_error(&ctx, &e),
        Err(e @ TrackingRejection::Invalid { .. }) => {
            html(StatusCode::BAD_REQUEST, pages::error(&ctx, &e.to_string()))
        }
        Err(e @ TrackingRejection::Conflict(_)) => {
            html(StatusCode::CONFLICT, pages::error(&ctx, &e.to_string()))
        }
    }
}

/// The tracking form as posted: its fields and the CSRF token [`crate::html::post_form`] adds.
#[derive(Debug, Deserialize)]
struct TrackingFormWithToken {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: crate::TrackingForm,
}

/// A form whose only field is the CSRF token [`crate::html::post_form`] adds (approve).
#[derive(Debug, Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn multi_office(State(app): State<AppState>, Extension(ctx): Cx) -> Response {
    let within = ctx.params.within_or(app.config.window_days);
    let list = tryd!(
        ctx,
        list_page(&ctx, |offset, limit| app
            .data
            .multi_office_page(ctx.as_of, within, offset, limit))
        .await
    );
    html(StatusCode::OK, pages::multi_office(&ctx, &list))
}

/// Fetches the page of a list the query string asks for. A page past the end (a bookmarked
/// link after the list shrank) shows the last page, as the pager does.
async fn list_page<R, F, Fut>(ctx: &Ctx, fetch: F) -> Result<ListPage<R>, DataError>
where
    F: Fn(usize, usize) -> Fut,
    Fut: std::future::Future<Output = Result<ListPage<R>, DataError>>,
{
    let size = ctx.page_size.max(1);
    let page = ctx
        .params
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let offset = (page - 1).saturating_mul(size);
    let list = fetch(offset, size).await?;
    if offset > 0 && offset >= list.total && list.total > 0 {
        return fetch((list.total - 1) / size * size, size).await;
    }
    Ok(list)
}

async fn stale(State(app): State<AppState>, Extension(ctx): Cx) -> Response {
    let days = ctx
        .params
        .u32_or("older_than", app.config.stale_after_days, 3660);
    let report = tryd!(ctx, app.data.stale(ctx.as_of, days).await);
    html(StatusCode::OK, pages::stale(&ctx, &report))
}

async fn coverage(State(app): State<AppState>, Extension(ctx): Cx) -> Response {
    let report = tryd!(ctx, app.data.coverage(ctx.as_of).await);
    html(StatusCode::OK, pages::coverage(&ctx, &report))
}

async fn alerts(State(app): State<AppState>, Extension(ctx): Cx) -> Response {
    let records = tryd!(ctx, app.data.alert_history(ALERT_HISTORY_LIMIT).await);
    html(StatusCode::OK, pages::alerts(&ctx, &records))
}

async fn pending(State(app): State<AppState>, Extension(ctx): Cx) -> Response {
    let terminals = tryd!(ctx, app.data.pending_terminals().await);
    html(StatusCode::OK, pages::pending(&ctx, &terminals))
}

/// Approves a pending terminal and goes back to the list (POST-redirect-GET).
async fn approve(
    State(app): State<AppState>,
    Extension(ctx): Cx,
    Extension(auth): Extension<Auth>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<CsrfOnly>, axum::extract::rejection::FormRejection>,
) -> Response {
    if !same_origin(
        &headers,
        browser_host(&app, &auth, &headers, &uri).as_deref(),
    ) {
        return StatusCode::FORBIDDEN.into_response();
    }
    // As for the tracking forms: the form's token, not only the cookie and the origin, shows
    // that this dashboard built the request.
    let token = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if !app
        .sessions
        .csrf_ok(auth.session.as_ref().map(|s| &s.id), &token)
    {
        tracing::warn!(path = %ctx.path, "dashboard: approve form with a wrong CSRF token");
        return StatusCode::FORBIDDEN.into_response();
    }
    let Ok(id) = id.parse::<i64>() else {
        return not_found(&ctx);
    };
    if tryd!(ctx, app.data.approve_terminal(id).await) {
        tracing::info!(terminal_id = id, user = ?ctx.user, "dashboard: terminal approved");
        see_other("/pending")
    } else {
        not_found(&ctx)
    }
}

async fn asset(Path(file): Path<String>) -> Response {
    match assets::get(&file) {
        Some((ctype, bytes)) => (
            [
                (header::CONTENT_TYPE, ctype),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A post-login redirect target: only a local absolute path (no `//host`, no scheme).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.starts_with("/login")
                && n.len() <= 2048
                && !n.chars().any(|c| c.is_control() || c == '\\') =>
        {
            n
        }
        _ => "/",
    }
}

/// Rejects cross-site POSTs when the browser says where they come from (defence in depth
/// on top of SameSite=Strict cookies). `host` is the host the browser addressed
/// ([`access::Access::request_host`]: behind a trusted proxy its `X-Forwarded-Host`).
fn same_origin(headers: &HeaderMap, host: Option<&str>) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = host else {
        return false;
    };
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or("");
    origin_host.eq_ignore_ascii_case(host)
}

async fn login_form(State(app): State<AppState>, Extension(ctx): Cx) -> Response {
    let next = safe_next(ctx.params.get("next")).to_owned();
    html(
        StatusCode::OK,
        pages::login(&ctx, &next, None, app.config.users.is_empty()),
    )
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

fn session_cookie(app: &App, value: &str, max_age: u64) -> HeaderValue {
    let c = format!(
        "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        app.session_cookie_name(),
        if app.config.secure_cookies || app.config.cookie_host_prefix {
            "; Secure"
        } else {
            ""
        }
    );
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The host the browser addressed, for the `Origin` check.
fn browser_host(
    app: &App,
    auth: &Auth,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Option<String> {
    app.config.access.request_host(&auth.client, headers, uri)
}

async fn login_submit(
    State(app): State<AppState>,
    Extension(ctx): Cx,
    Extension(auth): Extension<Auth>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(
        &headers,
        browser_host(&app, &auth, &headers, &uri).as_deref(),
    ) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let next = safe_next(form.next.as_deref()).to_owned();
    // Every submitted name is counted, known or not, so a 429 does not reveal which exist.
    let account = Some(form.username.as_str());
    let address = auth.client.address;
    if let Err(wait) = app
        .throttle
        .check(account, address, std::time::Instant::now())
    {
        tracing::warn!(
            user = %auth::loggable(&form.username),
            client = ?address,
            "dashboard: login throttled after repeated failures"
        );
        let mut resp = html(
            StatusCode::TOO_MANY_REQUESTS,
            pages::login(
                &ctx,
                &next,
                Some(ctx.tr().login_throttled),
                app.config.users.is_empty(),
            ),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let ok = form.username.len() <= 256 && form.password.len() <= 1024 && {
        let Ok(_slot) = app.login_slots.acquire().await else {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        };
        let users = app.config.users.clone();
        let (u, p) = (form.username.clone(), form.password);
        tokio::task::spawn_blocking(move || auth::verify_user(&users, &u, &p))
            .await
            .unwrap_or(false)
    };
    if !ok {
        app.throttle
            .failed(account, address, std::time::Instant::now());
        tracing::info!(
            user = %auth::loggable(&form.username),
            client = ?address,
            "dashboard: failed login"
        );
        // Slows password guessing down a little more, without holding a login slot.
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        return html(
            StatusCode::UNAUTHORIZED,
            pages::login(
                &ctx,
                &next,
                Some(ctx.tr().login_failed),
                app.config.users.is_empty(),
            ),
        );
    }
    app.throttle.succeeded(&form.username);
    let Some((username, credential)) = app.config.users.iter().find(|(u, _)| *u == form.username)
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let ttl = app.config.session_ttl.as_secs().max(60);
    let expires = Utc::now().timestamp() + i64::try_from(ttl).unwrap_or(i64::MAX / 4);
    let value = app.sessions.issue(username, credential, expires);
    tracing::info!(user = %auth::loggable(username), client = ?address, "dashboard: login");
    let mut resp = see_other(&next);
    resp.headers_mut()
        .append(header::SET_COOKIE, session_cookie(&app, &value, ttl));
    resp
}

/// Ends the session: only a cookie that verifies is recorded (its MAC, until its own expiry),
/// so nobody can fill the revocation table with made-up values.
async fn logout(
    State(app): State<AppState>,
    Extension(ctx): Cx,
    Extension(auth): Extension<Auth>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    if !same_origin(
        &headers,
        browser_host(&app, &auth, &headers, &uri).as_deref(),
    ) {
        return StatusCode::FORBIDDEN.into_response();
    }
    if auth.session_unknown {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            pages::error(&ctx, ctx.tr().error_unavailable),
        );
    }
    if let Some(session) = &auth.session {
        let expires = chrono::DateTime::from_timestamp(session.expires, 0).unwrap_or_else(Utc::now);
        if let Err(e) = app.data.revoke_session(&session.id, expires).await {
            // The cookie stays valid on the server: say so instead of pretending.
            tracing::error!(error = %e, "dashboard: logout could not be recorded");
            return html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::error(&ctx, ctx.tr().error_unavailable),
            );
        }
        tracing::info!(user = %auth::loggable(&session.user), "dashboard: logout");
    }
    let mut resp = see_other("/login");
    resp.headers_mut()
        .append(header::SET_COOKIE, session_cookie(&app, "", 0));
    resp
}
