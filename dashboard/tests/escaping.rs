//! Every string a page shows, hostile at once: the fake data source below puts a distinct
//! marker that opens an element and breaks out of either attribute quoting into every string
//! field of every row (hostnames, office numbers and names, subjects, paths, alert errors, the
//! months of the timeline), the logged-in user's name is one too, and so are the query values
//! the pages echo. Each page must show each of its fields, and only escaped: a page that
//! interpolates any of them unescaped fails here, naming the page and the field.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use certfleet_dashboard::{
    Access, AccessConfig, DashboardConfig, DashboardData, DataError, SessionId, hash_password,
    router,
};
use certfleet_model::*;
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use tower::ServiceExt;

/// The hostile value of `field`: `"'><hx_field>`.
fn h(field: &str) -> String {
    format!("\"'><hx_{field}>")
}

/// How [`h`]`(field)` must appear in a page: as text, the markup escaped.
fn escaped(field: &str) -> String {
    format!("&lt;hx_{field}&gt;")
}

/// What every marker starts with when it was written unescaped.
const RAW: &str = "<hx_";

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 3, 0, 0).unwrap()
}

fn terminal() -> TerminalRef {
    TerminalRef {
        id: 1,
        hostname: h("hostname"),
        machine_id: h("machine_id"),
    }
}

/// The terminal holds two offices (so it is on the multi-office page), the first renewed
/// once (so its page lists a superseded certificate).
fn pairs() -> Vec<PairRow> {
    ["office", "office_b"]
        .into_iter()
        .enumerate()
        .map(|(i, office)| PairRow {
            office_number: h(office),
            office_name: Some(h(&format!("{office}_name"))),
            terminal: terminal(),
            status: PairStatus::Expiring,
            not_after: t(2026, 12, 10),
            days_left: 14,
            renew_by: t(2026, 11, 26).date_naive(),
            renew_now: true,
            first_blocked_billing_month: h("billing_month"),
            superseded: if i == 0 {
                vec![SupersededCert {
                    sha256: h("superseded_sha256"),
                    not_after: t(2026, 12, 1),
                }]
            } else {
                Vec::new()
            },
            terminal_office_count: 2,
            has_private_key: Some(true),
            stale: true,
            last_report_at: Some(t(2026, 11, 1)),
            certificate: CertificateRef {
                sha256: h("sha256"),
                serial: h("serial"),
                subject: h("subject"),
                issuer: h("issuer"),
            },
            tracking: certfleet_model::TrackingView::not_started(),
        })
        .collect()
}

fn terminal_row() -> TerminalRow {
    TerminalRow {
        terminal: terminal(),
        os_name: h("os_name"),
        os_version: h("os_version"),
        agent_version: h("agent_version"),
        last_report_at: Some(t(2026, 11, 1)),
        stale: true,
        offices: pairs()
            .into_iter()
            .map(|p| OfficeOnTerminal {
                office_number: p.office_number,
                office_name: p.office_name,
                status: p.status,
                not_after: p.not_after,
                days_left: p.days_left,
            })
            .collect(),
        soonest_not_after: Some(t(2026, 12, 10)),
    }
}

struct Hostile;

