//! End-to-end: `init`, `serve` on PostgreSQL over TLS, real agents reporting from fixture
//! directories, and every way an agent can be wrong or the infrastructure can fail.

use std::path::{Path, PathBuf};

use certfleet_e2e::{
    CollectorProcess, TestCa, agent_cmd, collector_cmd, describe, http_get, step, write_cert,
};
use certfleet_proto::v1 as pb;
use certfleet_testsupport::PgCluster;
use chrono::{Duration, Utc};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

struct Deployment {
    dir: PathBuf,
}

impl Deployment {
    fn init(root: &Path) -> Self {
        let dir = root.join("collector");
        let out = collector_cmd(&[
            "init",
            "--dir",
            dir.to_str().unwrap(),
            "--san",
            "localhost",
            "--san",
            "127.0.0.1",
        ]);
        assert!(out.status.success(), "init failed: {}", describe(&out));
        Deployment { dir }
    }
    fn file(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }
}

fn agent_report(
    collector: &str,
    ca: &str,
    secret: &str,
    state: &Path,
    machine: &str,
    host: &str,
    path: &Path,
) -> std::process::Output {
    agent_cmd(&[
        "report",
        "--collector",
        collector,
        "--ca",
        ca,
        "--enroll-secret-file",
        secret,
        "--state-dir",
        state.to_str().unwrap(),
        "--machine-id",
        machine,
        "--hostname",
        host,
        "--path",
        path.to_str().unwrap(),
        "--attempts",
        "1",
    ])
}

fn terminals(database_url: &str) -> Vec<serde_json::Value> {
    let out = collector_cmd(&[
        "terminal",
        "list",
        "--format",
        "json",
        "--database-url",
        database_url,
    ]);
    assert!(out.status.success(), "terminal list: {}", describe(&out));
    serde_json::from_slice(&out.stdout).expect("terminal list JSON")
}

fn cert_count(terminals: &[serde_json::Value], machine: &str) -> i64 {
    terminals
        .iter()
        .find(|t| t["machine_id"] == machine)
        .unwrap_or_else(|| panic!("terminal {machine} missing in {terminals:?}"))["certificate_count"]
        .as_i64()
        .unwrap()
}

async fn grpc_client(
    collector: &CollectorProcess,
    ca_pem: &[u8],
) -> pb::inventory_client::InventoryClient<Channel> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    let channel =
        Endpoint::from_shared(format!("https://127.0.0.1:{}", collector.grpc_addr.port()))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .expect("connect to collector");
    pb::inventory_client::InventoryClient::new(channel)
}

fn with_key<T>(msg: T, key: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    req
}

fn facts(machine: &str) -> Option<pb::TerminalFacts> {
    Some(pb::TerminalFacts {
        machine_id: machine.into(),
        hostname: format!("host-{machine}"),
        os_name: "test".into(),
        ..Default::default()
    })
}

/// The deployment the fleet test runs against, shared by its steps.
struct Fleet {
    database_url: String,
    /// Fixtures, state directories and a second deployment live here.
    root: PathBuf,
    collector: CollectorProcess,
    /// The collector's gRPC URL, CA certificate and enroll secret file.
    url: String,
    ca: String,
    secret: String,
    fx: PathBuf,
    kanagawa: TestCa,
    now: chrono::DateTime<Utc>,
    /// A fixture certificate that the removal step deletes.
    removable: PathBuf,
}

