//! Fuzzes the collector's report validation from the wire: arbitrary bytes are decoded as a
//! `ReportRequest` the way tonic's prost codec decodes a gRPC message body, then validated by
//! `ingest::validate_facts` and `ingest::validate_report` with invariants checked
//! (`checks/report_request.rs`).
#![no_main]

#[path = "../checks/report_request.rs"]
mod check;

use certfleet_proto::v1 as pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    // Bytes prost refuses are refused by tonic before any collector code runs.
    if let Ok(req) = pb::ReportRequest::decode(data) {
        check::check(req);
    }
});
