//! The JSON layout of reports and CLI lists: compact, with each element of the outer lists
//! (the document itself when it is an array, or an array member of the top-level object, such
//! as `rows`) on a line of its own.
//!
//! One row per line keeps a 20k-row report grep-able and diff-able and lets a reader stream it
//! line by line, at the size and speed of compact JSON: pretty printing made the expiring report
//! at 100k terminals 25 % larger and its writing the slowest step of the request. `jq .` pretty
//! prints it for reading.

use std::io::{self, Write};

use certfleet_model::{ExpiringReport, PairRow};
use serde::Serialize;
use serde_json::ser::Formatter;

/// Arrays at this depth or above are row lists (depth 1: the document, 2: its members).
const ROW_LIST_DEPTH: usize = 2;

/// A [`Formatter`] that writes compact JSON (the trait's defaults) and breaks the lines of row
/// lists.
#[derive(Debug, Default)]
struct RowPerLine {
    /// Nesting of objects and arrays around the value being written.
    depth: usize,
    /// Whether the row list open at depth `i + 1` has an element yet (decides the closing line
    /// break).
    row_list_has_value: [bool; ROW_LIST_DEPTH],
}

impl Formatter for RowPerLine {
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth -= 1;
        w.write_all(b"}")
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        if self.depth <= ROW_LIST_DEPTH {
            self.row_list_has_value[self.depth - 1] = false;
        }
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.depth <= ROW_LIST_DEPTH && self.row_list_has_value[self.depth - 1] {
            w.write_all(b"\n")?;
        }
        self.depth -= 1;
        w.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if self.depth <= ROW_LIST_DEPTH {
            self.row_list_has_value[self.depth - 1] = true;
            w.write_all(if first { b"\n" } else { b",\n" })
        } else if first {
            Ok(())
        } else {
            w.write_all(b",")
        }
    }
}

/// Writes `value` in the report layout.
pub fn to_writer<W: Write, T: Serialize + ?Sized>(w: W, value: &T) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(w, RowPerLine::default());
    value.serialize(&mut ser).map_err(io::Error::other)
}

/// `value` in the report layout.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    to_writer(&mut out, value).expect("report types always serialize");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// `report` in the report layout, byte for byte what [`to_writer`] writes, with the rows
/// rendered on every core: at 20k rows rendering is the largest step of `report expiring`
/// after the database reads. The first share is written as it is rendered; the others are
/// rendered meanwhile and follow in order.
pub fn write_expiring(w: &mut dyn Write, report: &ExpiringReport) -> io::Result<()> {
    // The envelope of `#[derive(Serialize)] ExpiringReport`, field for field; the test
    // `parallel_expiring_is_the_serde_layout` holds the two together.
    w.write_all(b"{\"as_of\":")?;
    serde_json::to_writer(&mut *w, &report.as_of).map_err(io::Error::other)?;
    write!(w, ",\"within_days\":{},\"rows\":[", report.within_days)?;
    let rows = report.rows.as_slice();
    if !rows.is_empty() {
        let shares = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        let mut chunks = rows.chunks(rows.len().div_ceil(shares));
        let first = chunks.next().expect("rows is not empty");
        std::thread::scope(|scope| -> io::Result<()> {
            let rest: Vec<_> = chunks
                .map(|c| {
                    scope.spawn(move || {
                        let mut out = Vec::with_capacity(c.len() * 700);
                        write_rows(&mut out, c, false).map(|()| out)
                    })
                })
                .collect();
            // Buffered: serde_json writes every key and quote separately, and `w` is dynamic.
            let mut buffered = io::BufWriter::with_capacity(64 * 1024, &mut *w);
            write_rows(&mut buffered, first, true)?;
            buffered.flush()?;
            drop(buffered);
            for share in rest {
                w.write_all(&share.join().expect("a row renderer panicked")?)?;
            }
            Ok(())
        })?;
        w.write_all(b"\n")?;
    }
    w.write_all(b"]}")
}

