//! Replays the committed corpora of the agent's fuzz targets (`fuzz/corpus/element/` and
//! `fuzz/corpus/file_front_ends/`) through the same checks as the cargo-fuzz targets
//! (`fuzz/checks/*.rs`), on the stable toolchain: an input that once crashed a target and was
//! added to its corpus stays a regression test without nightly. The collector's target is
//! replayed by `collector/tests/fuzz_corpus.rs`.

#[path = "../../fuzz/checks/element.rs"]
mod element;
#[path = "../../fuzz/checks/file_front_ends.rs"]
mod file_front_ends;

use std::path::{Path, PathBuf};

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
