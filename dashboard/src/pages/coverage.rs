//! `/coverage`: the coverage report (issue 17 §4) — the differences between the
//! expected-terminal list and the fleet, one row each, paged — and the agent version spread
//! with the outdated versions marked.

use certfleet_model::{CoverageGap, CoverageReport};
use maud::{Markup, html};

use crate::display::Day;
use crate::html::{Ctx, Nav, Paging, Table, office_link, opt_stamp, page, terminal_link};
use crate::i18n::Tr;

fn gap_label(tr: &Tr, gap: CoverageGap) -> &'static str {
    match gap {
        CoverageGap::NeverReported => tr.gap_never_reported,
        CoverageGap::OfficeMissing => tr.gap_office_missing,
        CoverageGap::OfficeExpired => tr.gap_office_expired,
        CoverageGap::NotExpected => tr.gap_not_expected,
        CoverageGap::OutdatedAgent => tr.gap_outdated_agent,
    }
}

pub fn coverage(ctx: &Ctx, report: &CoverageReport) -> Markup {
    let tr = ctx.tr();
    let paging = Paging::new(report.rows.len(), ctx.requested_page(), ctx.page_size);
    let table = Table::new(
        "coverage-table",
        [
            tr.coverage_gap,
            tr.terminal,
            tr.machine_id,
            tr.office_number,
            tr.office_name,
            tr.not_after,
            tr.last_report,
            tr.agent_version,
        ],
    )
    .paged_by_query(ctx, paging)
    .render(
        tr,
        report.rows[paging.start..paging.end].iter().map(|r| {
            html! {
                tr data-testid="coverage-row" data-gap=(r.gap.as_str()) {
                    td { span class={ "gap gap-" (r.gap.as_str()) } { (gap_label(tr, r.gap)) } }
                    td data-testid="coverage-hostname" {
                        @match &r.terminal {
                            Some(t) => (terminal_link(t.id, &r.hostname)),
                            None => (r.hostname),
                        }
                    }
                    td { @if let Some(m) = &r.machine_id { code { (m) } } }
                    td { @if let Some(n) = &r.office_number { (office_link(n)) } }
                    td { (r.office_name.as_deref().unwrap_or("")) }
                    td { @if let Some(t) = r.not_after { (Day(t, ctx.tz)) } }
                    td { (opt_stamp(ctx, r.last_report_at)) }
                    td { (r.agent_version.as_deref().unwrap_or("")) }
                }
            }
        }),
    );
    let versions = Table::new("agent-versions", [tr.agent_version, tr.terminals_total, ""]).render(
        tr,
        report.agent_versions.iter().map(|v| {
            html! {
                tr data-testid="agent-version-row" data-outdated=(v.outdated) {
                    td { code { (v.version) } }
                    td class="n" { (v.terminals) }
                    td { @if v.outdated { span class="state state-failed" { (tr.agent_outdated) } } }
                }
            }
        }),
    );
    let content = html! {
        p class="note" { (tr.coverage_intro) }
        @if report.list_imported_at.is_none() {
            p class="note" data-testid="coverage-no-list" { (tr.coverage_no_list) }
        } @else {
            p { (tr.expected_terminals) ": " span data-testid="coverage-expected" { (report.expected_terminals) }
                " · " (tr.terminals_total) ": " (report.terminals) }
        }
        (table)
        h2 { (tr.agent_versions) }
        p { (tr.minimum_agent_version) ": " code data-testid="minimum-agent-version" { (report.minimum_agent_version) } }
        (versions)
    };
    page(ctx, tr.nav_coverage, Some(Nav::Coverage), &content)
}
