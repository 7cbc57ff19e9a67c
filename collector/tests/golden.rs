//! Golden files of the collector's public formats, over one deterministic fleet at a fixed
//! `as_of`: every `/api/v1/reports/{kind}` (JSON, and CSV for two kinds) on both backends, and
//! the alert webhook payloads (json, slack, teams). The files are in `tests/golden/`; a change
//! to a format is a visible diff there. `CERTFLEET_BLESS=1 cargo test -p certfleet-collector
//! --test golden` rewrites them (ARCHITECTURE.md, "Testing layout").
//!
//! The certificates come from [`TestCa::deterministic`] (Ed25519, numbered serials), so their
//! fingerprints and serials are the same on every run; terminal ids follow enrollment order.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::routing::post;
use certfleet_alerts::{self as alerts, AlertSettings, Channels};
use certfleet_certinfo::Selector;
use certfleet_collector::http::{self, HttpState};
use certfleet_collector::ingest::validate_report;
use certfleet_collector::metrics::Metrics;
use certfleet_collector::registry;
use certfleet_config::{Limits, ReportSettings};
use certfleet_proto::v1 as pb;
use certfleet_store::tracking::{TrackingAction, TrackingChange};
use certfleet_store::{self as store, AuthenticatedTerminal, SharedStore, TerminalFacts};
use certfleet_testsupport::{PgCluster, TestCa, assert_golden, pretty_json};
use chrono::{DateTime, Duration, Utc};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

struct Fixture {
    store: SharedStore,
    _dir: tempfile::TempDir,
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(None, dir.path(), 4).await.unwrap();
    Fixture { store, _dir: dir }
}

