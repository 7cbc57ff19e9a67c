//! The dashboard in a real headless Chromium (Debian `chromium` + `chromium-driver`, driven over
//! WebDriver with fantoccini) against a real collector off loopback (login required) holding a
//! fleet reported by real agents over TLS, hostile strings included: log in, read the overview
//! counts, filter the expiring table (and see the filter survive a reload), open an office page,
//! download the CSV, switch language, check that nothing hostile executed or was injected, log
//! out. Screenshots land in `target/screenshots/` as test artefacts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use certfleet_e2e::{
    CollectorProcess, TestCa, agent_cmd, collector_cmd, describe, hash_password, step, write_cert,
};
use chrono::{Duration, Utc};
use fantoccini::cookies::Cookie;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PASSWORD: &str = "correct horse battery staple";

const XSS_NAME: &str = "<script>alert('xss-name')</script>";
/// Hostnames are refused at ingest unless they keep to hostname characters (issue 14), so the
/// hostile agent string the browser sees is the machine id, free text up to 128 bytes.
const XSS_MACHINE: &str = "<img src=x onerror=alert('xss-machine')>";
const XSS_SUBJECT_O: &str = "<script>alert('xss-subject')</script>";

/// The office registry: 1410000001 has the hostile name; 1410000005 is held by nobody.
const REGISTRY: &str = "office_number,name,site,owner_email\r\n\
1410000001,<script>alert('xss-name')</script>,本社ビル,owner1@example.jp\r\n\
1410000002,横浜本店,横浜,owner2@example.jp\r\n\
1410000003,川崎支店,川崎,\r\n\
1410000004,藤沢営業所,藤沢,\r\n\
1410000005,相模原倉庫,相模原,\r\n";

/// A child process (and its process group) killed when the test ends, however it ends.
struct ProcessGroup(Child);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // chromedriver starts Chromium in its process group: take them all down.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn require_browser() {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: run `apt-get install chromium chromium-driver` \
             (scripts/test-all.sh installs them); this test is never skipped"
        );
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Starts chromedriver on a free loopback port and waits until it accepts connections.
fn start_chromedriver() -> (ProcessGroup, u16) {
    use std::os::unix::process::CommandExt as _;
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromedriver");
    let guard = ProcessGroup(child);
    let deadline = Instant::now() + StdDuration::from_secs(30);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not become ready"
        );
        std::thread::sleep(StdDuration::from_millis(100));
    }
    (guard, port)
}

async fn start_browser(port: u16, profile: &Path, downloads: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-proxy-server",
                "--window-size=1366,1000",
                "--lang=ja",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.to_str().unwrap(),
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
                "intl.accept_languages": "ja,en",
            },
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver")
}

