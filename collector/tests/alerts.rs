//! Alert behaviour end to end through the library: real certificates ingested through the
//! validation path, real report code, a real HTTP webhook receiver and a real SMTP server
//! process (aiosmtpd), on SQLite and PostgreSQL.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use certfleet_alerts::{self as alerts, AlertSettings, Channels};
use certfleet_certinfo::{OfficeRule, Selector};
use certfleet_collector::ingest::validate_report;
use certfleet_collector::registry;
use certfleet_config::{Limits, ReportSettings};
use certfleet_proto::v1 as pb;
use certfleet_store::{self as store, AuthenticatedTerminal, SharedStore, TerminalFacts};
use certfleet_testsupport::{PgCluster, TestCa};
use chrono::{DateTime, Duration, Utc};

struct Fixture {
    store: SharedStore,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(None, dir.path(), 4).await.unwrap();
    Fixture {
        store,
        _dir: Some(dir),
    }
}

async fn postgres() -> Fixture {
    let url = PgCluster::shared().fresh_database().await;
    Fixture {
        store: store::open(Some(&url), std::path::Path::new("."), 4)
            .await
            .unwrap(),
        _dir: None,
    }
}

certfleet_testsupport::both_backends!(
    sqlite: sqlite,
    postgres: postgres;
    stale_and_uncovered_alert_once_per_episode,
    thresholds_step_day_by_day_once_each,
    renewal_stops_alerts,
    failing_webhook_is_retried_and_delivered_once,
    webhook_url_never_reaches_the_delivery_record,
    digest_over_real_smtp_routes_to_office_owner
);

/// The default office-number rule (`[selection] office_pattern`).
fn office_rule() -> OfficeRule {
    Selector::default().office_rule().clone()
}

async fn enroll(store: &SharedStore, machine: &str) -> AuthenticatedTerminal {
    let facts = TerminalFacts {
        machine_id: machine.into(),
        hostname: format!("pc-{machine}"),
        os_name: "windows".into(),
        os_version: "10".into(),
        agent_version: "test".into(),
    };
    let id = store
        .enroll(
            &facts,
            &format!("hash-{machine}"),
            store::EnrollAuthority::Agent {
                presented_key_hash: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    AuthenticatedTerminal {
        id,
        machine_id: machine.into(),
        revoked: false,
    }
}

/// Reports `ders` for `terminal` scanned at `at`, through the same validation as gRPC.
async fn report(
    store: &SharedStore,
    terminal: &AuthenticatedTerminal,
    ders: &[Vec<u8>],
    at: DateTime<Utc>,
) {
    let req = pb::ReportRequest {
        report_id: uuid::Uuid::new_v4().to_string(),
        terminal: Some(pb::TerminalFacts {
            machine_id: terminal.machine_id.clone(),
            hostname: format!("pc-{}", terminal.machine_id),
            ..Default::default()
        }),
        scanned_at: Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: 0,
        }),
        certificates: ders
            .iter()
            .map(|d| pb::ReportedCertificate {
                der: d.clone(),
                has_private_key: Some(true),
                ..Default::default()
            })
            .collect(),
        errors: vec![],
    };
    let v = validate_report(req, terminal, &Selector::default(), &Limits::default(), at).unwrap();
    store.ingest(terminal.id, &v.snapshot).await.unwrap();
}

/// A real HTTP webhook receiver that fails its first `fail_first` requests with 500.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    requests: Arc<Mutex<u32>>,
    fail_first: u32,
}

async fn hook(State(r): State<Receiver>, body: axum::Json<serde_json::Value>) -> StatusCode {
    let n = {
        let mut req = r.requests.lock().unwrap();
        *req += 1;
        *req
    };
    if n <= r.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.bodies.lock().unwrap().push(body.0);
    StatusCode::OK
}

