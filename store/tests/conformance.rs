//! Storage conformance suite: every behaviour of the `Store` trait, run against both backends.
//!
//! Each test is one async function taking a [`Fixture`]; `both_backends!` turns it into
//! `sqlite::<name>` (a fresh file in a temp dir) and `postgres::<name>` (a fresh database on a
//! throwaway cluster shared by this test binary, or on `CERTFLEET_TEST_DATABASE_URL`). Both
//! backends must give identical answers, so callers never need to know which one they have.

use std::path::Path;
use std::sync::Arc;

use certfleet_store::tracking::{StoredState, TrackingAction, TrackingChange, TrackingFilter};
use certfleet_store::{
    self as store, CertificateRecord, EnrollAuthority, Enrollment, IngestOutcome, Location,
    ScanErrorRecord, SharedStore, Snapshot, SnapshotHolding, StoreError, TerminalFacts, TerminalId,
    TrackingError,
};
use certfleet_testsupport::PgCluster;
use chrono::{DateTime, Duration, TimeZone, Utc};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A store plus what is needed to open the same database again.
struct Fixture {
    store: SharedStore,
    url: Option<String>,
    dir: tempfile::TempDir,
}

impl Fixture {
    async fn reopen(&self) -> SharedStore {
        store::open(self.url.as_deref(), self.dir.path(), 4)
            .await
            .expect("reopen store")
    }
}

async fn sqlite_fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    // `None` → the default file in the data directory, the zero-setup path.
    let store = store::open(None, dir.path(), 4).await.expect("open sqlite");
    Fixture {
        store,
        url: None,
        dir,
    }
}

async fn postgres_fixture() -> Fixture {
    let url = PgCluster::shared().fresh_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::open(Some(&url), dir.path(), 8)
        .await
        .expect("open postgres");
    Fixture {
        store,
        url: Some(url),
        dir,
    }
}

certfleet_testsupport::both_backends!(
    sqlite: sqlite_fixture,
    postgres: postgres_fixture;
    enroll_new_terminal_and_authenticate,
    operator_reset_needs_its_one_time_token,
    report_ids_are_unique_per_terminal,
    pending_terminals_count_only_once_approved,
    migration_0013_removes_urls_from_delivery_errors,
    reenroll_replaces_node_key_and_facts,
    revoked_terminal_cannot_enroll_or_report,
    ingest_accepted_stores_certificates_holdings_and_report,
    removal_sets_removed_at_and_reappearance_clears_it,
    duplicate_report_id_is_stored_once,
    older_snapshot_is_superseded_without_rollback,
    unchanged_digest_only_moves_timestamps,
    future_scan_clock_does_not_freeze_terminal,
    concurrent_ingest_of_same_report_id_stores_one,
    concurrent_snapshots_sharing_new_certificates,
    concurrent_snapshots_of_one_terminal_serialize,
    ingest_for_unknown_terminal_fails,
    list_and_revoke_by_id_machine_id_and_hostname,
    migrations_are_idempotent,
    timestamps_round_trip_and_order,
    session_revocations_persist_and_expire,
    tracking_changes_are_recorded_and_a_newer_certificate_renews,
    tracking_refusals_write_nothing,
    expected_terminals_are_replaced_whole_and_survive_reopen,
);

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

/// A fixed instant with microseconds, so round trips are checked to full stored precision.
fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap()
        + Duration::minutes(minutes)
        + Duration::microseconds(123_456)
}

fn facts(machine_id: &str, hostname: &str) -> TerminalFacts {
    TerminalFacts {
        machine_id: machine_id.to_string(),
        hostname: hostname.to_string(),
        os_name: "Windows".to_string(),
        os_version: "10.0.19045".to_string(),
        agent_version: "0.1.0".to_string(),
    }
}

/// A certificate named by a short tag; office certificates carry an office number.
fn cert(tag: &str, office: Option<&str>) -> CertificateRecord {
    CertificateRecord {
        sha256: format!("{tag:0>64}"),
        sha1: format!("{tag:0>40}"),
        der: format!("DER of {tag}").into_bytes(),
        subject: format!("CN={tag}, O=医療機関"),
        issuer: "CN=Test CA".to_string(),
        subject_cn: Some(tag.to_string()),
        issuer_cn: None,
        serial: format!("0a:{}", tag.len()),
        not_before: t(-60 * 24 * 365),
        not_after: t(60 * 24 * 30),
        client_auth: office.is_some(),
        office_number: office.map(str::to_string),
    }
}

fn holding(c: &CertificateRecord) -> SnapshotHolding {
    SnapshotHolding {
        sha256: c.sha256.clone(),
        locations: vec![Location {
            source: "cryptoapi".to_string(),
            store: "MY".to_string(),
            user: "user1".to_string(),
            path: String::new(),
        }],
        has_private_key: Some(true),
        friendly_name: format!("friendly {}", c.subject_cn.as_deref().unwrap_or("")),
    }
}

/// A snapshot holding `certs`; the digest depends only on the holdings, like the real one.
fn snapshot(
    report_id: &str,
    f: &TerminalFacts,
    scanned_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    certs: &[CertificateRecord],
) -> Snapshot {
    let holdings: Vec<SnapshotHolding> = certs.iter().map(holding).collect();
    let mut keys: Vec<String> = holdings
        .iter()
        .map(|h| {
            format!(
                "{}|{:?}|{:?}|{}",
                h.sha256, h.locations, h.has_private_key, h.friendly_name
            )
        })
        .collect();
    keys.sort();
    Snapshot {
        report_id: report_id.to_string(),
        facts: f.clone(),
        scanned_at,
        received_at,
        certificates: certs.to_vec(),
        holdings,
        scan_errors: vec![ScanErrorRecord {
            source: "file".to_string(),
            path: "C:\\certs\\broken.p12".to_string(),
            message: "bad password".to_string(),
        }],
        rejected_count: 1,
        holdings_digest: format!("digest:{}", keys.join(";")),
    }
}

/// An agent enrolling a machine id for the first time (it holds no node key).
const NEW: EnrollAuthority<'static> = EnrollAuthority::Agent {
    presented_key_hash: None,
};

async fn enrolled(store: &SharedStore, machine_id: &str, hostname: &str) -> TerminalId {
    store
        .enroll(
            &facts(machine_id, hostname),
            &format!("key-{machine_id}"),
            NEW,
            t(0),
        )
        .await
        .expect("enroll")
}

