//! A throwaway PostgreSQL cluster for the storage conformance suite, end-to-end tests and
//! benchmarks.
//!
//! [`PgCluster::start`] either uses the server named by `CERTFLEET_TEST_DATABASE_URL` (CI or a
//! developer's own server) or runs `initdb` + `pg_ctl` from the PostgreSQL 15 binaries in a
//! temporary directory on a free loopback port. Each test asks for its own database
//! ([`PgCluster::url`] / [`PgCluster::fresh_database`]) so tests never share state and one
//! cluster can serve a whole test binary.
//!
//! Everything here is synchronous `std::process` work: it is short, and keeping it out of any
//! async runtime lets process-level tests use it as easily as `#[tokio::test]`s.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Environment variable naming an existing server to use instead of a throwaway cluster.
pub const DATABASE_URL_ENV: &str = "CERTFLEET_TEST_DATABASE_URL";

/// Where Debian/Ubuntu's `postgresql-15` package puts the server binaries.
pub const DEFAULT_PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Overrides [`DEFAULT_PG_BIN`] (another major version, a non-Debian layout).
pub const PG_BIN_ENV: &str = "CERTFLEET_PG_BIN";

/// Unique suffixes for database names within one process; the pid and clock make them unique
/// across processes sharing one external server.
static DB_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A PostgreSQL server for tests: either a throwaway local cluster (stopped and deleted on
/// drop) or an external server from [`DATABASE_URL_ENV`].
#[derive(Debug)]
pub struct PgCluster {
    /// URL of the maintenance database (`postgres`), used to create per-test databases.
    base_url: String,
    /// `psql` used to run `CREATE DATABASE` (no driver dependency in this crate).
    psql: PathBuf,
    managed: Option<Managed>,
}

/// The parts that exist only for a cluster this process created.
#[derive(Debug)]
struct Managed {
    bin: PathBuf,
    port: u16,
    /// Owned by `postgres` when running as root; removed on drop.
    dir: tempfile::TempDir,
    /// Runs as root → server binaries run as the `postgres` user, because PostgreSQL refuses
    /// to run as root.
    as_postgres_user: bool,
    /// Stops the server if this process dies without running `Drop` (statics, panics with
    /// `abort`, SIGKILL), so no orphaned postmaster outlives a test binary.
    reaper: Option<Child>,
}

impl PgCluster {
    /// Starts a throwaway cluster, or connects to [`DATABASE_URL_ENV`] when it is set.
    ///
    /// # Panics
    /// When the PostgreSQL binaries are missing (with the command that installs them) or the
    /// cluster fails to start (with the tail of its log). Tests that need PostgreSQL must fail
    /// loudly rather than skip.
    pub fn start() -> PgCluster {
        if let Ok(url) = std::env::var(DATABASE_URL_ENV)
            && !url.trim().is_empty()
        {
            let url = url.trim().to_string();
            let psql = find_psql(None);
            let cluster = PgCluster {
                base_url: url,
                psql,
                managed: None,
            };
            // Fail here, with a clear message, rather than in the first test's CREATE DATABASE.
            cluster.psql_command(&cluster.base_url, "SELECT 1");
            return cluster;
        }
        PgCluster::start_managed()
    }

    /// The one cluster of this test binary, started by the first test that asks: starting
    /// PostgreSQL costs about a second, a fresh database a few milliseconds.
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub fn shared() -> &'static PgCluster {
        static CLUSTER: std::sync::OnceLock<PgCluster> = std::sync::OnceLock::new();
        CLUSTER.get_or_init(PgCluster::start)
    }

    /// Always starts a throwaway local cluster, ignoring [`DATABASE_URL_ENV`]: for tests that
    /// must stop and start the server.
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub fn start_managed() -> PgCluster {
        let bin = pg_bin();
        let as_postgres_user = running_as_root();
        let mut dir = tempfile::Builder::new()
            .prefix("certfleet-pg-")
            .tempdir()
            .expect("create temporary directory for PostgreSQL");
        if as_postgres_user {
            chown_to_postgres(dir.path());
        }
        let data = dir.path().join("data");
        let mut init = server_command(&bin, "initdb", as_postgres_user);
        init.arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync");
        run(init, "initdb");

        // A loopback port that is free now; a race with another process is retried below.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            write_config(&data, dir.path(), port);
            let mut managed = Managed {
                bin: bin.clone(),
                port,
                dir,
                as_postgres_user,
                reaper: None,
            };
            match managed.pg_ctl_start() {
                Ok(()) => {
                    managed.reaper = spawn_reaper(&managed);
                    return PgCluster {
                        base_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                        psql: find_psql(Some(&bin)),
                        managed: Some(managed),
                    };
                }
                Err(e) => {
                    last_error = e;
                    dir = managed.into_dir();
                }
            }
        }
        panic!("PostgreSQL test cluster did not start: {last_error}");
    }

    /// True when this process owns the cluster (so [`stop`](Self::stop) and
    /// [`start_again`](Self::start_again) work); false for an external server.
    pub fn is_managed(&self) -> bool {
        self.managed.is_some()
    }

    /// URL of the maintenance database. Prefer [`url`](Self::url) for tests.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The loopback port of a managed cluster.
    pub fn port(&self) -> Option<u16> {
        self.managed.as_ref().map(|m| m.port)
    }

    /// Creates a new, empty database and returns its URL, so every caller gets isolated state.
    pub fn url(&self) -> String {
        let name = unique_database_name();
        self.psql_command(&self.base_url, &format!("CREATE DATABASE \"{name}\""));
        with_database(&self.base_url, &name)
    }

    /// [`url`](Self::url) for async tests: runs the blocking `psql` call off the runtime's
    /// worker threads.
    pub async fn fresh_database(&self) -> String {
        let base = self.base_url.clone();
        let psql = self.psql.clone();
        tokio::task::spawn_blocking(move || {
            let name = unique_database_name();
            psql_command(&psql, &base, &format!("CREATE DATABASE \"{name}\""));
            with_database(&base, &name)
        })
        .await
        .expect("create test database")
    }

    /// Stops the server (fast shutdown: open connections are closed), keeping its data and
    /// port, so tests can check that clients survive a database restart.
    ///
    /// # Panics
    /// For an external server, which this process may not stop.
    pub fn stop(&self) {
        let managed = self.managed_or_panic("stop");
        let mut cmd = server_command(&managed.bin, "pg_ctl", managed.as_postgres_user);
        cmd.arg("-D")
            .arg(managed.data_dir())
            .args(["-m", "fast", "-w", "-t", "60", "stop"]);
        run(cmd, "pg_ctl stop");
    }

    /// Starts a cluster stopped by [`stop`](Self::stop) again on the same port and data.
    pub fn start_again(&self) {
        let managed = self.managed_or_panic("start");
        if let Err(e) = managed.pg_ctl_start() {
            panic!("PostgreSQL test cluster did not restart: {e}");
        }
    }

    /// Turns TLS on for a managed cluster with this server certificate and key (PEM) and
    /// restarts it; plain connections keep working (`pg_hba` is unchanged), TLS ones can now
    /// verify the server. For tests of the documented `sslmode=verify-full` URLs.
    ///
    /// # Panics
    /// For an external server.
    pub fn enable_tls(&self, cert_pem: &str, key_pem: &str) {
        let managed = self.managed_or_panic("configure TLS on");
        let data = managed.data_dir();
        let cert = data.join("server.crt");
        let key = data.join("server.key");
        std::fs::write(&cert, cert_pem).expect("write server.crt");
        std::fs::write(&key, key_pem).expect("write server.key");
        // PostgreSQL refuses a key readable by others, and reads both as its own user.
        let status = Command::new("chmod")
            .args([OsStr::new("0600"), key.as_os_str()])
            .status()
            .expect("run chmod");
        assert!(status.success(), "chmod 0600 {}", key.display());
        if managed.as_postgres_user {
            for file in [&cert, &key] {
                let status = Command::new("chown")
                    .args([OsStr::new("postgres:postgres"), file.as_os_str()])
                    .status()
                    .expect("run chown");
                assert!(status.success(), "chown postgres {}", file.display());
            }
        }
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("read postgresql.conf");
        text.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(&conf, text).expect("write postgresql.conf");
        self.stop();
        self.start_again();
    }

    fn managed_or_panic(&self, what: &str) -> &Managed {
        self.managed.as_ref().unwrap_or_else(|| {
            panic!(
                "cannot {what} the PostgreSQL server from {DATABASE_URL_ENV}: only a throwaway \
                 cluster started by certfleet-testsupport can be stopped and started"
            )
        })
    }

    fn psql_command(&self, url: &str, sql: &str) {
        psql_command(&self.psql, url, sql);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let Some(managed) = self.managed.as_mut() else {
            return;
        };
        // Immediate: tests are over, nothing needs a clean checkpoint, and it is fastest.
        let mut cmd = server_command(&managed.bin, "pg_ctl", managed.as_postgres_user);
        cmd.arg("-D")
            .arg(managed.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = cmd.status();
        if let Some(mut reaper) = managed.reaper.take() {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
        // The TempDir removes the directory when `managed` is dropped after this.
    }
}

impl Managed {
    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let mut cmd = server_command(&self.bin, "pg_ctl", self.as_postgres_user);
        cmd.arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-t", "60", "start"])
            .stdin(Stdio::null())
            // pg_ctl's own output is noise in test logs; the server log is read on failure.
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl start failed ({}): {}\n--- server log ---\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                tail(&self.log_path(), 40)
            ))
        }
    }

    fn into_dir(self) -> tempfile::TempDir {
        self.dir
    }
}

