//! `certfleet-agent`: command-line entry point. Parses arguments, sets up logging, calls the
//! library; all logic lives in the library so the reporting subcommands can share it.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use certfleet_agent::config::{Config, password_from_env};
use certfleet_agent::install::{InstallOptions, UninstallOptions};
use certfleet_agent::report::proxy::{Bypass, ProxyConfig, ProxySource};
use certfleet_agent::report::{
    FactOverrides, Outcome, ReportSettings, RunSchedule, StateDir, report_once, run_loop,
};
use certfleet_agent::{ScanConfig, output, scan};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "certfleet-agent",
    version,
    about = "Finds client certificates on this PC."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the certificates on this PC (or in the given paths) with their expiry.
    Scan(ScanArgs),
    /// Scan once, send the snapshot to the collector, exit (0 only when acknowledged).
    /// For Windows Task Scheduler and systemd timers: nothing runs between reports.
    Report(ReportOnceArgs),
    /// Scan and report forever at an interval with jitter (a long-running service).
    Run(RunArgs),
    /// Show the last run, the last acknowledged report and anything spooled, from the state
    /// directory (exit 0 only when the last run was acknowledged).
    Status(StatusArgs),
    /// Windows: set up this PC (data directory with a private ACL, CA, enroll secret,
    /// configuration) and register the Scheduled Task that runs `report` as SYSTEM. Used by
    /// install-agent.ps1 and the MSI; running it again with the same settings changes nothing.
    Install(InstallArgs),
    /// Windows: remove the Scheduled Task and its folder (and the data directory with
    /// --remove-data). The program directory is left to the caller.
    Uninstall(UninstallArgs),
}

#[derive(Args)]
struct InstallArgs {
    /// Collector gRPC URL, https://HOST:PORT.
    #[arg(long, env = "CERTFLEET_COLLECTOR")]
    collector: String,
    /// The collector's CA certificate (ca.pem from `certfleet-collector init`); required on a
    /// first install. An empty value counts as not given (MSI properties).
    #[arg(long, env = "CERTFLEET_INSTALL_CA", value_name = "FILE")]
    ca: Option<OsString>,
    /// File holding the enroll secret; required until this PC is enrolled.
    #[arg(
        long,
        env = "CERTFLEET_INSTALL_ENROLL_SECRET_FILE",
        value_name = "FILE"
    )]
    enroll_secret_file: Option<OsString>,
    /// An agent.toml to install (otherwise an existing one is kept, or a default written).
    #[arg(long, env = "CERTFLEET_INSTALL_CONFIG", value_name = "FILE")]
    config: Option<OsString>,
    /// Data directory (configuration, CA, secret, state) [default: %ProgramData%\certfleet].
    #[arg(long, env = "CERTFLEET_INSTALL_DATA_DIR", value_name = "DIR")]
    data_dir: Option<OsString>,
    /// Scheduled Task name, in the task folder \certfleet.
    #[arg(
        long,
        env = "CERTFLEET_INSTALL_TASK_NAME",
        default_value = "certfleet-agent"
    )]
    task_name: String,
    /// Local time of the daily report, HH:MM.
    #[arg(long, env = "CERTFLEET_INSTALL_DAILY_AT", default_value = "10:00")]
    daily_at: String,
    /// Task Scheduler's random delay of the daily run, in hours (0-12).
    #[arg(
        long,
        env = "CERTFLEET_INSTALL_RANDOM_DELAY_HOURS",
        default_value_t = 4
    )]
    random_delay_hours: u32,
    /// The agent's random delay before each scan, in minutes (0-240): spreads the start-up
    /// run, for which Task Scheduler has none (`report --random-delay`).
    #[arg(
        long,
        env = "CERTFLEET_INSTALL_STARTUP_DELAY_MINUTES",
        default_value_t = 30
    )]
    startup_delay_minutes: u32,
    /// Restarts of a failed run.
    #[arg(long, env = "CERTFLEET_INSTALL_RESTART_COUNT", default_value_t = 3)]
    restart_count: u32,
    /// Minutes between restarts of a failed run.
    #[arg(
        long,
        env = "CERTFLEET_INSTALL_RESTART_INTERVAL_MINUTES",
        default_value_t = 30
    )]
    restart_interval_minutes: u32,
    /// HTTP proxy for the task's `report --proxy`: http://HOST:PORT (no credentials: put a
    /// proxy password in agent.toml's `[collector] proxy` and pass --config), or `none` to
    /// ignore the WinHTTP setting. Empty, `auto` or absent: the environment and WinHTTP decide.
    #[arg(long, env = "CERTFLEET_INSTALL_PROXY", value_name = "URL")]
    proxy: Option<String>,
    /// Start the task once when done (first enrollment and report now).
    #[arg(long, env = "CERTFLEET_INSTALL_RUN_NOW")]
    run_now: bool,
    /// Say what would change; change nothing.
    #[arg(long, env = "CERTFLEET_INSTALL_DRY_RUN")]
    dry_run: bool,
}

