//! The office registry import (`certfleet-collector offices import FILE.csv`): office number,
//! name, site, owner e-mail. Either every row is valid and the whole file is upserted in one
//! transaction, or nothing is imported and every bad row is reported with its line number.

use certfleet_model::OfficeEntry;
use chrono::{DateTime, Utc};

use certfleet_certinfo::OfficeRule;
use certfleet_store::{Store, StoreError};

/// Longest accepted field, in bytes.
const MAX_FIELD_LEN: usize = 255;

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line of the file where the row starts.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The file has bad rows; nothing was imported.
    #[error("{} bad row(s), nothing imported:\n{}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    BadRows(Vec<RowError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Splits CSV text into records with the line each starts on. RFC 4180: quoted fields may hold
/// commas, doubled quotes and line breaks; CRLF and LF both end a record.
pub(crate) fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, RowError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start_line = 1;
    let mut in_quotes = false;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() && !quoted => {
                field.clear();
                in_quotes = true;
                quoted = true;
            }
            '"' => {
                return Err(RowError {
                    line,
                    message: "stray quote inside an unquoted field".into(),
                });
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                fields.push(std::mem::take(&mut field));
                quoted = false;
                out.push((start_line, std::mem::take(&mut fields)));
                line += 1;
                start_line = line;
            }
            c => {
                if quoted {
                    if !c.is_whitespace() {
                        return Err(RowError {
                            line,
                            message: "text after a closing quote".into(),
                        });
                    }
                } else {
                    field.push(c);
                }
            }
        }
    }
    if in_quotes {
        return Err(RowError {
            line: start_line,
            message: "quoted field is never closed".into(),
        });
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        out.push((start_line, fields));
    }
    Ok(out)
}

/// Plausible e-mail address: one `@`, a dotted domain, no spaces. Delivery proves the rest.
fn check_email(email: &str) -> Result<(), String> {
    let bad = || format!("owner e-mail {email:?} is not an address like owner@example.jp");
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '<' || c == '>')
        || email.len() > 254
    {
        return Err(bad());
    }
    Ok(())
}

/// True for a header row: its first cell has no digit (office numbers always have some).
/// Any digit counts, so a first row typed with full-width digits is checked, not skipped.
fn is_header(fields: &[String]) -> bool {
    fields
        .first()
        .is_some_and(|f| !f.chars().any(char::is_numeric))
}

/// Parses and checks a registry file. All problems are collected, not just the first.
pub fn parse(text: &str, rule: &OfficeRule) -> Result<Vec<OfficeEntry>, RegistryError> {
    let records = records(text).map_err(|e| RegistryError::BadRows(vec![e]))?;
    let mut errors = Vec::new();
    let mut entries: Vec<OfficeEntry> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (index, (line, fields)) in records.into_iter().enumerate() {
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue; // blank line
        }
        if index == 0 && is_header(&fields) {
            continue;
        }
        let mut problems = Vec::new();
        if fields.len() < 2 || fields.len() > 5 {
            problems.push(format!(
                "expected 2 to 5 columns (office number, name, site, owner e-mail, expected PC \
                 count), found {}",
                fields.len()
            ));
        }
        let get = |i: usize| {
            fields
                .get(i)
                .map(|f| f.trim().to_owned())
                .unwrap_or_default()
        };
        let entry = OfficeEntry {
            office_number: get(0),
            name: get(1),
            site: get(2),
            owner_email: get(3),
            expected_pcs: None,
        };
        let mut entry = entry;
        let pcs = get(4);
        if !pcs.is_empty() {
            match pcs.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => entry.expected_pcs = Some(n),
                _ => problems.push(format!(
                    "expected PC count {pcs:?} is not a whole number from 1 to 1000"
                )),
            }
        }
        if let Err(m) = rule.check_number(&entry.office_number) {
            problems.push(m);
        }
        if entry.name.is_empty() && fields.len() >= 2 {
            problems.push("name is empty".into());
        }
        if !entry.owner_email.is_empty()
            && let Err(m) = check_email(&entry.owner_email)
        {
            problems.push(m);
        }
        for (what, value) in [
            ("office number", &entry.office_number),
            ("name", &entry.name),
            ("site", &entry.site),
            ("owner e-mail", &entry.owner_email),
        ] {
            if value.len() > MAX_FIELD_LEN {
                problems.push(format!("{what} is longer than {MAX_FIELD_LEN} bytes"));
            }
        }
        if let Some(first) = seen.get(&entry.office_number)
            && !entry.office_number.is_empty()
        {
            problems.push(format!(
                "office number {} already appears on line {first}",
                entry.office_number
            ));
        }
        if problems.is_empty() {
            seen.insert(entry.office_number.clone(), line);
            entries.push(entry);
        } else {
            errors.extend(
                problems
                    .into_iter()
                    .map(|message| RowError { line, message }),
            );
        }
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(RegistryError::BadRows(errors))
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    /// Valid rows in the file.
    pub rows: usize,
    /// Entries inserted or changed (0 when re-importing the same file).
    pub changed: u64,
}