/// The directory holding `initdb`/`pg_ctl`, or a panic explaining how to get them.
fn pg_bin() -> PathBuf {
    let bin = std::env::var_os(PG_BIN_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PG_BIN));
    if !bin.join("initdb").is_file() || !bin.join("pg_ctl").is_file() {
        panic!(
            "PostgreSQL server binaries not found in {} (initdb, pg_ctl). Install them with \
             `apt-get install postgresql` (PostgreSQL 15), point {PG_BIN_ENV} at another \
             version's bin directory, or set {DATABASE_URL_ENV}=postgres://user@host/db to use \
             an existing server.",
            bin.display()
        );
    }
    bin
}

fn find_psql(bin: Option<&Path>) -> PathBuf {
    let candidates = bin
        .map(|b| b.join("psql"))
        .into_iter()
        .chain(std::iter::once(PathBuf::from(DEFAULT_PG_BIN).join("psql")));
    for c in candidates {
        if c.is_file() {
            return c;
        }
    }
    // Fall back to PATH; a missing psql then fails with the install hint in `psql_command`.
    PathBuf::from("psql")
}

fn psql_command(psql: &Path, url: &str, sql: &str) {
    let out = Command::new(psql)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}; install the PostgreSQL client with `apt-get install \
                 postgresql`",
                psql.display()
            )
        });
    if !out.status.success() {
        panic!(
            "psql {sql:?} on {url} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
}

fn unique_database_name() -> String {
    let n = DB_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("cf_test_{}_{n}_{nanos}", std::process::id())
}

/// Replaces the database of a `postgres://` URL, keeping credentials, host and parameters.
fn with_database(url: &str, database: &str) -> String {
    let (before_query, query) = match url.find('?') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let authority_start = before_query.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match before_query[authority_start..].find('/') {
        Some(i) => &before_query[..authority_start + i],
        None => before_query,
    };
    format!("{base}/{database}{query}")
}

/// Builds a command for a server binary, via `runuser` when we are root.
fn server_command(bin: &Path, program: &str, as_postgres_user: bool) -> Command {
    let path = bin.join(program);
    if as_postgres_user {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(path);
        cmd
    } else {
        Command::new(path)
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
}

fn running_as_root() -> bool {
    // /proc/self/status avoids a libc dependency (and `unsafe`) for geteuid().
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn chown_to_postgres(dir: &Path) {
    let status = Command::new("chown")
        .args([
            OsStr::new("-R"),
            OsStr::new("postgres:postgres"),
            dir.as_os_str(),
        ])
        .status()
        .expect("run chown");
    assert!(
        status.success(),
        "chown postgres {} failed: is there a `postgres` user? (`apt-get install postgresql` \
         creates it)",
        dir.display()
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free loopback port")
}

/// Settings appended to `postgresql.conf` so that `pg_ctl start` alone (also after `stop`)
/// brings the server back identically.
fn write_config(data: &Path, socket_dir: &Path, port: u16) {
    let mut conf = String::from("\n# certfleet-testsupport\n");
    let _ = writeln!(conf, "port = {port}");
    conf.push_str("listen_addresses = '127.0.0.1'\n");
    // Inside the temp dir: no clash with a system server's /var/run/postgresql socket.
    let _ = writeln!(conf, "unix_socket_directories = '{}'", socket_dir.display());
    // Throwaway data: durability buys nothing and costs most of the test time.
    conf.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
    // Benchmarks and concurrent tests open many pools against one server.
    conf.push_str("max_connections = 300\n");
    let path = data.join("postgresql.conf");
    let mut existing = std::fs::read_to_string(&path).expect("read postgresql.conf");
    // Replace our block on a retry with another port.
    if let Some(i) = existing.find("\n# certfleet-testsupport\n") {
        existing.truncate(i);
    }
    existing.push_str(&conf);
    std::fs::write(&path, existing).expect("write postgresql.conf");
}

/// A detached shell that waits for this process to exit, then stops the cluster and removes its
/// directory. `Drop` does both normally; this covers a cluster held in a `static` (never
/// dropped) and a test binary that is killed.
fn spawn_reaper(m: &Managed) -> Option<Child> {
    let pg_ctl = m.bin.join("pg_ctl");
    let stop = if m.as_postgres_user {
        "runuser -u postgres -- \"$2\" -D \"$3\" -m immediate -w stop"
    } else {
        "\"$2\" -D \"$3\" -m immediate -w stop"
    };
    let script = format!(
        "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf \"$4\""
    );
    Command::new("setsid")
        .arg("sh")
        .arg("-c")
        .arg(script)
        .arg("certfleet-pg-reaper")
        .arg(std::process::id().to_string())
        .arg(pg_ctl)
        .arg(m.data_dir())
        .arg(m.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_database_in_url() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            with_database("postgresql://h:1/", "x"),
            "postgresql://h:1/x"
        );
    }
}
