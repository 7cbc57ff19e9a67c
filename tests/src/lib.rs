//! Harness for certfleet's end-to-end tests: starts real `certfleet-collector` processes,
//! runs real `certfleet-agent` processes, and makes test certificates.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs one named step of a long end-to-end scenario. When the step panics, the name is
/// printed with the failure, so a failing scenario says which of its steps broke (the steps
/// share one expensive setup: processes, a PostgreSQL cluster, a browser).
pub async fn step<T>(name: &str, step: impl std::future::Future<Output = T>) -> T {
    let _guard = StepGuard(name);
    step.await
}

/// [`step`] for synchronous steps.
pub fn step_sync<T>(name: &str, step: impl FnOnce() -> T) -> T {
    let _guard = StepGuard(name);
    step()
}

/// Names the step when it is dropped while its thread unwinds from a panic.
struct StepGuard<'a>(&'a str);

impl Drop for StepGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("FAILED STEP: {}", self.0);
        }
    }
}

/// Path of a workspace binary. `scripts/test-all.sh` builds every binary before the tests;
/// a missing one is a loud failure, never a skip.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --workspace --bins)",
        path.display()
    );
    path
}

/// A running collector process.
#[derive(Debug)]
pub struct CollectorProcess {
    child: Child,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl CollectorProcess {
    /// Starts `certfleet-collector serve` with `args` on loopback ports chosen by the OS and
    /// waits until it says it is listening.
    pub fn serve(args: &[&str]) -> Self {
        Self::serve_http_on("127.0.0.1:0", args)
    }

    /// As [`serve`](Self::serve), with the HTTP listener (API, dashboard) bound to
    /// `http_listen`, e.g. `0.0.0.0:0`: off loopback the dashboard requires a login. gRPC stays
    /// on a loopback port. `http_addr` is what the collector logged (`0.0.0.0:PORT` then).
    pub fn serve_http_on(http_listen: &str, args: &[&str]) -> Self {
        let mut child = Command::new(bin("certfleet-collector"))
            .arg("serve")
            .args(["--grpc-listen", "127.0.0.1:0", "--http-listen", http_listen])
            .args(args)
            .env("RUST_LOG", "info,sqlx=warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn certfleet-collector");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let log_writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("collector listening") {
                    let _ = tx.send(line.clone());
                }
                let mut l = log_writer.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "collector did not start listening; log:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        let field = |name: &str| -> SocketAddr {
            let start = line
                .find(&format!("{name}="))
                .unwrap_or_else(|| panic!("no {name} in {line}"))
                + name.len()
                + 1;
            let rest = &line[start..];
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            rest[..end]
                .parse()
                .unwrap_or_else(|e| panic!("bad {name} in {line}: {e}"))
        };
        let grpc_addr = field("grpc_addr");
        let http_addr = field("http_addr");
        CollectorProcess {
            child,
            grpc_addr,
            http_addr,
            log,
        }
    }

