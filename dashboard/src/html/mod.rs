//! The template layer every page is written in. Pages are maud `html!` templates, compiled
//! with the crate: every `(value)` they interpolate is escaped (text and attribute values
//! alike), so an agent's hostname, a certificate subject or an office name can never become
//! markup. The rules that keep it so:
//!
//! - HTML is built only with `html!`, never with `format!`/`write!` into markup. Strings that
//!   are not markup (URLs, labels) may be built with `format!` and are then interpolated.
//! - `PreEscaped` (maud's "trust me" wrapper) appears in exactly one place, [`layout`]'s
//!   doctype; the test `raw_output_is_confined_to_the_layout` below fails on any other use.
//! - Every page goes through [`page`] (one skeleton: head, navigation, language switch,
//!   user, footer), every table through [`Table`] (header, empty row, pager), every POST form
//!   through [`post_form`] (which adds the CSRF token field, once, for every form).
//!
//! The strict CSP holds because nothing here writes a `style` attribute, a `<style>` element or
//! an inline script: styling is classes from the embedded stylesheet.

mod layout;
mod parts;
mod table;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::filters::Params;
use crate::i18n::{Lang, Tr};

pub use layout::{Nav, page};
pub use maud::Markup;
pub use parts::{
    badge, filter_form, key_label, number_input, office_link, opt_stamp, post_form, stale_mark,
    terminal_link, tracking_badge, window_form,
};
pub use table::{Column, Paging, Table};

/// What every page needs to know about the request.
#[derive(Debug)]
pub struct Ctx {
    pub lang: Lang,
    pub tz: Tz,
    pub as_of: DateTime<Utc>,
    /// Logged-in user (via the session cookie).
    pub user: Option<String>,
    /// Request path (for the language switch links and the list pagers).
    pub path: String,
    pub params: Params,
    /// Rows per page of long tables.
    pub page_size: usize,
    /// The CSRF token every POST form carries ([`post_form`]); checked by the handlers that
    /// change state.
    pub csrf: String,
    /// The collector's own certificates that expire within 60 days: a banner on every page.
    pub own_certificates_expiring: Vec<crate::OwnCertificateNotice>,
}

impl Ctx {
    pub fn tr(&self) -> &'static Tr {
        self.lang.tr()
    }

    /// The 1-based page a list page's `?page=` asks for (1 when absent or malformed).
    pub fn requested_page(&self) -> usize {
        self.params
            .get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every `.rs` file under `dir`, recursively.
    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Unescaped output is audited in one place. Outside comments, maud's raw wrapper (and
    /// its `DOCTYPE` constant, which is one) may appear only in `html/layout.rs`, once; and no
    /// type implements maud's `Render` by hand (its `render_to` writes into the page
    /// unescaped). A new use fails here and must be argued for in review and listed in
    /// ARCHITECTURE.md instead of slipping in.
    #[test]
    fn raw_output_is_confined_to_the_layout() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        assert!(files.len() > 10, "found the sources: {files:?}");
        let layout = src.join("html").join("layout.rs");
        // Built from pieces so that this test's own source does not match.
        let rules = [
            (["Pre", "Escaped"].concat(), 1),
            (["DOC", "TYPE"].concat(), 1),
            (["Render", " for"].concat(), 0),
            (["render", "_to"].concat(), 0),
        ];
        for file in &files {
            let text = std::fs::read_to_string(file).expect("read source");
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for (needle, in_layout) in &rules {
                let allowed = if *file == layout { *in_layout } else { 0 };
                assert_eq!(
                    code.matches(needle.as_str()).count(),
                    allowed,
                    "{needle} in {}",
                    file.display()
                );
            }
        }
    }
}
