//! The database URL the deploy examples and docs give (`sslmode=verify-full` with
//! `sslrootcert`) works with the collector's PostgreSQL driver against a real TLS server, and
//! refuses a server whose certificate comes from another CA or names another host: what
//! `sslmode=require` alone would accept (issue 14, Low).

use certfleet_collector::pki;
use certfleet_store as store;
use certfleet_testsupport::PgCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_checks_the_database_servers_certificate_and_name() {
    let pg = PgCluster::start_managed();
    let ca = pki::generate_ca("certfleet test database CA").unwrap();
    let server = pki::generate_server_cert(&ca, &["localhost".to_owned()]).unwrap();
    pg.enable_tls(&server.cert_pem, &server.key_pem);
    let dir = tempfile::tempdir().unwrap();
    let right_ca = dir.path().join("db-ca.pem");
    std::fs::write(&right_ca, &ca.cert_pem).unwrap();
    let other = pki::generate_ca("someone else's CA").unwrap();
    let wrong_ca = dir.path().join("other-ca.pem");
    std::fs::write(&wrong_ca, &other.cert_pem).unwrap();
    let port = pg.port().unwrap();
    let url = |host: &str, mode: &str, ca: &std::path::Path| {
        format!(
            "postgres://postgres@{host}:{port}/postgres?sslmode={mode}&sslrootcert={}",
            ca.display()
        )
    };

    // The documented form: the CA that issued the server's certificate, the name in it.
    let db = store::open(
        Some(&url("localhost", "verify-full", &right_ca)),
        dir.path(),
        2,
    )
    .await
    .expect("verify-full with the right CA and name connects");
    db.ping().await.unwrap();

    // A server that cannot prove it is the database (another CA; a name not in its
    // certificate) gets no password.
    for (what, u) in [
        ("another CA", url("localhost", "verify-full", &wrong_ca)),
        ("another name", url("127.0.0.1", "verify-full", &right_ca)),
    ] {
        let err = store::open(Some(&u), dir.path(), 2)
            .await
            .err()
            .unwrap_or_else(|| panic!("{what}: verify-full must refuse the server"));
        assert!(
            err.to_string().contains("certificate"),
            "{what}: refused for its certificate, not something else: {err}"
        );
    }
    // What the examples used before: require encrypts but accepts any certificate.
    let lax = store::open(Some(&url("127.0.0.1", "require", &wrong_ca)), dir.path(), 2).await;
    assert!(lax.is_ok(), "sslmode=require does not check the server");
}
