//! Command-line interface of `certfleet-collector`: argument definitions and dispatch to the
//! library. `main.rs` only parses, starts tracing and calls [`run`].

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use certfleet_config::{DatabaseSettings, FileConfig, Overrides, Settings};
use certfleet_model::text::printable;
use certfleet_reports::format::Format;
use certfleet_store::{self as store, OpenMode, SharedStore};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

mod track;
pub use track::{CalendarCommand, TrackCommand};

#[derive(Debug, Parser)]
#[command(
    name = "certfleet-collector",
    version,
    about = "Collects client-certificate inventories from certfleet agents and reports what expires."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every database-reading subcommand accepts.
#[derive(Args)]
pub struct GlobalArgs {
    /// Config file (TOML), e.g. the collector.toml written by `init`.
    #[arg(long, global = true, env = "CERTFLEET_CONFIG")]
    pub config: Option<PathBuf>,
    /// postgres://… for production; default: embedded SQLite in the data directory.
    #[arg(
        long,
        global = true,
        env = "CERTFLEET_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Directory of the embedded SQLite database (default ./certfleet-data; `init` writes an
    /// absolute one into collector.toml, which every command then uses).
    #[arg(long, global = true, env = "CERTFLEET_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// File holding the PostgreSQL password for a --database-url that names only the user.
    #[arg(long, global = true, env = "CERTFLEET_DATABASE_PASSWORD_FILE")]
    pub database_password_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a CA, a server certificate, an enroll secret and a config file in DIR. The
    /// global --data-dir (default DIR/data; under systemd /var/lib/certfleet) is written into
    /// the config as an absolute path: where serve and every command find the database.
    Init {
        #[arg(long, env = "CERTFLEET_INIT_DIR")]
        dir: PathBuf,
        /// DNS name or IP address the agents use to reach the collector (repeatable).
        /// Default: localhost and 127.0.0.1.
        #[arg(long = "san", env = "CERTFLEET_SANS", value_delimiter = ',')]
        sans: Vec<String>,
        /// Write ca-key.pem here instead of DIR: removable media, or a directory the running
        /// collector never mounts. Only `reissue-server-cert` needs it.
        #[arg(long, env = "CERTFLEET_INIT_CA_KEY_DIR")]
        ca_key_dir: Option<PathBuf>,
    },
    /// Serve gRPC (agents) and HTTP (API, metrics) until SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Terminals (PCs) known to the collector.
    Terminal {
        #[command(subcommand)]
        command: TerminalCommand,
    },
    /// Expiry reports: what expires soon, where, for which office.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// The office registry (names, sites, owner e-mails).
    Offices {
        #[command(subcommand)]
        command: OfficesCommand,
    },
    /// The expected-terminal list and the coverage report (expected PCs that never reported,
    /// reporting PCs not on the list, missing offices, outdated agents).
    Coverage {
        #[command(subcommand)]
        command: CoverageCommand,
    },
    /// A complete demo fleet on the embedded SQLite default in a temporary directory: real
    /// agents, real collector, the expiring report and the dashboard until Ctrl-C. Runs the
    /// `certfleet-demo` program installed next to this one, with these arguments.
    Demo {
        /// Arguments for `certfleet-demo` (`--dir DIR`, `--http-listen ADDR`; see its --help).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Print the argon2 hash of a dashboard password (read from stdin) for `[dashboard] users`;
    /// with --user, a `NAME:HASH` line for `[dashboard] users_file`.
    HashPassword {
        /// Print a line of the users file for this account.
        #[arg(long, env = "CERTFLEET_HASH_USER")]
        user: Option<String>,
    },
    /// Issue a new server certificate with the existing CA (agents keep trusting it). Needs
    /// the CA key, which `init` lets you keep offline: run this where the key is.
    ReissueServerCert(ReissueArgs),
    /// Retention: delete reports, history and alert decisions older than `[retention]` allows
    /// (`serve` runs it daily on one replica; this is for cron and checks).
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Expiry alerts (`serve` runs them daily by itself; this is for cron and checks).
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// Renewal tracking per (terminal, office) pair: requested, reissue, hold, retire, clear.
    Track {
        #[command(subcommand)]
        command: TrackCommand,
    },
    /// iCalendar feeds of renew-by dates and billing deadlines: create, list, revoke.
    Calendar {
        #[command(subcommand)]
        command: CalendarCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Decide and deliver the alerts due now (or at --as-of).
    Run {
        /// Show what would be decided; record and send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Evaluate at this time (RFC 3339, or a date meaning 00:00 in the display time zone).
        #[arg(long)]
        as_of: Option<String>,
    },
    /// List decided alerts and their deliveries, newest first.
    History {
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long, default_value = "table", value_parser = list_format())]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct ReissueArgs {
    /// The CA certificate (ca.pem from init).
    #[arg(long, env = "CERTFLEET_REISSUE_CA_CERT")]
    pub ca_cert: PathBuf,
    /// The CA key (ca-key.pem from init, kept offline).
    #[arg(long, env = "CERTFLEET_REISSUE_CA_KEY")]
    pub ca_key: PathBuf,
    /// The current server certificate: the new one gets the same names.
    #[arg(long, env = "CERTFLEET_REISSUE_FROM")]
    pub from: Option<PathBuf>,
    /// DNS name or IP address for the new certificate (repeatable; added to --from's).
    #[arg(long = "san", env = "CERTFLEET_REISSUE_SANS", value_delimiter = ',')]
    pub sans: Vec<String>,
    /// Validity in days.
    #[arg(long, default_value_t = crate::pki::SERVER_VALIDITY_DAYS, env = "CERTFLEET_REISSUE_DAYS")]
    pub days: i64,
    /// Where server.pem and server-key.pem are written.
    #[arg(long, env = "CERTFLEET_REISSUE_OUT_DIR")]
    pub out_dir: PathBuf,
    /// Move existing server.pem/server-key.pem in --out-dir aside (*.replaced-TIME) first.
    #[arg(long, env = "CERTFLEET_REISSUE_REPLACE")]
    pub replace: bool,
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Delete what `[retention]` lets go, now.
    Run {
        /// Count what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The last scheduled alert and retention runs (which replica, when, what they did).
    Status,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[arg(long, env = "CERTFLEET_GRPC_LISTEN")]
    pub grpc_listen: Option<String>,
    #[arg(long, env = "CERTFLEET_HTTP_LISTEN")]
    pub http_listen: Option<String>,
    /// Serve gRPC without TLS. Only for tests behind a TLS-terminating proxy.
    #[arg(long, env = "CERTFLEET_INSECURE_PLAINTEXT")]
    pub insecure_plaintext: bool,
    #[arg(long, env = "CERTFLEET_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, env = "CERTFLEET_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// File holding an enroll secret (repeatable; adds to the config's list).
    #[arg(
        long = "enroll-secret-file",
        env = "CERTFLEET_ENROLL_SECRET_FILES",
        value_delimiter = ','
    )]
    pub enroll_secret_files: Vec<PathBuf>,
    /// Dashboard accounts file (`username:hash` lines), in addition to collector.toml's
    /// `[dashboard] users`: a compose secret or Kubernetes Secret.
    #[arg(long, env = "CERTFLEET_DASHBOARD_USERS_FILE")]
    pub dashboard_users_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TerminalCommand {
    /// List terminals with their last report and certificate count.
    List {
        #[arg(long, default_value = "table", value_parser = list_format())]
        format: Format,
    },
    /// Revoke a terminal (by id, machine id or hostname): its node key stops working and it
    /// cannot enroll again.
    Revoke { terminal: String },
    /// Let this terminal's PC enroll again (a reinstalled PC that lost its node key): its
    /// current node key stops working, and a one-time re-enroll token is printed. Only an agent
    /// presenting that token can claim the machine id.
    Reset { terminal: String },
    /// Write the list of revoked terminals (JSON) to keep with the database backups.
    ExportRevocations {
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Revoke again every terminal of a list from `export-revocations`, after restoring an
    /// older database backup (terminals the backup does not know are added as revoked).
    /// `-` reads the list from stdin (for `docker compose run -T … < FILE`).
    ImportRevocations { file: PathBuf },
    /// Terminals waiting for approval (`[enroll] approval = true`), oldest first.
    Pending {
        #[arg(long, default_value = "table", value_parser = list_format())]
        format: Format,
    },
    /// Approve a pending terminal (by id, machine id or hostname): its reports count from now.
    Approve { terminal: String },
}

/// Options shared by every report.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Evaluate at this time: RFC 3339, or a date meaning 00:00 in the display time zone.
    #[arg(long)]
    pub as_of: Option<String>,
    #[arg(long, default_value = "table", value_parser = report_format())]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// (terminal, office) pairs whose certificate is expired or expiring, most urgent first.
    Expiring {
        /// Window in days (default: reports.window_days, 60).
        #[arg(long, value_name = "DAYS")]
        within: Option<u32>,
        /// Only this office number (repeatable).
        #[arg(long = "office", value_name = "N")]
        offices: Vec<String>,
        /// Only this terminal hostname (repeatable).
        #[arg(long = "terminal", value_name = "HOSTNAME")]
        terminals: Vec<String>,
        /// Also list pairs that are fine.
        #[arg(long)]
        include_ok: bool,
        /// Only pairs in these tracking states (comma-separated: not_started, requested,
        /// reissue, stuck, on_hold, retired, renewed). Default: all but retired.
        #[arg(long, value_name = "STATES")]
        state: Option<String>,
        #[command(flatten)]
        common: ReportArgs,
    },
    /// Every terminal with its offices and the soonest expiry.
    Terminals {
        #[arg(long, value_name = "DAYS")]
        within: Option<u32>,
        #[command(flatten)]
        common: ReportArgs,
    },
    /// Every office with the terminals holding it; uncovered registry offices.
    Offices {
        #[arg(long, value_name = "DAYS")]
        within: Option<u32>,
        #[command(flatten)]
        common: ReportArgs,
    },
    /// Terminals holding certificates of two or more offices.
    MultiOffice {
        #[arg(long, value_name = "DAYS")]
        within: Option<u32>,
        #[command(flatten)]
        common: ReportArgs,
    },
    /// Terminals that have not reported for longer than DAYS (default: reports.stale_after_days).
    Stale {
        #[arg(long, value_name = "DAYS")]
        older_than: Option<u32>,
        #[command(flatten)]
        common: ReportArgs,
    },
    /// The expected-terminal list against the fleet, and outdated agents (= `coverage show`).
    Coverage {
        #[command(flatten)]
        common: ReportArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum CoverageCommand {
    /// Replace the expected-terminal list with a CSV file: hostname, machine id (optional),
    /// offices expected on the PC separated by `;` or spaces (header optional). Nothing is
    /// stored when any row is bad; the previous list stays.
    Import { file: PathBuf },
    /// The coverage report (= `report coverage`).
    Show {
        #[command(flatten)]
        common: ReportArgs,
    },
}

/// `--format` of reports: every [`Format`].
fn report_format() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(["table", "csv", "json"])
        .map(|name| Format::from_name(&name).expect("a possible value"))
}

/// `--format` of lists (terminals, offices, alert history): a table or JSON.
fn list_format() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(["table", "json"])
        .map(|name| Format::from_name(&name).expect("a possible value"))
}

#[derive(Debug, Subcommand)]
pub enum OfficesCommand {
    /// Import office number, name, site, owner e-mail from a CSV file (header optional).
    /// Idempotent; nothing is imported when any row is bad.
    Import { file: PathBuf },
    /// List the registry.
    List {
        #[arg(long, default_value = "table", value_parser = list_format())]
        format: Format,
    },
}

// Hand-written so that the password in `--database-url` never reaches a log.
impl std::fmt::Debug for GlobalArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalArgs")
            .field("config", &self.config)
            .field(
                "database_url",
                &self
                    .database_url
                    .as_deref()
                    .map(certfleet_config::secrets::redact_url),
            )
            .field("data_dir", &self.data_dir)
            .field("database_password_file", &self.database_password_file)
            .finish()
    }
}