#[derive(Args)]
struct UninstallArgs {
    /// Data directory [default: %ProgramData%\certfleet].
    #[arg(long, env = "CERTFLEET_INSTALL_DATA_DIR", value_name = "DIR")]
    data_dir: Option<OsString>,
    /// Scheduled Task name, in the task folder \certfleet.
    #[arg(
        long,
        env = "CERTFLEET_INSTALL_TASK_NAME",
        default_value = "certfleet-agent"
    )]
    task_name: String,
    /// Also delete the data directory: configuration, CA, node key, spool. A later install
    /// then enrolls as a new installation (and needs an operator's `terminal reset`).
    #[arg(long, env = "CERTFLEET_UNINSTALL_REMOVE_DATA")]
    remove_data: bool,
    /// Say what would change; change nothing.
    #[arg(long, env = "CERTFLEET_INSTALL_DRY_RUN")]
    dry_run: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Aligned columns for a person, sorted by expiry.
    Table,
    /// `{"certificates": [...], "errors": [...]}` for scripts.
    Json,
}

/// Path lists in one environment variable use the platform's separator, like PATH.
const PATH_LIST_SEPARATOR: char = if cfg!(windows) { ';' } else { ':' };

#[derive(Args)]
struct ScanArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Output format.
    #[arg(long, env = "CERTFLEET_FORMAT", value_enum, default_value = "table")]
    format: Format,
}

#[derive(Args)]
struct ReportArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Collector gRPC URL, e.g. https://collector.example:50051.
    #[arg(long, env = "CERTFLEET_COLLECTOR")]
    collector: Option<String>,
    /// PEM file of the CA that signed the collector's certificate (ca.pem from `init`).
    #[arg(long, env = "CERTFLEET_CA")]
    ca: Option<PathBuf>,
    /// Also trust the operating system's certificate store for the collector.
    #[arg(long, env = "CERTFLEET_OS_TRUST_STORE")]
    os_trust_store: bool,
    /// File holding the enroll secret (used once; the node key is then kept in --state-dir).
    #[arg(long, env = "CERTFLEET_ENROLL_SECRET_FILE")]
    enroll_secret_file: Option<PathBuf>,
    /// Directory for the node key and the spooled snapshot.
    #[arg(long, env = "CERTFLEET_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Report this hostname instead of the system's.
    #[arg(long, env = "CERTFLEET_HOSTNAME")]
    hostname: Option<String>,
    /// Report this machine id instead of MachineGuid / /etc/machine-id (imaging, tests).
    #[arg(long, env = "CERTFLEET_MACHINE_ID")]
    machine_id: Option<String>,
    /// Delivery attempts before the snapshot is spooled for the next run.
    #[arg(long, env = "CERTFLEET_ATTEMPTS", default_value_t = 5)]
    attempts: u32,
    /// Timeout of each call to the collector, in seconds.
    #[arg(long, env = "CERTFLEET_RPC_TIMEOUT_SECS", default_value_t = 30)]
    rpc_timeout_secs: u64,
    /// Allow an http:// collector URL (no TLS). Tests only.
    #[arg(long, env = "CERTFLEET_INSECURE_PLAINTEXT")]
    insecure_plaintext: bool,
    /// Delete the enroll secret file once this PC holds a node key (the Windows installer
    /// sets it: the fleet-wide secret then stays on a PC only until it has enrolled).
    #[arg(long, env = "CERTFLEET_REMOVE_ENROLL_SECRET")]
    remove_enroll_secret: bool,
    /// HTTP proxy to reach the collector through (CONNECT tunnel; TLS stays end to end):
    /// http://[USER:PASSWORD@]HOST:PORT, `none` to connect directly, or `auto`. Default (`auto`):
    /// `[collector] proxy`, then HTTPS_PROXY/https_proxy/ALL_PROXY, then on Windows the WinHTTP setting
    /// (netsh winhttp) and the user's Internet Options. Prefer agent.toml for a password: a
    /// command line is visible to other programs.
    #[arg(
        long,
        env = "CERTFLEET_PROXY",
        hide_env_values = true,
        value_name = "URL"
    )]
    proxy: Option<String>,
    /// Hosts to reach without the proxy, e.g. `collector.corp.example,10.0.0.0/8` (replaces
    /// NO_PROXY and the Windows bypass list).
    #[arg(long, env = "CERTFLEET_NO_PROXY", value_name = "HOSTS")]
    no_proxy: Option<String>,
}

