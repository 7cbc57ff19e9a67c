//! `/expiring`: the filter form, the sortable, paginated table of (terminal, office) pairs,
//! and the CSV link for exactly the rows shown. Also the pair cells the office page reuses.

use certfleet_model::{ExpiringReport, PairRow};
use maud::{Markup, html};

use crate::display::{Date, Day};
use crate::filters::{ExpiringFilter, SortKey, StatusFilter};
use crate::html::{
    Column, Ctx, Nav, Paging, Table, badge, filter_form, number_input, office_link, page,
    stale_mark, terminal_link, tracking_badge,
};
use crate::i18n::Tr;

fn status_filter_label(tr: &Tr, f: StatusFilter) -> &'static str {
    match f {
        StatusFilter::Default => tr.status_default,
        StatusFilter::Expired => tr.expired,
        StatusFilter::RenewNow => tr.renew_now,
        StatusFilter::Expiring => tr.expiring,
        StatusFilter::Ok => tr.ok,
        StatusFilter::All => tr.status_all,
    }
}

/// The columns of a pair shared by the expiring table and the office page.
pub(super) fn pair_columns(tr: &Tr) -> [&'static str; 11] {
    [
        tr.office_number,
        tr.office_name,
        tr.terminal,
        tr.status,
        tr.not_after,
        tr.days_left,
        tr.renew_by,
        tr.billing_month,
        tr.multi_office,
        tr.stale,
        tr.tracking,
    ]
}

/// The cells of one pair, in [`pair_columns`] order.
pub(super) fn pair_cells(ctx: &Ctx, r: &PairRow) -> Markup {
    let tr = ctx.tr();
    html! {
        td { (office_link(&r.office_number)) }
        td { (r.office_name.as_deref().unwrap_or("")) }
        td { (terminal_link(r.terminal.id, &r.terminal.hostname)) }
        td { (badge(tr, r.status, r.renew_now)) }
        td { time { (Day(r.not_after, ctx.tz)) } }
        td class="n" { (r.days_left) }
        td { time { (Date(r.renew_by)) } }
        td { (r.first_blocked_billing_month) }
        td {
            @if r.terminal_office_count >= 2 {
                span class="mark multi" title=(tr.multi_office) { "×" (r.terminal_office_count) }
            }
        }
        td { @if r.stale { (stale_mark(tr)) } }
        td { (tracking_badge(ctx, &r.tracking)) }
    }
}

/// The filters: a GET form, so every choice lives in the query string. The sort order rides
/// along in hidden fields so that filtering keeps it.
fn filters(tr: &Tr, f: &ExpiringFilter) -> Markup {
    filter_form(
        "/expiring",
        &html! {
            label {
                (tr.office_number) " "
                input type="text" name="office" value=(f.offices.join(" "))
                    placeholder=(tr.office_terminal_placeholder) inputmode="numeric";
            }
            " "
            label {
                (tr.terminal) " "
                input type="text" name="terminal" value=(f.terminals.join(" "));
            }
            " "
            label {
                (tr.status) " "
                select name="status" {
                    @for s in StatusFilter::ALL {
                        option value=(s.as_str()) selected[s == f.status] {
                            (status_filter_label(tr, s))
                        }
                    }
                }
            }
            " "
            label { (tr.within) " " (number_input("within", f.within)) }
            @if f.sort != SortKey::Expiry {
                input type="hidden" name="sort" value=(f.sort.as_str());
            }
            @if f.desc {
                input type="hidden" name="dir" value="desc";
            }
            " "
            button type="submit" { (tr.apply) }
            " "
            a class="reset" href="/expiring" { (tr.reset) }
        },
    )
}

pub fn expiring(
    ctx: &Ctx,
    f: &ExpiringFilter,
    report: &ExpiringReport,
    rows: &[PairRow],
    page_size: usize,
) -> Markup {
    let tr = ctx.tr();
    let total = rows.len();
    let paging = Paging::new(total, f.page, page_size);
    // A sortable header links to the table sorted by its column: ascending, or descending
    // when it is already sorted ascending by it.
    let sortable = |key: SortKey, label: &'static str| {
        let active = f.sort == key;
        let href = format!("/expiring?{}", f.query_string(key, active && !f.desc, 1));
        Column::sortable(label, href, active.then_some(f.desc))
    };
    let [office, name, terminal, status, not_after, rest @ ..] = pair_columns(tr);
    let mut columns = vec![
        sortable(SortKey::Office, office),
        Column::new(name),
        sortable(SortKey::Terminal, terminal),
        sortable(SortKey::Status, status),
        sortable(SortKey::Expiry, not_after),
    ];
    columns.extend(rest.map(Column::new));
    let table = Table::new("expiring-table", columns)
        .paged(paging, |p| {
            format!("/expiring?{}", f.query_string(f.sort, f.desc, p))
        })
        .render(
            tr,
            rows[paging.start..paging.end].iter().map(|r| {
                html! {
                    tr data-testid="expiring-row" data-office=(r.office_number)
                        data-terminal-id=(r.terminal.id)
                    { (pair_cells(ctx, r)) }
                }
            }),
        );
    let content = html! {
        (filters(tr, f))
        p class="summary" {
            span data-testid="row-count" data-total=(total) {
                ((tr.showing)(paging.start + 1, paging.end, total))
            }
            " · " (tr.as_of) ": " (Day(report.as_of, ctx.tz)) " · "
            a data-testid="csv-link"
                href={ "/expiring.csv?" (f.query_string(f.sort, f.desc, 1)) } download
            { (tr.csv) }
        }
        (table)
    };
    page(ctx, tr.nav_expiring, Some(Nav::Expiring), &content)
}
