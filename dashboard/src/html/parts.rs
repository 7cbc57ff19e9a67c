//! Small pieces the pages share: status badges, links to offices and terminals, marks, times
//! that may be missing, and the forms (GET filter forms, POST forms).

use certfleet_model::{PairStatus, TrackingState, TrackingView};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::Ctx;
use crate::display::{Stamp, status_of};
use crate::i18n::Tr;

/// The status of a pair as a coloured badge.
pub fn badge(tr: &Tr, status: PairStatus, renew_now: bool) -> Markup {
    let (label, class) = status_of(tr, status, renew_now);
    html! { span class={ "badge " (class) } { (label) } }
}

/// A pair's renewal-tracking state as a badge, with how long a request has waited, a hold's
/// end, the note and who changed it last.
pub fn tracking_badge(ctx: &Ctx, t: &TrackingView) -> Markup {
    let tr = ctx.tr();
    let class = match t.state {
        TrackingState::Stuck => "badge st-expired",
        TrackingState::Requested | TrackingState::Reissue => "badge st-expiring",
        TrackingState::Renewed => "badge st-ok",
        _ => "badge st-superseded",
    };
    html! {
        span class=(class) data-testid="tracking-state" data-state=(t.state.as_str()) {
            ((tr.tracking_state)(t.state))
        }
        @if let Some(days) = t.days_waiting { " " ((tr.tracking_waiting)(days)) }
        @if let (TrackingState::OnHold, Some(until)) = (t.state, t.hold_until) { " → " (until) }
        @if !t.note.is_empty() { " " span class="note" { (t.note) } }
        @if let Some(by) = &t.changed_by { " " span class="who" { "(" (by) ")" } }
    }
}

/// A link to an office's page. Office numbers come from certificates, so the path segment is
/// percent-encoded as well as escaped.
pub fn office_link(number: &str) -> Markup {
    html! { a href={ "/offices/" (utf8_percent_encode(number, NON_ALPHANUMERIC)) } { (number) } }
}

/// A link to a terminal's page, labelled with its hostname.
pub fn terminal_link(id: i64, hostname: &str) -> Markup {
    html! { a href={ "/terminals/" (id) } { (hostname) } }
}

/// The "stale" mark of a terminal that stopped reporting.
pub fn stale_mark(tr: &Tr) -> Markup {
    html! { span class="mark stale" { (tr.stale) } }
}

/// A time stamp, or "never" when there is none (a terminal that never reported).
pub fn opt_stamp(ctx: &Ctx, t: Option<DateTime<Utc>>) -> Markup {
    html! {
        @match t {
            Some(t) => (Stamp(t, ctx.tz)),
            None => (ctx.tr().never),
        }
    }
}

/// Whether a certificate has its private key: yes, no, or unknown.
pub fn key_label(tr: &Tr, k: Option<bool>) -> &'static str {
    match k {
        Some(true) => tr.yes,
        Some(false) => tr.no,
        None => tr.unknown,
    }
}

/// A day count field (windows, thresholds), bounded like the query parsers bound it.
pub fn number_input(name: &str, value: u32) -> Markup {
    html! { input type="number" name=(name) min="0" max="3660" value=(value); }
}

/// A filter form: GET, so every choice lives in the query string (a reload or a bookmark
/// shows the same rows). `app.js` submits it when a select or checkbox changes; without
/// JavaScript the submit button does.
pub fn filter_form(action: &str, fields: &Markup) -> Markup {
    html! { form class="filters" method="get" action=(action) data-autosubmit { (fields) } }
}

/// The filter form of a page whose only filter is a number of days.
pub fn window_form(ctx: &Ctx, action: &str, name: &str, label: &str, value: u32) -> Markup {
    filter_form(
        action,
        &html! {
            label { (label) " " (number_input(name, value)) }
            " "
            button type="submit" { (ctx.tr().apply) }
        },
    )
}

/// Every form that changes state (POST) is built here, so that protection every such form
/// needs (a CSRF token field) is added once for all of them.
pub fn post_form(ctx: &Ctx, class: &str, action: &str, fields: &Markup) -> Markup {
    html! {
        form class=(class) method="post" action=(action) {
            input type="hidden" name="csrf" value=(ctx.csrf);
            (fields)
        }
    }
}
