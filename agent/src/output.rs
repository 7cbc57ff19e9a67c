//! Rendering a [`ScanResult`] for people (`table`) and for scripts (`json`).
//!
//! The table mirrors what manual §1.1 shows in the Windows certificate dialog (issued to,
//! issuer, validity as YYYY/MM/DD in local time) plus what the dialog does not show: days
//! left, where each certificate was found, and a mark on expired ones.
#![forbid(unsafe_code)]

use std::io::{self, Write};

use chrono::{DateTime, Local, NaiveDate, Utc};
use serde::Serialize;

use crate::model::{FoundCertificate, Location, ScanError, ScanResult, Source};

#[derive(Serialize)]
struct JsonCertificate<'a> {
    office_number: Option<&'a str>,
    subject: &'a str,
    issuer: &'a str,
    serial: &'a str,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    sha256: &'a str,
    sha1: &'a str,
    client_auth: bool,
    has_private_key: Option<bool>,
    friendly_name: Option<&'a str>,
    locations: &'a [Location],
}

/// The certificates serialized one by one from the result (no intermediate copy of the list).
struct JsonCertificates<'a>(&'a [FoundCertificate]);

impl Serialize for JsonCertificates<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|c| JsonCertificate {
            office_number: c.office_number.as_deref(),
            subject: &c.info.subject,
            issuer: &c.info.issuer,
            serial: &c.info.serial,
            not_before: c.info.not_before,
            not_after: c.info.not_after,
            sha256: &c.info.sha256,
            sha1: &c.info.sha1,
            client_auth: c.info.client_auth,
            has_private_key: c.has_private_key,
            friendly_name: c.friendly_name.as_deref(),
            locations: &c.locations,
        }))
    }
}

#[derive(Serialize)]
struct JsonOutput<'a> {
    certificates: JsonCertificates<'a>,
    errors: &'a [ScanError],
    warnings: &'a [ScanError],
}

/// Writes the JSON object `{"certificates": [...], "errors": [...], "warnings": [...]}`.
pub fn write_json(result: &ScanResult, mut out: impl Write) -> io::Result<()> {
    let doc = JsonOutput {
        certificates: JsonCertificates(&result.certificates),
        errors: &result.errors,
        warnings: &result.warnings,
    };
    serde_json::to_writer_pretty(&mut out, &doc)?;
    writeln!(out)
}

fn local_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&Local).date_naive()
}

/// Whole days from `today` to the expiry date (local calendar days, negative once past).
pub fn days_left(cert: &FoundCertificate, today: NaiveDate) -> i64 {
    (local_date(cert.info.not_after) - today).num_days()
}

fn describe(loc: &Location) -> String {
    let store = loc.store.as_deref().unwrap_or("My");
    // The short name in the table; `--format json` has the SID and account too.
    let who = loc.user.as_deref().or(loc.sid.as_deref());
    match loc.source {
        Source::ProfileFile => format!("profile {}\\{store}", who.unwrap_or("?")),
        Source::Registry => match who {
            Some(user) => format!("registry {user}\\{store}"),
            None => format!("registry LocalMachine\\{store}"),
        },
        Source::CryptoApi => match who {
            Some(user) => format!("CurrentUser\\{store} ({user})"),
            None => format!("CurrentUser\\{store}"),
        },
        Source::File => loc.path.clone(),
    }
}

/// Writes the table for a person. `now` decides "expired" and days left.
pub fn write_table(result: &ScanResult, now: DateTime<Utc>, mut out: impl Write) -> io::Result<()> {
    let today = local_date(now);
    let header = [
        "OFFICE",
        "ISSUER",
        "VALID FROM",
        "VALID TO",
        "DAYS LEFT",
        "STATUS",
        "WHERE FOUND",
    ];
    let row = |c: &FoundCertificate| -> [String; 7] {
        let office = match (&c.office_number, &c.info.subject_cn) {
            (Some(n), _) => n.clone(),
            (None, Some(cn)) => format!("({cn})"),
            (None, None) => "-".to_owned(),
        };
        let expired = c.info.not_after <= now;
        let mut places: Vec<String> = c.locations.iter().map(describe).collect();
        places.dedup();
        [
            office,
            c.info
                .issuer_cn
                .clone()
                .unwrap_or_else(|| c.info.issuer.clone()),
            local_date(c.info.not_before).format("%Y/%m/%d").to_string(),
            local_date(c.info.not_after).format("%Y/%m/%d").to_string(),
            days_left(c, today).to_string(),
            if expired { "EXPIRED" } else { "valid" }.to_owned(),
            places.join(", "),
        ]
    };
    // Two passes (widths, then lines) instead of keeping every row: a scan of a large
    // directory can list thousands of certificates.
    let mut widths = header.map(|h| h.chars().count());
    for c in &result.certificates {
        for (w, cell) in widths.iter_mut().zip(row(c)) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String], out: &mut dyn Write| -> io::Result<()> {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            text.push_str(cell);
            if i + 1 < cells.len() {
                text.extend(std::iter::repeat_n(' ', w - cell.chars().count() + 2));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(&header.map(str::to_owned), &mut out)?;
    for c in &result.certificates {
        line(&row(c), &mut out)?;
    }
    if result.certificates.is_empty() {
        writeln!(out, "(no certificates found)")?;
    }
    if !result.errors.is_empty() {
        writeln!(out)?;
        writeln!(out, "{} item(s) could not be read:", result.errors.len())?;
        for e in &result.errors {
            writeln!(out, "  {} [{}]: {}", e.path, e.source.as_str(), e.message)?;
        }
    }
    if !result.warnings.is_empty() {
        writeln!(out)?;
        writeln!(out, "{} warning(s):", result.warnings.len())?;
        for w in &result.warnings {
            writeln!(out, "  {} [{}]: {}", w.path, w.source.as_str(), w.message)?;
        }
    }
    Ok(())
}