#[async_trait::async_trait]
impl DashboardData for Hostile {
    async fn overview(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<Overview, DataError> {
        Ok(Overview {
            as_of,
            within_days,
            expired: 0,
            renew_now: 2,
            expiring: 2,
            ok: 0,
            terminals: 1,
            stale_terminals: 1,
            offices: 2,
            uncovered_offices: 0,
            timeline: vec![TimelineBucket {
                month: h("month"),
                expired: 0,
                expiring: 2,
                ok: 0,
            }],
        })
    }

    async fn expiring(&self, q: &ExpiringQuery) -> Result<ExpiringReport, DataError> {
        let rows = pairs()
            .into_iter()
            .filter(|r| q.offices.is_empty() || q.offices.contains(&r.office_number))
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
        Ok(TerminalsReport {
            as_of,
            within_days,
            rows: vec![terminal_row()],
        })
    }

    async fn offices(
        &self,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<OfficesReport, DataError> {
        let rows = pairs()
            .into_iter()
            .map(|p| OfficeRow {
                office_number: p.office_number,
                office_name: p.office_name,
                site: Some(h("site")),
                owner_email: Some(h("owner_email")),
                terminals: vec![TerminalOfOffice {
                    terminal: p.terminal,
                    status: p.status,
                    not_after: p.not_after,
                    days_left: p.days_left,
                    stale: p.stale,
                }],
                soonest_not_after: Some(p.not_after),
                uncovered: false,
                expected_pcs: Some(3),
            })
            .collect();
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
        Ok(StaleReport {
            as_of,
            older_than_days,
            rows: vec![StaleRow {
                terminal: terminal(),
                last_report_at: Some(t(2026, 11, 1)),
                days_since_report: Some(25),
                office_count: 2,
            }],
        })
    }

    async fn terminal_detail(
        &self,
        id: TerminalId,
        _as_of: DateTime<Utc>,
        _within_days: u32,
    ) -> Result<Option<TerminalDetail>, DataError> {
        if id != 1 {
            return Ok(None);
        }
        let holdings = pairs()
            .into_iter()
            .map(|p| HoldingView {
                certificate: p.certificate,
                office_number: Some(p.office_number),
                not_before: t(2024, 1, 1),
                not_after: p.not_after,
                has_private_key: p.has_private_key,
                friendly_name: h("friendly_name"),
                locations: vec![LocationView {
                    source: h("location_source"),
                    store: h("location_store"),
                    user: h("location_user"),
                    path: h("location_path"),
                }],
                first_seen: t(2026, 1, 1),
                last_seen: t(2026, 11, 1),
                effective: true,
            })
            .collect();
        Ok(Some(TerminalDetail {
            row: terminal_row(),
            holdings,
            tracking: vec![certfleet_model::OfficeTracking {
                office_number: h("tracking_office"),
                tracking: certfleet_model::TrackingView {
                    note: h("tracking_note"),
                    changed_by: Some(h("tracking_by")),
                    ..certfleet_model::TrackingView::not_started()
                },
            }],
        }))
    }

    async fn alert_history(&self, _limit: u32) -> Result<Vec<AlertRecord>, DataError> {
        Ok(vec![AlertRecord {
            id: 1,
            decided_at: t(2026, 11, 25),
            delivered_at: Some(t(2026, 11, 25)),
            threshold: h("threshold"),
            office_number: Some(h("alert_office")),
            terminal: Some(terminal()),
            certificate_sha256: Some(h("sha256")),
            not_after: Some(t(2026, 12, 10)),
            recipient: h("recipient"),
            state: h("state"),
            attempts: 3,
            last_error: Some(h("last_error")),
        }])
    }

    async fn coverage(&self, as_of: DateTime<Utc>) -> Result<CoverageReport, DataError> {
        let row = |gap, terminal: Option<TerminalRef>| CoverageRow {
            gap,
            hostname: h("coverage_hostname"),
            machine_id: Some(h("coverage_machine_id")),
            terminal,
            office_number: Some(h("coverage_office")),
            office_name: Some(h("coverage_office_name")),
            not_after: Some(t(2026, 12, 10)),
            last_report_at: Some(t(2026, 11, 1)),
            agent_version: Some(h("coverage_agent_version")),
        };
        Ok(CoverageReport {
            as_of,
            list_imported_at: Some(t(2026, 11, 1)),
            expected_terminals: 2,
            terminals: 1,
            minimum_agent_version: h("minimum_agent_version"),
            agent_versions: vec![AgentVersionCount {
                version: h("version"),
                terminals: 1,
                outdated: true,
            }],
            rows: vec![
                row(CoverageGap::NeverReported, None),
                row(CoverageGap::OfficeExpired, Some(terminal())),
            ],
        })
    }

    async fn revoke_session(
        &self,
        _id: &SessionId,
        _expires_at: DateTime<Utc>,
    ) -> Result<(), DataError> {
        Ok(())
    }

    async fn session_revoked(&self, _id: &SessionId) -> Result<bool, DataError> {
        Ok(false)
    }
}

const PASSWORD: &str = "correct horse";

fn app() -> Router {
    let config = DashboardConfig {
        users: vec![(h("user"), hash_password(PASSWORD))],
        access: Access::new(AccessConfig {
            users_configured: true,
            ..AccessConfig::default()
        }),
        as_of_override: Some(t(2026, 11, 26)),
        ..DashboardConfig::default()
    };
    router(config, Arc::new(Hostile))
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

/// Logs in as the hostile user: every page then shows that name in its header.
async fn session(app: &Router) -> String {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("username", &h("user"))
        .append_pair("password", PASSWORD)
        .finish();
    let req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let (status, headers, _) = send(app, req).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "logged in");
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("cf_session="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn every_page_escapes_every_string_it_shows() {
    let app = app();
    let cookie = session(&app).await;
    let pair_fields = ["office", "office_name", "hostname", "billing_month"];
    let pages: Vec<(String, StatusCode, Vec<&str>)> = vec![
        ("/".into(), StatusCode::OK, vec!["month"]),
        (
            "/expiring?status=all".into(),
            StatusCode::OK,
            [&pair_fields[..], &["office_b", "office_b_name"]].concat(),
        ),
        (
            format!(
                "/expiring?office={}&terminal={}",
                enc(&h("query_office")),
                enc(&h("query_terminal"))
            ),
            StatusCode::OK,
            vec!["query_office", "query_terminal"],
        ),
        (
            "/offices".into(),
            StatusCode::OK,
            vec!["office", "office_name", "office_b", "site"],
        ),
        (
            format!("/offices/{}", enc(&h("office"))),
            StatusCode::OK,
            [
                &pair_fields[..],
                &["site", "owner_email", "superseded_sha256"],
            ]
            .concat(),
        ),
        (
            "/terminals/1".into(),
            StatusCode::OK,
            vec![
                "hostname",
                "machine_id",
                "os_name",
                "os_version",
                "agent_version",
                "office",
                "office_name",
                "office_b",
                "subject",
                "issuer",
                "serial",
                "friendly_name",
                "location_source",
                "location_store",
                "location_user",
                "location_path",
            ],
        ),
        (
            "/multi-office".into(),
            StatusCode::OK,
            vec!["hostname", "office", "office_name", "office_b_name"],
        ),
        (
            "/stale".into(),
            StatusCode::OK,
            vec!["hostname", "machine_id"],
        ),
        (
            "/coverage".into(),
            StatusCode::OK,
            vec![
                "coverage_hostname",
                "coverage_machine_id",
                "coverage_office",
                "coverage_office_name",
                "coverage_agent_version",
                "minimum_agent_version",
                "version",
            ],
        ),
        (
            "/alerts".into(),
            StatusCode::OK,
            vec![
                "threshold",
                "alert_office",
                "hostname",
                "recipient",
                "state",
                "last_error",
            ],
        ),
        (
            format!("/login?next={}", enc(&format!("/{}", h("next")))),
            StatusCode::OK,
            vec!["next"],
        ),
        ("/terminals/999".into(), StatusCode::NOT_FOUND, vec![]),
    ];
    for (uri, expected_status, fields) in pages {
        for lang in ["ja", "en"] {
            let sep = if uri.contains('?') { '&' } else { '?' };
            let req = Request::get(format!("{uri}{sep}lang={lang}"))
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap();
            let (status, _, page) = send(&app, req).await;
            assert_eq!(status, expected_status, "{uri}");
            // The user's name is in every page's header.
            for field in fields.iter().copied().chain(["user"]) {
                assert!(
                    page.contains(&escaped(field)),
                    "{uri} ({lang}) does not show {field} escaped:\n{page}"
                );
            }
            if let Some(at) = page.find(RAW) {
                panic!(
                    "{uri} ({lang}) writes a hostile string unescaped: …{}…",
                    &page[at.saturating_sub(80)..(at + 40).min(page.len())]
                );
            }
            let scripts = page.matches("<script").count();
            assert_eq!(scripts, 1, "{uri}: only the dashboard's own script");
        }
    }
}