async fn receiver(fail_first: u32) -> (Receiver, SocketAddr) {
    let r = Receiver {
        fail_first,
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(r.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, addr)
}

fn webhook_settings(addr: SocketAddr) -> AlertSettings {
    let section: certfleet_config::AlertsSection = toml::from_str(&format!(
        "[[webhooks]]\nname = \"it\"\nurl = \"http://{addr}/hook\"\n"
    ))
    .unwrap();
    AlertSettings::resolve(&section, chrono_tz::Asia::Tokyo).unwrap()
}

/// 00:00 JST on 2026-10-01: the base of the day-stepping tests.
fn t0() -> DateTime<Utc> {
    "2026-09-30T15:00:00Z".parse().unwrap()
}

/// Steps daily at 09:00 JST from `t0` for `days` days; on each day first calls `each_day`, then
/// runs the alerts. Returns (day, threshold, hostname) of every decided alert.
async fn step<F, Fut>(
    store: &SharedStore,
    settings: &AlertSettings,
    days: i64,
    mut each_day: F,
) -> Vec<(i64, String, String)>
where
    F: FnMut(i64, DateTime<Utc>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let channels = Channels::new(settings.smtp.as_ref(), &settings.webhooks).unwrap();
    let rs = ReportSettings::default();
    let mut out = Vec::new();
    for day in 0..=days {
        let as_of = t0() + Duration::days(day) + Duration::hours(9);
        each_day(day, as_of).await;
        let inputs = alerts::gather_inputs(store.as_ref(), &rs, settings, as_of)
            .await
            .unwrap();
        let summary = alerts::run_once(store.as_ref(), &inputs, settings, &channels, as_of, false)
            .await
            .unwrap();
        assert!(summary.leader);
        for (key, threshold) in summary.decided {
            let host = inputs
                .pairs
                .iter()
                .find(|p| key.contains(&p.certificate.sha256))
                .map(|p| p.terminal.hostname.clone())
                .unwrap_or_default();
            out.push((day, threshold, host));
        }
    }
    out
}

async fn thresholds_step_day_by_day_once_each(fx: Fixture) {
    let (rx, addr) = receiver(0).await;
    let settings = webhook_settings(addr);
    let ca = TestCa::kanagawa();
    let not_after = t0() + Duration::days(70);
    let cert_a = ca.office_cert_der("1111111111", t0() - Duration::days(1000), not_after);
    let cert_b = ca.office_cert_der("2222222222", t0() - Duration::days(1000), not_after);
    let a = enroll(&fx.store, "a").await;
    let b_cell: Arc<tokio::sync::Mutex<Option<AuthenticatedTerminal>>> = Arc::default();
    let store = fx.store.clone();
    let decided = step(&fx.store, &settings, 72, |day, as_of| {
        let (store, a, cert_a, cert_b, b_cell) = (
            store.clone(),
            a.clone(),
            cert_a.clone(),
            cert_b.clone(),
            b_cell.clone(),
        );
        async move {
            // Terminals report daily (so they are never stale); terminal b first appears
            // 5 days before expiry.
            report(&store, &a, &[cert_a], as_of).await;
            if day >= 65 {
                let mut b = b_cell.lock().await;
                if b.is_none() {
                    *b = Some(enroll(&store, "b").await);
                }
                report(&store, b.as_ref().unwrap(), &[cert_b], as_of).await;
            }
        }
    })
    .await;
    let for_a: Vec<(i64, &str)> = decided
        .iter()
        .filter(|d| d.2 == "pc-a")
        .map(|d| (d.0, d.1.as_str()))
        .collect();
    assert_eq!(
        for_a,
        vec![
            (10, "60d"),
            (40, "30d"),
            (56, "14d"),
            (63, "7d"),
            (67, "3d"),
            (69, "1d"),
            (70, "expired")
        ],
        "each threshold once, in order: {decided:?}"
    );
    let for_b: Vec<(i64, &str)> = decided
        .iter()
        .filter(|d| d.2 == "pc-b")
        .map(|d| (d.0, d.1.as_str()))
        .collect();
    assert_eq!(
        for_b,
        vec![(65, "7d"), (67, "3d"), (69, "1d"), (70, "expired")],
        "first seen 5 days before: nearest only"
    );
    // One digest per run with alerts, each delivered once.
    let bodies = rx.bodies.lock().unwrap().clone();
    let runs_with_alerts: std::collections::BTreeSet<i64> = decided.iter().map(|d| d.0).collect();
    assert_eq!(bodies.len(), runs_with_alerts.len());
    let history = fx.store.alert_history(1000).await.unwrap();
    assert_eq!(history.len(), decided.len());
    assert!(
        history.iter().all(|h| h.state == "sent" && h.attempts == 1),
        "{history:?}"
    );
}

async fn renewal_stops_alerts(fx: Fixture) {
    let (_rx, addr) = receiver(0).await;
    let settings = webhook_settings(addr);
    let ca = TestCa::kanagawa();
    let old = ca.office_cert_der(
        "1111111111",
        t0() - Duration::days(1000),
        t0() + Duration::days(70),
    );
    let new = ca.office_cert_der(
        "1111111111",
        t0() + Duration::days(44),
        t0() + Duration::days(44 + 1095),
    );
    let a = enroll(&fx.store, "a").await;
    let store = fx.store.clone();
    let decided = step(&fx.store, &settings, 72, |day, as_of| {
        let (store, a, old, new) = (store.clone(), a.clone(), old.clone(), new.clone());
        async move {
            // Renewed on day 45: old and new coexist until the old one expires (manual).
            let certs = if day >= 45 { vec![old, new] } else { vec![old] };
            report(&store, &a, &certs, as_of).await;
        }
    })
    .await;
    let got: Vec<(i64, &str)> = decided.iter().map(|d| (d.0, d.1.as_str())).collect();
    assert_eq!(
        got,
        vec![(10, "60d"), (40, "30d")],
        "the superseded certificate never alerts"
    );
}

async fn failing_webhook_is_retried_and_delivered_once(fx: Fixture) {
    let (rx, addr) = receiver(2).await;
    let settings = webhook_settings(addr);
    let channels = Channels::new(None, &settings.webhooks).unwrap();
    let ca = TestCa::kanagawa();
    let now: DateTime<Utc> = "2026-11-26T00:00:00Z".parse().unwrap();
    let a = enroll(&fx.store, "a").await;
    report(
        &fx.store,
        &a,
        &[ca.office_cert_der(
            "1111111111",
            now - Duration::days(1000),
            now + Duration::days(5),
        )],
        now,
    )
    .await;
    let rs = ReportSettings::default();
    let mut runs = Vec::new();
    // Runs at +0, +1 min (not yet due), +11 min (retry 1), +40 min (retry 2 succeeds), +2 h.
    for minutes in [0, 1, 11, 40, 120] {
        let as_of = now + Duration::minutes(minutes);
        let inputs = alerts::gather_inputs(fx.store.as_ref(), &rs, &settings, as_of)
            .await
            .unwrap();
        let s = alerts::run_once(
            fx.store.as_ref(),
            &inputs,
            &settings,
            &channels,
            as_of,
            false,
        )
        .await
        .unwrap();
        runs.push((minutes, s.decided.len(), s.delivered.len(), s.failed.len()));
    }
    assert_eq!(
        runs,
        vec![
            (0, 1, 0, 1),
            (1, 0, 0, 0),
            (11, 0, 0, 1),
            (40, 0, 1, 0),
            (120, 0, 0, 0)
        ]
    );
    assert_eq!(*rx.requests.lock().unwrap(), 3);
    let bodies = rx.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "delivered exactly once");
    assert_eq!(bodies[0]["alerts"][0]["threshold"], "7d");
    let h = fx.store.alert_history(10).await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].state.as_str(), h[0].attempts), ("sent", 3));
}

