//! certfleet collector library: gRPC ingest from agents, storage, reports and the HTTP API.
//! The binary (`main.rs`) is a thin wrapper around [`cli::run`].
#![forbid(unsafe_code)]

pub mod alerts;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod http;
pub mod ingest;
pub mod init;
pub mod metrics;
pub mod pki;
pub mod registry;
pub mod reports;
pub mod server;
pub mod service;
pub mod store;
pub mod web;