/// (sha256, removed_at.is_some()) per holding, in sha256 order.
async fn holding_states(store: &SharedStore, id: TerminalId) -> Vec<(String, bool)> {
    store
        .holdings(id)
        .await
        .expect("holdings")
        .into_iter()
        .map(|h| (h.sha256, h.removed_at.is_some()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Enrollment and authentication
// ---------------------------------------------------------------------------------------------

async fn enroll_new_terminal_and_authenticate(fx: Fixture) {
    let s = &fx.store;
    let id = s
        .enroll(&facts("m-1", "pc-1"), "hash-1", NEW, t(0))
        .await
        .unwrap();
    let other = s
        .enroll(&facts("m-2", "pc-2"), "hash-2", NEW, t(1))
        .await
        .unwrap();
    assert_ne!(id, other);

    let auth = s.authenticate("hash-1").await.unwrap().expect("known key");
    assert_eq!(
        (auth.id, auth.machine_id.as_str(), auth.revoked),
        (id, "m-1", false)
    );
    assert!(s.authenticate("hash-unknown").await.unwrap().is_none());

    let list = s.list_terminals().await.unwrap();
    assert_eq!(list.len(), 2);
    let first = &list[0];
    assert_eq!(first.id, id);
    assert_eq!(first.hostname, "pc-1");
    assert_eq!(first.os_name, "Windows");
    assert_eq!(first.os_version, "10.0.19045");
    assert_eq!(first.agent_version, "0.1.0");
    assert_eq!(first.enrolled_at, t(0));
    assert_eq!(first.last_report_at, None);
    assert_eq!(first.revoked_at, None);
    assert_eq!(first.certificate_count, 0);
}

async fn reenroll_replaces_node_key_and_facts(fx: Fixture) {
    let s = &fx.store;
    let id = s
        .enroll(&facts("m-1", "pc-old"), "key-a", NEW, t(0))
        .await
        .unwrap();
    let mut newer = facts("m-1", "pc-new");
    newer.agent_version = "0.2.0".to_string();
    // Another installation with the enroll secret but without the terminal's node key cannot
    // take the machine id over.
    match s.enroll(&newer, "key-evil", NEW, t(5)).await {
        Err(StoreError::AlreadyEnrolled(eid)) => assert_eq!(eid, id),
        other => panic!("expected AlreadyEnrolled, got {other:?}"),
    }
    let wrong = EnrollAuthority::Agent {
        presented_key_hash: Some("key-wrong"),
    };
    assert!(matches!(
        s.enroll(&newer, "key-evil", wrong, t(5)).await,
        Err(StoreError::AlreadyEnrolled(_))
    ));
    assert_eq!(
        s.authenticate("key-a").await.unwrap().unwrap().id,
        id,
        "nothing replaced"
    );
    // The terminal itself (presenting its current key) rotates its key.
    let own = EnrollAuthority::Agent {
        presented_key_hash: Some("key-a"),
    };
    let again = s.enroll(&newer, "key-b", own, t(10)).await.unwrap();
    assert_eq!(again, id, "same machine id keeps its terminal");

    assert!(
        s.authenticate("key-a").await.unwrap().is_none(),
        "the old node key no longer works"
    );
    assert_eq!(s.authenticate("key-b").await.unwrap().unwrap().id, id);
    let list = s.list_terminals().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].hostname, "pc-new");
    assert_eq!(list[0].agent_version, "0.2.0");
    assert_eq!(
        list[0].enrolled_at,
        t(0),
        "enrolled_at is the first enrollment"
    );
}

async fn revoked_terminal_cannot_enroll_or_report(fx: Fixture) {
    let s = &fx.store;
    let id = enrolled(s, "m-1", "pc-1").await;
    let revoked = revoke(s, &id.to_string(), t(5)).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(t(5)));

    match s
        .enroll(
            &facts("m-1", "pc-1"),
            "key-new",
            EnrollAuthority::Operator,
            t(6),
        )
        .await
    {
        Err(StoreError::Revoked(rid)) => assert_eq!(rid, id),
        other => panic!("expected Revoked, got {other:?}"),
    }
    let auth = s.authenticate("key-m-1").await.unwrap().unwrap();
    assert!(auth.revoked, "authenticate reports the revocation");
    assert!(
        s.authenticate("key-new").await.unwrap().is_none(),
        "no key was replaced"
    );

    let snap = snapshot(
        "r-1",
        &facts("m-1", "pc-1"),
        t(7),
        t(7),
        &[cert("a", Some("1"))],
    );
    assert!(matches!(s.ingest(id, &snap).await, Err(StoreError::Revoked(rid)) if rid == id));
    assert_eq!(s.report_count().await.unwrap(), 0);

    // Revoking again keeps the first revocation time.
    let again = revoke(s, "m-1", t(9)).await.unwrap();
    assert_eq!(again.revoked_at, Some(t(5)));
}

// ---------------------------------------------------------------------------------------------
// Ingest
// ---------------------------------------------------------------------------------------------

async fn ingest_accepted_stores_certificates_holdings_and_report(fx: Fixture) {
    let s = &fx.store;
    let f = facts("m-1", "pc-1");
    let id = enrolled(s, "m-1", "pc-1").await;
    let a = cert("a", Some("1312345"));
    let b = cert("b", None);
    let mut snap = snapshot("r-1", &f, t(9), t(10), &[a.clone(), b.clone()]);
    snap.holdings[1].has_private_key = None;
    snap.holdings[1].locations.push(Location {
        source: "file".to_string(),
        store: String::new(),
        user: String::new(),
        path: "C:\\Users\\user1\\cert.cer".to_string(),
    });
    snap.facts.os_version = "10.0.22631".to_string();
    assert_eq!(s.ingest(id, &snap).await.unwrap(), IngestOutcome::Accepted);

    assert_eq!(s.certificate(&a.sha256).await.unwrap().as_ref(), Some(&a));
    assert_eq!(s.certificate(&b.sha256).await.unwrap().as_ref(), Some(&b));
    assert!(s.certificate(&"f".repeat(64)).await.unwrap().is_none());

    let holdings = s.holdings(id).await.unwrap();
    assert_eq!(holdings.len(), 2);
    for (stored, sent) in holdings.iter().zip(&snap.holdings) {
        assert_eq!(stored.terminal_id, id);
        assert_eq!(stored.sha256, sent.sha256);
        assert_eq!(stored.locations, sent.locations);
        assert_eq!(stored.has_private_key, sent.has_private_key);
        assert_eq!(stored.friendly_name, sent.friendly_name);
        assert_eq!(
            stored.first_seen,
            t(10),
            "received time, not the agent's clock"
        );
        assert_eq!(stored.last_seen, t(10));
        assert_eq!(stored.removed_at, None);
    }

    assert_eq!(s.report_count().await.unwrap(), 1);
    let list = s.list_terminals().await.unwrap();
    assert_eq!(list[0].certificate_count, 2);
    assert_eq!(list[0].last_report_at, Some(t(10)));
    assert_eq!(
        list[0].os_version, "10.0.22631",
        "facts follow the latest snapshot"
    );

    // A second terminal holding the same certificate shares the stored row.
    let id2 = enrolled(s, "m-2", "pc-2").await;
    let snap2 = snapshot(
        "r-2",
        &facts("m-2", "pc-2"),
        t(11),
        t(11),
        std::slice::from_ref(&a),
    );
    assert_eq!(
        s.ingest(id2, &snap2).await.unwrap(),
        IngestOutcome::Accepted
    );
    assert_eq!(s.holdings(id2).await.unwrap().len(), 1);
    assert_eq!(s.certificate(&a.sha256).await.unwrap().as_ref(), Some(&a));
}