impl GlobalArgs {
    fn file_config(&self) -> Result<FileConfig> {
        match &self.config {
            Some(path) => Ok(FileConfig::load(path)?),
            None => Ok(FileConfig::default()),
        }
    }

    fn overrides(&self) -> Overrides {
        Overrides {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            database_password_file: self.database_password_file.clone(),
            ..Overrides::default()
        }
    }

    /// Opens the configured store for every subcommand but `serve` and `migrate`: the database
    /// must exist with this binary's schema; nothing is created or migrated.
    pub async fn open_store(&self) -> Result<SharedStore> {
        let db = DatabaseSettings::resolve(&self.file_config()?, &self.overrides())?;
        open_store(&db, OpenMode::Existing).await
    }
}

/// Imports the office registry file `path`, its numbers checked by the `[selection]` rules.
async fn import_registry(
    store: &dyn store::Store,
    path: &std::path::Path,
    selector: &certfleet_certinfo::Selector,
) -> Result<crate::registry::ImportSummary> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} (UTF-8 CSV expected)", path.display()))?;
    crate::registry::import(store, &text, selector.office_rule(), chrono::Utc::now())
        .await
        .with_context(|| format!("{} was not imported", path.display()))
}

async fn open_store(db: &DatabaseSettings, mode: OpenMode) -> Result<SharedStore> {
    store::open_in(
        db.database_url.as_ref().map(|u| u.expose()),
        &db.data_dir,
        db.max_connections,
        mode,
    )
    .await
    .with_context(|| match &db.database_url {
        Some(_) => "cannot open the PostgreSQL database given by --database-url".to_owned(),
        None => format!(
            "cannot open the SQLite database in {}",
            db.data_dir.display()
        ),
    })
}

