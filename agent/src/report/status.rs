//! The trace each `report` run leaves on the PC, because a Scheduled Task's output is lost:
//! `status.json` (the last run and the last acknowledged report) and `agent.log` (one line per
//! run, rotated to `agent.log.1` at [`MAX_LOG_BYTES`]), both in the state directory.
//! `certfleet-agent status` prints them with anything still spooled.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Local, Utc};
use serde::{Deserialize, Serialize};

use super::state::{StateDir, StateError};

const STATUS: &str = "status.json";
const LOG: &str = "agent.log";
const OLD_LOG: &str = "agent.log.1";
/// Size at which `agent.log` is rotated: a daily line for several years.
pub const MAX_LOG_BYTES: u64 = 256 * 1024;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The collector acknowledged the snapshot.
    Delivered,
    /// Not delivered; the snapshot is spooled for the next run.
    Spooled,
    /// Not delivered and nothing could be spooled (for example no state directory).
    Failed,
}

/// One `report` run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
    /// Certificates in the snapshot (office certificates unless `--all-issuers`).
    pub certificates: usize,
    /// Items the scan could not read.
    pub scan_errors: usize,
    /// Why the snapshot was not delivered.
    pub error: Option<String>,
    /// The proxy the report went through, `http://HOST:PORT (from SOURCE)` (never credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_proxy: Option<String>,
}

/// The last report the collector acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckRecord {
    pub at: DateTime<Utc>,
    pub report_id: String,
    pub terminal_id: String,
    pub accepted_certificates: u32,
    pub rejected_certificates: usize,
}

/// The contents of `status.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub last_run: Option<RunRecord>,
    pub last_acknowledged: Option<AckRecord>,
}

impl StateDir {
    /// The recorded status; empty when no run has been recorded yet.
    pub fn status(&self) -> Result<Status, StateError> {
        let path = self.path(STATUS);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StateError::Io {
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Status::default()),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    /// Records a run: `status.json` is rewritten (the acknowledgement kept unless this run has
    /// a newer one) and a line is appended to `agent.log`.
    pub fn record_run(&self, run: RunRecord, ack: Option<AckRecord>) -> Result<(), StateError> {
        let mut status = self.status().unwrap_or_default();
        let line = log_line(&run, ack.as_ref());
        status.last_run = Some(run);
        if ack.is_some() {
            status.last_acknowledged = ack;
        }
        let json = serde_json::to_vec_pretty(&status).map_err(|e| StateError::Io {
            path: self.path(STATUS),
            source: std::io::Error::other(e),
        })?;
        self.write_private(STATUS, &json)?;
        self.append_log(&line)
    }

    /// Appends one line to `agent.log`, rotating it first when it is full.
    fn append_log(&self, line: &str) -> Result<(), StateError> {
        let path = self.path(LOG);
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        if fs::metadata(&path).is_ok_and(|m| m.len() >= MAX_LOG_BYTES) {
            fs::rename(&path, self.path(OLD_LOG)).map_err(io)?;
        }
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(io)?;
        writeln!(file, "{line}").map_err(io)
    }

    /// The log's last `lines` lines, oldest first (both files, so a rotation loses nothing).
    pub fn log_tail(&self, lines: usize) -> Vec<String> {
        let mut all: Vec<String> = [OLD_LOG, LOG]
            .iter()
            .filter_map(|name| fs::read_to_string(self.path(name)).ok())
            .flat_map(|text| text.lines().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        let skip = all.len().saturating_sub(lines);
        all.drain(..skip);
        all
    }

    /// Where the log is, for messages.
    pub fn log_path(&self) -> PathBuf {
        self.path(LOG)
    }
}

/// `2026-11-30T08:31:02+09:00 delivered: 3 certificate(s), 0 scan error(s); report … acknowledged (terminal …)`.
fn log_line(run: &RunRecord, ack: Option<&AckRecord>) -> String {
    let at = run
        .at
        .with_timezone(&Local)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let outcome = match run.outcome {
        Outcome::Delivered => "delivered",
        Outcome::Spooled => "NOT delivered (spooled for the next run)",
        Outcome::Failed => "FAILED",
    };
    let mut line = format!(
        "{at} {outcome}: {} certificate(s), {} scan error(s)",
        run.certificates, run.scan_errors
    );
    if let Some(ack) = ack {
        line.push_str(&format!(
            "; report {} acknowledged (terminal {}, {} stored, {} rejected)",
            ack.report_id, ack.terminal_id, ack.accepted_certificates, ack.rejected_certificates
        ));
    }
    if let Some(proxy) = &run.via_proxy {
        line.push_str("; through the proxy ");
        line.push_str(proxy);
    }
    if let Some(error) = &run.error {
        // One line per run: the error's own line breaks would split it.
        line.push_str("; error: ");
        line.push_str(&error.replace(['\r', '\n'], " "));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: Outcome, error: Option<&str>) -> RunRecord {
        RunRecord {
            at: Utc::now(),
            outcome,
            certificates: 3,
            scan_errors: 1,
            error: error.map(str::to_owned),
            via_proxy: None,
        }
    }

    #[test]
    fn runs_are_recorded_and_the_last_acknowledgement_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        assert_eq!(state.status().unwrap(), Status::default());
        let ack = AckRecord {
            at: Utc::now(),
            report_id: "r-1".into(),
            terminal_id: "7".into(),
            accepted_certificates: 3,
            rejected_certificates: 0,
        };
        let proxied = RunRecord {
            via_proxy: Some("http://proxy.example:8080 (from HTTPS_PROXY)".into()),
            ..run(Outcome::Delivered, None)
        };
        state.record_run(proxied, Some(ack.clone())).unwrap();
        state
            .record_run(run(Outcome::Spooled, Some("collector down\nretry")), None)
            .unwrap();
        let status = state.status().unwrap();
        assert_eq!(status.last_run.unwrap().outcome, Outcome::Spooled);
        assert_eq!(status.last_acknowledged, Some(ack));
        let log = state.log_tail(10);
        assert_eq!(log.len(), 2, "{log:?}");
        assert!(log[0].contains("delivered: 3 certificate(s), 1 scan error(s); report r-1"));
        assert!(
            log[0].ends_with("; through the proxy http://proxy.example:8080 (from HTTPS_PROXY)"),
            "{log:?}"
        );
        assert!(
            log[1].contains("NOT delivered") && log[1].ends_with("error: collector down retry")
        );
    }

    #[test]
    fn the_log_rotates_and_keeps_one_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let long = "x".repeat(10_000);
        let runs = (MAX_LOG_BYTES / 10_000) as usize * 2 + 5;
        for _ in 0..runs {
            state
                .record_run(run(Outcome::Failed, Some(&long)), None)
                .unwrap();
        }
        let current = fs::metadata(dir.path().join(LOG)).unwrap().len();
        let old = fs::metadata(dir.path().join(OLD_LOG)).unwrap().len();
        assert!(current <= MAX_LOG_BYTES + 11_000, "{current}");
        assert!(old <= MAX_LOG_BYTES + 11_000, "{old}");
        assert!(!dir.path().join("agent.log.2").exists());
        assert_eq!(state.log_tail(3).len(), 3);
    }
}
