//! Windows FFI through windows-sys: the only module tree of the agent with `unsafe` code.
//!
//! Compiled on Windows, and on Linux when CI sets `--cfg certfleet_check_windows` so that
//! `cargo check` type-checks every FFI call without a Windows machine (windows-sys compiles
//! everywhere; only linking needs Windows). The real Windows build and its tests under Wine
//! are in `scripts/test-all.sh` and `tests/tests/windows_wine.rs`.
//!
//! - [`registry`]: an owning registry key handle and typed value reads, "not found" kept apart
//!   from every other failure;
//! - [`stores`]: the registry certificate stores and the CryptoAPI `CurrentUser\My` store;
//! - [`system`]: machine identity (MachineGuid, host name, OS version), accounts (SIDs and
//!   their names), the profile list and the final path of an open file;
//! - [`proxy`]: the WinHTTP and Internet Options proxy settings;
//! - [`acl`] and [`tasks`]: the data directory's private ACL and the Scheduled Task, for
//!   `certfleet-agent install` (`crate::install`).
#![allow(unsafe_code)]

pub mod acl;
pub mod proxy;
pub mod registry;
pub mod stores;
pub mod system;
pub mod tasks;

pub use stores::{scan_cryptoapi, scan_registry};

/// `s` as a NUL-terminated UTF-16 string for the wide Win32 APIs.
pub(crate) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// The UTF-16 text up to the first NUL (or the whole slice), lossily decoded.
pub(crate) fn from_wide(units: &[u16]) -> String {
    let end = units.iter().position(|u| *u == 0).unwrap_or(units.len());
    String::from_utf16_lossy(&units[..end])
}
