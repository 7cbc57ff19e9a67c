//! Tidy checks of the repository's habits (as rust-analyzer's tidy tests do), so they stay true
//! without anyone remembering them:
//! - every `.rs` file starts with a `//!` line saying what it is for;
//! - every path `ARCHITECTURE.md` names exists (a path with a `/` inside from the repository
//!   root, a bare file or directory name somewhere in the repository), and every workspace crate
//!   is in its code map;
//! - `allow(unsafe_code)` appears only where ARCHITECTURE.md's invariants say (the agent's
//!   `windows` module and `proto/build.rs`).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
}

/// Directories that hold no sources of ours.
fn skipped(dir: &Path) -> bool {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matches!(
        name,
        "target" | ".git" | "corpus" | "artifacts" | "node_modules"
    )
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if !skipped(&path) {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn all_rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&root(), &mut files);
    assert!(files.len() > 100, "found only {} .rs files", files.len());
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_rust_file_starts_with_a_module_doc_line() {
    let missing: Vec<String> = all_rust_files()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            !text.lines().next().is_some_and(|l| l.starts_with("//!"))
        })
        .map(|p| relative(&p))
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not start with a `//!` line saying what they are for:\n{}",
        missing.join("\n")
    );
}

#[test]
fn unsafe_is_allowed_only_in_the_windows_ffi_and_the_proto_build_script() {
    // The agent's Windows FFI module (one file or a directory) and the proto build script.
    let allowed = |p: &str| {
        p == "agent/src/windows.rs" || p.starts_with("agent/src/windows/") || p == "proto/build.rs"
    };
    let offenders: Vec<String> = all_rust_files()
        .into_iter()
        .map(|p| relative(&p))
        .filter(|p| !allowed(p) && p != "tests/tests/tidy.rs")
        .filter(|p| {
            std::fs::read_to_string(root().join(p))
                .unwrap()
                .contains("allow(unsafe_code)")
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "allow(unsafe_code) outside agent/src/windows* and proto/build.rs:\n{}",
        offenders.join("\n")
    );
}

/// The backquoted tokens of `text` that name a repository path: they contain a `/` or end in a
/// file extension, and hold no spaces, URLs, placeholders or commands.
fn named_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, piece) in text.split('`').enumerate() {
        if i % 2 == 0 || piece.is_empty() {
            continue; // outside backquotes
        }
        let looks_like_path = piece.contains('/')
            || [
                ".rs", ".md", ".sh", ".toml", ".sql", ".py", ".yaml", ".proto", ".json",
            ]
            .iter()
            .any(|ext| piece.ends_with(ext));
        let not_a_path = piece.contains(' ')
            || piece.contains("://")
            || piece.contains('…')
            || piece.starts_with('/')
            || piece.starts_with('.')
            || piece.starts_with('$')
            || piece.starts_with('-')
            || piece.contains('<')
            || piece.contains('\\')
            || piece.contains("::");
        if looks_like_path && !not_a_path {
            out.push(piece.trim_end_matches(['.', ',']).to_owned());
        }
    }
    out
}

/// `a/{b,c}/d` → `a/b/d`, `a/c/d`.
fn expand_braces(path: &str) -> Vec<String> {
    match (path.find('{'), path.find('}')) {
        (Some(open), Some(close)) if open < close => path[open + 1..close]
            .split(',')
            .flat_map(|alt| expand_braces(&format!("{}{alt}{}", &path[..open], &path[close + 1..])))
            .collect(),
        _ => vec![path.to_owned()],
    }
}

/// Whether `pattern` (a path, possibly with one `*` in its last component) exists.
fn exists(root: &Path, pattern: &str) -> bool {
    let Some(star) = pattern.find('*') else {
        return root.join(pattern).exists();
    };
    let (dir, file) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    assert!(
        star > dir.len(),
        "only the last component may hold `*`: {pattern}"
    );
    let (prefix, suffix) = file.split_once('*').unwrap();
    std::fs::read_dir(root.join(dir)).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
    })
}

/// Every file and directory name in the repository (directories with a trailing `/`).
fn all_names(dir: &Path, out: &mut std::collections::BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !skipped(&path) {
                out.insert(format!("{name}/"));
                all_names(&path, out);
            }
        } else {
            out.insert(name);
        }
    }
}

#[test]
fn every_path_in_the_architecture_document_exists() {
    let root = root();
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let paths = named_paths(&text);
    assert!(
        paths.len() > 40,
        "found only {} paths: {paths:?}",
        paths.len()
    );
    let mut names = std::collections::BTreeSet::new();
    all_names(&root, &mut names);
    let missing: Vec<String> = paths
        .iter()
        .flat_map(|p| expand_braces(p))
        .filter(|p| {
            if p.trim_end_matches('/').contains('/') {
                !exists(&root, p)
            } else {
                !names.contains(p.as_str())
            }
        })
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist (a path with a `/` from the repository \
         root, a bare name anywhere in it):\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_workspace_crate_is_in_the_code_map() {
    let root = root();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = &manifest[manifest.find("members = [").expect("workspace members")..];
    let members = &members[..members.find(']').unwrap()];
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut count = 0;
    for member in members.split('"').skip(1).step_by(2) {
        count += 1;
        assert!(
            text.contains(&format!("| `{member}/` |")),
            "workspace crate {member}/ has no row in ARCHITECTURE.md's code map"
        );
    }
    assert!(count >= 10, "read only {count} workspace members");
}

#[test]
fn the_path_reader_finds_paths_and_ignores_the_rest() {
    let text = "see `store/src/lib.rs`, `/healthz`, `certfleet-collector report …`, `main.rs`, \
                `a/{b,c}/d.rs`, `.proto` and `https://x/y`";
    assert_eq!(
        named_paths(text),
        ["store/src/lib.rs", "main.rs", "a/{b,c}/d.rs"]
    );
    assert_eq!(expand_braces("a/{b,c}/d.rs"), ["a/b/d.rs", "a/c/d.rs"]);
    assert!(!exists(&root(), "no/such/file.rs"));
    assert!(exists(&root(), "tests/tests/*.rs"));
}