#[derive(Args)]
struct ReportOnceArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Wait a random time of up to this many seconds before scanning, so that PCs switched on
    /// together do not report together (Task Scheduler's start-up trigger has no random delay).
    #[arg(
        long,
        env = "CERTFLEET_RANDOM_DELAY",
        value_name = "SECONDS",
        default_value_t = 0
    )]
    random_delay: u64,
}

#[derive(Args)]
struct StatusArgs {
    /// Directory for the node key and the spooled snapshot (as given to `report`).
    #[arg(long, env = "CERTFLEET_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// The agent's TOML configuration file, for its `[collector] state_dir`.
    #[arg(long, env = "CERTFLEET_CONFIG")]
    config: Option<PathBuf>,
    /// Output format.
    #[arg(long, env = "CERTFLEET_FORMAT", value_enum, default_value = "table")]
    format: Format,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Minutes between reports (default 240, or `interval_minutes` in the config).
    #[arg(long, env = "CERTFLEET_INTERVAL_MINUTES")]
    interval_minutes: Option<u64>,
    /// Up to this many minutes of random delay before each report.
    #[arg(long, env = "CERTFLEET_JITTER_MINUTES", default_value_t = 15)]
    jitter_minutes: u64,
}

#[derive(Args)]
struct SourceArgs {
    /// TOML configuration file (issuers, office pattern, paths, profiles root, ...).
    #[arg(long, env = "CERTFLEET_CONFIG")]
    config: Option<PathBuf>,
    /// Scan only this file or directory (recursive); repeatable.
    #[arg(long = "path", env = "CERTFLEET_PATHS", value_delimiter = PATH_LIST_SEPARATOR)]
    paths: Vec<PathBuf>,
    /// Root of the user profiles whose Personal store files are read (default C:\Users on
    /// Windows).
    #[arg(long, env = "CERTFLEET_PROFILES_ROOT")]
    profiles_root: Option<PathBuf>,
    /// List every certificate, not only office certificates.
    #[arg(long, env = "CERTFLEET_ALL_ISSUERS")]
    all_issuers: bool,
    /// Name of the environment variable holding the PKCS#12 password.
    #[arg(long, env = "CERTFLEET_PKCS12_PASSWORD_ENV", value_name = "VAR")]
    pkcs12_password_env: Option<String>,
}

fn init_tracing() {
    // Logs go to stderr and default to warnings only, so stdout stays clean for the table or
    // the JSON document. RUST_LOG overrides.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn load_config(args: &SourceArgs) -> anyhow::Result<Config> {
    Ok(match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    })
}

fn scan_config(args: &SourceArgs, file: &Config) -> anyhow::Result<ScanConfig> {
    let explicit_paths = !args.paths.is_empty();
    let mut config = if explicit_paths {
        ScanConfig::paths_only(args.paths.clone())
    } else {
        let mut c = ScanConfig::platform_default();
        c.paths = file.paths.clone();
        if let Some(root) = &file.profiles_root {
            c.profiles_root = Some(root.clone());
        }
        c
    };
    if let Some(root) = &args.profiles_root {
        config.profiles_root = Some(root.clone());
    }
    config.selector = file.selector().context("selection rules")?;
    config.all_issuers = args.all_issuers || file.all_issuers;
    if let Some(var) = args
        .pkcs12_password_env
        .as_ref()
        .or(file.pkcs12_password_env.as_ref())
    {
        config.pkcs12_password = Some(password_from_env(var)?);
    }
    Ok(config)
}

