//! End-to-end: the agent reports through a real HTTP proxy process (tinyproxy) to a real
//! collector over gRPC+TLS, the way an office PC behind a proxy does:
//! - through the proxy named by `HTTPS_PROXY`, which sees a `CONNECT` to the collector's
//!   host:port and nothing else (TLS is end to end);
//! - `NO_PROXY` and `--proxy none` go around it;
//! - Basic credentials from agent.toml work, and appear in no output, log or state file, even at
//!   debug level; wrong ones give a clear error;
//! - a proxy that refuses the CONNECT (403) and an unreachable proxy give an error naming the
//!   proxy, and the snapshot is spooled, then delivered through the proxy by the next run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use certfleet_e2e::{
    CollectorProcess, ProxyProcess, TestCa, bin, closed_port, collector_cmd, describe, step_sync,
    write_cert,
};
use chrono::{Duration, Utc};

const PROXY_USER: &str = "proxyuser";
const PROXY_PASSWORD: &str = "S3cr3t-Pr0xy";
/// base64("proxyuser:S3cr3t-Pr0xy"): what the Proxy-Authorization header carries.
const PROXY_BASIC: &str = "cHJveHl1c2VyOlMzY3IzdC1QcjB4eQ==";

/// Every variable the agent reads a proxy from; each run starts without them.
const PROXY_VARIABLES: [&str; 9] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "CERTFLEET_PROXY",
];

struct Setup {
    tmp: tempfile::TempDir,
    collector_dir: PathBuf,
    certs: PathBuf,
    database_url: String,
}

