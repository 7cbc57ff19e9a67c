//! certfleet collector: the server and command line that assemble the other crates. gRPC
//! ingest from agents (`service`, `ingest`), the HTTP listener (`listener`: connections and
//! their timeouts; `http`: health, metrics, the report API) with the dashboard (`web`), the office registry import, `init` and its PKI, and
//! the CLI. Configuration is `certfleet-config`, storage `certfleet-store`, reports
//! `certfleet-reports`, alerts `certfleet-alerts`. The binary (`main.rs`) is a thin wrapper
//! around [`cli::run`].
#![forbid(unsafe_code)]

pub mod admission;
pub mod calendar;
pub mod cli;
pub mod coverage;
pub mod error;
pub mod http;
pub mod ingest;
pub mod init;
pub mod listener;
pub mod maintenance;
pub mod metrics;
pub mod ops_metrics;
pub mod pki;
pub mod registry;
pub mod reissue;
pub mod revocations;
pub mod self_watch;
pub mod server;
pub mod service;
pub mod tracking;
pub mod web;