/// A Slack-style webhook URL is a credential: a failed delivery's stored error, the run summary
/// and the history (what the CLI and the dashboard show) name the webhook, never its URL.
async fn webhook_url_never_reaches_the_delivery_record(fx: Fixture) {
    // Port 1 on loopback refuses the connection at once.
    let section: certfleet_config::AlertsSection = toml::from_str(
        "[[webhooks]]\nname = \"chat\"\nurl = \"http://127.0.0.1:1/services/T0/B0/SECRETPATH\"\nformat = \"slack\"\n",
    )
    .unwrap();
    let settings = AlertSettings::resolve(&section, chrono_tz::Asia::Tokyo).unwrap();
    let channels = Channels::new(None, &settings.webhooks).unwrap();
    let now: DateTime<Utc> = "2026-11-26T00:00:00Z".parse().unwrap();
    let a = enroll(&fx.store, "a").await;
    let der = TestCa::kanagawa().office_cert_der(
        "1111111111",
        now - Duration::days(1000),
        now + Duration::days(5),
    );
    report(&fx.store, &a, &[der], now).await;
    let inputs = alerts::gather_inputs(
        fx.store.as_ref(),
        &ReportSettings::default(),
        &settings,
        now,
    )
    .await
    .unwrap();
    let summary = alerts::run_once(fx.store.as_ref(), &inputs, &settings, &channels, now, false)
        .await
        .unwrap();
    assert_eq!(summary.failed.len(), 1, "{summary:?}");
    let history = fx.store.alert_history(10).await.unwrap();
    let stored = history[0].last_error.clone().unwrap_or_default();
    for text in [&summary.failed[0].1, &stored] {
        assert!(text.starts_with("webhook chat failed"), "{text}");
        assert!(
            !text.contains("SECRETPATH") && !text.contains("127.0.0.1:1"),
            "the URL leaked: {text}"
        );
    }
}

