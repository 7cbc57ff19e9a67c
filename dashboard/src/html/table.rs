//! The one data table every list and detail page uses, and its pager. A table knows its
//! column headers (plain or sortable), renders the rows a page gives it or a "nothing to show"
//! row spanning every column, and, when the list is longer than a page, page links below it.

use maud::{Markup, html};

use super::Ctx;
use crate::i18n::Tr;

/// A column header: a label, or a label linking to the table sorted by that column.
#[derive(Debug)]
pub struct Column<'a> {
    label: &'a str,
    sort: Option<SortLink>,
}

#[derive(Debug)]
struct SortLink {
    href: String,
    /// `aria-sort` when the table is sorted by this column now.
    aria: Option<&'static str>,
}

impl<'a> Column<'a> {
    /// A plain header.
    pub fn new(label: &'a str) -> Self {
        Self { label, sort: None }
    }

    /// A header linking to `href` (the table sorted by this column). `sorted_desc` says how
    /// the table is sorted by this column now: `None` when it is sorted by another one.
    pub fn sortable(label: &'a str, href: String, sorted_desc: Option<bool>) -> Self {
        let aria = sorted_desc.map(|desc| if desc { "descending" } else { "ascending" });
        Self {
            label,
            sort: Some(SortLink { href, aria }),
        }
    }
}

impl<'a> From<&'a str> for Column<'a> {
    fn from(label: &'a str) -> Self {
        Column::new(label)
    }
}

/// The slice of a long list that one page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Index of the first row of the page in the whole list.
    pub start: usize,
    /// One past the last row of the page.
    pub end: usize,
    /// The page shown (1-based), clamped into `1..=pages`.
    pub page: usize,
    pub pages: usize,
}

impl Paging {
    /// The page `requested` of a list of `total` rows, `page_size` rows a page. A page past
    /// the end (a bookmark after the list shrank) shows the last page.
    pub fn new(total: usize, requested: usize, page_size: usize) -> Self {
        let page_size = page_size.max(1);
        let pages = total.div_ceil(page_size).max(1);
        let page = requested.clamp(1, pages);
        let start = (page - 1) * page_size;
        Paging {
            start,
            end: (start + page_size).min(total),
            page,
            pages,
        }
    }
}

/// Page links under a table: `href(page)` is the URL of a page (escaped when written).
type PageHref<'a> = Box<dyn Fn(usize) -> String + 'a>;

/// A `<table class="data">` with its headers, rows and optional pager.
pub struct Table<'a> {
    testid: &'a str,
    columns: Vec<Column<'a>>,
    pager: Option<(Paging, PageHref<'a>)>,
}

impl<'a> Table<'a> {
    /// A table marked `data-testid="{testid}"` (what tests and scripts select it by).
    pub fn new<C: Into<Column<'a>>>(testid: &'a str, columns: impl IntoIterator<Item = C>) -> Self {
        Self {
            testid,
            columns: columns.into_iter().map(Into::into).collect(),
            pager: None,
        }
    }

    /// Adds page links for `paging`; `href(page)` builds the URL of a page.
    pub fn paged(mut self, paging: Paging, href: impl Fn(usize) -> String + 'a) -> Self {
        self.pager = Some((paging, Box::new(href)));
        self
    }

    /// Adds page links that keep the current path and query with `page` replaced (the list
    /// pages, whose whole state is their query string).
    pub fn paged_by_query(self, ctx: &'a Ctx, paging: Paging) -> Self {
        self.paged(paging, move |p| {
            format!("{}?{}", ctx.path, ctx.params.with_page(p))
        })
    }

    /// The table with `rows` (each a whole `<tr>`) in its body, then the pager.
    pub fn render(&self, tr: &Tr, rows: impl IntoIterator<Item = Markup>) -> Markup {
        let mut rows = rows.into_iter().peekable();
        let empty = rows.peek().is_none();
        html! {
            table class="data" data-testid=(self.testid) {
                thead {
                    tr {
                        @for c in &self.columns {
                            th scope="col" aria-sort=[c.sort.as_ref().and_then(|s| s.aria)] {
                                @if let Some(sort) = &c.sort {
                                    a href=(sort.href) { (c.label) }
                                } @else {
                                    (c.label)
                                }
                            }
                        }
                    }
                }
                tbody {
                    @for row in rows { (row) }
                    @if empty {
                        tr class="empty" {
                            td colspan=(self.columns.len()) { (tr.no_rows) }
                        }
                    }
                }
            }
            @if let Some((paging, href)) = &self.pager {
                (pager(tr, *paging, href))
            }
        }
    }
}

