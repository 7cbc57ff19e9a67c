//! certfleet agent library: certificate discovery on a PC and reporting to the collector.
//!
//! [`scan::scan`] runs the sources of SPEC §4 — profile store files ([`profiles`]), registry
//! and CryptoAPI stores (`windows`, Windows only), files and directories ([`files`]) — and
//! returns a deduplicated [`model::ScanResult`] whose types map onto the `certfleet.v1` wire
//! messages.
// `unsafe` is denied crate-wide and forbidden in every module but `windows` (the Win32 FFI),
// which must be able to allow it; `forbid` here would make that impossible.
#![deny(unsafe_code)]

pub mod asn1;
pub mod config;
pub mod element;
pub mod files;
pub mod formats;
pub mod install;
pub mod inventory;
pub mod model;
pub mod output;
pub mod pem;
pub mod pkcs12;
pub mod pkcs7;
pub mod profiles;
pub mod report;
pub mod scan;
#[cfg(any(windows, certfleet_check_windows))]
pub mod windows;

pub use model::{FoundCertificate, Location, ScanError, ScanResult, Sighting, Source};
pub use scan::{ScanConfig, scan};