/// Resolves serve settings from file, flags and environment (validated, nothing bound yet).
pub fn serve_settings(global: &GlobalArgs, args: &ServeArgs) -> Result<Settings> {
    let overrides = Overrides {
        grpc_listen: args.grpc_listen.clone(),
        http_listen: args.http_listen.clone(),
        insecure_plaintext: args.insecure_plaintext,
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        enroll_secret_files: args.enroll_secret_files.clone(),
        ..global.overrides()
    };
    let mut file = global.file_config()?;
    if let Some(path) = &args.dashboard_users_file {
        file.dashboard.users_file = Some(path.clone());
    }
    Ok(Settings::resolve(file, overrides)?)
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init {
            dir,
            sans,
            ca_key_dir,
        } => {
            let sans = if sans.is_empty() {
                vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
            } else {
                sans
            };
            let out = crate::init::init(
                &dir,
                &sans,
                cli.global.data_dir.as_deref(),
                ca_key_dir.as_deref(),
            )
            .with_context(|| format!("init in {}", dir.display()))?;
            println!("Created the collector's files in {}:", dir.display());
            println!("  config:        {}", out.config.display());
            println!("  CA for agents: {}", out.ca_cert.display());
            println!("  enroll secret: {}", out.enroll_secret.display());
            println!(
                "  CA key:        {} (keep it offline; only reissue-server-cert needs it)",
                out.ca_key.display()
            );
            println!(
                "  data_dir:      {} (the embedded database, for serve and every command)",
                out.data_dir.display()
            );
            println!(
                "Start it with: certfleet-collector serve --config {}",
                out.config.display()
            );
            Ok(())
        }
        Command::Serve(args) => {
            let settings = serve_settings(&cli.global, &args)?;
            let store = open_store(&settings.database(), OpenMode::Migrate).await?;
            if let Some(path) = &settings.office_registry {
                // The registry file in the config is imported at start (idempotent upsert), so
                // deployments that manage it as a file need no separate import step.
                let summary = import_registry(store.as_ref(), path, &settings.selector).await?;
                tracing::info!(
                    rows = summary.rows,
                    changed = summary.changed,
                    "office registry imported"
                );
            }
            let grpc = tokio::net::TcpListener::bind(settings.grpc_listen)
                .await
                .with_context(|| format!("cannot listen for gRPC on {}", settings.grpc_listen))?;
            let http = tokio::net::TcpListener::bind(settings.http_listen)
                .await
                .with_context(|| format!("cannot listen for HTTP on {}", settings.http_listen))?;
            crate::server::run(settings, store, grpc, http, shutdown_signal()).await?;
            Ok(())
        }
        Command::Migrate => {
            let db =
                DatabaseSettings::resolve(&cli.global.file_config()?, &cli.global.overrides())?;
            open_store(&db, OpenMode::Migrate).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::ReissueServerCert(args) => run_reissue(&args),
        Command::Retention { command } => run_retention(&cli.global, command).await,
        Command::Report { command } => run_report(&cli.global, command).await,
        Command::Offices { command } => run_offices(&cli.global, command).await,
        Command::Coverage { command } => run_coverage(&cli.global, command).await,
        Command::Alerts { command } => run_alerts(&cli.global, command).await,
        Command::Track { command } => track::run_track(&cli.global, command).await,
        Command::Calendar { command } => track::run_calendar(&cli.global, command).await,
        Command::HashPassword { user } => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(
                password.chars().count() >= 10,
                "use a password of at least 10 characters"
            );
            let hash = certfleet_dashboard::hash_password(password);
            match user {
                Some(user) => {
                    anyhow::ensure!(
                        !user.trim().is_empty() && !user.contains(':') && !user.contains('\n'),
                        "--user must be a non-empty name without ':'"
                    );
                    println!("{}:{hash}", user.trim());
                }
                None => println!("{hash}"),
            }
            Ok(())
        }
        Command::Demo { args } => run_demo(&args),
        Command::Terminal { command } => {
            let store = cli.global.open_store().await?;
            match command {
                TerminalCommand::List { format } => {
                    let terminals = store.list_terminals().await?;
                    let mut text = String::new();
                    match format {
                        Format::Json => {
                            writeln!(text, "{}", certfleet_reports::json::to_string(&terminals))?
                        }
                        Format::Table | Format::Csv => {
                            writeln!(
                                text,
                                "{:>6}  {:<24} {:<36} {:<20} {:>5}  STATUS",
                                "ID", "HOSTNAME", "MACHINE ID", "LAST REPORT", "CERTS"
                            )?;
                            for t in terminals {
                                let last = t
                                    .last_report_at
                                    .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                                    .unwrap_or_else(|| "never".into());
                                let status = if t.revoked_at.is_some() {
                                    "revoked"
                                } else if t.pending_since.is_some() {
                                    "pending"
                                } else {
                                    "active"
                                };
                                writeln!(
                                    text,
                                    "{:>6}  {:<24} {:<36} {:<20} {:>5}  {status}",
                                    t.id,
                                    printable(&t.hostname),
                                    printable(&t.machine_id),
                                    last,
                                    t.certificate_count
                                )?;
                            }
                        }
                    }
                    emit(&text)
                }
                TerminalCommand::Reset { terminal } => {
                    let t = store.find_terminal(&terminal).await?;
                    let facts = certfleet_store::TerminalFacts {
                        machine_id: t.machine_id.clone(),
                        hostname: t.hostname.clone(),
                        os_name: t.os_name.clone(),
                        os_version: t.os_version.clone(),
                        agent_version: t.agent_version.clone(),
                    };
                    // The token has a node key's shape, so an agent can present it where it
                    // would present its old key; the database keeps only its hash.
                    let token = crate::service::new_node_key();
                    let placeholder = format!(
                        "{}{}",
                        certfleet_store::RESET_KEY_PREFIX,
                        crate::service::node_key_hash(&token)
                    );
                    store
                        .enroll(
                            &facts,
                            &placeholder,
                            certfleet_store::EnrollAuthority::Operator,
                            chrono::Utc::now(),
                        )
                        .await?;
                    println!(
                        "terminal {} ({}, machine id {}) was reset: its old node key no longer works.\n\
                         One-time re-enroll token (only the PC holding it can enroll this machine id again):\n\
                         \n    {token}\n\n\
                         On that PC, as an administrator, write the token into the agent's state directory as \
                         the file node-key (replacing it) and run the agent once, with the enroll secret at \
                         hand; it enrolls again and stores its new key. See docs/OPERATIONS.md.",
                        t.id,
                        printable(&t.hostname),
                        printable(&t.machine_id)
                    );
                    Ok(())
                }
                TerminalCommand::Pending { format } => {
                    let pending = store.pending_terminals().await?;
                    let mut text = String::new();
                    match format {
                        Format::Json => {
                            writeln!(text, "{}", certfleet_reports::json::to_string(&pending))?
                        }
                        Format::Table | Format::Csv => {
                            writeln!(
                                text,
                                "{:>6}  {:<24} {:<36} {:<20} {:<39} {:>5}",
                                "ID", "HOSTNAME", "MACHINE ID", "PENDING SINCE", "FROM", "CERTS"
                            )?;
                            for t in pending {
                                let since = t
                                    .pending_since
                                    .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                                    .unwrap_or_default();
                                writeln!(
                                    text,
                                    "{:>6}  {:<24} {:<36} {:<20} {:<39} {:>5}",
                                    t.id,
                                    printable(&t.hostname),
                                    printable(&t.machine_id),
                                    since,
                                    printable(t.enrolled_from.as_deref().unwrap_or("-")),
                                    t.certificate_count
                                )?;
                            }
                        }
                    }
                    emit(&text)
                }
                TerminalCommand::Approve { terminal } => {
                    let t = store.find_terminal(&terminal).await?;
                    let was_pending = t.pending_since.is_some();
                    let t = store.approve_terminal(t.id, chrono::Utc::now()).await?;
                    if was_pending {
                        println!(
                            "approved terminal {} ({}, machine id {}): its reports count from now",
                            t.id,
                            printable(&t.hostname),
                            printable(&t.machine_id)
                        );
                    } else {
                        println!(
                            "terminal {} ({}) was not pending; nothing changed",
                            t.id,
                            printable(&t.hostname)
                        );
                    }
                    Ok(())
                }
                TerminalCommand::Revoke { terminal } => {
                    let t = store.find_terminal(&terminal).await?;
                    let t = store.revoke_terminal(t.id, chrono::Utc::now()).await?;
                    println!(
                        "revoked terminal {} ({}, machine id {})",
                        t.id,
                        printable(&t.hostname),
                        printable(&t.machine_id)
                    );
                    // Advice, on stderr: stdout stays the one line that says what was done.
                    eprintln!(
                        "keep the list of revocations with your backups: certfleet-collector \
                         terminal export-revocations --out FILE (docs/OPERATIONS.md)"
                    );
                    Ok(())
                }
                TerminalCommand::ExportRevocations { out } => {
                    let text = crate::revocations::export(&store, chrono::Utc::now()).await?;
                    match out {
                        Some(path) => {
                            std::fs::write(&path, text)
                                .with_context(|| format!("cannot write {}", path.display()))?;
                            let n = store.revocations().await?.len();
                            println!("wrote {n} revocation(s) to {}", path.display());
                            Ok(())
                        }
                        None => emit(&text),
                    }
                }
                TerminalCommand::ImportRevocations { file } => {
                    let text = if file.as_os_str() == "-" {
                        std::io::read_to_string(std::io::stdin()).context("reading stdin")?
                    } else {
                        std::fs::read_to_string(&file)
                            .with_context(|| format!("cannot read {}", file.display()))?
                    };
                    let s = crate::revocations::import(&store, &text)
                        .await
                        .with_context(|| format!("{} was not imported", file.display()))?;
                    println!(
                        "{} already revoked, {} revoked again, {} unknown terminal(s) added as revoked",
                        s.already_revoked, s.revoked_again, s.added_revoked
                    );
                    Ok(())
                }
            }
        }
    }
}

