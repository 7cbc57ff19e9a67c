//! `certfleet-demo` (also run as `certfleet-collector demo`): a complete certfleet in one
//! command. In a temporary directory it
//! creates the collector's files, a test `KANAGAWA KOKUHOREN CA` and a realistic fleet (12
//! terminals, 8 offices: renewed pairs, expired, due within 14/30/60 days, a terminal with three
//! offices, a stale terminal, a certificate without its private key, a foreign issuer), runs real
//! agents against a real collector over gRPC+TLS on loopback, prints the expiring report and
//! serves the dashboard until Ctrl-C. Nothing outside the temporary directory is touched.
//!
//! Its own crate because it links both sides: the agent library (real scans and deliveries)
//! and the collector's. The production `certfleet-collector` links no agent code.
#![forbid(unsafe_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use certfleet_agent::element::{ElementSpec, serialize_element};
use certfleet_agent::report::{FactOverrides, ReportSettings as AgentSettings, deliver};
use certfleet_agent::{ScanConfig, scan};
use certfleet_collector::tracking::{self, TrackingRequest};
use certfleet_collector::{calendar, coverage, ingest, init, registry, server};
use certfleet_config::{FileConfig, Overrides, Settings};
use certfleet_proto::v1 as pb;
use certfleet_reports::{self as reports, ReportKind, ReportParams};
use certfleet_store::{self as store, SharedStore};
use certfleet_testsupport::TestCa;
use chrono::{DateTime, Duration, Utc};

/// Options of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where to put everything; a fresh temporary directory when `None`.
    pub dir: Option<PathBuf>,
    /// HTTP listener of the dashboard (it asks for the printed login).
    pub http_listen: SocketAddr,
}

/// One certificate of the generated fleet.
struct DemoCert {
    office: &'static str,
    days_left: i64,
    /// Issued `valid_days` before expiry (3 years for the federation's certificates).
    foreign: bool,
    /// Stored in a Windows profile store element without KEY_PROV_INFO (no private key).
    no_private_key: bool,
}

const fn office(office: &'static str, days_left: i64) -> DemoCert {
    DemoCert {
        office,
        days_left,
        foreign: false,
        no_private_key: false,
    }
}

struct DemoTerminal {
    hostname: &'static str,
    certs: Vec<DemoCert>,
    /// Its only report is 10 days old, so it shows as stale.
    stale: bool,
}

/// The office registry of the demo (office number, name, site, owner e-mail). The last office
/// has no certificate anywhere: it shows as uncovered.
const REGISTRY: &str = "事業所番号,事業所名,拠点,担当者メール
1410000011,さくら訪問介護事業所,横浜市中区,sakura@example.jp
1410000012,みなと居宅介護支援事業所,横浜市西区,minato@example.jp
1410000013,あおば通所介護,横浜市青葉区,aoba@example.jp
1410000014,かわさき障害者支援センター,川崎市川崎区,kawasaki@example.jp
1410000015,ひまわりグループホーム,相模原市中央区,himawari@example.jp
1410000016,こすぎ就労支援事業所,川崎市中原区,kosugi@example.jp
1410000017,ふじさわ訪問看護,藤沢市,fujisawa@example.jp
1410000018,よこすか短期入所,横須賀市,yokosuka@example.jp
1410000019,おだわら相談支援事業所,小田原市,odawara@example.jp
";

/// The expected-terminal list of the demo (hostname, machine id, offices): `uketsuke-pc01` never
/// reported, `houmon-pc03` reports without being on the list, and office 1410000019 is expected
/// on `honbu-pc02` but has no certificate there. Hostnames are matched case-insensitively.
const EXPECTED: &str = "hostname,machine_id,offices
JIMU-PC01,,1410000011;1410000012
jimu-pc02,,1410000013
jimu-pc03,,1410000011
kaigo-pc01,,1410000014
kaigo-pc02,,1410000016
kaigo-pc03,,1410000014
honbu-pc01,,1410000015;1410000016;1410000017
honbu-pc02,,1410000015;1410000019
honbu-pc03,,1410000017;1410000013
houmon-pc01,,1410000018
houmon-pc02,,1410000012
uketsuke-pc01,,1410000011
";

