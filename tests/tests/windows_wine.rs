//! The real Windows agent (`certfleet-agent.exe`, cross-built by `scripts/test-all.sh`) end to
//! end under Wine, in a fresh Wine prefix per test:
//!
//! - certificates are written through Wine's crypt32 by a helper program
//!   (`tests/windows/certstore-helper.c`): CurrentUser\My and LocalMachine\My, with
//!   KEY_PROV_INFO for a CAPI provider, for a CNG key storage provider and without, Japanese
//!   friendly names; Personal-store files of a logged-off user `C:\users\日本語の名前` and of a
//!   profile moved to `D:\` are serialized by crypt32 too, and named by the registry's
//!   ProfileList. `scan --format json` with its default sources must list exactly the office
//!   certificates with the right expiry, key flag, friendly name, location and SID, refuse a
//!   link planted in a profile, and name the one damaged file without quoting it;
//! - `install` with the flags `deploy/windows/install-agent.ps1` passes registers the
//!   Scheduled Task; its exact command line (from the definition handed to Task Scheduler) is
//!   started the way Task Scheduler starts it (CreateProcessW) and reports to a collector
//!   running on Linux over gRPC+TLS, without `--machine-id`: the terminal is stored under the
//!   registry's MachineGuid with the Windows host name and the registry's OS version; the
//!   enroll secret is deleted once enrolled; `status` tells what happened;
//! - an office proxy: the machine's WinHTTP setting (set with WinHttpSetDefaultProxyConfiguration,
//!   the call behind `netsh winhttp set proxy`) is read, and the report goes through a real
//!   CONNECT proxy process (tinyproxy on Linux) unless the bypass list names the collector;
//!   `install --proxy` puts the proxy on the task's command line;
//! - the spool (collector stopped, then back), a refused re-enrollment, uninstall;
//! - the MSI (`deploy/windows/certfleet-agent.wxs`, built with wixl): install with properties,
//!   custom action registering the task, major upgrade keeping the node key, uninstall.
//!
//! Nothing is skipped: a missing Wine, mingw-w64 or agent build fails the test, naming what to
//! install. `rustc`'s std needs `ProcessPrng` from bcryptprimitives.dll, which Wine 8.0 lacks:
//! a test-only shim (`tests/windows/bcryptprimitives-shim.c`) is put beside the executables
//! and, for msiexec, into the prefix's system32. It is never shipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use certfleet_e2e::{CollectorProcess, ProxyProcess, TestCa, bin, collector_cmd, describe};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The two tests each boot a Wine prefix; on a 2-core machine they run one after the other.
static ONE_PREFIX_AT_A_TIME: Mutex<()> = Mutex::new(());

const JAPANESE_USER: &str = "日本語の名前";
const JAPANESE_SID: &str = "S-1-5-21-1004336348-1177238915-682003330-1001";
const MOVED_SID: &str = "S-1-5-21-1004336348-1177238915-682003330-1002";

/// `certfleet-agent.exe` as `scripts/test-all.sh` builds it: `$CARGO_TARGET_DIR/windows/
/// x86_64-pc-windows-gnu/release-agent/`, or `CERTFLEET_WINDOWS_AGENT_EXE`.
fn windows_agent_exe() -> PathBuf {
    if let Some(path) = std::env::var_os("CERTFLEET_WINDOWS_AGENT_EXE") {
        return PathBuf::from(path);
    }
    // bin() is $CARGO_TARGET_DIR/<profile>/<name>.
    let target = bin("certfleet-agent")
        .parent()
        .and_then(Path::parent)
        .expect("target directory")
        .to_owned();
    let exe = target
        .join("windows")
        .join("x86_64-pc-windows-gnu")
        .join("release-agent")
        .join("certfleet-agent.exe");
    assert!(
        exe.exists(),
        "{} is missing: build the Windows agent first (scripts/test-all.sh does, see README \
         \"Building the Windows agent\"), or set CERTFLEET_WINDOWS_AGENT_EXE",
        exe.display()
    );
    exe
}

/// How long one Wine command may run. Wine can hang (a service that never answers under a
/// loaded machine); a hung test must fail with the command's name, not hold CI until its limit.
const WINE_COMMAND_LIMIT: Duration = Duration::from_secs(300);

/// `cmd.output()`, but the process is killed and the test fails once `limit` has passed.
fn output_within(cmd: &mut Command, limit: Duration) -> std::io::Result<Output> {
    use std::io::Read;
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out after {} s: {shown}", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    })
}

fn must_run(cmd: &mut Command, what: &str) -> Output {
    let shown = format!("{cmd:?}");
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {what} ({e}): {shown}; scripts/test-all.sh installs it")
    });
    assert!(
        out.status.success(),
        "{what} failed: {shown}\n{}",
        describe(&out)
    );
    out
}

/// Compiles the test-only Windows helpers with mingw-w64.
fn build_helpers(dir: &Path) {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("windows");
    must_run(
        Command::new("x86_64-w64-mingw32-gcc")
            .args(["-municode", "-O2", "-Wall", "-Werror", "-s", "-o"])
            .arg(dir.join("certstore-helper.exe"))
            .arg(sources.join("certstore-helper.c"))
            .args(["-lcrypt32", "-lversion", "-lpsapi", "-lwinhttp"]),
        "x86_64-w64-mingw32-gcc (gcc-mingw-w64-x86-64)",
    );
    must_run(
        Command::new("x86_64-w64-mingw32-gcc")
            .args(["-shared", "-O2", "-Wall", "-Werror", "-s", "-o"])
            .arg(dir.join("bcryptprimitives.dll"))
            .arg(sources.join("bcryptprimitives-shim.c"))
            .arg(sources.join("bcryptprimitives-shim.def"))
            .arg("-ladvapi32"),
        "x86_64-w64-mingw32-gcc (gcc-mingw-w64-x86-64)",
    );
}

