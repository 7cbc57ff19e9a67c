//! Reporting to the collector: terminal facts, enrollment, snapshot delivery over gRPC+TLS with
//! retries (directly or through an HTTP proxy's CONNECT tunnel), and the spool that keeps an
//! undelivered snapshot for the next run.

mod backoff;
mod client;
mod facts;
pub mod proxy;
mod run;
mod state;
mod status;
pub mod tunnel;

pub use backoff::Backoff;
pub use client::{Delivery, ReportError, ReportSettings, build_request, deliver};
pub use facts::{FactOverrides, FactsError, WindowsVersion};
pub use run::{RunSchedule, report_once, run_loop};
pub use state::{StateDir, StateError};
pub use status::{AckRecord, Outcome, RunRecord, Status};
