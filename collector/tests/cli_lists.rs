//! The CLI lists print agent and registry strings through `certfleet_model::text::printable`,
//! like the report tables: a row stored before the ingest rule existed (or written by a
//! registry import) cannot send escape codes, newlines or bidi overrides to an operator's
//! terminal. `terminal list`, `offices list`, `alerts history`, `terminal revoke` and
//! `terminal reset`, on SQLite and PostgreSQL, through the real binary.

use certfleet_model::OfficeEntry;
use certfleet_model::text::first_forbidden;
use certfleet_store::{self as store, EnrollAuthority, NewAlert, SharedStore, TerminalFacts};
use certfleet_testsupport::PgCluster;
use chrono::Utc;

struct Fixture {
    store: SharedStore,
    db_args: Vec<String>,
    _dir: tempfile::TempDir,
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(None, dir.path(), 4).await.unwrap();
    Fixture {
        store,
        db_args: vec!["--data-dir".into(), dir.path().to_string_lossy().into()],
        _dir: dir,
    }
}

async fn postgres() -> Fixture {
    let url = PgCluster::shared().fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(Some(&url), dir.path(), 4).await.unwrap();
    Fixture {
        store,
        db_args: vec!["--database-url".into(), url],
        _dir: dir,
    }
}

certfleet_testsupport::both_backends!(
    sqlite: sqlite,
    postgres: postgres;
    cli_lists_print_stored_strings_printably,
);

/// Sets the terminal title, clears the screen, then reverses the rest of the line.
const HOSTILE_HOST: &str = "pc\u{1b}]0;pwned\u{7}\u{1b}[2J\n\u{202e}evil";
const HOSTILE_MACHINE: &str = "m-\u{1b}[31mred\u{2028}";
const HOSTILE_NAME: &str = "事業所\u{1b}[1A\r\nFAKE LINE\u{2066}";

fn cli(fx: &Fixture, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certfleet-collector"))
        .args(&fx.db_args)
        .args(args)
        .env_remove("CERTFLEET_CONFIG")
        .env_remove("CERTFLEET_DATABASE_URL")
        .env_remove("CERTFLEET_DATA_DIR")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every line is free of forbidden characters, and there are `lines` of them: a newline in a
/// stored string would have added one.
fn assert_printable(output: &str, lines: usize, what: &str) {
    for line in output.lines() {
        assert_eq!(
            first_forbidden(line),
            None,
            "{what}: raw control or bidi character in {line:?}"
        );
    }
    assert_eq!(output.lines().count(), lines, "{what}:\n{output}");
}

async fn cli_lists_print_stored_strings_printably(fx: Fixture) {
    let facts = TerminalFacts {
        machine_id: HOSTILE_MACHINE.into(),
        hostname: HOSTILE_HOST.into(),
        os_name: "windows".into(),
        os_version: "10".into(),
        agent_version: "old".into(),
    };
    let id = fx
        .store
        .enroll(
            &facts,
            "hash-hostile",
            EnrollAuthority::Agent {
                presented_key_hash: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    fx.store
        .upsert_offices(
            &[OfficeEntry {
                office_number: "1410000001".into(),
                name: HOSTILE_NAME.into(),
                site: "site\u{1b}[2K".into(),
                owner_email: "owner@example.jp\u{202e}".into(),
                expected_pcs: None,
            }],
            Utc::now(),
        )
        .await
        .unwrap();
    let recorded = fx
        .store
        .record_alert(
            &NewAlert {
                dedupe_key: "pair:hostile:7d".into(),
                threshold: "7d".into(),
                urgency: 7,
                office_number: Some("1410000001".into()),
                terminal_id: Some(id),
                certificate_sha256: None,
                not_after: None,
                payload: "{}".into(),
            },
            &["email:owner@example.jp\u{1b}[8m".into()],
            Utc::now(),
        )
        .await
        .unwrap();
    assert!(recorded);

    let terminals = cli(&fx, &["terminal", "list"]);
    assert_printable(&terminals, 2, "terminal list");
    assert!(terminals.contains("pc?]0;pwned??[2J??evil"), "{terminals}");
    assert!(terminals.contains("m-?[31mred?"), "{terminals}");

    let offices = cli(&fx, &["offices", "list"]);
    assert_printable(&offices, 1, "offices list");
    assert!(offices.contains("事業所?[1A??FAKE LINE?"), "{offices}");

    let history = cli(&fx, &["alerts", "history"]);
    assert_printable(&history, 2, "alerts history");
    assert!(history.contains("pc?]0;pwned"), "{history}");
    assert!(history.contains("owner@example.jp?[8m"), "{history}");

    let reset = cli(&fx, &["terminal", "reset", &id.to_string()]);
    assert_printable(&reset, reset.lines().count(), "terminal reset");
    assert!(reset.contains("pc?]0;pwned"), "{reset}");
    let revoked = cli(&fx, &["terminal", "revoke", &id.to_string()]);
    assert_printable(&revoked, 1, "terminal revoke");
    assert!(revoked.contains("pc?]0;pwned"), "{revoked}");
}
