//! certfleet collector library.
#![forbid(unsafe_code)]
pub mod store;
