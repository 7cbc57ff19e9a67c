//! The single X.509 parser of certfleet: turns DER into the fields reports rely on and decides
//! which certificates are office certificates. The agent and the collector both call it, so one
//! parser decides every date.
#![forbid(unsafe_code)]

pub mod limits;
mod parse;
mod select;
#[cfg(feature = "verify")]
mod verify;

pub use parse::{CertError, CertInfo, MAX_DER_LEN, ServerCertNames, parse_der, server_cert_names};
pub use select::{
    DEFAULT_ISSUER_CN, DEFAULT_OFFICE_PATTERN, IssuerRule, OfficeRule, SelectionConfig, Selector,
    SelectorError,
};
#[cfg(feature = "verify")]
pub use verify::verify_issued_by;
