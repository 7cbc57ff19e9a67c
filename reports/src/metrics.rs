//! Fleet gauges for Prometheus `/metrics`, computed from the same [`Fleet`] as the reports:
//! per-pair expiry timestamps, pair counts by status, renew-now pairs, stale terminals and
//! uncovered offices, pairs by renewal-tracking state.

use std::io::{self, Write};

use certfleet_model::PairStatus;

use super::Fleet;
use certfleet_config::ReportSettings;

/// Escapes a Prometheus label value (backslash, quote, newline).
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Writes the fleet gauges in Prometheus text format.
pub fn write(fleet: &Fleet, s: &ReportSettings, out: &mut dyn Write) -> io::Result<()> {
    let overview = fleet.overview(s);
    out.write_all(
        b"# HELP certfleet_certificate_expiry_timestamp_seconds Expiry (not_after, Unix seconds) \
         of the effective certificate of each (terminal, office) pair.\n",
    )?;
    out.write_all(b"# TYPE certfleet_certificate_expiry_timestamp_seconds gauge\n")?;
    for p in fleet.pairs() {
        writeln!(
            out,
            "certfleet_certificate_expiry_timestamp_seconds{{office=\"{}\",terminal=\"{}\",hostname=\"{}\",status=\"{}\"}} {}",
            label(p.office_number),
            p.terminal.id,
            label(&p.terminal.hostname),
            p.status.as_str(),
            p.not_after.timestamp()
        )?;
    }
    out.write_all(b"# HELP certfleet_pairs (terminal, office) pairs by status of their effective certificate.\n")?;
    out.write_all(b"# TYPE certfleet_pairs gauge\n")?;
    for (status, n) in [
        (PairStatus::Expired, overview.expired),
        (PairStatus::Expiring, overview.expiring),
        (PairStatus::Ok, overview.ok),
    ] {
        writeln!(out, "certfleet_pairs{{status=\"{}\"}} {n}", status.as_str())?;
    }
    out.write_all(
        b"# HELP certfleet_renew_now_pairs Non-expired pairs past their renew-by date.\n",
    )?;
    out.write_all(b"# TYPE certfleet_renew_now_pairs gauge\n")?;
    writeln!(out, "certfleet_renew_now_pairs {}", overview.renew_now)?;
    out.write_all(b"# HELP certfleet_stale_terminals Terminals whose last report is older than stale_after_days.\n")?;
    out.write_all(b"# TYPE certfleet_stale_terminals gauge\n")?;
    writeln!(
        out,
        "certfleet_stale_terminals {}",
        overview.stale_terminals
    )?;
    out.write_all(b"# HELP certfleet_uncovered_offices Registry offices with no non-expired certificate on any terminal.\n")?;
    out.write_all(b"# TYPE certfleet_uncovered_offices gauge\n")?;
    writeln!(
        out,
        "certfleet_uncovered_offices {}",
        overview.uncovered_offices
    )?;
    // Renewal tracking (issue 17 §1).
    out.write_all(
        b"# HELP certfleet_tracking_pairs (terminal, office) pairs by renewal-tracking state.\n",
    )?;
    out.write_all(b"# TYPE certfleet_tracking_pairs gauge\n")?;
    for (state, n) in fleet.tracking_counts(s) {
        writeln!(
            out,
            "certfleet_tracking_pairs{{state=\"{}\"}} {n}",
            state.as_str()
        )?;
    }
    out.write_all(b"# HELP certfleet_terminals Non-revoked terminals.\n")?;
    out.write_all(b"# TYPE certfleet_terminals gauge\n")?;
    writeln!(out, "certfleet_terminals {}", overview.terminals)?;
    write_agent_versions(fleet.terminals(), out)
}

/// `certfleet_terminals_by_agent_version{version, outdated}`: reporting terminals per agent
/// version, `outdated="true"` below the minimum (`crate::coverage`, semver order). The
/// minimum version itself is always written, at 0 when no terminal runs it, so the series
/// exists for rules from the first scrape.
fn write_agent_versions(
    terminals: &[certfleet_store::reports::TerminalInfo],
    out: &mut dyn Write,
) -> io::Result<()> {
    use super::coverage::{MINIMUM_AGENT_VERSION, Version, is_outdated, version_counts};
    let minimum = Version::parse(MINIMUM_AGENT_VERSION).expect("the build's version is semver");
    let mut counts = version_counts(terminals);
    counts.entry(MINIMUM_AGENT_VERSION.to_owned()).or_default();
    out.write_all(b"# HELP certfleet_terminals_by_agent_version Reporting terminals by agent version; outdated=\"true\" below the minimum agent version.\n")?;
    out.write_all(b"# TYPE certfleet_terminals_by_agent_version gauge\n")?;
    for (version, n) in counts {
        writeln!(
            out,
            "certfleet_terminals_by_agent_version{{version=\"{}\",outdated=\"{}\"}} {n}",
            label(&version),
            is_outdated(&version, &minimum)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_versions_are_counted_marked_outdated_and_the_minimum_is_preset() {
        use certfleet_store::reports::TerminalInfo;
        let terminal = |id, version: &str, reported: bool| TerminalInfo {
            id,
            machine_id: format!("m-{id}"),
            hostname: format!("pc-{id}"),
            os_name: "Windows".into(),
            os_version: "10.0.19045".into(),
            agent_version: version.into(),
            last_report_at: reported.then(chrono::Utc::now),
            office_count: 1,
        };
        let terminals = [
            terminal(1, "0.0.9", true),
            terminal(2, "0.0.9", true),
            terminal(3, "99.0.0", true),
            terminal(4, "9\"x", true),
            // Never reported: not counted.
            terminal(5, "0.0.1", false),
        ];
        let mut out = Vec::new();
        write_agent_versions(&terminals, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let min = super::super::coverage::MINIMUM_AGENT_VERSION;
        for line in [
            "certfleet_terminals_by_agent_version{version=\"0.0.9\",outdated=\"true\"} 2"
                .to_owned(),
            "certfleet_terminals_by_agent_version{version=\"99.0.0\",outdated=\"false\"} 1"
                .to_owned(),
            "certfleet_terminals_by_agent_version{version=\"9\\\"x\",outdated=\"true\"} 1"
                .to_owned(),
            format!(
                "certfleet_terminals_by_agent_version{{version=\"{min}\",outdated=\"false\"}} 0"
            ),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        assert!(!text.contains("0.0.1"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