/// Rows as elements of a row list (see [`RowPerLine`]); `first`: the list's first rows.
fn write_rows<W: Write + ?Sized>(w: &mut W, rows: &[PairRow], first: bool) -> io::Result<()> {
    for (i, row) in rows.iter().enumerate() {
        w.write_all(if first && i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *w, row).map_err(io::Error::other)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Doc {
        as_of: &'static str,
        rows: Vec<Row>,
        empty: Vec<Row>,
    }

    #[derive(Serialize, Clone)]
    struct Row {
        n: u32,
        tags: Vec<&'static str>,
        inner: Vec<Vec<u8>>,
    }

    #[test]
    fn rows_of_the_outer_lists_get_a_line_each_and_nothing_else_does() {
        let row = Row {
            n: 1,
            tags: vec!["a", "b"],
            inner: vec![vec![1, 2], vec![]],
        };
        let doc = Doc {
            as_of: "2026-11-26",
            rows: vec![
                row.clone(),
                Row {
                    n: 2,
                    ..row.clone()
                },
            ],
            empty: vec![],
        };
        let text = to_string(&doc);
        assert_eq!(
            text,
            "{\"as_of\":\"2026-11-26\",\"rows\":[\n\
             {\"n\":1,\"tags\":[\"a\",\"b\"],\"inner\":[[1,2],[]]},\n\
             {\"n\":2,\"tags\":[\"a\",\"b\"],\"inner\":[[1,2],[]]}\n\
             ],\"empty\":[]}"
        );
        // Still JSON, and the same value as compact JSON.
        let reparsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(reparsed, serde_json::to_value(&doc).unwrap());
        // A bare list (the CLI's lists) breaks its own elements.
        assert_eq!(
            to_string(&vec![row.clone(), row]),
            "[\n{\"n\":1,\"tags\":[\"a\",\"b\"],\"inner\":[[1,2],[]]},\n\
             {\"n\":1,\"tags\":[\"a\",\"b\"],\"inner\":[[1,2],[]]}\n]"
        );
    }

    fn expiring(rows: usize) -> ExpiringReport {
        use certfleet_model::{CertificateRef, PairStatus, SupersededCert, TerminalRef};
        let as_of: chrono::DateTime<chrono::Utc> = "2026-11-26T00:00:00.5Z".parse().unwrap();
        ExpiringReport {
            as_of,
            within_days: 60,
            rows: (0..rows)
                .map(|i| PairRow {
                    office_number: format!("{:010}", 1_000_000_000 + i),
                    office_name: (i % 3 != 0).then(|| format!("事業所 \"{i}\"")),
                    terminal: TerminalRef {
                        id: i64::try_from(i).unwrap(),
                        hostname: format!("PC-{i}"),
                        machine_id: format!("m-{i}"),
                    },
                    status: PairStatus::Expiring,
                    not_after: as_of + chrono::Duration::seconds(i64::try_from(i).unwrap()),
                    days_left: 3,
                    renew_by: as_of.date_naive(),
                    renew_now: i % 2 == 0,
                    first_blocked_billing_month: "2026-12".into(),
                    superseded: (0..i % 3)
                        .map(|k| SupersededCert {
                            sha256: format!("{k:064x}"),
                            not_after: as_of,
                        })
                        .collect(),
                    terminal_office_count: 2,
                    has_private_key: [Some(true), Some(false), None][i % 3],
                    stale: false,
                    last_report_at: (i % 2 == 0).then_some(as_of),
                    certificate: CertificateRef {
                        sha256: format!("{i:064x}"),
                        serial: format!("{i:x}"),
                        subject: format!("CN={i}"),
                        issuer: "CN=KANAGAWA KOKUHOREN CA".into(),
                    },
                    tracking: certfleet_model::TrackingView::not_started(),
                })
                .collect(),
        }
    }

    #[test]
    fn parallel_expiring_is_the_serde_layout() {
        for rows in [0, 1, 2, 3, 1000, 1001] {
            let report = expiring(rows);
            let mut parallel = Vec::new();
            write_expiring(&mut parallel, &report).unwrap();
            assert_eq!(
                String::from_utf8(parallel).unwrap(),
                to_string(&report),
                "{rows} rows"
            );
        }
    }
}
