//! Two `serve` processes on one PostgreSQL with the daily alert schedule due at the same
//! moment: every alert is decided and delivered exactly once.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use certfleet_e2e::{CollectorProcess, TestCa, agent_cmd, collector_cmd, describe, write_cert};
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

    // Three terminals report through one collector (alerts off).
    let kanagawa = TestCa::kanagawa();
    let now = Utc::now();
    let first =
        CollectorProcess::serve(&["--config", config.to_str().unwrap(), "--database-url", &db]);
    for (i, days) in [5i64, 20, 50].iter().enumerate() {
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
    assert!(first.terminate());

    // A real webhook receiver.
    let bodies: Bodies = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(bodies.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Both replicas get the same schedule, due a few seconds from now (Asia/Tokyo).
    let due = (Utc::now() + Duration::seconds(12)).with_timezone(&chrono_tz::Asia::Tokyo);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[alerts]\ndaily_at = \"{}\"\n[[alerts.webhooks]]\nname = \"it\"\nurl = \"http://{addr}/hook\"\n",
        due.format("%H:%M:%S")
    ));
    std::fs::write(&config, text).unwrap();
    let a = CollectorProcess::serve(&["--config", config.to_str().unwrap(), "--database-url", &db]);
    let b = CollectorProcess::serve(&["--config", config.to_str().unwrap(), "--database-url", &db]);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !(a.log().contains("alert run finished") && b.log().contains("alert run finished")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no alert run:\n{}\n{}",
            a.log(),
            b.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
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
    assert_eq!(
        thresholds,
        vec!["7d", "30d", "60d"],
        "most urgent first, nearest threshold only"
    );

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
    assert_eq!(history.len(), 3, "{history:?}");
    assert!(
        history
            .iter()
            .all(|h| h["state"] == "sent" && h["attempts"] == 1),
        "{history:?}"
    );
    assert!(a.terminate() && b.terminate());
}