/// `report …`: builds the report through the same [`certfleet_reports::params::run`] as the HTTP
/// API and prints it.
async fn run_report(global: &GlobalArgs, command: ReportCommand) -> Result<()> {
    use certfleet_reports::{ReportKind, ReportParams, format};
    let (kind, params, common) = match command {
        ReportCommand::Expiring {
            within,
            offices,
            terminals,
            include_ok,
            state,
            common,
        } => (
            ReportKind::Expiring,
            ReportParams {
                within,
                offices,
                terminals,
                include_ok,
                states: match state {
                    Some(text) => certfleet_reports::params::parse_states(&text)?,
                    None => Vec::new(),
                },
                ..ReportParams::default()
            },
            common,
        ),
        ReportCommand::Terminals { within, common } => (
            ReportKind::Terminals,
            ReportParams {
                within,
                ..ReportParams::default()
            },
            common,
        ),
        ReportCommand::Offices { within, common } => (
            ReportKind::Offices,
            ReportParams {
                within,
                ..ReportParams::default()
            },
            common,
        ),
        ReportCommand::MultiOffice { within, common } => (
            ReportKind::MultiOffice,
            ReportParams {
                within,
                ..ReportParams::default()
            },
            common,
        ),
        ReportCommand::Stale { older_than, common } => (
            ReportKind::Stale,
            ReportParams {
                older_than,
                ..ReportParams::default()
            },
            common,
        ),
        ReportCommand::Coverage { common } => {
            (ReportKind::Coverage, ReportParams::default(), common)
        }
    };
    let params = ReportParams {
        as_of: common.as_of,
        ..params
    };
    let settings = global.file_config()?.report_settings()?;
    let store = global.open_store().await?;
    let report = certfleet_reports::params::run(
        store.as_ref(),
        kind,
        &params,
        chrono::Utc::now(),
        &settings,
    )
    .await?;
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match common.format {
        Format::Json => report
            .write_json(&mut out)
            .and_then(|()| out.write_all(b"\n")),
        Format::Csv => format::write_csv(&report, settings.time_zone, &mut out),
        Format::Table => out.write_all(format::to_table(&report, settings.time_zone).as_bytes()),
    };
    quiet_on_broken_pipe(written.and_then(|()| out.flush()))
}

