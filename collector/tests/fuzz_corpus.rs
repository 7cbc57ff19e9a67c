//! Replays the committed corpus of the collector's fuzz target (`fuzz/corpus/report_request/`)
//! through the same check as the cargo-fuzz target (`fuzz/checks/report_request.rs`), on the
//! stable toolchain: an input that once crashed the target and was added to its corpus stays a
//! regression test without nightly. (The agent's targets are replayed by
//! `agent/tests/fuzz_corpus.rs`.)

#[path = "../../fuzz/checks/report_request.rs"]
mod report_request;

use std::path::{Path, PathBuf};

use certfleet_proto::v1 as pb;
use prost::Message as _;

/// The corpus files of the target; panics when there are none, so a moved corpus cannot make
/// the replay silently pass.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "{} has only {} files",
        dir.display(),
        files.len()
    );
    files
}

#[test]
fn report_request_corpus_replays_with_invariants() {
    // Decoded as tonic's prost codec decodes a whole gRPC message body; bytes prost refuses
    // never reach the collector's validation.
    let mut decoded = 0;
    for (_, data) in corpus("report_request") {
        if let Ok(req) = pb::ReportRequest::decode(data.as_slice()) {
            decoded += 1;
            report_request::check(req);
        }
    }
    // The seeds are real agent reports; a corpus that no longer decodes tests nothing.
    assert!(decoded >= 5, "only {decoded} corpus files decode");
}