fn fleet() -> Vec<DemoTerminal> {
    let t = |hostname, certs, stale| DemoTerminal {
        hostname,
        certs,
        stale,
    };
    vec![
        t(
            "jimu-pc01",
            vec![office("1410000011", -10), office("1410000012", 700)],
            false,
        ),
        // Renewed: the old certificate (6 days left) and the new one coexist.
        t(
            "jimu-pc02",
            vec![office("1410000013", 6), office("1410000013", 1090)],
            false,
        ),
        t("kaigo-pc01", vec![office("1410000014", 12)], false),
        // Three offices on one PC.
        t(
            "honbu-pc01",
            vec![
                office("1410000015", 25),
                office("1410000016", 55),
                office("1410000017", 400),
            ],
            false,
        ),
        t("honbu-pc02", vec![office("1410000015", 28)], false),
        t(
            "kaigo-pc02",
            vec![
                DemoCert {
                    no_private_key: true,
                    ..office("1410000016", 40)
                },
                DemoCert {
                    foreign: true,
                    ..office("9999999999", 20)
                },
            ],
            false,
        ),
        t("houmon-pc01", vec![office("1410000018", 45)], true),
        t(
            "houmon-pc02",
            vec![
                office("1410000012", 700),
                DemoCert {
                    foreign: true,
                    ..office("8888888888", 5)
                },
            ],
            false,
        ),
        // Office 1410000011 renewed on another PC: expired on jimu-pc01, covered here.
        t("jimu-pc03", vec![office("1410000011", 1000)], false),
        t("kaigo-pc03", vec![office("1410000014", 800)], false),
        t(
            "honbu-pc03",
            vec![office("1410000017", 500), office("1410000013", 300)],
            false,
        ),
        t("houmon-pc03", vec![office("1410000018", 900)], false),
    ]
}

/// A 3-year client certificate of `ca` whose subject CN is the office number.
fn issue(
    ca: &TestCa,
    office: &str,
    not_after: DateTime<Utc>,
) -> certfleet_testsupport::ca::IssuedCert {
    let not_before = not_after - Duration::days(1095);
    ca.issue(office, not_before, not_after, &Default::default())
}

/// Writes a terminal's certificates as an agent would find them: PEM/DER files, and for the
/// no-private-key case a Windows profile store element under a fake `Users` tree.
fn write_terminal(
    root: &Path,
    t: &DemoTerminal,
    kanagawa: &TestCa,
    foreign: &TestCa,
    now: DateTime<Utc>,
) -> Result<ScanConfig> {
    let files = root.join("files");
    let users = root.join("Users");
    std::fs::create_dir_all(&files)?;
    let mut has_profile = false;
    for (i, c) in t.certs.iter().enumerate() {
        let ca = if c.foreign { foreign } else { kanagawa };
        let cert = issue(
            ca,
            c.office,
            now + Duration::days(c.days_left) + Duration::hours(3),
        );
        let der = cert.der.clone();
        if c.no_private_key {
            let sha1 = certfleet_certinfo::parse_der(&der)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .sha1
                .to_uppercase();
            let store =
                users.join("staff/AppData/Roaming/Microsoft/SystemCertificates/My/Certificates");
            std::fs::create_dir_all(&store)?;
            let element = serialize_element(&ElementSpec {
                der: &der,
                key_container: None,
                friendly_name: Some("国保連 電子証明書"),
            });
            std::fs::write(store.join(sha1), element)?;
            has_profile = true;
        } else if i % 2 == 0 {
            std::fs::write(files.join(format!("{}-{i}.pem", c.office)), &cert.pem)?;
        } else {
            std::fs::write(files.join(format!("{}-{i}.cer", c.office)), &der)?;
        }
    }
    let mut cfg = ScanConfig::paths_only(vec![files]);
    if has_profile {
        cfg.profiles_root = Some(users);
    }
    Ok(cfg)
}

