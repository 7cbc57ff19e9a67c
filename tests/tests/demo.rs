//! The README's main-job command, `certfleet-collector demo`, runs headless to a checked end
//! state (expected report rows, API and dashboard answering) and exits cleanly on SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use certfleet_e2e::{bin, http_get};

/// Kills the demo if the test fails before stopping it, so no process outlives the test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn demo_reaches_its_end_state_and_stops_on_sigint() {
    let child = Command::new(bin("certfleet-collector"))
        .args(["demo", "--http-listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    let dashboard = loop {
        let line = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(l) => l,
            Err(_) => {
                panic!(
                    "demo did not finish setting up; output so far:\n{}",
                    printed.join("\n")
                );
            }
        };
        printed.push(line.clone());
        if let Some(url) = line.strip_prefix("Dashboard: http://") {
            break url.trim_end_matches('/').to_owned();
        }
    };
    let text = printed.join("\n");
    let demo_dir = printed[0]
        .strip_prefix("certfleet demo in ")
        .expect("first line names the directory")
        .to_owned();
    assert_eq!(
        text.matches("  agent ").count(),
        12,
        "12 terminals:\n{text}"
    );
    for expected in [
        "expired   1410000011",
        "renew now",
        "no private key",
        "stale (last report",
        "honbu-pc01",
    ] {
        assert!(
            text.contains(expected),
            "report lacks {expected:?}:\n{text}"
        );
    }
    assert!(
        !text.contains("9999999999") && !text.contains("8888888888"),
        "foreign issuer ignored:\n{text}"
    );

    let addr = dashboard.parse().unwrap();
    // Credentials are configured (a login, init's API token), so nothing answers without
    // them, loopback or not.
    let (status, _) = http_get(addr, "/api/v1/reports/expiring", None);
    assert_eq!(status, 401, "the API needs the token");
    let token_file = format!("{demo_dir}/collector/api-token.txt");
    let token = std::fs::read_to_string(&token_file).unwrap();
    let (status, body) = http_get(addr, "/api/v1/reports/expiring", Some(token.trim()));
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7, "{json:#}");
    assert_eq!(rows[0]["status"], "expired");
    assert!(rows.iter().any(|r| r["terminal_office_count"] == 3));
    assert!(rows.iter().any(|r| r["stale"] == true));
    assert!(rows.iter().any(|r| r["has_private_key"] == false));
    // Issue 17: every tracking state, and a calendar feed that answers without a login.
    for state in ["stuck", "requested", "on_hold"] {
        assert!(
            rows.iter().any(|r| r["tracking"]["state"] == state),
            "{state}: {json:#}"
        );
    }
    let (status, body) = http_get(
        addr,
        "/api/v1/reports/expiring?include_ok&state=retired",
        Some(token.trim()),
    );
    assert_eq!(status, 200, "{body}");
    let retired: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(retired["rows"].as_array().unwrap().len(), 1, "{retired:#}");
    let calendar = text
        .lines()
        .find_map(|l| l.strip_prefix("Calendar:  http://"))
        .expect("the demo prints a calendar URL");
    let path = &calendar[calendar.find('/').unwrap()..];
    let (status, ics) = http_get(addr, path, None);
    assert_eq!(status, 200, "{ics}");
    assert!(
        ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.contains("BEGIN:VEVENT"),
        "{ics}"
    );
    // The demo's expected-terminal list: one expected PC never reported, one reporting PC is
    // not on the list, an expected office is missing and one is expired.
    let (status, body) = http_get(addr, "/api/v1/reports/coverage", Some(token.trim()));
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let gaps: Vec<(String, String, String)> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["gap"].as_str().unwrap().to_owned(),
                r["hostname"].as_str().unwrap().to_owned(),
                r["office_number"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let gap = |g: &str, h: &str, o: &str| (g.to_owned(), h.to_owned(), o.to_owned());
    assert_eq!(
        gaps,
        [
            gap("never_reported", "uketsuke-pc01", ""),
            gap("office_missing", "honbu-pc02", "1410000019"),
            gap("office_expired", "jimu-pc01", "1410000011"),
            gap("not_expected", "houmon-pc03", ""),
        ],
        "{json:#}"
    );
    let (status, page) = http_get(addr, "/login", None);
    assert_eq!(status, 200, "the login page answers: {page}");
    assert!(page.contains(r#"name="password""#), "{page}");
    let (status, _) = http_get(addr, "/", None);
    assert_eq!(
        status, 303,
        "the dashboard sends a visitor to its login page"
    );

    let _ = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "demo did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "demo exit status {status:?}");
    assert!(
        !std::path::Path::new(&demo_dir).exists(),
        "temporary directory removed"
    );
}
