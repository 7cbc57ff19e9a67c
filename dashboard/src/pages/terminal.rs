//! `/terminals/{id}`: one terminal's facts, its offices, and every certificate it holds with
//! every location it was found in.

use certfleet_model::TerminalDetail;
use maud::{Markup, html};

use crate::display::{Day, Stamp};
use crate::html::{
    Ctx, Table, badge, key_label, office_link, opt_stamp, page, post_form, stale_mark,
    tracking_badge,
};

/// The form that records a tracking change for one office of the terminal (issue 17 §1).
fn tracking_form(ctx: &Ctx, terminal: i64, office: &str) -> Markup {
    let tr = ctx.tr();
    post_form(
        ctx,
        "tracking",
        &format!("/terminals/{terminal}/tracking"),
        &html! {
            input type="hidden" name="office" value=(office);
            select name="action" data-testid="tracking-action" {
                @for a in ["requested", "reissue", "hold", "retire", "clear"] {
                    option value=(a) { ((tr.tracking_action)(a)) }
                }
            }
            " "
            label { (tr.tracking_date) " " input type="date" name="date"; }
            " "
            label { (tr.tracking_until) " " input type="date" name="until"; }
            " "
            label { (tr.tracking_note) " " input type="text" name="note" maxlength="500"; }
            " "
            button type="submit" data-testid="tracking-submit" { (tr.tracking_submit) }
        },
    )
}

pub fn terminal(ctx: &Ctx, d: &TerminalDetail) -> Markup {
    let tr = ctx.tr();
    let row = &d.row;
    let offices = Table::new(
        "terminal-offices",
        [
            tr.office_number,
            tr.office_name,
            tr.status,
            tr.not_after,
            tr.days_left,
            tr.tracking,
        ],
    )
    .render(
        tr,
        row.offices.iter().map(|o| {
            let tracking = d
                .tracking
                .iter()
                .find(|t| t.office_number == o.office_number)
                .map(|t| &t.tracking);
            html! {
                tr data-testid="terminal-office" {
                    td { (office_link(&o.office_number)) }
                    td { (o.office_name.as_deref().unwrap_or("")) }
                    td { (badge(tr, o.status, false)) }
                    td { (Day(o.not_after, ctx.tz)) }
                    td class="n" { (o.days_left) }
                    td {
                        @if let Some(t) = tracking {
                            (tracking_badge(ctx, t))
                        }
                        (tracking_form(ctx, row.terminal.id, &o.office_number))
                    }
                }
            }
        }),
    );
    let certificates = Table::new(
        "terminal-certificates",
        [
            tr.office_number,
            tr.subject,
            tr.issuer,
            tr.serial,
            tr.not_before,
            tr.not_after,
            tr.private_key,
            tr.friendly_name,
            tr.locations,
            tr.status,
            tr.first_seen,
            tr.last_seen,
        ],
    )
    .render(
        tr,
        d.holdings.iter().map(|h| {
            html! {
                tr data-testid="holding" {
                    td { @if let Some(n) = &h.office_number { (office_link(n)) } }
                    td class="dn" { (h.certificate.subject) }
                    td class="dn" { (h.certificate.issuer) }
                    td { code { (h.certificate.serial) } }
                    td { (Day(h.not_before, ctx.tz)) }
                    td { (Day(h.not_after, ctx.tz)) }
                    td { (key_label(tr, h.has_private_key)) }
                    td { (h.friendly_name) }
                    td {
                        ul class="plain" {
                            @for l in &h.locations {
                                li data-testid="location" {
                                    span class="src" { (l.source) }
                                    " " (l.user) " " (l.store) " "
                                    code { (l.path) }
                                }
                            }
                        }
                    }
                    td {
                        // Only office certificates compete for "effective".
                        @if h.office_number.is_some() {
                            @if h.effective {
                                span class="badge st-ok" { (tr.effective) }
                            } @else {
                                span class="badge st-superseded" { (tr.superseded) }
                            }
                        }
                    }
                    td { (Stamp(h.first_seen, ctx.tz)) }
                    td { (Stamp(h.last_seen, ctx.tz)) }
                }
            }
        }),
    );
    let content = html! {
        dl class="facts" {
            dt { (tr.terminal) }
            dd data-testid="terminal-hostname" { (row.terminal.hostname) }
            dt { (tr.machine_id) }
            dd { code { (row.terminal.machine_id) } }
            dt { (tr.os) }
            dd { (row.os_name) " " (row.os_version) }
            dt { (tr.agent_version) }
            dd data-testid="agent-version" { (row.agent_version) }
            dt { (tr.last_report) }
            dd data-testid="last-report" {
                (opt_stamp(ctx, row.last_report_at))
                @if row.stale { " " (stale_mark(tr)) }
            }
        }
        h2 { (tr.offices_on_terminal) }
        (offices)
        h2 { (tr.certificates) }
        (certificates)
    };
    let title = format!("{} {}", tr.terminal, row.terminal.hostname);
    page(ctx, &title, None, &content)
}