fn screenshots_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is target/tmp: the artefacts go next to it.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = screenshots_dir().join(format!("dashboard-{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

fn by_testid(id: &str) -> String {
    format!(r#"[data-testid="{id}"]"#)
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("element text")
}

async fn count(c: &Client, id: &str) -> u32 {
    let t = text_of(c, &by_testid(id)).await;
    t.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{id} = {t:?}: {e}"))
}

/// Where the browser is and what it shows, for failure messages.
async fn dump(c: &Client) -> String {
    format!(
        "at {}:\n{}",
        path_and_query(c).await,
        c.source().await.unwrap_or_default()
    )
}

async fn body_text(c: &Client) -> String {
    text_of(c, "body").await
}

async fn path_and_query(c: &Client) -> String {
    let u = c.current_url().await.expect("current URL");
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    }
}

/// Waits until the current URL satisfies `ok` (navigation started by a click or by script).
async fn wait_for_url(c: &Client, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + StdDuration::from_secs(20);
    loop {
        let now = path_and_query(c).await;
        if ok(&now) {
            // The new document must be there, not only its URL.
            let state = c
                .execute("return document.readyState", vec![])
                .await
                .expect("readyState");
            if state == "complete" {
                return now;
            }
        }
        assert!(Instant::now() < deadline, "waited for {what}; at {now}");
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

/// The cells of every `data-testid="expiring-row"` (or `office-row`) row, as rendered text.
async fn table_rows(c: &Client, row_id: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for row in c
        .find_all(Locator::Css(&by_testid(row_id)))
        .await
        .expect("rows")
    {
        let mut cells = Vec::new();
        for td in row.find_all(Locator::Css("td")).await.expect("cells") {
            cells.push(td.text().await.expect("cell text").trim().to_owned());
        }
        out.push(cells);
    }
    out
}

/// `(office number, terminal hostname)` of each row.
fn keys(rows: &[Vec<String>]) -> Vec<(String, String)> {
    rows.iter().map(|r| (r[0].clone(), r[2].clone())).collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(o, t)| ((*o).to_owned(), (*t).to_owned()))
        .collect()
}

/// Hostile strings rendered as text and nothing executed or injected: no dialog open, no
/// `<img src=x>`, and the only script is the dashboard's own asset.
async fn assert_nothing_executed(c: &Client, page: &str) {
    match c.get_alert_text().await {
        Err(e) if e.is_no_such_alert() => {}
        Err(e) => panic!("{page}: unexpected error asking for a dialog: {e}"),
        Ok(text) => panic!("{page}: a JavaScript dialog is open: {text:?}"),
    }
    let injected = c
        .find_all(Locator::Css(r#"img[src="x"], img[onerror]"#))
        .await
        .expect("query img");
    assert!(
        injected.is_empty(),
        "{page}: injected <img> elements: {}",
        injected.len()
    );
    let scripts = c
        .execute(
            "return Array.from(document.querySelectorAll('script')).map(s => s.getAttribute('src'))",
            vec![],
        )
        .await
        .expect("list scripts");
    let scripts = scripts.as_array().expect("array of scripts");
    assert_eq!(scripts.len(), 1, "{page}: scripts {scripts:?}");
    assert!(
        scripts[0]
            .as_str()
            .is_some_and(|s| s.starts_with("/assets/app.js")),
        "{page}: only the dashboard's own script: {scripts:?}"
    );
    // The serialized DOM holds the hostile strings only escaped.
    let html = c.source().await.expect("page source");
    assert!(
        !html.contains(XSS_NAME) && !html.contains(XSS_MACHINE),
        "{page}: hostile markup appears unescaped in the DOM"
    );
}

/// Minimal RFC 4180 reader for the dashboard's CSV (every field quoted, CRLF).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let mut fields = Vec::new();
        let mut chars = line.chars().peekable();
        while chars.peek().is_some() {
            assert_eq!(chars.next(), Some('"'), "every field quoted: {line}");
            let mut f = String::new();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        f.push('"');
                    }
                    Some('"') => break,
                    Some(ch) => f.push(ch),
                    None => panic!("unterminated field in {line}"),
                }
            }
            fields.push(f);
            match chars.next() {
                Some(',') | None => {}
                Some(other) => panic!("{other:?} after a field in {line}"),
            }
        }
        rows.push(fields);
    }
    rows
}

