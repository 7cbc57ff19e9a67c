//! `/alerts`: the most recent alert decisions and how their delivery went.

use certfleet_model::AlertRecord;
use maud::{Markup, html};

use crate::display::{Day, Stamp};
use crate::html::{Ctx, Nav, Table, office_link, page, terminal_link};

pub fn alerts(ctx: &Ctx, records: &[AlertRecord]) -> Markup {
    let tr = ctx.tr();
    let table = Table::new(
        "alerts-table",
        [
            tr.decided_at,
            tr.threshold,
            tr.office_number,
            tr.terminal,
            tr.not_after,
            tr.recipient,
            tr.state,
            tr.delivered_at,
            tr.attempts,
            tr.last_error,
        ],
    )
    .render(
        tr,
        records.iter().map(|a| {
            html! {
                tr data-testid="alert-row" {
                    td { (Stamp(a.decided_at, ctx.tz)) }
                    td { (a.threshold) }
                    td { @if let Some(n) = &a.office_number { (office_link(n)) } }
                    td { @if let Some(t) = &a.terminal { (terminal_link(t.id, &t.hostname)) } }
                    td { @if let Some(t) = a.not_after { (Day(t, ctx.tz)) } }
                    td { (a.recipient) }
                    td { span class={ "state state-" (a.state) } { (a.state) } }
                    td { @if let Some(t) = a.delivered_at { (Stamp(t, ctx.tz)) } }
                    td class="n" { (a.attempts) }
                    td { (a.last_error.as_deref().unwrap_or("")) }
                }
            }
        }),
    );
    page(ctx, tr.nav_alerts, Some(Nav::Alerts), &table)
}
