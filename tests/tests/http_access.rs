//! The HTTP listener's security as operators deploy it, with real `serve` processes
//! (issue 14): a collector on loopback behind a reverse proxy on the same host asks every
//! visitor for credentials; `secure_cookies` on a plain-HTTP loopback listener needs a
//! declared proxy; a logout holds on another replica and after a restart (two processes,
//! one PostgreSQL); a client that never finishes its headers is disconnected.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use certfleet_e2e::{
    CollectorProcess, HttpResponse, bin, collector_cmd, describe, hash_password, http_request,
    step_sync,
};
use certfleet_testsupport::PgCluster;

const PASSWORD: &str = "correct horse battery staple";

/// `init` in `root/collector` plus `extra` appended to the `[dashboard]` table (a user) and
/// the `[http]` table; returns the config path.
fn deployment(root: &Path, dashboard: &str, http: &str) -> PathBuf {
    let dir = root.join("collector");
    let out = collector_cmd(&["init", "--dir", dir.to_str().unwrap(), "--san", "localhost"]);
    assert!(out.status.success(), "init: {}", describe(&out));
    let config = dir.join("collector.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert_eq!(text.matches("[dashboard]\n").count(), 1);
    assert_eq!(text.matches("[http]\n").count(), 1);
    let text = text
        .replace("[dashboard]\n", &format!("[dashboard]\n{dashboard}\n"))
        .replace("[http]\n", &format!("[http]\n{http}\n"));
    std::fs::write(&config, text).unwrap();
    config
}

fn user_line() -> String {
    format!(
        "users = [{{ username = \"admin\", password_hash = \"{}\" }}]",
        hash_password(PASSWORD)
    )
}

fn get(c: &CollectorProcess, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http_request(c.http_addr, "GET", path, headers, "")
}

fn login(c: &CollectorProcess) -> String {
    let r = http_request(
        c.http_addr,
        "POST",
        "/login",
        &[],
        &format!("username=admin&password={}", PASSWORD.replace(' ', "+")),
    );
    assert_eq!(r.status, 303, "login: {r:?}");
    r.set_cookie("cf_session").expect("a session cookie")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_access_as_deployed() {
    let pg = PgCluster::start();
    let db = pg.fresh_database().await;
    let root = tempfile::tempdir().unwrap();
    let config = deployment(root.path(), &user_line(), "");
    let args = ["--config", config.to_str().unwrap(), "--database-url", &db];

    let a = CollectorProcess::serve(&args);
    step_sync(
        "behind a reverse proxy on the same host, every visitor needs credentials",
        || behind_a_local_proxy(&a, &config),
    );
    let b = CollectorProcess::serve(&args);
    let a = step_sync(
        "a logout holds on the other replica and after a restart",
        || logout_holds_across_replicas_and_restarts(a, &b, &args),
    );
    drop((a, b));

    let root = tempfile::tempdir().unwrap();
    step_sync(
        "secure_cookies on a loopback listener needs a declared proxy",
        || secure_cookies_need_a_declared_proxy(root.path()),
    );
    let root = tempfile::tempdir().unwrap();
    step_sync(
        "a client that never finishes its headers is disconnected",
        || slow_headers_are_cut(root.path()),
    );
}

/// The production example's shape: HTTP on 127.0.0.1, a TLS proxy in front (it connects from
/// loopback, with or without X-Forwarded-* headers). Before issue 14 every request here was
/// answered, because the listener is bound to loopback.
fn behind_a_local_proxy(c: &CollectorProcess, config: &Path) {
    assert!(c.http_addr.ip().is_loopback());
    let token = std::fs::read_to_string(config.parent().unwrap().join("api-token.txt")).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    for forwarded in [
        vec![],
        vec![
            ("X-Forwarded-For", "198.51.100.7"),
            ("X-Forwarded-Proto", "https"),
        ],
    ] {
        for path in ["/api/v1/reports/expiring", "/metrics"] {
            let r = get(c, path, &forwarded);
            assert_eq!(r.status, 401, "{path} {forwarded:?}: {r:?}");
        }
        let r = get(c, "/expiring", &forwarded);
        assert_eq!(r.status, 303, "{forwarded:?}: {r:?}");
        assert!(r.header("location").unwrap().starts_with("/login"));
        // With the token, the API answers.
        let mut with_token = forwarded.clone();
        with_token.push(("Authorization", &bearer));
        assert_eq!(get(c, "/api/v1/reports/expiring", &with_token).status, 200);
    }
    // DNS rebinding: a page on another name that resolves to 127.0.0.1.
    let r = get(c, "/healthz", &[("Host", "rebind.evil.example")]);
    assert_eq!(r.status, 421, "{r:?}");
    assert_eq!(get(c, "/healthz", &[("Host", "localhost")]).status, 200);
    // The login works, and its session opens the pages.
    let session = login(c);
    assert_eq!(get(c, "/expiring", &[("Cookie", &session)]).status, 200);
}

/// Two replicas share one PostgreSQL and the session key from `init`: a logout on one is
/// seen by the other, and by the first after a restart. Before issue 14 logouts were kept
/// in the memory of the process that saw them.
fn logout_holds_across_replicas_and_restarts(
    a: CollectorProcess,
    b: &CollectorProcess,
    args: &[&str],
) -> CollectorProcess {
    let session = login(&a);
    assert_eq!(
        get(b, "/", &[("Cookie", &session)]).status,
        200,
        "replicas share sessions"
    );
    let out = http_request(a.http_addr, "POST", "/logout", &[("Cookie", &session)], "");
    assert_eq!(out.status, 303, "{out:?}");
    let r = get(b, "/", &[("Cookie", &session)]);
    assert_eq!(
        r.status, 303,
        "the other replica refuses the logged-out cookie: {r:?}"
    );
    assert!(a.terminate(), "first replica stops cleanly");
    let a = CollectorProcess::serve(args);
    let r = get(&a, "/", &[("Cookie", &session)]);
    assert_eq!(r.status, 303, "still refused after a restart: {r:?}");
    // A fresh login still works.
    let again = login(&a);
    assert_eq!(get(b, "/", &[("Cookie", &again)]).status, 200);
    a
}

fn secure_cookies_need_a_declared_proxy(root: &Path) {
    let config = deployment(root, "secure_cookies = true", "");
    let out = std::process::Command::new(bin("certfleet-collector"))
        .args(["--config", config.to_str().unwrap(), "serve"])
        .args([
            "--grpc-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .env("CERTFLEET_DATA_DIR", root.join("data"))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "must refuse to start: {}",
        describe(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("dashboard.secure_cookies") && stderr.contains("trusted_proxies"),
        "names the setting and the way out: {stderr}"
    );

    // Declared: it starts, and the proxy's own requests are never treated as local.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[http]\n",
        "[http]\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]\n",
    );
    std::fs::write(&config, text).unwrap();
    let c = CollectorProcess::serve(&[
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        root.join("data").to_str().unwrap(),
    ]);
    assert_eq!(get(&c, "/api/v1/reports/expiring", &[]).status, 401);
}

fn slow_headers_are_cut(root: &Path) {
    let config = deployment(root, "", "header_read_timeout_seconds = 1");
    let c = CollectorProcess::serve(&[
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        root.join("data").to_str().unwrap(),
    ]);
    let mut s = std::net::TcpStream::connect(c.http_addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
            Err(_) => break true,
        }
    };
    assert!(closed, "the connection stayed open for 15 s");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
