//! The one page skeleton: `<head>` (stylesheet, icon and script, all embedded assets), the
//! header with the navigation, the language switch and the logged-in user, the page title,
//! and the footer with the as-of time. Every page is [`page`] around its own content.

use maud::{Markup, html};

use super::Ctx;
use super::parts::post_form;
use crate::display::Stamp;
use crate::i18n::{Lang, Tr};

/// The entries of the main navigation, in menu order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Expiring,
    Offices,
    Multi,
    Stale,
    Alerts,
    Pending,
    Coverage,
}

impl Nav {
    const MENU: [Nav; 8] = [
        Nav::Overview,
        Nav::Expiring,
        Nav::Offices,
        Nav::Multi,
        Nav::Stale,
        Nav::Alerts,
        Nav::Pending,
        Nav::Coverage,
    ];

    fn href(self) -> &'static str {
        match self {
            Nav::Overview => "/",
            Nav::Expiring => "/expiring",
            Nav::Offices => "/offices",
            Nav::Multi => "/multi-office",
            Nav::Stale => "/stale",
            Nav::Alerts => "/alerts",
            Nav::Pending => "/pending",
            Nav::Coverage => "/coverage",
        }
    }

    fn label(self, tr: &Tr) -> &'static str {
        match self {
            Nav::Overview => tr.nav_overview,
            Nav::Expiring => tr.nav_expiring,
            Nav::Offices => tr.nav_offices,
            Nav::Multi => tr.nav_multi,
            Nav::Stale => tr.nav_stale,
            Nav::Alerts => tr.nav_alerts,
            Nav::Pending => tr.nav_pending,
            Nav::Coverage => tr.nav_coverage,
        }
    }
}

/// Asset URLs carry the version so a new release is never served a cached old stylesheet.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A whole HTML document: the skeleton with `title` as `<title>` and `<h1>`, `current` marked
/// in the navigation (`None` for pages outside the menu), and `content` inside `<main>`.
pub fn page(ctx: &Ctx, title: &str, current: Option<Nav>, content: &Markup) -> Markup {
    let tr = ctx.tr();
    html! {
        // The audited unescaped output of the dashboard (the constant doctype): see html/mod.rs.
        (maud::PreEscaped("<!DOCTYPE html>"))
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – " (tr.app) }
                link rel="stylesheet" href={ "/assets/style.css?v=" (VERSION) };
                link rel="icon" href={ "/assets/favicon.svg?v=" (VERSION) } type="image/svg+xml";
                script src={ "/assets/app.js?v=" (VERSION) } defer {}
            }
            body {
                header class="top" {
                    a class="brand" href="/" { (tr.app) }
                    nav aria-label="main" {
                        ul {
                            @for entry in Nav::MENU {
                                li {
                                    a href=(entry.href())
                                        aria-current=[(current == Some(entry)).then_some("page")]
                                    { (entry.label(tr)) }
                                }
                            }
                        }
                    }
                    div class="tools" {
                        (language_switch(ctx))
                        @if let Some(user) = &ctx.user {
                            span class="user" { (user) }
                            (post_form(ctx, "logout", "/logout", &html! {
                                button type="submit" data-testid="logout" { (tr.logout) }
                            }))
                        }
                    }
                }
                main id="main" {
                    (own_certificates_banner(ctx))
                    h1 { (title) }
                    (content)
                }
                footer {
                    span {
                        (tr.as_of) ": "
                        time data-testid="as-of" { (Stamp(ctx.as_of, ctx.tz)) }
                        " (" (ctx.tz.name()) ")"
                    }
                    " · certfleet " (VERSION)
                }
            }
        }
    }
}

/// The warning about the collector's own certificates that expire soon (issue 16): shown to
/// everyone who may open a page, because an expired server certificate stops every agent.
fn own_certificates_banner(ctx: &Ctx) -> Markup {
    let tr = ctx.tr();
    html! {
        @if !ctx.own_certificates_expiring.is_empty() {
            div class="own-cert-warning" role="alert" data-testid="own-cert-warning" {
                strong { (tr.own_cert_warning) }
                ul {
                    @for c in &ctx.own_certificates_expiring {
                        li {
                            (c.what) ": " (tr.own_cert_expires) " "
                            time { (Stamp(c.not_after, ctx.tz)) }
                            " (" ((c.not_after - ctx.as_of).num_days()) " " (tr.own_cert_days) ")"
                        }
                    }
                }
                p { (tr.own_cert_hint) }
            }
        }
    }
}

/// Links to the same page and query in each language (`lang` replaced).
fn language_switch(ctx: &Ctx) -> Markup {
    let rest = ctx.params.without("lang");
    let sep = if rest.is_empty() { "" } else { "&" };
    html! {
        @for (lang, testid, label) in [(Lang::Ja, "lang-ja", "日本語"), (Lang::En, "lang-en", "English")] {
            a class="lang" data-testid=(testid) lang=(lang.code()) hreflang=(lang.code())
                href={ (ctx.path) "?" (rest) (sep) "lang=" (lang.code()) }
                aria-current=[(lang == ctx.lang).then_some("true")]
            { (label) }
        }
    }
}