/// Page links: previous, the first and last pages and three either side of the current one
/// (gaps shown as "…"), next. Nothing when the list fits on one page.
fn pager(tr: &Tr, paging: Paging, href: &dyn Fn(usize) -> String) -> Markup {
    let Paging { page, pages, .. } = paging;
    let shown = |p: usize| p == 1 || p == pages || p.abs_diff(page) <= 3;
    html! {
        @if pages > 1 {
            nav class="pager" aria-label="pages" {
                @if page > 1 {
                    a rel="prev" href=(href(page - 1)) { (tr.prev) }
                    " "
                }
                @for p in (1..=pages).filter(|&p| shown(p)) {
                    // A gap before this link when the previous page is not shown.
                    @if p > 1 && !shown(p - 1) { "… " }
                    @if p == page {
                        span aria-current="page" { (p) }
                    } @else {
                        a href=(href(p)) { (p) }
                    }
                    " "
                }
                @if page < pages {
                    a rel="next" href=(href(page + 1)) { (tr.next) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::EN;

    #[test]
    fn paging_clamps_and_slices() {
        assert_eq!(
            Paging::new(0, 1, 10),
            Paging {
                start: 0,
                end: 0,
                page: 1,
                pages: 1
            }
        );
        assert_eq!(
            Paging::new(25, 3, 10),
            Paging {
                start: 20,
                end: 25,
                page: 3,
                pages: 3
            }
        );
        assert_eq!(
            Paging::new(25, 99, 10).page,
            3,
            "past the end: the last page"
        );
        assert_eq!(Paging::new(25, 0, 10).page, 1);
        assert_eq!(
            Paging::new(5, 2, 0).pages,
            5,
            "a zero page size means one row a page"
        );
    }

    #[test]
    fn pager_links_neighbours_ends_and_gaps() {
        let html = pager(&EN, Paging::new(200, 10, 10), &|p| {
            format!("/l?a=1&page={p}")
        })
        .into_string();
        assert_eq!(
            html,
            concat!(
                r#"<nav class="pager" aria-label="pages">"#,
                r#"<a rel="prev" href="/l?a=1&amp;page=9">Previous</a> "#,
                r#"<a href="/l?a=1&amp;page=1">1</a> … "#,
                r#"<a href="/l?a=1&amp;page=7">7</a> <a href="/l?a=1&amp;page=8">8</a> "#,
                r#"<a href="/l?a=1&amp;page=9">9</a> <span aria-current="page">10</span> "#,
                r#"<a href="/l?a=1&amp;page=11">11</a> <a href="/l?a=1&amp;page=12">12</a> "#,
                r#"<a href="/l?a=1&amp;page=13">13</a> … <a href="/l?a=1&amp;page=20">20</a> "#,
                r#"<a rel="next" href="/l?a=1&amp;page=11">Next</a></nav>"#
            )
        );
        assert_eq!(
            pager(&EN, Paging::new(10, 1, 10), &|_| String::new()).into_string(),
            ""
        );
    }

    #[test]
    fn empty_table_spans_every_column_and_headers_sort() {
        let table = Table::new(
            "t",
            [
                Column::new("A"),
                Column::sortable("B", "/x?sort=b&dir=desc".into(), Some(false)),
                "C".into(),
            ],
        );
        let html = table.render(&EN, std::iter::empty()).into_string();
        assert_eq!(
            html,
            concat!(
                r#"<table class="data" data-testid="t"><thead><tr><th scope="col">A</th>"#,
                r#"<th scope="col" aria-sort="ascending"><a href="/x?sort=b&amp;dir=desc">B</a></th>"#,
                r#"<th scope="col">C</th></tr></thead><tbody><tr class="empty">"#,
                r#"<td colspan="3">Nothing to show.</td></tr></tbody></table>"#
            )
        );
        let rows = ["<x>"].map(|s| html! { tr { td { (s) } } });
        let html = Table::new("t", ["A"]).render(&EN, rows).into_string();
        assert!(
            html.contains("<tbody><tr><td>&lt;x&gt;</td></tr></tbody>"),
            "{html}"
        );
    }
}