async fn removal_sets_removed_at_and_reappearance_clears_it(fx: Fixture) {
    let s = &fx.store;
    let f = facts("m-1", "pc-1");
    let id = enrolled(s, "m-1", "pc-1").await;
    let (a, b) = (cert("a", Some("1")), cert("b", Some("2")));

    let first = snapshot("r-1", &f, t(10), t(10), &[a.clone(), b.clone()]);
    assert_eq!(s.ingest(id, &first).await.unwrap(), IngestOutcome::Accepted);

    let without_b = snapshot("r-2", &f, t(20), t(20), std::slice::from_ref(&a));
    assert_eq!(
        s.ingest(id, &without_b).await.unwrap(),
        IngestOutcome::Accepted
    );
    let h = s.holdings(id).await.unwrap();
    assert_eq!(h.len(), 2, "removed holdings are kept as history");
    assert_eq!(
        (h[0].sha256.as_str(), h[0].removed_at, h[0].last_seen),
        (a.sha256.as_str(), None, t(20))
    );
    assert_eq!(h[1].sha256, b.sha256);
    assert_eq!(h[1].removed_at, Some(t(20)));
    assert_eq!(
        h[1].last_seen,
        t(10),
        "last_seen stays at the last snapshot that had it"
    );
    assert_eq!(s.list_terminals().await.unwrap()[0].certificate_count, 1);

    let b_back = snapshot("r-3", &f, t(30), t(30), &[a.clone(), b.clone()]);
    assert_eq!(
        s.ingest(id, &b_back).await.unwrap(),
        IngestOutcome::Accepted
    );
    let h = s.holdings(id).await.unwrap();
    assert_eq!(h[1].removed_at, None, "reappearance revives the holding");
    assert_eq!(h[1].first_seen, t(10), "first_seen is kept");
    assert_eq!(h[1].last_seen, t(30));
    assert_eq!(s.list_terminals().await.unwrap()[0].certificate_count, 2);

    // An empty snapshot removes everything.
    let empty = snapshot("r-4", &f, t(40), t(40), &[]);
    assert_eq!(s.ingest(id, &empty).await.unwrap(), IngestOutcome::Accepted);
    assert_eq!(
        holding_states(s, id).await,
        vec![(a.sha256.clone(), true), (b.sha256.clone(), true)]
    );
    assert_eq!(s.list_terminals().await.unwrap()[0].certificate_count, 0);
}

async fn duplicate_report_id_is_stored_once(fx: Fixture) {
    let s = &fx.store;
    let f = facts("m-1", "pc-1");
    let id = enrolled(s, "m-1", "pc-1").await;
    let a = cert("a", Some("1"));
    let snap = snapshot("r-1", &f, t(10), t(10), std::slice::from_ref(&a));
    assert_eq!(s.ingest(id, &snap).await.unwrap(), IngestOutcome::Accepted);
    assert_eq!(s.ingest(id, &snap).await.unwrap(), IngestOutcome::Duplicate);

    // Same id, different content and later: still a duplicate, nothing written.
    let mut changed = snapshot("r-1", &f, t(20), t(20), &[cert("b", Some("2"))]);
    changed.facts.hostname = "renamed".to_string();
    assert_eq!(
        s.ingest(id, &changed).await.unwrap(),
        IngestOutcome::Duplicate
    );
    assert_eq!(s.report_count().await.unwrap(), 1);
    assert_eq!(holding_states(s, id).await, vec![(a.sha256.clone(), false)]);
    assert!(
        s.certificate(&changed.certificates[0].sha256)
            .await
            .unwrap()
            .is_none()
    );
    let list = s.list_terminals().await.unwrap();
    assert_eq!(list[0].hostname, "pc-1");
    assert_eq!(list[0].last_report_at, Some(t(10)));
}

async fn older_snapshot_is_superseded_without_rollback(fx: Fixture) {
    let s = &fx.store;
    let f = facts("m-1", "pc-1");
    let id = enrolled(s, "m-1", "pc-1").await;
    let (a, b) = (cert("a", Some("1")), cert("b", Some("2")));

    let newer = snapshot("r-new", &f, t(20), t(20), &[a.clone(), b.clone()]);
    assert_eq!(s.ingest(id, &newer).await.unwrap(), IngestOutcome::Accepted);
    // A spooled snapshot scanned earlier arrives late: recorded, holdings untouched.
    let older = snapshot("r-old", &f, t(10), t(25), std::slice::from_ref(&a));
    assert_eq!(
        s.ingest(id, &older).await.unwrap(),
        IngestOutcome::Superseded
    );
    assert_eq!(
        holding_states(s, id).await,
        vec![(a.sha256.clone(), false), (b.sha256.clone(), false)]
    );
    assert_eq!(
        s.report_count().await.unwrap(),
        2,
        "the superseded report is recorded"
    );
    assert_eq!(
        s.list_terminals().await.unwrap()[0].last_report_at,
        Some(t(25)),
        "the terminal did report"
    );
    // Replaying it is still a duplicate.
    assert_eq!(
        s.ingest(id, &older).await.unwrap(),
        IngestOutcome::Duplicate
    );

    // A newer snapshot still applies normally.
    let latest = snapshot("r-latest", &f, t(30), t(30), std::slice::from_ref(&a));
    assert_eq!(
        s.ingest(id, &latest).await.unwrap(),
        IngestOutcome::Accepted
    );
    assert_eq!(
        holding_states(s, id).await,
        vec![(a.sha256.clone(), false), (b.sha256.clone(), true)]
    );
}

async fn unchanged_digest_only_moves_timestamps(fx: Fixture) {
    let s = &fx.store;
    let f = facts("m-1", "pc-1");
    let id = enrolled(s, "m-1", "pc-1").await;
    let (a, b) = (cert("a", Some("1")), cert("b", Some("2")));
    let first = snapshot("r-1", &f, t(10), t(10), &[a.clone(), b.clone()]);
    assert_eq!(s.ingest(id, &first).await.unwrap(), IngestOutcome::Accepted);
    let gone = snapshot("r-2", &f, t(20), t(20), std::slice::from_ref(&a));
    assert_eq!(s.ingest(id, &gone).await.unwrap(), IngestOutcome::Accepted);

    let mut same = snapshot("r-3", &f, t(30), t(31), std::slice::from_ref(&a));
    same.facts.hostname = "pc-1-renamed".to_string();
    assert_eq!(same.holdings_digest, gone.holdings_digest);
    assert_eq!(s.ingest(id, &same).await.unwrap(), IngestOutcome::Unchanged);

    let h = s.holdings(id).await.unwrap();
    assert_eq!(h[0].first_seen, t(10));
    assert_eq!(h[0].last_seen, t(31), "live holdings are seen again");
    assert_eq!(
        h[1].removed_at,
        Some(t(20)),
        "removed holdings stay removed"
    );
    assert_eq!(h[1].last_seen, t(10));
    let list = s.list_terminals().await.unwrap();
    assert_eq!(list[0].last_report_at, Some(t(31)));
    assert_eq!(
        list[0].hostname, "pc-1-renamed",
        "facts still follow the snapshot"
    );
    assert_eq!(s.report_count().await.unwrap(), 3);

    // An older snapshot with the same digest is still superseded, not "unchanged".
    let old_same = snapshot("r-4", &f, t(15), t(40), std::slice::from_ref(&a));
    assert_eq!(
        s.ingest(id, &old_same).await.unwrap(),
        IngestOutcome::Superseded
    );
    // And a different snapshot after the cheap path is a normal replace.
    let changed = snapshot("r-5", &f, t(50), t(50), std::slice::from_ref(&b));
    assert_eq!(
        s.ingest(id, &changed).await.unwrap(),
        IngestOutcome::Accepted
    );
    assert_eq!(
        holding_states(s, id).await,
        vec![(a.sha256.clone(), true), (b.sha256.clone(), false)]
    );
}