/// Waits for the one finished download in `dir`.
fn wait_for_download(dir: &Path) -> PathBuf {
    let deadline = Instant::now() + StdDuration::from_secs(30);
    loop {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("download dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        // Chromium first writes a hidden `.org.chromium.Chromium.XXXXXX` (or `*.crdownload`)
        // and renames it when the download is complete.
        let partial = files.iter().any(|p| {
            p.extension()
                .is_some_and(|e| e == "crdownload" || e == "tmp")
                || p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        });
        if files.len() == 1 && !partial {
            return files[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no finished download in {}: {files:?}",
            dir.display()
        );
        std::thread::sleep(StdDuration::from_millis(100));
    }
}

/// `init`, a dashboard user in `[dashboard]`, the database created, the office registry imported.
fn deployment(root: &Path) -> PathBuf {
    let dir = root.join("collector");
    let out = collector_cmd(&["init", "--dir", dir.to_str().unwrap(), "--san", "localhost"]);
    assert!(out.status.success(), "init: {}", describe(&out));
    let config = dir.join("collector.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let user = format!(
        "[dashboard]\nusers = [{{ username = \"admin\", password_hash = \"{}\" }}]\n",
        hash_password(PASSWORD)
    );
    assert_eq!(
        text.matches("[dashboard]\n").count(),
        1,
        "one [dashboard] table"
    );
    std::fs::write(&config, text.replace("[dashboard]\n", &user)).unwrap();

    // Only `serve` and `migrate` create the database; the import then fills it.
    let out = collector_cmd(&["migrate", "--config", config.to_str().unwrap()]);
    assert!(out.status.success(), "migrate: {}", describe(&out));
    let registry = root.join("offices.csv");
    std::fs::write(&registry, REGISTRY).unwrap();
    let out = collector_cmd(&[
        "offices",
        "import",
        registry.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "offices import: {}", describe(&out));
    config
}

/// Four terminals reported by real agents over TLS:
///
/// | terminal | office | expires | status |
/// |---|---|---|---|
/// | pc-honbu | 1410000001 | +5 d | expiring, renew now |
/// | pc-honbu | 1410000002 | +200 d | ok |
/// | pc-xss (machine id `<img …>`) | 1234567890 (`O=<script>…`) | −10 d | expired |
/// | pc-shiten | 1410000001 | +40 d (renewed; +20 d superseded) | expiring |
/// | pc-shiten | 1410000003 | +1000 d | ok |
/// | pc-eigyo | 1410000004 | −30 d | expired |
fn report_fleet(root: &Path, collector: &CollectorProcess, config_dir: &Path) {
    let ca = TestCa::kanagawa();
    let now = Utc::now();
    let fx = root.join("fixtures");
    let cert = |host: &str, file: &str, office: &str, days: i64| {
        write_cert(
            &fx.join(host),
            file,
            &ca.office_cert(
                office,
                now - Duration::days(1000),
                now + Duration::days(days),
            ),
        );
    };
    cert("honbu", "a.pem", "1410000001", 5);
    cert("honbu", "b.pem", "1410000002", 200);
    cert("shiten", "old.pem", "1410000001", 20);
    cert("shiten", "new.pem", "1410000001", 40);
    cert("shiten", "c.pem", "1410000003", 1000);
    cert("eigyo", "d.pem", "1410000004", -30);
    write_cert(
        &fx.join("xss"),
        "x.pem",
        &ca.office_cert_with_org(
            "1234567890",
            XSS_SUBJECT_O,
            now - Duration::days(1000),
            now - Duration::days(10),
        ),
    );
    let url = collector.grpc_url();
    let ca_file = config_dir.join("ca.pem");
    let secret = config_dir.join("enroll-secret.txt");
    for (dir, machine, host) in [
        ("honbu", "m-honbu", "pc-honbu"),
        ("xss", XSS_MACHINE, "pc-xss"),
        ("shiten", "m-shiten", "pc-shiten"),
        ("eigyo", "m-eigyo", "pc-eigyo"),
    ] {
        let out = agent_cmd(&[
            "report",
            "--collector",
            &url,
            "--ca",
            ca_file.to_str().unwrap(),
            "--enroll-secret-file",
            secret.to_str().unwrap(),
            "--state-dir",
            root.join("state").join(dir).to_str().unwrap(),
            "--machine-id",
            machine,
            "--hostname",
            host,
            "--path",
            fx.join(dir).to_str().unwrap(),
            "--attempts",
            "1",
        ]);
        assert!(out.status.success(), "agent {machine}: {}", describe(&out));
    }
}

/// The browser session the steps share, logged in after the first step.
struct Browser {
    c: Client,
    /// `http://127.0.0.1:PORT` of the collector's HTTP listener.
    base: String,
    downloads: PathBuf,
}

impl Browser {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() {
    require_browser();
    let root = tempfile::tempdir().unwrap();
    let config = deployment(root.path());
    let collector =
        CollectorProcess::serve_http_on("0.0.0.0:0", &["--config", config.to_str().unwrap()]);
    report_fleet(root.path(), &collector, config.parent().unwrap());
    // Bound to every interface (so a login is required), reached over loopback only.
    let base = format!("http://127.0.0.1:{}", collector.http_addr.port());

    let (_driver, port) = start_chromedriver();
    let profile = root.path().join("chromium-profile");
    let downloads = root.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let c = start_browser(port, &profile, &downloads).await;
    let b = Browser { c, base, downloads };

    step(
        "off loopback a login is required; a wrong password is refused",
        login_is_required_off_loopback(&b),
    )
    .await;
    step(
        "the overview's counts and chart",
        overview_shows_what_the_fleet_implies(&b),
    )
    .await;
    let rows = step(
        "the expiring table, default filter",
        expiring_table_lists_the_urgent_pairs(&b),
    )
    .await;
    step(
        "the CSV download equals the table",
        csv_download_matches_the_table(&b, &rows),
    )
    .await;
    step(
        "filters by office and status survive a reload",
        filters_live_in_the_query_string(&b),
    )
    .await;
    step(
        "the office page: terminals and the superseded certificate",
        office_page_shows_terminals_and_superseded(&b),
    )
    .await;
    step(
        "the hostile terminal's page shows its strings as text",
        hostile_terminal_page_shows_text(&b),
    )
    .await;
    step(
        "the language switch is remembered",
        language_switch_is_remembered(&b),
    )
    .await;
    step(
        "tracking: mark requested, alert suppressed, a new certificate shows it renewed",
        tracking_request_then_renewal(&b, root.path(), &collector, &config),
    )
    .await;
    let ended = step("logging out ends the session", logout_ends_the_session(&b)).await;

    // The logout is in the database: a restarted collector (same config and session key)
    // still refuses the old cookie, which a browser or a thief might have kept.
    assert!(collector.terminate(), "collector exits cleanly");
    let collector =
        CollectorProcess::serve_http_on("0.0.0.0:0", &["--config", config.to_str().unwrap()]);
    let b = Browser {
        base: format!("http://127.0.0.1:{}", collector.http_addr.port()),
        ..b
    };
    step(
        "a logged-out cookie stays refused after a restart",
        logged_out_cookie_stays_refused(&b, ended),
    )
    .await;

    b.c.close().await.expect("close the browser session");
    assert!(collector.terminate(), "collector exits cleanly");
}

/// Runs pc-shiten's agent again over what its fixture directory holds now.
fn report_shiten(root: &Path, collector: &CollectorProcess, config_dir: &Path) {
    let out = agent_cmd(&[
        "report",
        "--collector",
        &collector.grpc_url(),
        "--ca",
        config_dir.join("ca.pem").to_str().unwrap(),
        "--enroll-secret-file",
        config_dir.join("enroll-secret.txt").to_str().unwrap(),
        "--state-dir",
        root.join("state").join("shiten").to_str().unwrap(),
        "--machine-id",
        "m-shiten",
        "--hostname",
        "pc-shiten",
        "--path",
        root.join("fixtures").join("shiten").to_str().unwrap(),
        "--attempts",
        "1",
    ]);
    assert!(out.status.success(), "agent m-shiten: {}", describe(&out));
}

/// The pair keys `alerts run --dry-run` would decide now.
fn dry_run_alert_keys(config: &Path) -> String {
    let out = collector_cmd(&[
        "alerts",
        "run",
        "--dry-run",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "alerts run: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Issue 17's walk: on pc-shiten's page the operator marks office 1410000001 requested (a
/// form with the CSRF token; a form without it is refused); while requested its 30-day alert
/// is not decided; a snapshot with the newer certificate closes the entry as renewed.
async fn tracking_request_then_renewal(
    b: &Browser,
    root: &Path,
    collector: &CollectorProcess,
    config: &Path,
) {
    let c = &b.c;
    c.goto(&b.url("/expiring?office=1410000001")).await.unwrap();
    c.find(Locator::Css(
        r#"[data-testid="expiring-row"] a[href^="/terminals/"]"#,
    ))
    .await
    .unwrap();
    let links = c
        .find_all(Locator::Css(
            r#"[data-testid="expiring-row"] a[href^="/terminals/"]"#,
        ))
        .await
        .unwrap();
    let mut shiten = None;
    for l in links {
        if l.text().await.unwrap() == "pc-shiten" {
            shiten = Some(l.attr("href").await.unwrap().unwrap());
        }
    }
    let path = shiten.unwrap_or_else(|| panic!("pc-shiten in the expiring table"));
    let id = path.trim_start_matches("/terminals/").to_owned();
    let alert_key = format!("pair:{id}:");
    assert!(
        dry_run_alert_keys(config).contains(&alert_key),
        "before the request pc-shiten's 30-day alert is due"
    );

    c.goto(&b.url(&path)).await.unwrap();
    wait_for_url(c, "pc-shiten's page", |u| u == path).await;
    let row_css = r#"[data-testid="terminal-office"]:has(a[href="/offices/1410000001"])"#;
    let row = c.find(Locator::Css(row_css)).await.unwrap();
    row.find(Locator::Css(r#"input[name="note"]"#))
        .await
        .unwrap()
        .send_keys("certsrv 12/1")
        .await
        .unwrap();
    row.find(Locator::Css(&by_testid("tracking-submit")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(c, "back on pc-shiten's page", |u| u == path).await;
    let state_css = format!("{row_css} {}", by_testid("tracking-state"));
    let state = c.find(Locator::Css(&state_css)).await.unwrap();
    assert_eq!(
        state.attr("data-state").await.unwrap().as_deref(),
        Some("requested"),
        "{}",
        dump(c).await
    );
    assert!(body_text(c).await.contains("certsrv 12/1"));
    screenshot(c, "tracking-requested").await;

    // The same form without its CSRF token is refused, even with the session cookie.
    let status = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               const body = new URLSearchParams({office: "1410000001", action: "retire"});
               fetch(arguments[0], {method: "POST", body}).then(r => done(r.status));"#,
            vec![json!(format!("{path}/tracking"))],
        )
        .await
        .unwrap();
    assert_eq!(status, json!(403), "a POST without the CSRF token");

    assert!(
        !dry_run_alert_keys(config).contains(&alert_key),
        "while requested, the 30-day alert is suppressed"
    );

    // The renewed certificate arrives in the next snapshot.
    let ca = TestCa::kanagawa();
    let now = Utc::now();
    write_cert(
        &root.join("fixtures").join("shiten"),
        "renewed.pem",
        &ca.office_cert(
            "1410000001",
            now - Duration::days(1),
            now + Duration::days(1095),
        ),
    );
    report_shiten(root, collector, config.parent().unwrap());
    c.refresh().await.unwrap();
    let state = c.find(Locator::Css(&state_css)).await.unwrap();
    assert_eq!(
        state.attr("data-state").await.unwrap().as_deref(),
        Some("renewed"),
        "{}",
        dump(c).await
    );
    screenshot(c, "tracking-renewed").await;
    assert_nothing_executed(c, "terminal page after tracking").await;
}

/// Puts the cookie of a logged-out session back into the browser: the overview still asks
/// for a login.
async fn logged_out_cookie_stays_refused(b: &Browser, ended: Cookie<'static>) {
    let c = &b.c;
    c.goto(&b.url("/login")).await.unwrap();
    c.add_cookie(ended).await.expect("put the old cookie back");
    c.goto(&b.url("/")).await.unwrap();
    let at = wait_for_url(c, "the login page", |u| u.starts_with("/login")).await;
    assert_eq!(at, "/login?next=%2F", "{}", dump(c).await);
}

/// Off loopback: the overview sends a browser without a session to the login page.
async fn login_is_required_off_loopback(b: &Browser) {
    let c = &b.c;
    c.goto(&b.url("/")).await.unwrap();
    let at = wait_for_url(c, "the login page", |u| u.starts_with("/login")).await;
    assert_eq!(at, "/login?next=%2F");
    assert!(
        body_text(c).await.contains("ログイン"),
        "Japanese by default"
    );
    // A wrong password is refused.
    let login = |user: &'static str, password: &'static str| {
        let c = c.clone();
        async move {
            for (name, value) in [("username", user), ("password", password)] {
                let input = c
                    .find(Locator::Css(&format!(r#"form.login input[name="{name}"]"#)))
                    .await
                    .unwrap();
                input.clear().await.unwrap();
                input.send_keys(value).await.unwrap();
            }
            c.find(Locator::Css(&by_testid("login-submit")))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        }
    };
    login("admin", "not the password").await;
    if let Err(e) = c
        .wait()
        .at_most(StdDuration::from_secs(20))
        .for_element(Locator::Css(&by_testid("login-error")))
        .await
    {
        panic!("no login error shown ({e}):\n{}", dump(c).await);
    }
    login("admin", PASSWORD).await;
    wait_for_url(c, "the overview", |u| u == "/").await;
}

/// Overview: what the fleet implies.
async fn overview_shows_what_the_fleet_implies(b: &Browser) {
    let c = &b.c;
    for (id, expected) in [
        ("count-expired", 2),
        ("count-renew-now", 1),
        ("count-expiring", 2),
        ("count-ok", 2),
        ("count-stale", 0),
        ("count-uncovered", 2),
        ("count-terminals", 4),
        ("count-offices", 6),
    ] {
        assert_eq!(count(c, id).await, expected, "{id}");
    }
    assert!(
        c.find(Locator::Css(&by_testid("timeline-chart")))
            .await
            .is_ok(),
        "timeline chart drawn"
    );
    screenshot(c, "overview").await;
    assert_nothing_executed(c, "overview").await;
}

/// Expiring table, default filter (expired + expiring), by expiry.
async fn expiring_table_lists_the_urgent_pairs(b: &Browser) -> Vec<Vec<String>> {
    let c = &b.c;
    c.goto(&b.url("/expiring")).await.unwrap();
    let rows = table_rows(c, "expiring-row").await;
    assert_eq!(
        keys(&rows),
        pairs(&[
            ("1410000004", "pc-eigyo"),
            ("1234567890", "pc-xss"),
            ("1410000001", "pc-honbu"),
            ("1410000001", "pc-shiten"),
        ]),
        "{rows:#?}"
    );
    assert_eq!(rows[2][1], XSS_NAME, "hostile office name shown as text");
    assert_eq!(rows[2][8], "×2", "pc-honbu holds two offices");
    let page = body_text(c).await;
    assert!(page.contains(XSS_NAME), "{page}");
    screenshot(c, "expiring").await;
    assert_nothing_executed(c, "expiring").await;
    rows
}

/// CSV of exactly what is shown.
async fn csv_download_matches_the_table(b: &Browser, rows: &[Vec<String>]) {
    let c = &b.c;
    c.find(Locator::Css(&by_testid("csv-link")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let csv_path = wait_for_download(&b.downloads);
    let name = csv_path.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with("certfleet-expiring-") && name.ends_with(".csv"),
        "{name}"
    );
    let bytes = std::fs::read(&csv_path).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM");
    let text = std::str::from_utf8(&bytes[3..]).expect("UTF-8");
    assert!(text.ends_with("\r\n"), "CRLF at the end");
    assert_eq!(
        text.matches('\n').count(),
        text.matches("\r\n").count(),
        "every line ends in CRLF"
    );
    let csv = parse_csv(text);
    assert_eq!(
        csv[0],
        [
            "事業所番号",
            "事業所名",
            "端末",
            "状態",
            "有効期限",
            "残り日数",
            "更新申請期限",
            "請求できなくなる月",
            "事業所数",
            "未報告",
        ]
        .map(str::to_owned)
        .to_vec(),
        "Japanese header"
    );
    assert_eq!(csv.len(), rows.len() + 1, "{csv:#?}");
    for (line, row) in csv[1..].iter().zip(rows) {
        assert_eq!(line[..8], row[..8], "CSV row = table row");
        let multi = if line[8] == "1" {
            String::new()
        } else {
            format!("×{}", line[8])
        };
        assert_eq!(multi, row[8], "office count");
    }
}

/// Filter by office (typed, submitted), then by status (a select: app.js submits it).
async fn filters_live_in_the_query_string(b: &Browser) {
    let c = &b.c;
    let office = c
        .find(Locator::Css(r#"input[name="office"]"#))
        .await
        .unwrap();
    office.clear().await.unwrap();
    office.send_keys("1410000001").await.unwrap();
    c.find(Locator::Css(r#"form.filters button[type="submit"]"#))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(c, "the office filter", |u| u.contains("office=1410000001")).await;
    let rows = table_rows(c, "expiring-row").await;
    assert_eq!(
        keys(&rows),
        pairs(&[("1410000001", "pc-honbu"), ("1410000001", "pc-shiten")])
    );
    c.find(Locator::Css(r#"select[name="status"]"#))
        .await
        .unwrap()
        .select_by_value("renew_now")
        .await
        .unwrap();
    let filtered = wait_for_url(c, "the status filter", |u| {
        u.contains("status=renew_now") && u.contains("office=1410000001")
    })
    .await;
    let rows = table_rows(c, "expiring-row").await;
    assert_eq!(keys(&rows), pairs(&[("1410000001", "pc-honbu")]));
    // The filter lives in the query string: a reload keeps it.
    c.refresh().await.unwrap();
    assert_eq!(path_and_query(c).await, filtered);
    assert_eq!(table_rows(c, "expiring-row").await, rows);
    let field = |css: &'static str| {
        let c = c.clone();
        async move {
            c.find(Locator::Css(css))
                .await
                .unwrap()
                .prop("value")
                .await
                .unwrap()
        }
    };
    assert_eq!(
        field(r#"input[name="office"]"#).await.as_deref(),
        Some("1410000001")
    );
    assert_eq!(
        field(r#"select[name="status"]"#).await.as_deref(),
        Some("renew_now")
    );
}

/// The office page through its link: both terminals, and the superseded certificate.
async fn office_page_shows_terminals_and_superseded(b: &Browser) {
    let c = &b.c;
    c.find(Locator::Css(
        r#"[data-testid="expiring-row"] a[href="/offices/1410000001"]"#,
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_for_url(c, "the office page", |u| u == "/offices/1410000001").await;
    assert_eq!(
        text_of(c, &by_testid("office-name")).await,
        XSS_NAME,
        "hostile name as text"
    );
    let rows = table_rows(c, "office-row").await;
    assert_eq!(
        keys(&rows),
        pairs(&[("1410000001", "pc-honbu"), ("1410000001", "pc-shiten")])
    );
    let superseded = c
        .find_all(Locator::Css(&format!(
            r#"{} {}"#,
            by_testid("office-row"),
            by_testid("superseded")
        )))
        .await
        .unwrap();
    assert_eq!(superseded.len(), 1, "pc-shiten's renewed certificate");
    assert!(
        rows[0][11].is_empty() && !rows[1][11].is_empty(),
        "{rows:?}"
    );
    screenshot(c, "office").await;
    assert_nothing_executed(c, "office page").await;
}

/// The hostile terminal's page: machine id and subject as text.
async fn hostile_terminal_page_shows_text(b: &Browser) {
    let c = &b.c;
    c.goto(&b.url("/expiring?status=expired")).await.unwrap();
    c.find(Locator::XPath(
        r#"//tr[@data-testid="expiring-row"][@data-office="1234567890"]//a[starts-with(@href, "/terminals/")]"#,
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_for_url(c, "the terminal page", |u| u.starts_with("/terminals/")).await;
    assert_eq!(text_of(c, &by_testid("terminal-hostname")).await, "pc-xss");
    let page = body_text(c).await;
    assert!(
        page.contains(XSS_MACHINE),
        "hostile machine id shown as text:\n{page}"
    );
    assert!(
        page.contains(&format!("O={XSS_SUBJECT_O}")) || page.contains(XSS_SUBJECT_O),
        "hostile subject shown as text:\n{page}"
    );
    assert!(page.contains("1234567890"));
    screenshot(c, "terminal").await;
    assert_nothing_executed(c, "terminal page").await;
}

/// Language: English by the switch, remembered, then back to Japanese.
async fn language_switch_is_remembered(b: &Browser) {
    let c = &b.c;
    c.goto(&b.url("/expiring")).await.unwrap();
    c.find(Locator::Css(&by_testid("lang-en")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(c, "the English page", |u| u.contains("lang=en")).await;
    let page = body_text(c).await;
    for label in ["Office number", "Expiring", "Download CSV", "Log out"] {
        assert!(page.contains(label), "English {label:?}:\n{page}");
    }
    assert!(!page.contains("事業所番号"), "no Japanese labels left");
    assert_eq!(
        c.find(Locator::Css("html"))
            .await
            .unwrap()
            .attr("lang")
            .await
            .unwrap()
            .as_deref(),
        Some("en")
    );
    screenshot(c, "english").await;
    c.goto(&b.url("/")).await.unwrap();
    assert!(
        body_text(c).await.contains("Expired"),
        "the choice is remembered (cookie)"
    );
    c.find(Locator::Css(&by_testid("lang-ja")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(c, "the Japanese page", |u| u.contains("lang=ja")).await;
    c.goto(&b.url("/expiring")).await.unwrap();
    let page = body_text(c).await;
    assert!(
        page.contains("事業所番号") && page.contains("有効期限"),
        "{page}"
    );
}

/// Log out: the session is gone, the overview asks for a login again. Returns the session
/// cookie as it was.
async fn logout_ends_the_session(b: &Browser) -> Cookie<'static> {
    let c = &b.c;
    let session = c
        .get_named_cookie("cf_session")
        .await
        .expect("a session cookie while logged in");
    c.find(Locator::Css(&by_testid("logout")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(c, "the login page after logout", |u| {
        u.starts_with("/login")
    })
    .await;
    c.goto(&b.url("/")).await.unwrap();
    let at = wait_for_url(c, "the login page", |u| u.starts_with("/login")).await;
    assert_eq!(at, "/login?next=%2F");
    assert!(
        c.find(Locator::Css(&by_testid("count-expired")))
            .await
            .is_err(),
        "no counts without a session"
    );
    session
}
