//! HTML rendering of every page: plain `String` building with `fmt::Write` (fast, no template
//! engine), every dynamic string through [`E`]. Stable `data-testid` attributes mark what the
//! browser tests read.

use std::fmt::{self, Write as _};

use certfleet_model::{
    AlertRecord, ExpiringReport, OfficeRow, Overview, PairRow, PairStatus, StaleReport,
    TerminalDetail, TerminalRow,
};
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::ListPage;
use crate::chart;
use crate::escape::E;
use crate::filters::{ExpiringFilter, Params, SortKey, StatusFilter};
use crate::i18n::{Lang, Tr};

/// Appends formatted text to a `String` (which cannot fail).
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{ let _ = write!($out, $($arg)*); }};
}

/// What every page needs to know about the request.
#[derive(Debug)]
pub struct Ctx {
    pub lang: Lang,
    pub tz: Tz,
    pub as_of: DateTime<Utc>,
    /// Logged-in user (via the session cookie).
    pub user: Option<String>,
    /// Request path (for the language switch links).
    pub path: String,
    pub params: Params,
    /// Rows per page of long tables.
    pub page_size: usize,
}

impl Ctx {
    pub fn tr(&self) -> &'static Tr {
        self.lang.tr()
    }
}

/// Navigation entries (the current one is marked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Expiring,
    Offices,
    Multi,
    Stale,
    Alerts,
    None,
}

/// `YYYY/MM/DD` of an instant in the display time zone.
pub struct Day(pub DateTime<Utc>, pub Tz);
impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0.with_timezone(&self.1);
        write!(f, "{:04}/{:02}/{:02}", d.year(), d.month(), d.day())
    }
}

/// `YYYY/MM/DD HH:MM` of an instant in the display time zone.
pub struct Stamp(pub DateTime<Utc>, pub Tz);
impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0.with_timezone(&self.1);
        write!(
            f,
            "{:04}/{:02}/{:02} {:02}:{:02}",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minute()
        )
    }
}

/// `YYYY/MM/DD` of a calendar date.
pub struct Date(pub NaiveDate);
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}/{:02}/{:02}",
            self.0.year(),
            self.0.month(),
            self.0.day()
        )
    }
}

/// A value for a URL path segment (office numbers come from certificates).
pub fn seg(s: &str) -> impl fmt::Display + '_ {
    utf8_percent_encode(s, NON_ALPHANUMERIC)
}

/// Label and CSS class of a pair's status; renew-now is its own state for display.
pub fn status_of(tr: &Tr, status: PairStatus, renew_now: bool) -> (&'static str, &'static str) {
    match status {
        PairStatus::Expired => (tr.expired, "st-expired"),
        PairStatus::Expiring | PairStatus::Ok if renew_now => (tr.renew_now, "st-renew"),
        PairStatus::Expiring => (tr.expiring, "st-expiring"),
        PairStatus::Ok => (tr.ok, "st-ok"),
    }
}

fn badge(out: &mut String, tr: &Tr, status: PairStatus, renew_now: bool) {
    let (label, class) = status_of(tr, status, renew_now);
    w!(out, r#"<span class="badge {class}">{}</span>"#, E(label));
}

fn opt_stamp(out: &mut String, ctx: &Ctx, t: Option<DateTime<Utc>>) {
    match t {
        Some(t) => w!(out, "{}", Stamp(t, ctx.tz)),
        None => w!(out, "{}", E(ctx.tr().never)),
    }
}

fn key_label(tr: &Tr, k: Option<bool>) -> &'static str {
    match k {
        Some(true) => tr.yes,
        Some(false) => tr.no,
        None => tr.unknown,
    }
}

fn office_link(out: &mut String, number: &str) {
    w!(
        out,
        r#"<a href="/offices/{}">{}</a>"#,
        seg(number),
        E(number)
    );
}