impl Setup {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let collector_dir = tmp.path().join("collector");
        let out = collector_cmd(&[
            "init",
            "--dir",
            collector_dir.to_str().unwrap(),
            "--san",
            "localhost",
        ]);
        assert!(out.status.success(), "init: {}", describe(&out));
        let certs = tmp.path().join("certs");
        let ca = TestCa::kanagawa();
        let now = Utc::now();
        write_cert(
            &certs,
            "office.pem",
            &ca.office_cert(
                "1410000031",
                now - Duration::days(100),
                now + Duration::days(60),
            ),
        );
        let database_url = format!(
            "sqlite://{}?mode=rwc",
            tmp.path().join("collector.sqlite").display()
        );
        Setup {
            tmp,
            collector_dir,
            certs,
            database_url,
        }
    }

    fn serve(&self) -> CollectorProcess {
        CollectorProcess::serve(&[
            "--config",
            self.collector_dir.join("collector.toml").to_str().unwrap(),
            "--database-url",
            &self.database_url,
        ])
    }

    fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    /// `certfleet-agent report` as a PC's task runs it, with `env` as its only proxy variables,
    /// at debug log level (so that a leaked credential would show).
    fn report(&self, collector: &CollectorProcess, env: &[(&str, &str)], extra: &[&str]) -> Output {
        let mut cmd = Command::new(bin("certfleet-agent"));
        cmd.args(["report", "--collector", &collector.grpc_url(), "--ca"])
            .arg(self.collector_dir.join("ca.pem"))
            .arg("--enroll-secret-file")
            .arg(self.collector_dir.join("enroll-secret.txt"))
            .arg("--state-dir")
            .arg(self.state())
            .args(["--machine-id", "office-pc-behind-proxy", "--path"])
            .arg(&self.certs)
            .args(extra)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "debug");
        for (name, _) in std::env::vars() {
            if name.starts_with("CERTFLEET_") {
                cmd.env_remove(name);
            }
        }
        for name in PROXY_VARIABLES {
            cmd.env_remove(name);
        }
        cmd.envs(env.iter().copied());
        cmd.output().expect("run certfleet-agent")
    }

    fn spooled(&self) -> bool {
        self.state().join("pending-report.pb").exists()
    }

    fn terminals_stored(&self) -> usize {
        let out = collector_cmd(&[
            "terminal",
            "list",
            "--format",
            "json",
            "--database-url",
            &self.database_url,
        ]);
        assert!(out.status.success(), "terminal list: {}", describe(&out));
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        list.as_array().unwrap().len()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fails when the proxy password or its header value appears in `text`.
fn assert_no_credentials(what: &str, text: &str) {
    for secret in [PROXY_PASSWORD, PROXY_BASIC] {
        assert!(
            !text.contains(secret),
            "{what} shows a proxy credential:\n{text}"
        );
    }
}

fn all_state_files(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    text
}

#[test]
fn agent_reports_through_a_real_connect_proxy() {
    let setup = Setup::new();
    let collector = setup.serve();
    let target = format!("localhost:{}", collector.grpc_addr.port());
    // An open proxy, allowing CONNECT to the collector's port only (like a real office proxy
    // allowing 443 only, with the collector's port instead).
    let open = ProxyProcess::tinyproxy(&[&format!("ConnectPort {}", collector.grpc_addr.port())]);

    step_sync(
        "a report goes through the proxy named by HTTPS_PROXY",
        || {
            let out = setup.report(&collector, &[("HTTPS_PROXY", &open.url())], &[]);
            assert!(out.status.success(), "{}", describe(&out));
            assert!(
                stdout(&out).contains(&format!(
                    "through the proxy {} (from HTTPS_PROXY)",
                    open.url()
                )),
                "{}",
                describe(&out)
            );
            assert_eq!(
                open.connects(),
                std::slice::from_ref(&target),
                "{}",
                open.log()
            );
            assert_eq!(setup.terminals_stored(), 1);
        },
    );

    step_sync("NO_PROXY and --proxy none go around the proxy", || {
        let dead = format!("http://127.0.0.1:{}", closed_port());
        let out = setup.report(
            &collector,
            &[
                ("https_proxy", &dead),
                ("NO_PROXY", "example.org,localhost"),
            ],
            &[],
        );
        assert!(out.status.success(), "{}", describe(&out));
        assert!(
            !stdout(&out).contains("through the proxy"),
            "{}",
            describe(&out)
        );
        let out = setup.report(&collector, &[("HTTPS_PROXY", &dead)], &["--proxy", "none"]);
        assert!(out.status.success(), "{}", describe(&out));
        assert_eq!(open.connects().len(), 1, "the proxy saw nothing new");
    });

    let authenticating = ProxyProcess::tinyproxy(&[
        &format!("BasicAuth {PROXY_USER} {PROXY_PASSWORD}"),
        &format!("ConnectPort {}", collector.grpc_addr.port()),
    ]);
    let config = setup.tmp.path().join("agent.toml");
    let proxy_with = |password: &str| {
        format!(
            "[collector]\nproxy = \"http://{PROXY_USER}:{password}@127.0.0.1:{}\"\n",
            authenticating.port
        )
    };

    step_sync("Basic credentials from agent.toml, never shown", || {
        // Without credentials the proxy asks for them.
        let out = setup.report(&collector, &[("HTTPS_PROXY", &authenticating.url())], &[]);
        assert!(!out.status.success(), "{}", describe(&out));
        assert!(
            stderr(&out).contains(&format!(
                "the proxy {} requires authentication (HTTP/1.0 407 Proxy Authentication Required)",
                authenticating.url()
            )),
            "{}",
            describe(&out)
        );
        std::fs::write(&config, proxy_with(PROXY_PASSWORD)).unwrap();
        let out = setup.report(&collector, &[], &["--config", config.to_str().unwrap()]);
        assert!(out.status.success(), "{}", describe(&out));
        assert!(
            stdout(&out).contains(&format!(
                "through the proxy {} (from [collector] proxy)",
                authenticating.url()
            )),
            "{}",
            describe(&out)
        );
        assert_no_credentials("the agent's output", &describe(&out));
        assert_no_credentials("the state directory", &all_state_files(&setup.state()));
        let status = Command::new(bin("certfleet-agent"))
            .arg("status")
            .arg("--state-dir")
            .arg(setup.state())
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", describe(&status));
        assert!(
            stdout(&status).contains(&format!(
                "through proxy:   {} (from [collector] proxy)",
                authenticating.url()
            )),
            "{}",
            describe(&status)
        );
        assert_no_credentials("status", &describe(&status));
        assert_eq!(
            authenticating.connects().len(),
            2,
            "{}",
            authenticating.log()
        );
        // Delivered the snapshot the refused run spooled, too.
        assert!(!setup.spooled());
    });

    step_sync(
        "wrong credentials: a clear error, no retry, spooled",
        || {
            std::fs::write(&config, proxy_with("wrong-password")).unwrap();
            let out = setup.report(&collector, &[], &["--config", config.to_str().unwrap()]);
            assert!(!out.status.success(), "{}", describe(&out));
            let err = stderr(&out);
            assert!(
                err.contains(&format!(
                    "error: the proxy {} did not accept the credentials in the proxy URL",
                    authenticating.url()
                )),
                "{}",
                describe(&out)
            );
            assert!(err.contains("snapshot spooled for the next run"), "{err}");
            assert!(!err.contains("wrong-password"), "{err}");
            assert!(setup.spooled());
        },
    );

    step_sync(
        "a proxy refusing the CONNECT: its status line, spooled",
        || {
            let refusing = ProxyProcess::tinyproxy(&["ConnectPort 443"]);
            let out = setup.report(&collector, &[("HTTPS_PROXY", &refusing.url())], &[]);
            assert!(!out.status.success(), "{}", describe(&out));
            assert!(
            stderr(&out).contains(&format!(
                "error: the proxy {} refused to open a tunnel to {target}: HTTP/1.1 403 Access violation; \
                 snapshot spooled for the next run",
                refusing.url()
            )),
            "{}",
            describe(&out)
        );
            assert_eq!(
                refusing.connects(),
                std::slice::from_ref(&target),
                "asked once, not retried"
            );
            assert!(setup.spooled());
            let status = Command::new(bin("certfleet-agent"))
                .arg("status")
                .arg("--state-dir")
                .arg(setup.state())
                .output()
                .unwrap();
            assert_eq!(status.status.code(), Some(1), "{}", describe(&status));
            assert!(
                stdout(&status).contains("refused to open a tunnel"),
                "{}",
                describe(&status)
            );
        },
    );

    step_sync("an unreachable proxy: named, retried, spooled", || {
        let dead = format!("http://127.0.0.1:{}", closed_port());
        let out = setup.report(&collector, &[], &["--proxy", &dead, "--attempts", "2"]);
        assert!(!out.status.success(), "{}", describe(&out));
        let err = stderr(&out);
        assert!(
            err.contains("not reachable after 2 attempts")
                && err.contains(&format!("cannot reach the proxy {dead}: ")),
            "{}",
            describe(&out)
        );
        assert!(setup.spooled());
    });

    step_sync(
        "the next run delivers the spooled snapshot through the proxy",
        || {
            let out = setup.report(&collector, &[("HTTPS_PROXY", &open.url())], &[]);
            assert!(out.status.success(), "{}", describe(&out));
            assert!(
                stdout(&out).contains("delivered the spooled snapshot from an earlier run"),
                "{}",
                describe(&out)
            );
            assert!(!setup.spooled());
            assert_eq!(setup.terminals_stored(), 1, "one terminal");
        },
    );
    drop(collector);
}