/// A fresh, headless Wine prefix in a temporary directory, shut down and removed on drop.
struct Wine {
    tmp: tempfile::TempDir,
    prefix: PathBuf,
    /// Test programs (helper, shim) and scratch files, reachable as `Z:\...`.
    work: PathBuf,
}

impl Wine {
    fn boot() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let prefix = tmp.path().join("prefix");
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let wine = Wine { tmp, prefix, work };
        let started = Instant::now();
        let out = output_within(wine.command("wineboot").arg("-i"), WINE_COMMAND_LIMIT);
        let out = out.unwrap_or_else(|e| {
            panic!("cannot run wineboot ({e}): install wine64 (scripts/test-all.sh does)")
        });
        assert!(out.status.success(), "wineboot: {}", describe(&out));
        // Windows 10's registry values (CurrentMajorVersionNumber, build 18362).
        wine.wine(&["winecfg", "/v", "win10"]);
        eprintln!(
            "wine: prefix {} booted in {:.1} s",
            wine.prefix.display(),
            started.elapsed().as_secs_f64()
        );
        build_helpers(&wine.work);
        wine
    }

    /// A command in this prefix, headless and quiet, never prompting for Mono or Gecko.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env("LANG", "C.UTF-8")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "warn");
        for (k, _) in std::env::vars() {
            if k.starts_with("CERTFLEET_") {
                cmd.env_remove(k);
            }
        }
        cmd
    }

    /// Runs `wine ARGS...`.
    fn wine(&self, args: &[&str]) -> Output {
        output_within(self.command("wine").args(args), WINE_COMMAND_LIMIT)
            .expect("run wine (install wine64)")
    }

    /// `C:\` of the prefix.
    fn drive_c(&self) -> PathBuf {
        self.prefix.join("drive_c")
    }

    /// The Unix path of a `C:\...` path.
    fn c(&self, windows_path: &str) -> PathBuf {
        let rest = windows_path.strip_prefix("C:\\").expect("a C:\\ path");
        rest.split('\\')
            .fold(self.drive_c(), |p, part| p.join(part))
    }

    /// A Unix path as Wine's `Z:` drive sees it.
    fn z(path: &Path) -> String {
        format!("Z:{}", path.display()).replace('/', "\\")
    }

    fn reg_query(&self, key: &str, value: &str) -> String {
        let out = self.wine(&["reg", "query", key, "/v", value]);
        assert!(out.status.success(), "reg query: {}", describe(&out));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find_map(|l| {
                let mut parts = l.split_whitespace();
                (parts.next() == Some(value)).then(|| parts.skip(1).collect::<Vec<_>>().join(" "))
            })
            .unwrap_or_else(|| panic!("{key}\\{value} not in: {text}"))
    }

    /// Imports a .reg file (written as UTF-16, so any characters survive).
    fn import_reg(&self, body: &str) {
        let text = format!("Windows Registry Editor Version 5.00\r\n\r\n{body}");
        let mut bytes = vec![0xFF, 0xFE];
        for unit in text.replace('\n', "\r\n").encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let file = self.work.join("import.reg");
        std::fs::write(&file, bytes).unwrap();
        let out = self.wine(&["regedit", "/S", &Self::z(&file)]);
        assert!(out.status.success(), "regedit: {}", describe(&out));
    }

    /// Runs the crypt32 helper over tab-separated spec lines.
    fn crypt32(&self, lines: &[String]) {
        let spec = self.work.join("spec.txt");
        std::fs::write(&spec, lines.join("\n")).unwrap();
        let helper = Self::z(&self.work.join("certstore-helper.exe"));
        let out = self.wine(&[&helper, "store", &Self::z(&spec)]);
        assert!(
            out.status.success(),
            "certstore-helper store: {}",
            describe(&out)
        );
    }

    /// Starts `command_line` as Task Scheduler does (CreateProcessW, Windows' own parsing).
    fn run_command_line(&self, command_line: &str, workdir: &str) -> Output {
        let file = self.work.join("cmdline.txt");
        std::fs::write(&file, command_line).unwrap();
        let helper = Self::z(&self.work.join("certstore-helper.exe"));
        self.wine(&[&helper, "run", &Self::z(&file), workdir])
    }

    /// Sets the machine's WinHTTP proxy (`direct` resets it), as `netsh winhttp set proxy`.
    fn set_winhttp_proxy(&self, proxy: &str, bypass: &str) {
        let helper = Self::z(&self.work.join("certstore-helper.exe"));
        let out = self.wine(&[&helper, "winhttp-proxy", proxy, bypass]);
        assert!(
            out.status.success(),
            "certstore-helper winhttp-proxy: {}",
            describe(&out)
        );
    }

    /// Installs the agent like the installers do, plus the test-only shim beside it.
    fn install_exe(&self) -> String {
        let dir = self.c("C:\\Program Files\\certfleet");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(windows_agent_exe(), dir.join("certfleet-agent.exe")).unwrap();
        std::fs::copy(
            self.work.join("bcryptprimitives.dll"),
            dir.join("bcryptprimitives.dll"),
        )
        .unwrap();
        "C:\\Program Files\\certfleet\\certfleet-agent.exe".to_owned()
    }

    fn agent(&self, exe: &str, args: &[&str]) -> Output {
        let mut all = vec![exe];
        all.extend_from_slice(args);
        self.wine(&all)
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        // Ends this prefix's wineserver and everything it runs; the directory goes with `tmp`.
        let _ = self.command("wineserver").arg("-k").status();
        let _ = self.command("wineserver").arg("-w").status();
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(out)))
}

/// One test certificate and where the test put it.
struct Placed {
    office: &'static str,
    der: Vec<u8>,
    not_after: DateTime<Utc>,
    key: Option<&'static str>,
    friendly: Option<&'static str>,
}