fn terminal_link(out: &mut String, id: i64, hostname: &str) {
    w!(out, r#"<a href="/terminals/{id}">{}</a>"#, E(hostname));
}

/// The page frame up to the opening of `<main>`.
fn head(out: &mut String, ctx: &Ctx, title: &str, nav: Nav) {
    let tr = ctx.tr();
    w!(
        out,
        r#"<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title} – {app}</title><link rel="stylesheet" href="/assets/style.css?v={v}"><link rel="icon" href="/assets/favicon.svg?v={v}" type="image/svg+xml"><script src="/assets/app.js?v={v}" defer></script></head><body><header class="top"><a class="brand" href="/">{app}</a><nav aria-label="main"><ul>"#,
        lang = ctx.lang.code(),
        title = E(title),
        app = E(tr.app),
        v = env!("CARGO_PKG_VERSION"),
    );
    for (n, href, label) in [
        (Nav::Overview, "/", tr.nav_overview),
        (Nav::Expiring, "/expiring", tr.nav_expiring),
        (Nav::Offices, "/offices", tr.nav_offices),
        (Nav::Multi, "/multi-office", tr.nav_multi),
        (Nav::Stale, "/stale", tr.nav_stale),
        (Nav::Alerts, "/alerts", tr.nav_alerts),
    ] {
        let cur = if n == nav {
            r#" aria-current="page""#
        } else {
            ""
        };
        w!(out, r#"<li><a href="{href}"{cur}>{}</a></li>"#, E(label));
    }
    out.push_str(r#"</ul></nav><div class="tools">"#);
    // Language switch: the same page and query with `lang` replaced.
    let rest = ctx.params.without("lang");
    let sep = if rest.is_empty() { "" } else { "&amp;" };
    for (l, id, label) in [
        (Lang::Ja, "lang-ja", "日本語"),
        (Lang::En, "lang-en", "English"),
    ] {
        let cur = if l == ctx.lang {
            r#" aria-current="true""#
        } else {
            ""
        };
        w!(
            out,
            r#"<a class="lang" data-testid="{id}" lang="{code}" hreflang="{code}" href="{path}?{rest}{sep}lang={code}"{cur}>{label}</a>"#,
            code = l.code(),
            path = E(&ctx.path),
            rest = E(&rest),
        );
    }
    if let Some(user) = &ctx.user {
        w!(
            out,
            r#"<span class="user">{}</span><form class="logout" method="post" action="/logout"><button type="submit" data-testid="logout">{}</button></form>"#,
            E(user),
            E(tr.logout)
        );
    }
    w!(
        out,
        r#"</div></header><main id="main"><h1>{}</h1>"#,
        E(title)
    );
}

fn foot(out: &mut String, ctx: &Ctx) {
    w!(
        out,
        r#"</main><footer><span>{}: <time data-testid="as-of">{}</time> ({})</span> · certfleet {}</footer></body></html>"#,
        E(ctx.tr().as_of),
        Stamp(ctx.as_of, ctx.tz),
        E(ctx.tz.name()),
        env!("CARGO_PKG_VERSION")
    );
}

fn window_form(out: &mut String, ctx: &Ctx, action: &str, name: &str, label: &str, value: u32) {
    w!(
        out,
        r#"<form class="filters" method="get" action="{action}" data-autosubmit><label>{} <input type="number" name="{name}" min="0" max="3660" value="{value}"></label> <button type="submit">{}</button></form>"#,
        E(label),
        E(ctx.tr().apply)
    );
}

fn empty_row(out: &mut String, ctx: &Ctx, cols: usize) {
    w!(
        out,
        r#"<tr class="empty"><td colspan="{cols}">{}</td></tr>"#,
        E(ctx.tr().no_rows)
    );
}

/// The slice of a long table shown on one page.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: usize,
    end: usize,
    page: usize,
    pages: usize,
}

fn paginate(total: usize, page: usize, page_size: usize) -> Window {
    let page_size = page_size.max(1);
    let pages = total.div_ceil(page_size).max(1);
    let page = page.clamp(1, pages);
    let start = (page - 1) * page_size;
    Window {
        start,
        end: (start + page_size).min(total),
        page,
        pages,
    }
}

fn requested_page(ctx: &Ctx) -> usize {
    ctx.params
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
}

/// Page links (first, last and a few around the current page); `href(p)` is unescaped.
fn pager(out: &mut String, tr: &Tr, w: Window, href: impl Fn(usize) -> String) {
    if w.pages <= 1 {
        return;
    }
    out.push_str(r#"<nav class="pager" aria-label="pages">"#);
    if w.page > 1 {
        w!(
            out,
            r#"<a rel="prev" href="{}">{}</a> "#,
            E(&href(w.page - 1)),
            E(tr.prev)
        );
    }
    let mut last_shown = 0;
    for p in 1..=w.pages {
        if p == 1 || p == w.pages || p.abs_diff(w.page) <= 3 {
            if last_shown + 1 < p {
                out.push_str("… ");
            }
            if p == w.page {
                w!(out, r#"<span aria-current="page">{p}</span> "#);
            } else {
                w!(out, r#"<a href="{}">{p}</a> "#, E(&href(p)));
            }
            last_shown = p;
        }
    }
    if w.page < w.pages {
        w!(
            out,
            r#"<a rel="next" href="{}">{}</a>"#,
            E(&href(w.page + 1)),
            E(tr.next)
        );
    }
    out.push_str("</nav>");
}

/// Pager for the simple list pages: the current query with `page` replaced.
fn list_pager(out: &mut String, ctx: &Ctx, w: Window) {
    pager(out, ctx.tr(), w, |p| {
        format!("{}?{}", ctx.path, ctx.params.with_page(p))
    });
}

/// `/`: counts and the timeline.
pub fn overview(ctx: &Ctx, o: &Overview) -> String {
    let tr = ctx.tr();
    let mut out = String::with_capacity(16 * 1024);
    head(&mut out, ctx, tr.nav_overview, Nav::Overview);
    window_form(&mut out, ctx, "/", "within", tr.within, o.within_days);
    let within = o.within_days;
    out.push_str(r#"<section class="cards" aria-label="counts">"#);
    for (id, class, label, n, href) in [
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
    ] {
        w!(
            out,
            r#"<a class="card {class}" href="{}"><span class="num" data-testid="{id}">{n}</span><span class="lbl">{}</span></a>"#,
            E(&href),
            E(label)
        );
    }
    w!(
        out,
        r#"</section><p class="note">{} {}: <span data-testid="count-terminals">{}</span> · {}: <span data-testid="count-offices">{}</span></p>"#,
        E(tr.pairs_note),
        E(tr.terminals_total),
        o.terminals,
        E(tr.offices_total),
        o.offices
    );
    w!(
        out,
        r#"<section class="chart"><h2>{}</h2><ul class="legend"><li><span class="sw seg-expired"></span>{}</li><li><span class="sw seg-expiring"></span>{}</li><li><span class="sw seg-ok"></span>{}</li></ul><div class="chart-box">"#,
        E(tr.timeline_title),
        E(tr.expired),
        E(tr.expiring),
        E(tr.ok)
    );
    chart::timeline_svg(&mut out, &o.timeline, tr);
    w!(
        out,
        r#"</div><details><summary>{}</summary><table class="data"><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>"#,
        E(tr.show_as_table),
        E(tr.month),
        E(tr.expired),
        E(tr.expiring),
        E(tr.ok)
    );
    for b in &o.timeline {
        w!(
            out,
            r#"<tr><th scope="row">{}</th><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            E(&b.month),
            b.expired,
            b.expiring,
            b.ok
        );
    }
    out.push_str("</tbody></table></details></section>");
    foot(&mut out, ctx);
    out
}

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

/// One table row of a pair (expiring table and office page share the columns).
fn pair_cells(out: &mut String, ctx: &Ctx, r: &PairRow) {
    let tr = ctx.tr();
    out.push_str("<td>");
    office_link(out, &r.office_number);
    w!(
        out,
        "</td><td>{}</td><td>",
        E(r.office_name.as_deref().unwrap_or(""))
    );
    terminal_link(out, r.terminal.id, &r.terminal.hostname);
    out.push_str("</td><td>");
    badge(out, tr, r.status, r.renew_now);
    w!(
        out,
        r#"</td><td><time>{}</time></td><td class="n">{}</td><td><time>{}</time></td><td>{}</td><td>"#,
        Day(r.not_after, ctx.tz),
        r.days_left,
        Date(r.renew_by),
        E(&r.first_blocked_billing_month)
    );
    if r.terminal_office_count >= 2 {
        w!(
            out,
            r#"<span class="mark multi" title="{}">×{}</span>"#,
            E(tr.multi_office),
            r.terminal_office_count
        );
    }
    out.push_str("</td><td>");
    if r.stale {
        w!(out, r#"<span class="mark stale">{}</span>"#, E(tr.stale));
    }
    out.push_str("</td>");
}

/// `/expiring`: the filter form, the (paginated) table and the CSV link.
pub fn expiring(
    ctx: &Ctx,
    f: &ExpiringFilter,
    report: &ExpiringReport,
    rows: &[PairRow],
    page_size: usize,
) -> String {
    let tr = ctx.tr();
    let mut out = String::with_capacity(64 * 1024 + rows.len().min(page_size) * 700);
    head(&mut out, ctx, tr.nav_expiring, Nav::Expiring);
    // Filters: a GET form, so every choice lives in the query string.
    w!(
        out,
        r#"<form class="filters" method="get" action="/expiring" data-autosubmit><label>{} <input type="text" name="office" value="{}" placeholder="{}" inputmode="numeric"></label> <label>{} <input type="text" name="terminal" value="{}"></label> <label>{} <select name="status">"#,
        E(tr.office_number),
        E(&f.offices.join(" ")),
        E(tr.office_terminal_placeholder),
        E(tr.terminal),
        E(&f.terminals.join(" ")),
        E(tr.status)
    );
    for s in StatusFilter::ALL {
        let sel = if s == f.status { " selected" } else { "" };
        w!(
            out,
            r#"<option value="{}"{sel}>{}</option>"#,
            s.as_str(),
            E(status_filter_label(tr, s))
        );
    }
    w!(
        out,
        r#"</select></label> <label>{} <input type="number" name="within" min="0" max="3660" value="{}"></label>"#,
        E(tr.within),
        f.within
    );
    if f.sort != SortKey::Expiry {
        w!(
            out,
            r#"<input type="hidden" name="sort" value="{}">"#,
            f.sort.as_str()
        );
    }
    if f.desc {
        out.push_str(r#"<input type="hidden" name="dir" value="desc">"#);
    }
    w!(
        out,
        r#" <button type="submit">{}</button> <a class="reset" href="/expiring">{}</a></form>"#,
        E(tr.apply),
        E(tr.reset)
    );

    let total = rows.len();
    let win = paginate(total, f.page, page_size);
    let (start, end) = (win.start, win.end);
    let csv_q = f.query_string(f.sort, f.desc, 1);
    w!(
        out,
        r#"<p class="summary"><span data-testid="row-count" data-total="{total}">{}</span> · {}: {} · <a data-testid="csv-link" href="/expiring.csv?{}" download>{}</a></p>"#,
        E(&ctx.lang.showing(start + 1, end, total)),
        E(tr.as_of),
        Day(report.as_of, ctx.tz),
        E(&csv_q),
        E(tr.csv)
    );

    out.push_str(r#"<table class="data" data-testid="expiring-table"><thead><tr>"#);
    let sortable = |key: SortKey, label: &str, out: &mut String| {
        let active = f.sort == key;
        let next_desc = active && !f.desc;
        let aria = match (active, f.desc) {
            (true, false) => r#" aria-sort="ascending""#,
            (true, true) => r#" aria-sort="descending""#,
            _ => "",
        };
        w!(
            out,
            r#"<th scope="col"{aria}><a href="/expiring?{}">{}</a></th>"#,
            E(&f.query_string(key, next_desc, 1)),
            E(label)
        );
    };
    sortable(SortKey::Office, tr.office_number, &mut out);
    w!(out, r#"<th scope="col">{}</th>"#, E(tr.office_name));
    sortable(SortKey::Terminal, tr.terminal, &mut out);
    sortable(SortKey::Status, tr.status, &mut out);
    sortable(SortKey::Expiry, tr.not_after, &mut out);
    for l in [
        tr.days_left,
        tr.renew_by,
        tr.billing_month,
        tr.multi_office,
        tr.stale,
    ] {
        w!(out, r#"<th scope="col">{}</th>"#, E(l));
    }
    out.push_str("</tr></thead><tbody>");
    for r in &rows[start..end] {
        w!(
            out,
            r#"<tr data-testid="expiring-row" data-office="{}" data-terminal-id="{}">"#,
            E(&r.office_number),
            r.terminal.id
        );
        pair_cells(&mut out, ctx, r);
        out.push_str("</tr>");
    }
    if total == 0 {
        empty_row(&mut out, ctx, 10);
    }
    out.push_str("</tbody></table>");
    pager(&mut out, tr, win, |p| {
        format!("/expiring?{}", f.query_string(f.sort, f.desc, p))
    });
    foot(&mut out, ctx);
    out
}

/// `/offices/{number}`: the office and every terminal holding it.
pub fn office(ctx: &Ctx, number: &str, office: Option<&OfficeRow>, rows: &[PairRow]) -> String {
    let tr = ctx.tr();
    let mut out = String::with_capacity(16 * 1024);
    let title = format!("{} {}", tr.office_number, number);
    head(&mut out, ctx, &title, Nav::Offices);
    out.push_str(r#"<dl class="facts">"#);
    let name = office
        .and_then(|o| o.office_name.as_deref())
        .or_else(|| rows.iter().find_map(|r| r.office_name.as_deref()))
        .unwrap_or("");
    w!(
        out,
        r#"<dt>{}</dt><dd data-testid="office-number">{}</dd><dt>{}</dt><dd data-testid="office-name">{}</dd>"#,
        E(tr.office_number),
        E(number),
        E(tr.office_name),
        E(name)
    );
    if let Some(o) = office {
        w!(
            out,
            "<dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>",
            E(tr.site),
            E(o.site.as_deref().unwrap_or("")),
            E(tr.owner_email),
            E(o.owner_email.as_deref().unwrap_or("")),
            E(tr.soonest)
        );
        if let Some(t) = o.soonest_not_after {
            w!(out, "{}", Day(t, ctx.tz));
        }
        out.push_str("</dd>");
        if o.uncovered {
            w!(
                out,
                r#"<dt>{}</dt><dd><span class="badge st-expired" data-testid="uncovered">{}</span></dd>"#,
                E(tr.status),
                E(tr.uncovered)
            );
        }
    }
    w!(
        out,
        r#"</dl><h2>{}</h2><table class="data" data-testid="office-terminals"><thead><tr>"#,
        E(tr.terminals_holding)
    );
    for l in [
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
        tr.superseded_certs,
    ] {
        w!(out, r#"<th scope="col">{}</th>"#, E(l));
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        w!(
            out,
            r#"<tr data-testid="office-row" data-terminal-id="{}">"#,
            r.terminal.id
        );
        pair_cells(&mut out, ctx, r);
        out.push_str(r#"<td><ul class="plain">"#);
        for s in &r.superseded {
            w!(
                out,
                r#"<li data-testid="superseded"><code title="{}">{}…</code> {}</li>"#,
                E(&s.sha256),
                E(s.sha256.get(..16).unwrap_or(&s.sha256)),
                Day(s.not_after, ctx.tz)
            );
        }
        out.push_str("</ul></td></tr>");
    }
    if rows.is_empty() {
        empty_row(&mut out, ctx, 11);
    }
    out.push_str("</tbody></table>");
    foot(&mut out, ctx);
    out
}

/// `/offices`: every office (optionally only the uncovered ones).
pub fn offices(ctx: &Ctx, list: &ListPage<OfficeRow>, uncovered_only: bool) -> String {
    let tr = ctx.tr();
    let mut out = String::with_capacity(32 * 1024);
    head(&mut out, ctx, tr.nav_offices, Nav::Offices);
    w!(
        out,
        r#"<form class="filters" method="get" action="/offices" data-autosubmit><label><input type="checkbox" name="uncovered" value="1"{}> {}</label> <label>{} <input type="number" name="within" min="0" max="3660" value="{}"></label> <button type="submit">{}</button></form>"#,
        if uncovered_only { " checked" } else { "" },
        E(tr.uncovered_only),
        E(tr.within),
        list.within_days,
        E(tr.apply)
    );
    out.push_str(r#"<table class="data" data-testid="offices-table"><thead><tr>"#);
    for l in [
        tr.office_number,
        tr.office_name,
        tr.site,
        tr.terminals_total,
        tr.soonest,
        tr.status,
    ] {
        w!(out, r#"<th scope="col">{}</th>"#, E(l));
    }
    out.push_str("</tr></thead><tbody>");
    // The data layer already cut the page out (see `web::list_page`).
    let win = paginate(list.total, requested_page(ctx), ctx.page_size);
    for o in &list.rows {
        out.push_str(r#"<tr data-testid="office-list-row"><td>"#);
        office_link(&mut out, &o.office_number);
        w!(
            out,
            r#"</td><td>{}</td><td>{}</td><td class="n">{}</td><td>"#,
            E(o.office_name.as_deref().unwrap_or("")),
            E(o.site.as_deref().unwrap_or("")),
            o.terminals.len()
        );
        if let Some(t) = o.soonest_not_after {
            w!(out, "{}", Day(t, ctx.tz));
        }
        out.push_str("</td><td>");
        if o.uncovered {
            w!(
                out,
                r#"<span class="badge st-expired">{}</span>"#,
                E(tr.uncovered)
            );
        } else if let Some(worst) = o.terminals.iter().map(|t| t.status).min() {
            badge(&mut out, tr, worst, false);
        }
        out.push_str("</td></tr>");
    }
    if list.rows.is_empty() {
        empty_row(&mut out, ctx, 6);
    }
    out.push_str("</tbody></table>");
    list_pager(&mut out, ctx, win);
    foot(&mut out, ctx);
    out
}

/// `/terminals/{id}`: the terminal, its offices and every certificate it holds.
pub fn terminal(ctx: &Ctx, d: &TerminalDetail) -> String {
    let tr = ctx.tr();
    let row = &d.row;
    let mut out = String::with_capacity(16 * 1024);
    let title = format!("{} {}", tr.terminal, row.terminal.hostname);
    head(&mut out, ctx, &title, Nav::None);
    w!(
        out,
        r#"<dl class="facts"><dt>{}</dt><dd data-testid="terminal-hostname">{}</dd><dt>{}</dt><dd><code>{}</code></dd><dt>{}</dt><dd>{} {}</dd><dt>{}</dt><dd data-testid="agent-version">{}</dd><dt>{}</dt><dd data-testid="last-report">"#,
        E(tr.terminal),
        E(&row.terminal.hostname),
        E(tr.machine_id),
        E(&row.terminal.machine_id),
        E(tr.os),
        E(&row.os_name),
        E(&row.os_version),
        E(tr.agent_version),
        E(&row.agent_version),
        E(tr.last_report)
    );
    opt_stamp(&mut out, ctx, row.last_report_at);
    if row.stale {
        w!(out, r#" <span class="mark stale">{}</span>"#, E(tr.stale));
    }
    w!(
        out,
        r#"</dd></dl><h2>{}</h2><table class="data" data-testid="terminal-offices"><thead><tr>"#,
        E(tr.offices_on_terminal)
    );
    for l in [
        tr.office_number,
        tr.office_name,
        tr.status,
        tr.not_after,
        tr.days_left,
    ] {
        w!(out, r#"<th scope="col">{}</th>"#, E(l));
    }
    out.push_str("</tr></thead><tbody>");
    for o in &row.offices {
        out.push_str("<tr><td>");
        office_link(&mut out, &o.office_number);
        w!(
            out,
            "</td><td>{}</td><td>",
            E(o.office_name.as_deref().unwrap_or(""))
        );
        badge(&mut out, tr, o.status, false);
        w!(
            out,
            r#"</td><td>{}</td><td class="n">{}</td></tr>"#,
            Day(o.not_after, ctx.tz),
            o.days_left
        );
    }
    if row.offices.is_empty() {
        empty_row(&mut out, ctx, 5);
    }
    w!(
        out,
        r#"</tbody></table><h2>{}</h2><table class="data" data-testid="terminal-certificates"><thead><tr>"#,
        E(tr.certificates)
    );
    for l in [
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
    ] {
        w!(out, r#"<th scope="col">{}</th>"#, E(l));
    }
    out.push_str("</tr></thead><tbody>");
    for h in &d.holdings {
        out.push_str(r#"<tr data-testid="holding"><td>"#);
        if let Some(n) = &h.office_number {
            office_link(&mut out, n);
        }
        w!(
            out,
            r#"</td><td class="dn">{}</td><td class="dn">{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><ul class="plain">"#,
            E(&h.certificate.subject),
            E(&h.certificate.issuer),
            E(&h.certificate.serial),
            Day(h.not_before, ctx.tz),
            Day(h.not_after, ctx.tz),
            E(key_label(tr, h.has_private_key)),
            E(&h.friendly_name)
        );
        for l in &h.locations {
            w!(
                out,
                r#"<li data-testid="location"><span class="src">{}</span> {} {} <code>{}</code></li>"#,
                E(&l.source),
                E(&l.user),
                E(&l.store),
                E(&l.path)
            );
        }
        out.push_str("</ul></td><td>");
        if h.office_number.is_some() {
            let (label, class) = if h.effective {
                (tr.effective, "st-ok")
            } else {
                (tr.superseded, "st-superseded")
            };
            w!(out, r#"<span class="badge {class}">{}</span>"#, E(label));
        }
        w!(
            out,
            "</td><td>{}</td><td>{}</td></tr>",
            Stamp(h.first_seen, ctx.tz),
            Stamp(h.last_seen, ctx.tz)
        );
    }
    if d.holdings.is_empty() {
        empty_row(&mut out, ctx, 12);
    }
    out.push_str("</tbody></table>");
    foot(&mut out, ctx);
    out
}

/// `/multi-office`: terminals holding certificates of two or more offices.
pub fn multi_office(ctx: &Ctx, list: &ListPage<TerminalRow>) -> String {
    let tr = ctx.tr();
    let mut out = String::with_capacity(16 * 1024);
    head(&mut out, ctx, tr.nav_multi, Nav::Multi);
    window_form(
        &mut out,
        ctx,
        "/multi-office",
        "within",
        tr.within,
        list.within_days,
    );
    out.push_str(r#"<table class="data" data-testid="multi-table"><thead><tr>"#);
    for l in [
        tr.terminal,
        tr.office_count,
        tr.offices_on_terminal,
        tr.last_report,
        tr.stale,
    ] {
        w!(out, r#"<th scope="col">{}</th>"#, E(l));
    }
    out.push_str("</tr></thead><tbody>");
    let win = paginate(list.total, requested_page(ctx), ctx.page_size);
    for t in &list.rows {
        out.push_str(r#"<tr data-testid="multi-row"><td>"#);
        terminal_link(&mut out, t.terminal.id, &t.terminal.hostname);
        w!(
            out,
            r#"</td><td class="n">{}</td><td><ul class="plain">"#,
            t.offices.len()
        );
        for o in &t.offices {
            out.push_str("<li>");
            office_link(&mut out, &o.office_number);
            w!(out, " {} ", E(o.office_name.as_deref().unwrap_or("")));
            badge(&mut out, tr, o.status, false);
            w!(out, " {}</li>", Day(o.not_after, ctx.tz));
        }
        out.push_str("</ul></td><td>");
        opt_stamp(&mut out, ctx, t.last_report_at);
        out.push_str("</td><td>");
        if t.stale {
            w!(out, r#"<span class="mark stale">{}</span>"#, E(tr.stale));
        }
        out.push_str("</td></tr>");
    }
    if list.rows.is_empty() {
        empty_row(&mut out, ctx, 5);
    }
    out.push_str("</tbody></table>");
    list_pager(&mut out, ctx, win);
    foot(&mut out, ctx);
    out
}

/// `/stale`: terminals that stopped reporting.
pub fn stale(ctx: &Ctx, report: &StaleReport) -> String {
    let tr = ctx.tr();
    let mut out = String::with_capacity(16 * 1024);
    head(&mut out, ctx, tr.nav_stale, Nav::Stale);
    window_form(
        &mut out,
        ctx,
        "/stale",
        "older_than",
        tr.older_than,
        report.older_than_days,
    );
    out.push_str(r#"<table class="data" data-testid="stale-table"><thead><tr>"#);
    for l in [
        tr.terminal,
        tr.machine_id,
        tr.last_report,
        tr.days_since,
        tr.office_count,
    ] {
        w!(out, r#"<th scope="col">{}</th>"#, E(l));
    }
    out.push_str("</tr></thead><tbody>");
    let win = paginate(report.rows.len(), requested_page(ctx), ctx.page_size);
    for s in &report.rows[win.start..win.end] {
        out.push_str(r#"<tr data-testid="stale-row"><td>"#);
        terminal_link(&mut out, s.terminal.id, &s.terminal.hostname);
        w!(
            out,
            "</td><td><code>{}</code></td><td>",
            E(&s.terminal.machine_id)
        );
        opt_stamp(&mut out, ctx, s.last_report_at);
        out.push_str(r#"</td><td class="n">"#);
        if let Some(d) = s.days_since_report {
            w!(out, "{d}");
        }
        w!(out, r#"</td><td class="n">{}</td></tr>"#, s.office_count);
    }
    if report.rows.is_empty() {
        empty_row(&mut out, ctx, 5);
    }
    out.push_str("</tbody></table>");
    list_pager(&mut out, ctx, win);
    foot(&mut out, ctx);
    out
}

/// `/alerts`: recent alert decisions and their delivery.
pub fn alerts(ctx: &Ctx, records: &[AlertRecord]) -> String {
    let tr = ctx.tr();
    let mut out = String::with_capacity(16 * 1024);
    head(&mut out, ctx, tr.nav_alerts, Nav::Alerts);
    out.push_str(r#"<table class="data" data-testid="alerts-table"><thead><tr>"#);
    for l in [
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
    ] {
        w!(out, r#"<th scope="col">{}</th>"#, E(l));
    }
    out.push_str("</tr></thead><tbody>");
    for a in records {
        w!(
            out,
            r#"<tr data-testid="alert-row"><td>{}</td><td>{}</td><td>"#,
            Stamp(a.decided_at, ctx.tz),
            E(&a.threshold)
        );
        if let Some(n) = &a.office_number {
            office_link(&mut out, n);
        }
        out.push_str("</td><td>");
        if let Some(t) = &a.terminal {
            terminal_link(&mut out, t.id, &t.hostname);
        }
        out.push_str("</td><td>");
        if let Some(t) = a.not_after {
            w!(out, "{}", Day(t, ctx.tz));
        }
        w!(
            out,
            r#"</td><td>{}</td><td><span class="state state-{}">{}</span></td><td>"#,
            E(&a.recipient),
            E(&a.state),
            E(&a.state)
        );
        if let Some(t) = a.delivered_at {
            w!(out, "{}", Stamp(t, ctx.tz));
        }
        w!(
            out,
            r#"</td><td class="n">{}</td><td>{}</td></tr>"#,
            a.attempts,
            E(a.last_error.as_deref().unwrap_or(""))
        );
    }
    if records.is_empty() {
        empty_row(&mut out, ctx, 10);
    }
    out.push_str("</tbody></table>");
    foot(&mut out, ctx);
    out
}

/// `/login`.
pub fn login(ctx: &Ctx, next: &str, error: Option<&str>, no_users: bool) -> String {
    let tr = ctx.tr();
    let mut out = String::with_capacity(4096);
    head(&mut out, ctx, tr.login, Nav::None);
    if let Some(e) = error {
        w!(
            out,
            r#"<p class="error" role="alert" data-testid="login-error">{}</p>"#,
            E(e)
        );
    }
    if no_users {
        w!(out, r#"<p class="note">{}</p>"#, E(tr.login_no_users));
    }
    w!(
        out,
        r#"<form class="login" method="post" action="/login"><input type="hidden" name="next" value="{}"><label>{} <input type="text" name="username" autocomplete="username" required maxlength="256"></label><label>{} <input type="password" name="password" autocomplete="current-password" required maxlength="1024"></label><button type="submit" data-testid="login-submit">{}</button></form>"#,
        E(next),
        E(tr.username),
        E(tr.password),
        E(tr.login)
    );
    foot(&mut out, ctx);
    out
}

/// A generic error page: the message is one of the fixed strings, never an internal error.
pub fn error(ctx: &Ctx, message: &str) -> String {
    let mut out = String::with_capacity(2048);
    head(&mut out, ctx, message, Nav::None);
    foot(&mut out, ctx);
    out
}
