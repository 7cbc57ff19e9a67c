//! Handler tests: the router called directly (tower `oneshot`) over an in-memory fake
//! `DashboardData` holding a small fleet with hostile strings in it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use certfleet_dashboard::{
    Access, AccessConfig, DashboardConfig, DashboardData, DataError, SessionId, ThrottleLimits,
    hash_password, router,
};
use certfleet_model::*;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use http_body_util::BodyExt;
use tower::ServiceExt;

const HOSTILE: &str = "<script>alert(1)</script>";
const HOSTILE_HOST: &str = "<img src=x onerror=alert(1)>";

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 3, 0, 0).unwrap()
}

fn as_of() -> DateTime<Utc> {
    t(2026, 11, 26)
}

fn term(id: i64, hostname: &str) -> TerminalRef {
    TerminalRef {
        id,
        hostname: hostname.into(),
        machine_id: format!("machine-{id}"),
    }
}

#[allow(clippy::too_many_arguments)]
fn pair(
    office: &str,
    name: Option<&str>,
    terminal: TerminalRef,
    status: PairStatus,
    not_after: DateTime<Utc>,
    days_left: i64,
    renew_now: bool,
    office_count: u32,
    stale: bool,
) -> PairRow {
    PairRow {
        office_number: office.into(),
        office_name: name.map(Into::into),
        terminal,
        status,
        not_after,
        days_left,
        renew_by: (not_after - chrono::Duration::days(14)).date_naive(),
        renew_now,
        first_blocked_billing_month: not_after.format("%Y-%m").to_string(),
        superseded: Vec::new(),
        terminal_office_count: office_count,
        has_private_key: Some(true),
        stale,
        last_report_at: Some(t(2026, 11, 25)),
        certificate: CertificateRef {
            sha256: format!("{:064x}", days_left.unsigned_abs()),
            serial: "01".into(),
            subject: format!("CN={office}"),
            issuer: "CN=KANAGAWA KOKUHOREN CA".into(),
        },
        tracking: certfleet_model::TrackingView::not_started(),
    }
}

fn fleet() -> Vec<PairRow> {
    let mut expiring = pair(
        "2222222222",
        Some("みなと事業所"),
        term(1, "pc-sakura-01"),
        PairStatus::Expiring,
        t(2026, 12, 10),
        14,
        true,
        2,
        false,
    );
    expiring.superseded.push(SupersededCert {
        sha256: "ab".repeat(32),
        not_after: t(2026, 12, 1),
    });
    vec![
        pair(
            "1111111111",
            Some("さくら事業所"),
            term(1, "pc-sakura-01"),
            PairStatus::Expired,
            t(2026, 11, 20),
            -6,
            true,
            2,
            false,
        ),
        expiring,
        pair(
            "3333333333",
            Some(HOSTILE),
            term(2, HOSTILE_HOST),
            PairStatus::Expiring,
            t(2027, 1, 15),
            50,
            false,
            1,
            true,
        ),
        pair(
            "1111111111",
            Some("=HYPERLINK(\"http://x\")"),
            term(3, "pc-ok"),
            PairStatus::Ok,
            t(2028, 6, 1),
            553,
            false,
            1,
            false,
        ),
    ]
}

#[derive(Default)]
struct Fake {
    rows: Vec<PairRow>,
    fail: Option<fn() -> DataError>,
    last_query: Mutex<Option<ExpiringQuery>>,
    last_days: Mutex<Option<u32>>,
    /// Logged-out sessions, as the database keeps them (shared by "replicas" sharing a Fake).
    revoked: Mutex<HashMap<SessionId, DateTime<Utc>>>,
    /// Makes the logout bookkeeping fail like an unreachable database.
    revocations_down: bool,
}

impl Fake {
    fn new() -> Self {
        Self {
            rows: fleet(),
            ..Default::default()
        }
    }
    fn check(&self) -> Result<(), DataError> {
        match self.fail {
            Some(f) => Err(f()),
            None => Ok(()),
        }
    }
    fn office_on(r: &PairRow) -> OfficeOnTerminal {
        OfficeOnTerminal {
            office_number: r.office_number.clone(),
            office_name: r.office_name.clone(),
            status: r.status,
            not_after: r.not_after,
            days_left: r.days_left,
        }
    }
    fn terminal_rows(&self) -> Vec<TerminalRow> {
        let mut out: Vec<TerminalRow> = Vec::new();
        let mut index = std::collections::HashMap::new();
        for r in &self.rows {
            if let Some(&i) = index.get(&r.terminal.id) {
                let tr: &mut TerminalRow = &mut out[i];
                tr.offices.push(Self::office_on(r));
                continue;
            }
            index.insert(r.terminal.id, out.len());
            out.push(TerminalRow {
                terminal: r.terminal.clone(),
                os_name: "Windows 11 Pro".into(),
                os_version: "10.0.22631".into(),
                agent_version: "0.1.0-test".into(),
                last_report_at: r.last_report_at,
                stale: r.stale,
                offices: vec![Self::office_on(r)],
                soonest_not_after: Some(r.not_after),
            });
        }
        out
    }
}