/// Parses `text` and upserts every entry in one transaction; nothing is written on any error.
#[tracing::instrument(skip(store, text, rule), err)]
pub async fn import(
    store: &dyn Store,
    text: &str,
    rule: &OfficeRule,
    now: DateTime<Utc>,
) -> Result<ImportSummary, RegistryError> {
    let entries = parse(text, rule)?;
    let changed = store.upsert_offices(&entries, now).await?;
    Ok(ImportSummary {
        rows: entries.len(),
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_optional_and_quotes_work() {
        let rule = certfleet_certinfo::Selector::default()
            .office_rule()
            .clone();
        let with = "\u{feff}事業所番号,名称,拠点,担当者\r\n1234567890,\"横浜, 第一\",横浜,a@example.jp\r\n";
        let without = "1234567890,\"横浜, 第一\",横浜,a@example.jp";
        for text in [with, without] {
            let e = parse(text, &rule).unwrap();
            assert_eq!(e.len(), 1);
            assert_eq!(e[0].name, "横浜, 第一");
        }
    }

    #[test]
    fn the_expected_pc_count_is_an_optional_fifth_column() {
        let rule = certfleet_certinfo::Selector::default()
            .office_rule()
            .clone();
        let text = "1234567890,A,,,3\n1234567891,B\n1234567892,C,,,\n";
        let e = parse(text, &rule).unwrap();
        let counts: Vec<Option<u32>> = e.iter().map(|e| e.expected_pcs).collect();
        assert_eq!(counts, [Some(3), None, None]);
        let RegistryError::BadRows(errors) =
            parse("1234567890,A,,,0\n1234567891,B,,,three\n", &rule).unwrap_err()
        else {
            panic!("expected bad rows");
        };
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[1].to_string().contains("\"three\""), "{errors:?}");
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let rule = certfleet_certinfo::Selector::default()
            .office_rule()
            .clone();
        let text = "office,name,site,email\n1234567890,A,,a@example.jp\n12345,B\n1234567891,,x,not-an-email\n1234567890,dup\n";
        let RegistryError::BadRows(errors) = parse(text, &rule).unwrap_err() else {
            panic!("expected bad rows");
        };
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 4, 5], "{errors:?}");
    }

    #[test]
    fn full_width_office_numbers_are_refused() {
        let rule = certfleet_certinfo::Selector::default()
            .office_rule()
            .clone();
        let text = "事業所番号,事業所名\n１２３４５６７８９０,全角\n";
        let RegistryError::BadRows(errors) = parse(text, &rule).unwrap_err() else {
            panic!("expected bad rows");
        };
        assert!(errors[0].message.contains("full-width"), "{errors:?}");
    }

    #[test]
    fn multiline_quoted_fields_keep_line_numbers() {
        let rule = certfleet_certinfo::Selector::default()
            .office_rule()
            .clone();
        let text = "1234567890,\"two\nlines\"\nbad,row\n";
        let RegistryError::BadRows(errors) = parse(text, &rule).unwrap_err() else {
            panic!("expected bad rows");
        };
        assert_eq!(errors[0].line, 3);
    }

    #[test]
    fn emails_are_sanity_checked() {
        assert!(check_email("owner@example.jp").is_ok());
        for bad in [
            "owner",
            "@example.jp",
            "a@b",
            "a b@example.jp",
            "a@@example.jp",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
