//! Upgrades (issue 16): landed migrations are frozen, new ones are expand-only, and a database
//! of the released schema with data in it upgrades to this binary's.
//!
//! - `landed_migrations_never_change`: every file listed in `migrations/landed.sha384` still
//!   hashes to the recorded SHA-384 (what sqlx stores and compares at every start).
//! - `new_migrations_are_expand_only`: a migration not landed yet drops no table or column and
//!   renames nothing, so a collector of the previous release keeps working on the new schema
//!   during a rolling upgrade (a file may opt out with a `-- certfleet: contract` line saying
//!   why; the upgrade notes must then say so).
//! - `released_database_upgrades`: the landed set applied with sqlx's own migrator, rows
//!   written with that schema, then `store::open` of this binary migrates it and reads them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use certfleet_testsupport::PgCluster;
use sha2::{Digest, Sha384};

const FREEZE_ENV: &str = "CERTFLEET_FREEZE_MIGRATIONS";

fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")
}

/// `backend/file.sql` → recorded SHA-384 (hex), from `landed.sha384`.
fn landed() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(migrations_dir().join("landed.sha384")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (hash, file) = l
                .split_once("  ")
                .expect("`<sha384>  <backend>/<file>` lines");
            (file.trim().to_owned(), hash.trim().to_owned())
        })
        .collect()
}

/// Every migration file as `backend/file.sql`, sorted.
fn all_files() -> Vec<String> {
    let mut files = Vec::new();
    for backend in ["postgres", "sqlite"] {
        for entry in std::fs::read_dir(migrations_dir().join(backend)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".sql") {
                files.push(format!("{backend}/{name}"));
            }
        }
    }
    files.sort();
    files
}

