//! Report output for people and spreadsheets: aligned tables (dates as YYYY/MM/DD) and CSV that
//! Excel opens correctly with Japanese text (UTF-8 with BOM, CRLF, every field quoted). JSON is
//! [`super::Report::to_json`].

use certfleet_model::csv;
use certfleet_model::{
    CoverageReport, ExpiringReport, OfficeRow, PairStatus, StaleReport, TerminalRow,
};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use unicode_width::UnicodeWidthStr;

use super::{FleetView, Report};

/// Output formats of `report …` and `?format=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

impl Format {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "table" => Some(Format::Table),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

fn date(d: NaiveDate) -> String {
    d.format("%Y/%m/%d").to_string()
}

fn local_date(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y/%m/%d").to_string()
}

fn local_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y/%m/%d %H:%M:%S").to_string()
}

fn opt_time(t: Option<DateTime<Utc>>, tz: Tz) -> String {
    t.map(|t| local_time(t, tz)).unwrap_or_default()
}

fn key_text(k: Option<bool>) -> &'static str {
    match k {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Rows of text cells, produced one at a time so a 100k-row report is never held as text.
type Rows<'a> = Box<dyn Iterator<Item = Vec<String>> + 'a>;

/// Header and rows of a report as text cells, in the display time zone.
fn cells(report: &Report, tz: Tz) -> (Vec<&'static str>, Rows<'_>) {
    match report {
        Report::Expiring(r) => expiring_cells(r, tz),
        Report::Fleet(r) => match r.view() {
            FleetView::Terminals | FleetView::MultiOffice => {
                terminals_cells(Box::new(r.terminal_rows()), tz)
            }
            FleetView::Offices => offices_cells(Box::new(r.office_rows()), tz),
        },
        Report::Stale(r) => stale_cells(r, tz),
        Report::Coverage(r) => coverage_cells(r, tz),
    }
}

fn expiring_cells(r: &ExpiringReport, tz: Tz) -> (Vec<&'static str>, Rows<'_>) {
    let header = vec![
        "status",
        "office_number",
        "office_name",
        "hostname",
        "terminal_id",
        "machine_id",
        "not_after",
        "days_left",
        "renew_by",
        "renew_now",
        "first_blocked_billing_month",
        "terminal_office_count",
        "has_private_key",
        "stale",
        "last_report_at",
        "sha256",
        "serial",
        "subject",
        "issuer",
        "superseded",
        "tracking_state",
        "requested_on",
        "days_waiting",
        "hold_until",
        "tracking_note",
        "renewed_at",
    ];
    let rows = r.rows.iter().map(move |p| {
        vec![
            p.status.as_str().to_owned(),
            p.office_number.clone(),
            p.office_name.clone().unwrap_or_default(),
            p.terminal.hostname.clone(),
            p.terminal.id.to_string(),
            p.terminal.machine_id.clone(),
            local_time(p.not_after, tz),
            p.days_left.to_string(),
            date(p.renew_by),
            yes_no(p.renew_now).to_owned(),
            p.first_blocked_billing_month.clone(),
            p.terminal_office_count.to_string(),
            key_text(p.has_private_key).to_owned(),
            yes_no(p.stale).to_owned(),
            opt_time(p.last_report_at, tz),
            p.certificate.sha256.clone(),
            p.certificate.serial.clone(),
            p.certificate.subject.clone(),
            p.certificate.issuer.clone(),
            p.superseded
                .iter()
                .map(|s| format!("{} ({})", s.sha256, local_date(s.not_after, tz)))
                .collect::<Vec<_>>()
                .join(" "),
            p.tracking.state.as_str().to_owned(),
            p.tracking.requested_on.map(date).unwrap_or_default(),
            p.tracking
                .days_waiting
                .map(|d| d.to_string())
                .unwrap_or_default(),
            p.tracking.hold_until.map(date).unwrap_or_default(),
            p.tracking.note.clone(),
            opt_time(p.tracking.renewed_at, tz),
        ]
    });
    (header, Box::new(rows))
}

fn terminals_cells<'a>(
    rows: Box<dyn Iterator<Item = TerminalRow> + 'a>,
    tz: Tz,
) -> (Vec<&'static str>, Rows<'a>) {
    let header = vec![
        "terminal_id",
        "hostname",
        "machine_id",
        "os",
        "agent_version",
        "last_report_at",
        "stale",
        "office_count",
        "soonest_not_after",
        "offices",
    ];
    let rows = rows.map(move |t| {
        vec![
            t.terminal.id.to_string(),
            t.terminal.hostname.clone(),
            t.terminal.machine_id.clone(),
            format!("{} {}", t.os_name, t.os_version).trim().to_owned(),
            t.agent_version.clone(),
            opt_time(t.last_report_at, tz),
            yes_no(t.stale).to_owned(),
            t.offices.len().to_string(),
            t.soonest_not_after
                .map(|d| local_date(d, tz))
                .unwrap_or_default(),
            t.offices
                .iter()
                .map(|o| {
                    format!(
                        "{} {} {}",
                        o.office_number,
                        o.status.as_str(),
                        local_date(o.not_after, tz)
                    )
                })
                .collect::<Vec<_>>()
                .join(" / "),
        ]
    });
    (header, Box::new(rows))
}

