//! The `Inventory` service in process, on SQLite and PostgreSQL: strings the databases would
//! treat differently (PostgreSQL refuses NUL in text and `\u0000` in JSON, SQLite stores
//! both) are refused at validation, with the same INVALID_ARGUMENT naming the field on both
//! backends, and nothing of them is stored. Before, PostgreSQL answered INTERNAL (which agents
//! retry forever) where SQLite stored the bytes.

use std::sync::Arc;

use certfleet_collector::admission::Guards;
use certfleet_collector::metrics::Metrics;
use certfleet_collector::service::InventoryService;
use certfleet_config::{FileConfig, Overrides, Settings};
use certfleet_proto::v1 as pb;
use certfleet_proto::v1::inventory_server::Inventory;
use certfleet_store::{self as store, SharedStore};
use certfleet_testsupport::{PgCluster, TestCa};
use chrono::{Duration, Utc};
use tonic::{Code, Request};

struct Fixture {
    store: SharedStore,
    dir: tempfile::TempDir,
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(None, dir.path(), 4).await.unwrap();
    Fixture { store, dir }
}

async fn postgres() -> Fixture {
    let url = PgCluster::shared().fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(Some(&url), dir.path(), 4).await.unwrap();
    Fixture { store, dir }
}

certfleet_testsupport::both_backends!(
    sqlite: sqlite,
    postgres: postgres;
    nul_and_control_characters_are_invalid_argument_on_every_backend,
);

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn service(fx: &Fixture) -> InventoryService {
    let secret = fx.dir.path().join("enroll-secret.txt");
    std::fs::write(&secret, SECRET).unwrap();
    let settings = Settings::resolve(
        FileConfig::default(),
        Overrides {
            insecure_plaintext: true,
            enroll_secret_files: vec![secret],
            data_dir: Some(fx.dir.path().to_owned()),
            ..Overrides::default()
        },
    )
    .unwrap();
    let metrics = Arc::new(Metrics::default());
    let guards = Arc::new(Guards::new(
        &settings.grpc,
        &settings.limits,
        metrics.clone(),
    ));
    InventoryService::new(fx.store.clone(), &settings, guards, metrics)
}

fn facts(hostname: &str) -> Option<pb::TerminalFacts> {
    Some(pb::TerminalFacts {
        machine_id: "m-1".into(),
        hostname: hostname.into(),
        os_name: "Windows".into(),
        os_version: "10.0.19045".into(),
        agent_version: "0.1.0".into(),
    })
}

fn with_key<T>(msg: T, key: &str) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    req
}

async fn nul_and_control_characters_are_invalid_argument_on_every_backend(fx: Fixture) {
    let svc = service(&fx);
    let err = svc
        .enroll(Request::new(pb::EnrollRequest {
            enroll_secret: SECRET.into(),
            terminal: facts("pc\u{0}01"),
        }))
        .await
        .expect_err("NUL in the hostname");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message()
            .starts_with("terminal.hostname contains U+0000"),
        "{err:?}"
    );
    let key = svc
        .enroll(Request::new(pb::EnrollRequest {
            enroll_secret: SECRET.into(),
            terminal: facts("pc-01"),
        }))
        .await
        .unwrap()
        .into_inner()
        .node_key;

    let now = Utc::now();
    let der = TestCa::kanagawa().office_cert_der(
        "1234567890",
        now - Duration::days(1),
        now + Duration::days(100),
    );
    let report = |id: &str| pb::ReportRequest {
        report_id: id.into(),
        terminal: facts("pc-01"),
        scanned_at: Some(prost_types::Timestamp {
            seconds: now.timestamp(),
            nanos: 0,
        }),
        certificates: vec![pb::ReportedCertificate {
            der: der.clone(),
            locations: vec![pb::Location {
                source: pb::Source::ProfileFile as i32,
                store: "My".into(),
                user: "staff".into(),
                path: "C:\\certs\\a.cer".into(),
            }],
            has_private_key: Some(true),
            friendly_name: String::new(),
        }],
        errors: vec![],
    };
    let mut bad_os = report("r-os");
    bad_os.terminal.as_mut().unwrap().os_version = "10.0\u{0}".into();
    let err = svc
        .report(with_key(bad_os, &key))
        .await
        .expect_err("NUL in os_version");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message()
            .starts_with("terminal.os_version contains U+0000"),
        "{err:?}"
    );

    // In a certificate's strings the certificate alone is refused, the report is stored; the
    // scan error with a NUL is kept as a note without it.
    let mut bad_path = report("r-path");
    bad_path.certificates[0].locations[0].path = "C:\\certs\\\u{0}.cer".into();
    bad_path.errors = vec![pb::ScanError {
        source: pb::Source::File as i32,
        path: "C:\\certs\\b.p12".into(),
        message: "bad\u{0}password".into(),
    }];
    let r = svc
        .report(with_key(bad_path, &key))
        .await
        .expect("certificate strings are per-item")
        .into_inner();
    assert_eq!(r.accepted_certificates, 0);
    assert_eq!(r.rejected.len(), 1);
    assert!(
        r.rejected[0]
            .reason
            .starts_with("locations[0].path contains U+0000"),
        "{r:?}"
    );

    let r = svc
        .report(with_key(report("r-good"), &key))
        .await
        .expect("a clean report")
        .into_inner();
    assert_eq!(r.accepted_certificates, 1);
    let terminals = fx.store.list_terminals().await.unwrap();
    assert_eq!(terminals.len(), 1);
    assert_eq!(terminals[0].os_version, "10.0.19045");
    let holdings = fx.store.holdings(terminals[0].id).await.unwrap();
    assert_eq!(holdings.len(), 1);
    assert!(holdings[0].locations.iter().all(|l| !l.path.contains('\0')));
}
