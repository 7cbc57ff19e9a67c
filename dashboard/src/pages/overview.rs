//! `/`: the fleet's counts as cards linking to the matching lists, and the 36-month expiry
//! timeline as a chart and, for screen readers and copying, as a table.

use certfleet_model::Overview;
use maud::{Markup, html};

use crate::chart;
use crate::html::{Ctx, Nav, Table, page, window_form};

pub fn overview(ctx: &Ctx, o: &Overview) -> Markup {
    let tr = ctx.tr();
    let within = o.within_days;
    let cards = [
        (
            "count-expired",
            "st-expired",
            tr.expired,
            o.expired,
            format!("/expiring?status=expired&within={within}"),
        ),
        (
            "count-renew-now",
            "st-renew",
            tr.renew_now,
            o.renew_now,
            format!("/expiring?status=renew_now&within={within}"),
        ),
        (
            "count-expiring",
            "st-expiring",
            tr.expiring,
            o.expiring,
            format!("/expiring?status=expiring&within={within}"),
        ),
        (
            "count-ok",
            "st-ok",
            tr.ok,
            o.ok,
            format!("/expiring?status=ok&within={within}"),
        ),
        (
            "count-stale",
            "st-stale",
            tr.stale_terminals,
            o.stale_terminals,
            "/stale".to_owned(),
        ),
        (
            "count-uncovered",
            "st-uncovered",
            tr.uncovered_offices,
            o.uncovered_offices,
            "/offices?uncovered=1".to_owned(),
        ),
    ];
    let timeline = Table::new("timeline-table", [tr.month, tr.expired, tr.expiring, tr.ok]).render(
        tr,
        o.timeline.iter().map(|b| {
            html! {
                tr {
                    th scope="row" { (b.month) }
                    td class="n" { (b.expired) }
                    td class="n" { (b.expiring) }
                    td class="n" { (b.ok) }
                }
            }
        }),
    );
    let content = html! {
        (window_form(ctx, "/", "within", tr.within, within))
        section class="cards" aria-label="counts" {
            @for (testid, class, label, n, href) in &cards {
                a class={ "card " (class) } href=(href) {
                    span class="num" data-testid=(testid) { (n) }
                    span class="lbl" { (label) }
                }
            }
        }
        p class="note" {
            (tr.pairs_note) " " (tr.terminals_total) ": "
            span data-testid="count-terminals" { (o.terminals) }
            " · " (tr.offices_total) ": "
            span data-testid="count-offices" { (o.offices) }
        }
        section class="chart" {
            h2 { (tr.timeline_title) }
            ul class="legend" {
                li { span class="sw seg-expired" {} (tr.expired) }
                li { span class="sw seg-expiring" {} (tr.expiring) }
                li { span class="sw seg-ok" {} (tr.ok) }
            }
            div class="chart-box" { (chart::timeline_svg(&o.timeline, tr)) }
            details {
                summary { (tr.show_as_table) }
                (timeline)
            }
        }
    };
    page(ctx, tr.nav_overview, Some(Nav::Overview), &content)
}
