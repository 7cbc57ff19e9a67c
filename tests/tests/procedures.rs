//! The operators' procedures of `docs/OPERATIONS.md`, run as written (issue 16): each
//! `<!-- procedure: NAME -->` code block is extracted from the document and executed by bash,
//! with the real `certfleet-collector`, real PostgreSQL tools (`pg_dump`, `pg_restore`,
//! `createdb`, `dropdb`) and `sqlite3`. Only what a test machine cannot have is stood in for:
//! absolute paths (`/etc/certfleet`, `/var/lib/…`, `/backup`, `/media/offline-ca`) point into a
//! temporary directory, the example date is today's, `systemctl` starts and stops the
//! collector as `deploy/systemd/certfleet-collector.service` describes it (its
//! `LoadCredential=` files copied into a credentials directory, its `StateDirectory=` owned by
//! the service's user, `serve` run as that user), and `kubectl patch secret` writes the
//! Secret's keys into the directory the pods mount.
//!
//! Covered: backup and restore of PostgreSQL (a terminal revoked after the dump stays revoked)
//! and SQLite (a restore as root leaves a file the service can write), re-issuing the server
//! certificate with the offline CA key, and logins shared by two replicas running the
//! Kubernetes ConfigMap's configuration, with a user added as documented.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use certfleet_e2e::{
    CollectorProcess, TestCa, agent_cmd, bin, collector_cmd, describe, http_request, write_cert,
};
use certfleet_testsupport::PgCluster;
use chrono::{Duration, Utc};

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn workspace_file(path: &str) -> PathBuf {
    Path::new(WORKSPACE).join(path)
}

/// The code block after `<!-- procedure: NAME -->` in docs/OPERATIONS.md.
fn procedure(name: &str) -> String {
    procedure_in("docs/OPERATIONS.md", name)
}

/// The code block after `<!-- procedure: NAME -->` in `document`.
fn procedure_in(document: &str, name: &str) -> String {
    let doc = std::fs::read_to_string(workspace_file(document)).unwrap();
    let marker = format!("<!-- procedure: {name} -->");
    let start = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("{document} has no {marker}"));
    let rest = &doc[start + marker.len()..];
    let open = rest
        .find("```sh\n")
        .expect("a ```sh block after the marker")
        + 6;
    let body = &rest[open..];
    let close = body.find("```").expect("the end of the block");
    body[..close].to_owned()
}

/// `date +%F` as the shell sees it, for the example file names of the restore steps.
fn today() -> String {
    let out = Command::new("date").arg("+%F").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap_or(false)
}

/// The user the unit's `DynamicUser=` stands for: `nobody` when the tests run as root (as in
/// CI), so ownership mistakes show; otherwise the test's own user.
fn service_uid() -> u32 {
    if running_as_root() {
        65534
    } else {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata("/proc/self").unwrap().uid()
    }
}

/// A host as `deploy/README.md` §3 sets it up, under a temporary directory: `/etc/certfleet`
/// from `init`, the CA key on "removable media", `/var/lib/certfleet` a link to the state
/// directory `/var/lib/private/certfleet`, `/backup`, and a `bin` directory with the stand-ins
/// for `systemctl` and `kubectl` ahead of the real tools on `PATH`.
struct Host {
    root: tempfile::TempDir,
}

