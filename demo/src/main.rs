//! `certfleet-demo`: parses the command line, starts tracing and runs the demo until Ctrl-C or
//! SIGTERM. `certfleet-collector demo` runs this program with the same arguments.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// A complete demo fleet on the embedded SQLite default in a temporary directory: real agents,
/// real collector, the expiring report and the dashboard until Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "certfleet-demo", version)]
struct Cli {
    /// Keep the demo's files here instead of a temporary directory.
    #[arg(long, env = "CERTFLEET_DEMO_DIR")]
    dir: Option<PathBuf>,
    /// Dashboard listener (falls back to a free port when taken).
    #[arg(
        long,
        env = "CERTFLEET_DEMO_HTTP_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    http_listen: SocketAddr,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The demo talks to a person on stdout; its logs stay quiet unless RUST_LOG asks.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let options = certfleet_demo::DemoOptions {
        dir: cli.dir,
        http_listen: cli.http_listen,
    };
    match certfleet_demo::run(options, certfleet_collector::cli::shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
