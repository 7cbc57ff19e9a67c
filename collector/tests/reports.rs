//! Report semantics of SPEC §5, each rule as a test on SQLite and PostgreSQL, with fixtures
//! made of real DER certificates ingested through the gRPC validation path; plus the registry
//! import, CSV bytes, API auth, and the CLI and HTTP API returning identical JSON.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use certfleet_certinfo::{OfficeRule, Selector};
use certfleet_collector::http::{self, HttpState};
use certfleet_collector::ingest::validate_report;
use certfleet_collector::metrics::Metrics;
use certfleet_collector::registry::{self, RegistryError};
use certfleet_config::{Limits, ReportSettings};
use certfleet_dashboard::{Access, AccessConfig};
use certfleet_model::{ExpiringQuery, PairStatus};
use certfleet_proto::v1 as pb;
use certfleet_reports::{self as reports, ReportKind, ReportParams, semantics};
use certfleet_store::{self as store, AuthenticatedTerminal, SharedStore, TerminalFacts};
use certfleet_testsupport::{PgCluster, TestCa};
use chrono::{DateTime, Duration, Utc};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

struct Fixture {
    store: SharedStore,
    /// `--database-url` for the CLI (PostgreSQL) …
    url: Option<String>,
    /// … or `--data-dir` (SQLite).
    dir: tempfile::TempDir,
}

impl Fixture {
    fn cli_db_args(&self) -> Vec<String> {
        match &self.url {
            Some(url) => vec!["--database-url".into(), url.clone()],
            None => vec![
                "--data-dir".into(),
                self.dir.path().to_string_lossy().into_owned(),
            ],
        }
    }
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(None, dir.path(), 4).await.unwrap();
    Fixture {
        store,
        url: None,
        dir,
    }
}

async fn postgres() -> Fixture {
    let url = PgCluster::shared().fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(Some(&url), dir.path(), 4).await.unwrap();
    Fixture {
        store,
        url: Some(url),
        dir,
    }
}

certfleet_testsupport::both_backends!(
    sqlite: sqlite,
    postgres: postgres;
    renewed_pair_is_superseded_not_a_separate_row,
    expired_pair_is_reported_expired,
    boundaries_at_as_of_and_as_of_plus_window,
    pair_known_only_without_private_key,
    keyless_renewal_does_not_supersede_a_usable_certificate,
    multi_office_terminal_counts_offices,
    stale_terminal_is_flagged_and_listed,
    uncovered_registry_office,
    billing_month_across_a_year_boundary,
    days_left_across_the_time_zone_midnight,
    removed_and_revoked_holdings_are_not_reported,
    filters_by_office_and_hostname,
    terminals_offices_overview_and_detail,
    pair_rows_follow_the_effective_rule,
    streamed_fleet_reports_equal_the_built_ones,
    registry_import_all_or_nothing_and_idempotent,
    cli_and_http_return_identical_json,
    csv_bytes_are_excel_friendly,
    api_errors_and_metrics,
    api_access_is_decided_per_request,
    tracking_api_changes_state_and_names_bad_fields,
    calendar_feeds_by_token_parse_and_follow_renewals,
);

/// The federation's CA, one per test binary.
fn ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(TestCa::kanagawa)
}

/// The default office-number rule (`[selection] office_pattern`).
fn office_rule() -> OfficeRule {
    Selector::default().office_rule().clone()
}

fn facts(hostname: &str) -> TerminalFacts {
    TerminalFacts {
        machine_id: format!("machine-{hostname}"),
        hostname: hostname.into(),
        os_name: "Windows".into(),
        os_version: "10.0.19045".into(),
        agent_version: "0.1.0".into(),
    }
}

async fn enroll(store: &SharedStore, hostname: &str) -> AuthenticatedTerminal {
    let f = facts(hostname);
    let id = store
        .enroll(
            &f,
            &format!("hash-{hostname}"),
            store::EnrollAuthority::Agent {
                presented_key_hash: None,
            },
            t("2026-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    AuthenticatedTerminal {
        id,
        machine_id: f.machine_id,
        revoked: false,
    }
}

/// Reports `certs` (DER, key flag) for `terminal`, scanned and received at `at`, through the
/// same validation as the gRPC Report call.
async fn report(
    store: &SharedStore,
    terminal: &AuthenticatedTerminal,
    certs: &[(Vec<u8>, Option<bool>)],
    at: DateTime<Utc>,
) {
    let hostname = terminal.machine_id.trim_start_matches("machine-");
    report_as(store, terminal, hostname, certs, at).await;
}

/// [`report`] with the hostname the terminal states this time (a renamed PC).
async fn report_as(
    store: &SharedStore,
    terminal: &AuthenticatedTerminal,
    hostname: &str,
    certs: &[(Vec<u8>, Option<bool>)],
    at: DateTime<Utc>,
) {
    let hostname = hostname.to_owned();
    let req = pb::ReportRequest {
        report_id: uuid::Uuid::new_v4().to_string(),
        terminal: Some(pb::TerminalFacts {
            machine_id: terminal.machine_id.clone(),
            hostname,
            os_name: "Windows".into(),
            os_version: "10.0.19045".into(),
            agent_version: "0.1.0".into(),
        }),
        scanned_at: Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: 0,
        }),
        certificates: certs
            .iter()
            .map(|(der, key)| pb::ReportedCertificate {
                der: der.clone(),
                has_private_key: *key,
                friendly_name: "client".into(),
                locations: vec![pb::Location {
                    source: pb::Source::ProfileFile as i32,
                    store: "My".into(),
                    user: "staff".into(),
                    path: "C:\\Users\\staff\\AppData\\Roaming\\Microsoft\\SystemCertificates\\My\\Certificates\\x".into(),
                }],
            })
            .collect(),
        errors: vec![],
    };
    let v = validate_report(req, terminal, &Selector::default(), &Limits::default(), at).unwrap();
    assert!(v.rejected.is_empty(), "{:?}", v.rejected);
    store.ingest(terminal.id, &v.snapshot).await.unwrap();
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// 2026-11-26 09:00 JST.
fn as_of() -> DateTime<Utc> {
    t("2026-11-26T00:00:00Z")
}

fn settings() -> ReportSettings {
    ReportSettings::default()
}

fn query(within: u32) -> ExpiringQuery {
    ExpiringQuery {
        as_of: as_of(),
        within_days: within,
        offices: vec![],
        terminals: vec![],
        include_ok: false,
        states: Vec::new(),
    }
}

fn sha(der: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(der))
}

// ---------------------------------------------------------------------------------------------
// SPEC §5 rules
// ---------------------------------------------------------------------------------------------

async fn renewed_pair_is_superseded_not_a_separate_row(fx: Fixture) {
    let pc = enroll(&fx.store, "pc-renewed").await;
    let old = ca().three_year_cert_der("1111111111", as_of() + Duration::days(10));
    let new = ca().three_year_cert_der("1111111111", as_of() + Duration::days(3 * 365));
    report(
        &fx.store,
        &pc,
        &[(old.clone(), Some(true)), (new.clone(), Some(true))],
        as_of(),
    )
    .await;

    // The old certificate expires within the window, but the pair is renewed: no row.
    let r = reports::expiring(fx.store.as_ref(), &query(60), &settings())
        .await
        .unwrap();
    assert!(r.rows.is_empty(), "{:#?}", r.rows);

    // With include_ok: one row for the pair, effective = new, old listed as superseded.
    let q = ExpiringQuery {
        include_ok: true,
        ..query(60)
    };
    let r = reports::expiring(fx.store.as_ref(), &q, &settings())
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 1);
    let row = &r.rows[0];
    assert_eq!(row.status, PairStatus::Ok);
    assert_eq!(row.certificate.sha256, sha(&new));
    assert_eq!(row.superseded.len(), 1);
    assert_eq!(row.superseded[0].sha256, sha(&old));
    assert_eq!(row.superseded[0].not_after, as_of() + Duration::days(10));
}

