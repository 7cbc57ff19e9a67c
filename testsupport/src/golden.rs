//! Golden files: a public format (report API, webhook payload, scan JSON) is compared with a
//! committed file, so any change to it shows up as a diff in review. `CERTFLEET_BLESS=1`
//! rewrites the files from the current output instead of comparing.

use std::path::Path;

/// Environment variable that makes [`assert_golden`] write the golden files.
pub const BLESS_ENV: &str = "CERTFLEET_BLESS";

/// Compares `actual` with the golden file at `path`, or writes it when [`BLESS_ENV`] is `1`.
///
/// # Panics
/// When the file is missing or differs; the message shows a line diff (`-` golden, `+` now)
/// and the command that regenerates the file.
pub fn assert_golden(path: &Path, actual: &str) {
    if std::env::var(BLESS_ENV).is_ok_and(|v| v == "1") {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the golden directory");
        }
        std::fs::write(path, actual).expect("write the golden file");
        return;
    }
    let expected = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => panic!(
            "golden file {} cannot be read ({e}); create it with {BLESS_ENV}=1 and review it",
            path.display()
        ),
    };
    if expected != actual {
        panic!(
            "{} differs from the output (- golden, + now):\n{}\nIf the change is intended, \
             rerun the test with {BLESS_ENV}=1 and commit the file with the change.",
            path.display(),
            line_diff(&expected, actual)
        );
    }
}

/// Indents compact JSON text without parsing it into a map, so the key order of the original
/// (part of what a golden file pins) is kept: a line break after `{`, `[` and `,`, and before
/// `}` and `]`, outside strings. Empty objects and arrays stay `{}` and `[]`.
pub fn pretty_json(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = compact.trim().chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.push(chars.next().expect("peeked"));
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

/// Lines shown around each change.
const CONTEXT: usize = 2;
/// Longest diff printed; the rest is summarized.
const MAX_LINES: usize = 200;

/// A unified-style line diff of `old` → `new` (longest common subsequence; golden files are
/// small enough for the quadratic table).
pub fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    if old.ends_with('\n') != new.ends_with('\n') {
        ops.push(('!', "(the files differ in their final newline)"));
    }
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut out = String::new();
    let mut shown = 0;
    let mut last: Option<usize> = None;
    for (k, op) in ops.iter().enumerate() {
        let near = changed.iter().any(|&c| c.abs_diff(k) <= CONTEXT);
        if !near {
            continue;
        }
        if last.is_some_and(|l| l + 1 != k) || (last.is_none() && k > 0) {
            out.push_str("…\n");
        }
        if shown == MAX_LINES {
            out.push_str(&format!("… and {} more changed line(s)\n", changed.len()));
            break;
        }
        out.push(op.0);
        out.push(' ');
        out.push_str(op.1);
        out.push('\n');
        shown += 1;
        last = Some(k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_removed_and_added_lines_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\n";
        let new = "a\nb\nc\nD\ne\nf\ng\n";
        let diff = line_diff(old, new);
        assert_eq!(diff, "…\n  b\n  c\n- d\n+ D\n  e\n  f\n");
    }

    #[test]
    fn pretty_json_keeps_key_order_and_strings() {
        let text = r#"{"z":1,"a":[],"s":"x,{y}\"","o":{"b":[1,2]}}"#;
        assert_eq!(
            pretty_json(text),
            "{\n  \"z\": 1,\n  \"a\": [],\n  \"s\": \"x,{y}\\\"\",\n  \"o\": {\n    \"b\": [\n      1,\n      2\n    ]\n  }\n}\n"
        );
    }

    #[test]
    fn missing_file_and_differences_fail_and_bless_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        let missing = std::panic::catch_unwind(|| assert_golden(&path, "1\n"));
        assert!(missing.is_err());
        std::fs::write(&path, "1\n").unwrap();
        assert_golden(&path, "1\n");
        let differs = std::panic::catch_unwind(|| assert_golden(&path, "2\n"));
        let message = *differs.unwrap_err().downcast::<String>().unwrap();
        assert!(message.contains("- 1\n+ 2\n"), "{message}");
        assert!(message.contains(BLESS_ENV), "{message}");
    }
}