impl Host {
    fn new(database_url: Option<&str>) -> Host {
        let root = tempfile::Builder::new()
            .prefix("certfleet-host-")
            .tempdir()
            .unwrap();
        // The service's user must reach its files through the temporary directory.
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let host = Host { root };
        for dir in [
            "etc",
            "var/lib/private",
            "backup",
            "media/offline-ca",
            "bin",
            "run",
        ] {
            std::fs::create_dir_all(host.path(dir)).unwrap();
        }
        std::fs::set_permissions(
            host.path("var/lib/private"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("private/certfleet", host.path("var/lib/certfleet")).unwrap();
        // deploy/README.md §3: `init` as root, the CA key straight onto the removable media.
        let out = collector_cmd(&[
            "init",
            "--dir",
            host.path("etc/certfleet").to_str().unwrap(),
            "--data-dir",
            host.path("var/lib/certfleet").to_str().unwrap(),
            "--ca-key-dir",
            host.path("media/offline-ca").to_str().unwrap(),
            "--san",
            "localhost",
        ]);
        assert!(out.status.success(), "init: {}", describe(&out));
        assert!(
            !host.path("etc/certfleet/ca-key.pem").exists(),
            "the CA key is not next to the service's files"
        );
        if let Some(url) = database_url {
            // A top-level key: before the first table.
            let config = host.path("etc/certfleet/collector.toml");
            let text = std::fs::read_to_string(&config).unwrap();
            std::fs::write(&config, format!("database_url = \"{url}\"\n{text}")).unwrap();
        }
        host.write_systemctl();
        host
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn config(&self) -> String {
        self.path("etc/certfleet/collector.toml")
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// `systemctl start|stop|restart certfleet-collector`, doing what the unit file says.
    fn write_systemctl(&self) {
        let uid = service_uid();
        let as_service_user = if running_as_root() {
            format!("setpriv --reuid={uid} --regid={uid} --clear-groups --")
        } else {
            String::new()
        };
        let script = format!(
            r#"#!/bin/bash
# Test stand-in for systemctl: certfleet-collector.service as a background process.
set -euo pipefail
[ "${{2:-}}" = certfleet-collector ] || {{ echo "systemctl (test): unknown unit ${{2:-}}" >&2; exit 1; }}
ROOT={root}
RUN=$ROOT/run
UNIT={unit}
stop() {{
  [ -f "$RUN/pid" ] || return 0
  pid=$(cat "$RUN/pid")
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do sleep 0.1; done
  rm -f "$RUN/pid"
}}
start() {{
  # StateDirectory=certfleet with DynamicUser=: the directory belongs to the service's user;
  # systemd re-owns the tree only when the directory itself has another owner.
  state=$ROOT/var/lib/private/certfleet
  mkdir -p "$state"
  if [ "$(stat -c %u "$state")" != {uid} ]; then chown -R {uid}:{uid} "$state"; fi
  chmod 0700 "$state"
  # LoadCredential=NAME:PATH, into the credentials directory %d.
  creds=$RUN/credentials
  rm -rf "$creds"; mkdir -p "$creds"
  grep '^LoadCredential=' "$UNIT" | sed 's/^LoadCredential=//' | while IFS=: read -r name path; do
    cp "$ROOT${{path}}" "$creds/$name"
  done
  chown -R {uid}:{uid} "$creds"; chmod 0500 "$creds"
  : > "$RUN/log"
  # ExecStart=… --config %d/collector.toml serve, on ports the OS picks.
  RUST_LOG=info,sqlx=warn setsid {as_service_user} {bin} --config "$creds/collector.toml" serve \
    --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 >/dev/null 2>>"$RUN/log" </dev/null &
  echo $! > "$RUN/pid"
  for _ in $(seq 600); do
    if grep -q 'collector listening' "$RUN/log"; then
      grep 'collector listening' "$RUN/log" | tail -n1 > "$RUN/listening"
      return 0
    fi
    if ! kill -0 "$(cat "$RUN/pid")" 2>/dev/null || grep -q '^State:.*Z' "/proc/$(cat "$RUN/pid")/status" 2>/dev/null; then
      rm -f "$RUN/pid"
      echo "certfleet-collector.service failed:" >&2; cat "$RUN/log" >&2; return 1
    fi
    sleep 0.1
  done
  echo "certfleet-collector.service did not start in 60 s" >&2; cat "$RUN/log" >&2; return 1
}}
case "$1" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  *) echo "systemctl (test): unsupported verb $1" >&2; exit 1 ;;
esac
"#,
            root = self.root.path().display(),
            unit = workspace_file("deploy/systemd/certfleet-collector.service").display(),
            bin = bin("certfleet-collector").display(),
        );
        let path = self.path("bin/systemctl");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Runs `script` (a procedure of the documentation) with bash, paths and dates mapped to
    /// this host, and the stand-ins first on `PATH`.
    fn run(&self, script: &str, env: &[(&str, &str)], stdin: &str) -> Output {
        let root = self.root.path().display().to_string();
        let mut script = script.to_owned();
        for dir in [
            "/etc/certfleet",
            "/var/lib/private/certfleet",
            "/var/lib/certfleet",
            "/backup",
            "/media/offline-ca",
        ] {
            script = script.replace(dir, &format!("{root}{dir}"));
        }
        script = script.replace("2026-11-26", &today());
        let path = format!(
            "{}:{}:{}:{}",
            self.path("bin").display(),
            bin("certfleet-collector").parent().unwrap().display(),
            certfleet_testsupport::pg::DEFAULT_PG_BIN,
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(self.root.path())
            .env("PATH", path)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run bash");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn run_ok(&self, name: &str, env: &[(&str, &str)]) -> Output {
        let out = self.run(&procedure(name), env, "");
        assert!(
            out.status.success(),
            "procedure {name} failed: {}\n--- service log\n{}",
            describe(&out),
            self.service_log()
        );
        out
    }

    fn systemctl(&self, verb: &str) -> Output {
        self.run(&format!("systemctl {verb} certfleet-collector"), &[], "")
    }

    fn service_log(&self) -> String {
        std::fs::read_to_string(self.path("run/log")).unwrap_or_default()
    }

    /// The service's addresses, from its "collector listening" line.
    fn listening(&self, field: &str) -> String {
        listening_field(
            &std::fs::read_to_string(self.path("run/listening")).unwrap(),
            field,
        )
    }

    fn grpc_url(&self) -> String {
        let addr: std::net::SocketAddr = self.listening("grpc_addr").parse().unwrap();
        format!("https://localhost:{}", addr.port())
    }

    fn metrics(&self) -> String {
        let addr = self.listening("http_addr").parse().unwrap();
        let token = std::fs::read_to_string(self.path("etc/certfleet/api-token.txt")).unwrap();
        let r = http_request(
            addr,
            "GET",
            "/metrics",
            &[("Authorization", &format!("Bearer {}", token.trim()))],
            "",
        );
        assert_eq!(r.status, 200, "{r:?}");
        r.body
    }

    fn report(&self, name: &str) -> Output {
        pc_report(
            self.root.path(),
            &self.grpc_url(),
            &self.path("etc/certfleet"),
            name,
        )
    }

    fn report_ok(&self, name: &str) {
        assert_reported(&self.report(name), name);
    }

    fn report_refused_as_revoked(&self, name: &str) {
        assert_refused_as_revoked(&self.report(name), name);
    }

    fn cli(&self, args: &[&str]) -> Output {
        let config = self.config();
        let mut all = vec!["--config", config.as_str()];
        all.extend_from_slice(args);
        let out = collector_cmd(&all);
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
        out
    }

    fn terminal_list(&self) -> String {
        String::from_utf8(self.cli(&["terminal", "list"]).stdout).unwrap()
    }
}

/// One daily report of PC `name` (its state directory and certificate under `root/pcs/name`),
/// with `ca.pem` and `enroll-secret.txt` from `files`.
fn pc_report(root: &Path, grpc_url: &str, files: &Path, name: &str) -> Output {
    let fixture = root.join(format!("pcs/{name}/certs"));
    if !fixture.exists() {
        let now = Utc::now();
        let office = format!("{:010}", 1_000_000_000u64 + name.len() as u64);
        write_cert(
            &fixture,
            "c.pem",
            &TestCa::kanagawa().office_cert(
                &office,
                now - Duration::days(300),
                now + Duration::days(30),
            ),
        );
    }
    agent_cmd(&[
        "report",
        "--collector",
        grpc_url,
        "--ca",
        files.join("ca.pem").to_str().unwrap(),
        "--enroll-secret-file",
        files.join("enroll-secret.txt").to_str().unwrap(),
        "--state-dir",
        root.join(format!("pcs/{name}/state")).to_str().unwrap(),
        "--machine-id",
        &format!("machine-{name}"),
        "--hostname",
        name,
        "--path",
        fixture.to_str().unwrap(),
        "--attempts",
        "1",
    ])
}

fn assert_reported(out: &Output, name: &str) {
    assert!(out.status.success(), "{name} reports: {}", describe(out));
}

fn assert_refused_as_revoked(out: &Output, name: &str) {
    assert!(!out.status.success(), "{name} must be refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("revoked"), "{name}: {}", describe(out));
}

/// The address in a "collector listening" line.
fn listening_field(line: &str, field: &str) -> String {
    let start = line.find(&format!("{field}=")).unwrap() + field.len() + 1;
    line[start..].split_whitespace().next().unwrap().to_owned()
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.systemctl("stop");
    }
}

/// The status column (the last) of `terminal list` for the PC named `name`.
fn status_of(list: &str, name: &str) -> String {
    list.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("{name} not in:\n{list}"))
        .to_owned()
}

fn psql(admin_url: &str, sql: &str) {
    let out = Command::new(Path::new(certfleet_testsupport::pg::DEFAULT_PG_BIN).join("psql"))
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            admin_url,
            "-c",
            sql,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{sql}: {}", describe(&out));
}

/// PostgreSQL: the documented dump and restore, against a real cluster. A terminal revoked
/// after the dump would report again from the restored dump alone; after the procedure
/// (which re-applies the revocation list) it, and one enrolled and revoked after the dump, is
/// refused, while the others report as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_and_restore() {
    // Its own cluster: the procedure drops and creates the database `certfleet`.
    let pg = PgCluster::start_managed();
    let port = pg.port().unwrap();
    let admin_url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let database_url = format!("postgres://certfleet@127.0.0.1:{port}/certfleet");
    psql(&admin_url, "CREATE ROLE certfleet LOGIN CREATEDB");
    psql(&admin_url, "CREATE DATABASE certfleet OWNER certfleet");
    let host = Host::new(Some(&database_url));
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("ADMIN_URL", admin_url.as_str()),
    ];

    let out = host.systemctl("start");
    assert!(out.status.success(), "{}", describe(&out));
    for pc in ["early-revoked", "kept", "revoked-after-dump"] {
        host.report_ok(pc);
    }
    host.cli(&["terminal", "revoke", "early-revoked"]);
    host.run_ok("pg-backup", &env);
    let dump = host.path(&format!("backup/certfleet-{}.dump", today()));
    assert!(dump.exists(), "the dump is where the procedure says");

    // After the dump: one PC revoked, one new PC enrolled and revoked.
    host.cli(&["terminal", "revoke", "revoked-after-dump"]);
    host.report_ok("enrolled-after-dump");
    host.cli(&["terminal", "revoke", "enrolled-after-dump"]);

    // The danger the procedure handles: the dump alone knows nothing of these revocations.
    psql(&admin_url, "CREATE DATABASE scratch OWNER certfleet");
    let scratch = format!("postgres://certfleet@127.0.0.1:{port}/scratch");
    let out = Command::new(Path::new(certfleet_testsupport::pg::DEFAULT_PG_BIN).join("pg_restore"))
        .args(["--no-owner", "--dbname", &scratch])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let out = collector_cmd(&["--database-url", &scratch, "terminal", "list"]);
    assert!(out.status.success(), "{}", describe(&out));
    let scratch_list = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        status_of(&scratch_list, "revoked-after-dump") == "active",
        "{scratch_list}"
    );
    assert!(
        !scratch_list.contains("enrolled-after-dump"),
        "{scratch_list}"
    );

    host.run_ok("pg-restore", &env);
    let list = host.terminal_list();
    for pc in ["early-revoked", "revoked-after-dump", "enrolled-after-dump"] {
        assert_eq!(status_of(&list, pc), "revoked", "{pc}:\n{list}");
        host.report_refused_as_revoked(pc);
    }
    assert_eq!(status_of(&list, "kept"), "active", "{list}");
    host.report_ok("kept");
}

/// SQLite under the systemd unit: the documented backup, then the documented restore, after
/// which the service (its own user, not root) owns the file and writes again (a report is
/// stored), and the revocation made after the backup holds. Copying the backup back as root
/// instead leaves a root-owned file, and the service refuses to start with a message naming
/// it; the documented steps repair that too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_and_restore() {
    assert!(
        running_as_root(),
        "this test runs the collector as another user than root, the way the systemd unit \
         does, to show the restore's ownership: run it as root (CI does)"
    );
    let host = Host::new(None);
    // Item 1: before `serve` ran there is no database, and the CLI says where it looked
    // instead of creating an empty one.
    let out = collector_cmd(&["--config", &host.config(), "terminal", "list"]);
    assert!(!out.status.success());
    let expected = format!(
        "no certfleet database at {}",
        host.path("var/lib/certfleet/certfleet.db").display()
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&expected),
        "{}",
        describe(&out)
    );
    assert!(!host.path("var/lib/private/certfleet/certfleet.db").exists());
    let out = host.systemctl("start");
    assert!(out.status.success(), "{}", describe(&out));
    for pc in ["kept", "revoked-after-backup"] {
        host.report_ok(pc);
    }
    host.run_ok("sqlite-backup", &[]);
    let backup = host.path(&format!("backup/certfleet-{}.db", today()));
    assert!(backup.exists());
    host.cli(&["terminal", "revoke", "revoked-after-backup"]);

    // The documented restore (the database being replaced is still readable: its revocations
    // are exported first).
    host.run_ok("sqlite-restore", &[]);
    use std::os::unix::fs::MetadataExt as _;
    let db = host.path("var/lib/private/certfleet/certfleet.db");
    assert_eq!(
        std::fs::metadata(&db).unwrap().uid(),
        service_uid(),
        "the service's user owns the file"
    );
    host.report_ok("kept");
    host.report_refused_as_revoked("revoked-after-backup");
    // And it keeps writing after a restart.
    let out = host.systemctl("restart");
    assert!(out.status.success(), "{}", describe(&out));
    host.report_ok("kept");

    // What the documented steps avoid: the backup put back as root (stop, replace, start).
    let out = host.run(
        &format!(
            "systemctl stop certfleet-collector\n\
             rm -f /var/lib/private/certfleet/certfleet.db*\n\
             cp /backup/certfleet-{}.db /var/lib/private/certfleet/certfleet.db\n\
             systemctl start certfleet-collector\n",
            today()
        ),
        &[],
        "",
    );
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("certfleet.db is not writable by this process (owned by uid 0"),
        "{}",
        describe(&out)
    );
    // The documented steps repair it.
    host.run_ok("sqlite-restore", &[]);
    assert_eq!(std::fs::metadata(&db).unwrap().uid(), service_uid());
    host.report_ok("kept");
}