async fn expired_pair_is_reported_expired(fx: Fixture) {
    let pc = enroll(&fx.store, "pc-expired").await;
    let der = ca().three_year_cert_der("1111111111", as_of() - Duration::days(3));
    report(&fx.store, &pc, &[(der.clone(), Some(true))], as_of()).await;
    let r = reports::expiring(fx.store.as_ref(), &query(60), &settings())
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 1);
    let row = &r.rows[0];
    assert_eq!(row.status, PairStatus::Expired);
    assert_eq!(row.days_left, -3);
    assert!(row.renew_now);
    assert_eq!(row.office_number, "1111111111");
    assert_eq!(row.terminal.hostname, "pc-expired");
    assert_eq!(row.certificate.sha256, sha(&der));
    assert!(row.certificate.subject.contains("1111111111"));
    assert!(row.certificate.issuer.contains("KANAGAWA KOKUHOREN CA"));
    assert_eq!(row.has_private_key, Some(true));
    assert!(!row.stale);
}

async fn boundaries_at_as_of_and_as_of_plus_window(fx: Fixture) {
    let w = 30;
    let pc = enroll(&fx.store, "pc-bounds").await;
    report(
        &fx.store,
        &pc,
        &[
            (ca().three_year_cert_der("1000000001", as_of()), Some(true)),
            (
                ca().three_year_cert_der("1000000002", as_of() + Duration::seconds(1)),
                Some(true),
            ),
            (
                ca().three_year_cert_der("1000000003", as_of() + Duration::days(w)),
                Some(true),
            ),
            (
                ca().three_year_cert_der(
                    "1000000004",
                    as_of() + Duration::days(w) + Duration::seconds(1),
                ),
                Some(true),
            ),
        ],
        as_of() - Duration::hours(1),
    )
    .await;
    let r = reports::expiring(fx.store.as_ref(), &query(w as u32), &settings())
        .await
        .unwrap();
    let got: Vec<(&str, PairStatus)> = r
        .rows
        .iter()
        .map(|r| (r.office_number.as_str(), r.status))
        .collect();
    assert_eq!(
        got,
        [
            ("1000000001", PairStatus::Expired),
            ("1000000002", PairStatus::Expiring),
            ("1000000003", PairStatus::Expiring),
        ]
    );
    let q = ExpiringQuery {
        include_ok: true,
        ..query(w as u32)
    };
    let r = reports::expiring(fx.store.as_ref(), &q, &settings())
        .await
        .unwrap();
    assert_eq!(r.rows.last().unwrap().status, PairStatus::Ok);
    assert_eq!(r.rows.len(), 4);
}

async fn pair_known_only_without_private_key(fx: Fixture) {
    let pc = enroll(&fx.store, "pc-keyless").await;
    report(
        &fx.store,
        &pc,
        &[(
            ca().three_year_cert_der("1111111111", as_of() + Duration::days(20)),
            Some(false),
        )],
        as_of(),
    )
    .await;
    let r = reports::expiring(fx.store.as_ref(), &query(60), &settings())
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 1);
    assert_eq!(r.rows[0].has_private_key, Some(false));
    assert_eq!(r.rows[0].status, PairStatus::Expiring);
    assert!(r.rows[0].superseded.is_empty());
}

async fn keyless_renewal_does_not_supersede_a_usable_certificate(fx: Fixture) {
    let pc = enroll(&fx.store, "pc-keyless-renewal").await;
    let usable = ca().three_year_cert_der("1111111111", as_of() + Duration::days(20));
    let keyless = ca().three_year_cert_der("1111111111", as_of() + Duration::days(1000));
    report(
        &fx.store,
        &pc,
        &[(usable.clone(), None), (keyless.clone(), Some(false))],
        as_of(),
    )
    .await;
    let r = reports::expiring(fx.store.as_ref(), &query(60), &settings())
        .await
        .unwrap();
    assert_eq!(
        r.rows.len(),
        1,
        "a certificate without its key cannot log in"
    );
    assert_eq!(r.rows[0].certificate.sha256, sha(&usable));
    assert_eq!(r.rows[0].has_private_key, None);
    assert_eq!(r.rows[0].superseded[0].sha256, sha(&keyless));
}

async fn multi_office_terminal_counts_offices(fx: Fixture) {
    let shared = enroll(&fx.store, "pc-shared").await;
    let single = enroll(&fx.store, "pc-single").await;
    report(
        &fx.store,
        &shared,
        &[
            (
                ca().three_year_cert_der("1111111111", as_of() + Duration::days(10)),
                Some(true),
            ),
            (
                ca().three_year_cert_der("2222222222", as_of() + Duration::days(20)),
                Some(true),
            ),
            (
                ca().three_year_cert_der("3333333333", as_of() + Duration::days(900)),
                Some(true),
            ),
        ],
        as_of(),
    )
    .await;
    report(
        &fx.store,
        &single,
        &[(
            ca().three_year_cert_der("1111111111", as_of() + Duration::days(5)),
            Some(true),
        )],
        as_of(),
    )
    .await;
    let r = reports::expiring(fx.store.as_ref(), &query(60), &settings())
        .await
        .unwrap();
    let counts: Vec<(&str, &str, u32)> = r
        .rows
        .iter()
        .map(|r| {
            (
                r.terminal.hostname.as_str(),
                r.office_number.as_str(),
                r.terminal_office_count,
            )
        })
        .collect();
    // Most urgent first; the ok office 3333333333 still counts on the shared terminal.
    assert_eq!(
        counts,
        [
            ("pc-single", "1111111111", 1),
            ("pc-shared", "1111111111", 3),
            ("pc-shared", "2222222222", 3),
        ]
    );
    let m = reports::multi_office(fx.store.as_ref(), as_of(), 60, &settings())
        .await
        .unwrap();
    assert_eq!(m.rows.len(), 1);
    assert_eq!(m.rows[0].terminal.hostname, "pc-shared");
    let statuses: Vec<(&str, PairStatus)> = m.rows[0]
        .offices
        .iter()
        .map(|o| (o.office_number.as_str(), o.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("1111111111", PairStatus::Expiring),
            ("2222222222", PairStatus::Expiring),
            ("3333333333", PairStatus::Ok),
        ]
    );
}

async fn stale_terminal_is_flagged_and_listed(fx: Fixture) {
    let silent = enroll(&fx.store, "pc-silent").await;
    let fresh = enroll(&fx.store, "pc-fresh").await;
    let _never = enroll(&fx.store, "pc-never").await;
    let last = as_of() - Duration::days(8);
    report(
        &fx.store,
        &silent,
        &[(
            ca().three_year_cert_der("1111111111", as_of() + Duration::days(5)),
            Some(true),
        )],
        last,
    )
    .await;
    report(
        &fx.store,
        &fresh,
        &[(
            ca().three_year_cert_der("1111111111", as_of() + Duration::days(6)),
            Some(true),
        )],
        as_of() - Duration::days(1),
    )
    .await;

    let r = reports::expiring(fx.store.as_ref(), &query(60), &settings())
        .await
        .unwrap();
    let silent_row = r
        .rows
        .iter()
        .find(|r| r.terminal.hostname == "pc-silent")
        .unwrap();
    assert!(silent_row.stale, "rows of a stale terminal stay, flagged");
    assert_eq!(silent_row.last_report_at, Some(last));
    let fresh_row = r
        .rows
        .iter()
        .find(|r| r.terminal.hostname == "pc-fresh")
        .unwrap();
    assert!(!fresh_row.stale);

    let s = reports::stale(fx.store.as_ref(), as_of(), 7, &settings())
        .await
        .unwrap();
    let listed: Vec<(&str, Option<i64>, u32)> = s
        .rows
        .iter()
        .map(|r| {
            (
                r.terminal.hostname.as_str(),
                r.days_since_report,
                r.office_count,
            )
        })
        .collect();
    assert_eq!(listed, [("pc-never", None, 0), ("pc-silent", Some(8), 1)]);
    // A longer threshold: only the one that never reported.
    let s = reports::stale(fx.store.as_ref(), as_of(), 30, &settings())
        .await
        .unwrap();
    assert_eq!(s.rows.len(), 1);
}