    /// The URL agents use (the server certificate from `init` names `localhost`).
    pub fn grpc_url(&self) -> String {
        format!("https://localhost:{}", self.grpc_addr.port())
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Everything the collector logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for a graceful exit; returns whether it exited successfully.
    pub fn terminate(mut self) -> bool {
        signal(self.child.id(), "TERM");
        let status = wait_timeout(&mut self.child, Duration::from_secs(30));
        status.is_some_and(|s| s.success())
    }

    /// SIGKILL: the crash case.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `certfleet-collector` with `args` to completion (init, terminal list, report…).
pub fn collector_cmd(args: &[&str]) -> Output {
    Command::new(bin("certfleet-collector"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run certfleet-collector")
}

/// The argon2 hash of a dashboard password, made by `certfleet-collector hash-password`.
pub fn hash_password(password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(bin("certfleet-collector"))
        .arg("hash-password")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hash-password");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "hash-password: {}", describe(&out));
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(hash.starts_with("$argon2"), "{hash}");
    hash
}

/// Runs `certfleet-agent` with `args` to completion.
pub fn agent_cmd(args: &[&str]) -> Output {
    Command::new(bin("certfleet-agent"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run certfleet-agent")
}

/// Stdout and stderr of a finished process, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The load generator reports a whole fleet from one address in quick rounds. This turns off,
/// in a `collector.toml` written by `init`, the per-address and per-terminal rates that a real
/// fleet lives within (`tests/hostile.rs` tests them).
pub fn allow_load_generator(config: &Path) {
    let text = std::fs::read_to_string(config).expect("read collector.toml");
    assert_eq!(
        text.matches("[limits]\n").count(),
        1,
        "one [limits] table in {}",
        config.display()
    );
    let text = text.replacen(
        "[limits]\n",
        "[limits]\nreports_per_terminal_per_hour = 0\nenroll_per_peer_per_minute = 0\n\
         unauthenticated_per_peer_per_minute = 0\n",
        1,
    );
    std::fs::write(config, text).expect("write collector.toml");
}

/// Test CAs live in `certfleet-testsupport`; re-exported for the e2e tests.
pub use certfleet_testsupport::TestCa;

/// Writes `pem` to `dir/name`, creating `dir`.
pub fn write_cert(dir: &Path, name: &str, pem: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create fixture dir");
    let path = dir.join(name);
    std::fs::write(&path, pem).expect("write fixture");
    path
}

/// A minimal HTTP/1.1 GET over loopback (no client library needed): status code and body.
pub fn http_get(addr: SocketAddr, path: &str, bearer: Option<&str>) -> (u16, String) {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    let r = http_request(addr, "GET", path, &headers, "");
    (r.status, r.body)
}

/// A response read by [`http_request`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header lines as sent, `name: value`.
    pub headers: Vec<String>,
    pub body: String,
}

impl HttpResponse {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// `name=value` of a `Set-Cookie` for cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers.iter().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            let pair = v.trim().split(';').next()?;
            (k.trim().eq_ignore_ascii_case("set-cookie") && pair.starts_with(&format!("{name}=")))
                .then(|| pair.to_owned())
        })
    }
}

/// A minimal HTTP/1.1 request over loopback with extra `headers` (a `Host` among them
/// replaces the default one) and a form `body` for POST.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect HTTP listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        head.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).expect("send request");
    stream.write_all(body.as_bytes()).expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of the response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<String> = head.lines().skip(1).map(str::to_owned).collect();
    let mut body = raw[split + 4..].to_vec();
    // Reports and /metrics are streamed, so they come chunked.
    if headers
        .iter()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"))
    {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Decodes an HTTP/1.1 chunked body (sizes in hex, each chunk followed by CRLF, 0 ends it).
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&rest[..line_end]).expect("chunk size is ASCII");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .expect("chunk size is hex");
        rest = &rest[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// A real HTTP proxy process, tinyproxy (Debian's `tinyproxy`, installed by
/// `scripts/test-all.sh`), in the foreground on a free loopback port, logging every request.
/// Killed on drop.
#[derive(Debug)]
pub struct ProxyProcess {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl ProxyProcess {
    /// Starts tinyproxy with these configuration lines added (`BasicAuth USER PASSWORD`,
    /// `ConnectPort N` to allow CONNECT to port N only, ...); waits until it accepts
    /// connections.
    pub fn tinyproxy(config: &[&str]) -> Self {
        // tinyproxy takes its port from the configuration: ask the OS for a free one. Another
        // process could take it in between, so a failed start is tried again on a new port.
        let mut last_log = String::new();
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            match Self::start(port, config) {
                Ok(proxy) => return proxy,
                Err(log) => last_log = log,
            }
        }
        panic!("tinyproxy did not start; its log:\n{last_log}");
    }

    fn start(port: u16, config: &[&str]) -> Result<Self, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("tinyproxy.conf");
        let mut text =
            format!("Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 50\nLogLevel Info\n");
        for line in config {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&file, text).expect("write tinyproxy.conf");
        let mut child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run tinyproxy ({e}): apt-get install tinyproxy (scripts/test-all.sh does)")
            });
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout piped")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr piped")),
        ] {
            let (log, tx) = (log.clone(), tx.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if line.contains("Starting main loop") {
                        let _ = tx.send(());
                    }
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        drop(tx);
        if rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(log.lock().unwrap().clone());
        }
        Ok(ProxyProcess {
            child,
            port,
            log,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything tinyproxy logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The targets of the CONNECT requests the proxy received (`host:port`), in order.
    pub fn connects(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| {
                let request = l.split("): ").nth(1)?;
                let target = request.strip_prefix("CONNECT ")?;
                Some(target.split(' ').next()?.to_owned())
            })
            .collect()
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on (bound, then released): a proxy that is unreachable.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("local address").port()
}