impl Placed {
    /// The file name Windows gives a Personal-store file: the SHA-1 of the certificate.
    fn sha1(&self) -> String {
        use sha1::Digest;
        sha1::Sha1::digest(&self.der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }
}

fn days(n: i64) -> DateTime<Utc> {
    let t = Utc::now() + chrono::Duration::days(n);
    DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}

/// The flags `deploy/windows/install-agent.ps1` passes to `certfleet-agent.exe install`,
/// read from the script (from `$installArguments = @(` to the call), so the test runs what
/// the script runs.
fn installer_flags() -> Vec<String> {
    let script = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/windows/install-agent.ps1"),
    )
    .expect("install-agent.ps1");
    let start = script
        .find("$installArguments = @(")
        .expect("install-agent.ps1 builds $installArguments");
    let end = start
        + script[start..]
            .find("& $exeTarget install @installArguments")
            .expect("install-agent.ps1 runs certfleet-agent.exe install @installArguments");
    script[start..end]
        .split('\'')
        .filter(|s| s.starts_with("--"))
        .map(str::to_owned)
        .collect()
}

/// Command, arguments and working directory of the task definition `install` registered.
fn task_action(wine: &Wine) -> (String, String) {
    let bytes = std::fs::read(wine.c("C:\\ProgramData\\certfleet\\task.xml")).expect("task.xml");
    assert_eq!(
        &bytes[..2],
        &[0xFF, 0xFE],
        "UTF-16LE with a byte-order mark"
    );
    let units: Vec<u16> = bytes[2..]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let xml = String::from_utf16(&units).unwrap();
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = xml
            .find(&open)
            .unwrap_or_else(|| panic!("no {name} in {xml}"))
            + open.len();
        let end = start + xml[start..].find("</").unwrap();
        xml[start..end]
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    assert!(xml.contains("<UserId>S-1-5-18</UserId>"), "{xml}");
    assert!(xml.contains("<BootTrigger>"), "{xml}");
    let command = element("Command");
    // Task Scheduler quotes the program when it contains spaces.
    let line = if command.contains(' ') {
        format!("\"{command}\" {}", element("Arguments"))
    } else {
        format!("{command} {}", element("Arguments"))
    };
    (line, element("WorkingDirectory"))
}

struct Deployment {
    dir: PathBuf,
    database_url: String,
}

impl Deployment {
    fn init(root: &Path) -> Self {
        let dir = root.join("collector");
        let out = collector_cmd(&["init", "--dir", dir.to_str().unwrap(), "--san", "localhost"]);
        assert!(out.status.success(), "init: {}", describe(&out));
        let database_url = format!(
            "sqlite://{}?mode=rwc",
            root.join("collector.sqlite").display()
        );
        Deployment { dir, database_url }
    }

    fn serve(&self) -> CollectorProcess {
        CollectorProcess::serve(&[
            "--config",
            self.dir.join("collector.toml").to_str().unwrap(),
            "--database-url",
            &self.database_url,
        ])
    }

    fn query(&self, args: &[&str]) -> Value {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--format", "json", "--database-url", &self.database_url]);
        let out = collector_cmd(&all);
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
        serde_json::from_slice(&out.stdout).expect("collector JSON")
    }
}

