//! Scheduled maintenance and restores (issue 16), on both backends: a daily slot is claimed by
//! one caller, retention deletes exactly what may go (and a dry run counts the same rows
//! without deleting), a revocation list re-applied after a restore revokes again, and commands
//! other than serve/migrate neither create nor migrate a database.

use certfleet_store::{
    self as store, CertificateRecord, EnrollAuthority, Location, NewAlert, OpenMode, Pruned,
    RetentionPolicy, RevocationRecord, SharedStore, Snapshot, SnapshotHolding, StoreError,
    TerminalFacts, TerminalId,
};
use certfleet_testsupport::PgCluster;
use chrono::{DateTime, Duration, TimeZone, Utc};

struct Fixture {
    store: SharedStore,
    _dir: tempfile::TempDir,
}

async fn sqlite_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(None, dir.path(), 4).await.unwrap();
    Fixture { store, _dir: dir }
}

async fn postgres_fixture() -> Fixture {
    let url = PgCluster::shared().fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(Some(&url), dir.path(), 4).await.unwrap();
    Fixture { store, _dir: dir }
}

certfleet_testsupport::both_backends!(
    sqlite: sqlite_fixture,
    postgres: postgres_fixture;
    a_daily_slot_is_claimed_once,
    retention_deletes_what_may_go_and_keeps_what_reports_need,
    revocations_are_reapplied_after_a_restore,
);

/// Day `n` of the scenario (microseconds included, as stored).
fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap() + Duration::days(n)
}

fn facts(machine_id: &str) -> TerminalFacts {
    TerminalFacts {
        machine_id: machine_id.to_owned(),
        hostname: format!("pc-{machine_id}"),
        os_name: "Windows".to_owned(),
        os_version: "10".to_owned(),
        agent_version: "0.1.0".to_owned(),
    }
}

fn cert(tag: &str, office: &str) -> CertificateRecord {
    CertificateRecord {
        sha256: format!("{tag:0>64}"),
        sha1: format!("{tag:0>40}"),
        der: tag.as_bytes().to_vec(),
        subject: format!("CN={office}"),
        issuer: "CN=KANAGAWA KOKUHOREN CA".to_owned(),
        subject_cn: Some(office.to_owned()),
        issuer_cn: Some("KANAGAWA KOKUHOREN CA".to_owned()),
        serial: tag.to_owned(),
        not_before: day(-100),
        not_after: day(1000),
        client_auth: true,
        office_number: Some(office.to_owned()),
    }
}

fn snapshot(
    report_id: &str,
    machine_id: &str,
    at: DateTime<Utc>,
    certs: &[CertificateRecord],
) -> Snapshot {
    let holdings: Vec<SnapshotHolding> = certs
        .iter()
        .map(|c| SnapshotHolding {
            sha256: c.sha256.clone(),
            locations: vec![Location {
                source: "file".to_owned(),
                store: String::new(),
                user: String::new(),
                path: "c.pem".to_owned(),
            }],
            has_private_key: Some(true),
            friendly_name: String::new(),
        })
        .collect();
    let digest: Vec<&str> = certs.iter().map(|c| c.sha256.as_str()).collect();
    Snapshot {
        report_id: report_id.to_owned(),
        facts: facts(machine_id),
        scanned_at: at,
        received_at: at,
        certificates: certs.to_vec(),
        holdings,
        scan_errors: Vec::new(),
        rejected_count: 0,
        holdings_digest: digest.join(","),
    }
}

async fn enrolled(store: &SharedStore, machine_id: &str) -> TerminalId {
    store
        .enroll(
            &facts(machine_id),
            &format!("key-{machine_id}"),
            EnrollAuthority::Agent {
                presented_key_hash: None,
            },
            day(0),
        )
        .await
        .unwrap()
}