async fn future_scan_clock_does_not_freeze_terminal(fx: Fixture) {
    let s = &fx.store;
    let f = facts("m-1", "pc-1");
    let id = enrolled(s, "m-1", "pc-1").await;
    let (a, b) = (cert("a", Some("1")), cert("b", Some("2")));
    // The PC's clock is a year ahead for one scan.
    let skewed = snapshot("r-1", &f, t(60 * 24 * 365), t(10), std::slice::from_ref(&a));
    assert_eq!(
        s.ingest(id, &skewed).await.unwrap(),
        IngestOutcome::Accepted
    );
    // After the clock is fixed, later snapshots still apply.
    let fixed = snapshot("r-2", &f, t(20), t(20), std::slice::from_ref(&b));
    assert_eq!(s.ingest(id, &fixed).await.unwrap(), IngestOutcome::Accepted);
    assert_eq!(
        holding_states(s, id).await,
        vec![(a.sha256.clone(), true), (b.sha256.clone(), false)]
    );
}

async fn concurrent_ingest_of_same_report_id_stores_one(fx: Fixture) {
    let s = fx.store.clone();
    let f = facts("m-1", "pc-1");
    let id = enrolled(&s, "m-1", "pc-1").await;
    let snap = Arc::new(snapshot(
        "r-same",
        &f,
        t(10),
        t(10),
        &[cert("a", Some("1")), cert("b", None)],
    ));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (s, snap) = (s.clone(), snap.clone());
        tasks.push(tokio::spawn(async move { s.ingest(id, &snap).await }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().expect("no error under concurrency"));
    }
    let accepted = outcomes
        .iter()
        .filter(|o| **o == IngestOutcome::Accepted)
        .count();
    let duplicate = outcomes
        .iter()
        .filter(|o| **o == IngestOutcome::Duplicate)
        .count();
    assert_eq!((accepted, duplicate), (1, 3), "{outcomes:?}");
    assert_eq!(s.report_count().await.unwrap(), 1);
    assert_eq!(s.holdings(id).await.unwrap().len(), 2);

    // The same race on the cheap path (an unchanged snapshot sent several times at once).
    let mut again = (*snap).clone();
    again.report_id = "r-again".to_string();
    again.scanned_at = t(20);
    again.received_at = t(20);
    let again = Arc::new(again);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (s, snap) = (s.clone(), again.clone());
        tasks.push(tokio::spawn(async move { s.ingest(id, &snap).await }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().expect("no error under concurrency"));
    }
    let unchanged = outcomes
        .iter()
        .filter(|o| **o == IngestOutcome::Unchanged)
        .count();
    let duplicate = outcomes
        .iter()
        .filter(|o| **o == IngestOutcome::Duplicate)
        .count();
    assert_eq!((unchanged, duplicate), (1, 3), "{outcomes:?}");
    assert_eq!(s.report_count().await.unwrap(), 2);
    assert!(
        s.holdings(id)
            .await
            .unwrap()
            .iter()
            .all(|h| h.last_seen == t(20))
    );
}

async fn concurrent_snapshots_sharing_new_certificates(fx: Fixture) {
    let s = fx.store.clone();
    let shared: Vec<CertificateRecord> =
        (0..6).map(|i| cert(&format!("s{i}"), Some("9"))).collect();
    let mut tasks = Vec::new();
    for n in 0..8 {
        let machine = format!("m-{n}");
        let id = enrolled(&s, &machine, &format!("pc-{n}")).await;
        // Each terminal sends the shared certificates in a different order plus one of its own.
        let mut certs = shared.clone();
        certs.rotate_left(n % shared.len());
        if n % 2 == 1 {
            certs.reverse();
        }
        certs.push(cert(&format!("own{n}"), Some("9")));
        let snap = snapshot(
            &format!("r-{n}"),
            &facts(&machine, "pc"),
            t(10),
            t(10),
            &certs,
        );
        let s = s.clone();
        tasks.push(tokio::spawn(async move { (id, s.ingest(id, &snap).await) }));
    }
    for task in tasks {
        let (id, outcome) = task.await.unwrap();
        assert_eq!(
            outcome.expect("no deadlock or conflict error"),
            IngestOutcome::Accepted
        );
        assert_eq!(s.holdings(id).await.unwrap().len(), 7);
    }
    assert_eq!(s.report_count().await.unwrap(), 8);
}

async fn concurrent_snapshots_of_one_terminal_serialize(fx: Fixture) {
    let s = fx.store.clone();
    let f = facts("m-1", "pc-1");
    let id = enrolled(&s, "m-1", "pc-1").await;
    // Ten different snapshots race; whatever the order, the newest scan must win.
    let mut tasks = Vec::new();
    for n in 0..10i64 {
        let snap = snapshot(
            &format!("r-{n}"),
            &f,
            t(n),
            t(100),
            &[cert(&format!("c{n}"), Some("1"))],
        );
        let s = s.clone();
        tasks.push(tokio::spawn(async move { s.ingest(id, &snap).await }));
    }
    for task in tasks {
        let outcome = task.await.unwrap().expect("no error under concurrency");
        assert!(matches!(
            outcome,
            IngestOutcome::Accepted | IngestOutcome::Superseded
        ));
    }
    let live: Vec<String> = s
        .holdings(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.removed_at.is_none())
        .map(|h| h.sha256)
        .collect();
    assert_eq!(live, vec![cert("c9", None).sha256], "newest scan wins");
    assert_eq!(s.report_count().await.unwrap(), 10);
}

