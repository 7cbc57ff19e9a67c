//! The fleet's terminal lists: `/multi-office` (terminals holding certificates of two or more
//! offices) and `/stale` (terminals that stopped reporting), both paginated.

use certfleet_model::{StaleReport, TerminalRow};
use maud::{Markup, html};

use crate::ListPage;
use crate::display::Day;
use crate::html::{
    Ctx, Nav, Paging, Table, badge, office_link, opt_stamp, page, stale_mark, terminal_link,
    window_form,
};

/// `/multi-office`. `list` is already the requested page (see `web::list_page`).
pub fn multi_office(ctx: &Ctx, list: &ListPage<TerminalRow>) -> Markup {
    let tr = ctx.tr();
    let paging = Paging::new(list.total, ctx.requested_page(), ctx.page_size);
    let table = Table::new(
        "multi-table",
        [
            tr.terminal,
            tr.office_count,
            tr.offices_on_terminal,
            tr.last_report,
            tr.stale,
        ],
    )
    .paged_by_query(ctx, paging)
    .render(
        tr,
        list.rows.iter().map(|t| {
            html! {
                tr data-testid="multi-row" {
                    td { (terminal_link(t.terminal.id, &t.terminal.hostname)) }
                    td class="n" { (t.offices.len()) }
                    td {
                        ul class="plain" {
                            @for o in &t.offices {
                                li {
                                    (office_link(&o.office_number))
                                    " " (o.office_name.as_deref().unwrap_or("")) " "
                                    (badge(tr, o.status, false))
                                    " " (Day(o.not_after, ctx.tz))
                                }
                            }
                        }
                    }
                    td { (opt_stamp(ctx, t.last_report_at)) }
                    td { @if t.stale { (stale_mark(tr)) } }
                }
            }
        }),
    );
    let content = html! {
        (window_form(ctx, "/multi-office", "within", tr.within, list.within_days))
        (table)
    };
    page(ctx, tr.nav_multi, Some(Nav::Multi), &content)
}

/// `/stale`: the whole report, cut into pages here.
pub fn stale(ctx: &Ctx, report: &StaleReport) -> Markup {
    let tr = ctx.tr();
    let paging = Paging::new(report.rows.len(), ctx.requested_page(), ctx.page_size);
    let table = Table::new(
        "stale-table",
        [
            tr.terminal,
            tr.machine_id,
            tr.last_report,
            tr.days_since,
            tr.office_count,
        ],
    )
    .paged_by_query(ctx, paging)
    .render(
        tr,
        report.rows[paging.start..paging.end].iter().map(|s| {
            html! {
                tr data-testid="stale-row" {
                    td { (terminal_link(s.terminal.id, &s.terminal.hostname)) }
                    td { code { (s.terminal.machine_id) } }
                    td { (opt_stamp(ctx, s.last_report_at)) }
                    td class="n" { @if let Some(d) = s.days_since_report { (d) } }
                    td class="n" { (s.office_count) }
                }
            }
        }),
    );
    let content = html! {
        (window_form(ctx, "/stale", "older_than", tr.older_than, report.older_than_days))
        (table)
    };
    page(ctx, tr.nav_stale, Some(Nav::Stale), &content)
}
