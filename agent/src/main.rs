//! `certfleet-agent`: command-line entry point. Parses arguments, sets up logging, calls the
//! library; all logic lives in the library so the reporting subcommands can share it.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use certfleet_agent::config::{Config, password_from_env};
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
    /// Output format.
    #[arg(long, env = "CERTFLEET_FORMAT", value_enum, default_value = "table")]
    format: Format,
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

fn scan_config(args: &ScanArgs) -> anyhow::Result<ScanConfig> {
    let file = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
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
    let config = scan_config(args)?;
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    match &cli.command {
        Command::Scan(args) => run_scan(args),
    }
}