async fn ingest_for_unknown_terminal_fails(fx: Fixture) {
    let s = &fx.store;
    let snap = snapshot("r-1", &facts("m-x", "pc-x"), t(1), t(1), &[cert("a", None)]);
    assert!(matches!(
        s.ingest(999_999, &snap).await,
        Err(StoreError::NoSuchTerminal(_))
    ));
    assert_eq!(s.report_count().await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// Listing and revocation
// ---------------------------------------------------------------------------------------------

/// `terminal revoke SELECTOR`: find the terminal, then revoke it by id.
async fn revoke(
    s: &SharedStore,
    selector: &str,
    now: DateTime<Utc>,
) -> Result<store::TerminalSummary, StoreError> {
    let t = s.find_terminal(selector).await?;
    s.revoke_terminal(t.id, now).await
}

async fn list_and_revoke_by_id_machine_id_and_hostname(fx: Fixture) {
    let s = &fx.store;
    let a = enrolled(s, "m-a", "pc-a").await;
    let dup1 = enrolled(s, "m-dup-1", "pc-dup").await;
    let dup2 = enrolled(s, "m-dup-2", "pc-dup").await;
    // A hostname that looks like an id of nobody.
    let numeric = enrolled(s, "m-num", "424242").await;

    let snap = snapshot(
        "r-1",
        &facts("m-a", "pc-a"),
        t(1),
        t(1),
        &[cert("a", Some("1"))],
    );
    s.ingest(a, &snap).await.unwrap();
    let list = s.list_terminals().await.unwrap();
    assert_eq!(
        list.iter()
            .map(|t| (t.id, t.certificate_count))
            .collect::<Vec<_>>(),
        vec![(a, 1), (dup1, 0), (dup2, 0), (numeric, 0)]
    );

    assert!(matches!(
        revoke(s, "pc-dup", t(2)).await,
        Err(StoreError::AmbiguousTerminal(sel)) if sel == "pc-dup"
    ));
    assert!(matches!(
        revoke(s, "nobody", t(2)).await,
        Err(StoreError::NoSuchTerminal(sel)) if sel == "nobody"
    ));
    assert!(
        s.list_terminals()
            .await
            .unwrap()
            .iter()
            .all(|t| t.revoked_at.is_none()),
        "failed revocations change nothing"
    );

    let by_host = revoke(s, "pc-a", t(3)).await.unwrap();
    assert_eq!(
        (by_host.id, by_host.revoked_at, by_host.certificate_count),
        (a, Some(t(3)), 1)
    );
    let by_machine = revoke(s, "m-dup-1", t(4)).await.unwrap();
    assert_eq!(by_machine.id, dup1);
    let by_id = revoke(s, &dup2.to_string(), t(5)).await.unwrap();
    assert_eq!(by_id.id, dup2);
    let by_numeric_host = revoke(s, "424242", t(6)).await.unwrap();
    assert_eq!(by_numeric_host.id, numeric);
    let found = s.find_terminal(" m-a ").await.unwrap();
    assert_eq!(
        (found.id, found.revoked_at),
        (a, Some(t(3))),
        "revoked ones are found too"
    );
    assert!(matches!(
        s.revoke_terminal(999_999, t(7)).await,
        Err(StoreError::NoSuchTerminal(_))
    ));

    let list = s.list_terminals().await.unwrap();
    assert_eq!(
        list.iter().map(|t| t.revoked_at).collect::<Vec<_>>(),
        vec![Some(t(3)), Some(t(4)), Some(t(5)), Some(t(6))]
    );
}

// ---------------------------------------------------------------------------------------------
// Migrations, timestamps
// ---------------------------------------------------------------------------------------------

async fn migrations_are_idempotent(fx: Fixture) {
    let id = enrolled(&fx.store, "m-1", "pc-1").await;
    fx.store.migrate().await.expect("second migrate is a no-op");
    fx.store.ping().await.unwrap();
    // Opening the same database again (a collector restart) migrates again and keeps data.
    let again = fx.reopen().await;
    again.migrate().await.unwrap();
    let list = again.list_terminals().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, id);
}

async fn timestamps_round_trip_and_order(fx: Fixture) {
    let s = &fx.store;
    let f = facts("m-1", "pc-1");
    let id = enrolled(s, "m-1", "pc-1").await;
    // Far past / far future validity, sub-second precision, and nanoseconds beyond what is
    // stored (truncated to microseconds on both backends).
    let mut c = cert("a", Some("1"));
    c.not_before = Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap();
    c.not_after =
        Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap() + Duration::microseconds(999_999);
    let received = t(0) + Duration::nanoseconds(789);
    let snap = snapshot("r-1", &f, received, received, std::slice::from_ref(&c));
    s.ingest(id, &snap).await.unwrap();
    let stored = s.certificate(&c.sha256).await.unwrap().unwrap();
    assert_eq!(stored.not_before, c.not_before);
    assert_eq!(stored.not_after, c.not_after);
    assert_eq!(
        s.holdings(id).await.unwrap()[0].first_seen,
        t(0),
        "truncated to microseconds"
    );

    // Sub-second order must be kept: a snapshot 1 µs older is superseded.
    let older = snapshot("r-2", &f, t(0) - Duration::microseconds(1), t(1), &[]);
    assert_eq!(
        s.ingest(id, &older).await.unwrap(),
        IngestOutcome::Superseded
    );
    let same_instant = snapshot("r-3", &f, t(0), t(1), &[]);
    assert_eq!(
        s.ingest(id, &same_instant).await.unwrap(),
        IngestOutcome::Accepted
    );
}

// ---------------------------------------------------------------------------------------------
// Backend selection and failures (not per backend)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn open_defaults_to_sqlite_file_in_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    let s = store::open(None, &data, 2).await.unwrap();
    s.ping().await.unwrap();
    assert!(data.join("certfleet.db").is_file());
    // An empty URL means the same.
    let s2 = store::open(Some(""), &data, 2).await.unwrap();
    s2.ping().await.unwrap();
}

#[tokio::test]
async fn open_sqlite_url() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sub").join("x.db");
    let url = format!("sqlite://{}", file.display());
    let s = store::open(Some(&url), Path::new("/nonexistent-unused"), 2)
        .await
        .unwrap();
    enrolled(&s, "m-1", "pc-1").await;
    assert!(file.is_file());
}

#[tokio::test]
async fn open_rejects_unknown_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let err = store::open(Some("mysql://root:secret@db/x"), dir.path(), 2)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("\"mysql\""), "{msg}");
    assert!(!msg.contains("secret"), "no credentials in errors: {msg}");
    assert!(!err.is_unavailable());
}

#[tokio::test]
async fn open_unreachable_postgres_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: connection refused at once.
    let err = store::open(Some("postgres://postgres@127.0.0.1:1/x"), dir.path(), 2)
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

/// PostgreSQL restarted under a running store: requests fail as Unavailable while it is down
/// and succeed again afterwards with the same store (pool) — no collector restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_under_running_store_recovers() {
    // Its own local cluster even when CERTFLEET_TEST_DATABASE_URL is set: stopping the shared
    // one would break the tests running beside it, and an external server may not be stopped.
    let pg = PgCluster::start_managed();
    let url = pg.fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let s = store::open(Some(&url), dir.path(), 4).await.unwrap();
    let f = facts("m-1", "pc-1");
    let id = enrolled(&s, "m-1", "pc-1").await;
    let first = snapshot("r-1", &f, t(1), t(1), &[cert("a", Some("1"))]);
    assert_eq!(s.ingest(id, &first).await.unwrap(), IngestOutcome::Accepted);

    pg.stop();
    let down = snapshot("r-2", &f, t(2), t(2), &[cert("b", Some("1"))]);
    let err = s.ingest(id, &down).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(s.ping().await.unwrap_err().is_unavailable());

    pg.start_again();
    assert_eq!(s.ingest(id, &down).await.unwrap(), IngestOutcome::Accepted);
    assert_eq!(
        s.report_count().await.unwrap(),
        2,
        "nothing lost, nothing doubled"
    );
}