/// `coverage …`: the expected-terminal list and its report.
async fn run_coverage(global: &GlobalArgs, command: CoverageCommand) -> Result<()> {
    match command {
        CoverageCommand::Import { file: path } => {
            let selector = global.file_config()?.selector()?;
            let store = global.open_store().await?;
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {} (UTF-8 CSV expected)", path.display()))?;
            let rows = crate::coverage::import(
                store.as_ref(),
                &text,
                selector.office_rule(),
                chrono::Utc::now(),
            )
            .await
            .with_context(|| format!("{} was not imported", path.display()))?;
            println!(
                "imported {rows} expected PC(s) from {} (the previous list was replaced)",
                path.display()
            );
            Ok(())
        }
        CoverageCommand::Show { common } => {
            run_report(global, ReportCommand::Coverage { common }).await
        }
    }
}

/// `offices …`: the office registry.
async fn run_offices(global: &GlobalArgs, command: OfficesCommand) -> Result<()> {
    let file = global.file_config()?;
    let store = global.open_store().await?;
    match command {
        OfficesCommand::Import { file: path } => {
            let summary = import_registry(store.as_ref(), &path, &file.selector()?).await?;
            println!(
                "imported {} office(s) from {} ({} new or changed)",
                summary.rows,
                path.display(),
                summary.changed
            );
            Ok(())
        }
        OfficesCommand::List { format } => {
            let offices = store.list_offices().await?;
            let mut text = String::new();
            match format {
                Format::Json => writeln!(text, "{}", certfleet_reports::json::to_string(&offices))?,
                Format::Table | Format::Csv => {
                    for o in offices {
                        writeln!(
                            text,
                            "{}  {}  {}  {}",
                            printable(&o.office_number),
                            printable(&o.name),
                            printable(&o.site),
                            printable(&o.owner_email)
                        )?;
                    }
                }
            }
            emit(&text)
        }
    }
}

