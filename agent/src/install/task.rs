//! The Scheduled Task that runs the agent as SYSTEM: its command line (quoted for the Windows
//! command-line parser) and its Task Scheduler XML definition. Pure functions, so the exact
//! command line is unit-tested here and executed under Wine by `tests/tests/windows_wine.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The Task Scheduler folder of certfleet's task.
pub const TASK_FOLDER: &str = "certfleet";

/// Everything the task definition depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// Task name inside [`TASK_FOLDER`].
    pub name: String,
    /// The installed `certfleet-agent.exe`.
    pub exe: PathBuf,
    /// `%ProgramData%\certfleet`: configuration, CA, enroll secret; the working directory.
    pub data_dir: PathBuf,
    pub collector_url: String,
    /// Local time of the daily run, `HH:MM`.
    pub daily_at: String,
    /// Task Scheduler's random delay of the daily trigger.
    pub daily_random_delay: Duration,
    /// The agent's own random delay before scanning (`report --random-delay`), which spreads
    /// the start-up run: the boot trigger has no random delay of its own.
    pub startup_random_delay: Duration,
    /// Restarts after a failed run, and the interval between them.
    pub restart_count: u32,
    pub restart_interval: Duration,
    /// `--proxy` of the command line (`http://host:port` or `none`), when the installer got one.
    pub proxy: Option<String>,
}

impl TaskSpec {
    /// `\certfleet\<name>`.
    pub fn path(&self) -> String {
        format!("\\{TASK_FOLDER}\\{}", self.name)
    }

    pub fn ca_file(&self) -> PathBuf {
        self.data_dir.join("ca.pem")
    }

    pub fn enroll_secret_file(&self) -> PathBuf {
        self.data_dir.join("enroll-secret.txt")
    }

    pub fn config_file(&self) -> PathBuf {
        self.data_dir.join("agent.toml")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.data_dir.join("state")
    }

