//! The expected-terminal list import (`certfleet-collector coverage import FILE.csv`, and
//! `POST /api/v1/coverage/expected`): one row per PC with its hostname, an optional machine id
//! and the offices expected on it, separated by `;` or spaces inside the third field (an asset
//! inventory or an AD export can produce either). A header row is accepted; UTF-8 with or
//! without BOM. Either every row is valid and the list is replaced in one transaction, or
//! nothing is stored, the previous list stays, and every bad row is reported with its line and
//! field.

use std::collections::HashMap;

use certfleet_certinfo::OfficeRule;
use certfleet_store::{ExpectedTerminal, Store};
use chrono::{DateTime, Utc};

use crate::registry::{RegistryError, RowError, records};

/// Longest accepted hostname or machine id, in bytes.
const MAX_FIELD_LEN: usize = 255;

/// Most office numbers expected on one PC.
const MAX_OFFICES_PER_PC: usize = 100;

/// Hostname characters as the collector accepts them from agents (`ingest::check_hostname`):
/// letters and digits of any script, `-`, `_` and `.`.
fn check_hostname(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("hostname: empty".into());
    }
    if value.len() > MAX_FIELD_LEN {
        return Err(format!("hostname: longer than {MAX_FIELD_LEN} bytes"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "hostname: {value:?} contains U+{:04X}; a hostname holds only letters, digits, '-', '_' and '.'",
            u32::from(c)
        ));
    }
    Ok(())
}

fn check_machine_id(value: &str) -> Result<(), String> {
    if value.len() > MAX_FIELD_LEN {
        return Err(format!("machine id: longer than {MAX_FIELD_LEN} bytes"));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "machine id: {value:?} contains a space or control character"
        ));
    }
    Ok(())
}

/// True for a header row: its first cell is one of the usual column titles or no hostname at
/// all (`host name`), or its offices cell holds text without a digit (`事業所`; office numbers
/// always have digits, full-width ones included, so those rows are checked, not skipped).
fn is_header(fields: &[String]) -> bool {
    let first = fields.first().map(|f| f.trim()).unwrap_or_default();
    let offices = fields.get(2).map(|f| f.trim()).unwrap_or_default();
    let lower = first.to_lowercase();
    matches!(
        lower.as_str(),
        "hostname"
            | "host"
            | "computer"
            | "computername"
            | "name"
            | "dnshostname"
            | "ホスト名"
            | "コンピューター名"
            | "コンピュータ名"
            | "端末名"
    ) || (!first.is_empty() && check_hostname(first).is_err())
        || (!offices.is_empty() && !offices.chars().any(char::is_numeric))
}

