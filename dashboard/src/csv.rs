//! CSV of the expiring table, for Excel with Japanese text: UTF-8 with BOM, CRLF line ends,
//! every field quoted, one header row in the page's language, the same rows in the same order
//! as the table (all pages). Text fields that a spreadsheet would run as a formula are
//! prefixed with `'` (hostnames and names are not trusted).

use std::fmt::Write as _;

use certfleet_model::PairRow;
use chrono_tz::Tz;

use crate::i18n::Tr;
use crate::pages::{Date, Day, status_of};

fn field(out: &mut String, s: &str, first: bool) {
    if !first {
        out.push(',');
    }
    out.push('"');
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        out.push('\'');
    }
    for c in s.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

/// Numbers and dates are ours, not attacker text: written quoted, without the formula guard.
fn plain(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, ",\"{v}\"");
}

pub fn expiring_csv(rows: &[PairRow], tr: &Tr, tz: Tz) -> String {
    let mut out = String::with_capacity(256 + rows.len() * 160);
    out.push('\u{feff}');
    let header = [
        tr.office_number,
        tr.office_name,
        tr.terminal,
        tr.status,
        tr.not_after,
        tr.days_left,
        tr.renew_by,
        tr.billing_month,
        tr.office_count,
        tr.stale,
    ];
    for (i, h) in header.iter().enumerate() {
        field(&mut out, h, i == 0);
    }
    out.push_str("\r\n");
    for r in rows {
        field(&mut out, &r.office_number, true);
        field(&mut out, r.office_name.as_deref().unwrap_or(""), false);
        field(&mut out, &r.terminal.hostname, false);
        field(&mut out, status_of(tr, r.status, r.renew_now).0, false);
        plain(&mut out, Day(r.not_after, tz));
        plain(&mut out, r.days_left);
        plain(&mut out, Date(r.renew_by));
        field(&mut out, &r.first_blocked_billing_month, false);
        plain(&mut out, r.terminal_office_count);
        field(&mut out, if r.stale { tr.yes } else { "" }, false);
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_guards_formulas() {
        let mut s = String::new();
        field(&mut s, r#"a"b"#, true);
        field(&mut s, "=cmd()", false);
        field(&mut s, "事業所", false);
        assert_eq!(s, r#""a""b","'=cmd()","事業所""#);
    }
}