fn run_scan(args: &ScanArgs) -> anyhow::Result<()> {
    let config = scan_config(&args.source, &load_config(&args.source)?)?;
    if config.paths.is_empty() && config.profiles_root.is_none() && !cfg!(windows) {
        tracing::warn!("nothing to scan on this platform: give --path or --profiles-root");
    }
    let result = scan(&config);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Json => output::write_json(&result, &mut out),
        Format::Table => output::write_table(&result, chrono::Utc::now(), &mut out),
    }
    .and_then(|()| out.flush())
    .context("writing the output")?;
    Ok(())
}

/// Reporting settings from flags, falling back to the config file's `[collector]` table.
fn report_settings(args: &ReportArgs, file: &Config) -> anyhow::Result<ReportSettings> {
    let c = &file.collector;
    let collector =
        args.collector.clone().or_else(|| c.url.clone()).context(
            "no collector URL: pass --collector https://HOST:PORT or set [collector] url",
        )?;
    let state_dir = args
        .state_dir
        .clone()
        .or_else(|| c.state_dir.clone())
        .context("no state directory: pass --state-dir DIR or set [collector] state_dir")?;
    let mut settings = ReportSettings::new(collector, state_dir);
    settings.ca_file = args.ca.clone().or_else(|| c.ca_file.clone());
    settings.os_trust_store = args.os_trust_store || c.os_trust_store;
    settings.enroll_secret_file = args
        .enroll_secret_file
        .clone()
        .or_else(|| c.enroll_secret_file.clone());
    settings.facts = FactOverrides {
        hostname: args.hostname.clone(),
        machine_id: args.machine_id.clone(),
    };
    settings.attempts = args.attempts.max(1);
    settings.rpc_timeout = Duration::from_secs(args.rpc_timeout_secs.max(1));
    settings.insecure_plaintext = args.insecure_plaintext;
    settings.remove_enroll_secret = args.remove_enroll_secret;
    settings.proxy = match (&args.proxy, &c.proxy) {
        (Some(flag), _) if !flag.trim().is_empty() => {
            ProxyConfig::from_setting(flag, ProxySource::Flag)?
        }
        (_, Some(file)) => ProxyConfig::from_setting(file, ProxySource::ConfigFile)?,
        _ => ProxyConfig::Auto,
    };
    settings.no_proxy = args
        .no_proxy
        .as_ref()
        .or(c.no_proxy.as_ref())
        .map(|list| Bypass::parse(list));
    Ok(settings)
}