/// `reissue-server-cert` as documented for a systemd host: the CA key comes from the offline
/// media, the old pair is moved aside, agents holding the original `ca.pem` keep reporting,
/// and /metrics shows the new certificate's not-after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reissue_server_certificate() {
    let host = Host::new(None);
    let out = host.systemctl("start");
    assert!(out.status.success(), "{}", describe(&out));
    host.report_ok("pc");
    let expiry = |metrics: &str| -> String {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("certfleet_own_certificate_expiry_timestamp_seconds")
                    && l.contains("role=\"server\"")
            })
            .unwrap_or_else(|| panic!("no server expiry in\n{metrics}"))
            .to_owned()
    };
    let before = expiry(&host.metrics());
    let old_pem = std::fs::read_to_string(host.path("etc/certfleet/server.pem")).unwrap();

    // A wrong CA key is refused before anything is written.
    let other = tempfile::tempdir().unwrap();
    let out = collector_cmd(&["init", "--dir", other.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let wrong = host.run(
        &procedure("reissue-systemd").replace(
            "/media/offline-ca/ca-key.pem",
            other.path().join("ca-key.pem").to_str().unwrap(),
        ),
        &[],
        "",
    );
    assert!(!wrong.status.success(), "{}", describe(&wrong));
    assert_eq!(
        std::fs::read_to_string(host.path("etc/certfleet/server.pem")).unwrap(),
        old_pem
    );

    // Later by at least a second, so the new not-after differs.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    host.run_ok("reissue-systemd", &[]);
    let new_pem = std::fs::read_to_string(host.path("etc/certfleet/server.pem")).unwrap();
    assert_ne!(new_pem, old_pem);
    let moved: Vec<_> = std::fs::read_dir(host.path("etc/certfleet"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("server.pem.replaced-"))
        .collect();
    assert_eq!(moved.len(), 1, "the old certificate is kept aside");
    host.report_ok("pc");
    let after = expiry(&host.metrics());
    assert_ne!(
        before, after,
        "the restarted service serves the new certificate"
    );
}

/// The Kubernetes ConfigMap's collector.toml with its Secret mounted from a directory.
fn kubernetes_config(secrets: &Path) -> String {
    let manifest =
        std::fs::read_to_string(workspace_file("deploy/kubernetes/configmap.yaml")).unwrap();
    let start = manifest.find("collector.toml: |\n").unwrap() + "collector.toml: |\n".len();
    let mut toml = String::new();
    for line in manifest[start..].lines() {
        if !line.is_empty() && !line.starts_with("    ") {
            break;
        }
        toml.push_str(line.strip_prefix("    ").unwrap_or(line));
        toml.push('\n');
    }
    toml.replace("/etc/certfleet/secrets", secrets.to_str().unwrap())
        // The test's Ingress controller connects from loopback.
        .replace(
            "trusted_proxies = [\"10.0.0.0/8\"]",
            "trusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1/32\"]",
        )
}

/// Sends what the Ingress sends: the public Host, HTTPS announced by a trusted proxy.
fn via_ingress<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![
        ("Host", "certfleet.example.org"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-For", "198.51.100.7"),
    ];
    headers.extend_from_slice(extra);
    headers
}

fn login(c: &CollectorProcess, user: &str, password: &str) -> String {
    let r = http_request(
        c.http_addr,
        "POST",
        "/login",
        &via_ingress(&[]),
        &format!("username={user}&password={}", password.replace(' ', "+")),
    );
    assert_eq!(r.status, 303, "login of {user}: {r:?}");
    r.set_cookie("__Host-cf_session")
        .expect("a __Host- session cookie")
}

fn dashboard_status(c: &CollectorProcess, session: &str) -> u16 {
    http_request(
        c.http_addr,
        "GET",
        "/",
        &via_ingress(&[("Cookie", session)]),
        "",
    )
    .status
}

/// Item 2: two collectors with the Kubernetes configuration (its Secret's session key and users
/// file) on one PostgreSQL; a login on one replica is a login on the other. A user added as
/// deploy/README.md and OPERATIONS.md say (`hash-password --user` into the Secret, `rollout
/// restart`) logs in too, and the first user's session survives the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_work_across_kubernetes_replicas() {
    let pg = PgCluster::start();
    let db = pg.fresh_database().await;
    let root = tempfile::tempdir().unwrap();
    // The Secret's files: init's certificates and secrets, plus the users file.
    let secrets = root.path().join("secrets");
    let out = collector_cmd(&[
        "init",
        "--dir",
        secrets.to_str().unwrap(),
        "--san",
        "localhost",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    std::fs::write(secrets.join("dashboard-users.txt"), "").unwrap();
    let config = root.path().join("collector.toml");
    std::fs::write(&config, kubernetes_config(&secrets)).unwrap();

    // kubectl for the add-user steps: `patch secret` writes the keys into the mounted directory.
    let bin_dir = root.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let kubectl = format!(
        r#"#!/bin/bash
# Test stand-in for kubectl: the Secret certfleet-collector is the directory {secrets}.
set -euo pipefail
args=("$@")
[ "${{args[0]}}" = -n ] && args=("${{args[@]:2}}")
case "${{args[0]}} ${{args[1]}}" in
  "patch secret")
    [ "${{args[2]}}" = certfleet-collector ] && [ "${{args[3]}}" = -p ] || {{ echo "kubectl (test): $*" >&2; exit 1; }}
    printf '%s' "${{args[4]}}" | python3 -c '
import base64, json, sys, pathlib
for key, value in json.load(sys.stdin)["data"].items():
    pathlib.Path("{secrets}", key).write_bytes(base64.b64decode(value))'
    ;;
  "rollout restart") touch {restarted} ;;
  *) echo "kubectl (test): unsupported $*" >&2; exit 1 ;;
esac
"#,
        secrets = secrets.display(),
        restarted = root.path().join("restarted").display(),
    );
    std::fs::write(bin_dir.join("kubectl"), kubectl).unwrap();
    std::fs::set_permissions(
        bin_dir.join("kubectl"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let add_user = |name: &str, password: &str| {
        let script = procedure("kubernetes-add-user").replace("alice", name);
        let path = format!(
            "{}:{}:{}",
            bin_dir.display(),
            bin("certfleet-collector").parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(&secrets)
            .env("PATH", path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "add {name}: {}", describe(&out));
        assert!(
            root.path().join("restarted").exists(),
            "the pods are restarted"
        );
    };

    add_user("alice", "alice's long passphrase");
    let args = ["--config", config.to_str().unwrap(), "--database-url", &db];
    let a = CollectorProcess::serve_http_on("0.0.0.0:0", &args);
    let b = CollectorProcess::serve_http_on("0.0.0.0:0", &args);
    let alice = login(&a, "alice", "alice's long passphrase");
    assert_eq!(dashboard_status(&a, &alice), 200);
    assert_eq!(
        dashboard_status(&b, &alice),
        200,
        "the session is valid on the other pod"
    );
    // Without a session the other pod asks for a login.
    assert_eq!(dashboard_status(&b, "__Host-cf_session=forged"), 303);

    // A second account, added as documented; the pods restart (a rolling restart).
    add_user("bob", "bob's even longer passphrase");
    assert!(a.terminate());
    let a = CollectorProcess::serve_http_on("0.0.0.0:0", &args);
    assert!(b.terminate());
    let b = CollectorProcess::serve_http_on("0.0.0.0:0", &args);
    let bob = login(&b, "bob", "bob's even longer passphrase");
    assert_eq!(dashboard_status(&a, &bob), 200);
    assert_eq!(
        dashboard_status(&b, &alice),
        200,
        "alice's session survives the roll"
    );
    let users = std::fs::read_to_string(secrets.join("dashboard-users.txt")).unwrap();
    assert_eq!(users.lines().count(), 2, "{users}");
}

/// A compose project as deploy/README.md §4 lays it out, run by the `docker` stand-in
/// (tests/stand-ins/docker) against a real PostgreSQL: `compose.yaml` and the Dockerfile are
/// the repository's.
struct ComposeProject {
    root: tempfile::TempDir,
    pg: PgCluster,
}

impl ComposeProject {
    fn new() -> ComposeProject {
        // Its own cluster: the restore drops and creates the database `certfleet`.
        let pg = PgCluster::start_managed();
        let admin = format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            pg.port().unwrap()
        );
        // What the postgres image does on its first start with POSTGRES_USER/POSTGRES_DB.
        psql(&admin, "CREATE ROLE certfleet LOGIN SUPERUSER");
        psql(&admin, "CREATE DATABASE certfleet OWNER certfleet");
        let root = tempfile::Builder::new()
            .prefix("certfleet-compose-")
            .tempdir()
            .unwrap();
        let project = root.path().join("deploy/docker");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::create_dir_all(root.path().join("media/offline-ca")).unwrap();
        for file in ["compose.yaml", "Dockerfile"] {
            std::fs::copy(
                workspace_file(&format!("deploy/docker/{file}")),
                project.join(file),
            )
            .unwrap();
        }
        ComposeProject { root, pg }
    }

    fn project(&self) -> PathBuf {
        self.root.path().join("deploy/docker")
    }

    fn run(&self, script: &str, stdin: &str) -> Output {
        let root = self.root.path().display().to_string();
        let script = script
            .replace("/media/offline-ca", &format!("{root}/media/offline-ca"))
            // The agents of the test reach the collector as localhost.
            .replace("certfleet.example.org", "localhost")
            .replace("2026-11-26", &today());
        let path = format!(
            "{}:{}",
            workspace_file("tests/stand-ins").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(self.project())
            .env("PATH", path)
            .env("CF_COMPOSE_ROOT", self.root.path())
            .env("CF_COLLECTOR", bin("certfleet-collector"))
            .env("CF_PG_PORT", self.pg.port().unwrap().to_string())
            .env("CF_PG_BIN", certfleet_testsupport::DEFAULT_PG_BIN)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run bash");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn run_ok(&self, document: &str, name: &str, stdin: &str) {
        let out = self.run(&procedure_in(document, name), stdin);
        assert!(
            out.status.success(),
            "procedure {name} failed: {}\n--- collector log\n{}",
            describe(&out),
            std::fs::read_to_string(self.root.path().join("run/log")).unwrap_or_default()
        );
    }

    fn listening(&self, field: &str) -> String {
        listening_field(
            &std::fs::read_to_string(self.root.path().join("run/listening")).unwrap(),
            field,
        )
    }

    fn report(&self, name: &str) -> Output {
        let addr: std::net::SocketAddr = self.listening("grpc_addr").parse().unwrap();
        // ca.pem and enroll-secret.txt as the installation copied them out of the volume.
        pc_report(
            self.root.path(),
            &format!("https://localhost:{}", addr.port()),
            &self.project(),
            name,
        )
    }

    fn volume(&self, file: &str) -> PathBuf {
        self.root.path().join("volumes/collector-config").join(file)
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        let _ = self.run("docker compose stop collector", "");
    }
}

/// Compose end to end: the installation of deploy/README.md §4 (the CA key lands outside the
/// collector's volume), adding a dashboard user, the backup, and the restore of database,
/// revocations and config volume of OPERATIONS.md, then re-issuing the server certificate
/// with the offline CA key — each block run as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_install_backup_and_restore() {
    let c = ComposeProject::new();
    c.run_ok("deploy/README.md", "compose-install", "");
    assert!(
        c.root.path().join("media/offline-ca/ca-key.pem").exists(),
        "the CA key went offline"
    );
    assert!(
        !c.volume("ca-key.pem").exists(),
        "no CA key in the collector's volume"
    );
    assert!(c.project().join("ca.pem").exists());
    for pc in ["kept", "revoked-after-backup"] {
        assert_reported(&c.report(pc), pc);
    }

    // A dashboard account, and its login.
    c.run_ok(
        "docs/OPERATIONS.md",
        "compose-add-user",
        "a compose passphrase\n",
    );
    let http: std::net::SocketAddr = c.listening("http_addr").parse().unwrap();
    let r = http_request(
        http,
        "POST",
        "/login",
        &[],
        "username=alice&password=a+compose+passphrase",
    );
    assert_eq!(r.status, 303, "login: {r:?}");
    let session = r.set_cookie("cf_session").expect("a session cookie");
    assert_eq!(
        http_request(http, "GET", "/", &[("Cookie", &session)], "").status,
        200
    );

    c.run_ok("docs/OPERATIONS.md", "compose-backup", "");
    let day = today();
    for file in [
        format!("certfleet-{day}.dump"),
        format!("certfleet-revocations-{day}.json"),
        format!("certfleet-config-{day}.tgz"),
    ] {
        let len = std::fs::metadata(c.project().join(&file)).unwrap().len();
        assert!(len > 0, "{file} is empty");
    }
    // After the backup: a revocation (with the CLI recipe), and a config file lost.
    let out = c.run(
        "docker compose exec collector certfleet-collector terminal revoke revoked-after-backup",
        "",
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_refused_as_revoked(&c.report("revoked-after-backup"), "revoked-after-backup");
    std::fs::remove_file(c.volume("api-token.txt")).unwrap();

    c.run_ok("docs/OPERATIONS.md", "compose-restore", "");
    assert!(
        c.volume("api-token.txt").exists(),
        "the config volume is back"
    );
    assert_reported(&c.report("kept"), "kept");
    assert_refused_as_revoked(&c.report("revoked-after-backup"), "revoked-after-backup");

    // A new server certificate from the offline CA key; agents keep their ca.pem.
    let old = std::fs::read_to_string(c.volume("server.pem")).unwrap();
    c.run_ok("docs/OPERATIONS.md", "compose-reissue", "");
    assert_ne!(
        std::fs::read_to_string(c.volume("server.pem")).unwrap(),
        old
    );
    assert_reported(&c.report("kept"), "kept");
}
