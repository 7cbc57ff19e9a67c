//! certfleet collector library.
#![forbid(unsafe_code)]