fn run_report(once: &ReportOnceArgs) -> anyhow::Result<ExitCode> {
    let args = &once.report;
    let file = load_config(&args.source)?;
    let scan_cfg = scan_config(&args.source, &file)?;
    let settings = report_settings(args, &file)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let delay = Duration::from_secs(once.random_delay);
    match runtime.block_on(report_once(&settings, delay, || scan(&scan_cfg))) {
        Ok(d) => {
            if d.delivered_spooled {
                println!("delivered the spooled snapshot from an earlier run");
            }
            println!(
                "report {} acknowledged by the collector (terminal {}): {} certificates stored{}{}{}",
                d.report_id,
                d.terminal_id,
                d.accepted_certificates,
                if d.duplicate {
                    ", already received"
                } else {
                    ""
                },
                if d.superseded {
                    ", older than the stored snapshot"
                } else {
                    ""
                },
                match &d.via_proxy {
                    Some(proxy) => format!(", through the proxy {proxy}"),
                    None => String::new(),
                },
            );
            for (index, reason) in &d.rejected {
                println!("  certificate #{index} rejected: {reason}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn local_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&chrono::Local)
        .format("%Y/%m/%d %H:%M:%S %:z")
        .to_string()
}

fn run_status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let dir = args
        .state_dir
        .clone()
        .or_else(|| file.collector.state_dir.clone())
        .context("no state directory: pass --state-dir DIR or --config FILE")?;
    if !dir.is_dir() {
        anyhow::bail!(
            "state directory {} does not exist: the agent has not run here with it",
            dir.display()
        );
    }
    let state = StateDir::open(&dir)?;
    let status = state.status()?;
    let enrolled = state.node_key()?.is_some();
    let spooled = state.spooled();
    let acknowledged = status
        .last_run
        .as_ref()
        .is_some_and(|r| r.outcome == Outcome::Delivered);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Json => {
            let spool = match &spooled {
                Ok(Some(req)) => serde_json::json!({
                    "report_id": req.report_id,
                    "scanned_at": req.scanned_at.as_ref().and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0)),
                    "certificates": req.certificates.len(),
                }),
                Ok(None) => serde_json::Value::Null,
                Err(e) => serde_json::json!({ "error": e.to_string() }),
            };
            let doc = serde_json::json!({
                "state_dir": dir,
                "enrolled": enrolled,
                "last_run": status.last_run,
                "last_acknowledged": status.last_acknowledged,
                "spooled": spool,
            });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Format::Table => {
            writeln!(out, "state directory:   {}", dir.display())?;
            writeln!(
                out,
                "enrolled:          {}",
                if enrolled {
                    "yes (node key present)"
                } else {
                    "no (next report enrolls)"
                }
            )?;
            match &status.last_run {
                Some(run) => {
                    let outcome = match run.outcome {
                        Outcome::Delivered => "delivered",
                        Outcome::Spooled => "NOT delivered, spooled for the next run",
                        Outcome::Failed => "FAILED",
                    };
                    writeln!(
                        out,
                        "last run:          {} — {outcome}; {} certificate(s), {} scan error(s)",
                        local_time(run.at),
                        run.certificates,
                        run.scan_errors
                    )?;
                    if let Some(error) = &run.error {
                        writeln!(out, "  error:           {error}")?;
                    }
                    if let Some(proxy) = &run.via_proxy {
                        writeln!(out, "  through proxy:   {proxy}")?;
                    }
                }
                None => writeln!(out, "last run:          none recorded")?,
            }
            match &status.last_acknowledged {
                Some(ack) => writeln!(
                    out,
                    "last acknowledged: {} — report {}, terminal {}, {} certificate(s) stored, {} rejected",
                    local_time(ack.at),
                    ack.report_id,
                    ack.terminal_id,
                    ack.accepted_certificates,
                    ack.rejected_certificates
                )?,
                None => writeln!(out, "last acknowledged: never")?,
            }
            match &spooled {
                Ok(Some(req)) => writeln!(
                    out,
                    "spooled:           report {} scanned {} with {} certificate(s), sent on the next run",
                    req.report_id,
                    req.scanned_at
                        .as_ref()
                        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
                        .map(local_time)
                        .unwrap_or_else(|| "?".to_owned()),
                    req.certificates.len()
                )?,
                Ok(None) => writeln!(out, "spooled:           nothing")?,
                Err(e) => writeln!(out, "spooled:           unreadable ({e})")?,
            }
            let tail = state.log_tail(5);
            if !tail.is_empty() {
                writeln!(out, "recent runs ({}):", state.log_path().display())?;
                for line in tail {
                    writeln!(out, "  {line}")?;
                }
            }
        }
    }
    out.flush()?;
    Ok(if acknowledged {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_forever(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let file = load_config(&args.report.source)?;
    let scan_cfg = scan_config(&args.report.source, &file)?;
    let settings = report_settings(&args.report, &file)?;
    let minutes = args
        .interval_minutes
        .or(file.collector.interval_minutes)
        .unwrap_or(240)
        .max(1);
    let schedule = RunSchedule {
        interval: Duration::from_secs(minutes * 60),
        jitter: Duration::from_secs(args.jitter_minutes * 60),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let rounds = runtime.block_on(run_loop(&settings, schedule, || scan(&scan_cfg), async {
        let _ = tokio::signal::ctrl_c().await;
    }));
    tracing::info!(rounds, "stopped");
    Ok(ExitCode::SUCCESS)
}

/// An empty path (an unset MSI property) means "not given". Taken as OsString because clap
/// refuses an empty PathBuf.
fn given(path: &Option<OsString>) -> Option<PathBuf> {
    path.clone().filter(|p| !p.is_empty()).map(PathBuf::from)
}

/// `%ProgramData%\certfleet`.
fn default_data_dir() -> anyhow::Result<PathBuf> {
    let program_data =
        std::env::var_os("ProgramData").context("%ProgramData% is not set: pass --data-dir")?;
    Ok(PathBuf::from(program_data).join("certfleet"))
}

#[cfg(any(windows, certfleet_check_windows))]
fn platform() -> anyhow::Result<certfleet_agent::windows::tasks::WindowsPlatform> {
    Ok(certfleet_agent::windows::tasks::WindowsPlatform::new())
}

#[cfg(not(any(windows, certfleet_check_windows)))]
fn platform() -> anyhow::Result<no_platform::NoPlatform> {
    anyhow::bail!(
        "install and uninstall set up the Scheduled Task on Windows; on Linux use the systemd \
         units in deploy/systemd"
    )
}

#[cfg(not(any(windows, certfleet_check_windows)))]
mod no_platform {
    use std::path::Path;

    use certfleet_agent::install::{InstallError, Platform};

    /// Stands in for the Windows platform where there is none (never constructed).
    pub enum NoPlatform {}

    impl Platform for NoPlatform {
        fn keeps_acls(&self) -> bool {
            match *self {}
        }
        fn acl_problem(&self, _: &Path) -> Result<Option<String>, InstallError> {
            match *self {}
        }
        fn check_existing_data_dir(&self, _: &Path) -> Result<(), InstallError> {
            match *self {}
        }
        fn make_private(&self, _: &Path) -> Result<Option<String>, InstallError> {
            match *self {}
        }
        fn task_exists(&self, _: &str) -> Result<bool, InstallError> {
            match *self {}
        }
        fn register_task(&self, _: &str, _: &Path) -> Result<(), InstallError> {
            match *self {}
        }
        fn run_task(&self, _: &str) -> Result<(), InstallError> {
            match *self {}
        }
        fn delete_task(&self, _: &str) -> Result<bool, InstallError> {
            match *self {}
        }
        fn delete_task_folder(&self, _: &str) -> Result<bool, InstallError> {
            match *self {}
        }
    }
}

fn print_outcome(outcome: &certfleet_agent::install::Outcome, dry_run: bool) {
    for line in &outcome.lines {
        println!("{line}");
    }
    match (outcome.changed, dry_run) {
        (false, _) => println!("nothing to change"),
        (true, true) => println!("(dry run: nothing was changed)"),
        (true, false) => {}
    }
}

fn run_install(args: &InstallArgs) -> anyhow::Result<ExitCode> {
    let opts = InstallOptions {
        collector_url: args.collector.clone(),
        ca_file: given(&args.ca),
        enroll_secret_file: given(&args.enroll_secret_file),
        config_file: given(&args.config),
        data_dir: match given(&args.data_dir) {
            Some(dir) => dir,
            None => default_data_dir()?,
        },
        exe: std::env::current_exe().context("locating certfleet-agent.exe")?,
        task_name: args.task_name.clone(),
        daily_at: args.daily_at.clone(),
        daily_random_delay_hours: args.random_delay_hours,
        startup_delay_minutes: args.startup_delay_minutes,
        restart_count: args.restart_count,
        restart_interval_minutes: args.restart_interval_minutes,
        proxy: args.proxy.clone(),
        run_now: args.run_now,
        dry_run: args.dry_run,
    };
    let outcome = certfleet_agent::install::install(&opts, &platform()?)?;
    print_outcome(&outcome, args.dry_run);
    Ok(ExitCode::SUCCESS)
}

fn run_uninstall(args: &UninstallArgs) -> anyhow::Result<ExitCode> {
    let opts = UninstallOptions {
        data_dir: match given(&args.data_dir) {
            Some(dir) => dir,
            None => default_data_dir()?,
        },
        task_name: args.task_name.clone(),
        remove_data: args.remove_data,
        dry_run: args.dry_run,
    };
    let outcome = certfleet_agent::install::uninstall(&opts, &platform()?)?;
    print_outcome(&outcome, args.dry_run);
    Ok(ExitCode::SUCCESS)
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    init_tracing();
    match &cli.command {
        Command::Scan(args) => run_scan(args).map(|()| ExitCode::SUCCESS),
        Command::Report(args) => run_report(args),
        Command::Run(args) => run_forever(args),
        Command::Status(args) => run_status(args),
        Command::Install(args) => run_install(args),
        Command::Uninstall(args) => run_uninstall(args),
    }
}