#[async_trait::async_trait]
impl DashboardData for Fake {
    async fn overview(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<Overview, DataError> {
        self.check()?;
        *self.last_days.lock().unwrap() = Some(within_days);
        Ok(Overview {
            as_of,
            within_days,
            expired: 1,
            renew_now: 1,
            expiring: 2,
            ok: 1,
            terminals: 3,
            stale_terminals: 1,
            offices: 4,
            uncovered_offices: 1,
            timeline: (0..36)
                .map(|i| TimelineBucket {
                    month: format!("{}-{:02}", 2026 + (10 + i) / 12, (10 + i) % 12 + 1),
                    expired: u32::from(i == 0),
                    expiring: if i < 2 { 1 } else { 0 },
                    ok: u32::from(i == 19),
                })
                .collect(),
        })
    }

    async fn expiring(&self, q: &ExpiringQuery) -> Result<ExpiringReport, DataError> {
        self.check()?;
        *self.last_query.lock().unwrap() = Some(q.clone());
        let rows = self
            .rows
            .iter()
            .filter(|r| q.offices.is_empty() || q.offices.contains(&r.office_number))
            .filter(|r| q.terminals.is_empty() || q.terminals.contains(&r.terminal.hostname))
            .filter(|r| q.include_ok || r.status != PairStatus::Ok)
            .cloned()
            .collect();
        Ok(ExpiringReport {
            as_of: q.as_of,
            within_days: q.within_days,
            rows,
        })
    }

    async fn terminals(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<TerminalsReport, DataError> {
        self.check()?;
        Ok(TerminalsReport {
            as_of,
            within_days,
            rows: self.terminal_rows(),
        })
    }

    async fn offices(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<OfficesReport, DataError> {
        self.check()?;
        let mut rows: Vec<OfficeRow> = Vec::new();
        for r in &self.rows {
            let tof = TerminalOfOffice {
                terminal: r.terminal.clone(),
                status: r.status,
                not_after: r.not_after,
                days_left: r.days_left,
                stale: r.stale,
            };
            if let Some(o) = rows.iter_mut().find(|o| o.office_number == r.office_number) {
                o.terminals.push(tof);
                continue;
            }
            rows.push(OfficeRow {
                office_number: r.office_number.clone(),
                office_name: r.office_name.clone(),
                site: Some("横浜".into()),
                owner_email: Some("owner@example.invalid".into()),
                terminals: vec![tof],
                soonest_not_after: Some(r.not_after),
                uncovered: false,
                expected_pcs: None,
            });
        }
        rows.push(OfficeRow {
            office_number: "4444444444".into(),
            office_name: Some("うみ事業所".into()),
            site: None,
            owner_email: None,
            terminals: Vec::new(),
            soonest_not_after: None,
            uncovered: true,
            expected_pcs: Some(2),
        });
        Ok(OfficesReport {
            as_of,
            within_days,
            rows,
        })
    }

    async fn stale(
        &self,
        as_of: DateTime<Utc>,
        older_than_days: u32,
    ) -> Result<StaleReport, DataError> {
        self.check()?;
        *self.last_days.lock().unwrap() = Some(older_than_days);
        Ok(StaleReport {
            as_of,
            older_than_days,
            rows: vec![StaleRow {
                terminal: term(2, HOSTILE_HOST),
                last_report_at: Some(t(2026, 11, 1)),
                days_since_report: Some(25),
                office_count: 1,
            }],
        })
    }

    async fn terminal_detail(
        &self,
        id: TerminalId,
        _as_of: DateTime<Utc>,
        _within_days: u32,
    ) -> Result<Option<TerminalDetail>, DataError> {
        self.check()?;
        let Some(row) = self
            .terminal_rows()
            .into_iter()
            .find(|r| r.terminal.id == id)
        else {
            return Ok(None);
        };
        let holdings = self
            .rows
            .iter()
            .filter(|r| r.terminal.id == id)
            .map(|r| HoldingView {
                certificate: CertificateRef {
                    subject: if id == 2 {
                        format!("CN={HOSTILE}")
                    } else {
                        r.certificate.subject.clone()
                    },
                    ..r.certificate.clone()
                },
                office_number: Some(r.office_number.clone()),
                not_before: r.not_after - chrono::Duration::days(1095),
                not_after: r.not_after,
                has_private_key: r.has_private_key,
                friendly_name: "請求用".into(),
                locations: vec![LocationView {
                    source: "profile_file".into(),
                    store: "My".into(),
                    user: "staff01".into(),
                    path: r"C:\Users\staff01\AppData\Roaming\Microsoft\SystemCertificates\My\Certificates\AB".into(),
                }],
                first_seen: t(2026, 1, 1),
                last_seen: t(2026, 11, 25),
                effective: true,
            })
            .collect();
        Ok(Some(TerminalDetail {
            row,
            holdings,
            tracking: Vec::new(),
        }))
    }

    async fn alert_history(&self, limit: u32) -> Result<Vec<AlertRecord>, DataError> {
        self.check()?;
        assert!(limit > 0);
        Ok(vec![AlertRecord {
            id: 1,
            decided_at: t(2026, 11, 25),
            delivered_at: None,
            threshold: "14d".into(),
            office_number: Some("2222222222".into()),
            terminal: Some(term(1, "pc-sakura-01")),
            certificate_sha256: Some("cd".repeat(32)),
            not_after: Some(t(2026, 12, 10)),
            recipient: "webhook:ops".into(),
            state: "failed".into(),
            attempts: 3,
            last_error: Some(format!("HTTP 500 {HOSTILE}")),
        }])
    }

    async fn revoke_session(
        &self,
        id: &SessionId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DataError> {
        if self.revocations_down {
            return Err(DataError::Unavailable("database down".into()));
        }
        self.revoked.lock().unwrap().insert(*id, expires_at);
        Ok(())
    }

    async fn session_revoked(&self, id: &SessionId) -> Result<bool, DataError> {
        if self.revocations_down {
            return Err(DataError::Unavailable("database down".into()));
        }
        Ok(self.revoked.lock().unwrap().contains_key(id))
    }
}

fn config() -> DashboardConfig {
    DashboardConfig {
        as_of_override: Some(as_of()),
        ..DashboardConfig::default()
    }
}

fn app_with(config: DashboardConfig, fake: Fake) -> (Router, Arc<Fake>) {
    let fake = Arc::new(fake);
    (router(config, fake.clone()), fake)
}

fn app() -> Router {
    app_with(config(), Fake::new()).0
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Resp {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes).unwrap()
    }
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
    fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
    fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

/// The TCP peer of a request unless it names its own: a direct local client.
const LOCAL_PEER: &str = "127.0.0.1:40000";

async fn send(app: &Router, mut req: Request<Body>) -> Resp {
    if req.extensions().get::<ConnectInfo<SocketAddr>>().is_none() {
        req.extensions_mut()
            .insert(ConnectInfo::<SocketAddr>(LOCAL_PEER.parse().unwrap()));
    }
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Resp {
        status,
        headers,
        bytes,
    }
}

async fn get(app: &Router, uri: &str) -> Resp {
    get_with(app, uri, &[]).await
}

async fn get_with(app: &Router, uri: &str, headers: &[(&str, &str)]) -> Resp {
    let mut b = Request::get(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    send(app, b.body(Body::empty()).unwrap()).await
}

async fn post_form(app: &Router, uri: &str, body: &str, headers: &[(&str, &str)]) -> Resp {
    let mut b =
        Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    send(app, b.body(Body::from(body.to_owned())).unwrap()).await
}

/// The values of `attr="…"` in document order.
fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!("{attr}=\"");
    html.split(&needle)
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

/// No inline script or style anywhere (the CSP would block them anyway).
fn assert_no_inline_code(html: &str) {
    assert!(!html.contains("style="), "inline style attribute");
    assert!(!html.contains("<style"), "inline style element");
    for s in html.split("<script").skip(1) {
        assert!(
            s.starts_with(" src=\"/assets/"),
            "inline script: <script{}",
            &s[..40.min(s.len())]
        );
    }
}

// ---------------------------------------------------------------- pages

#[tokio::test]
async fn overview_in_japanese_by_default_with_counts_chart_and_headers() {
    let r = get(&app(), "/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(header::CONTENT_TYPE), "text/html; charset=utf-8");
    let csp = r.header(header::CONTENT_SECURITY_POLICY);
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "CSP lacks {part}: {csp}");
    }
    assert_eq!(r.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(r.header(header::REFERRER_POLICY), "same-origin");
    let h = r.text();
    assert!(h.contains(r#"<html lang="ja">"#));
    for (id, n) in [
        ("count-expired", 1),
        ("count-renew-now", 1),
        ("count-expiring", 2),
        ("count-ok", 1),
        ("count-stale", 1),
        ("count-uncovered", 1),
    ] {
        assert!(h.contains(&format!(r#"data-testid="{id}">{n}<"#)), "{id}");
    }
    for label in [
        "概要",
        "期限切れ",
        "今すぐ更新",
        "期限間近",
        "正常",
        "未報告の端末",
        "証明書のない事業所",
    ] {
        assert!(h.contains(label), "{label}");
    }
    assert!(h.contains(r#"<svg class="timeline""#));
    assert!(h.contains(r#"role="img""#));
    assert_eq!(h.matches(r#"<g class="bar">"#).count(), 36);
    assert!(h.contains("<title>2026/11: 期限切れ 1, 期限間近 1, 正常 0</title>"));
    assert!(h.contains(r#"data-testid="lang-en""#) && h.contains(r#"data-testid="lang-ja""#));
    assert!(h.contains("2026/11/26 12:00"), "as-of in Asia/Tokyo");
    assert_no_inline_code(h);
}

#[tokio::test]
async fn overview_window_parameter_reaches_the_data() {
    let (app, fake) = app_with(config(), Fake::new());
    assert_eq!(get(&app, "/?within=30").await.status, StatusCode::OK);
    assert_eq!(*fake.last_days.lock().unwrap(), Some(30));
    assert_eq!(get(&app, "/").await.status, StatusCode::OK);
    assert_eq!(*fake.last_days.lock().unwrap(), Some(60), "default window");
}

#[tokio::test]
async fn english_by_switch_cookie_and_accept_language() {
    let app = app();
    let r = get(&app, "/?lang=en").await;
    assert!(r.text().contains(r#"<html lang="en">"#));
    assert!(r.text().contains("Overview") && r.text().contains("Renew now"));
    let c = r.cookies().join("\n");
    assert!(c.contains("cf_lang=en") && c.contains("Path=/"), "{c}");

    let r = get_with(&app, "/expiring", &[("cookie", "cf_lang=en")]).await;
    assert!(r.text().contains("Office number") && r.text().contains("Expires"));
    let r = get_with(&app, "/expiring", &[("accept-language", "en-US,en;q=0.9")]).await;
    assert!(r.text().contains("Office number"));
    let r = get_with(&app, "/expiring?lang=ja", &[("cookie", "cf_lang=en")]).await;
    assert!(r.text().contains("事業所番号") && r.text().contains("有効期限"));
    // The switch keeps the current filters.
    let r = get(&app, "/expiring?office=1111111111").await;
    assert!(
        r.text()
            .contains(r#"href="/expiring?office=1111111111&amp;lang=en""#),
        "{}",
        r.text()
            .split("lang-en")
            .nth(1)
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>()
    );
}

fn rows_of(r: &Resp) -> Vec<String> {
    attr_values(r.text(), "data-office")
}

#[tokio::test]
async fn expiring_table_default_filters_sorting_and_labels() {
    let app = app();
    let r = get(&app, "/expiring").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.count(r#"data-testid="expiring-row""#),
        3,
        "ok pairs hidden by default"
    );
    assert_eq!(
        rows_of(&r),
        ["1111111111", "2222222222", "3333333333"],
        "most urgent first"
    );
    let h = r.text();
    for label in [
        "事業所番号",
        "事業所名",
        "端末",
        "有効期限",
        "残り日数",
        "更新申請期限",
        "請求できなくなる月",
        "複数事業所",
        "未報告",
    ] {
        assert!(h.contains(label), "{label}");
    }
    assert!(
        h.contains("2026/11/20") && h.contains("2026/12/10"),
        "YYYY/MM/DD"
    );
    assert!(h.contains(r#"<a href="/terminals/1">pc-sakura-01</a>"#));
    assert!(h.contains(r#"<a href="/offices/2222222222">2222222222</a>"#));
    assert!(h.contains("×2"), "multi-office marker");
    for name in ["office", "terminal", "status", "within"] {
        assert!(
            h.contains(&format!(r#"name="{name}""#)),
            "filter field {name}"
        );
    }
    assert!(h.contains(r#"data-testid="csv-link" href="/expiring.csv?within=60""#));
    assert_no_inline_code(h);

    let r = get(&app, "/expiring?sort=office&dir=desc").await;
    assert_eq!(rows_of(&r), ["3333333333", "2222222222", "1111111111"]);
    assert!(r.text().contains(r#"aria-sort="descending""#));
    assert!(
        r.text()
            .contains(r#"<input type="hidden" name="sort" value="office">"#)
    );
    let r = get(&app, "/expiring?sort=terminal").await;
    assert_eq!(
        rows_of(&r),
        ["3333333333", "1111111111", "2222222222"],
        "'<' sorts first"
    );
}

#[tokio::test]
async fn expiring_filters_office_terminal_status_window() {
    let (app, fake) = app_with(config(), Fake::new());
    let count = |r: &Resp| r.count(r#"data-testid="expiring-row""#);

    let r = get(&app, "/expiring?office=1111111111").await;
    assert_eq!(count(&r), 1);
    assert!(
        r.text().contains(r#"name="office" value="1111111111""#),
        "filter echoed"
    );
    let r = get(&app, "/expiring?office=1111111111&status=all").await;
    assert_eq!(count(&r), 2);
    assert!(r.text().contains(r#"<option value="all" selected>"#));
    let r = get(&app, "/expiring?office=1111111111,2222222222").await;
    assert_eq!(count(&r), 2);
    assert_eq!(
        fake.last_query.lock().unwrap().as_ref().unwrap().offices,
        ["1111111111", "2222222222"]
    );

    assert_eq!(
        count(&get(&app, "/expiring?terminal=pc-sakura-01").await),
        2
    );
    assert_eq!(count(&get(&app, "/expiring?terminal=nope").await), 0);
    assert!(
        get(&app, "/expiring?terminal=nope")
            .await
            .text()
            .contains("該当するものはありません")
    );
    assert_eq!(count(&get(&app, "/expiring?status=expired").await), 1);
    assert_eq!(count(&get(&app, "/expiring?status=expiring").await), 2);
    assert_eq!(
        count(&get(&app, "/expiring?status=renew_now").await),
        1,
        "renew-now excludes expired"
    );
    assert_eq!(count(&get(&app, "/expiring?status=ok").await), 1);
    assert!(fake.last_query.lock().unwrap().as_ref().unwrap().include_ok);

    get(&app, "/expiring?within=30").await;
    let q = fake.last_query.lock().unwrap().clone().unwrap();
    assert_eq!((q.within_days, q.include_ok, q.as_of), (30, false, as_of()));
}

#[tokio::test]
async fn expiring_table_is_paginated() {
    let cfg = DashboardConfig {
        page_size: 2,
        ..config()
    };
    let (app, _) = app_with(cfg, Fake::new());
    let r = get(&app, "/expiring?status=all").await;
    assert_eq!(r.count(r#"data-testid="expiring-row""#), 2);
    assert!(
        r.text()
            .contains(r#"rel="next" href="/expiring?status=all&amp;within=60&amp;page=2""#)
    );
    let r = get(&app, "/expiring?status=all&page=2").await;
    assert_eq!(r.count(r#"data-testid="expiring-row""#), 2);
    assert!(r.text().contains(r#"rel="prev""#));
    let r = get(&app, "/expiring?status=all&page=99").await;
    assert_eq!(
        r.count(r#"data-testid="expiring-row""#),
        2,
        "clamped to the last page"
    );
    // The CSV has every row of every page.
    let csv = get(&app, "/expiring.csv?status=all").await;
    assert_eq!(csv.text().matches("\r\n").count(), 1 + 4);
}

/// Issue 16: the collector's own certificates that expire within 60 days are announced on
/// every page; later ones are not.
#[tokio::test]
async fn own_certificates_expiring_soon_show_a_banner_on_every_page() {
    let notice = |what: &str, days: i64| certfleet_dashboard::OwnCertificateNotice {
        what: what.to_owned(),
        not_after: as_of() + chrono::Duration::days(days),
    };
    let cfg = DashboardConfig {
        own_certificates: vec![
            notice("server certificate <b>soon</b>", 20),
            notice("CA certificate later", 2000),
        ],
        ..config()
    };
    let (app, _) = app_with(cfg, Fake::new());
    for path in ["/", "/expiring", "/offices", "/stale", "/alerts"] {
        let r = get(&app, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let html = r.text();
        assert_eq!(r.count(r#"data-testid="own-cert-warning""#), 1, "{path}");
        assert!(
            html.contains("server certificate &lt;b&gt;soon&lt;/b&gt;"),
            "{path}"
        );
        assert!(html.contains("(20 日)"), "{path}: {html}");
        assert!(!html.contains("CA certificate later"), "{path}");
    }
    let r = get(&app, "/?lang=en").await;
    assert!(
        r.text()
            .contains("certfleet's own certificates expire soon")
    );
    assert!(r.text().contains("reissue-server-cert"));
    // Nothing to say: no banner.
    let r = get(&app_with(config(), Fake::new()).0, "/").await;
    assert_eq!(r.count(r#"data-testid="own-cert-warning""#), 0);
}

#[tokio::test]
async fn hostile_strings_render_as_text_everywhere() {
    let app = app();
    for uri in [
        "/expiring?status=all",
        "/terminals/2",
        "/offices/3333333333",
        "/offices",
        "/multi-office",
        "/stale",
        "/alerts",
        "/expiring?terminal=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/expiring?office=%22%3E%3Cscript%3E",
        "/login?next=%22%3E%3Cscript%3E",
    ] {
        let r = get(&app, uri).await;
        assert!(r.status.is_success(), "{uri}: {}", r.status);
        let h = r.text();
        assert!(!h.contains("<script>"), "{uri}: raw script tag");
        assert!(!h.contains("<img"), "{uri}: injected element");
        assert_no_inline_code(h);
    }
    let h = get(&app, "/terminals/2").await;
    assert!(
        h.text()
            .contains("CN=&lt;script&gt;alert(1)&lt;/script&gt;"),
        "subject shown as text"
    );
    assert!(
        h.text().contains("&lt;img src=x onerror=alert(1)&gt;"),
        "hostname shown as text"
    );
    let r = get(&app, "/expiring?office=%22%3E%3Cscript%3E").await;
    assert!(
        r.text()
            .contains(r#"name="office" value="&quot;&gt;&lt;script&gt;""#),
        "attribute stays closed"
    );
    let a = get(&app, "/alerts").await;
    assert!(a.text().contains("HTTP 500 &lt;script&gt;"));
}

#[tokio::test]
async fn csv_matches_the_table_bom_crlf_quoted() {
    let app = app();
    for q in [
        "",
        "?status=all",
        "?office=1111111111&status=all&sort=office&dir=desc",
        "?terminal=pc-sakura-01",
    ] {
        let table = get(&app, &format!("/expiring{q}")).await;
        let csv = get(&app, &format!("/expiring.csv{q}")).await;
        assert_eq!(csv.status, StatusCode::OK);
        assert_eq!(csv.header(header::CONTENT_TYPE), "text/csv; charset=utf-8");
        assert!(
            csv.header(header::CONTENT_DISPOSITION)
                .starts_with("attachment; filename=\"certfleet-expiring-20261126.csv\"")
        );
        assert_eq!(&csv.bytes[..3], b"\xEF\xBB\xBF", "UTF-8 BOM");
        let text = &csv.text()[3..];
        assert!(text.ends_with("\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'), "CRLF only");
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(
            lines[0],
            r#""事業所番号","事業所名","端末","状態","有効期限","残り日数","更新申請期限","請求できなくなる月","事業所数","未報告""#
        );
        let table_rows = table.count(r#"data-testid="expiring-row""#);
        assert_eq!(lines.len() - 1, table_rows, "{q}: CSV rows = table rows");
        // Same order as the table.
        let csv_offices: Vec<String> = lines[1..]
            .iter()
            .map(|l| l.split(',').next().unwrap().trim_matches('"').to_owned())
            .collect();
        assert_eq!(csv_offices, rows_of(&table), "{q}");
        for l in &lines[1..] {
            assert!(l.starts_with('"') && l.ends_with('"'), "quoted: {l}");
        }
    }
    let all = get(&app, "/expiring.csv?status=all").await;
    let text = all.text();
    assert!(text.contains(r#""1111111111","さくら事業所","pc-sakura-01","期限切れ","2026/11/20","-6","2026/11/06","2026-11","2","""#), "{text}");
    assert!(
        text.contains(r#""'=HYPERLINK(""http://x"")""#),
        "formula guard and quote doubling"
    );
    let en = get(&app, "/expiring.csv?lang=en").await;
    assert!(en.text().contains(r#""Office number","Office name""#));
}

#[tokio::test]
async fn office_page_lists_terminals_and_superseded_certificates() {
    let (app, fake) = app_with(config(), Fake::new());
    let r = get(&app, "/offices/2222222222").await;
    assert_eq!(r.status, StatusCode::OK);
    let h = r.text();
    assert!(
        h.contains("みなと事業所") && h.contains("横浜") && h.contains("owner@example.invalid")
    );
    assert_eq!(r.count(r#"data-testid="office-row""#), 1);
    assert!(h.contains(r#"data-testid="superseded""#) && h.contains("abababababababab…"));
    assert!(h.contains("2026/12/01"), "superseded expiry");
    let q = fake.last_query.lock().unwrap().clone().unwrap();
    assert_eq!(
        (q.offices, q.include_ok),
        (vec!["2222222222".to_owned()], true)
    );
    let r = get(&app, "/offices/1111111111").await;
    assert_eq!(
        r.count(r#"data-testid="office-row""#),
        2,
        "ok pairs shown on the office page"
    );
    // In the registry, held nowhere: shown as uncovered.
    let r = get(&app, "/offices/4444444444").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains(r#"data-testid="uncovered""#));
    // Issue 17 §3: the registry expects 2 PCs, none holds the office's certificate.
    assert!(r.text().contains("2台中 0台で更新済み"), "{}", r.text());
    assert!(r.text().contains("うち 2台は"), "{}", r.text());
    let r = get(&app, "/offices/1111111111?lang=en").await;
    assert!(
        r.text().contains(r#"data-testid="office-progress""#),
        "{}",
        r.text()
    );
    assert!(r.text().contains(" of 2 PCs"), "{}", r.text());
    assert_eq!(
        get(&app, "/offices/9999999999").await.status,
        StatusCode::NOT_FOUND
    );
    let r = get(&app, "/offices/9999999999?lang=en").await;
    assert!(r.text().contains("Not found."));
}

#[tokio::test]
async fn offices_list_and_uncovered_filter() {
    let app = app();
    let r = get(&app, "/offices").await;
    assert_eq!(r.count(r#"data-testid="office-list-row""#), 4);
    let r = get(&app, "/offices?uncovered=1").await;
    assert_eq!(r.count(r#"data-testid="office-list-row""#), 1);
    assert!(r.text().contains("4444444444"));
}

#[tokio::test]
async fn terminal_page_shows_offices_certificates_locations() {
    let app = app();
    let r = get(&app, "/terminals/1").await;
    assert_eq!(r.status, StatusCode::OK);
    let h = r.text();
    assert!(h.contains(r#"data-testid="agent-version">0.1.0-test<"#));
    assert!(h.contains("2026/11/25 12:00"), "last report in Asia/Tokyo");
    assert_eq!(r.count(r#"data-testid="holding""#), 2);
    assert!(h.contains("staff01") && h.contains(r"Roaming\Microsoft\SystemCertificates\My"));
    for label in [
        "発行者",
        "発行先",
        "有効期限",
        "保存場所",
        "秘密鍵",
        "エージェントのバージョン",
    ] {
        assert!(h.contains(label), "{label}");
    }
    assert!(h.contains("CN=KANAGAWA KOKUHOREN CA"));
    let r = get(&app, "/terminals/1?lang=en").await;
    assert!(
        r.text().contains("Issuer")
            && r.text().contains("Subject")
            && r.text().contains("Locations")
    );
    assert_eq!(
        get(&app, "/terminals/999").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, "/terminals/abc").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn multi_office_stale_and_alert_pages() {
    let (app, fake) = app_with(config(), Fake::new());
    let r = get(&app, "/multi-office").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.count(r#"data-testid="multi-row""#),
        1,
        "only the terminal with 2 offices"
    );
    assert!(r.text().contains("pc-sakura-01") && !r.text().contains("pc-ok"));

    let r = get(&app, "/stale").await;
    assert_eq!(r.count(r#"data-testid="stale-row""#), 1);
    assert_eq!(
        *fake.last_days.lock().unwrap(),
        Some(7),
        "default stale_after"
    );
    get(&app, "/stale?older_than=30").await;
    assert_eq!(*fake.last_days.lock().unwrap(), Some(30));

    let r = get(&app, "/alerts").await;
    assert_eq!(r.count(r#"data-testid="alert-row""#), 1);
    assert!(
        r.text().contains("webhook:ops")
            && r.text().contains("14d")
            && r.text().contains("通知履歴")
    );
}

#[tokio::test]
async fn data_errors_give_generic_pages() {
    let fake = Fake {
        fail: Some(|| DataError::Unavailable("pg: connection refused at 10.0.0.5".into())),
        ..Fake::new()
    };
    let (app, _) = app_with(config(), fake);
    for uri in [
        "/",
        "/expiring",
        "/expiring.csv",
        "/offices/1",
        "/terminals/1",
        "/multi-office",
        "/stale",
        "/alerts",
        "/offices",
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert!(!r.text().contains("10.0.0.5"), "{uri}: internals leaked");
        assert!(r.text().contains("データを取得できません"));
    }
    let fake = Fake {
        fail: Some(|| DataError::Internal("secret detail".into())),
        ..Fake::new()
    };
    let (app, _) = app_with(config(), fake);
    let r = get(&app, "/expiring").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!r.text().contains("secret detail"));
}

#[tokio::test]
async fn assets_are_embedded_and_unknown_paths_404() {
    let app = app();
    let css = get(&app, "/assets/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header(header::CONTENT_TYPE), "text/css; charset=utf-8");
    assert!(css.text().contains(".seg-expired"));
    assert!(!css.text().contains("http"), "no external references");
    let js = get(&app, "/assets/app.js").await;
    assert_eq!(
        js.header(header::CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        get(&app, "/assets/favicon.svg").await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&app, "/assets/nope.css").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, "/assets/..%2Fsrc%2Flib.rs").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, "/no-such-page").await.status,
        StatusCode::NOT_FOUND
    );
}

// ---------------------------------------------------------------- security

fn password_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| hash_password("correct horse"))
}

fn login_config() -> DashboardConfig {
    DashboardConfig {
        users: vec![("admin".into(), password_hash().to_owned())],
        access: Access::new(AccessConfig {
            api_token: Some("script-token-123".into()),
            users_configured: true,
            allowed_hosts: vec!["dash.example".into()],
            ..AccessConfig::default()
        }),
        ..config()
    }
}

fn session_from(r: &Resp) -> String {
    r.cookies()
        .iter()
        .find(|c| c.starts_with("cf_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("session cookie")
}

#[tokio::test]
async fn login_required_with_users_even_on_loopback_then_session_then_logout() {
    let (app, _) = app_with(login_config(), Fake::new());
    for uri in [
        "/",
        "/expiring?office=1",
        "/expiring.csv",
        "/offices/1111111111",
        "/terminals/1",
        "/multi-office",
        "/stale",
        "/alerts",
        "/offices",
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{uri}");
        assert!(
            r.header(header::LOCATION).starts_with("/login?next="),
            "{uri}"
        );
        assert!(
            !r.text().contains("pc-sakura"),
            "{uri}: no data without login"
        );
    }
    assert_eq!(
        get(&app, "/expiring?office=1")
            .await
            .header(header::LOCATION),
        "/login?next=%2Fexpiring%3Foffice%3D1"
    );
    // The login page and the assets are public.
    let r = get(&app, "/login?next=%2Fexpiring").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains(r#"name="username""#) && r.text().contains(r#"name="password""#));
    assert!(r.text().contains(r#"name="next" value="/expiring""#));
    assert_no_inline_code(r.text());
    assert_eq!(get(&app, "/assets/style.css").await.status, StatusCode::OK);

    let bad = post_form(
        &app,
        "/login",
        "username=admin&password=wrong&next=%2F",
        &[],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(
        bad.text()
            .contains("ユーザー名またはパスワードが正しくありません")
    );
    assert!(bad.cookies().is_empty());
    let unknown = post_form(&app, "/login", "username=root&password=correct+horse", &[]).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);

    let ok = post_form(
        &app,
        "/login",
        "username=admin&password=correct+horse&next=%2Fexpiring",
        &[],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.header(header::LOCATION), "/expiring");
    let set = ok.cookies().join("\n");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    let session = session_from(&ok);
    let r = get_with(&app, "/expiring", &[("cookie", &session)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains(r#"data-testid="logout""#) && r.text().contains("admin"));
    // A tampered cookie is not a session.
    let tampered = format!("{}0", session);
    assert_eq!(
        get_with(&app, "/", &[("cookie", &tampered)]).await.status,
        StatusCode::SEE_OTHER
    );

    let out = post_form(&app, "/logout", "", &[("cookie", &session)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.header(header::LOCATION), "/login");
    assert!(
        out.cookies()
            .iter()
            .any(|c| c.starts_with("cf_session=;") && c.contains("Max-Age=0"))
    );
    // The old cookie no longer works even if a client kept it.
    assert_eq!(
        get_with(&app, "/", &[("cookie", &session)]).await.status,
        StatusCode::SEE_OTHER
    );
    // Logout is POST only.
    assert_eq!(
        get(&app, "/logout").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn bearer_token_instead_of_session() {
    let (app, _) = app_with(login_config(), Fake::new());
    let auth = [("authorization", "Bearer script-token-123")];
    assert_eq!(get_with(&app, "/", &auth).await.status, StatusCode::OK);
    let csv = get_with(&app, "/expiring.csv", &auth).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(&csv.bytes[..3], b"\xEF\xBB\xBF");
    let bad = get_with(&app, "/expiring.csv", &[("authorization", "Bearer nope")]).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.header(header::WWW_AUTHENTICATE), "Bearer");
}

#[tokio::test]
async fn login_rejects_open_redirects_and_cross_site_posts() {
    let (app, _) = app_with(login_config(), Fake::new());
    for next in [
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example",
        "%2F%5Cevil.example",
        "%2Flogin",
    ] {
        let r = post_form(
            &app,
            "/login",
            &format!("username=admin&password=correct+horse&next={next}"),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.header(header::LOCATION), "/", "next={next}");
    }
    let r = post_form(
        &app,
        "/login",
        "username=admin&password=correct+horse",
        &[
            ("origin", "http://evil.example"),
            ("host", "dash.example:8080"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post_form(
        &app,
        "/login",
        "username=admin&password=correct+horse",
        &[
            ("origin", "http://dash.example:8080"),
            ("host", "dash.example:8080"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = post_form(
        &app,
        "/logout",
        "",
        &[("origin", "http://evil.example"), ("host", "dash.example")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn config_debug_redacts_secrets() {
    let s = format!("{:?}", login_config());
    assert!(
        !s.contains("script-token-123") && !s.contains("$argon2"),
        "{s}"
    );
    assert!(s.contains("admin") && s.contains("Asia/Tokyo"));
}

async fn get_from(app: &Router, uri: &str, peer: Option<&str>, headers: &[(&str, &str)]) -> Resp {
    let mut b = Request::get(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut req = b.body(Body::empty()).unwrap();
    // No ConnectInfo at all stands for a server that recorded no peer: never local.
    let peer: SocketAddr = peer.unwrap_or("0.0.0.0:0").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    send(app, req).await
}

async fn login(app: &Router, user: &str, password: &str, peer: &str) -> Resp {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("username", user)
        .append_pair("password", password)
        .finish();
    let mut req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo::<SocketAddr>(peer.parse().unwrap()));
    send(app, req).await
}

/// Issue 14, High 1: the no-login convenience is for a direct local client of a collector
/// with nothing configured; a proxy's headers or a remote peer need a login.
#[tokio::test]
async fn only_a_direct_local_client_skips_the_login_and_only_while_nothing_is_configured() {
    let (open, _) = app_with(config(), Fake::new());
    assert_eq!(
        get_from(&open, "/", Some("127.0.0.1:5000"), &[])
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get_from(&open, "/", Some("[::1]:5000"), &[]).await.status,
        StatusCode::OK
    );
    for (peer, headers) in [
        ("127.0.0.1:5000", vec![("x-forwarded-for", "198.51.100.7")]),
        ("127.0.0.1:5000", vec![("forwarded", "for=198.51.100.7")]),
        ("127.0.0.1:5000", vec![("x-forwarded-proto", "https")]),
        ("192.0.2.10:5000", vec![]),
        ("0.0.0.0:0", vec![]),
    ] {
        let r = get_from(&open, "/expiring", Some(peer), &headers).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{peer} {headers:?}");
        assert!(
            !r.text().contains("pc-sakura"),
            "{peer} {headers:?}: no data"
        );
    }
    // A token alone closes the local convenience too.
    let (token_only, _) = app_with(
        DashboardConfig {
            access: Access::new(AccessConfig {
                api_token: Some("script-token-123".into()),
                ..AccessConfig::default()
            }),
            ..config()
        },
        Fake::new(),
    );
    assert_eq!(
        get_from(&token_only, "/", Some("127.0.0.1:5000"), &[])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    // Users configured while the access rules were not told: the router still asks.
    let (users_only, _) = app_with(
        DashboardConfig {
            users: vec![("admin".into(), password_hash().to_owned())],
            ..config()
        },
        Fake::new(),
    );
    assert_eq!(
        get_from(&users_only, "/", Some("127.0.0.1:5000"), &[])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

/// Issue 14, High 1: a name that is neither listed nor an IP literal nor localhost is refused
/// (DNS rebinding of a local dashboard).
#[tokio::test]
async fn an_unlisted_host_name_is_refused() {
    let (app, _) = app_with(config(), Fake::new());
    let r = get_with(&app, "/", &[("host", "rebind.evil.example:8080")]).await;
    assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST);
    assert!(!r.text().contains("pc-sakura"));
    for host in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"] {
        assert_eq!(
            get_with(&app, "/", &[("host", host)]).await.status,
            StatusCode::OK,
            "{host}"
        );
    }
    let (listed, _) = app_with(
        DashboardConfig {
            access: Access::new(AccessConfig {
                allowed_hosts: vec!["certfleet.example.org".into()],
                ..AccessConfig::default()
            }),
            ..config()
        },
        Fake::new(),
    );
    let r = get_with(&listed, "/", &[("host", "certfleet.example.org")]).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// Issue 14, High 2: logout stores the verified session's MAC in the shared database, so the
/// cookie is dead on every replica; an unverified cookie stores nothing.
#[tokio::test]
async fn logout_is_verified_and_holds_on_every_replica() {
    let key = b"a session key shared by replicas!".to_vec();
    let fake = Arc::new(Fake::new());
    let replica = || {
        router(
            DashboardConfig {
                session_key: key.clone(),
                ..login_config()
            },
            fake.clone(),
        )
    };
    let (a, b) = (replica(), replica());
    let session = session_from(&login(&a, "admin", "correct horse", LOCAL_PEER).await);
    assert_eq!(
        get_with(&b, "/", &[("cookie", &session)]).await.status,
        StatusCode::OK
    );

    // A forged or garbage cookie is not recorded (nothing to fill the table with).
    for junk in [
        "cf_session=v1.61646d696e.9999999999.00".to_owned(),
        format!("cf_session={}", "x".repeat(400_000)),
        format!("{session}0"),
    ] {
        let r = post_form(&a, "/logout", "", &[("cookie", &junk)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
    }
    assert!(
        fake.revoked.lock().unwrap().is_empty(),
        "nothing stored for junk"
    );

    let out = post_form(&a, "/logout", "", &[("cookie", &session)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    {
        let revoked = fake.revoked.lock().unwrap();
        assert_eq!(revoked.len(), 1, "only the MAC, once");
        let expires = *revoked.values().next().unwrap();
        let ttl = expires - Utc::now();
        assert!(
            ttl > chrono::Duration::hours(11) && ttl <= chrono::Duration::hours(12),
            "the verified cookie's own expiry: {ttl}"
        );
    }
    for replica in [&a, &b] {
        let r = get_with(replica, "/", &[("cookie", &session)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "logged out everywhere");
    }
    // Another session of the same user is not affected.
    let other = session_from(&login(&b, "admin", "correct horse", LOCAL_PEER).await);
    assert_eq!(
        get_with(&a, "/", &[("cookie", &other)]).await.status,
        StatusCode::OK
    );
}

/// Logout must not claim success when it could not be recorded.
#[tokio::test]
async fn logout_without_the_database_says_so() {
    let fake = Arc::new(Fake::new());
    let key = b"a session key shared by replicas!".to_vec();
    let up = router(
        DashboardConfig {
            session_key: key.clone(),
            ..login_config()
        },
        fake,
    );
    let session = session_from(&login(&up, "admin", "correct horse", LOCAL_PEER).await);
    let down = router(
        DashboardConfig {
            session_key: key,
            ..login_config()
        },
        Arc::new(Fake {
            revocations_down: true,
            ..Fake::new()
        }),
    );
    let r = post_form(&down, "/logout", "", &[("cookie", &session)]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let r = get_with(&down, "/", &[("cookie", &session)]).await;
    assert_eq!(
        r.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "no data, no login loop"
    );
}

/// Issue 14, High 2: changing a user's password ends that user's sessions (the cookie's MAC
/// covers the password hash), on every replica, without any state.
#[tokio::test]
async fn a_password_change_ends_the_users_sessions() {
    let key = b"a session key shared by replicas!".to_vec();
    let with_hash = |hash: String| {
        app_with(
            DashboardConfig {
                session_key: key.clone(),
                users: vec![
                    ("admin".into(), hash),
                    ("other".into(), password_hash().to_owned()),
                ],
                ..login_config()
            },
            Fake::new(),
        )
        .0
    };
    let before = with_hash(password_hash().to_owned());
    let admin = session_from(&login(&before, "admin", "correct horse", LOCAL_PEER).await);
    let other = session_from(&login(&before, "other", "correct horse", LOCAL_PEER).await);
    let after = with_hash(hash_password("a new password"));
    assert_eq!(
        get_with(&after, "/", &[("cookie", &admin)]).await.status,
        StatusCode::SEE_OTHER,
        "the old password's session is over"
    );
    assert_eq!(
        get_with(&after, "/", &[("cookie", &other)]).await.status,
        StatusCode::OK,
        "other users keep theirs"
    );
}

/// Issue 14, Low: failed logins are throttled per account (from any address) and per
/// address (across accounts); a throttled attempt is refused even with the right password.
#[tokio::test]
async fn logins_are_throttled_per_account_and_per_address() {
    let (app, _) = app_with(
        DashboardConfig {
            users: vec![
                ("admin".into(), password_hash().to_owned()),
                ("other".into(), password_hash().to_owned()),
            ],
            login_throttle: ThrottleLimits {
                per_user: 3,
                per_address: 5,
                window: std::time::Duration::from_secs(600),
            },
            ..login_config()
        },
        Fake::new(),
    );
    for i in 0..3 {
        let r = login(&app, "admin", "wrong", &format!("192.0.2.{i}:1000")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = login(&app, "admin", "correct horse", "198.51.100.1:1000").await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the account is throttled"
    );
    assert!(r.header(header::RETRY_AFTER).parse::<u64>().unwrap() > 0);
    assert!(r.cookies().is_empty());
    let r = login(&app, "other", "correct horse", "198.51.100.1:1000").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "other accounts are not");

    // One address guessing across accounts (unknown names included).
    for user in ["a", "b", "c", "d", "e"] {
        let r = login(&app, user, "wrong", "203.0.113.9:1000").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = login(&app, "other", "correct horse", "203.0.113.9:2000").await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the address is throttled"
    );

    // An unknown name is throttled like a real one: a 429 does not tell which names exist.
    for i in 0..3 {
        let r = login(
            &app,
            "nobody",
            "wrong",
            &format!("198.51.100.{}:1000", 10 + i),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = login(&app, "nobody", "wrong", "198.51.100.20:1000").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

/// A `MakeWriter` that keeps everything logged, for asserting on log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Issue 14, Low: a submitted username reaches the log truncated and escaped, so it can
/// neither forge a log line nor flood the log.
#[tokio::test]
async fn a_submitted_username_is_logged_escaped_and_truncated() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (app, _) = app_with(login_config(), Fake::new());
    let forged = format!(
        "mallory\n2026-11-26T00:00:00Z  INFO dashboard: login user=admin{}",
        "x".repeat(5000)
    );
    let r = login(&app, &forged, "wrong", LOCAL_PEER).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("failed login"))
        .unwrap_or_else(|| panic!("no failed-login line in:\n{log}"));
    assert!(line.contains(r"mallory\n2026"), "escaped: {line}");
    assert!(
        !log.lines()
            .any(|l| l.starts_with("2026-11-26T00:00:00Z  INFO dashboard: login")),
        "no forged line:\n{log}"
    );
    assert!(line.len() < 400, "truncated: {} bytes", line.len());
}

/// Issue 14, Low: with `cookie_host_prefix` the session cookie is `__Host-cf_session`:
/// Secure, Path=/, no Domain, and it is the one that is read.
#[tokio::test]
async fn host_prefixed_session_cookie() {
    let (app, _) = app_with(
        DashboardConfig {
            secure_cookies: true,
            cookie_host_prefix: true,
            ..login_config()
        },
        Fake::new(),
    );
    let r = login(&app, "admin", "correct horse", LOCAL_PEER).await;
    let set = r
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-cf_session="))
        .expect("a __Host- session cookie");
    for attr in ["; Secure", "; Path=/", "; HttpOnly", "; SameSite=Strict"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(!set.contains("Domain"), "{set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    assert_eq!(
        get_with(&app, "/", &[("cookie", &cookie)]).await.status,
        StatusCode::OK
    );
    // The unprefixed name is not read: a subdomain could have planted it.
    let planted = cookie.replacen("__Host-", "", 1);
    assert_eq!(
        get_with(&app, "/", &[("cookie", &planted)]).await.status,
        StatusCode::SEE_OTHER
    );
    let out = post_form(&app, "/logout", "", &[("cookie", &cookie)]).await;
    assert!(
        out.cookies()
            .iter()
            .any(|c| c.starts_with("__Host-cf_session=;"))
    );
}

#[test]
fn renew_by_fixture_is_a_date() {
    // Guards the fixture itself: renew_by is a calendar date 14 days before expiry.
    assert_eq!(
        fleet()[0].renew_by,
        NaiveDate::from_ymd_opt(2026, 11, 6).unwrap()
    );
}

// ---------------------------------------------------------------- scale

/// 100,000 terminals with 300,000 pairs: the expiring table is paginated (the page stays
/// small) and the whole request, sorting included, stays fast. Timings are printed; the
/// bound is loose because debug builds and a shared CI machine are slow.
#[tokio::test]
async fn large_fleet_pages_stay_small_and_fast() {
    let base = fleet();
    let mut rows = Vec::with_capacity(300_000);
    for i in 0..300_000i64 {
        let mut r = base[(i % 4) as usize].clone();
        r.terminal = term(i / 3, &format!("pc-{:06}", i / 3));
        r.office_number = format!("{:010}", 1_000_000_000 + i % 5000);
        r.not_after = as_of() + chrono::Duration::hours((i * 7919) % (3 * 365 * 24) - 24 * 30);
        r.status = if r.not_after <= as_of() {
            PairStatus::Expired
        } else if r.not_after <= as_of() + chrono::Duration::days(60) {
            PairStatus::Expiring
        } else {
            PairStatus::Ok
        };
        rows.push(r);
    }
    // Like the report engine: most urgent first.
    rows.sort_by(|a, b| {
        (
            a.not_after,
            &a.office_number,
            &a.terminal.hostname,
            a.terminal.id,
        )
            .cmp(&(
                b.not_after,
                &b.office_number,
                &b.terminal.hostname,
                b.terminal.id,
            ))
    });
    let (app, _) = app_with(
        config(),
        Fake {
            rows,
            ..Default::default()
        },
    );
    for uri in [
        "/expiring",
        "/expiring?status=all&sort=terminal",
        "/expiring?status=all&page=300",
        "/multi-office",
        "/stale",
    ] {
        let start = std::time::Instant::now();
        let r = get(&app, uri).await;
        let took = start.elapsed();
        eprintln!("{uri}: {} bytes in {took:?}", r.bytes.len());
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.bytes.len() < 2_000_000,
            "{uri}: page too large: {}",
            r.bytes.len()
        );
        // Catches accidental quadratic work only; release timings are in the report.
        assert!(took < std::time::Duration::from_secs(30), "{uri}: {took:?}");
    }
    let start = std::time::Instant::now();
    let csv = get(&app, "/expiring.csv?status=all").await;
    eprintln!("csv: {} bytes in {:?}", csv.bytes.len(), start.elapsed());
    assert_eq!(csv.text().matches("\r\n").count(), 300_001);
}

#[tokio::test]
async fn list_pages_are_paginated_too() {
    let (app, _) = app_with(
        DashboardConfig {
            page_size: 1,
            ..config()
        },
        Fake::new(),
    );
    let r = get(&app, "/offices?within=30").await;
    assert_eq!(r.count(r#"data-testid="office-list-row""#), 1);
    assert!(
        r.text()
            .contains(r#"rel="next" href="/offices?within=30&amp;page=2""#)
    );
    let r = get(&app, "/offices?within=30&page=4&lang=en").await;
    assert_eq!(r.count(r#"data-testid="office-list-row""#), 1);
    assert!(r.text().contains("4444444444"));
    assert!(
        r.text()
            .contains(r#"rel="prev" href="/offices?within=30&amp;page=3""#)
    );
    let r = get(&app, "/multi-office?page=2").await;
    assert_eq!(
        r.count(r#"data-testid="multi-row""#),
        1,
        "clamped to the only page"
    );
}

/// Manual inspection only: `CERTFLEET_DASHBOARD_SERVE=127.0.0.1:8099 cargo test -p
/// certfleet-dashboard --test handlers serve_fixture -- --ignored` serves this fixture fleet
/// (with its hostile strings) for five minutes, to look at the pages in a browser.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "serves the fixture for a human; set CERTFLEET_DASHBOARD_SERVE"]
async fn serve_fixture_for_manual_inspection() {
    let Ok(addr) = std::env::var("CERTFLEET_DASHBOARD_SERVE") else {
        return;
    };
    let cfg = if std::env::var_os("CERTFLEET_DASHBOARD_LOGIN").is_some() {
        login_config()
    } else {
        config()
    };
    let (app, _) = app_with(cfg, Fake::new());
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    eprintln!("serving on http://{addr}/ (admin / correct horse)");
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(300),
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .into_future(),
    )
    .await;
}

/// The collector merges the dashboard into its own router (with its own state and fallback).
#[tokio::test]
async fn merges_into_a_host_router() {
    use axum::routing::get as get_route;
    let host = Router::new()
        .route(
            "/healthz",
            get_route(
                |axum::extract::State(s): axum::extract::State<&'static str>| async move { s },
            ),
        )
        .with_state("ok")
        .merge(app())
        .fallback(|| async { (StatusCode::NOT_FOUND, "host 404") });
    let r = get(&host, "/healthz").await;
    assert_eq!((r.status, r.text()), (StatusCode::OK, "ok"));
    assert!(
        r.header(header::CONTENT_SECURITY_POLICY).is_empty(),
        "dashboard layers stay on its routes"
    );
    assert_eq!(get(&host, "/expiring").await.status, StatusCode::OK);
    assert_eq!(get(&host, "/nope").await.text(), "host 404");
}
