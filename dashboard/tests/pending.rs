//! The pending-terminals page (approval mode): the list with what each terminal says about
//! itself shown as text, and the approve form: same-origin POST only, unknown terminals 404,
//! an approved terminal leaves the list. The router is called directly over a fake
//! `DashboardData` that holds only pending terminals.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use certfleet_dashboard::{
    Access, AccessConfig, DashboardConfig, DashboardData, DataError, SessionId, router,
};
use certfleet_model::*;
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use tower::ServiceExt;

const HOSTILE: &str = "<img src=x onerror=alert('pending')>";

#[derive(Default)]
struct Fake {
    pending: Mutex<Vec<PendingTerminal>>,
    revoked: Mutex<HashSet<SessionId>>,
}

fn unused<T>() -> Result<T, DataError> {
    Err(DataError::Internal("not used by these tests".into()))
}

#[async_trait::async_trait]
impl DashboardData for Fake {
    async fn overview(&self, _: DateTime<Utc>, _: u32) -> Result<Overview, DataError> {
        unused()
    }
    async fn expiring(&self, _: &ExpiringQuery) -> Result<ExpiringReport, DataError> {
        unused()
    }
    async fn terminals(&self, _: DateTime<Utc>, _: u32) -> Result<TerminalsReport, DataError> {
        unused()
    }
    async fn offices(&self, _: DateTime<Utc>, _: u32) -> Result<OfficesReport, DataError> {
        unused()
    }
    async fn stale(&self, _: DateTime<Utc>, _: u32) -> Result<StaleReport, DataError> {
        unused()
    }
    async fn terminal_detail(
        &self,
        _: TerminalId,
        _: DateTime<Utc>,
        _: u32,
    ) -> Result<Option<TerminalDetail>, DataError> {
        unused()
    }
    async fn alert_history(&self, _: u32) -> Result<Vec<AlertRecord>, DataError> {
        unused()
    }
    async fn pending_terminals(&self) -> Result<Vec<PendingTerminal>, DataError> {
        Ok(self.pending.lock().unwrap().clone())
    }
    async fn approve_terminal(&self, id: TerminalId) -> Result<bool, DataError> {
        let mut pending = self.pending.lock().unwrap();
        let before = pending.len();
        pending.retain(|t| t.id != id);
        Ok(pending.len() < before)
    }
    async fn revoke_session(&self, id: &SessionId, _: DateTime<Utc>) -> Result<(), DataError> {
        self.revoked.lock().unwrap().insert(*id);
        Ok(())
    }
    async fn session_revoked(&self, id: &SessionId) -> Result<bool, DataError> {
        Ok(self.revoked.lock().unwrap().contains(id))
    }
}

fn terminal(id: TerminalId, hostname: &str) -> PendingTerminal {
    PendingTerminal {
        id,
        hostname: hostname.into(),
        machine_id: format!("{HOSTILE}-{id}"),
        os_name: "Windows".into(),
        os_version: HOSTILE.into(),
        agent_version: "0.1.0".into(),
        pending_since: Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap(),
        enrolled_from: Some("192.0.2.7".into()),
        last_report_at: None,
        certificate_count: 3,
    }
}

/// A request from a direct local client (no proxy), as the collector's listener records it.
async fn call(app: &axum::Router, mut req: Request<Body>) -> (StatusCode, String, Option<String>) {
    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(
        "127.0.0.1:40000".parse().unwrap(),
    ));
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8_lossy(&body).into_owned(),
        location,
    )
}

fn post(path: &str, origin: &str) -> Request<Body> {
    post_with_token(path, origin, "")
}

/// The approve form as a browser posts it: its hidden `csrf` field.
fn post_with_token(path: &str, origin: &str, csrf: &str) -> Request<Body> {
    Request::post(path)
        .header(header::HOST, "localhost")
        .header(header::ORIGIN, origin)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf={csrf}")))
        .unwrap()
}

/// The CSRF token of the page's forms.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no csrf field in:\n{page}"));
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn pending_terminals_are_listed_as_text_and_approved_by_same_origin_post() {
    let fake = Arc::new(Fake::default());
    fake.pending
        .lock()
        .unwrap()
        .extend([terminal(7, "pc-new-01"), terminal(8, "pc-new-02")]);
    let app = router(DashboardConfig::default(), fake.clone());

    let get = || {
        Request::get("/pending?lang=en")
            .body(Body::empty())
            .unwrap()
    };
    let (status, page, _) = call(&app, get()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.matches("data-testid=\"pending-row\"").count(), 2);
    assert!(
        page.contains("pc-new-01") && page.contains("192.0.2.7"),
        "{page}"
    );
    assert!(!page.contains(HOSTILE), "hostile text unescaped:\n{page}");
    assert!(page.contains("&lt;img src=x onerror=alert('pending')&gt;"));
    assert!(page.contains("action=\"/pending/7/approve\""), "{page}");
    assert!(
        page.contains("href=\"/pending\""),
        "the menu links the page"
    );

    let csrf = csrf_of(&page);
    let approve = |path: &str, origin: &str| post_with_token(path, origin, &csrf);

    // A cross-site form cannot approve, with or without the token; a same-origin request
    // without the form's token (or with another) cannot either; nor can a request for a
    // terminal that does not wait.
    let (status, _, _) = call(&app, approve("/pending/7/approve", "https://evil.example")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call(&app, post("/pending/7/approve", "http://localhost")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no token");
    let wrong = "0".repeat(csrf.len());
    let (status, _, _) = call(
        &app,
        post_with_token("/pending/7/approve", "http://localhost", &wrong),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another token");
    let (status, _, _) = call(&app, approve("/pending/99/approve", "http://localhost")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(&app, approve("/pending/x/approve", "http://localhost")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(fake.pending.lock().unwrap().len(), 2);

    let (status, _, location) = call(&app, approve("/pending/7/approve", "http://localhost")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/pending"));
    let (_, page, _) = call(&app, get()).await;
    assert_eq!(page.matches("data-testid=\"pending-row\"").count(), 1);
    assert!(!page.contains("pc-new-01") && page.contains("pc-new-02"));

    // GET never approves.
    let (status, _, _) = call(
        &app,
        Request::get("/pending/8/approve")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(fake.pending.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn approving_needs_a_login_where_pages_do() {
    let fake = Arc::new(Fake::default());
    fake.pending.lock().unwrap().push(terminal(7, "pc-new-01"));
    let config = DashboardConfig {
        users: vec![("admin".into(), "$argon2id$unused".into())],
        access: Access::new(AccessConfig {
            users_configured: true,
            ..AccessConfig::default()
        }),
        ..DashboardConfig::default()
    };
    let app = router(config, fake.clone());
    let (status, _, location) =
        call(&app, Request::get("/pending").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().starts_with("/login"));
    let (status, _, _) = call(&app, post("/pending/7/approve", "http://localhost")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(fake.pending.lock().unwrap().len(), 1, "nothing approved");
}