async fn run_alerts(global: &GlobalArgs, command: AlertsCommand) -> Result<()> {
    let file = global.file_config()?;
    let (reports_settings, alert_settings) = file.report_and_alert_settings()?;
    let store = global.open_store().await?;
    match command {
        AlertsCommand::Run { dry_run, as_of } => {
            let as_of = match as_of {
                Some(text) => certfleet_reports::parse_as_of(&text, reports_settings.time_zone)?,
                None => chrono::Utc::now(),
            };
            let channels = certfleet_alerts::Channels::new(
                alert_settings.smtp.as_ref(),
                &alert_settings.webhooks,
            )?;
            let summary = certfleet_alerts::run(
                store.as_ref(),
                &reports_settings,
                &alert_settings,
                &channels,
                as_of,
                dry_run,
            )
            .await?;
            if !summary.leader {
                println!("another collector is running the alerts right now; nothing done");
                return Ok(());
            }
            let verb = if dry_run { "would decide" } else { "decided" };
            println!(
                "{verb} {} alert(s) as of {}",
                summary.decided.len(),
                as_of.to_rfc3339()
            );
            for (key, threshold) in &summary.decided {
                println!("  {threshold:<9} {}", printable(key));
            }
            for (recipient, n) in &summary.delivered {
                println!("delivered {n} alert(s) to {}", printable(recipient));
            }
            for (recipient, error) in &summary.failed {
                println!(
                    "FAILED to deliver to {}: {} (will retry)",
                    printable(recipient),
                    printable(error)
                );
            }
            if !summary.failed.is_empty() {
                anyhow::bail!("{} digest(s) could not be delivered", summary.failed.len());
            }
            if !dry_run {
                crate::maintenance::record_alert_success(&store, &summary).await;
            }
            Ok(())
        }
        AlertsCommand::History { limit, format } => {
            let records = store.alert_history(limit).await?;
            let mut text = String::new();
            match format {
                Format::Json => writeln!(text, "{}", certfleet_reports::json::to_string(&records))?,
                Format::Table | Format::Csv => {
                    writeln!(
                        text,
                        "{:<17} {:<10} {:<11} {:<20} {:<32} {:<8} ATTEMPTS",
                        "DECIDED", "THRESHOLD", "OFFICE", "TERMINAL", "RECIPIENT", "STATE"
                    )?;
                    for r in records {
                        writeln!(
                            text,
                            "{:<17} {:<10} {:<11} {:<20} {:<32} {:<8} {}",
                            r.decided_at.format("%Y-%m-%d %H:%M"),
                            printable(&r.threshold),
                            printable(r.office_number.as_deref().unwrap_or("-")),
                            printable(r.terminal.as_ref().map_or("-", |t| t.hostname.as_str())),
                            printable(&r.recipient),
                            printable(&r.state),
                            r.attempts
                        )?;
                    }
                }
            }
            emit(&text)
        }
    }
}