    /// The arguments of the task's action, as one command-line string.
    pub fn arguments(&self) -> String {
        let path = |p: PathBuf| p.to_string_lossy().into_owned();
        let mut args: Vec<String> = vec![
            "report".into(),
            "--collector".into(),
            self.collector_url.clone(),
            "--ca".into(),
            path(self.ca_file()),
            "--enroll-secret-file".into(),
            path(self.enroll_secret_file()),
            "--remove-enroll-secret".into(),
            "--state-dir".into(),
            path(self.state_dir()),
            "--config".into(),
            path(self.config_file()),
            "--random-delay".into(),
            self.startup_random_delay.as_secs().to_string(),
        ];
        if let Some(proxy) = &self.proxy {
            args.extend(["--proxy".to_owned(), proxy.clone()]);
        }
        args.iter()
            .map(|a| quote_argument(a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The whole command line as Windows builds it from the action: quoted program, arguments.
    pub fn command_line(&self) -> String {
        format!(
            "{} {}",
            quote_argument(&self.exe.to_string_lossy()),
            self.arguments()
        )
    }

    /// How long a run may take: the longest random delay plus half an hour for the scan and
    /// the deliveries with their retries.
    pub fn execution_time_limit(&self) -> Duration {
        self.startup_random_delay + Duration::from_secs(30 * 60)
    }

    /// The task definition in Task Scheduler's XML schema (version 1.2: Windows 7 and later).
    /// Runs as SYSTEM (by SID: its name is localized), daily at `daily_at` plus a random delay
    /// and at start-up; a run missed while the PC was off starts as soon as it is on; a slow
    /// run is never started twice.
    pub fn to_xml(&self) -> String {
        let (hour, minute) = self.daily_at.split_once(':').unwrap_or(("10", "00"));
        format!(
            r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Author>certfleet-agent install</Author>
    <Description>{description}</Description>
    <URI>{uri}</URI>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2024-01-01T{hour:0>2}:{minute:0>2}:00</StartBoundary>
      <Enabled>true</Enabled>
      <RandomDelay>{daily_delay}</RandomDelay>
      <ScheduleByDay>
        <DaysInterval>1</DaysInterval>
      </ScheduleByDay>
    </CalendarTrigger>
    <BootTrigger>
      <Enabled>true</Enabled>
    </BootTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>S-1-5-18</UserId>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <ExecutionTimeLimit>{limit}</ExecutionTimeLimit>
    <Priority>7</Priority>
    <RestartOnFailure>
      <Interval>{restart_interval}</Interval>
      <Count>{restart_count}</Count>
    </RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{command}</Command>
      <Arguments>{arguments}</Arguments>
      <WorkingDirectory>{workdir}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"#,
            description = xml_escape(&format!(
                "Reports this PC's client certificates to the certfleet collector {}.",
                self.collector_url
            )),
            uri = xml_escape(&self.path()),
            daily_delay = duration(self.daily_random_delay),
            limit = duration(self.execution_time_limit()),
            restart_interval = duration(self.restart_interval.max(Duration::from_secs(60))),
            restart_count = self.restart_count,
            command = xml_escape(&self.exe.to_string_lossy()),
            arguments = xml_escape(&self.arguments()),
            workdir = xml_escape(&self.data_dir.to_string_lossy()),
        )
    }
}

/// An `xs:duration` such as `PT4H30M` (zero is `PT0S`).
fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return "PT0S".to_owned();
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = "PT".to_owned();
    if h > 0 {
        out.push_str(&format!("{h}H"));
    }
    if m > 0 {
        out.push_str(&format!("{m}M"));
    }
    if s > 0 {
        out.push_str(&format!("{s}S"));
    }
    out
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Quotes one argument for the Windows command-line parser (`CommandLineToArgvW` and the C
/// runtime, which Rust's std follows): plain when it has no space, tab or quote; otherwise in
/// quotes, with backslashes doubled where they precede a quote (including the closing one, so
/// `C:\dir\` survives) and quotes escaped.
pub fn quote_argument(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '\n', '\u{b}', '"']) {
        return arg.to_owned();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0usize;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            c => {
                out.extend(std::iter::repeat_n('\\', backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.extend(std::iter::repeat_n('\\', backslashes * 2));
    out.push('"');
    out
}

/// Splits a command line the way the Windows C runtime does (the inverse of
/// [`quote_argument`]; used by the tests and by `install --dry-run` to show the arguments).
pub fn split_command_line(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        if chars.peek().is_none() {
            return args;
        }
        let mut arg = String::new();
        let mut quoted = false;
        let mut backslashes = 0usize;
        while let Some(&c) = chars.peek() {
            match c {
                '\\' => {
                    backslashes += 1;
                    chars.next();
                }
                '"' => {
                    arg.extend(std::iter::repeat_n('\\', backslashes / 2));
                    chars.next();
                    if backslashes % 2 == 1 {
                        arg.push('"');
                    } else if quoted && chars.peek() == Some(&'"') {
                        // `""` inside quotes is a literal quote (the C runtime's rule).
                        arg.push('"');
                        chars.next();
                    } else {
                        quoted = !quoted;
                    }
                    backslashes = 0;
                }
                ' ' | '\t' if !quoted => break,
                c => {
                    arg.extend(std::iter::repeat_n('\\', backslashes));
                    backslashes = 0;
                    arg.push(c);
                    chars.next();
                }
            }
        }
        arg.extend(std::iter::repeat_n('\\', backslashes));
        args.push(arg);
    }
}

/// The path of a task's definition file as Task Scheduler keeps it under
/// `%SystemRoot%\System32\Tasks`.
pub fn definition_file(system_root: &Path, spec_path: &str) -> PathBuf {
    spec_path
        .split('\\')
        .filter(|p| !p.is_empty())
        .fold(system_root.join("System32").join("Tasks"), |acc, part| {
            acc.join(part)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TaskSpec {
        TaskSpec {
            name: "certfleet-agent".into(),
            exe: PathBuf::from("C:\\Program Files\\certfleet\\certfleet-agent.exe"),
            data_dir: PathBuf::from("C:\\ProgramData\\certfleet"),
            collector_url: "https://certfleet.example.org:50051".into(),
            daily_at: "10:00".into(),
            daily_random_delay: Duration::from_secs(4 * 3600),
            startup_random_delay: Duration::from_secs(1800),
            restart_count: 3,
            restart_interval: Duration::from_secs(1800),
            proxy: None,
        }
    }

    #[test]
    fn the_command_line_is_quoted_for_windows() {
        // Built with Path::join, which uses '/' off Windows: compare the Windows spelling.
        let line = spec().command_line().replace("certfleet/", "certfleet\\");
        assert_eq!(
            line,
            "\"C:\\Program Files\\certfleet\\certfleet-agent.exe\" report --collector \
             https://certfleet.example.org:50051 --ca C:\\ProgramData\\certfleet\\ca.pem \
             --enroll-secret-file C:\\ProgramData\\certfleet\\enroll-secret.txt \
             --remove-enroll-secret --state-dir C:\\ProgramData\\certfleet\\state \
             --config C:\\ProgramData\\certfleet\\agent.toml --random-delay 1800"
        );
        let with_proxy = TaskSpec {
            proxy: Some("http://proxy.example:8080".into()),
            ..spec()
        };
        assert!(
            with_proxy
                .command_line()
                .ends_with(" --random-delay 1800 --proxy http://proxy.example:8080"),
            "{}",
            with_proxy.command_line()
        );
    }

    #[test]
    fn quoting_round_trips_through_the_windows_parser() {
        for arg in [
            "plain",
            "with space",
            "C:\\Program Files\\certfleet\\",
            "C:\\dir with space\\",
            "quote\"inside",
            "back\\\\\"slash",
            "",
            "事業所 データ\\",
            "\\\\server\\share\\a b",
        ] {
            let line = format!("prog.exe {} end", quote_argument(arg));
            assert_eq!(
                split_command_line(&line),
                ["prog.exe", arg, "end"],
                "{arg:?} as {line}"
            );
        }
        assert_eq!(quote_argument("C:\\a b\\"), "\"C:\\a b\\\\\"");
    }

    #[test]
    fn the_xml_carries_triggers_principal_and_escaped_values() {
        let mut s = spec();
        s.collector_url = "https://a.example:1/?x=1&y=<2>".into();
        let xml = s.to_xml();
        assert!(xml.contains("<UserId>S-1-5-18</UserId>"));
        assert!(xml.contains("<StartBoundary>2024-01-01T10:00:00</StartBoundary>"));
        assert!(xml.contains("<RandomDelay>PT4H</RandomDelay>"));
        assert!(xml.contains("<BootTrigger>"));
        assert!(xml.contains("<ExecutionTimeLimit>PT1H</ExecutionTimeLimit>"));
        assert!(xml.contains("<Interval>PT30M</Interval>"));
        assert!(xml.contains("<Count>3</Count>"));
        assert!(xml.contains("<StartWhenAvailable>true</StartWhenAvailable>"));
        assert!(xml.contains("<MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>"));
        assert!(xml.contains("x=1&amp;y=&lt;2&gt;"));
        assert!(!xml.contains("y=<2>"));
        assert!(xml.contains("<URI>\\certfleet\\certfleet-agent</URI>"));
    }

    #[test]
    fn durations_are_xsd_durations() {
        assert_eq!(duration(Duration::ZERO), "PT0S");
        assert_eq!(duration(Duration::from_secs(90)), "PT1M30S");
        assert_eq!(duration(Duration::from_secs(5400)), "PT1H30M");
    }
}
