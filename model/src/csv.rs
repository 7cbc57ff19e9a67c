//! CSV for spreadsheets, the one writer behind every CSV certfleet produces (the report API
//! and CLI, the dashboard's download): UTF-8 with a byte order mark, CRLF line ends, every
//! field quoted with quotes doubled, and a leading `'` on text a spreadsheet would run as a
//! formula. Hostnames, subjects and office names come from agents and the registry, so they
//! are never trusted to be plain text.

/// UTF-8 byte order mark: without it Excel reads the file in the local ANSI code page and
/// garbles Japanese office names.
pub const BOM: &str = "\u{feff}";

/// Whether a spreadsheet would treat `value` as a formula: it starts with `=`, `+`, `@`, a tab
/// or a carriage return, or with `-` unless it is a plain negative integer (`-10` days left).
pub fn is_formula_like(value: &str) -> bool {
    match value.chars().next() {
        Some('=' | '+' | '@' | '\t' | '\r') => true,
        Some('-') => value.len() == 1 || !value[1..].chars().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// Appends one field: quoted, quotes doubled, formula-like text prefixed with `'` so the
/// spreadsheet shows it instead of running it.
pub fn push_field(out: &mut String, value: &str) {
    out.push('"');
    if is_formula_like(value) {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

/// Appends one record: the fields separated by commas, ended by CRLF.
pub fn push_record<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(out, field);
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let mut s = String::new();
        push_record(
            &mut s,
            ["say \"hi\"", "=HYPERLINK(\"x\")", "事業所", "-6", "-", "-x"],
        );
        assert_eq!(
            s,
            "\"say \"\"hi\"\"\",\"'=HYPERLINK(\"\"x\"\")\",\"事業所\",\"-6\",\"'-\",\"'-x\"\r\n"
        );
        for formula in ["+1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(is_formula_like(formula), "{formula:?}");
        }
        assert!(!is_formula_like("1410000011"));
        assert!(!is_formula_like(""));
    }
}