async fn a_daily_slot_is_claimed_once(f: Fixture) {
    let s = &f.store;
    assert!(
        s.claim_maintenance_slot("retention", day(1), "a:1")
            .await
            .unwrap()
    );
    assert!(
        !s.claim_maintenance_slot("retention", day(1), "b:2")
            .await
            .unwrap()
    );
    assert!(
        !s.claim_maintenance_slot("retention", day(0), "b:2")
            .await
            .unwrap(),
        "an older slot is never run after a newer one"
    );
    assert!(
        s.claim_maintenance_slot("alerts", day(1), "b:2")
            .await
            .unwrap(),
        "tasks are apart"
    );
    assert!(
        s.claim_maintenance_slot("retention", day(2), "b:2")
            .await
            .unwrap()
    );
    s.record_maintenance_success("retention", day(2), r#"{"reports":3}"#)
        .await
        .unwrap();
    let runs = s.maintenance_runs().await.unwrap();
    let retention = runs.iter().find(|r| r.task == "retention").unwrap();
    assert_eq!(retention.claimed_slot, Some(day(2)));
    assert_eq!(retention.claimed_by.as_deref(), Some("b:2"));
    assert_eq!(retention.last_success_at, Some(day(2)));
    assert_eq!(retention.last_result.as_deref(), Some(r#"{"reports":3}"#));
    let alerts = runs.iter().find(|r| r.task == "alerts").unwrap();
    assert_eq!(alerts.last_success_at, None, "never succeeded yet");
}

fn pair_alert(key: &str, terminal: TerminalId, c: &CertificateRecord) -> NewAlert {
    NewAlert {
        dedupe_key: format!("pair:{terminal}:{}:{key}", c.sha256),
        threshold: key.to_owned(),
        urgency: 7,
        office_number: c.office_number.clone(),
        terminal_id: Some(terminal),
        certificate_sha256: Some(c.sha256.clone()),
        not_after: Some(c.not_after),
        payload: "{}".to_owned(),
    }
}

async fn retention_deletes_what_may_go_and_keeps_what_reports_need(f: Fixture) {
    let s = &f.store;
    let (a, b) = (cert("a", "1400000001"), cert("b", "1400000002"));
    let t1 = enrolled(s, "m-1").await;
    let t2 = enrolled(s, "m-2").await;
    // T1: A and B at day 0, A removed at day 10, unchanged reports at days 20 and 100.
    s.ingest(
        t1,
        &snapshot("r1-0", "m-1", day(0), &[a.clone(), b.clone()]),
    )
    .await
    .unwrap();
    s.ingest(
        t1,
        &snapshot("r1-10", "m-1", day(10), std::slice::from_ref(&b)),
    )
    .await
    .unwrap();
    s.ingest(
        t1,
        &snapshot("r1-20", "m-1", day(20), std::slice::from_ref(&b)),
    )
    .await
    .unwrap();
    s.ingest(
        t1,
        &snapshot("r1-100", "m-1", day(100), std::slice::from_ref(&b)),
    )
    .await
    .unwrap();
    // T2: one report at day 0, then silent.
    s.ingest(
        t2,
        &snapshot("r2-0", "m-2", day(0), std::slice::from_ref(&b)),
    )
    .await
    .unwrap();
    assert_eq!(s.report_count().await.unwrap(), 5);

    // Alerts decided at day 1 and delivered: for A (no longer held), for B (held), T2 stale
    // (it never reported again); one more for B still pending.
    let recipients = ["webhook:it".to_owned()];
    for alert in [
        pair_alert("60d", t1, &a),
        pair_alert("60d", t1, &b),
        NewAlert {
            dedupe_key: format!("stale:{t2}:0"),
            threshold: "stale".to_owned(),
            urgency: 1000,
            office_number: None,
            terminal_id: Some(t2),
            certificate_sha256: None,
            not_after: None,
            payload: "{}".to_owned(),
        },
    ] {
        assert!(s.record_alert(&alert, &recipients, day(1)).await.unwrap());
    }
    let due: Vec<i64> = s
        .due_deliveries(day(1), 100)
        .await
        .unwrap()
        .iter()
        .map(|d| d.delivery_id)
        .collect();
    s.mark_delivered(&due, day(1)).await.unwrap();
    assert!(
        s.record_alert(&pair_alert("30d", t1, &b), &recipients, day(1))
            .await
            .unwrap()
    );

    // Day 200 with 90 days of reports; removed holdings and alerts kept for 30 days here.
    let policy = RetentionPolicy {
        reports_before: day(110),
        removed_holdings_before: day(170),
        alerts_before: day(170),
        orphans_first_seen_before: day(199),
        now: day(200),
        batch: 2,
    };
    let expected = Pruned {
        // T1's reports of days 0, 10 and 20; T1 keeps day 100, T2 its only (old) report.
        reports: 3,
        // A's holding, removed at day 10.
        holdings: 1,
        // A, now held by nobody.
        certificates: 1,
        // The delivered alert about A; B is still held, T2 is still stale, one is pending.
        alert_events: 1,
        alert_deliveries: 1,
    };
    let dry = s.prune(&policy, true).await.unwrap();
    assert_eq!(dry, expected, "a dry run counts what a run deletes");
    assert_eq!(
        s.report_count().await.unwrap(),
        5,
        "a dry run deletes nothing"
    );
    assert!(s.certificate(&a.sha256).await.unwrap().is_some());

    let pruned = s.prune(&policy, false).await.unwrap();
    assert_eq!(pruned, expected);
    assert_eq!(s.report_count().await.unwrap(), 2);
    assert!(s.certificate(&a.sha256).await.unwrap().is_none());
    assert!(s.certificate(&b.sha256).await.unwrap().is_some());
    let h1 = s.holdings(t1).await.unwrap();
    assert_eq!(h1.len(), 1, "{h1:?}");
    assert_eq!(h1[0].sha256, b.sha256);
    assert!(h1[0].removed_at.is_none());
    let history = s.alert_history(100).await.unwrap();
    let subjects: Vec<(Option<String>, String)> = history
        .iter()
        .map(|r| (r.certificate_sha256.clone(), r.threshold.clone()))
        .collect();
    assert_eq!(history.len(), 3, "{subjects:?}");
    assert!(
        history
            .iter()
            .all(|r| r.certificate_sha256.as_deref() != Some(a.sha256.as_str()))
    );

    // Nothing left to do; the reports and a new snapshot are unaffected.
    assert_eq!(s.prune(&policy, false).await.unwrap(), Pruned::default());
    let pairs = s
        .holdings(t2)
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.removed_at.is_none())
        .count();
    assert_eq!(pairs, 1);
    s.ingest(
        t1,
        &snapshot("r1-201", "m-1", day(201), &[a.clone(), b.clone()]),
    )
    .await
    .unwrap();
    assert!(
        s.certificate(&a.sha256).await.unwrap().is_some(),
        "A came back"
    );
}

async fn revocations_are_reapplied_after_a_restore(f: Fixture) {
    let s = &f.store;
    let t1 = enrolled(s, "m-1").await;
    let t2 = enrolled(s, "m-2").await;
    s.revoke_terminal(t1, day(5)).await.unwrap();
    // The list of a database where m-1 was revoked at day 5 and m-2 and m-3 (enrolled after
    // the dump this database stands for) later.
    let list = vec![
        RevocationRecord {
            machine_id: "m-1".into(),
            hostname: "pc-m-1".into(),
            revoked_at: day(5),
        },
        RevocationRecord {
            machine_id: "m-2".into(),
            hostname: "pc-m-2".into(),
            revoked_at: day(6),
        },
        RevocationRecord {
            machine_id: "m-3".into(),
            hostname: "pc-m-3".into(),
            revoked_at: day(7),
        },
    ];
    assert_eq!(s.revocations().await.unwrap(), list[..1].to_vec());
    let summary = s.reapply_revocations(&list).await.unwrap();
    assert_eq!(
        (
            summary.already_revoked,
            summary.revoked_again,
            summary.added_revoked
        ),
        (1, 1, 1)
    );
    assert_eq!(s.revocations().await.unwrap(), list);
    // m-2's node key no longer works; m-3 cannot enroll as a new terminal.
    let auth = s.authenticate("key-m-2").await.unwrap().unwrap();
    assert_eq!(auth.id, t2);
    assert!(auth.revoked);
    let err = s
        .enroll(
            &facts("m-3"),
            "key-m-3",
            EnrollAuthority::Agent {
                presented_key_hash: Some("key-m-3-old"),
            },
            day(8),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Revoked(_)), "{err:?}");
    // Idempotent.
    let again = s.reapply_revocations(&list).await.unwrap();
    assert_eq!(again.already_revoked, 3);
}

#[tokio::test]
async fn other_commands_never_create_a_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let err = store::open_in(None, &data, 2, OpenMode::Existing)
        .await
        .unwrap_err()
        .to_string();
    let expected = data.join(store::SQLITE_FILE_NAME);
    assert!(
        err.contains(&format!("no certfleet database at {}", expected.display())),
        "{err}"
    );
    assert!(!data.exists(), "nothing created");
    let url = format!("sqlite://{}", expected.display());
    let err = store::open_in(Some(&url), &data, 2, OpenMode::Existing)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no certfleet database"), "{err}");
    assert!(!expected.exists());
}

#[tokio::test]
async fn other_commands_refuse_an_empty_postgres_database() {
    let url = PgCluster::shared().fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let err = store::open_in(Some(&url), dir.path(), 2, OpenMode::Existing)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Schema(_)), "{err:?}");
    assert!(err.to_string().contains("no certfleet schema"), "{err}");
    // Still empty: nothing was migrated.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tables, 0);
    store::open(Some(&url), dir.path(), 2).await.unwrap();
    store::open_in(Some(&url), dir.path(), 2, OpenMode::Existing)
        .await
        .unwrap();
}