/// `reissue-server-cert`: a new server certificate from the existing CA.
fn run_reissue(args: &ReissueArgs) -> Result<()> {
    let issued = crate::reissue::reissue(&crate::reissue::Request {
        ca_cert: args.ca_cert.clone(),
        ca_key: args.ca_key.clone(),
        from: args.from.clone(),
        sans: args.sans.clone(),
        days: args.days,
        out_dir: args.out_dir.clone(),
        replace: args.replace,
    })?;
    println!(
        "issued {} for {} (valid until {}) with {}",
        issued.cert.display(),
        issued.sans.join(", "),
        issued.not_after.format("%Y-%m-%d"),
        issued.key.display()
    );
    for old in &issued.replaced {
        println!("  previous file kept as {}", old.display());
    }
    if issued.ca_not_after < issued.not_after {
        println!(
            "WARNING: the CA expires on {}, before this certificate: plan the CA change \
             (docs/OPERATIONS.md, \"Rotating secrets and certificates\")",
            issued.ca_not_after.format("%Y-%m-%d")
        );
    }
    println!("restart the collector (every replica) to serve it");
    Ok(())
}

/// `retention …`.
async fn run_retention(global: &GlobalArgs, command: RetentionCommand) -> Result<()> {
    let (_, retention) = global.file_config()?.report_and_retention_settings()?;
    let store = global.open_store().await?;
    match command {
        RetentionCommand::Run { dry_run } => {
            let pruned =
                crate::maintenance::run_retention(&store, &retention, chrono::Utc::now(), dry_run)
                    .await?;
            let verb = if dry_run { "would delete" } else { "deleted" };
            let mut text = String::new();
            for (kind, n) in pruned.by_kind() {
                writeln!(text, "{verb} {n:>9} {kind}")?;
            }
            emit(&text)
        }
        RetentionCommand::Status => {
            let runs = store.maintenance_runs().await?;
            let mut text = String::new();
            writeln!(
                text,
                "{:<10} {:<21} {:<30} {:<21} LAST RESULT",
                "TASK", "LAST SLOT", "CLAIMED BY", "LAST SUCCESS"
            )?;
            let stamp = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or("-".to_owned(), |t| {
                    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
                })
            };
            for r in runs {
                writeln!(
                    text,
                    "{:<10} {:<21} {:<30} {:<21} {}",
                    r.task,
                    stamp(r.claimed_slot),
                    r.claimed_by.as_deref().unwrap_or("-"),
                    stamp(r.last_success_at),
                    r.last_result.as_deref().unwrap_or("-")
                )?;
            }
            emit(&text)
        }
    }
}