/// Runs the demo until `shutdown` completes.
pub async fn run(
    opts: DemoOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let temp;
    let dir = match &opts.dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("certfleet-demo-")
                .tempdir()
                .context("creating a temporary directory")?;
            temp.path().to_owned()
        }
    };
    println!("certfleet demo in {}", dir.display());
    let collector_dir = dir.join("collector");
    let files = init::init(
        &collector_dir,
        &["localhost".to_owned(), "127.0.0.1".to_owned()],
        None,
        None,
    )?;
    let overrides = Overrides {
        data_dir: Some(collector_dir.join("data")),
        grpc_listen: Some("127.0.0.1:0".into()),
        http_listen: Some(opts.http_listen.to_string()),
        ..Overrides::default()
    };
    let mut file = FileConfig::load(&files.config)?;
    file.database_url = None;
    let mut settings = Settings::resolve(file, overrides)?;
    // A generated login, shown below: with an account (and init's API token) configured the
    // dashboard asks for it from every client, as a real deployment does.
    let password = init::random_secret()[..16].to_owned();
    settings.dashboard.users = vec![(
        "demo".to_owned(),
        certfleet_dashboard::hash_password(&password),
    )];
    let store: SharedStore = store::open(None, &settings.data_dir, 4).await?;
    let registry_path = dir.join("offices.csv");
    std::fs::write(&registry_path, REGISTRY)?;
    registry::import(
        store.as_ref(),
        REGISTRY,
        settings.selector.office_rule(),
        Utc::now(),
    )
    .await?;
    std::fs::write(dir.join("expected-terminals.csv"), EXPECTED)?;
    coverage::import(
        store.as_ref(),
        EXPECTED,
        settings.selector.office_rule(),
        Utc::now(),
    )
    .await?;

    let grpc = tokio::net::TcpListener::bind(settings.grpc_listen).await?;
    let http = match tokio::net::TcpListener::bind(settings.http_listen).await {
        Ok(l) => l,
        // Port 8080 taken: any free loopback port will do for a demo.
        Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await?,
    };
    let grpc_addr = grpc.local_addr()?;
    let http_addr = http.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::run(
        settings.clone(),
        store.clone(),
        grpc,
        http,
        async {
            let _ = stop_rx.await;
        },
    ));

    // Real agents: scan their fixture directory and report over gRPC+TLS.
    let kanagawa = TestCa::kanagawa();
    let foreign = TestCa::new("EXAMPLE CORP CLIENT CA");
    let now = Utc::now();
    for (i, t) in fleet().iter().enumerate() {
        let root = dir.join("fleet").join(t.hostname);
        let scan_cfg = write_terminal(&root, t, &kanagawa, &foreign, now)?;
        let result = scan(&scan_cfg);
        let mut agent = AgentSettings::new(
            format!("https://localhost:{}", grpc_addr.port()),
            root.join("state"),
        );
        agent.ca_file = Some(files.ca_cert.clone());
        agent.enroll_secret_file = Some(files.enroll_secret.clone());
        agent.facts = FactOverrides {
            hostname: Some(t.hostname.to_owned()),
            machine_id: Some(format!("demo-machine-{i:02}")),
        };
        agent.attempts = 3;
        if t.stale {
            let facts = pb::TerminalFacts {
                machine_id: format!("demo-machine-{i:02}"),
                hostname: t.hostname.to_owned(),
                os_name: "windows".into(),
                os_version: "10.0.19045".into(),
                agent_version: env!("CARGO_PKG_VERSION").into(),
            };
            report_backdated(
                &store,
                &settings,
                grpc_addr.port(),
                &files,
                facts,
                &result,
                now - Duration::days(10),
            )
            .await?;
            println!(
                "  agent {:<12} last reported 10 days ago (stale)",
                t.hostname
            );
            continue;
        }
        let delivery = deliver(&agent, &result)
            .await
            .with_context(|| format!("agent on {}", t.hostname))?;
        println!(
            "  agent {:<12} reported {} certificate(s)",
            t.hostname, delivery.accepted_certificates
        );
    }

    // Renewal tracking (issue 17 §1), through the same code as `track …`: one pair stuck, one
    // requested, one on hold, one retired.
    let today = reports::semantics::local_date(now, settings.reports.time_zone);
    let day = |d: i64| Some((today + Duration::days(d)).to_string());
    for (host, office, action, date, until, note) in [
        (
            "kaigo-pc01",
            "1410000014",
            "requested",
            day(-7),
            None,
            "certsrv 申請済み・承認待ち",
        ),
        (
            "honbu-pc01",
            "1410000015",
            "requested",
            day(-2),
            None,
            "certsrv 申請済み",
        ),
        (
            "honbu-pc02",
            "1410000015",
            "hold",
            None,
            day(14),
            "事業所改装のため休業中",
        ),
        (
            "houmon-pc02",
            "1410000012",
            "retire",
            None,
            None,
            "PC 入れ替えで廃棄",
        ),
    ] {
        let req = TrackingRequest {
            terminal: host.into(),
            office: office.into(),
            action: action.into(),
            date,
            until,
            note: Some(note.into()),
        };
        tracking::apply(store.as_ref(), &req, "demo", now, &settings.reports)
            .await
            .with_context(|| format!("tracking {action} for {host} {office}"))?;
    }
    println!(
        "  tracking: kaigo-pc01 stuck, honbu-pc01 requested, honbu-pc02 on hold, houmon-pc02 retired"
    );
    let (calendar_token, calendar_hash) = calendar::new_token();
    store
        .create_calendar_feed(&calendar_hash, None, "demo", "demo", now)
        .await?;

    let report = reports::params::run(
        store.as_ref(),
        ReportKind::Expiring,
        &ReportParams::default(),
        Utc::now(),
        &settings.reports,
    )
    .await?;
    println!(
        "\nExpiring within {} days (as `certfleet-collector report expiring` prints it):\n",
        settings.reports.window_days
    );
    println!(
        "{}",
        reports::format::to_table(&report, settings.reports.time_zone)
    );
    let coverage = reports::params::run(
        store.as_ref(),
        ReportKind::Coverage,
        &ReportParams::default(),
        Utc::now(),
        &settings.reports,
    )
    .await?;
    println!("Coverage (as `certfleet-collector report coverage` prints it):\n");
    println!(
        "{}",
        reports::format::to_table(&coverage, settings.reports.time_zone)
    );
    println!("Login:     demo / {password}");
    println!(
        "Calendar:  http://{http_addr}{}",
        calendar::feed_path(&calendar_token)
    );
    println!("Dashboard: http://{http_addr}/");
    println!(
        "API:       http://{http_addr}/api/v1/reports/expiring (Authorization: Bearer, token in {})",
        collector_dir.join(init::API_TOKEN).display()
    );
    println!(
        "gRPC:      https://localhost:{} (CA {})",
        grpc_addr.port(),
        files.ca_cert.display()
    );
    if opts.dir.is_some() {
        println!("Press Ctrl-C to stop; the files stay in {}.", dir.display());
    } else {
        println!("Press Ctrl-C to stop; the temporary directory is removed.");
    }
    shutdown.await;
    let _ = stop_tx.send(());
    server.await.context("collector task")??;
    println!("demo stopped");
    Ok(())
}

