//! Smoke run of `certfleet-loadgen` against a real collector on PostgreSQL: every simulated
//! report is acknowledged exactly once and the database holds exactly what was sent. The long
//! benchmark runs (BENCHMARKS.md) use the same binary by hand.

use certfleet_e2e::{CollectorProcess, collector_cmd, describe};
use certfleet_testsupport::PgCluster;

fn psql(database_url: &str, sql: &str) -> i64 {
    let out = std::process::Command::new("psql")
        .args([database_url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql");
    assert!(out.status.success(), "psql {sql}: {}", describe(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_reports_every_snapshot_exactly_once() {
    let pg = PgCluster::start();
    let database_url = pg.fresh_database().await;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("collector");
    let out = collector_cmd(&["init", "--dir", dir.to_str().unwrap(), "--san", "localhost"]);
    assert!(out.status.success(), "init: {}", describe(&out));
    certfleet_e2e::allow_load_generator(&dir.join("collector.toml"));
    let file = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    let collector = CollectorProcess::serve(&[
        "--config",
        &file("collector.toml"),
        "--database-url",
        &database_url,
    ]);

    let (terminals, rounds) = (50, 3);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certfleet-loadgen"))
        .args([
            "--collector",
            &collector.grpc_url(),
            "--ca",
            &file("ca.pem"),
            "--enroll-secret-file",
            &file("enroll-secret.txt"),
        ])
        .args([
            "--terminals",
            &terminals.to_string(),
            "--rounds",
            &rounds.to_string(),
            "--concurrency",
            "16",
        ])
        .args([
            "--connections",
            "2",
            "--changed-fraction",
            "0.5",
            "--machine-prefix",
            "smoke",
            "--json",
        ])
        .args(["--watch-pid", &collector.pid().to_string()])
        .output()
        .expect("run certfleet-loadgen");
    assert!(
        out.status.success(),
        "loadgen: {}\n{}",
        describe(&out),
        collector.log()
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("loadgen JSON");

    let sent = terminals * rounds;
    assert_eq!(result["reports_acknowledged"], sent, "{result:#}");
    assert_eq!(
        result["reports_stored"], sent,
        "no duplicate or superseded report: {result:#}"
    );
    assert_eq!(result["reports_failed"], 0);
    let kinds = &result["phases"][2]["latency_by_kind"];
    assert!(
        kinds["changed"]["count"].as_u64().unwrap() > 0
            && kinds["unchanged"]["count"].as_u64().unwrap() > 0,
        "{kinds:#}"
    );
    assert!(
        result["watched_process"]["vm_hwm_kb"].as_u64().unwrap() > 0,
        "collector RSS sampled"
    );

    assert_eq!(
        psql(
            &database_url,
            "SELECT count(*) FROM terminals WHERE machine_id LIKE 'smoke-%'"
        ),
        terminals as i64
    );
    assert_eq!(
        psql(
            &database_url,
            "SELECT count(*) FROM reports r JOIN terminals t ON t.id = r.terminal_id WHERE t.machine_id LIKE 'smoke-%'"
        ),
        sent as i64,
        "every acknowledged report stored exactly once"
    );
    assert_eq!(
        psql(
            &database_url,
            "SELECT count(*) FROM holdings h JOIN terminals t ON t.id = h.terminal_id WHERE t.machine_id LIKE 'smoke-%' AND h.removed_at IS NULL"
        ),
        result["expected_live_holdings"].as_i64().unwrap(),
        "live holdings are exactly the last snapshot of each terminal"
    );
    assert!(collector.terminate());
}