/// A real SMTP server: aiosmtpd writing every message to a Maildir.
struct SmtpSink {
    child: std::process::Child,
    port: u16,
    mbox: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> String {
    // scripts/test-all.sh installs aiosmtpd into this virtualenv.
    let venv = "/var/tmp/certfleet-tools/test-venv/bin/python3";
    if std::path::Path::new(venv).exists() {
        venv.into()
    } else {
        "python3".into()
    }
}

fn smtp_sink() -> SmtpSink {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("maildir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(python())
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(&mbox)
        .spawn()
        .expect("start aiosmtpd (pip install aiosmtpd; scripts/test-all.sh does)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return SmtpSink {
                child,
                port,
                mbox,
                _dir: dir,
            };
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("aiosmtpd did not start listening on {port}; is the aiosmtpd module installed?");
}

/// Parses the Maildir with Python's mailbox and email packages: [(to, decoded subject, raw subject, body)].
fn read_mbox(path: &std::path::Path) -> Vec<(String, String, String, String)> {
    let script = r#"
import json, mailbox, sys
from email.header import decode_header, make_header
out = []
for m in mailbox.Maildir(sys.argv[1], factory=None):
    raw = m['Subject']
    body = m.get_payload(decode=True).decode(m.get_content_charset() or 'utf-8')
    out.append([m['To'], str(make_header(decode_header(raw))), raw, body])
print(json.dumps(out))
"#;
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn digest_over_real_smtp_routes_to_office_owner(fx: Fixture) {
    let sink = smtp_sink();
    let section: certfleet_config::AlertsSection = toml::from_str(&format!(
        "default_recipients = [\"it@example.jp\"]\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"certfleet <certfleet@example.jp>\"\n",
        sink.port
    ))
    .unwrap();
    let settings = AlertSettings::resolve(&section, chrono_tz::Asia::Tokyo).unwrap();
    let channels = Channels::new(settings.smtp.as_ref(), &settings.webhooks).unwrap();
    let rule = office_rule();
    let now: DateTime<Utc> = "2026-11-26T00:00:00Z".parse().unwrap();
    registry::import(
        fx.store.as_ref(),
        "1111111111,横浜第一事業所,横浜,yokohama@example.jp\n2222222222,川崎事業所,川崎,kawasaki@example.jp\n",
        &rule,
        now,
    )
    .await
    .unwrap();
    let ca = TestCa::kanagawa();
    let a = enroll(&fx.store, "a").await;
    let b = enroll(&fx.store, "b").await;
    report(
        &fx.store,
        &a,
        &[ca.office_cert_der(
            "1111111111",
            now - Duration::days(1000),
            now + Duration::days(20),
        )],
        now,
    )
    .await;
    report(
        &fx.store,
        &b,
        &[ca.office_cert_der(
            "2222222222",
            now - Duration::days(1000),
            now + Duration::days(200),
        )],
        now,
    )
    .await;
    let inputs = alerts::gather_inputs(
        fx.store.as_ref(),
        &ReportSettings::default(),
        &settings,
        now,
    )
    .await
    .unwrap();
    let s = alerts::run_once(fx.store.as_ref(), &inputs, &settings, &channels, now, false)
        .await
        .unwrap();
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let mut mails = read_mbox(&sink.mbox);
    mails.sort();
    let to: Vec<&str> = mails.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(
        to,
        vec!["it@example.jp", "yokohama@example.jp"],
        "owner of 1111111111 and the default recipient; not kawasaki (nothing due)"
    );
    for (_, subject, raw, body) in &mails {
        assert!(
            subject.starts_with("【certfleet】クライアント証明書の期限通知"),
            "{subject}"
        );
        assert!(
            raw.contains("=?utf-8?"),
            "Japanese subject is RFC 2047 encoded: {raw}"
        );
        assert!(
            body.contains("事業所番号 1111111111（横浜第一事業所）"),
            "{body}"
        );
        assert!(body.contains("端末 pc-a"), "{body}");
        assert!(body.contains("有効期限 2026/12/16"), "{body}");
        assert!(body.contains("/certsrv/"), "renewal steps included");
    }
}

async fn stale_and_uncovered_alert_once_per_episode(fx: Fixture) {
    let (_rx, addr) = receiver(0).await;
    let settings = webhook_settings(addr);
    let rule = office_rule();
    registry::import(
        fx.store.as_ref(),
        "3333333333,港北事業所,横浜,kohoku@example.jp\n",
        &rule,
        t0(),
    )
    .await
    .unwrap();
    let ca = TestCa::kanagawa();
    let cert = ca.office_cert_der(
        "1111111111",
        t0() - Duration::days(10),
        t0() + Duration::days(900),
    );
    let a = enroll(&fx.store, "a").await;
    let store = fx.store.clone();
    // Terminal a reports on days 0 and 12 only: stale from day 8 (7 days), fresh again on day
    // 12, stale again from day 20 — two episodes.
    let decided = step(&fx.store, &settings, 22, |day, as_of| {
        let (store, a, cert) = (store.clone(), a.clone(), cert.clone());
        async move {
            if day == 0 || day == 12 {
                report(&store, &a, &[cert], as_of).await;
            }
        }
    })
    .await;
    let got: Vec<(i64, &str)> = decided.iter().map(|d| (d.0, d.1.as_str())).collect();
    assert_eq!(
        got,
        vec![(0, "uncovered"), (8, "stale"), (20, "stale")],
        "{decided:?}"
    );
}
