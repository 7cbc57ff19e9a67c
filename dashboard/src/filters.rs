//! Query-string parameters of the pages: the expiring table's filters, sort and page, parsed
//! leniently (a bad value falls back to the default) and written back into links so that a
//! reload, the CSV link and the page links show exactly the same rows.

use std::cmp::Ordering;

use certfleet_model::{ExpiringQuery, PairRow, PairStatus};
use chrono::{DateTime, Utc};

/// Upper bounds that keep a hand-edited URL from asking for absurd work.
const MAX_WITHIN_DAYS: u32 = 3660;
const MAX_LIST: usize = 100;
const MAX_VALUE_LEN: usize = 128;

/// The decoded query string, keeping repeated keys.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .take(256)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first non-empty value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn u32_or(&self, key: &str, default: u32, max: u32) -> u32 {
        self.get(key)
            .and_then(|v| v.parse::<u32>().ok())
            .map_or(default, |v| v.min(max))
    }

    pub fn within_or(&self, default: u32) -> u32 {
        self.u32_or("within", default, MAX_WITHIN_DAYS)
    }

    /// The query string with `page` set to `page` (and `lang` dropped: it lives in a cookie).
    pub fn with_page(&self, page: usize) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            if k != "page" && k != "lang" {
                ser.append_pair(k, v);
            }
        }
        if page > 1 {
            ser.append_pair("page", &page.to_string());
        }
        ser.finish()
    }

    /// The query string without `key` (for the language switch links).
    pub fn without(&self, key: &str) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            if k != key {
                ser.append_pair(k, v);
            }
        }
        ser.finish()
    }
}

/// Which rows of the expiring table are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Expired and expiring (what `report expiring` returns by default).
    Default,
    Expired,
    /// Not yet expired, but past renew-by.
    RenewNow,
    Expiring,
    Ok,
    All,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 6] = [
        StatusFilter::Default,
        StatusFilter::Expired,
        StatusFilter::RenewNow,
        StatusFilter::Expiring,
        StatusFilter::Ok,
        StatusFilter::All,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Default => "",
            StatusFilter::Expired => "expired",
            StatusFilter::RenewNow => "renew_now",
            StatusFilter::Expiring => "expiring",
            StatusFilter::Ok => "ok",
            StatusFilter::All => "all",
        }
    }

    fn parse(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .unwrap_or(StatusFilter::Default)
    }

    /// Whether the data source must also return `ok` pairs. Renew-now pairs can be `ok` when
    /// the window is shorter than the lead time.
    fn include_ok(self) -> bool {
        matches!(
            self,
            StatusFilter::Ok | StatusFilter::All | StatusFilter::RenewNow
        )
    }

    pub fn matches(self, row: &PairRow) -> bool {
        match self {
            StatusFilter::Default => row.status != PairStatus::Ok,
            StatusFilter::Expired => row.status == PairStatus::Expired,
            StatusFilter::RenewNow => row.renew_now && row.status != PairStatus::Expired,
            StatusFilter::Expiring => row.status == PairStatus::Expiring,
            StatusFilter::Ok => row.status == PairStatus::Ok,
            StatusFilter::All => true,
        }
    }
}

/// Sort columns of the expiring table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Most urgent first (the default).
    Expiry,
    Office,
    Terminal,
    Status,
}

impl SortKey {
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Expiry => "expiry",
            SortKey::Office => "office",
            SortKey::Terminal => "terminal",
            SortKey::Status => "status",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "office" => SortKey::Office,
            "terminal" => SortKey::Terminal,
            "status" => SortKey::Status,
            _ => SortKey::Expiry,
        }
    }
}

/// Stable sort that moves 4-byte indices instead of whole rows (a row is a few hundred
/// bytes; at 300,000 rows moving them dominates the sort).
fn sort_rows(rows: &mut Vec<PairRow>, cmp: impl Fn(&PairRow, &PairRow) -> Ordering) {
    let mut idx: Vec<usize> = (0..rows.len()).collect();
    idx.sort_by(|&a, &b| cmp(&rows[a], &rows[b]));
    let mut old: Vec<Option<PairRow>> = rows.drain(..).map(Some).collect();
    rows.extend(idx.into_iter().filter_map(|i| old[i].take()));
}

/// Everything that decides the rows of `/expiring` and `/expiring.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringFilter {
    pub offices: Vec<String>,
    pub terminals: Vec<String>,
    pub status: StatusFilter,
    pub within: u32,
    pub sort: SortKey,
    pub desc: bool,
    /// 1-based page of the HTML table.
    pub page: usize,
}