/// Not a pass/fail test: prints what a changed and an unchanged snapshot cost on PostgreSQL
/// (`cargo test --release --test store_conformance ingest_cost -- --ignored --nocapture`). The
/// real throughput benchmark (gRPC + TLS) lives with the collector; this isolates the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run by hand"]
async fn ingest_cost_changed_vs_unchanged_postgres() {
    const TERMINALS: usize = 400;
    const CONCURRENCY: usize = 16;
    let fx = postgres_fixture().await;
    let s = fx.store.clone();
    let mut ids = Vec::new();
    for n in 0..TERMINALS {
        ids.push(enrolled(&s, &format!("m-{n}"), &format!("pc-{n}")).await);
    }
    let snaps = |round: i64, change: bool| -> Vec<(TerminalId, Snapshot)> {
        ids.iter()
            .enumerate()
            .map(|(n, id)| {
                let mut certs = vec![
                    cert(&format!("o{n}"), Some("1")),
                    cert(&format!("p{n}"), None),
                    cert("shared-root", None),
                ];
                if change {
                    certs[1] = cert(&format!("p{n}r{round}"), None);
                }
                let f = facts(&format!("m-{n}"), &format!("pc-{n}"));
                (
                    *id,
                    snapshot(&format!("r-{round}-{n}"), &f, t(round), t(round), &certs),
                )
            })
            .collect()
    };
    async fn run(s: &SharedStore, work: Vec<(TerminalId, Snapshot)>) -> (f64, IngestOutcome) {
        let work = Arc::new(tokio::sync::Mutex::new(work));
        let start = std::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENCY {
            let (s, work) = (s.clone(), work.clone());
            tasks.push(tokio::spawn(async move {
                let mut last = None;
                loop {
                    let Some((id, snap)) = work.lock().await.pop() else {
                        return last;
                    };
                    last = Some(s.ingest(id, &snap).await.unwrap());
                }
            }));
        }
        let mut outcome = None;
        for task in tasks {
            outcome = task.await.unwrap().or(outcome);
        }
        (start.elapsed().as_secs_f64(), outcome.unwrap())
    }
    let (first, o1) = run(&s, snaps(1, false)).await;
    let (unchanged, o2) = run(&s, snaps(2, false)).await;
    let (changed, o3) = run(&s, snaps(3, true)).await;
    assert_eq!(
        (o1, o2, o3),
        (
            IngestOutcome::Accepted,
            IngestOutcome::Unchanged,
            IngestOutcome::Accepted
        )
    );
    let per = |secs: f64| {
        format!(
            "{:.0} reports/s ({:.0} µs each)",
            TERMINALS as f64 / secs,
            secs * 1e6 / TERMINALS as f64
        )
    };
    eprintln!("first snapshot (new certificates): {}", per(first));
    eprintln!("unchanged snapshot (cheap path):   {}", per(unchanged));
    eprintln!("changed snapshot (one cert swapped): {}", per(changed));
}

async fn operator_reset_needs_its_one_time_token(fx: Fixture) {
    let s = &fx.store;
    let id = enrolled(s, "m-1", "pc-1").await;
    // `terminal reset` stores `reset:` + the hash of a one-time token: the old key stops
    // working, and only an agent presenting the token may enroll the machine id again.
    s.enroll(
        &facts("m-1", "pc-1"),
        "reset:hash-of-token",
        EnrollAuthority::Operator,
        t(1),
    )
    .await
    .unwrap();
    assert!(s.authenticate("key-m-1").await.unwrap().is_none());
    for presented in [None, Some("hash-of-another"), Some("key-m-1")] {
        let who = EnrollAuthority::Agent {
            presented_key_hash: presented,
        };
        assert!(
            matches!(
                s.enroll(&facts("m-1", "pc-1"), "key-thief", who, t(2))
                    .await,
                Err(StoreError::AlreadyEnrolled(_))
            ),
            "claimed with {presented:?}"
        );
    }
    let token = EnrollAuthority::Agent {
        presented_key_hash: Some("hash-of-token"),
    };
    let again = s
        .enroll(&facts("m-1", "pc-1"), "key-fresh", token, t(3))
        .await
        .unwrap();
    assert_eq!(again, id);
    assert_eq!(s.authenticate("key-fresh").await.unwrap().unwrap().id, id);
    // The token is spent, and the machine id is protected again.
    for who in [token, NEW] {
        assert!(matches!(
            s.enroll(&facts("m-1", "pc-1"), "key-other", who, t(4))
                .await,
            Err(StoreError::AlreadyEnrolled(_))
        ));
    }
}

async fn report_ids_are_unique_per_terminal(fx: Fixture) {
    let s = &fx.store;
    let (fa, fb) = (facts("m-a", "pc-a"), facts("m-b", "pc-b"));
    let a = enrolled(s, "m-a", "pc-a").await;
    let b = enrolled(s, "m-b", "pc-b").await;
    let ca = cert("a", Some("1111111111"));
    let cb = cert("b", Some("2222222222"));
    // Both agents happen to use the same report id: neither report may be dropped.
    let snap_a = snapshot("r-same", &fa, t(10), t(10), std::slice::from_ref(&ca));
    let snap_b = snapshot("r-same", &fb, t(11), t(11), std::slice::from_ref(&cb));
    assert_eq!(s.ingest(a, &snap_a).await.unwrap(), IngestOutcome::Accepted);
    assert_eq!(s.ingest(b, &snap_b).await.unwrap(), IngestOutcome::Accepted);
    assert_eq!(holding_states(s, b).await, vec![(cb.sha256.clone(), false)]);
    assert_eq!(s.report_count().await.unwrap(), 2);
    // Within one terminal the id still makes a replay a duplicate.
    assert_eq!(
        s.ingest(b, &snap_b).await.unwrap(),
        IngestOutcome::Duplicate
    );
    let mut unchanged_b = snap_b.clone();
    unchanged_b.report_id = "r-same".into();
    unchanged_b.received_at = t(12);
    assert_eq!(
        s.ingest(b, &unchanged_b).await.unwrap(),
        IngestOutcome::Duplicate
    );
    assert_eq!(s.report_count().await.unwrap(), 2);
}

