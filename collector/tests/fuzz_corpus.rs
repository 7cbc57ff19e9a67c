//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/`) through the same checks
//! as the cargo-fuzz targets (`fuzz/checks/*.rs`), on the stable toolchain: an input that once
//! crashed a target and was added to its corpus stays a regression test without nightly.
//!
//! It lives in the collector's tests because the collector links all three subjects: the
//! agent's element and file front ends, and its own report validation.

#[path = "../../fuzz/checks/element.rs"]
mod element;
#[path = "../../fuzz/checks/file_front_ends.rs"]
mod file_front_ends;
#[path = "../../fuzz/checks/report_request.rs"]
mod report_request;

use std::path::{Path, PathBuf};

use certfleet_agent::report::StateDir;

/// The corpus files of one target; panics when there are none, so a moved corpus cannot make
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
fn element_corpus_replays_without_panic() {
    for (_, data) in corpus("element") {
        element::run(&data);
    }
}

#[test]
fn file_front_ends_corpus_replays_without_panic() {
    for (_, data) in corpus("file_front_ends") {
        file_front_ends::run(&data);
    }
}

#[test]
fn report_request_corpus_replays_with_invariants() {
    // The collector has no direct `prost` dependency, so the bytes are decoded by the agent's
    // spool reader, which is the same `ReportRequest::decode` of a whole message that tonic's
    // codec performs.
    let tmp = tempfile::tempdir().unwrap();
    let state = StateDir::open(tmp.path()).unwrap();
    let spool = tmp.path().join("pending-report.pb");
    let mut decoded = 0;
    for (path, data) in corpus("report_request") {
        std::fs::write(&spool, &data).unwrap();
        match state.spooled() {
            Ok(Some(req)) => {
                decoded += 1;
                report_request::check(req);
            }
            Ok(None) => panic!("the spool file vanished"),
            // Bytes prost refuses never reach the collector; the spool reader moved them aside.
            Err(_) => assert!(!spool.exists(), "{}", path.display()),
        }
    }
    // The seeds are real agent reports; a corpus that no longer decodes tests nothing.
    assert!(decoded >= 5, "only {decoded} corpus files decode");
}