/// The stale terminal: it enrolls over gRPC like any agent, and its one snapshot is stored
/// through the same validation as a gRPC report but with a receive time `at` in the past, so
/// the demo shows a terminal that stopped reporting.
async fn report_backdated(
    store: &SharedStore,
    settings: &Settings,
    grpc_port: u16,
    files: &init::InitOutput,
    facts: pb::TerminalFacts,
    result: &certfleet_agent::ScanResult,
    at: DateTime<Utc>,
) -> Result<()> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
    let ca_pem = std::fs::read(&files.ca_cert)?;
    let enroll_secret = std::fs::read_to_string(&files.enroll_secret)?;
    let channel = Endpoint::from_shared(format!("https://localhost:{grpc_port}"))?
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca_pem)))?
        .connect()
        .await?;
    let mut client = pb::inventory_client::InventoryClient::new(channel);
    let enrolled = client
        .enroll(pb::EnrollRequest {
            enroll_secret: enroll_secret.trim().to_owned(),
            terminal: Some(facts.clone()),
        })
        .await?
        .into_inner();
    let authed = store::AuthenticatedTerminal {
        id: enrolled.terminal_id.parse()?,
        machine_id: facts.machine_id.clone(),
        revoked: false,
    };
    let req = certfleet_agent::report::build_request(result, facts, at);
    let v = ingest::validate_report(req, &authed, &settings.selector, &settings.limits, at)?;
    store.ingest(authed.id, &v.snapshot).await?;
    Ok(())
}
