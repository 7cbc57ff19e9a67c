//! The throwaway cluster really starts, serves fresh databases, and survives stop/start.

use std::process::Command;

use certfleet_testsupport::PgCluster;

fn psql(url: &str, sql: &str) -> std::process::Output {
    Command::new("psql")
        .args(["-X", "-qtA", "-d", url, "-c", sql])
        .output()
        .expect("run psql")
}

#[test]
fn cluster_lifecycle() {
    let cluster = PgCluster::start();
    let a = cluster.url();
    let b = cluster.url();
    assert_ne!(a, b, "each call gets its own database");
    assert!(
        psql(&a, "CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
            .status
            .success()
    );
    // Isolation: the table exists only in `a`.
    assert!(!psql(&b, "SELECT x FROM t").status.success());

    if cluster.is_managed() {
        let port = cluster.port();
        cluster.stop();
        assert!(!psql(&a, "SELECT 1").status.success(), "server is down");
        cluster.start_again();
        assert_eq!(cluster.port(), port);
        let out = psql(&a, "SELECT x FROM t");
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "7",
            "data kept"
        );
    }
}