async fn uncovered_registry_office(fx: Fixture) {
    registry::import(
        fx.store.as_ref(),
        "1111111111,横浜第一,横浜,a@example.jp\n2222222222,川崎,川崎,b@example.jp\n3333333333,藤沢,藤沢,c@example.jp\n",
        &office_rule(),
        as_of(),
    )
    .await
    .unwrap();
    let pc = enroll(&fx.store, "pc-1").await;
    report(
        &fx.store,
        &pc,
        &[
            // 1111111111 only expired → uncovered; 2222222222 expiring → covered;
            // 3333333333 nowhere → uncovered; 4444444444 not in the registry → never uncovered.
            (
                ca().three_year_cert_der("1111111111", as_of() - Duration::days(1)),
                Some(true),
            ),
            (
                ca().three_year_cert_der("2222222222", as_of() + Duration::days(1)),
                Some(true),
            ),
            (
                ca().three_year_cert_der("4444444444", as_of() - Duration::days(1)),
                Some(true),
            ),
        ],
        as_of(),
    )
    .await;
    let o = reports::offices(fx.store.as_ref(), as_of(), 60, &settings())
        .await
        .unwrap();
    let got: Vec<(&str, bool, usize, Option<&str>)> = o
        .rows
        .iter()
        .map(|r| {
            (
                r.office_number.as_str(),
                r.uncovered,
                r.terminals.len(),
                r.office_name.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("1111111111", true, 1, Some("横浜第一")),
            ("2222222222", false, 1, Some("川崎")),
            ("3333333333", true, 0, Some("藤沢")),
            ("4444444444", false, 1, None),
        ]
    );
    let ov = reports::overview(fx.store.as_ref(), as_of(), 60, &settings())
        .await
        .unwrap();
    assert_eq!(ov.uncovered_offices, 2);
    assert_eq!(ov.offices, 4);
    // Office names from the registry reach the expiring rows.
    let r = reports::expiring(fx.store.as_ref(), &query(60), &settings())
        .await
        .unwrap();
    assert_eq!(r.rows[0].office_name.as_deref(), Some("横浜第一"));
    let one = reports::office(fx.store.as_ref(), "3333333333", as_of(), 60, &settings())
        .await
        .unwrap()
        .unwrap();
    assert!(one.uncovered);
}

async fn billing_month_across_a_year_boundary(fx: Fixture) {
    let pc = enroll(&fx.store, "pc-billing").await;
    report(
        &fx.store,
        &pc,
        &[
            // 2026-12-20 12:00 JST: December's claim window (1–10) is covered, January's not.
            (
                ca().three_year_cert_der("1111111111", t("2026-12-20T03:00:00Z")),
                Some(true),
            ),
            // 2026-12-05 12:00 JST: December's window is cut short.
            (
                ca().three_year_cert_der("2222222222", t("2026-12-05T03:00:00Z")),
                Some(true),
            ),
        ],
        as_of(),
    )
    .await;
    let r = reports::expiring(fx.store.as_ref(), &query(60), &settings())
        .await
        .unwrap();
    let got: Vec<(&str, &str)> = r
        .rows
        .iter()
        .map(|r| {
            (
                r.office_number.as_str(),
                r.first_blocked_billing_month.as_str(),
            )
        })
        .collect();
    assert_eq!(got, [("2222222222", "2026-12"), ("1111111111", "2027-01")]);
    // renew_by: 14 days before, as JST dates.
    assert_eq!(r.rows[1].renew_by.to_string(), "2026-12-06");
    assert_eq!(r.rows[0].renew_by.to_string(), "2026-11-21");
    assert!(r.rows[0].renew_now && !r.rows[1].renew_now);
}

async fn days_left_across_the_time_zone_midnight(fx: Fixture) {
    let pc = enroll(&fx.store, "pc-midnight").await;
    let as_of = t("2026-11-26T14:30:00Z"); // 23:30 JST
    report(
        &fx.store,
        &pc,
        &[(
            ca().three_year_cert_der("1111111111", t("2026-11-26T15:30:00Z")),
            Some(true),
        )], // 00:30 JST next day
        as_of - Duration::hours(1),
    )
    .await;
    let q = ExpiringQuery { as_of, ..query(60) };
    let r = reports::expiring(fx.store.as_ref(), &q, &settings())
        .await
        .unwrap();
    assert_eq!(r.rows[0].days_left, 1);
    assert_eq!(r.rows[0].status, PairStatus::Expiring);
    // In UTC both instants are the same day.
    let utc = ReportSettings {
        time_zone: chrono_tz::UTC,
        ..settings()
    };
    let r = reports::expiring(fx.store.as_ref(), &q, &utc)
        .await
        .unwrap();
    assert_eq!(r.rows[0].days_left, 0);
}

async fn removed_and_revoked_holdings_are_not_reported(fx: Fixture) {
    let pc = enroll(&fx.store, "pc-removed").await;
    let gone = enroll(&fx.store, "pc-revoked").await;
    report(
        &fx.store,
        &pc,
        &[(
            ca().three_year_cert_der("1111111111", as_of() + Duration::days(5)),
            Some(true),
        )],
        as_of() - Duration::days(2),
    )
    .await;
    // The next snapshot no longer holds it (deleted from the PC): not reported any more.
    report(
        &fx.store,
        &pc,
        &[(
            ca().three_year_cert_der("2222222222", as_of() + Duration::days(900)),
            Some(true),
        )],
        as_of() - Duration::days(1),
    )
    .await;
    report(
        &fx.store,
        &gone,
        &[(
            ca().three_year_cert_der("3333333333", as_of() + Duration::days(5)),
            Some(true),
        )],
        as_of(),
    )
    .await;
    let revoked = fx.store.find_terminal("pc-revoked").await.unwrap();
    fx.store.revoke_terminal(revoked.id, as_of()).await.unwrap();
    let r = reports::expiring(fx.store.as_ref(), &query(60), &settings())
        .await
        .unwrap();
    assert!(r.rows.is_empty(), "{:#?}", r.rows);
    let terms = reports::terminals(fx.store.as_ref(), as_of(), 60, &settings())
        .await
        .unwrap();
    assert_eq!(terms.rows.len(), 1, "revoked terminals are left out");
    assert_eq!(terms.rows[0].offices.len(), 1);
}

async fn filters_by_office_and_hostname(fx: Fixture) {
    let a = enroll(&fx.store, "pc-a").await;
    let b = enroll(&fx.store, "pc-b").await;
    for pc in [&a, &b] {
        report(
            &fx.store,
            pc,
            &[
                (
                    ca().three_year_cert_der("1111111111", as_of() + Duration::days(5)),
                    Some(true),
                ),
                (
                    ca().three_year_cert_der("2222222222", as_of() + Duration::days(6)),
                    Some(true),
                ),
            ],
            as_of(),
        )
        .await;
    }
    let q = ExpiringQuery {
        offices: vec!["2222222222".into()],
        ..query(60)
    };
    let r = reports::expiring(fx.store.as_ref(), &q, &settings())
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 2);
    assert!(r.rows.iter().all(|r| r.office_number == "2222222222"));
    assert!(r.rows.iter().all(|r| r.terminal_office_count == 2));
    let q = ExpiringQuery {
        terminals: vec!["pc-b".into()],
        include_ok: true,
        ..query(60)
    };
    let r = reports::expiring(fx.store.as_ref(), &q, &settings())
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 2);
    assert!(r.rows.iter().all(|r| r.terminal.hostname == "pc-b"));
}

/// `pair_expiry` (migration 0004, kept by triggers) must always hold the `not_after` the Rust
/// effective-certificate rule picks from the pair's live holdings: after inserts, removals,
/// revivals and private-key flags flipping between snapshots, on random holdings.
/// What `report expiring` must show for one pair, computed from the raw holdings with the
/// Rust rule: (terminal, office, not_after, effective sha256, key flag, serial, subject,
/// issuer, superseded (sha256, not_after) latest first, offices on the terminal).
type ExpectedPair = (
    i64,
    String,
    DateTime<Utc>,
    String,
    Option<bool>,
    String,
    String,
    String,
    Vec<(String, DateTime<Utc>)>,
    u32,
);