/// Name of the demo program `demo` runs (beside this executable).
pub const DEMO_PROGRAM: &str = "certfleet-demo";

/// `demo`: runs `certfleet-demo` from the directory of this executable with `args`. The demo
/// is its own program because it runs real agents, and the collector does not link the agent.
/// On Unix the demo replaces this process, so Ctrl-C and SIGTERM reach it directly.
fn run_demo(args: &[std::ffi::OsString]) -> Result<()> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let demo = exe
        .with_file_name(DEMO_PROGRAM)
        .with_extension(std::env::consts::EXE_EXTENSION);
    if !demo.is_file() {
        build_demo_under_cargo(&exe)?;
    }
    anyhow::ensure!(
        demo.is_file(),
        "{} is not installed next to {}; build it with `cargo build --release -p certfleet-demo` \
         (or run the demo with `cargo run --release -p certfleet-demo`)",
        demo.display(),
        exe.display()
    );
    let mut command = std::process::Command::new(&demo);
    command.args(args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let err = command.exec();
        Err(err).with_context(|| format!("starting {}", demo.display()))
    }
    #[cfg(not(unix))]
    {
        let status = command
            .status()
            .with_context(|| format!("starting {}", demo.display()))?;
        anyhow::ensure!(status.success(), "{} failed: {status}", demo.display());
        Ok(())
    }
}

/// Builds `certfleet-demo` beside this executable when this process was started by
/// `cargo run` (the README's `cargo run --release -p certfleet-collector -- demo` on a fresh
/// clone builds only the collector). Cargo sets `CARGO` and `CARGO_MANIFEST_DIR` for the
/// programs it runs; outside cargo this does nothing and the caller reports the missing demo.
fn build_demo_under_cargo(exe: &std::path::Path) -> Result<()> {
    let (Some(cargo), Some(manifest_dir)) = (
        std::env::var_os("CARGO"),
        std::env::var_os("CARGO_MANIFEST_DIR"),
    ) else {
        return Ok(());
    };
    let workspace_demo = std::path::Path::new(&manifest_dir).join("../demo/Cargo.toml");
    if !workspace_demo.is_file() {
        return Ok(());
    }
    // The profile directory is the one this executable was built into (`release` or `debug`).
    let release = exe
        .parent()
        .and_then(|dir| dir.file_name())
        .is_some_and(|name| name == "release");
    eprintln!("building {DEMO_PROGRAM} (first run of the demo from source) …");
    let mut build = std::process::Command::new(cargo);
    build.current_dir(&manifest_dir).args([
        "build",
        "--locked",
        "-p",
        DEMO_PROGRAM,
        "--bin",
        DEMO_PROGRAM,
    ]);
    if release {
        build.arg("--release");
    }
    let status = build
        .status()
        .with_context(|| format!("running cargo to build {DEMO_PROGRAM}"))?;
    anyhow::ensure!(status.success(), "building {DEMO_PROGRAM} failed: {status}");
    Ok(())
}

/// Writes command output to stdout. A closed pipe (`… | head`) ends the output quietly, as
/// the reader asked for no more; other write errors are reported.
fn emit(text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    quiet_on_broken_pipe(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// Treats a broken pipe on stdout as the end of the output rather than an error.
fn quiet_on_broken_pipe(result: std::io::Result<()>) -> Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("could not write to stdout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn debug_of_the_command_line_hides_the_database_password() {
        let cli = Cli::parse_from([
            "certfleet-collector",
            "--database-url",
            "postgres://certfleet:db-password-42@db.example.org/certfleet",
            "migrate",
        ]);
        let text = format!("{cli:?}");
        assert!(!text.contains("db-password-42"), "{text}");
        assert!(text.contains("certfleet:***@db.example.org"), "{text}");
    }

    #[test]
    fn a_closed_pipe_ends_output_quietly_but_other_errors_do_not() {
        let broken = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed");
        assert!(quiet_on_broken_pipe(Err(broken)).is_ok());
        let full = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        let err = quiet_on_broken_pipe(Err(full)).unwrap_err();
        assert!(format!("{err:#}").contains("could not write to stdout"));
    }
}