/// Splits a list field: repeated keys and/or values separated by commas or whitespace.
fn list(params: &Params, key: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in params.all(key) {
        for item in v.split(|c: char| c == ',' || c.is_whitespace()) {
            if !item.is_empty()
                && item.len() <= MAX_VALUE_LEN
                && out.len() < MAX_LIST
                && !out.iter().any(|o| o == item)
            {
                out.push(item.to_owned());
            }
        }
    }
    out
}

impl ExpiringFilter {
    pub fn parse(params: &Params, default_within: u32) -> Self {
        Self {
            offices: list(params, "office"),
            terminals: list(params, "terminal"),
            status: StatusFilter::parse(params.get("status").unwrap_or("")),
            within: params.within_or(default_within),
            sort: SortKey::parse(params.get("sort").unwrap_or("")),
            desc: params.get("dir") == Some("desc"),
            page: params
                .get("page")
                .and_then(|p| p.parse::<usize>().ok())
                .unwrap_or(1)
                .clamp(1, 1_000_000),
        }
    }

    pub fn to_query(&self, as_of: DateTime<Utc>) -> ExpiringQuery {
        ExpiringQuery {
            as_of,
            within_days: self.within,
            offices: self.offices.clone(),
            terminals: self.terminals.clone(),
            include_ok: self.status.include_ok(),
            states: Vec::new(),
        }
    }

    /// Keeps the rows the status filter selects and sorts them.
    pub fn apply(&self, rows: &mut Vec<PairRow>) {
        rows.retain(|r| self.status.matches(r));
        let urgency = |a: &PairRow, b: &PairRow| {
            a.not_after
                .cmp(&b.not_after)
                .then_with(|| a.office_number.cmp(&b.office_number))
                .then_with(|| a.terminal.hostname.cmp(&b.terminal.hostname))
                .then_with(|| a.terminal.id.cmp(&b.terminal.id))
        };
        // Urgency order first (the report usually arrives in it: checking is O(n)), then a
        // stable sort by the chosen column alone, which keeps urgency as the tie-break.
        if !rows.is_sorted_by(|a, b| urgency(a, b) != Ordering::Greater) {
            sort_rows(rows, urgency);
        }
        match self.sort {
            SortKey::Expiry => {}
            SortKey::Office => sort_rows(rows, |a, b| a.office_number.cmp(&b.office_number)),
            SortKey::Terminal => {
                sort_rows(rows, |a, b| a.terminal.hostname.cmp(&b.terminal.hostname));
            }
            SortKey::Status => sort_rows(rows, |a, b| a.status.cmp(&b.status)),
        }
        if self.desc {
            rows.reverse();
        }
    }

    /// The query string for this filter, with `sort`/`dir`/`page` replaced as given; default
    /// values are left out so URLs stay short.
    pub fn query_string(&self, sort: SortKey, desc: bool, page: usize) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        if !self.offices.is_empty() {
            ser.append_pair("office", &self.offices.join(" "));
        }
        if !self.terminals.is_empty() {
            ser.append_pair("terminal", &self.terminals.join(" "));
        }
        if self.status != StatusFilter::Default {
            ser.append_pair("status", self.status.as_str());
        }
        ser.append_pair("within", &self.within.to_string());
        if sort != SortKey::Expiry {
            ser.append_pair("sort", sort.as_str());
        }
        if desc {
            ser.append_pair("dir", "desc");
        }
        if page > 1 {
            ser.append_pair("page", &page.to_string());
        }
        ser.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_defaults_and_round_trips() {
        let p = Params::parse(Some(
            "office=1111111111%2C2222222222&office=3333333333&terminal=pc-1&status=expired&within=30&sort=office&dir=desc&page=2",
        ));
        let f = ExpiringFilter::parse(&p, 60);
        assert_eq!(f.offices, ["1111111111", "2222222222", "3333333333"]);
        assert_eq!(f.terminals, ["pc-1"]);
        assert_eq!(f.status, StatusFilter::Expired);
        assert_eq!(
            (f.within, f.sort, f.desc, f.page),
            (30, SortKey::Office, true, 2)
        );
        let again = ExpiringFilter::parse(
            &Params::parse(Some(&f.query_string(f.sort, f.desc, f.page))),
            60,
        );
        assert_eq!(again, f);

        let d = ExpiringFilter::parse(&Params::parse(Some("within=abc&status=bogus&page=0")), 60);
        assert_eq!((d.within, d.status, d.page), (60, StatusFilter::Default, 1));
        assert_eq!(
            ExpiringFilter::parse(&Params::parse(Some("within=999999")), 60).within,
            MAX_WITHIN_DAYS
        );
    }
}