async fn pairs_by_the_rust_rule(store: &SharedStore) -> Vec<ExpectedPair> {
    let mut holdings = store
        .office_holdings(&store::reports::PairFilter::default())
        .await
        .unwrap();
    holdings
        .sort_by(|a, b| (a.terminal_id, &a.office_number).cmp(&(b.terminal_id, &b.office_number)));
    let mut groups: Vec<Vec<store::reports::PairHolding>> = Vec::new();
    for h in holdings {
        match groups.last_mut() {
            Some(g)
                if g[0].terminal_id == h.terminal_id && g[0].office_number == h.office_number =>
            {
                g.push(h)
            }
            _ => groups.push(vec![h]),
        }
    }
    let mut certificates = std::collections::HashMap::new();
    for g in &groups {
        for h in g {
            let cert = store.certificate(&h.sha256).await.unwrap().unwrap();
            certificates.insert(h.sha256.clone(), cert);
        }
    }
    let mut offices_per_terminal = std::collections::HashMap::<i64, u32>::new();
    for g in &groups {
        *offices_per_terminal.entry(g[0].terminal_id).or_default() += 1;
    }
    let mut out: Vec<ExpectedPair> = groups
        .into_iter()
        .map(|mut g| {
            let idx = semantics::effective_index(&g, |h| semantics::CertKey {
                not_before: h.not_before,
                not_after: h.not_after,
                has_private_key: h.has_private_key,
                sha256: &h.sha256,
            })
            .unwrap();
            let e = g.swap_remove(idx);
            let cert = certificates[&e.sha256].clone();
            let mut superseded: Vec<(String, DateTime<Utc>)> =
                g.into_iter().map(|h| (h.sha256, h.not_after)).collect();
            superseded.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            (
                e.terminal_id,
                e.office_number,
                e.not_after,
                e.sha256,
                e.has_private_key,
                cert.serial,
                cert.subject,
                cert.issuer,
                superseded,
                offices_per_terminal[&e.terminal_id],
            )
        })
        .collect();
    out.sort();
    out
}

/// `pair_expiry` (migrations 0004, 0006 and 0007) keeps the effective certificate of every
/// pair, its terminal's names and its office's registry name in SQL triggers; `report
/// expiring` reads only that and two columns of `terminals`. Random snapshots (removals, revivals, key flags, an exact tie broken
/// by sha256, a terminal emptied, a renamed terminal, registry imports) must leave every stored
/// column equal to the Rust rule applied to the raw holdings, to the terminal and to the
/// registry as stored.
async fn pair_rows_follow_the_effective_rule(fx: Fixture) {
    let offices = ["1111111111", "2222222222"];
    let mut certs: Vec<(usize, Vec<u8>)> = (0..8)
        .map(|i| {
            let office = i % 2;
            let days = [-40, -5, 3, 30, 59, 61, 400, 1000][i];
            (
                office,
                ca().three_year_cert_der(offices[office], as_of() + Duration::days(days)),
            )
        })
        .collect();
    // Same office and validity as certs[2] (another key, so another sha256): only the sha256
    // can choose between them.
    certs.push((
        0,
        ca().three_year_cert_der(offices[0], as_of() + Duration::days(3)),
    ));
    let terminals = [
        enroll(&fx.store, "pc-rule-a").await,
        enroll(&fx.store, "pc-rule-b").await,
    ];
    // A fixed xorshift sequence: reproducible, and no dependency on an RNG crate's API.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let register = |office: &str, name: &str| certfleet_model::OfficeEntry {
        office_number: office.into(),
        name: name.into(),
        site: String::new(),
        owner_email: String::new(),
        expected_pcs: None,
    };
    let mut saw_superseded = false;
    for round in 0..30 {
        // The registry changes under the pairs: an entry from the start, renamed at round 10,
        // a second office registered at round 20.
        let registry_change = match round {
            0 => Some(register(offices[0], "事業所 A")),
            10 => Some(register(offices[0], "事業所 A (改称)")),
            20 => Some(register(offices[1], "事業所 B")),
            _ => None,
        };
        if let Some(entry) = registry_change {
            fx.store.upsert_offices(&[entry], as_of()).await.unwrap();
        }
        let terminal = &terminals[round % 2];
        let mut snapshot = Vec::new();
        // Every seventh round empties the terminal: its pairs disappear, its count drops to 0.
        for (_, der) in certs.iter().filter(|_| round % 7 != 6) {
            let r = next();
            if r % 3 == 0 {
                continue; // Not installed this time (removed, or revived later).
            }
            let key = match (r >> 8) % 3 {
                0 => Some(true),
                1 => Some(false),
                _ => None,
            };
            snapshot.push((der.clone(), key));
        }
        // Every fifth round the PC reports under a new name.
        let base = terminal.machine_id.trim_start_matches("machine-");
        let hostname = if round % 5 == 4 {
            format!("{base}-renamed-{round}")
        } else {
            base.to_owned()
        };
        let at = as_of() + Duration::minutes(i64::try_from(round).unwrap());
        report_as(&fx.store, terminal, &hostname, &snapshot, at).await;
        let expected = pairs_by_the_rust_rule(&fx.store).await;
        let stored_terminals: std::collections::HashMap<
            i64,
            (String, String, Option<DateTime<Utc>>),
        > = fx
            .store
            .report_terminals(&store::reports::TerminalFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.id, (t.hostname, t.machine_id, t.last_report_at)))
            .collect();
        let all = ExpiringQuery {
            include_ok: true,
            ..query(60)
        };
        let rows = reports::expiring(fx.store.as_ref(), &all, &settings())
            .await
            .unwrap()
            .rows;
        let registry: std::collections::HashMap<String, String> = fx
            .store
            .list_offices()
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.office_number, e.name))
            .collect();
        for r in &rows {
            assert_eq!(
                r.office_name.as_ref(),
                registry.get(&r.office_number),
                "round {round}"
            );
            let (hostname, machine_id, last_report_at) = &stored_terminals[&r.terminal.id];
            assert_eq!(
                (
                    &r.terminal.hostname,
                    &r.terminal.machine_id,
                    &r.last_report_at
                ),
                (hostname, machine_id, last_report_at),
                "round {round}"
            );
        }
        let mut got: Vec<ExpectedPair> = rows
            .into_iter()
            .map(|r| {
                (
                    r.terminal.id,
                    r.office_number,
                    r.not_after,
                    r.certificate.sha256,
                    r.has_private_key,
                    r.certificate.serial,
                    r.certificate.subject,
                    r.certificate.issuer,
                    r.superseded
                        .into_iter()
                        .map(|s| (s.sha256, s.not_after))
                        .collect(),
                    r.terminal_office_count,
                )
            })
            .collect();
        got.sort();
        assert_eq!(got, expected, "round {round}");
        saw_superseded |= expected.iter().any(|p| !p.8.is_empty());
        // The narrow form the fleet-wide reports read agrees as well.
        let mut from_table: Vec<(i64, String, DateTime<Utc>)> = fx
            .store
            .pair_expiries(&[], &[])
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.terminal_id, p.office_number, p.not_after))
            .collect();
        from_table.sort();
        let narrow: Vec<(i64, String, DateTime<Utc>)> =
            expected.iter().map(|p| (p.0, p.1.clone(), p.2)).collect();
        assert_eq!(from_table, narrow, "round {round}");
        // The not_after range (no include_ok) selects exactly the pairs ending by the cutoff.
        let cutoff = as_of() + Duration::days(60);
        let mut in_window: Vec<(i64, String)> =
            reports::expiring(fx.store.as_ref(), &query(60), &settings())
                .await
                .unwrap()
                .rows
                .into_iter()
                .map(|r| (r.terminal.id, r.office_number))
                .collect();
        in_window.sort();
        let by_rule: Vec<(i64, String)> = expected
            .iter()
            .filter(|p| p.2 <= cutoff)
            .map(|p| (p.0, p.1.clone()))
            .collect();
        assert_eq!(in_window, by_rule, "round {round}");
    }
    assert!(
        saw_superseded,
        "the random rounds never produced a superseded holding"
    );
}

