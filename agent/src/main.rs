//! `certfleet-agent`: command-line entry point.
fn main() {}