async fn postgres() -> Fixture {
    let url = PgCluster::shared().fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(Some(&url), dir.path(), 4).await.unwrap();
    Fixture { store, _dir: dir }
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// 2026-11-26 09:00 JST.
fn as_of() -> DateTime<Utc> {
    t("2026-11-26T00:00:00Z")
}

/// The office registry: Japanese names, a name with a quote and a comma (CSV quoting), an owner
/// e-mail, and 1410000019, which no terminal holds (uncovered).
const REGISTRY: &str = "事業所番号,事業所名,拠点,担当者メール
1410000011,さくら訪問介護事業所,横浜市中区,sakura@example.jp
1410000012,みなと居宅介護支援事業所,横浜市西区,
1410000013,\"あおば\"\"通所\"\"介護, 本館\",横浜市青葉区,aoba@example.jp
1410000014,かわさき障害者支援センター,川崎市川崎区,
1410000015,ひまわりグループホーム,相模原市中央区,himawari@example.jp,3
1410000016,こすぎ就労支援事業所,川崎市中原区,
1410000017,ふじさわ訪問看護,藤沢市,
1410000018,よこすか短期入所,横須賀市,
1410000019,おだわら相談支援事業所,小田原市,odawara@example.jp
";

async fn enroll(store: &SharedStore, hostname: &str) -> AuthenticatedTerminal {
    let facts = TerminalFacts {
        machine_id: format!("machine-{hostname}"),
        hostname: hostname.into(),
        os_name: "Windows".into(),
        os_version: "10.0.19045".into(),
        agent_version: "0.1.0".into(),
    };
    let id = store
        .enroll(
            &facts,
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
        machine_id: facts.machine_id,
        revoked: false,
    }
}

/// Reports `certs` (DER, key flag) for `terminal`, received at `at`, through the gRPC
/// validation path.
async fn report(
    store: &SharedStore,
    terminal: &AuthenticatedTerminal,
    report_id: &str,
    certs: &[(Vec<u8>, Option<bool>)],
    at: DateTime<Utc>,
) {
    report_as(store, terminal, report_id, certs, at, "0.1.0").await;
}

/// [`report`] from an agent of `agent_version`.
async fn report_as(
    store: &SharedStore,
    terminal: &AuthenticatedTerminal,
    report_id: &str,
    certs: &[(Vec<u8>, Option<bool>)],
    at: DateTime<Utc>,
    agent_version: &str,
) {
    let req = pb::ReportRequest {
        report_id: report_id.into(),
        terminal: Some(pb::TerminalFacts {
            machine_id: terminal.machine_id.clone(),
            hostname: terminal.machine_id.trim_start_matches("machine-").into(),
            os_name: "Windows".into(),
            os_version: "10.0.19045".into(),
            agent_version: agent_version.into(),
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
                friendly_name: "国保連 電子証明書".into(),
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

/// The fixture fleet: expired, renewed (superseded), renew-now, three offices on one PC, a
/// certificate without its private key, a foreign issuer, a stale PC, a PC that never reported,
/// a revoked PC, a hostname that looks like a spreadsheet formula, and an uncovered office.
async fn fleet(store: &SharedStore) {
    let kanagawa = TestCa::deterministic("KANAGAWA KOKUHOREN CA", 1);
    let foreign = TestCa::deterministic("EXAMPLE CORP CLIENT CA", 2);
    // Expiry at 03:00 UTC (noon in Tokyo) `days` days after as_of; issued three years before.
    let cert = |ca: &TestCa, office: &str, days: i64| {
        ca.three_year_cert_der(office, as_of() + Duration::days(days) + Duration::hours(3))
    };
    let received = as_of() - Duration::hours(1);
    registry::import(
        store.as_ref(),
        REGISTRY,
        Selector::default().office_rule(),
        received,
    )
    .await
    .unwrap();

    let pc = enroll(store, "jimu-pc01").await;
    let certs = [
        (cert(&kanagawa, "1410000011", -10), Some(true)),
        (cert(&kanagawa, "1410000012", 700), Some(true)),
    ];
    report(store, &pc, "r-jimu-pc01", &certs, received).await;

    let pc = enroll(store, "jimu-pc02").await;
    let certs = [
        (cert(&kanagawa, "1410000013", 6), Some(true)),
        (cert(&kanagawa, "1410000013", 1090), Some(true)),
    ];
    report(store, &pc, "r-jimu-pc02", &certs, received).await;

    let pc = enroll(store, "kaigo-pc01").await;
    let certs = [(cert(&kanagawa, "1410000014", 12), Some(true))];
    report(store, &pc, "r-kaigo-pc01", &certs, received).await;

    let pc = enroll(store, "honbu-pc01").await;
    let certs = [
        (cert(&kanagawa, "1410000015", 25), Some(true)),
        (cert(&kanagawa, "1410000016", 55), Some(true)),
        (cert(&kanagawa, "1410000017", 400), Some(true)),
    ];
    report(store, &pc, "r-honbu-pc01", &certs, received).await;

    let pc = enroll(store, "kaigo-pc02").await;
    let certs = [
        (cert(&kanagawa, "1410000016", 40), Some(false)),
        (cert(&foreign, "9999999999", 20), Some(true)),
    ];
    report(store, &pc, "r-kaigo-pc02", &certs, received).await;

    let pc = enroll(store, "houmon-pc01").await;
    let certs = [(cert(&kanagawa, "1410000018", 45), Some(true))];
    report(
        store,
        &pc,
        "r-houmon-pc01",
        &certs,
        as_of() - Duration::days(10),
    )
    .await;

    // A leading `-` exercises the CSV formula guard with a valid hostname (`=` is not one).
    let pc = enroll(store, "-calc-pc").await;
    let certs = [(cert(&kanagawa, "1410000015", 28), None)];
    report(store, &pc, "r-calc-pc", &certs, received).await;

    enroll(store, "never-pc").await;

    let pc = enroll(store, "revoked-pc").await;
    let certs = [(cert(&kanagawa, "1410000011", 5), Some(true))];
    report(store, &pc, "r-revoked-pc", &certs, received).await;
    let revoked = store.find_terminal("revoked-pc").await.unwrap();
    store.revoke_terminal(revoked.id, received).await.unwrap();

    // Renewal tracking (issue 17 §1): a request 8 days old (stuck), a fresh one, a hold and a
    // retired pair.
    let today = received.with_timezone(&chrono_tz::Asia::Tokyo).date_naive();
    for (host, office, action) in [
        (
            "kaigo-pc01",
            "1410000014",
            TrackingAction::Requested {
                on: today - Duration::days(8),
                note: "certsrv 申請済み".into(),
            },
        ),
        (
            "jimu-pc02",
            "1410000013",
            TrackingAction::Reissue {
                on: today - Duration::days(2),
                note: "password lost".into(),
            },
        ),
        (
            "honbu-pc01",
            "1410000015",
            TrackingAction::Hold {
                until: today + Duration::days(20),
                reason: "事業所改装中".into(),
            },
        ),
        (
            "kaigo-pc02",
            "1410000016",
            TrackingAction::Retire {
                note: "PC 廃棄".into(),
            },
        ),
    ] {
        let terminal = store.find_terminal(host).await.unwrap();
        store
            .change_tracking(&TrackingChange {
                terminal_id: terminal.id,
                office_number: office.into(),
                action,
                who: "operator".into(),
                now: received,
                today,
            })
            .await
            .unwrap();
    }
}

async fn api(store: &SharedStore, uri: &str) -> String {
    let state = HttpState::with_reports(
        store.clone(),
        Arc::new(Metrics::default()),
        certfleet_dashboard::Access::default(),
        ReportSettings::default(),
    );
    // A direct local client of a collector with nothing configured: the API is open to it.
    let mut request = Request::get(uri).body(Body::empty()).unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo::<std::net::SocketAddr>(
            "127.0.0.1:40000".parse().unwrap(),
        ));
    let response = http::router(state).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(status, StatusCode::OK, "{uri}: {text}");
    text
}

/// Every report the API serves, as its exact bytes.
const REPORTS: &[(&str, &str)] = &[
    ("expiring.json", "expiring"),
    ("expiring-include-ok.json", "expiring?include_ok=true"),
    ("expiring-within-30.json", "expiring?within=30"),
    ("terminals.json", "terminals"),
    ("offices.json", "offices"),
    ("multi-office.json", "multi-office"),
    ("stale.json", "stale"),
    ("expiring.csv", "expiring?format=csv"),
    ("offices.csv", "offices?format=csv"),
];

async fn report_api(fx: Fixture) {
    fleet(&fx.store).await;
    for (file, query) in REPORTS {
        let sep = if query.contains('?') { '&' } else { '?' };
        let uri = format!("/api/v1/reports/{query}{sep}as_of=2026-11-26T00:00:00Z");
        let body = api(&fx.store, &uri).await;
        assert_golden(&golden(&format!("reports/{file}")), &body);
    }
}

certfleet_testsupport::both_backends!(sqlite: sqlite, postgres: postgres; report_api, coverage_api);

/// The expected-terminal list of the coverage golden files: a case-different hostname
/// (JIMU-PC01, with an expired office), a machine id that wins over a different hostname
/// (kaigo-pc01 renamed), a missing office (1410000019 on honbu-pc01), a PC enrolled that never
/// reported, one never enrolled and one revoked (both never reported); kaigo-pc02,
/// houmon-pc01, -calc-pc and old-agent-pc report without being on the list.
const EXPECTED_LIST: &str = "\u{feff}hostname,machine_id,offices\r
JIMU-PC01,,1410000011;1410000012\r
jimu-pc02,machine-jimu-pc02,1410000013\r
honbu-pc01,,\"1410000015 1410000019\"\r
never-pc,,1410000011\r
ghost-pc,,1410000011\r
renamed-pc,machine-kaigo-pc01,1410000014\r
revoked-pc,,1410000011\r
";

/// A POST of `body` as `content_type` to the API as a direct local client: status and body.
async fn api_post(
    store: &SharedStore,
    uri: &str,
    content_type: &str,
    body: &str,
) -> (StatusCode, String) {
    let state = HttpState::with_reports(
        store.clone(),
        Arc::new(Metrics::default()),
        certfleet_dashboard::Access::default(),
        ReportSettings::default(),
    );
    let mut request = Request::post(uri)
        .header("content-type", content_type)
        .body(Body::from(body.to_owned()))
        .unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo::<std::net::SocketAddr>(
            "127.0.0.1:40000".parse().unwrap(),
        ));
    let response = http::router(state).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// `report coverage` through the API after the list is imported through the API: JSON and
/// CSV golden files; a bad upload is refused with its line and field, and the list stays.
async fn coverage_api(fx: Fixture) {
    fleet(&fx.store).await;
    let old = {
        let kanagawa = TestCa::deterministic("KANAGAWA KOKUHOREN CA", 1);
        let der = kanagawa.three_year_cert_der("1410000018", as_of() + Duration::days(300));
        let pc = enroll(&fx.store, "old-agent-pc").await;
        report_as(
            &fx.store,
            &pc,
            "r-old-agent-pc",
            &[(der, Some(true))],
            as_of() - Duration::hours(1),
            "0.0.9",
        )
        .await;
        pc
    };
    assert!(old.id > 0);
    let (status, body) = api_post(
        &fx.store,
        "/api/v1/coverage/expected",
        "text/csv; charset=utf-8",
        EXPECTED_LIST,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, r#"{"imported":7}"#);

    // Hostile and malformed rows: refused as a whole, each named by line and field, the
    // markup only ever inside a JSON string; the imported list stays.
    let bad = "hostname,machine_id,offices\n<script>alert(1)</script>,,1410000011\nok-pc,,12345\nOK-PC2,,\nok-pc2,,\n";
    let (status, body) = api_post(&fx.store, "/api/v1/coverage/expected", "text/csv", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rows: Vec<&str> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows[0].starts_with("line 2: hostname: \"<script>"),
        "{rows:?}"
    );
    assert!(rows[1].starts_with("line 3: offices: "), "{rows:?}");
    assert!(
        rows[2].starts_with("line 5: hostname: ok-pc2 already appears on line 4"),
        "{rows:?}"
    );
    let (status, _) = api_post(
        &fx.store,
        "/api/v1/coverage/expected",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(fx.store.expected_terminals().await.unwrap().0.len(), 7);
    // The same list again with a fixed import time, so the golden files do not move.
    certfleet_collector::coverage::import(
        fx.store.as_ref(),
        EXPECTED_LIST,
        Selector::default().office_rule(),
        as_of() - Duration::hours(2),
    )
    .await
    .unwrap();

    for (file, query) in [
        ("coverage.json", "coverage"),
        ("coverage.csv", "coverage?format=csv"),
    ] {
        let sep = if query.contains('?') { '&' } else { '?' };
        let uri = format!("/api/v1/reports/{query}{sep}as_of=2026-11-26T00:00:00Z");
        let body = api(&fx.store, &uri).await;
        assert_golden(&golden(&format!("reports/{file}")), &body);
    }
}

/// A webhook receiver that keeps each request's body bytes by path.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<(String, Bytes)>>>,
}

async fn hook(State(r): State<Receiver>, Path(name): Path<String>, body: Bytes) -> StatusCode {
    r.bodies.lock().unwrap().push((name, body));
    StatusCode::OK
}

async fn receiver() -> (Receiver, SocketAddr) {
    let r = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/{name}", post(hook))
        .with_state(r.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, addr)
}

/// The digests of one alert run over the fixture fleet, as each webhook format received them.
async fn webhook_payloads(language: &str, formats: &[&str]) -> Vec<(String, Bytes)> {
    let fx = sqlite().await;
    fleet(&fx.store).await;
    let (rx, addr) = receiver().await;
    let mut toml_text = format!("language = \"{language}\"\n");
    for format in formats {
        toml_text.push_str(&format!(
            "[[webhooks]]\nname = \"{format}\"\nurl = \"http://{addr}/{format}\"\nformat = \"{format}\"\n"
        ));
    }
    let section: certfleet_config::AlertsSection = toml::from_str(&toml_text).unwrap();
    let settings = AlertSettings::resolve(&section, chrono_tz::Asia::Tokyo).unwrap();
    let channels = Channels::new(settings.smtp.as_ref(), &settings.webhooks).unwrap();
    let reports = ReportSettings::default();
    let inputs = alerts::gather_inputs(fx.store.as_ref(), &reports, &settings, as_of())
        .await
        .unwrap();
    let summary = alerts::run_once(
        fx.store.as_ref(),
        &inputs,
        &settings,
        &channels,
        as_of(),
        false,
    )
    .await
    .unwrap();
    assert!(summary.failed.is_empty(), "{summary:?}");
    let mut bodies = rx.bodies.lock().unwrap().clone();
    bodies.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(bodies.len(), formats.len(), "one digest per webhook");
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_payloads_in_japanese() {
    for (format, body) in webhook_payloads("ja", &["json", "slack", "teams"]).await {
        let text = std::str::from_utf8(&body).unwrap();
        assert_golden(
            &golden(&format!("webhooks/{format}.ja.json")),
            &pretty_json(text),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_payloads_in_english() {
    for (format, body) in webhook_payloads("en", &["json"]).await {
        let text = std::str::from_utf8(&body).unwrap();
        assert_golden(
            &golden(&format!("webhooks/{format}.en.json")),
            &pretty_json(text),
        );
    }
}