async fn terminals_offices_overview_and_detail(fx: Fixture) {
    let a = enroll(&fx.store, "pc-a").await;
    let old = ca().three_year_cert_der("1111111111", as_of() - Duration::days(1));
    let new = ca().three_year_cert_der("1111111111", as_of() + Duration::days(40));
    report(
        &fx.store,
        &a,
        &[
            (old.clone(), Some(true)),
            (new.clone(), Some(true)),
            (
                ca().three_year_cert_der("2222222222", as_of() + Duration::days(400)),
                Some(true),
            ),
        ],
        as_of(),
    )
    .await;
    let terms = reports::terminals(fx.store.as_ref(), as_of(), 60, &settings())
        .await
        .unwrap();
    assert_eq!(terms.rows.len(), 1);
    let row = &terms.rows[0];
    assert_eq!(row.soonest_not_after, Some(as_of() + Duration::days(40)));
    assert_eq!(row.offices.len(), 2);
    assert_eq!(row.os_name, "Windows");

    let ov = reports::overview(fx.store.as_ref(), as_of(), 60, &settings())
        .await
        .unwrap();
    assert_eq!((ov.expired, ov.expiring, ov.ok, ov.renew_now), (0, 1, 1, 0));
    assert_eq!(ov.terminals, 1);
    assert_eq!(ov.timeline.len(), 36);
    assert_eq!(ov.timeline[0].month, "2026-11");
    // as_of + 40 days = 2027-01-05 JST; as_of + 400 days = 2027-12-31 JST.
    assert_eq!(ov.timeline[2].month, "2027-01");
    assert_eq!(ov.timeline[2].expiring, 1);
    assert_eq!(ov.timeline[13].ok, 1);

    let d = reports::terminal_detail(fx.store.as_ref(), a.id, as_of(), 60, &settings())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.holdings.len(), 3);
    let eff: Vec<(String, bool)> = d
        .holdings
        .iter()
        .map(|h| (h.certificate.sha256.clone(), h.effective))
        .collect();
    assert!(eff.contains(&(sha(&new), true)));
    assert!(eff.contains(&(sha(&old), false)));
    assert_eq!(d.holdings[0].locations[0].store, "My");
    assert!(
        reports::terminal_detail(fx.store.as_ref(), 9999, as_of(), 60, &settings())
            .await
            .unwrap()
            .is_none()
    );
}

/// `report terminals|multi-office|offices` through the front ends build their rows while
/// writing them; the bytes must equal the built model reports' JSON and CSV.
async fn streamed_fleet_reports_equal_the_built_ones(fx: Fixture) {
    let a = enroll(&fx.store, "pc-stream-a").await;
    let b = enroll(&fx.store, "pc-stream-b").await;
    report(
        &fx.store,
        &a,
        &[
            (
                ca().three_year_cert_der("1111111111", as_of() - Duration::days(3)),
                Some(true),
            ),
            (
                ca().three_year_cert_der("2222222222", as_of() + Duration::days(30)),
                None,
            ),
        ],
        as_of(),
    )
    .await;
    report(
        &fx.store,
        &b,
        &[(
            ca().three_year_cert_der("2222222222", as_of() + Duration::days(500)),
            Some(true),
        )],
        as_of(),
    )
    .await;
    registry::import(
        fx.store.as_ref(),
        "3333333333,空き事業所,本部,it@example.jp\n",
        &office_rule(),
        as_of(),
    )
    .await
    .unwrap();
    let s = settings();
    let params = ReportParams {
        as_of: Some(as_of().to_rfc3339()),
        ..ReportParams::default()
    };
    let streamed = |kind| {
        let store = fx.store.clone();
        let params = params.clone();
        let s = s.clone();
        async move {
            let r = reports::params::run(store.as_ref(), kind, &params, Utc::now(), &s)
                .await
                .unwrap();
            let mut csv = Vec::new();
            reports::format::write_csv(&r, s.time_zone, &mut csv).unwrap();
            (r.to_json(), String::from_utf8(csv).unwrap())
        }
    };
    let store = fx.store.as_ref();
    let terminals = reports::terminals(store, as_of(), 60, &s).await.unwrap();
    let multi = reports::multi_office(store, as_of(), 60, &s).await.unwrap();
    let offices = reports::offices(store, as_of(), 60, &s).await.unwrap();
    assert_eq!(terminals.rows.len(), 2);
    assert_eq!(multi.rows.len(), 1);
    assert_eq!(
        offices.rows.len(),
        3,
        "two held offices and one uncovered registry office"
    );
    let (json, csv) = streamed(ReportKind::Terminals).await;
    assert_eq!(json, reports::json::to_string(&terminals));
    assert_eq!(csv.matches("\r\n").count(), 3, "{csv}");
    let (json, _) = streamed(ReportKind::MultiOffice).await;
    assert_eq!(json, reports::json::to_string(&multi));
    let (json, csv) = streamed(ReportKind::Offices).await;
    assert_eq!(json, reports::json::to_string(&offices));
    assert!(csv.contains("\"空き事業所\""), "{csv}");

    // The dashboard's pages cut the same rows out without building the others.
    let fleet = reports::Fleet::load(store, as_of(), 60, Vec::new())
        .await
        .unwrap();
    for uncovered_only in [false, true] {
        let all: Vec<_> = offices
            .rows
            .iter()
            .filter(|o| !uncovered_only || o.uncovered)
            .cloned()
            .collect();
        for (offset, limit) in [(0, 10), (0, 1), (1, 1), (2, 5), (7, 3)] {
            let (rows, total) = fleet.office_rows_page(&s, uncovered_only, offset, limit);
            assert_eq!(total, all.len());
            let expected: Vec<_> = all.iter().skip(offset).take(limit).cloned().collect();
            assert_eq!(rows, expected, "offices {uncovered_only} {offset} {limit}");
        }
    }
    for (offset, limit) in [(0, 10), (0, 1), (1, 1)] {
        let (rows, total) = fleet.terminal_rows_page(&s, 2, offset, limit);
        assert_eq!(total, multi.rows.len());
        let expected: Vec<_> = multi
            .rows
            .iter()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect();
        assert_eq!(rows, expected);
        let (rows, total) = fleet.terminal_rows_page(&s, 0, offset, limit);
        assert_eq!(total, terminals.rows.len());
        let expected: Vec<_> = terminals
            .rows
            .iter()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect();
        assert_eq!(rows, expected);
    }
    assert_eq!(
        fleet.office_rows_page(&s, true, 0, 10).0[0].office_number,
        "3333333333"
    );
}

// ---------------------------------------------------------------------------------------------
// Registry import
// ---------------------------------------------------------------------------------------------

async fn registry_import_all_or_nothing_and_idempotent(fx: Fixture) {
    let rule = office_rule();
    let good = "\u{feff}事業所番号,事業所名,拠点,担当者メール\r\n1111111111,横浜第一事業所,横浜,yokohama@example.jp\r\n2222222222,\"川崎, 北\",川崎,\r\n";
    let s = registry::import(fx.store.as_ref(), good, &rule, as_of())
        .await
        .unwrap();
    assert_eq!((s.rows, s.changed), (2, 2));
    // Re-import: nothing changes.
    let s = registry::import(fx.store.as_ref(), good, &rule, as_of())
        .await
        .unwrap();
    assert_eq!((s.rows, s.changed), (2, 0));
    let listed = fx.store.list_offices().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].name, "川崎, 北");
    assert_eq!(listed[1].owner_email, "");

    // A file with bad rows: every bad line named, nothing imported (not even the good rows).
    let bad = "3333333333,藤沢,藤沢,fujisawa@example.jp\n1111111111,改名,横浜,yokohama@example.jp\n12345,短い番号\n4444444444,茅ヶ崎,茅ヶ崎,not-an-address\n\n,名前だけ\n";
    let err = registry::import(fx.store.as_ref(), bad, &rule, as_of())
        .await
        .unwrap_err();
    let RegistryError::BadRows(rows) = &err else {
        panic!("{err}")
    };
    let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3, 4, 6], "{err}");
    assert!(err.to_string().contains("line 4"), "{err}");
    let after = fx.store.list_offices().await.unwrap();
    assert_eq!(after, listed, "nothing half-imported");

    // An update of an existing entry is applied by a good file.
    let s = registry::import(
        fx.store.as_ref(),
        "1111111111,横浜第一(新),横浜,new@example.jp\n",
        &rule,
        as_of(),
    )
    .await
    .unwrap();
    assert_eq!(s.changed, 1);
    assert_eq!(
        fx.store.list_offices().await.unwrap()[0].owner_email,
        "new@example.jp"
    );
}

// ---------------------------------------------------------------------------------------------
// Front ends: CLI vs HTTP, CSV, auth, errors, metrics
// ---------------------------------------------------------------------------------------------

