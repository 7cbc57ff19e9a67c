//! `certfleet-collector coverage import` / `coverage show` / `report coverage` through the
//! real binary on SQLite and PostgreSQL: an import replaces the list, a bad file is refused
//! with its line and field and leaves the previous list, and the report shows the expected PCs
//! that never reported in every format.

use certfleet_store::{self as store, SharedStore};
use certfleet_testsupport::PgCluster;

struct Fixture {
    store: SharedStore,
    db_args: Vec<String>,
    dir: tempfile::TempDir,
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(None, dir.path(), 4).await.unwrap();
    Fixture {
        store,
        db_args: vec!["--data-dir".into(), dir.path().to_string_lossy().into()],
        dir,
    }
}

async fn postgres() -> Fixture {
    let url = PgCluster::shared().fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(Some(&url), dir.path(), 4).await.unwrap();
    Fixture {
        store,
        db_args: vec!["--database-url".into(), url],
        dir,
    }
}

certfleet_testsupport::both_backends!(
    sqlite: sqlite,
    postgres: postgres;
    coverage_import_and_show_through_the_binary,
);

/// Runs the collector with `args`: success, stdout, stderr.
fn cli(fx: &Fixture, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certfleet-collector"))
        .args(&fx.db_args)
        .args(args)
        .env_remove("CERTFLEET_CONFIG")
        .env_remove("CERTFLEET_DATABASE_URL")
        .env_remove("CERTFLEET_DATA_DIR")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

async fn coverage_import_and_show_through_the_binary(fx: Fixture) {
    let good = fx.dir.path().join("expected.csv");
    std::fs::write(
        &good,
        "\u{feff}ホスト名,マシンID,事業所\r\nuketsuke-pc01,,1410000011;1410000012\r\nHONBU-PC02,m-2,1410000015\r\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = cli(&fx, &["coverage", "import", good.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("imported 2 expected PC(s)"), "{stdout}");

    let bad = fx.dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "hostname,machine_id,offices\npc-1,,1410000011\npc-2,,１４１０００００１１\nPC-1,,\n",
    )
    .unwrap();
    let (ok, _, stderr) = cli(&fx, &["coverage", "import", bad.to_str().unwrap()]);
    assert!(!ok, "a bad file is refused");
    assert!(stderr.contains("was not imported"), "{stderr}");
    assert!(stderr.contains("line 3: offices:"), "{stderr}");
    assert!(
        stderr.contains("line 4: hostname: PC-1 already appears on line 2"),
        "{stderr}"
    );
    assert_eq!(
        fx.store.expected_terminals().await.unwrap().0.len(),
        2,
        "the previous list stays"
    );

    let (ok, json, stderr) = cli(&fx, &["coverage", "show", "--format", "json"]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["expected_terminals"], 2);
    let hosts: Vec<&str> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["gap"], "never_reported");
            r["hostname"].as_str().unwrap()
        })
        .collect();
    assert_eq!(hosts, ["HONBU-PC02", "uketsuke-pc01"]);

    let (ok, csv, stderr) = cli(&fx, &["report", "coverage", "--format", "csv"]);
    assert!(ok, "{stderr}");
    assert!(
        csv.starts_with("\u{feff}\"gap\",\"hostname\",\"machine_id\""),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let (ok, table, stderr) = cli(&fx, &["report", "coverage"]);
    assert!(ok, "{stderr}");
    assert!(
        table.contains("2 gap(s); 2 expected PC(s), 0 terminal(s)"),
        "{table}"
    );
}