async fn pending_terminals_count_only_once_approved(fx: Fixture) {
    use certfleet_store::reports::{PairFilter, PairRowFilter, TerminalFilter};
    let s = &fx.store;
    let f = facts("m-new", "pc-new");
    let id = s
        .enroll_terminal(&Enrollment {
            facts: &f,
            node_key_hash: "key-m-new",
            authority: NEW,
            pending: true,
            peer: Some("192.0.2.7"),
            now: t(0),
        })
        .await
        .unwrap();
    let old = enrolled(s, "m-old", "pc-old").await;
    let office = cert("p", Some("3333333333"));
    let snap = snapshot("r-1", &f, t(10), t(10), std::slice::from_ref(&office));
    assert_eq!(s.ingest(id, &snap).await.unwrap(), IngestOutcome::Accepted);

    let pending = s.pending_terminals().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, id);
    assert_eq!(pending[0].pending_since, Some(t(0)));
    assert_eq!(pending[0].enrolled_from.as_deref(), Some("192.0.2.7"));
    assert_eq!(pending[0].certificate_count, 1, "its holdings are stored");

    // Nothing of the report side sees it.
    let counted = |s: SharedStore| async move {
        let holdings = s.office_holdings(&PairFilter::default()).await.unwrap();
        let pairs = s.pair_expiries(&[], &[]).await.unwrap();
        let terminals = s
            .report_terminals(&TerminalFilter::default())
            .await
            .unwrap();
        let mut rows = Vec::new();
        let activity = s
            .pair_report_rows(&PairRowFilter::default(), &mut |r| rows.push(r.terminal_id))
            .await
            .unwrap();
        (
            holdings.iter().map(|h| h.terminal_id).collect::<Vec<_>>(),
            pairs.iter().map(|p| p.terminal_id).collect::<Vec<_>>(),
            terminals.iter().map(|t| t.id).collect::<Vec<_>>(),
            activity.iter().map(|a| a.id).collect::<Vec<_>>(),
        )
    };
    let (holdings, pairs, terminals, activity) = counted(s.clone()).await;
    assert!(holdings.is_empty() && pairs.is_empty() && activity.is_empty());
    assert_eq!(terminals, vec![old]);

    // Re-enrolling with its own key does not approve it.
    let again = s
        .enroll_terminal(&Enrollment {
            facts: &f,
            node_key_hash: "key-m-new-2",
            authority: EnrollAuthority::Agent {
                presented_key_hash: Some("key-m-new"),
            },
            pending: false,
            peer: None,
            now: t(20),
        })
        .await
        .unwrap();
    assert_eq!(again, id);
    assert_eq!(s.pending_terminals().await.unwrap().len(), 1);

    let approved = s.approve_terminal(id, t(30)).await.unwrap();
    assert_eq!(approved.pending_since, None);
    assert!(s.pending_terminals().await.unwrap().is_empty());
    let (holdings, pairs, mut terminals, activity) = counted(s.clone()).await;
    assert_eq!((holdings, pairs, activity), (vec![id], vec![id], vec![id]));
    terminals.sort();
    assert_eq!(terminals, vec![id, old]);
    // Approving twice changes nothing; unknown and revoked terminals are errors.
    assert_eq!(
        s.approve_terminal(id, t(31)).await.unwrap().pending_since,
        None
    );
    assert!(matches!(
        s.approve_terminal(9_999, t(32)).await,
        Err(StoreError::NoSuchTerminal(_))
    ));
    s.revoke_terminal(old, t(33)).await.unwrap();
    assert!(matches!(
        s.approve_terminal(old, t(34)).await,
        Err(StoreError::Revoked(_))
    ));
}

/// Migration 0013 over rows an earlier version wrote: an error naming a URL is replaced, the
/// others stay. The migration's own SQL text runs again on the migrated database (it is
/// idempotent), after the rows were written as the old code did.
async fn migration_0013_removes_urls_from_delivery_errors(fx: Fixture) {
    let leaked = "webhook chat failed: error sending request for url \
                  (https://hooks.slack.com/services/T0/B0/SECRET)";
    let statements = [
        "INSERT INTO alert_events (id, dedupe_key, decided_at, threshold, urgency, payload) \
         VALUES (1, 'k1', '2026-11-01T00:00:00Z', '7d', 7, '{}')"
            .to_owned(),
        format!(
            "INSERT INTO alert_deliveries (event_id, recipient, attempts, last_error, \
             next_attempt_at) VALUES (1, 'webhook:chat', 1, '{leaked}', '2026-11-01T00:00:00Z'), \
             (1, 'email:it@example.jp', 1, 'SMTP delivery failed: 550 mailbox unavailable', \
             '2026-11-01T00:00:00Z')"
        ),
    ];
    let migration_sql = |backend: &str| {
        let path = format!(
            "{}/migrations/{backend}/0013_redact_delivery_errors.sql",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    };
    match &fx.url {
        Some(url) => {
            let pg = store::PgStore::connect(url, 2).await.unwrap();
            for sql in &statements {
                sqlx::query(sql).execute(pg.pool()).await.unwrap();
            }
            sqlx::raw_sql(&migration_sql("postgres"))
                .execute(pg.pool())
                .await
                .unwrap();
        }
        None => {
            let path = fx.dir.path().join(store::SQLITE_FILE_NAME);
            let lite = store::SqliteStore::open_file(&path, 2).await.unwrap();
            for sql in &statements {
                sqlx::query(sql).execute(lite.pool()).await.unwrap();
            }
            sqlx::raw_sql(&migration_sql("sqlite"))
                .execute(lite.pool())
                .await
                .unwrap();
        }
    }
    let mut errors: Vec<String> = fx
        .store
        .alert_history(10)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| r.last_error)
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            "SMTP delivery failed: 550 mailbox unavailable".to_owned(),
            "error text removed by migration 0013: it named a URL".to_owned(),
        ]
    );
}

/// A logout is remembered by the database: visible after reopening it (another replica, a
/// restart), refused until the session's own expiry, then pruned by the next logout.
async fn session_revocations_persist_and_expire(fx: Fixture) {
    let a = [7u8; 32];
    let b = [9u8; 32];
    assert!(!fx.store.session_revoked(&a, t(0)).await.unwrap());
    fx.store.revoke_session(&a, t(60), t(0)).await.unwrap();
    fx.store.revoke_session(&a, t(60), t(1)).await.unwrap();
    assert!(fx.store.session_revoked(&a, t(1)).await.unwrap());
    assert!(!fx.store.session_revoked(&b, t(1)).await.unwrap());
    let other = fx.reopen().await;
    assert!(
        other.session_revoked(&a, t(59)).await.unwrap(),
        "another process sees it"
    );
    assert!(
        !other.session_revoked(&a, t(60)).await.unwrap(),
        "expired with the session"
    );
    // An already expired session is not stored; the next logout prunes the expired row.
    other.revoke_session(&b, t(61), t(61)).await.unwrap();
    assert!(!other.session_revoked(&b, t(0)).await.unwrap());
    assert!(
        !fx.store.session_revoked(&a, t(0)).await.unwrap(),
        "pruned at t(61)"
    );
}

// ---------------------------------------------------------------------------------------------
// Renewal tracking (issue 17 §1)
// ---------------------------------------------------------------------------------------------

fn tracking_change(
    terminal_id: TerminalId,
    office: &str,
    action: TrackingAction,
    minutes: i64,
) -> TrackingChange {
    TrackingChange {
        terminal_id,
        office_number: office.into(),
        action,
        who: "alice".into(),
        now: t(minutes),
        today: t(minutes).date_naive(),
    }
}