async fn fleet_for_front_ends(fx: &Fixture) {
    registry::import(
        fx.store.as_ref(),
        "1111111111,横浜第一事業所,横浜,a@example.jp\n9999999999,未配備,相模原,\n",
        &office_rule(),
        as_of(),
    )
    .await
    .unwrap();
    let a = enroll(&fx.store, "pc-a").await;
    let b = enroll(&fx.store, "pc-b").await;
    report(
        &fx.store,
        &a,
        &[
            (
                ca().three_year_cert_der("1111111111", as_of() - Duration::days(2)),
                Some(true),
            ),
            (
                ca().three_year_cert_der("2222222222", as_of() + Duration::days(20)),
                None,
            ),
        ],
        as_of() - Duration::days(10),
    )
    .await;
    report(
        &fx.store,
        &b,
        &[
            (
                ca().three_year_cert_der("1111111111", as_of() + Duration::days(30)),
                Some(true),
            ),
            (
                ca().three_year_cert_der("1111111111", as_of() + Duration::days(1000)),
                Some(false),
            ),
        ],
        as_of(),
    )
    .await;
}

/// The API as one client sees it: the collector's state and the client's TCP address.
struct Api {
    state: HttpState,
    peer: SocketAddr,
}

/// A direct local client (`local`) or a remote one, of a collector with `token` configured.
fn state(fx: &Fixture, token: Option<&str>, local: bool) -> Api {
    api_with(
        fx,
        AccessConfig {
            api_token: token.map(str::to_owned),
            ..AccessConfig::default()
        },
        if local {
            "127.0.0.1:40000"
        } else {
            "192.0.2.10:40000"
        },
    )
}

fn api_with(fx: &Fixture, access: AccessConfig, peer: &str) -> Api {
    Api {
        state: HttpState::with_reports(
            fx.store.clone(),
            Arc::new(Metrics::default()),
            Access::new(access),
            settings(),
        ),
        peer: peer.parse().unwrap(),
    }
}

async fn get(
    api: Api,
    uri: &str,
    token: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    get_with(api, uri, &headers).await
}

async fn get_with(
    api: Api,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::empty()).unwrap();
    req.extensions_mut().insert(ConnectInfo(api.peer));
    let resp = http::router(api.state).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

