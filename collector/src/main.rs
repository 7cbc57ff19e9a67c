//! `certfleet-collector`: parses the command line, starts tracing and runs the library.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: a fleet-wide report or `/metrics` scrape at 100k
/// terminals allocates tens of MB for a moment on whichever worker thread runs it, and glibc's
/// per-thread arenas keep such memory mapped after it is freed, so the collector's RSS settled
/// at the sum of past peaks. mimalloc returns freed pages to the OS shortly after.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = certfleet_collector::cli::Cli::parse();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,h2=warn,tower=warn"))
        // reqwest logs request URLs at debug level, and a Slack or Teams webhook URL is a
        // credential: never below info, whatever RUST_LOG asks.
        .add_directive("reqwest=info".parse().expect("a valid directive"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match certfleet_collector::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