/// Parses and checks an expected-terminal list. All problems are collected, not just the first.
pub fn parse(text: &str, rule: &OfficeRule) -> Result<Vec<ExpectedTerminal>, RegistryError> {
    let records = records(text).map_err(|e| RegistryError::BadRows(vec![e]))?;
    let mut errors = Vec::new();
    let mut entries = Vec::new();
    let mut hosts: HashMap<String, usize> = HashMap::new();
    let mut machines: HashMap<String, usize> = HashMap::new();
    let mut first_row = true;
    for (line, fields) in records {
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue; // blank line
        }
        if std::mem::take(&mut first_row) && is_header(&fields) {
            continue;
        }
        let mut problems = Vec::new();
        if fields.len() > 3 {
            problems.push(format!(
                "expected 1 to 3 columns (hostname, machine id, offices), found {}",
                fields.len()
            ));
        }
        let get = |i: usize| fields.get(i).map(|f| f.trim()).unwrap_or_default();
        let hostname = get(0);
        let machine_id = get(1);
        if let Err(m) = check_hostname(hostname) {
            problems.push(m);
        }
        if let Err(m) = check_machine_id(machine_id) {
            problems.push(m);
        }
        let mut offices: Vec<String> = Vec::new();
        for office in get(2)
            .split(|c: char| c == ';' || c.is_whitespace())
            .filter(|o| !o.is_empty())
        {
            if let Err(m) = rule.check_number(office) {
                problems.push(format!("offices: {m}"));
            } else if !offices.iter().any(|o| o == office) {
                offices.push(office.to_owned());
            }
        }
        if offices.len() > MAX_OFFICES_PER_PC {
            problems.push(format!(
                "offices: more than {MAX_OFFICES_PER_PC} office numbers"
            ));
        }
        let host_key = certfleet_store::coverage::hostname_key(hostname);
        if !hostname.is_empty()
            && let Some(first) = hosts.get(&host_key)
        {
            problems.push(format!(
                "hostname: {hostname} already appears on line {first} (hostnames are compared case-insensitively)"
            ));
        }
        let machine_key = machine_id.to_lowercase();
        if !machine_id.is_empty()
            && let Some(first) = machines.get(&machine_key)
        {
            problems.push(format!(
                "machine id: {machine_id} already appears on line {first}"
            ));
        }
        if problems.is_empty() {
            hosts.insert(host_key, line);
            if !machine_id.is_empty() {
                machines.insert(machine_key, line);
            }
            entries.push(ExpectedTerminal {
                hostname: hostname.to_owned(),
                machine_id: Some(machine_id.to_owned()).filter(|m| !m.is_empty()),
                offices,
            });
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

/// Parses `text` and replaces the stored list with it; nothing is written on any error.
/// Returns the number of PCs imported.
#[tracing::instrument(skip(store, text, rule), err)]
pub async fn import(
    store: &dyn Store,
    text: &str,
    rule: &OfficeRule,
    now: DateTime<Utc>,
) -> Result<usize, RegistryError> {
    let entries = parse(text, rule)?;
    store.replace_expected_terminals(&entries, now).await?;
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> OfficeRule {
        certfleet_certinfo::Selector::default()
            .office_rule()
            .clone()
    }

    fn bad_rows(text: &str) -> Vec<RowError> {
        match parse(text, &rule()) {
            Err(RegistryError::BadRows(errors)) => errors,
            other => panic!("expected bad rows, got {other:?}"),
        }
    }

    #[test]
    fn header_bom_and_both_office_separators_are_accepted() {
        let with = "\u{feff}ホスト名,マシンID,事業所\r\nHONBU-PC01,m-1,1234567890;1234567891\r\naoba-pc02,,\"1234567892 1234567890\"\r\nsolo\r\n";
        let without =
            "HONBU-PC01,m-1,1234567890; 1234567891\naoba-pc02,,1234567892 1234567890\nsolo\n";
        for text in [with, without] {
            let e = parse(text, &rule()).unwrap();
            assert_eq!(e.len(), 3, "{text:?}");
            assert_eq!(e[0].hostname, "HONBU-PC01");
            assert_eq!(e[0].machine_id.as_deref(), Some("m-1"));
            assert_eq!(e[0].offices, ["1234567890", "1234567891"]);
            assert_eq!(e[1].machine_id, None);
            assert_eq!(e[1].offices, ["1234567892", "1234567890"]);
            assert!(e[2].offices.is_empty());
        }
        let english = parse("hostname,machine_id,offices\npc1,,1234567890\n", &rule()).unwrap();
        assert_eq!(english.len(), 1);
    }

    #[test]
    fn every_bad_row_names_its_line_and_field() {
        let text = "hostname,machine id,offices\n\
                    pc-1,m-1,1234567890\n\
                    PC-1,,1234567891\n\
                    pc-2,M-1,12345\n\
                    ,m-3,1234567890\n\
                    pc<b>,,\n\
                    pc-6,,１２３４５６７８９０\n\
                    pc-7,a b,\n\
                    pc-8,,,extra\n";
        let errors = bad_rows(text);
        let got: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.split(':').next().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (3, "hostname"),
                (4, "offices"),
                (4, "machine id"),
                (5, "hostname"),
                (6, "hostname"),
                (7, "offices"),
                (8, "machine id"),
                (
                    9,
                    "expected 1 to 3 columns (hostname, machine id, offices), found 4"
                ),
            ],
            "{errors:?}"
        );
        assert!(errors[0].message.contains("line 2"), "{errors:?}");
        assert!(errors[5].message.contains("full-width"), "{errors:?}");
    }

    #[test]
    fn an_unclosed_quote_is_refused() {
        let errors = bad_rows("pc-1,\"m-1,1234567890\n");
        assert_eq!(errors[0].line, 1);
    }
}
