//! `certfleet-collector`: command-line entry point.
fn main() {}
