//! `/offices`: every office of the registry and of the certificates (optionally only those
//! without a valid certificate), paginated; `/offices/{number}`: one office, its registry
//! facts and every terminal holding it, with superseded certificates.

use certfleet_model::{OfficeRow, PairRow, PairStatus, TrackingState};
use maud::{Markup, html};

use super::expiring::{pair_cells, pair_columns};
use crate::ListPage;
use crate::display::Day;
use crate::html::{
    Ctx, Nav, Paging, Table, badge, filter_form, number_input, office_link, page, terminal_link,
};

/// `/offices`. `list` is already the requested page (see `web::list_page`).
pub fn offices(ctx: &Ctx, list: &ListPage<OfficeRow>, uncovered_only: bool) -> Markup {
    let tr = ctx.tr();
    let paging = Paging::new(list.total, ctx.requested_page(), ctx.page_size);
    let columns = [
        tr.office_number,
        tr.office_name,
        tr.site,
        tr.terminals_total,
        tr.soonest,
        tr.status,
    ];
    let table = Table::new("offices-table", columns)
        .paged_by_query(ctx, paging)
        .render(
            tr,
            list.rows.iter().map(|o| {
                html! {
                    tr data-testid="office-list-row" {
                        td { (office_link(&o.office_number)) }
                        td { (o.office_name.as_deref().unwrap_or("")) }
                        td { (o.site.as_deref().unwrap_or("")) }
                        td class="n" { (o.terminals.len()) }
                        td { @if let Some(t) = o.soonest_not_after { (Day(t, ctx.tz)) } }
                        td {
                            @if o.uncovered {
                                span class="badge st-expired" { (tr.uncovered) }
                            } @else if let Some(worst) = o.terminals.iter().map(|t| t.status).min() {
                                (badge(tr, worst, false))
                            }
                        }
                    }
                }
            }),
        );
    let content = html! {
        (filter_form("/offices", &html! {
            label {
                input type="checkbox" name="uncovered" value="1" checked[uncovered_only];
                " " (tr.uncovered_only)
            }
            " "
            label { (tr.within) " " (number_input("within", list.within_days)) }
            " "
            button type="submit" { (tr.apply) }
        }))
        (table)
    };
    page(ctx, tr.nav_offices, Some(Nav::Offices), &content)
}

/// `/offices/{number}`: `office` is its row in the office report (`None` when only
/// certificates name it), `rows` every pair holding it.
pub fn office(ctx: &Ctx, number: &str, office: Option<&OfficeRow>, rows: &[PairRow]) -> Markup {
    let tr = ctx.tr();
    let name = office
        .and_then(|o| o.office_name.as_deref())
        .or_else(|| rows.iter().find_map(|r| r.office_name.as_deref()))
        .unwrap_or("");
    let columns = pair_columns(tr).into_iter().chain([tr.superseded_certs]);
    let table = Table::new("office-terminals", columns).render(
        tr,
        rows.iter().map(|r| {
            html! {
                tr data-testid="office-row" data-terminal-id=(r.terminal.id) {
                    (pair_cells(ctx, r))
                    td {
                        ul class="plain" {
                            @for s in &r.superseded {
                                li data-testid="superseded" {
                                    code title=(s.sha256) { (s.sha256.get(..16).unwrap_or(&s.sha256)) "…" }
                                    " " (Day(s.not_after, ctx.tz))
                                }
                            }
                        }
                    }
                }
            }
        }),
    );
    // Renewal progress across the office's PCs (issue 17 §3), counted from the statuses the
    // report decided: a PC is renewed when its effective certificate is not due (`ok`), and
    // still holds only the old certificate otherwise. Retired PCs do not count; PCs the
    // registry expects but that hold no certificate of the office count as not renewed.
    let active: Vec<&PairRow> = rows
        .iter()
        .filter(|r| r.tracking.state != TrackingState::Retired)
        .collect();
    let renewed = active.iter().filter(|r| r.status == PairStatus::Ok).count();
    let old_only: Vec<&&PairRow> = active
        .iter()
        .filter(|r| r.status != PairStatus::Ok)
        .collect();
    let expected = office
        .and_then(|o| o.expected_pcs)
        .map_or(0, |n| n as usize);
    let total = active.len().max(expected);
    let content = html! {
        @if total > 0 {
            p class="progress" data-testid="office-progress" {
                ((tr.renewed_on)(renewed, total))
                @if expected > active.len() {
                    " " ((tr.pcs_missing)(expected - active.len()))
                }
            }
        }
        @if !old_only.is_empty() {
            p data-testid="old-only" {
                (tr.old_only) ": "
                @for (i, r) in old_only.iter().enumerate() {
                    @if i > 0 { ", " }
                    (terminal_link(r.terminal.id, &r.terminal.hostname))
                }
            }
        }
        dl class="facts" {
            dt { (tr.office_number) }
            dd data-testid="office-number" { (number) }
            dt { (tr.office_name) }
            dd data-testid="office-name" { (name) }
            @if let Some(o) = office {
                dt { (tr.site) }
                dd { (o.site.as_deref().unwrap_or("")) }
                dt { (tr.owner_email) }
                dd { (o.owner_email.as_deref().unwrap_or("")) }
                dt { (tr.soonest) }
                dd { @if let Some(t) = o.soonest_not_after { (Day(t, ctx.tz)) } }
                @if o.uncovered {
                    dt { (tr.status) }
                    dd { span class="badge st-expired" data-testid="uncovered" { (tr.uncovered) } }
                }
            }
        }
        h2 { (tr.terminals_holding) }
        (table)
    };
    let title = format!("{} {}", tr.office_number, number);
    page(ctx, &title, Some(Nav::Offices), &content)
}
