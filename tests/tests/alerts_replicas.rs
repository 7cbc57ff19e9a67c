//! Two `serve` processes on one PostgreSQL with the daily alert run and retention due at the
//! same moment (issue 16, "exactly one replica"): each slot is claimed by one replica, which
//! runs it; the other logs that it skips it. Every alert is decided and delivered exactly once,
//! old reports are pruned once, and both replicas' /metrics report the same last runs. The
//! renewal-tracking states set with the CLI (issue 17 §2) hold on both: a stuck request
//! escalates once, a hold is silent, a fresh request is alerted only from 7 days on.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use certfleet_e2e::{
    CollectorProcess, TestCa, agent_cmd, collector_cmd, describe, http_get, write_cert,
};
use certfleet_testsupport::PgCluster;
use chrono::{Duration, Utc};

type Bodies = Arc<Mutex<Vec<serde_json::Value>>>;

async fn hook(State(bodies): State<Bodies>, body: axum::Json<serde_json::Value>) {
    bodies.lock().unwrap().push(body.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_alert_once() {
    let pg = PgCluster::start();
    let db = pg.fresh_database().await;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("collector");
    let out = collector_cmd(&["init", "--dir", dir.to_str().unwrap(), "--san", "localhost"]);
    assert!(out.status.success(), "{}", describe(&out));
    let config = dir.join("collector.toml");
    let (ca, secret) = (dir.join("ca.pem"), dir.join("enroll-secret.txt"));

    // Six terminals report through one collector (alerts off).
    let kanagawa = TestCa::kanagawa();
    let now = Utc::now();
    let first =
        CollectorProcess::serve(&["--config", config.to_str().unwrap(), "--database-url", &db]);
    for (i, days) in [5i64, 20, 50, 20, 25, 6].iter().enumerate() {
        let fx = root.path().join(format!("pc-{i}"));
        write_cert(
            &fx,
            "c.pem",
            &kanagawa.office_cert(
                &format!("100000000{i}"),
                now - Duration::days(1000),
                now + Duration::days(*days),
            ),
        );
        // Two daily reports per PC: retention keeps the newest of each.
        for _ in 0..2 {
            let out = agent_cmd(&[
                "report",
                "--collector",
                &first.grpc_url(),
                "--ca",
                ca.to_str().unwrap(),
                "--enroll-secret-file",
                secret.to_str().unwrap(),
                "--state-dir",
                root.path().join(format!("state-{i}")).to_str().unwrap(),
                "--machine-id",
                &format!("m-{i}"),
                "--hostname",
                &format!("pc-{i}"),
                "--path",
                fx.to_str().unwrap(),
                "--attempts",
                "1",
            ]);
            assert!(out.status.success(), "{}", describe(&out));
        }
    }
    assert!(first.terminate());
    // The first of each PC's reports is made 100 days old: prunable (90 days by default).
    let psql = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db, "-c"])
        .arg(
            "UPDATE reports SET received_at = received_at - interval '100 days' \
             WHERE id IN (SELECT min(id) FROM reports GROUP BY terminal_id)",
        )
        .output()
        .unwrap();
    assert!(psql.status.success(), "{}", describe(&psql));

    // Renewal tracking through the CLI: pc-3 requested 6 days ago (stuck), pc-4 on hold,
    // pc-5 requested yesterday.
    let today = now.with_timezone(&chrono_tz::Asia::Tokyo).date_naive();
    let day = |d: i64| (today + Duration::days(d)).to_string();
    for args in [
        vec![
            "track",
            "requested",
            "pc-3",
            "1000000003",
            "--date",
            &day(-6),
            "--by",
            "alice",
        ],
        vec![
            "track",
            "hold",
            "pc-4",
            "1000000004",
            "--until",
            &day(20),
            "--note",
            "改装中",
        ],
        vec![
            "track",
            "requested",
            "pc-5",
            "1000000005",
            "--date",
            &day(-1),
        ],
    ] {
        let mut args = args;
        args.extend(["--database-url", &db]);
        let out = collector_cmd(&args);
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
    }
    // Bad input is refused with the field named, and nothing changes.
    let out = collector_cmd(&[
        "track",
        "hold",
        "pc-5",
        "1000000005",
        "--until",
        &day(-1),
        "--note",
        "x",
        "--database-url",
        &db,
    ]);
    assert!(!out.status.success());
    assert!(
        describe(&out).contains("invalid until"),
        "{}",
        describe(&out)
    );

    // A real webhook receiver.
    let bodies: Bodies = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(bodies.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Both replicas get the same schedules, due a few seconds from now (Asia/Tokyo).
    let due = (Utc::now() + Duration::seconds(12)).with_timezone(&chrono_tz::Asia::Tokyo);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[alerts]\ndaily_at = \"{at}\"\n[[alerts.webhooks]]\nname = \"it\"\nurl = \"http://{addr}/hook\"\n\
         [retention]\ndaily_at = \"{at}\"\n",
        at = due.format("%H:%M:%S")
    ));
    std::fs::write(&config, text).unwrap();
    let a = CollectorProcess::serve(&["--config", config.to_str().unwrap(), "--database-url", &db]);
    let b = CollectorProcess::serve(&["--config", config.to_str().unwrap(), "--database-url", &db]);

    // Each task: one replica runs it, the other skips the slot.
    let ran = |log: &str, done: &str| log.contains(done);
    let skipped = |log: &str, task: &str| {
        log.lines()
            .any(|l| l.contains("another collector runs this slot") && l.contains(task))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (la, lb) = (a.log(), b.log());
        let once = |done: &str, task: &str| {
            (ran(&la, done) && skipped(&lb, task)) || (ran(&lb, done) && skipped(&la, task))
        };
        if once("alert run finished", "\"alerts\"")
            && once("retention run finished", "\"retention\"")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no single run of each task:\n{la}\n{lb}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for log in [a.log(), b.log()] {
        assert!(
            log.matches("alert run finished").count()
                + log.matches("retention run finished").count()
                <= 2,
            "{log}"
        );
    }
    let received = bodies.lock().unwrap().clone();
    assert_eq!(
        received.len(),
        1,
        "one digest for the one webhook: {received:?}"
    );
    let thresholds: Vec<String> = received[0]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["threshold"].as_str().unwrap().to_owned())
        .collect();
    let hosts: Vec<String> = received[0]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["hostname"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        (thresholds, hosts),
        (
            vec!["7d", "7d", "stuck", "30d", "60d"]
                .into_iter()
                .map(String::from)
                .collect(),
            vec!["pc-0", "pc-5", "pc-3", "pc-1", "pc-2"]
                .into_iter()
                .map(String::from)
                .collect()
        ),
        "most urgent first, nearest threshold only; on hold silent, requested only from 7 days"
    );
    assert_eq!(received[0]["alerts"][1]["tracking_state"], "requested");
    assert_eq!(received[0]["alerts"][1]["days_waiting"], 1);
    assert_eq!(received[0]["alerts"][2]["tracking_state"], "stuck");

    let out = collector_cmd(&[
        "alerts",
        "history",
        "--format",
        "json",
        "--database-url",
        &db,
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let history: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(history.len(), 5, "{history:?}");
    assert!(
        history
            .iter()
            .all(|h| h["state"] == "sent" && h["attempts"] == 1),
        "{history:?}"
    );

    // Retention deleted the six old reports once (one per PC); each PC keeps its newest.
    let out = collector_cmd(&["retention", "status", "--database-url", &db]);
    assert!(out.status.success(), "{}", describe(&out));
    let status = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(status.contains("\"reports\":6"), "{status}");
    let token = std::fs::read_to_string(dir.join("api-token.txt")).unwrap();
    let metric = |text: &str, name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    let mut pruned = 0.0;
    let mut sent = 0.0;
    let mut last_runs = Vec::new();
    for c in [&a, &b] {
        let (status, text) = http_get(c.http_addr, "/metrics", Some(token.trim()));
        assert_eq!(status, 200, "{text}");
        pruned += metric(
            &text,
            "certfleet_retention_pruned_rows_total{kind=\"reports\"}",
        );
        sent += metric(
            &text,
            "certfleet_alert_deliveries_total{channel=\"webhook:it\",outcome=\"sent\"}",
        );
        assert_eq!(
            metric(
                &text,
                "certfleet_alert_deliveries_total{channel=\"webhook:it\",outcome=\"failed\"}"
            ),
            0.0
        );
        last_runs.push((
            metric(&text, "certfleet_alerts_last_success_timestamp_seconds"),
            metric(&text, "certfleet_retention_last_success_timestamp_seconds"),
        ));
    }
    assert_eq!(pruned, 6.0, "pruned once, on one replica");
    assert_eq!(sent, 1.0, "one digest, from one replica");
    assert_eq!(
        last_runs[0], last_runs[1],
        "both replicas report the database's last runs"
    );
    assert!(
        last_runs[0].0 > 0.0 && last_runs[0].1 > 0.0,
        "{last_runs:?}"
    );
    let out = collector_cmd(&[
        "report",
        "terminals",
        "--format",
        "json",
        "--database-url",
        &db,
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(a.terminate() && b.terminate());
}