fn cli(fx: &Fixture, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certfleet-collector"))
        .args(fx.cli_db_args())
        .args(args)
        .env_remove("CERTFLEET_CONFIG")
        .env_remove("CERTFLEET_DATABASE_URL")
        .env_remove("CERTFLEET_DATA_DIR")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

async fn cli_and_http_return_identical_json(fx: Fixture) {
    fleet_for_front_ends(&fx).await;
    let as_of = "2026-11-26T00:00:00Z";
    let cases: [(&[&str], String); 7] = [
        (
            &["report", "expiring"],
            format!("/api/v1/reports/expiring?as_of={as_of}"),
        ),
        (
            &[
                "report",
                "expiring",
                "--within",
                "10",
                "--include-ok",
                "--office",
                "1111111111",
                "--terminal",
                "pc-b",
            ],
            format!(
                "/api/v1/reports/expiring?as_of={as_of}&within=10&include_ok=true&office=1111111111&terminal=pc-b"
            ),
        ),
        (
            &["report", "terminals"],
            format!("/api/v1/reports/terminals?as_of={as_of}"),
        ),
        (
            &["report", "offices"],
            format!("/api/v1/reports/offices?as_of={as_of}"),
        ),
        (
            &["report", "multi-office"],
            format!("/api/v1/reports/multi-office?as_of={as_of}"),
        ),
        (
            &["report", "stale", "--older-than", "7"],
            format!("/api/v1/reports/stale?as_of={as_of}&older_than=7"),
        ),
        // A date means 00:00 in Asia/Tokyo on both sides.
        (
            &["report", "expiring", "--as-of-date"],
            "/api/v1/reports/expiring?as_of=2026-11-26".to_owned(),
        ),
    ];
    for (args, uri) in cases {
        let mut args: Vec<&str> = args.to_vec();
        if args.last() == Some(&"--as-of-date") {
            args.pop();
            args.extend(["--as-of", "2026-11-26"]);
        } else {
            args.extend(["--as-of", as_of]);
        }
        args.extend(["--format", "json"]);
        let from_cli: serde_json::Value = serde_json::from_slice(&cli(&fx, &args)).unwrap();
        let (status, headers, body) = get(state(&fx, None, true), &uri, None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{uri}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let from_http: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(from_cli, from_http, "{args:?} vs {uri}");
        assert!(
            from_http["rows"].as_array().is_some_and(|r| !r.is_empty()),
            "{uri}: empty"
        );
    }
    // Spot-check the JSON contract of a row.
    let (_, _, body) = get(
        state(&fx, None, true),
        &format!("/api/v1/reports/expiring?as_of={as_of}"),
        None,
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["within_days"], 60);
    let row = &v["rows"][0];
    for key in [
        "office_number",
        "office_name",
        "terminal",
        "status",
        "not_after",
        "days_left",
        "renew_by",
        "first_blocked_billing_month",
        "superseded",
        "terminal_office_count",
        "has_private_key",
        "stale",
        "last_report_at",
        "certificate",
    ] {
        assert!(row.get(key).is_some(), "row lacks {key}: {row}");
    }
    assert_eq!(row["status"], "expired");
    assert_eq!(row["office_name"], "横浜第一事業所");
    assert_eq!(row["terminal"]["hostname"], "pc-a");
    assert!(row["certificate"]["sha256"].as_str().unwrap().len() == 64);
}

async fn csv_bytes_are_excel_friendly(fx: Fixture) {
    fleet_for_front_ends(&fx).await;
    let as_of = "2026-11-26T00:00:00Z";
    let (status, headers, body) = get(
        state(&fx, None, true),
        &format!("/api/v1/reports/expiring?as_of={as_of}&format=csv"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(body.starts_with(&[0xEF, 0xBB, 0xBF]), "UTF-8 BOM first");
    let text = std::str::from_utf8(&body[3..]).unwrap();
    assert!(text.ends_with("\r\n"));
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert!(!text.replace("\r\n", "").contains('\n'), "CRLF only");
    assert_eq!(lines.len(), 1 + 3, "{text}");
    assert!(lines[0].starts_with("\"status\",\"office_number\",\"office_name\",\"hostname\""));
    for line in &lines {
        // Every field quoted: the line starts and ends with a quote, and fields are "…","…".
        assert!(line.starts_with('"') && line.ends_with('"'), "{line}");
    }
    assert!(
        lines[1].starts_with("\"expired\",\"1111111111\",\"横浜第一事業所\",\"pc-a\""),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains("\"2026/11/24 09:00:00\""),
        "dates in JST: {}",
        lines[1]
    );
    // The CLI writes the very same bytes.
    let from_cli = cli(
        &fx,
        &["report", "expiring", "--as-of", as_of, "--format", "csv"],
    );
    assert_eq!(from_cli, body);
    // Table output for people: YYYY/MM/DD dates.
    let table = String::from_utf8(cli(&fx, &["report", "expiring", "--as-of", as_of])).unwrap();
    assert!(table.contains("2026/11/24"), "{table}");
    assert!(table.starts_with("STATUS"), "{table}");
}

async fn api_errors_and_metrics(fx: Fixture) {
    fleet_for_front_ends(&fx).await;
    let token = "0123456789abcdef-token";
    // A configured token is required from every client, local ones included (a reverse proxy
    // on the same host makes every visitor local): none or a wrong one → 401 with
    // WWW-Authenticate; the right one → 200.
    for path in ["/api/v1/reports/expiring", "/metrics"] {
        for local in [false, true] {
            let (status, headers, _) = get(state(&fx, Some(token), local), path, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} local={local}");
            assert!(
                headers[header::WWW_AUTHENTICATE]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer")
            );
            let (status, _, _) =
                get(state(&fx, Some(token), local), path, Some("wrong-token")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            let (status, _, _) = get(state(&fx, Some(token), local), path, Some(token)).await;
            assert_eq!(status, StatusCode::OK, "{path}");
        }
        // Nothing configured: a remote client is refused, a direct local one let in.
        let (status, _, _) = get(state(&fx, None, false), path, Some("anything")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        let (status, _, _) = get(state(&fx, None, true), path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (status, _, _) = get(state(&fx, Some(token), false), "/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "health stays open");

    // Bad parameters → 400 naming the parameter.
    for (uri, parameter) in [
        ("/api/v1/reports/expiring?within=soon", "within"),
        ("/api/v1/reports/expiring?as_of=tomorrow", "as_of"),
        ("/api/v1/reports/stale?older_than=-1", "older_than"),
        ("/api/v1/reports/terminals?office=1111111111", "office"),
        ("/api/v1/reports/expiring?colour=red", "query"),
    ] {
        let (status, _, body) = get(state(&fx, None, true), uri, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["parameter"], parameter, "{uri}: {v}");
        assert!(v["error"].as_str().unwrap().contains(parameter), "{v}");
    }
    let (status, _, _) = get(state(&fx, None, true), "/api/v1/reports/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Metrics: per-pair expiry gauges and counts (computed at the real now; the fixture's
    // dates are relative to 2026-11-26, so only check the shape and the counts' sum).
    let (_, _, body) = get(state(&fx, None, true), "/metrics", None).await;
    let text = String::from_utf8(body).unwrap();
    let pair_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("certfleet_certificate_expiry_timestamp_seconds{"))
        .collect();
    assert_eq!(pair_lines.len(), 3, "{text}");
    assert!(
        pair_lines
            .iter()
            .any(|l| l.contains("office=\"1111111111\"") && l.contains("hostname=\"pc-b\""))
    );
    let sum: u64 = text
        .lines()
        .filter(|l| l.starts_with("certfleet_pairs{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(sum, 3);
    for name in [
        "certfleet_renew_now_pairs ",
        "certfleet_stale_terminals ",
        "certfleet_uncovered_offices ",
        "certfleet_fleet_metrics_up 1",
        "certfleet_ingest_duration_seconds_count",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    // Shared code path sanity: params::run with the same request equals the HTTP body.
    let direct = reports::params::run(
        fx.store.as_ref(),
        ReportKind::Offices,
        &ReportParams {
            as_of: Some("2026-11-26".into()),
            ..ReportParams::default()
        },
        Utc::now(),
        &settings(),
    )
    .await
    .unwrap();
    let (_, _, body) = get(
        state(&fx, None, true),
        "/api/v1/reports/offices?as_of=2026-11-26",
        None,
    )
    .await;
    assert_eq!(direct.to_json().as_bytes(), body.as_slice());
}

/// Issue 14, High 1: who may read the API and `/metrics` depends on the request, never on
/// the listen address. The collector behind a reverse proxy on its own host sees every
/// visitor as a loopback peer; the proxy's headers, a declared proxy, or any configured
/// credential close the no-login convenience.
async fn api_access_is_decided_per_request(fx: Fixture) {
    fleet_for_front_ends(&fx).await;
    let api = "/api/v1/reports/expiring";
    // Nothing configured, loopback peer, but a proxy's header: not a direct local client.
    for header in [
        ("x-forwarded-for", "198.51.100.7"),
        ("forwarded", "for=198.51.100.7;proto=https"),
        ("x-real-ip", "198.51.100.7"),
        ("x-forwarded-proto", "https"),
    ] {
        for path in [api, "/metrics"] {
            let (status, _, _) = get_with(state(&fx, None, true), path, &[header]).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} with {header:?}");
        }
    }
    // A declared proxy is never local, even without forwarding headers.
    let proxied = || {
        api_with(
            &fx,
            AccessConfig {
                trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
                ..AccessConfig::default()
            },
            "127.0.0.1:40000",
        )
    };
    assert_eq!(get(proxied(), api, None).await.0, StatusCode::UNAUTHORIZED);
    // Dashboard users alone close the API too (there is no way in without a token then).
    let users_only = || {
        api_with(
            &fx,
            AccessConfig {
                users_configured: true,
                ..AccessConfig::default()
            },
            "127.0.0.1:40000",
        )
    };
    assert_eq!(
        get(users_only(), api, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The metrics token opens /metrics, not the reports.
    let with_metrics_token = || {
        api_with(
            &fx,
            AccessConfig {
                api_token: Some("api-token-0123456789".into()),
                metrics_token: Some("metrics-token-0123456789".into()),
                ..AccessConfig::default()
            },
            "192.0.2.10:40000",
        )
    };
    let metrics_token = Some("metrics-token-0123456789");
    assert_eq!(
        get(with_metrics_token(), "/metrics", metrics_token).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(with_metrics_token(), api, metrics_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Host allow-list: a rebound DNS name is refused before any credential is looked at;
    // IP literals, localhost and listed names are answered.
    let hosts = || {
        api_with(
            &fx,
            AccessConfig {
                allowed_hosts: vec!["certfleet.example.org".into()],
                ..AccessConfig::default()
            },
            "127.0.0.1:40000",
        )
    };
    for (host, expected) in [
        ("evil.example:8080", StatusCode::MISDIRECTED_REQUEST),
        ("127.0.0.1:8080", StatusCode::OK),
        ("localhost:8080", StatusCode::OK),
        ("certfleet.example.org", StatusCode::OK),
    ] {
        let (status, _, _) = get_with(hosts(), api, &[("host", host)]).await;
        assert_eq!(status, expected, "Host: {host}");
    }
    let (status, _, _) = get_with(hosts(), "/healthz", &[("host", "evil.example")]).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
}

/// Issue 14, Medium 6: a scraper that stops reading a large `/metrics` body must not hold
/// up the next scrape. The first response's body is never read, so its writer blocks once
/// the body channel is full; the second scrape must still complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_metrics_scrape_does_not_block_the_next() {
    let fx = sqlite().await;
    let terminal = enroll(&fx.store, "pc-many").await;
    // ~3,000 pairs of ~150 bytes of gauges each: far more than the body channel holds.
    let now = Utc::now();
    let mut certificates = Vec::new();
    let mut holdings = Vec::new();
    for i in 0..3000u32 {
        let sha256 = format!("{i:064x}");
        certificates.push(store::CertificateRecord {
            sha256: sha256.clone(),
            sha1: format!("{i:040x}"),
            der: vec![0x30, 0x00],
            subject: format!("CN={}", 1_400_000_000 + i),
            issuer: "CN=KANAGAWA KOKUHOREN CA".into(),
            subject_cn: Some(format!("{}", 1_400_000_000 + i)),
            issuer_cn: Some("KANAGAWA KOKUHOREN CA".into()),
            serial: format!("{i:x}"),
            not_before: now - Duration::days(100),
            not_after: now + Duration::days(30),
            client_auth: true,
            office_number: Some(format!("{}", 1_400_000_000 + i)),
        });
        holdings.push(store::SnapshotHolding {
            sha256,
            locations: Vec::new(),
            has_private_key: Some(true),
            friendly_name: String::new(),
        });
    }
    fx.store
        .ingest(
            terminal.id,
            &store::Snapshot {
                report_id: "r-many".into(),
                facts: facts("pc-many"),
                scanned_at: now,
                received_at: now,
                certificates,
                holdings,
                scan_errors: Vec::new(),
                rejected_count: 0,
                holdings_digest: "many".into(),
            },
        )
        .await
        .unwrap();
    let router = http::router(state(&fx, None, true).state);
    let scrape = || {
        let mut req = Request::get("/metrics").body(Body::empty()).unwrap();
        req.extensions_mut().insert(ConnectInfo::<SocketAddr>(
            "127.0.0.1:40000".parse().unwrap(),
        ));
        router.clone().oneshot(req)
    };
    let stalled = scrape().await.unwrap();
    assert_eq!(stalled.status(), StatusCode::OK);
    // Give the first body's writer time to fill the channel and block.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let second = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        let resp = scrape().await.unwrap();
        resp.into_body().collect().await.unwrap().to_bytes()
    })
    .await
    .expect("the second scrape completes while the first client reads nothing");
    let text = String::from_utf8(second.to_vec()).unwrap();
    assert!(
        text.len() > 300_000,
        "a body larger than the channel: {}",
        text.len()
    );
    assert!(
        text.contains("certfleet_fleet_metrics_up 1"),
        "{}",
        &text[..500]
    );
    drop(stalled);
}

async fn post_json(
    api: Api,
    uri: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::post(uri).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut req = req.body(Body::from(body.to_owned())).unwrap();
    req.extensions_mut().insert(ConnectInfo(api.peer));
    let resp = http::router(api.state).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// `POST /api/v1/tracking` needs the API token, answers bad input with a 400 naming the field
/// and a senseless transition with a 409, and what it records shows in `report expiring`
/// filtered by `state=` (issue 17 §1).
async fn tracking_api_changes_state_and_names_bad_fields(fx: Fixture) {
    fleet_for_front_ends(&fx).await;
    const TOKEN: &str = "api-token-0123456789";
    let api = || state(&fx, Some(TOKEN), false);
    let url = "/api/v1/tracking";
    let ok = r#"{"terminal":"pc-a","office":"2222222222","action":"requested","note":"certsrv"}"#;
    assert_eq!(
        post_json(api(), url, None, ok).await.0,
        StatusCode::UNAUTHORIZED
    );
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .date_naive();
    let yesterday = (today - Duration::days(1)).to_string();
    let hold_past = format!(
        r#"{{"terminal":"pc-a","office":"2222222222","action":"hold","until":"{yesterday}","note":"x"}}"#
    );
    for (body, field) in [
        ("{not json", "body"),
        (
            r#"{"terminal":"pc-a","office":"2222222222","action":"snooze"}"#,
            "action",
        ),
        (
            r#"{"terminal":"pc-zz","office":"2222222222","action":"requested"}"#,
            "terminal",
        ),
        (
            r#"{"terminal":"pc-a","office":"3333333333","action":"requested"}"#,
            "office",
        ),
        (
            r#"{"terminal":"pc-a","office":"2222222222","action":"requested","date":"2099-01-01"}"#,
            "date",
        ),
        (
            r#"{"terminal":"pc-a","office":"2222222222","action":"requested","colour":"red"}"#,
            "body",
        ),
        (hold_past.as_str(), "until"),
    ] {
        let (status, json) = post_json(api(), url, Some(TOKEN), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {json}");
        assert_eq!(json["parameter"], field, "{body}: {json}");
    }
    let (status, json) = post_json(api(), url, Some(TOKEN), ok).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["entry"]["state"], "requested");
    assert_eq!(json["entry"]["changed_by"], "api-token");
    let (status, json) = post_json(api(), url, Some(TOKEN), ok).await;
    assert_eq!(status, StatusCode::CONFLICT, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("already requested"),
        "{json}"
    );

    let (status, _, body) = get(
        api(),
        "/api/v1/reports/expiring?include_ok&state=requested,stuck",
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{report}");
    assert_eq!(rows[0]["terminal"]["hostname"], "pc-a");
    assert_eq!(rows[0]["tracking"]["state"], "requested");
    assert_eq!(rows[0]["tracking"]["note"], "certsrv");
    assert_eq!(rows[0]["tracking"]["days_waiting"], 0);
    let (status, _, body) = get(
        api(),
        "/api/v1/reports/expiring?state=finished",
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("\"parameter\":\"state\""));
    // Retired pairs leave the default report and have their own list.
    let retire =
        r#"{"terminal":"pc-b","office":"1111111111","action":"retire","note":"PC scrapped"}"#;
    assert_eq!(
        post_json(api(), url, Some(TOKEN), retire).await.0,
        StatusCode::OK
    );
    let (_, _, body) = get(api(), "/api/v1/reports/expiring?include_ok", Some(TOKEN)).await;
    let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["terminal"]["hostname"] != "pc-b"),
        "{report}"
    );
    let (_, _, body) = get(
        api(),
        "/api/v1/reports/expiring?include_ok&state=retired",
        Some(TOKEN),
    )
    .await;
    let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(report["rows"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["rows"][0]["tracking"]["state"], "retired");
}

/// The Python of the test virtualenv (scripts/test-all.sh installs `icalendar` there).
fn venv_python() -> String {
    let venv = "/var/tmp/certfleet-tools/test-venv/bin/python3";
    if std::path::Path::new(venv).exists() {
        venv.into()
    } else {
        "python3".into()
    }
}

/// The events of an `.ics` as the real `icalendar` parser reads them: (UID, SUMMARY, DTSTART).
fn parse_ics(ics: &[u8]) -> Vec<(String, String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.ics");
    std::fs::write(&file, ics).unwrap();
    let script = r#"
import json, sys, icalendar
cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
assert cal.get('VERSION') == '2.0', cal.get('VERSION')
assert not cal.errors, cal.errors
out = []
for ev in cal.walk('VEVENT'):
    assert not ev.errors, ev.errors
    out.append([str(ev['UID']), str(ev['SUMMARY']), ev.decoded('DTSTART').isoformat()])
print(json.dumps(out))
"#;
    let out = std::process::Command::new(venv_python())
        .args(["-c", script, file.to_str().unwrap()])
        .output()
        .expect("python3 runs (scripts/test-all.sh installs the test venv)");
    assert!(
        out.status.success(),
        "icalendar (pip, in the test venv) must parse the feed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(ics)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A feed is read with its URL token alone (no API token, no session); its events parse with
/// a real iCalendar parser, keep their UIDs from one fetch to the next, and a renewed pair's
/// events disappear. An office feed holds only that office; a revoked or unknown token is 404.
async fn calendar_feeds_by_token_parse_and_follow_renewals(fx: Fixture) {
    fleet_for_front_ends(&fx).await;
    let (token, hash) = certfleet_collector::calendar::new_token();
    fx.store
        .create_calendar_feed(&hash, None, "IT", "alice", as_of())
        .await
        .unwrap();
    let (office_token, office_hash) = certfleet_collector::calendar::new_token();
    fx.store
        .create_calendar_feed(&office_hash, Some("2222222222"), "", "alice", as_of())
        .await
        .unwrap();
    // The API token is configured and the client is remote: the feed's token is enough.
    let api = || state(&fx, Some("api-token-0123456789"), false);
    let path = certfleet_collector::calendar::feed_path(&token);
    let (status, headers, body) = get(api(), &path, None).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "text/calendar; charset=utf-8");
    for line in body.split(|b| *b == b'\n') {
        assert!(line.len() <= 76, "folded at 75 octets + CR");
    }
    let events = parse_ics(&body);
    assert_eq!(
        events.len(),
        6,
        "two events for each of the three pairs: {events:?}"
    );
    assert!(
        events.iter().any(|e| e.0.starts_with("renew-by-")
            && e.1.contains("pc-a")
            && e.1.contains("2222222222")),
        "{events:?}"
    );
    let (_, _, again) = get(api(), &path, None).await;
    let uids = |e: &[(String, String, String)]| e.iter().map(|e| e.0.clone()).collect::<Vec<_>>();
    assert_eq!(uids(&parse_ics(&again)), uids(&events), "stable UIDs");

    let office = parse_ics(
        &get(
            api(),
            &certfleet_collector::calendar::feed_path(&office_token),
            None,
        )
        .await
        .2,
    );
    assert_eq!(office.len(), 2, "{office:?}");
    assert!(office.iter().all(|e| e.1.contains("2222222222")));

    // pc-a renews 2222222222: its events leave the feed.
    let a = fx.store.find_terminal("pc-a").await.unwrap();
    let a = AuthenticatedTerminal {
        id: a.id,
        machine_id: a.machine_id,
        revoked: false,
    };
    report(
        &fx.store,
        &a,
        &[
            (
                ca().three_year_cert_der("1111111111", as_of() - Duration::days(2)),
                Some(true),
            ),
            (
                ca().three_year_cert_der("2222222222", as_of() + Duration::days(20)),
                None,
            ),
            (
                ca().three_year_cert_der("2222222222", as_of() + Duration::days(1095)),
                Some(true),
            ),
        ],
        as_of(),
    )
    .await;
    let after = parse_ics(&get(api(), &path, None).await.2);
    assert_eq!(after.len(), 4, "{after:?}");
    assert!(
        after.iter().all(|e| !e.1.contains("2222222222")),
        "{after:?}"
    );

    let feeds = fx.store.calendar_feeds().await.unwrap();
    fx.store
        .revoke_calendar_feed(feeds[0].id, as_of())
        .await
        .unwrap();
    assert_eq!(get(api(), &path, None).await.0, StatusCode::NOT_FOUND);
    let unknown = certfleet_collector::calendar::feed_path(&"0".repeat(64));
    assert_eq!(get(api(), &unknown, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        get(api(), "/calendar/short.ics", None).await.0,
        StatusCode::NOT_FOUND
    );
}
