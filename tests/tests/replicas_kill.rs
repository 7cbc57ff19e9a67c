//! Two `serve` replicas on one PostgreSQL share a simulated fleet; one is SIGKILLed mid-run.
//! Every report the load generator saw acknowledged must be in the database, and the final
//! state must equal that of the same seeded run against a single collector.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use certfleet_e2e::{CollectorProcess, collector_cmd, describe};
use certfleet_testsupport::PgCluster;

const TERMINALS: usize = 300;
const ROUNDS: usize = 5;
const PREFIX: &str = "rk";
/// Reports in flight at once.
const CONCURRENCY: usize = 32;

/// Runs `sql` with psql and returns its unaligned output.
fn psql(database_url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([database_url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql");
    assert!(out.status.success(), "psql {sql}: {}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// `tests/bench/verify-acks.sql` (the same check as the benchmark) on an acknowledgement log.
fn verify_acks(database_url: &str, ack_log: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/verify-acks.sql");
    let out = Command::new("psql")
        .args([database_url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(&script)
        .stdin(std::fs::File::open(ack_log).expect("ack log"))
        .output()
        .expect("psql");
    assert!(out.status.success(), "verify-acks.sql: {}", describe(&out));
    serde_json::from_slice(&out.stdout).expect("verify-acks.sql prints JSON")
}

/// The fleet's final state, one line per holding ever stored (machine id, serial, path, key
/// flag, live or removed), then each terminal's report count: what two runs with one seed must
/// agree on. Serials, not SHA-256s: the generator's ECDSA signatures differ from run to run.
fn final_state(database_url: &str) -> String {
    let holdings = psql(
        database_url,
        &format!(
            "SELECT t.machine_id || ' ' || c.serial || ' ' || (h.locations -> 0 ->> 'path') \
               || ' ' || coalesce(h.has_private_key::text, 'null') || ' ' \
               || CASE WHEN h.removed_at IS NULL THEN 'live' ELSE 'removed' END \
             FROM holdings h JOIN terminals t ON t.id = h.terminal_id \
               JOIN certificates c ON c.sha256 = h.sha256 \
             WHERE t.machine_id LIKE '{PREFIX}-%' ORDER BY 1"
        ),
    );
    let reports = psql(
        database_url,
        &format!(
            "SELECT t.machine_id || ' reports ' || count(r.id) FROM terminals t \
               LEFT JOIN reports r ON r.terminal_id = t.id \
             WHERE t.machine_id LIKE '{PREFIX}-%' GROUP BY t.machine_id ORDER BY 1"
        ),
    );
    holdings + &reports
}

fn loadgen(collectors: &[&CollectorProcess], dir: &Path, ack_log: &Path) -> Command {
    let file = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certfleet-loadgen"));
    for c in collectors {
        cmd.args(["--collector", &c.grpc_url()]);
    }
    cmd.args(["--ca", &file("ca.pem")])
        .args(["--enroll-secret-file", &file("enroll-secret.txt")])
        .args(["--terminals", &TERMINALS.to_string()])
        .args(["--rounds", &ROUNDS.to_string()])
        // Half the snapshots change, so most kills land in a multi-statement transaction.
        .args(["--changed-fraction", "0.5", "--certs", "1-5", "--seed", "7"])
        .args([
            "--concurrency",
            &CONCURRENCY.to_string(),
            "--connections",
            "2",
        ])
        .args(["--machine-prefix", PREFIX, "--json"])
        .arg("--ack-log")
        .arg(ack_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn ack_lines(ack_log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(ack_log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("ack log line is JSON"))
        .collect()
}

fn check_all_acknowledged(result: &serde_json::Value, verified: &serde_json::Value) {
    let sent = TERMINALS * ROUNDS;
    assert_eq!(result["reports_failed"], 0, "{result:#}");
    assert_eq!(result["reports_acknowledged"], sent, "{result:#}");
    assert_eq!(verified["acknowledged"], sent, "{verified:#}");
    assert_eq!(verified["acknowledged_distinct"], sent, "{verified:#}");
    assert_eq!(verified["terminals"], TERMINALS, "{verified:#}");
    for zero in [
        "acknowledged_missing",
        "terminals_missing",
        "terminals_older",
        // Every report was acknowledged, so nothing newer than the last acknowledgement exists.
        "terminals_newer",
        "holdings_mismatch",
    ] {
        assert_eq!(verified[zero], 0, "{zero}: {verified:#}");
    }
    assert_eq!(verified["holdings_checked"], TERMINALS, "{verified:#}");
}

#[test]
fn replica_killed_mid_run_loses_no_acknowledged_report() {
    let pg = PgCluster::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (replicated_db, single_db) =
        rt.block_on(async { (pg.fresh_database().await, pg.fresh_database().await) });
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("collector");
    let out = collector_cmd(&["init", "--dir", dir.to_str().unwrap(), "--san", "localhost"]);
    assert!(out.status.success(), "init: {}", describe(&out));
    let config = dir.join("collector.toml");
    certfleet_e2e::allow_load_generator(&config);
    let serve = |db: &str| {
        CollectorProcess::serve(&["--config", config.to_str().unwrap(), "--database-url", db])
    };

    // Two replicas; terminal i reports to replica i mod 2 until that one dies.
    let a = serve(&replicated_db);
    let b = serve(&replicated_db);
    let ack_log = root.path().join("acks-replicas.jsonl");
    let mut run = loadgen(&[&a, &b], &dir, &ack_log)
        .spawn()
        .expect("spawn certfleet-loadgen");

    // SIGKILL replica b once 40 % of the reports are acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ack_lines(&ack_log).len() < TERMINALS * ROUNDS * 2 / 5 {
        if let Some(status) = run.try_wait().unwrap() {
            panic!(
                "loadgen ended ({status}) before the kill: {}",
                describe(&run.wait_with_output().unwrap())
            );
        }
        assert!(Instant::now() < deadline, "loadgen too slow:\n{}", a.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    b.kill();
    let acked_at_kill = ack_lines(&ack_log).len();
    assert!(
        run.try_wait().unwrap().is_none(),
        "the kill must land mid-run"
    );
    let out = run.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "loadgen: {}\n{}",
        describe(&out),
        a.log()
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("loadgen JSON");

    // Both replicas took reports, the kill was felt (failed attempts, all retried), and
    // terminals of the dead replica went on through the survivor.
    let by = &result["reports_acknowledged_by_collector"];
    assert!(
        by["0"].as_u64().unwrap() > 0 && by["1"].as_u64().unwrap() > 0,
        "{result:#}"
    );
    assert!(
        result["retries"].as_u64().unwrap() > 0,
        "the kill caused failed attempts: {result:#}"
    );
    let acks = ack_lines(&ack_log);
    let after_kill = &acks[acked_at_kill..];
    // An answer that reached the generator just before the kill may be logged just after it,
    // but never more of them than reports in flight.
    assert!(
        after_kill
            .iter()
            .skip(CONCURRENCY)
            .all(|l| l["collector"] == 0),
        "nothing acknowledged by the dead replica after the kill"
    );
    let failed_over = after_kill
        .iter()
        .filter(|l| {
            let id = l["machine_id"].as_str().unwrap();
            let i: usize = id.rsplit('-').next().unwrap().parse().unwrap();
            i % 2 == 1 && l["collector"] == 0
        })
        .count();
    assert!(
        failed_over > 0,
        "terminals of the killed replica reported to the survivor"
    );

    // Every acknowledged report is stored and every terminal holds its last acknowledged
    // snapshot.
    let verified = verify_acks(&replicated_db, &ack_log);
    eprintln!(
        "killed after {acked_at_kill} acknowledgements; {failed_over} failed over; by replica {by}; \
         retried {} ({}); {verified}",
        result["retries"], result["reports_errors_by_code"]
    );
    check_all_acknowledged(&result, &verified);

    // The same seeded run against one collector ends in the same state.
    let single = serve(&single_db);
    let single_log = root.path().join("acks-single.jsonl");
    let out = loadgen(&[&single], &dir, &single_log)
        .output()
        .expect("run certfleet-loadgen");
    assert!(
        out.status.success(),
        "loadgen: {}\n{}",
        describe(&out),
        single.log()
    );
    let single_result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    check_all_acknowledged(&single_result, &verify_acks(&single_db, &single_log));

    let (replicated, alone) = (final_state(&replicated_db), final_state(&single_db));
    assert!(
        replicated.contains(" live\n") && replicated.contains(" removed\n"),
        "the runs renewed and removed certificates:\n{replicated}"
    );
    if replicated != alone {
        let first = replicated.lines().zip(alone.lines()).find(|(x, y)| x != y);
        panic!(
            "two replicas with a kill ended differently from one collector; first difference \
             {first:?} ({} vs {} lines)",
            replicated.lines().count(),
            alone.lines().count()
        );
    }
    assert!(a.terminate() && single.terminate());
}