/// Request, reissue and hold are stored with their history; a snapshot whose effective
/// certificate ends later closes the entry as renewed (by certfleet, in the history); one that
/// does not (same certificate, an older one) leaves it open. Another process sees it all.
async fn tracking_changes_are_recorded_and_a_newer_certificate_renews(fx: Fixture) {
    let s = &fx.store;
    let id = enrolled(s, "m-1", "pc-1").await;
    let f = facts("m-1", "pc-1");
    let old = cert("old", Some("1400000001"));
    let other = cert("oth", Some("1400000002"));
    s.ingest(
        id,
        &snapshot("r1", &f, t(1), t(1), &[old.clone(), other.clone()]),
    )
    .await
    .unwrap();
    let today = t(10).date_naive();
    let e = s
        .change_tracking(&tracking_change(
            id,
            "1400000001",
            TrackingAction::Requested {
                on: today,
                note: "certsrv #12".into(),
            },
            10,
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.state, StoredState::Requested);
    assert_eq!(e.baseline_not_after, old.not_after);
    s.change_tracking(&tracking_change(
        id,
        "1400000002",
        TrackingAction::Hold {
            until: today + Duration::days(20),
            reason: "office closed".into(),
        },
        11,
    ))
    .await
    .unwrap();
    s.change_tracking(&tracking_change(
        id,
        "1400000001",
        TrackingAction::Reissue {
            on: today,
            note: "password lost".into(),
        },
        12,
    ))
    .await
    .unwrap();

    // The same holdings again (another scan) and a snapshot adding an older certificate do
    // not renew.
    let mut older = cert("older", Some("1400000001"));
    older.not_after = old.not_after - Duration::days(400);
    s.ingest(
        id,
        &snapshot("r2", &f, t(20), t(20), &[old.clone(), other.clone(), older]),
    )
    .await
    .unwrap();
    let entries = s
        .tracking_entries(&TrackingFilter::default())
        .await
        .unwrap();
    assert_eq!(
        entries.iter().map(|e| e.state).collect::<Vec<_>>(),
        [StoredState::Reissue, StoredState::OnHold]
    );

    // The renewed certificate arrives beside the old one.
    let mut new = cert("new", Some("1400000001"));
    new.not_after = old.not_after + Duration::days(730);
    s.ingest(
        id,
        &snapshot(
            "r3",
            &f,
            t(30),
            t(30),
            &[old.clone(), new.clone(), other.clone()],
        ),
    )
    .await
    .unwrap();
    let other_process = fx.reopen().await;
    let entries = other_process
        .tracking_entries(&TrackingFilter {
            terminal_ids: vec![id],
            offices: vec!["1400000001".into()],
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    let renewed = &entries[0];
    assert_eq!(renewed.state, StoredState::Renewed);
    assert_eq!(renewed.renewed_at, Some(t(30)));
    assert_eq!(renewed.renewed_not_after, Some(new.not_after));
    assert_eq!(renewed.requested_on, Some(today));
    assert_eq!(renewed.changed_by, "certfleet");

    let history = other_process
        .tracking_history(id, "1400000001")
        .await
        .unwrap();
    let steps: Vec<(Option<StoredState>, Option<StoredState>, &str)> = history
        .iter()
        .map(|h| (h.from_state, h.to_state, h.changed_by.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            (None, Some(StoredState::Requested), "alice"),
            (
                Some(StoredState::Requested),
                Some(StoredState::Reissue),
                "alice"
            ),
            (
                Some(StoredState::Reissue),
                Some(StoredState::Renewed),
                "certfleet"
            ),
        ]
    );
    assert_eq!(history[0].note, "certsrv #12");
    assert_eq!(history[0].changed_at, t(10));
    // The hold on the other office is untouched: its certificate did not change.
    let held = other_process
        .tracking_entries(&TrackingFilter {
            terminal_ids: vec![],
            offices: vec!["1400000002".into()],
        })
        .await
        .unwrap();
    assert_eq!(held[0].state, StoredState::OnHold);
    assert_eq!(held[0].note, "office closed");
}

/// An unknown pair, a date in the past and a senseless transition are refused with an error
/// naming them, and what was stored stays as it was.
async fn tracking_refusals_write_nothing(fx: Fixture) {
    let s = &fx.store;
    let id = enrolled(s, "m-1", "pc-1").await;
    let f = facts("m-1", "pc-1");
    s.ingest(
        id,
        &snapshot("r1", &f, t(1), t(1), &[cert("a", Some("1400000001"))]),
    )
    .await
    .unwrap();
    let today = t(10).date_naive();
    let unknown = s
        .change_tracking(&tracking_change(
            id,
            "1499999999",
            TrackingAction::Requested {
                on: today,
                note: String::new(),
            },
            10,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(
            unknown,
            StoreError::Tracking(TrackingError::UnknownPair { .. })
        ),
        "{unknown}"
    );
    let no_terminal = s
        .change_tracking(&tracking_change(
            id + 100,
            "1400000001",
            TrackingAction::Retire {
                note: String::new(),
            },
            10,
        ))
        .await
        .unwrap_err();
    assert!(matches!(
        no_terminal,
        StoreError::Tracking(TrackingError::UnknownPair { .. })
    ));
    s.change_tracking(&tracking_change(
        id,
        "1400000001",
        TrackingAction::Retire {
            note: "PC scrapped".into(),
        },
        11,
    ))
    .await
    .unwrap();
    let past = s
        .change_tracking(&tracking_change(
            id,
            "1400000001",
            TrackingAction::Hold {
                until: today - Duration::days(1),
                reason: "x".into(),
            },
            12,
        ))
        .await
        .unwrap_err();
    assert!(past.to_string().contains("retired"), "{past}");
    let again = s
        .change_tracking(&tracking_change(
            id,
            "1400000001",
            TrackingAction::Requested {
                on: today,
                note: String::new(),
            },
            12,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        again.to_string(),
        "cannot apply requested to a pair that is retired: clear the retirement first"
    );
    let entries = s
        .tracking_entries(&TrackingFilter::default())
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].state, StoredState::Retired);
    assert_eq!(entries[0].note, "PC scrapped");
    assert_eq!(s.tracking_history(id, "1400000001").await.unwrap().len(), 1);
}

/// The expected-terminal list (migration 0030): an import replaces the whole list, keeps file
/// order, and a failed replacement (a duplicate the database refuses) leaves the previous list.
async fn expected_terminals_are_replaced_whole_and_survive_reopen(f: Fixture) {
    use certfleet_store::ExpectedTerminal;
    let (empty, at) = f.store.expected_terminals().await.unwrap();
    assert!(empty.is_empty());
    assert_eq!(at, None);
    let first = vec![
        ExpectedTerminal {
            hostname: "HONBU-PC01".into(),
            machine_id: Some("m-1".into()),
            offices: vec!["1234567890".into(), "1234567891".into()],
        },
        ExpectedTerminal {
            hostname: "aoba-pc02".into(),
            machine_id: None,
            offices: vec![],
        },
    ];
    f.store
        .replace_expected_terminals(&first, t(0))
        .await
        .unwrap();
    let (got, at) = f.reopen().await.expected_terminals().await.unwrap();
    assert_eq!(got, first);
    assert_eq!(at, Some(t(0)));

    // Two rows whose hostnames differ only in case collide on the matching key: the whole
    // replacement fails and the first list stays.
    let clash = vec![
        ExpectedTerminal {
            hostname: "x-pc".into(),
            machine_id: None,
            offices: vec![],
        },
        ExpectedTerminal {
            hostname: "X-PC".into(),
            machine_id: None,
            offices: vec![],
        },
    ];
    assert!(
        f.store
            .replace_expected_terminals(&clash, t(1))
            .await
            .is_err()
    );
    assert_eq!(f.store.expected_terminals().await.unwrap().0, first);

    let second = vec![ExpectedTerminal {
        hostname: "new-pc".into(),
        machine_id: Some("m-1".into()),
        offices: vec!["1234567892".into()],
    }];
    f.store
        .replace_expected_terminals(&second, t(2))
        .await
        .unwrap();
    let (got, at) = f.store.expected_terminals().await.unwrap();
    assert_eq!(got, second);
    assert_eq!(at, Some(t(2)));
}