fn sha384(file: &str) -> String {
    let bytes = std::fs::read(migrations_dir().join(file)).unwrap();
    Sha384::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn landed_migrations_never_change() {
    let landed = landed();
    assert!(
        landed.len() >= 18,
        "landed.sha384 lists the released migrations of both backends"
    );
    let mut changed = Vec::new();
    for (file, hash) in &landed {
        let path = migrations_dir().join(file);
        if !path.exists() {
            changed.push(format!("{file} was deleted"));
        } else if &sha384(file) != hash {
            changed.push(format!("{file} was edited"));
        }
    }
    assert!(
        changed.is_empty(),
        "landed migrations must never change (databases that applied them would be refused: \
         sqlx compares checksums at every start); add a new migration instead:\n  {}",
        changed.join("\n  ")
    );
    if std::env::var_os(FREEZE_ENV).is_some() {
        let new: Vec<String> = all_files()
            .into_iter()
            .filter(|f| !landed.contains_key(f))
            .map(|f| format!("{}  {f}\n", sha384(&f)))
            .collect();
        let path = migrations_dir().join("landed.sha384");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.extend(new.iter().map(String::as_str));
        std::fs::write(&path, text).unwrap();
        eprintln!("froze {} migration(s):\n{}", new.len(), new.concat());
    }
}

#[test]
fn both_backends_have_the_same_migrations() {
    let versions = |backend: &str| -> Vec<String> {
        all_files()
            .into_iter()
            .filter_map(|f| f.strip_prefix(&format!("{backend}/")).map(str::to_owned))
            .collect()
    };
    assert_eq!(
        versions("postgres"),
        versions("sqlite"),
        "every migration has a twin with the same name in the other backend"
    );
}

#[test]
fn new_migrations_are_expand_only() {
    let landed = landed();
    // What would break a collector of the previous release still running on the new schema.
    let contracting = [
        "DROP TABLE",
        "DROP COLUMN",
        "RENAME TO",
        "RENAME COLUMN",
        "ALTER COLUMN",
        "DROP VIEW",
    ];
    let mut offenders = Vec::new();
    for file in all_files().into_iter().filter(|f| !landed.contains_key(f)) {
        let text = std::fs::read_to_string(migrations_dir().join(&file)).unwrap();
        if text
            .lines()
            .any(|l| l.trim_start().starts_with("-- certfleet: contract"))
        {
            continue;
        }
        let code: String = text
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n")
            .to_uppercase();
        let code = code.split_whitespace().collect::<Vec<_>>().join(" ");
        for word in contracting {
            if code.contains(word) {
                offenders.push(format!("{file}: {word}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "migrations must be expand-only (docs/OPERATIONS.md, Upgrading): add tables, columns \
         with defaults and indexes; drop or rename only in a later release, once no collector \
         reads the old shape:\n  {}",
        offenders.join("\n  ")
    );
}

/// The landed migrations of `backend` alone, in a directory for sqlx's runtime migrator.
fn released_dir(backend: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in landed().keys() {
        if let Some(name) = file.strip_prefix(&format!("{backend}/"))
            && migration_number(name) <= LAST_MIGRATION_OF_RELEASE_0_1_0
        {
            std::fs::copy(migrations_dir().join(file), dir.path().join(name)).unwrap();
        }
    }
    dir
}

/// Release 0.1.0 (9bfa870) shipped migrations 0001-0010: the schema an upgrading operator
/// has. Later landed migrations are frozen too, but they are what the upgrade applies.
const LAST_MIGRATION_OF_RELEASE_0_1_0: u32 = 10;

/// `0012_report_id_per_terminal.sql` → 12.
fn migration_number(file_name: &str) -> u32 {
    file_name
        .split_once('_')
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("{file_name}: migrations are named NNNN_what.sql"))
}

/// The newest migration of `backend` this build carries, as the refusal names it ("0040").
fn newest_migration(backend: &str) -> String {
    let newest = all_files()
        .iter()
        .filter_map(|f| f.strip_prefix(&format!("{backend}/")))
        .map(migration_number)
        .max()
        .expect("migrations");
    format!("{newest:04}")
}

/// Rows as a collector of the released schema wrote them: a terminal holding one office
/// certificate, with one report.
const RELEASED_ROWS_SQL: &str = "\
    INSERT INTO terminals (machine_id, hostname, node_key_hash, enrolled_at, last_report_at) \
      VALUES ('m-1', 'pc-1', 'hash-1', 'T0', 'T0'); \
    INSERT INTO certificates (sha256, sha1, der, subject, issuer, subject_cn, issuer_cn, serial, \
      not_before, not_after, client_auth, office_number, first_seen) \
      VALUES ('aa', 'bb', DER, 'CN=1400000001', 'CN=KANAGAWA KOKUHOREN CA', '1400000001', \
      'KANAGAWA KOKUHOREN CA', '01', 'T0', 'T1', TRUE_, '1400000001', 'T0'); \
    INSERT INTO holdings (terminal_id, sha256, locations, has_private_key, friendly_name, \
      first_seen, last_seen) VALUES (1, 'aa', '[]', TRUE_, '', 'T0', 'T0'); \
    INSERT INTO reports (report_id, terminal_id, scanned_at, received_at, outcome, \
      certificate_count, rejected_count) VALUES ('r-1', 1, 'T0', 'T0', 'accepted', 1, 0);";

async fn check_upgraded(store: certfleet_store::SharedStore) {
    let terminals = store.list_terminals().await.unwrap();
    assert_eq!(terminals.len(), 1);
    assert_eq!(terminals[0].hostname, "pc-1");
    assert_eq!(terminals[0].certificate_count, 1);
    assert_eq!(store.report_count().await.unwrap(), 1);
    let holdings = store.holdings(terminals[0].id).await.unwrap();
    assert_eq!(holdings.len(), 1);
    // The migrations of this binary are there (0040: the maintenance bookkeeping).
    let runs = store.maintenance_runs().await.unwrap();
    assert!(runs.iter().any(|r| r.task == "retention"), "{runs:?}");
}

#[tokio::test]
async fn released_sqlite_database_upgrades() {
    let data = tempfile::tempdir().unwrap();
    let path = data.path().join(certfleet_store::SQLITE_FILE_NAME);
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let released = released_dir("sqlite");
        sqlx::migrate::Migrator::new(released.path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        let sql = RELEASED_ROWS_SQL
            .replace("'T0'", "'2026-01-01T00:00:00.000000Z'")
            .replace("'T1'", "'2029-01-01T00:00:00.000000Z'")
            .replace("DER", "x'3000'")
            .replace("TRUE_", "1");
        sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
    // Another command than serve/migrate refuses the outdated schema, naming what to run.
    let err = certfleet_store::open_in(None, data.path(), 2, certfleet_store::OpenMode::Existing)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("older than this certfleet-collector")
            && err.contains(&newest_migration("sqlite")),
        "{err}"
    );
    let store = certfleet_store::open(None, data.path(), 2).await.unwrap();
    check_upgraded(store).await;
    // Now current: the other commands open it.
    let store = certfleet_store::open_in(None, data.path(), 2, certfleet_store::OpenMode::Existing)
        .await
        .unwrap();
    check_upgraded(store).await;
}

#[tokio::test]
async fn released_postgres_database_upgrades() {
    let pg = PgCluster::start();
    let url = pg.fresh_database().await;
    {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let released = released_dir("postgres");
        sqlx::migrate::Migrator::new(released.path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        let sql = RELEASED_ROWS_SQL
            .replace("'T0'", "'2026-01-01T00:00:00Z'")
            .replace("'T1'", "'2029-01-01T00:00:00Z'")
            .replace("DER", "'\\x3000'::bytea")
            // A fresh database's identity column gives the terminal id 1.
            .replace("TRUE_", "true");
        sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
    let dir = tempfile::tempdir().unwrap();
    let err = certfleet_store::open_in(
        Some(&url),
        dir.path(),
        2,
        certfleet_store::OpenMode::Existing,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("older than this certfleet-collector")
            && err.contains(&newest_migration("postgres")),
        "{err}"
    );
    let store = certfleet_store::open(Some(&url), dir.path(), 2)
        .await
        .unwrap();
    check_upgraded(store).await;
}