#[test]
fn agent_scans_reports_and_installs_under_wine() {
    let _one = ONE_PREFIX_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let wine = Wine::boot();
    let exe = wine.install_exe();

    // A fresh prefix has no CurrentUser\My store at all (like SYSTEM's): empty, not an error.
    let out = wine.agent(&exe, &["scan", "--format", "json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let doc = json(&out);
    assert_eq!(doc["errors"], serde_json::json!([]), "{doc:#}");
    assert_eq!(doc["certificates"], serde_json::json!([]));

    // The version resource, read with GetFileVersionInfoW.
    let helper = Wine::z(&wine.work.join("certstore-helper.exe"));
    let out = wine.wine(&[&helper, "version", &exe]);
    assert!(out.status.success(), "{}", describe(&out));
    let version = stdout(&out);
    assert!(
        version.contains(&format!("FileVersion={}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    assert!(version.contains("ProductName=certfleet"), "{version}");
    assert!(
        version.contains("CompanyName=certfleet project"),
        "{version}"
    );

    // --- Certificates, all written by crypt32 -------------------------------------------
    let kanagawa = TestCa::kanagawa();
    let foreign = TestCa::new("EXAMPLE FOREIGN CA");
    let cert = |ca: &TestCa, office: &'static str, expiry: i64, key, friendly| {
        // One reading of the clock, or a second boundary between two would set them apart.
        let not_after = days(expiry);
        Placed {
            office,
            der: ca.office_cert_der(office, not_after - chrono::Duration::days(1000), not_after),
            not_after,
            key,
            friendly,
        }
    };
    let user_a = cert(
        &kanagawa,
        "1410000021",
        40,
        Some("capi"),
        Some("国保連 電子証明書（本部）"),
    );
    let machine_b = cert(&kanagawa, "1410000022", 400, Some("cng"), None);
    let user_c = cert(&kanagawa, "1410000023", 100, None, Some("事業所C"));
    let offline_d = cert(&kanagawa, "1410000024", 20, Some("capi"), Some("山田 太郎"));
    let moved_e = cert(&kanagawa, "1410000025", 200, Some("cng"), None);
    let foreign_f = cert(&foreign, "1410000026", 50, Some("capi"), None);
    let expired_g = cert(&kanagawa, "1410000027", -5, None, None);
    let own_h = cert(
        &kanagawa,
        "1410000028",
        300,
        Some("capi"),
        Some("my own file"),
    );
    let hidden_i = cert(&kanagawa, "1410000029", 30, Some("capi"), None);

    let user_profile = wine.reg_query(
        "HKLM\\Software\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\S-1-5-21-0-0-0-1000",
        "ProfileImagePath",
    );
    let d_drive = wine.tmp.path().join("d-drive");
    std::os::unix::fs::symlink(&d_drive, wine.prefix.join("dosdevices").join("d:")).unwrap();
    // A planted file a user links to from their profile (think: the agent's node key).
    let hidden_dir = wine.c("C:\\ProgramData\\system-only");
    std::fs::create_dir_all(&hidden_dir).unwrap();

    let store_dir = |profile: &str| {
        format!("{profile}\\AppData\\Roaming\\Microsoft\\SystemCertificates\\My\\Certificates")
    };
    let japanese_store = store_dir(&format!("C:\\users\\{JAPANESE_USER}"));
    let moved_store = store_dir("D:\\Profiles\\sato");
    let own_store = store_dir(&user_profile);
    for dir in [&japanese_store, &own_store] {
        std::fs::create_dir_all(wine.c(dir)).unwrap();
    }
    std::fs::create_dir_all(
        d_drive.join("Profiles/sato/AppData/Roaming/Microsoft/SystemCertificates/My/Certificates"),
    )
    .unwrap();
    let mut spec = Vec::new();
    let mut line = |action: &str, target: String, p: &Placed| {
        let der = wine.work.join(format!("{}.der", p.office));
        std::fs::write(&der, &p.der).unwrap();
        spec.push(format!(
            "{action}\t{target}\t{}\t{}\t{}",
            Wine::z(&der),
            p.key.unwrap_or("none"),
            p.friendly.unwrap_or("")
        ));
    };
    line("add", "user".into(), &user_a);
    line("add", "machine".into(), &machine_b);
    line("add", "user".into(), &user_c);
    line("add", "user".into(), &foreign_f);
    line(
        "serialize",
        format!("{japanese_store}\\{}", offline_d.sha1()),
        &offline_d,
    );
    line(
        "serialize",
        format!("{japanese_store}\\{}", expired_g.sha1()),
        &expired_g,
    );
    line(
        "serialize",
        format!("{moved_store}\\{}", moved_e.sha1()),
        &moved_e,
    );
    line(
        "serialize",
        format!("{own_store}\\{}", own_h.sha1()),
        &own_h,
    );
    line(
        "serialize",
        "C:\\ProgramData\\system-only\\cert".into(),
        &hidden_i,
    );
    wine.crypt32(&spec);
    // A damaged file, and a link to the system-only file, in the logged-off user's store.
    let japanese_unix = wine.c(&japanese_store);
    std::fs::write(japanese_unix.join("JUNK"), b"0123456789abcdef0123").unwrap();
    std::os::unix::fs::symlink(hidden_dir.join("cert"), japanese_unix.join("LINK")).unwrap();
    // The logged-off and the moved profile are known only to the registry's ProfileList.
    wine.import_reg(&format!(
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\{JAPANESE_SID}]\n\
         \"ProfileImagePath\"=\"C:\\\\users\\\\{JAPANESE_USER}\"\n\n\
         [HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\{MOVED_SID}]\n\
         \"ProfileImagePath\"=\"D:\\\\Profiles\\\\sato\"\n"
    ));

    // --- scan ----------------------------------------------------------------------------
    let out = wine.agent(&exe, &["scan", "--format", "json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let doc = json(&out);
    let certs = doc["certificates"].as_array().unwrap();
    let by_office = |p: &Placed| {
        certs
            .iter()
            .find(|c| c["office_number"] == p.office)
            .unwrap_or_else(|| panic!("{} not listed: {doc:#}", p.office))
    };
    let mut listed: Vec<&str> = certs
        .iter()
        .map(|c| c["office_number"].as_str().unwrap())
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "1410000021",
            "1410000022",
            "1410000023",
            "1410000024",
            "1410000025",
            "1410000027",
            "1410000028"
        ],
        "every office certificate, no foreign issuer, nothing behind a link: {doc:#}"
    );
    for p in [
        &user_a, &machine_b, &user_c, &offline_d, &moved_e, &expired_g, &own_h,
    ] {
        let c = by_office(p);
        let not_after: DateTime<Utc> = c["not_after"].as_str().unwrap().parse().unwrap();
        assert_eq!(not_after, p.not_after, "{}", p.office);
        assert_eq!(c["has_private_key"], p.key.is_some(), "{}: {c:#}", p.office);
        assert_eq!(
            c["friendly_name"].as_str(),
            p.friendly,
            "{}: {c:#}",
            p.office
        );
    }
    let locations = |p: &Placed| by_office(p)["locations"].as_array().unwrap().clone();
    let find = |locs: &[Value], source: &str| -> Value {
        locs.iter()
            .find(|l| l["source"] == source)
            .unwrap_or_else(|| panic!("no {source} location in {locs:#?}"))
            .clone()
    };
    // CurrentUser\My: Wine keeps it in the registry (Windows in files), seen also by CryptoAPI;
    // both labelled with the same SID and account.
    let a = locations(&user_a);
    let (reg, capi) = (find(&a, "registry"), find(&a, "cryptoapi"));
    assert_eq!(reg["sid"], "S-1-5-21-0-0-0-1000");
    assert_eq!(capi["sid"], reg["sid"]);
    assert_eq!(capi["account"], reg["account"]);
    let account = reg["account"]
        .as_str()
        .expect("the logged-on user's account resolves");
    assert!(account.contains('\\'), "DOMAIN\\name: {account}");
    assert!(reg["path"].as_str().unwrap().starts_with(
        "HKEY_USERS\\S-1-5-21-0-0-0-1000\\Software\\Microsoft\\SystemCertificates\\My\\Certificates\\"
    ));
    // LocalMachine\My.
    let b = find(&locations(&machine_b), "registry");
    assert!(
        b["path"]
            .as_str()
            .unwrap()
            .starts_with("HKLM\\SOFTWARE\\Microsoft\\SystemCertificates\\My")
    );
    assert_eq!(b["sid"], Value::Null);
    // The logged-off Japanese profile: from ProfileList, its SID; the account does not resolve.
    let d = find(&locations(&offline_d), "profile_file");
    assert_eq!(d["user"], JAPANESE_USER);
    assert_eq!(d["sid"], JAPANESE_SID);
    assert_eq!(d["account"], Value::Null);
    assert_eq!(
        d["path"],
        format!(
            "C:\\users\\{JAPANESE_USER}\\AppData\\Roaming\\Microsoft\\SystemCertificates\\My\\Certificates\\{}",
            offline_d.sha1()
        )
    );
    // The profile moved to D:.
    let e = find(&locations(&moved_e), "profile_file");
    assert_eq!(e["sid"], MOVED_SID);
    assert!(
        e["path"]
            .as_str()
            .unwrap()
            .starts_with("D:\\Profiles\\sato\\"),
        "{e:#}"
    );
    // The logged-on user's own Personal-store file: labelled like their registry store.
    let h = find(&locations(&own_h), "profile_file");
    assert_eq!(h["sid"], "S-1-5-21-0-0-0-1000");
    assert_eq!(h["account"], account);
    // Exactly two error items: the damaged file (its bytes not quoted) and the link.
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{doc:#}");
    let junk = errors
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with("\\JUNK"))
        .unwrap();
    let message = junk["message"].as_str().unwrap();
    assert!(
        !message.contains("0123") && !message.contains("0x"),
        "{message}"
    );
    let link = errors
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with("\\LINK"))
        .unwrap();
    assert!(
        link["message"]
            .as_str()
            .unwrap()
            .contains("outside the store directory"),
        "{link:#}"
    );
    assert_eq!(doc["warnings"], serde_json::json!([]));

    // --- install with install-agent.ps1's flags; run the task's exact command line -------
    let flags = installer_flags();
    for expected in [
        "--collector",
        "--ca",
        "--enroll-secret-file",
        "--daily-at",
        "--random-delay-hours",
        "--startup-delay-minutes",
        "--restart-count",
        "--restart-interval-minutes",
        "--task-name",
        "--proxy",
    ] {
        assert!(
            flags.iter().any(|f| f == expected),
            "install-agent.ps1 passes {expected}: {flags:?}"
        );
    }
    let root = wine.tmp.path();
    let deployment = Deployment::init(root);
    let collector = deployment.serve();
    let install_with = |url: &str, proxy: Option<&str>| {
        // The installer's source files, e.g. on a share (the agent deletes only its own copy).
        let mut args: Vec<String> = vec!["install".into()];
        for flag in &flags {
            let value = match flag.as_str() {
                "--collector" => Some(url.to_owned()),
                "--ca" => Some(Wine::z(&deployment.dir.join("ca.pem"))),
                "--enroll-secret-file" => Some(Wine::z(&deployment.dir.join("enroll-secret.txt"))),
                "--daily-at" => Some("10:00".into()),
                "--random-delay-hours" => Some("4".into()),
                // No start-up delay here, or the test would wait up to that long.
                "--startup-delay-minutes" => Some("0".into()),
                "--restart-count" => Some("3".into()),
                "--restart-interval-minutes" => Some("30".into()),
                "--task-name" => Some("certfleet-agent".into()),
                "--data-dir" => Some("C:\\ProgramData\\certfleet".into()),
                "--proxy" => proxy.map(str::to_owned),
                // The default agent.toml is written; Task Scheduler cannot start tasks in Wine.
                "--config" | "--run-now" => None,
                other => panic!("install-agent.ps1 passes {other}; teach this test its value"),
            };
            if let Some(v) = value {
                args.push(flag.clone());
                args.push(v);
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = wine.agent(&exe, &args);
        assert!(out.status.success(), "install: {}", describe(&out));
        stdout(&out)
    };
    let install = |url: &str| install_with(url, None);
    let first = install(&collector.grpc_url());
    assert!(first.contains("registered"), "{first}");
    assert!(
        wine.c("C:\\windows\\system32\\tasks\\certfleet\\certfleet-agent")
            .exists(),
        "registered with Task Scheduler"
    );
    let again = install(&collector.grpc_url());
    assert!(
        again.contains("nothing to change"),
        "second install is a no-op: {again}"
    );
    assert!(
        again.contains("task \\certfleet\\certfleet-agent: unchanged"),
        "{again}"
    );

    let (command_line, workdir) = task_action(&wine);
    assert!(
        command_line.starts_with("\"C:\\Program Files\\certfleet\\certfleet-agent.exe\" report "),
        "{command_line}"
    );
    for part in [
        "--config C:\\ProgramData\\certfleet\\agent.toml",
        "--state-dir C:\\ProgramData\\certfleet\\state",
        "--remove-enroll-secret",
        "--random-delay 0",
    ] {
        assert!(command_line.contains(part), "{part} in {command_line}");
    }
    assert!(!command_line.contains("--machine-id"), "{command_line}");
    assert_eq!(workdir, "C:\\ProgramData\\certfleet");
    let out = wine.run_command_line(&command_line, &workdir);
    assert!(
        out.status.success(),
        "the task's command line: {}",
        describe(&out)
    );
    assert!(
        stdout(&out).contains("7 certificates stored"),
        "{}",
        describe(&out)
    );

    // The terminal: MachineGuid, the Windows host name, the registry's OS version.
    let machine_guid = wine.reg_query("HKLM\\Software\\Microsoft\\Cryptography", "MachineGuid");
    let build = wine.reg_query(
        "HKLM\\Software\\Microsoft\\Windows NT\\CurrentVersion",
        "CurrentBuild",
    );
    let product = wine.reg_query(
        "HKLM\\Software\\Microsoft\\Windows NT\\CurrentVersion",
        "ProductName",
    );
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let hostname = hostname.trim().split('.').next().unwrap().to_lowercase();
    let terminals = deployment.query(&["report", "terminals", "--within", "3650"]);
    let rows = terminals["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{terminals:#}");
    let t = &rows[0];
    assert_eq!(t["terminal"]["machine_id"], machine_guid);
    assert_eq!(
        t["terminal"]["hostname"].as_str().unwrap().to_lowercase(),
        hostname
    );
    assert_eq!(t["os_name"], "windows");
    assert_eq!(
        t["os_version"],
        format!("10.0.{build} ({product})"),
        "{t:#}"
    );
    assert_eq!(t["agent_version"], env!("CARGO_PKG_VERSION"));
    // The stored pairs: office, expiry and key flag as found on the PC.
    let expiring = deployment.query(&["report", "expiring", "--include-ok", "--within", "3650"]);
    let pairs = expiring["rows"].as_array().unwrap();
    assert_eq!(pairs.len(), 7, "{expiring:#}");
    for p in [
        &user_a, &machine_b, &user_c, &offline_d, &moved_e, &expired_g, &own_h,
    ] {
        let row = pairs
            .iter()
            .find(|r| r["office_number"] == p.office)
            .unwrap();
        let not_after: DateTime<Utc> = row["not_after"].as_str().unwrap().parse().unwrap();
        assert_eq!(not_after, p.not_after, "{}", p.office);
        assert_eq!(row["has_private_key"], p.key.is_some(), "{}", p.office);
    }
    // --- an office proxy: the machine's WinHTTP setting -----------------------------------
    let grpc_port = collector.grpc_addr.port();
    let proxy = ProxyProcess::tinyproxy(&[&format!("ConnectPort {grpc_port}")]);
    let proxy_target = format!("localhost:{grpc_port}");
    wine.set_winhttp_proxy(&format!("127.0.0.1:{}", proxy.port), "*.internal.example");
    let out = wine.run_command_line(&command_line, &workdir);
    assert!(
        out.status.success(),
        "through WinHTTP's proxy: {}",
        describe(&out)
    );
    assert!(
        stdout(&out).contains(&format!(
            "through the proxy {} (from the WinHTTP proxy setting (netsh winhttp))",
            proxy.url()
        )),
        "{}",
        describe(&out)
    );
    assert_eq!(proxy.connects(), [proxy_target], "{}", proxy.log());
    // `<local>` in the bypass list covers `localhost` (no dot): straight to the collector.
    wine.set_winhttp_proxy(
        &format!("127.0.0.1:{}", proxy.port),
        "*.internal.example;<local>",
    );
    let out = wine.run_command_line(&command_line, &workdir);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        !stdout(&out).contains("through the proxy"),
        "{}",
        describe(&out)
    );
    assert_eq!(proxy.connects().len(), 1, "bypassed: {}", proxy.log());
    wine.set_winhttp_proxy("direct", "");

    // Enrolled: the enroll secret is gone, the node key is kept; status says so.
    let data = wine.c("C:\\ProgramData\\certfleet");
    assert!(
        !data.join("enroll-secret.txt").exists(),
        "secret deleted after enrollment"
    );
    assert!(data.join("state").join("node-key").exists());
    let out = wine.agent(
        &exe,
        &["status", "--state-dir", "C:\\ProgramData\\certfleet\\state"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let status = stdout(&out);
    assert!(status.contains("enrolled:          yes"), "{status}");
    assert!(
        status.contains("— delivered; 7 certificate(s), 2 scan error(s)"),
        "{status}"
    );
    assert!(status.contains("spooled:           nothing"), "{status}");
    // Installing again on an enrolled PC does not bring the secret back.
    let again = install(&collector.grpc_url());
    assert!(again.contains("not stored, this PC is enrolled"), "{again}");
    assert!(!data.join("enroll-secret.txt").exists());

    // --- spool: collector down, then back (on a new port: the task is updated) ------------
    assert!(collector.terminate(), "collector stops cleanly");
    let out = wine.run_command_line(&command_line, &workdir);
    assert!(
        !out.status.success(),
        "not acknowledged: {}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("spooled"),
        "{}",
        describe(&out)
    );
    assert!(data.join("state").join("pending-report.pb").exists());
    let out = wine.agent(
        &exe,
        &["status", "--state-dir", "C:\\ProgramData\\certfleet\\state"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stdout(&out).contains("NOT delivered, spooled for the next run"),
        "{}",
        describe(&out)
    );
    assert!(
        stdout(&out).contains("spooled:           report "),
        "{}",
        describe(&out)
    );

    let collector = deployment.serve();
    let moved = install(&collector.grpc_url());
    assert!(
        moved.contains("registered"),
        "a changed URL re-registers: {moved}"
    );
    let (command_line, workdir) = task_action(&wine);
    let out = wine.run_command_line(&command_line, &workdir);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout(&out).contains("delivered the spooled snapshot from an earlier run"),
        "{}",
        describe(&out)
    );
    assert!(!data.join("state").join("pending-report.pb").exists());
    let log = std::fs::read_to_string(data.join("state").join("agent.log")).unwrap();
    assert_eq!(log.lines().count(), 5, "one line per run: {log}");

    // --- re-enrollment refused: another installation claiming this MachineGuid ------------
    let out = wine.agent(
        &exe,
        &[
            "report",
            "--collector",
            &collector.grpc_url(),
            "--ca",
            &Wine::z(&deployment.dir.join("ca.pem")),
            "--enroll-secret-file",
            &Wine::z(&deployment.dir.join("enroll-secret.txt")),
            "--state-dir",
            "C:\\other-state",
            "--attempts",
            "1",
        ],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused enrollment"),
        "{}",
        describe(&out)
    );
    let terminals = deployment.query(&["report", "terminals", "--within", "3650"]);
    assert_eq!(terminals["rows"].as_array().unwrap().len(), 1);
    // The real installation still reports.
    let out = wine.run_command_line(&command_line, &workdir);
    assert!(out.status.success(), "{}", describe(&out));

    // --- install --proxy (install-agent.ps1 -Proxy, the MSI's PROXY): on the command line ---
    let proxy = ProxyProcess::tinyproxy(&[&format!("ConnectPort {}", collector.grpc_addr.port())]);
    let with_proxy = install_with(&collector.grpc_url(), Some(&proxy.url()));
    assert!(with_proxy.contains("registered"), "{with_proxy}");
    let (proxied_line, workdir) = task_action(&wine);
    assert!(
        proxied_line.ends_with(&format!(" --proxy {}", proxy.url())),
        "{proxied_line}"
    );
    let out = wine.run_command_line(&proxied_line, &workdir);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout(&out).contains(&format!("through the proxy {} (from --proxy)", proxy.url())),
        "{}",
        describe(&out)
    );
    assert_eq!(
        proxy.connects(),
        [format!("localhost:{}", collector.grpc_addr.port())]
    );

    // --- uninstall: task and folder gone, data (node key) kept ----------------------------
    let out = wine.agent(&exe, &["uninstall"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout(&out).contains("task folder \\certfleet: deleted"),
        "{}",
        describe(&out)
    );
    assert!(!wine.c("C:\\windows\\system32\\tasks\\certfleet").exists());
    assert!(data.join("state").join("node-key").exists());
    drop(collector);
}

/// `msiinfo export MSI TABLE`, rows as tab-separated fields (the three header lines dropped).
fn msi_table(msi: &Path, table: &str) -> Vec<Vec<String>> {
    let out = must_run(
        Command::new("msiinfo").arg("export").arg(msi).arg(table),
        "msiinfo (msitools)",
    );
    stdout(&out)
        .lines()
        .skip(3)
        .map(|l| {
            l.trim_end_matches('\r')
                .split('\t')
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// The ARP entry ("Programs and Features") of the installed certfleet agent: its DisplayVersion.
fn installed_version(wine: &Wine) -> Option<String> {
    let out = wine.wine(&[
        "reg",
        "query",
        "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall",
        "/s",
    ]);
    let text = stdout(&out);
    let block = text
        .split("\nHKEY_")
        .find(|b| b.contains("certfleet agent"))?;
    block.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        (parts.next() == Some("DisplayVersion")).then(|| parts.nth(1).unwrap_or("").to_owned())
    })
}

#[test]
fn msi_installs_upgrades_and_uninstalls_under_wine() {
    let _one = ONE_PREFIX_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let wine = Wine::boot();
    // msiexec runs the custom action from C:\Program Files: the shim goes into system32 (test
    // prefix only; an MSI never carries it).
    std::fs::copy(
        wine.work.join("bcryptprimitives.dll"),
        wine.c("C:\\windows\\system32\\bcryptprimitives.dll"),
    )
    .unwrap();

    // Two versions of the package: this one and the next patch release.
    let version = env!("CARGO_PKG_VERSION");
    let mut numbers: Vec<u32> = version.split('.').map(|n| n.parse().unwrap()).collect();
    numbers[2] += 1;
    let next = format!("{}.{}.{}", numbers[0], numbers[1], numbers[2]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/windows/build-msi.sh");
    let msi = |v: &str, properties: &[&str]| {
        let out = wine.work.join(format!("certfleet-agent-{v}.msi"));
        must_run(
            Command::new("bash")
                .arg(&script)
                .arg(windows_agent_exe())
                .arg(v)
                .arg(&out)
                .args(properties),
            "deploy/windows/build-msi.sh (wixl, msitools)",
        );
        out
    };
    // The next version is a site's own package: a setting baked in (what Group Policy, which
    // passes no command line, deploys), the collector URL left to the remembered one.
    let (v1, v2) = (msi(version, &[]), msi(&next, &["DAILYAT=11:15"]));

    // The tables, as msiinfo reads them.
    let wxs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/windows/certfleet-agent.wxs"),
    )
    .unwrap();
    let upgrade_code = wxs
        .split("UpgradeCode=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_uppercase();
    let actions = msi_table(&v1, "CustomAction");
    let action = |id: &str| {
        actions
            .iter()
            .find(|r| r[0] == id)
            .unwrap_or_else(|| panic!("no custom action {id}: {actions:?}"))
            .clone()
    };
    // 3090 = 18 (run an installed file) + 0x400 (deferred) + 0x800 (no impersonation: SYSTEM).
    let register = action("RegisterTask");
    assert_eq!(register[1], "3090", "{register:?}");
    assert_eq!(register[2], "certfleet_agent.exe");
    assert!(
        register[3].starts_with("install --collector \"[COLLECTORURL]\""),
        "{register:?}"
    );
    assert!(
        register[3].ends_with(" --proxy \"[PROXY]\""),
        "{register:?}"
    );
    assert_eq!(action("UnregisterTask")[3], "uninstall");
    let sequence = msi_table(&v1, "InstallExecuteSequence");
    let at = |name: &str| -> (String, u32) {
        let row = sequence.iter().find(|r| r[0] == name).unwrap();
        (row[1].clone(), row[2].parse().unwrap())
    };
    assert!(at("RegisterTask").1 > at("InstallFiles").1);
    assert_eq!(at("RegisterTask").0, "NOT REMOVE");
    assert!(at("UnregisterTask").1 < at("RemoveFiles").1);
    assert_eq!(
        at("UnregisterTask").0,
        "REMOVE=\"ALL\" AND NOT UPGRADINGPRODUCTCODE"
    );
    assert_eq!(
        at("RemoveExistingProducts").1,
        at("InstallInitialize").1 + 1
    );
    // The remembered URL is used only when none is given, and before the launch condition.
    assert!(at("UseRememberedUrl").1 > at("AppSearch").1);
    assert!(at("UseRememberedUrl").1 < at("LaunchConditions").1);
    assert_eq!(
        at("UseRememberedUrl").0,
        "NOT COLLECTORURL AND REMEMBEREDURL"
    );
    // The proxy is remembered the same way: an upgrade without PROXY keeps the office's proxy.
    assert!(at("UseRememberedProxy").1 > at("AppSearch").1);
    assert!(at("UseRememberedProxy").1 < at("LaunchConditions").1);
    assert_eq!(at("UseRememberedProxy").0, "NOT PROXY AND REMEMBEREDPROXY");
    let upgrade = msi_table(&v1, "Upgrade");
    assert!(
        upgrade
            .iter()
            .all(|r| r[0].to_uppercase() == format!("{{{upgrade_code}}}")),
        "{upgrade:?}"
    );
    let properties = msi_table(&v1, "Property");
    let property = |name: &str| {
        properties
            .iter()
            .find(|r| r[0] == name)
            .map(|r| r[1].clone())
            .unwrap_or_default()
    };
    assert_eq!(property("ProductVersion"), version);
    assert_eq!(property("Manufacturer"), "certfleet project");
    assert!(property("SecureCustomProperties").contains("COLLECTORURL;CAFILE;ENROLLSECRETFILE"));
    assert!(
        property("SecureCustomProperties")
            .split(';')
            .any(|p| p == "PROXY")
    );
    let files = msi_table(&v1, "File");
    assert_eq!(
        files.len(),
        1,
        "the exe and nothing else (no shim): {files:?}"
    );
    assert_eq!(files[0][2], "certfleet-agent.exe");
    assert!(
        msi_table(&v1, "LaunchCondition")
            .iter()
            .any(|r| r[0] == "Installed OR COLLECTORURL")
    );

    let deployment = Deployment::init(wine.tmp.path());
    let collector = deployment.serve();
    let ca = Wine::z(&deployment.dir.join("ca.pem"));
    let secret = Wine::z(&deployment.dir.join("enroll-secret.txt"));
    let msiexec = |args: &[&str]| {
        let mut all = vec!["msiexec"];
        all.extend_from_slice(args);
        all.push("/qn");
        wine.wine(&all)
    };
    let exe_path = wine.c("C:\\Program Files\\certfleet\\certfleet-agent.exe");
    let task_file = wine.c("C:\\windows\\system32\\tasks\\certfleet\\certfleet-agent");
    let data = wine.c("C:\\ProgramData\\certfleet");

    // A failing custom action (no such CA file) rolls the whole installation back.
    let url = format!("COLLECTORURL={}", collector.grpc_url());
    let out = msiexec(&[
        "/i",
        &Wine::z(&v1),
        &url,
        "CAFILE=C:\\nowhere\\ca.pem",
        &format!("ENROLLSECRETFILE={secret}"),
    ]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(!exe_path.exists(), "rolled back");
    assert!(!task_file.exists());
    assert_eq!(installed_version(&wine), None);
    // Without the collector URL the package refuses to start.
    let out = msiexec(&["/i", &Wine::z(&v1)]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(!exe_path.exists());

    // Install with properties: the custom action registers the task as install-agent.ps1 does.
    // The office reaches the collector through its proxy (PROXY).
    let proxy = ProxyProcess::tinyproxy(&[&format!("ConnectPort {}", collector.grpc_addr.port())]);
    let log = Wine::z(&wine.work.join("install.log"));
    let out = msiexec(&[
        "/i",
        &Wine::z(&v1),
        "/l*v",
        &log,
        &url,
        &format!("CAFILE={ca}"),
        &format!("ENROLLSECRETFILE={secret}"),
        &format!("PROXY={}", proxy.url()),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout(&out).contains("task \\certfleet\\certfleet-agent: registered"),
        "{}",
        describe(&out)
    );
    assert!(exe_path.exists() && task_file.exists());
    assert_eq!(installed_version(&wine).as_deref(), Some(version));
    let (command_line, workdir) = task_action(&wine);
    assert!(
        command_line.contains("--random-delay 1800"),
        "the MSI's default: {command_line}"
    );
    assert!(
        command_line.ends_with(&format!(" --proxy {}", proxy.url())),
        "{command_line}"
    );
    // Run it now (without the 30-minute wait) to enroll this PC.
    let command_line = command_line.replace("--random-delay 1800", "--random-delay 0");
    let out = wine.run_command_line(&command_line, &workdir);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        proxy.connects().len(),
        1,
        "through the proxy: {}",
        proxy.log()
    );
    let node_key = std::fs::read(data.join("state").join("node-key")).expect("enrolled");
    assert!(!data.join("enroll-secret.txt").exists());

    // Upgrade in place, without passing the properties again: the URL is remembered, the
    // node key kept, the same terminal goes on reporting. (Wine's msiexec removes the old
    // version without UPGRADINGPRODUCTCODE, so its uninstall action runs and the new version
    // registers the task again; Windows keeps it. Either way the task is there afterwards.)
    let out = msiexec(&["/i", &Wine::z(&v2)]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(installed_version(&wine).as_deref(), Some(next.as_str()));
    assert!(exe_path.exists() && task_file.exists());
    assert_eq!(
        std::fs::read(data.join("state").join("node-key")).unwrap(),
        node_key
    );
    let (upgraded_line, _) = task_action(&wine);
    assert!(
        upgraded_line.contains(&format!("--collector {}", collector.grpc_url())),
        "{upgraded_line}"
    );
    assert!(
        upgraded_line.ends_with(&format!(" --proxy {}", proxy.url())),
        "the remembered proxy: {upgraded_line}"
    );
    let xml = std::fs::read(data.join("task.xml")).unwrap();
    let xml = String::from_utf16_lossy(
        &xml[2..]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect::<Vec<_>>(),
    );
    assert!(
        xml.contains("T11:15:00</StartBoundary>"),
        "the baked DAILYAT: {xml}"
    );
    let out = wine.run_command_line(
        &upgraded_line.replace("--random-delay 1800", "--random-delay 0"),
        &workdir,
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(proxy.connects().len(), 2, "still through the proxy");
    let terminals = deployment.query(&["report", "terminals", "--within", "3650"]);
    assert_eq!(
        terminals["rows"].as_array().unwrap().len(),
        1,
        "one terminal: {terminals:#}"
    );

    // Uninstall: program, task, task folder and remembered URL go; the node key stays.
    let out = msiexec(&["/x", &Wine::z(&v2)]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!exe_path.exists());
    assert!(!wine.c("C:\\windows\\system32\\tasks\\certfleet").exists());
    assert_eq!(installed_version(&wine), None);
    let out = wine.wine(&["reg", "query", "HKLM\\Software\\certfleet\\agent"]);
    assert!(
        !out.status.success(),
        "remembered URL removed: {}",
        describe(&out)
    );
    assert_eq!(
        std::fs::read(data.join("state").join("node-key")).unwrap(),
        node_key
    );
    drop(collector);
}