fn offices_cells<'a>(
    rows: Box<dyn Iterator<Item = OfficeRow> + 'a>,
    tz: Tz,
) -> (Vec<&'static str>, Rows<'a>) {
    let header = vec![
        "office_number",
        "office_name",
        "site",
        "owner_email",
        "terminal_count",
        "expired",
        "expiring",
        "soonest_not_after",
        "uncovered",
        "terminals",
    ];
    let rows = rows.map(move |o| {
        let count = |s: PairStatus| o.terminals.iter().filter(|t| t.status == s).count();
        vec![
            o.office_number.clone(),
            o.office_name.clone().unwrap_or_default(),
            o.site.clone().unwrap_or_default(),
            o.owner_email.clone().unwrap_or_default(),
            o.terminals.len().to_string(),
            count(PairStatus::Expired).to_string(),
            count(PairStatus::Expiring).to_string(),
            o.soonest_not_after
                .map(|d| local_date(d, tz))
                .unwrap_or_default(),
            yes_no(o.uncovered).to_owned(),
            o.terminals
                .iter()
                .map(|t| t.terminal.hostname.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ]
    });
    (header, Box::new(rows))
}

fn stale_cells(r: &StaleReport, tz: Tz) -> (Vec<&'static str>, Rows<'_>) {
    let header = vec![
        "terminal_id",
        "hostname",
        "machine_id",
        "last_report_at",
        "days_since_report",
        "office_count",
    ];
    let rows = r.rows.iter().map(move |s| {
        vec![
            s.terminal.id.to_string(),
            s.terminal.hostname.clone(),
            s.terminal.machine_id.clone(),
            s.last_report_at
                .map(|t| local_time(t, tz))
                .unwrap_or_else(|| "never".to_owned()),
            s.days_since_report
                .map(|d| d.to_string())
                .unwrap_or_default(),
            s.office_count.to_string(),
        ]
    });
    (header, Box::new(rows))
}

fn coverage_cells(r: &CoverageReport, tz: Tz) -> (Vec<&'static str>, Rows<'_>) {
    let header = vec![
        "gap",
        "hostname",
        "machine_id",
        "terminal_id",
        "office_number",
        "office_name",
        "not_after",
        "last_report_at",
        "agent_version",
    ];
    let rows = r.rows.iter().map(move |c| {
        vec![
            c.gap.as_str().to_owned(),
            c.hostname.clone(),
            c.machine_id.clone().unwrap_or_default(),
            c.terminal
                .as_ref()
                .map(|t| t.id.to_string())
                .unwrap_or_default(),
            c.office_number.clone().unwrap_or_default(),
            c.office_name.clone().unwrap_or_default(),
            c.not_after.map(|t| local_date(t, tz)).unwrap_or_default(),
            c.last_report_at
                .map(|t| local_time(t, tz))
                .unwrap_or_else(|| "never".to_owned()),
            c.agent_version.clone().unwrap_or_default(),
        ]
    });
    (header, Box::new(rows))
}

/// The report as CSV: BOM, one header row, CRLF line ends, every field quoted.
pub fn to_csv(report: &Report, tz: Tz) -> String {
    let mut out = Vec::new();
    write_csv(report, tz, &mut out).expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("CSV is built from UTF-8 text")
}

/// [`to_csv`] written row by row to `w` (the HTTP body, stdout), so only one row is held as
/// text at a time.
pub fn write_csv(report: &Report, tz: Tz, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let (header, rows) = cells(report, tz);
    let mut line = String::from(csv::BOM);
    csv::push_record(&mut line, header.iter().copied());
    w.write_all(line.as_bytes())?;
    for row in rows {
        line.clear();
        csv::push_record(&mut line, row.iter().map(String::as_str));
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// Display width in a terminal: East Asian wide and fullwidth characters take two columns.
fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Control and bidi characters from agent-supplied text must not move the cursor on an
/// operator's terminal nor reorder a line: the one rule of `certfleet_model::text`.
fn printable(s: &str) -> String {
    certfleet_model::text::printable(s).into_owned()
}

fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| printable(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(width(c));
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, c) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(c);
            text.extend(std::iter::repeat_n(' ', widths[i] - width(c)));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    let upper: Vec<String> = header.iter().map(|h| h.to_uppercase()).collect();
    line(&mut upper.iter().map(String::as_str));
    for r in &rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

/// A pair's tracking state for the table: the state with the days waiting or the hold's end.
fn tracking_cell(t: &certfleet_model::TrackingView) -> String {
    let state = t.state.as_str();
    match (t.days_waiting, t.hold_until) {
        (Some(days), _) => format!("{state} ({days}d)"),
        (None, Some(until)) if t.state == certfleet_model::TrackingState::OnHold => {
            format!("{state} (to {})", date(until))
        }
        _ => state.to_owned(),
    }
}

/// The report as an aligned table for people.
pub fn to_table(report: &Report, tz: Tz) -> String {
    match report {
        Report::Expiring(r) => {
            let header = [
                "status", "office", "name", "hostname", "expires", "days", "renew by", "blocked",
                "offices", "state", "notes",
            ];
            let rows: Vec<Vec<String>> = r
                .rows
                .iter()
                .map(|p| {
                    let mut notes = Vec::new();
                    if p.renew_now && p.status != PairStatus::Expired {
                        notes.push("renew now".to_owned());
                    }
                    if p.has_private_key == Some(false) {
                        notes.push("no private key".to_owned());
                    }
                    if p.stale {
                        notes.push(format!(
                            "stale (last report {})",
                            p.last_report_at
                                .map(|t| local_date(t, tz))
                                .unwrap_or_else(|| "never".into())
                        ));
                    }
                    if !p.superseded.is_empty() {
                        notes.push(format!("{} superseded", p.superseded.len()));
                    }
                    vec![
                        p.status.as_str().to_owned(),
                        p.office_number.clone(),
                        p.office_name.clone().unwrap_or_default(),
                        p.terminal.hostname.clone(),
                        local_date(p.not_after, tz),
                        p.days_left.to_string(),
                        date(p.renew_by),
                        p.first_blocked_billing_month.replace('-', "/"),
                        p.terminal_office_count.to_string(),
                        tracking_cell(&p.tracking),
                        notes.join(", "),
                    ]
                })
                .collect();
            let mut out = render_table(&header, &rows);
            out.push_str(&format!(
                "{} pair(s) expired or expiring within {} days of {}\n",
                r.rows.len(),
                r.within_days,
                local_time(r.as_of, tz)
            ));
            out
        }
        Report::Coverage(r) => {
            let (header, rows) = cells(report, tz);
            let mut out = render_table(&header, &rows.collect::<Vec<_>>());
            let versions: Vec<String> = r
                .agent_versions
                .iter()
                .map(|v| {
                    format!(
                        "{} × {}{}",
                        v.version,
                        v.terminals,
                        if v.outdated { " (outdated)" } else { "" }
                    )
                })
                .collect();
            out.push_str(&format!(
                "{} gap(s); {} expected PC(s), {} terminal(s); agents: {} (minimum {})\n",
                r.rows.len(),
                r.expected_terminals,
                r.terminals,
                if versions.is_empty() {
                    "none".to_owned()
                } else {
                    versions.join(", ")
                },
                r.minimum_agent_version
            ));
            if r.list_imported_at.is_none() {
                out.push_str(
                    "no expected-terminal list imported (certfleet-collector coverage import FILE)\n",
                );
            }
            out
        }
        other => {
            let (header, rows) = cells(other, tz);
            // The identifying hashes and long subjects are for CSV/JSON; keep tables readable.
            render_table(&header, &rows.collect::<Vec<_>>())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_count_double() {
        assert_eq!(width("事業所"), 6);
        assert_eq!(width("abc"), 3);
        // Outside the ranges of the old hand-written table: fullwidth signs, CJK Extension B,
        // emoji; combining marks take no column.
        assert_eq!(width("￥𠮷"), 4);
        assert_eq!(width("😀"), 2);
        assert_eq!(width("e\u{301}"), 1);
    }
}