/// A terminal enrolled over gRPC directly, its node key and its first report.
struct Direct {
    client: pb::inventory_client::InventoryClient<Channel>,
    node_key: String,
    report: pb::ReportRequest,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_reports_over_tls_into_postgres_and_bad_agents_change_nothing() {
    let pg = PgCluster::start();
    let database_url = pg.fresh_database().await;
    let root = tempfile::tempdir().unwrap();
    let dep = Deployment::init(root.path());
    let collector = CollectorProcess::serve(&[
        "--config",
        &dep.file("collector.toml"),
        "--database-url",
        &database_url,
    ]);
    let mut cx = Fleet {
        database_url,
        root: root.path().to_owned(),
        url: collector.grpc_url(),
        collector,
        ca: dep.file("ca.pem"),
        secret: dep.file("enroll-secret.txt"),
        fx: root.path().join("fixtures"),
        kanagawa: TestCa::kanagawa(),
        now: Utc::now(),
        removable: PathBuf::new(),
    };
    step("fixtures", write_fleet_fixtures(&mut cx)).await;
    step(
        "three agents report over TLS",
        three_agents_report_over_tls(&mut cx),
    )
    .await;
    step(
        "a removed certificate leaves the live holdings",
        a_removed_certificate_leaves_the_live_holdings(&mut cx),
    )
    .await;
    step(
        "a wrong CA is not trusted",
        a_wrong_ca_is_not_trusted(&mut cx),
    )
    .await;
    step(
        "a wrong enroll secret is refused",
        a_wrong_enroll_secret_is_refused(&mut cx),
    )
    .await;
    step(
        "a stolen node key cannot report for another machine",
        a_stolen_node_key_cannot_report_for_another_machine(&mut cx),
    )
    .await;
    let mut direct = step(
        "direct gRPC: replay, garbage, oversize, older snapshot",
        direct_grpc_replays_garbage_oversize_and_older_snapshots(&mut cx),
    )
    .await;
    step("nothing stored was lost", nothing_stored_was_lost(&mut cx)).await;
    step(
        "a reinstalled PC needs an operator reset",
        a_reinstalled_pc_needs_an_operator_reset(&mut cx),
    )
    .await;
    step(
        "a revoked terminal is refused",
        a_revoked_terminal_is_refused(&mut cx, &mut direct),
    )
    .await;
    assert!(cx.collector.terminate(), "graceful shutdown on SIGTERM");
}

/// The fixture directories of three PCs: pc-a with two offices, pc-b with a renewed pair (old and
/// new certificate), pc-c with one office and a foreign issuer.
async fn write_fleet_fixtures(cx: &mut Fleet) {
    let foreign = TestCa::new("SOME OTHER CA");
    write_cert(
        &cx.fx.join("pc-a"),
        "office1.pem",
        &cx.kanagawa.office_cert(
            "1111111111",
            cx.now - Duration::days(1000),
            cx.now + Duration::days(20),
        ),
    );
    cx.removable = write_cert(
        &cx.fx.join("pc-a"),
        "office2.pem",
        &cx.kanagawa.office_cert(
            "2222222222",
            cx.now - Duration::days(100),
            cx.now + Duration::days(200),
        ),
    );
    write_cert(
        &cx.fx.join("pc-b"),
        "old.pem",
        &cx.kanagawa.office_cert(
            "1111111111",
            cx.now - Duration::days(1090),
            cx.now + Duration::days(5),
        ),
    );
    write_cert(
        &cx.fx.join("pc-b"),
        "new.pem",
        &cx.kanagawa.office_cert(
            "1111111111",
            cx.now - Duration::days(1),
            cx.now + Duration::days(1094),
        ),
    );
    write_cert(
        &cx.fx.join("pc-c"),
        "office3.pem",
        &cx.kanagawa.office_cert(
            "3333333333",
            cx.now - Duration::days(10),
            cx.now + Duration::days(60),
        ),
    );
    write_cert(
        &cx.fx.join("pc-c"),
        "foreign.pem",
        &foreign.office_cert(
            "4444444444",
            cx.now - Duration::days(10),
            cx.now + Duration::days(60),
        ),
    );
}

/// Three agents with their own machine ids report over TLS.
async fn three_agents_report_over_tls(cx: &mut Fleet) {
    for (machine, host) in [("m-a", "pc-a"), ("m-b", "pc-b"), ("m-c", "pc-c")] {
        let state = cx.root.join("state").join(machine);
        let out = agent_report(
            &cx.url,
            &cx.ca,
            &cx.secret,
            &state,
            machine,
            host,
            &cx.fx.join(host),
        );
        assert!(out.status.success(), "agent {machine}: {}", describe(&out));
        assert!(
            state.join("node-key").exists(),
            "node key kept in the state dir"
        );
        assert!(
            !state.join("pending-report.pb").exists(),
            "nothing spooled after an acknowledged report"
        );
    }
    let listed = terminals(&cx.database_url);
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(cert_count(&listed, "m-a"), 2);
    assert_eq!(
        cert_count(&listed, "m-b"),
        2,
        "both certificates of a renewed pair are held"
    );
    assert_eq!(
        cert_count(&listed, "m-c"),
        1,
        "the foreign issuer is not an office certificate"
    );
}

/// A certificate removed on one terminal disappears from its live holdings.
async fn a_removed_certificate_leaves_the_live_holdings(cx: &mut Fleet) {
    std::fs::remove_file(&cx.removable).unwrap();
    let out = agent_report(
        &cx.url,
        &cx.ca,
        &cx.secret,
        &cx.root.join("state/m-a"),
        "m-a",
        "pc-a",
        &cx.fx.join("pc-a"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(cert_count(&terminals(&cx.database_url), "m-a"), 1);
}

/// Wrong CA: the agent refuses the collector's certificate.
async fn a_wrong_ca_is_not_trusted(cx: &mut Fleet) {
    let other = Deployment::init(&cx.root.join("other"));
    let out = agent_report(
        &cx.url,
        &other.file("ca.pem"),
        &cx.secret,
        &cx.root.join("state/x1"),
        "m-x1",
        "pc-x1",
        &cx.fx.join("pc-a"),
    );
    assert!(
        !out.status.success(),
        "wrong CA must fail: {}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not trusted"),
        "{}",
        describe(&out)
    );
}

/// Wrong enroll secret.
async fn a_wrong_enroll_secret_is_refused(cx: &mut Fleet) {
    let wrong_secret = cx.root.join("wrong-secret.txt");
    std::fs::write(&wrong_secret, "this-is-not-the-enroll-secret\n").unwrap();
    let out = agent_report(
        &cx.url,
        &cx.ca,
        wrong_secret.to_str().unwrap(),
        &cx.root.join("state/x2"),
        "m-x2",
        "pc-x2",
        &cx.fx.join("pc-a"),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("enroll secret not accepted"),
        "{}",
        describe(&out)
    );
}

/// A node key stolen from pc-b and used with another machine id.
async fn a_stolen_node_key_cannot_report_for_another_machine(cx: &mut Fleet) {
    let thief = cx.root.join("state/thief");
    std::fs::create_dir_all(&thief).unwrap();
    std::fs::copy(cx.root.join("state/m-b/node-key"), thief.join("node-key")).unwrap();
    let out = agent_report(
        &cx.url,
        &cx.ca,
        &cx.secret,
        &thief,
        "m-thief",
        "pc-thief",
        &cx.fx.join("pc-a"),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PermissionDenied"),
        "{}",
        describe(&out)
    );
}

/// Direct gRPC: replay, garbage, oversize and an older snapshot.
async fn direct_grpc_replays_garbage_oversize_and_older_snapshots(cx: &mut Fleet) -> Direct {
    let ca_pem = std::fs::read(&cx.ca).unwrap();
    let mut client = grpc_client(&cx.collector, &ca_pem).await;
    let enrolled = client
        .enroll(pb::EnrollRequest {
            enroll_secret: std::fs::read_to_string(&cx.secret).unwrap().trim().into(),
            terminal: facts("m-direct"),
        })
        .await
        .expect("enroll")
        .into_inner();
    assert!(
        enrolled.node_key.len() >= 64,
        "node key has at least 256 bits"
    );
    let good_der = cx.kanagawa.office_cert_der(
        "5555555555",
        cx.now - Duration::days(1),
        cx.now + Duration::days(30),
    );
    let report = pb::ReportRequest {
        report_id: "replay-1".into(),
        terminal: facts("m-direct"),
        scanned_at: Some(prost_types::Timestamp {
            seconds: cx.now.timestamp(),
            nanos: 0,
        }),
        certificates: vec![
            pb::ReportedCertificate {
                der: b"garbage".to_vec(),
                ..Default::default()
            },
            pb::ReportedCertificate {
                der: good_der.clone(),
                has_private_key: Some(true),
                ..Default::default()
            },
        ],
        errors: vec![],
    };
    let first = client
        .report(with_key(report.clone(), &enrolled.node_key))
        .await
        .expect("report")
        .into_inner();
    assert!(!first.duplicate);
    assert_eq!(first.accepted_certificates, 1);
    assert_eq!(first.rejected.len(), 1);
    assert_eq!(
        first.rejected[0].index, 0,
        "the garbage item is named by its index"
    );
    assert!(
        first.rejected[0].reason.contains("DER"),
        "{:?}",
        first.rejected[0]
    );
    let replay = client
        .report(with_key(report.clone(), &enrolled.node_key))
        .await
        .expect("replay")
        .into_inner();
    assert!(replay.duplicate, "the same report id is accepted once");

    let mut older = report.clone();
    older.report_id = "older-1".into();
    older.scanned_at = Some(prost_types::Timestamp {
        seconds: cx.now.timestamp() - 3600,
        nanos: 0,
    });
    older.certificates.clear();
    let resp = client
        .report(with_key(older, &enrolled.node_key))
        .await
        .expect("older")
        .into_inner();
    assert!(resp.superseded, "an older snapshot does not roll back");

    let mut huge = report.clone();
    huge.report_id = "huge-1".into();
    huge.certificates = vec![pb::ReportedCertificate {
        der: vec![0x30; 5 * 1024 * 1024],
        ..Default::default()
    }];
    let err = client
        .report(with_key(huge, &enrolled.node_key))
        .await
        .expect_err("oversized report");
    assert!(
        matches!(
            err.code(),
            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
        ),
        "{err:?}"
    );

    let err = client
        .report(with_key(
            report.clone(),
            "0000000000000000000000000000000000000000000000000000000000000000",
        ))
        .await
        .expect_err("unknown node key");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    Direct {
        client,
        node_key: enrolled.node_key,
        report,
    }
}

/// Nothing stored was lost by any of the above.
async fn nothing_stored_was_lost(cx: &mut Fleet) {
    let listed = terminals(&cx.database_url);
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert_eq!(cert_count(&listed, "m-a"), 1);
    assert_eq!(cert_count(&listed, "m-b"), 2);
    assert_eq!(cert_count(&listed, "m-c"), 1);
    assert_eq!(cert_count(&listed, "m-direct"), 1);
}

/// A second installation claiming pc-b's machine id (fresh state, enroll secret only) is
/// refused; an operator's `terminal reset` prints a one-time token, and only with it does the
/// reinstalled PC enroll again.
async fn a_reinstalled_pc_needs_an_operator_reset(cx: &mut Fleet) {
    let reinstalled = cx.root.join("state/m-b-reinstalled");
    let out = agent_report(
        &cx.url,
        &cx.ca,
        &cx.secret,
        &reinstalled,
        "m-b",
        "pc-b",
        &cx.fx.join("pc-b"),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already enrolled"),
        "{}",
        describe(&out)
    );
    let out = collector_cmd(&[
        "terminal",
        "reset",
        "m-b",
        "--database-url",
        &cx.database_url,
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    // After the reset nobody may claim the machine id without the one-time token it printed,
    // not even the reinstalled PC.
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout
        .split_whitespace()
        .find(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no re-enroll token in {stdout}"))
        .to_owned();
    let out = agent_report(
        &cx.url,
        &cx.ca,
        &cx.secret,
        &reinstalled,
        "m-b",
        "pc-b",
        &cx.fx.join("pc-b"),
    );
    assert!(
        !out.status.success(),
        "enrolled without the token: {}",
        describe(&out)
    );
    // As docs/OPERATIONS.md says: the token goes into the state directory as `node-key`.
    std::fs::write(reinstalled.join("node-key"), format!("{token}\n")).unwrap();
    let out = agent_report(
        &cx.url,
        &cx.ca,
        &cx.secret,
        &reinstalled,
        "m-b",
        "pc-b",
        &cx.fx.join("pc-b"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let out = agent_report(
        &cx.url,
        &cx.ca,
        &cx.secret,
        &cx.root.join("state/m-b"),
        "m-b",
        "pc-b",
        &cx.fx.join("pc-b"),
    );
    assert!(
        !out.status.success(),
        "the old installation's key stopped working: {}",
        describe(&out)
    );
    assert_eq!(cert_count(&terminals(&cx.database_url), "m-b"), 2);
}

/// Revoked terminals are refused.
async fn a_revoked_terminal_is_refused(cx: &mut Fleet, direct: &mut Direct) {
    let out = collector_cmd(&[
        "terminal",
        "revoke",
        "m-direct",
        "--database-url",
        &cx.database_url,
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let mut after = direct.report.clone();
    after.report_id = "after-revoke".into();
    let err = direct
        .client
        .report(with_key(after, &direct.node_key))
        .await
        .expect_err("revoked");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooled_snapshots_survive_collector_and_database_restarts() {
    let pg = PgCluster::start_managed();
    let database_url = pg.fresh_database().await;
    let root = tempfile::tempdir().unwrap();
    let dep = Deployment::init(root.path());
    let (ca, secret) = (dep.file("ca.pem"), dep.file("enroll-secret.txt"));
    let kanagawa = TestCa::kanagawa();
    let now = Utc::now();
    let fx = root.path().join("pc-r");
    write_cert(
        &fx,
        "a.pem",
        &kanagawa.office_cert(
            "1212121212",
            now - Duration::days(10),
            now + Duration::days(40),
        ),
    );
    let state = root.path().join("state");

    let collector = CollectorProcess::serve(&[
        "--config",
        &dep.file("collector.toml"),
        "--database-url",
        &database_url,
    ]);
    let out = agent_report(
        &collector.grpc_url(),
        &ca,
        &secret,
        &state,
        "m-r",
        "pc-r",
        &fx,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let old_url = collector.grpc_url();
    assert!(collector.terminate(), "graceful shutdown");

    // Collector down: the snapshot is spooled and the agent says so.
    write_cert(
        &fx,
        "b.pem",
        &kanagawa.office_cert(
            "3434343434",
            now - Duration::days(10),
            now + Duration::days(400),
        ),
    );
    let out = agent_report(&old_url, &ca, &secret, &state, "m-r", "pc-r", &fx);
    assert!(
        !out.status.success(),
        "no acknowledgement, exit code non-zero"
    );
    assert!(
        state.join("pending-report.pb").exists(),
        "snapshot spooled: {}",
        describe(&out)
    );

    // Collector back: the spooled snapshot and a fresh one arrive.
    let collector = CollectorProcess::serve(&[
        "--config",
        &dep.file("collector.toml"),
        "--database-url",
        &database_url,
    ]);
    let out = agent_report(
        &collector.grpc_url(),
        &ca,
        &secret,
        &state,
        "m-r",
        "pc-r",
        &fx,
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("spooled"),
        "{}",
        describe(&out)
    );
    assert!(!state.join("pending-report.pb").exists());
    assert_eq!(cert_count(&terminals(&database_url), "m-r"), 2);

    // PostgreSQL restarted under the running collector.
    pg.stop();
    let (status, _) = http_get(collector.http_addr, "/healthz", None);
    assert_eq!(status, 503, "health reports the database outage");
    std::fs::remove_file(fx.join("a.pem")).unwrap();
    let out = agent_report(
        &collector.grpc_url(),
        &ca,
        &secret,
        &state,
        "m-r",
        "pc-r",
        &fx,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Unavailable"),
        "{}",
        describe(&out)
    );
    assert!(state.join("pending-report.pb").exists());
    pg.start_again();
    let out = agent_report(
        &collector.grpc_url(),
        &ca,
        &secret,
        &state,
        "m-r",
        "pc-r",
        &fx,
    );
    assert!(
        out.status.success(),
        "collector recovered without a restart: {}\n{}",
        describe(&out),
        collector.log()
    );
    assert_eq!(http_get(collector.http_addr, "/healthz", None).0, 200);
    assert_eq!(cert_count(&terminals(&database_url), "m-r"), 1);
    assert!(collector.terminate());
}
