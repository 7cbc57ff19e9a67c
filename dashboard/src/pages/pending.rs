//! `/pending`: terminals enrolled in approval mode, each with an approve button (a POST form
//! to `/pending/{id}/approve`). What a terminal says about itself is shown as text, so an
//! operator can compare it with the PC before approving.

use certfleet_model::PendingTerminal;
use maud::{Markup, html};

use crate::display::Stamp;
use crate::html::{Ctx, Nav, Table, opt_stamp, page, post_form};

pub fn pending(ctx: &Ctx, terminals: &[PendingTerminal]) -> Markup {
    let tr = ctx.tr();
    let table = Table::new(
        "pending-table",
        [
            tr.terminal,
            tr.machine_id,
            tr.os,
            tr.agent_version,
            tr.pending_since,
            tr.enrolled_from,
            tr.last_report,
            tr.certificates,
            "",
        ],
    )
    .render(
        tr,
        terminals.iter().map(|t| {
            html! {
                tr data-testid="pending-row" data-id=(t.id) {
                    td data-testid="pending-hostname" { (t.hostname) }
                    td { code { (t.machine_id) } }
                    td { (t.os_name) " " (t.os_version) }
                    td { (t.agent_version) }
                    td { (Stamp(t.pending_since, ctx.tz)) }
                    td { (t.enrolled_from.as_deref().unwrap_or("-")) }
                    td { (opt_stamp(ctx, t.last_report_at)) }
                    td class="n" { (t.certificate_count) }
                    td {
                        (post_form(
                            "approve",
                            &format!("/pending/{}/approve", t.id),
                            &html! {
                                button type="submit" data-testid="approve" { (tr.approve) }
                            },
                        ))
                    }
                }
            }
        }),
    );
    let content = html! {
        p class="note" { (tr.pending_intro) }
        (table)
    };
    page(ctx, tr.nav_pending, Some(Nav::Pending), &content)
}
