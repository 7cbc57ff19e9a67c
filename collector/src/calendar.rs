//! iCalendar feeds (issue 17 §5): the renew-by dates and the blocked-billing deadlines of a
//! feed's scope (the fleet or one office) as an RFC 5545 `.ics`, for Outlook or Google
//! Calendar. The feed URL carries a random token (only its SHA-256 is stored, see
//! `store::calendar`); the feed is built from the same `report expiring` as every other front
//! end, so a renewed pair's events disappear with its old certificate.

use std::fmt::Write as _;

use certfleet_config::ReportSettings;
use certfleet_model::{ExpiringQuery, PairRow, PairStatus, TrackingState};
use certfleet_reports::{self as reports, ReportError, semantics};
use certfleet_store::{CalendarFeed, Store};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sha2::{Digest as _, Sha256};

/// How far ahead a feed looks: a year of renew-by dates (certificates last three years).
pub const FEED_DAYS: u32 = 366;

/// The path of a feed's URL on the collector's HTTP listener.
pub fn feed_path(token: &str) -> String {
    format!("/calendar/{token}.ics")
}

/// A new feed token (256 random bits, hex) and its stored hash.
pub fn new_token() -> (String, String) {
    let token = crate::init::random_secret();
    let hash = token_hash(&token);
    (token, hash)
}

/// The SHA-256 (hex) a token is looked up by.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The feed's calendar at `now`: two all-day events per pair of its scope that needs renewing
/// within [`FEED_DAYS`] (retired and renewed pairs excluded).
#[tracing::instrument(skip(store, s), err)]
pub async fn render_feed(
    store: &dyn Store,
    feed: &CalendarFeed,
    now: DateTime<Utc>,
    s: &ReportSettings,
) -> Result<String, ReportError> {
    let q = ExpiringQuery {
        as_of: now,
        within_days: FEED_DAYS,
        offices: feed.office_number.iter().cloned().collect(),
        terminals: Vec::new(),
        include_ok: false,
        states: vec![
            TrackingState::NotStarted,
            TrackingState::Requested,
            TrackingState::Reissue,
            TrackingState::Stuck,
            TrackingState::OnHold,
        ],
    };
    let report = reports::expiring(store, &q, s).await?;
    let mut out = String::with_capacity(512 + report.rows.len() * 900);
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//certfleet//renewal calendar//JA");
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, "METHOD:PUBLISH");
    let name = match &feed.office_number {
        Some(office) => format!("certfleet {office}"),
        None => "certfleet".to_owned(),
    };
    line(&mut out, &format!("X-WR-CALNAME:{}", text(&name)));
    line(&mut out, &format!("X-WR-TIMEZONE:{}", s.time_zone.name()));
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    for row in &report.rows {
        pair_events(&mut out, row, &stamp, s);
    }
    line(&mut out, "END:VCALENDAR");
    Ok(out)
}

/// The two events of a pair: renew by, and the day after which claims are blocked.
fn pair_events(out: &mut String, r: &PairRow, stamp: &str, s: &ReportSettings) {
    let key = format!(
        "{}-{}-{}",
        r.terminal.id,
        r.office_number,
        &r.certificate.sha256[..r.certificate.sha256.len().min(16)]
    );
    let office = match &r.office_name {
        Some(name) => format!("{} {name}", r.office_number),
        None => r.office_number.clone(),
    };
    let host = &r.terminal.hostname;
    let last_day = semantics::local_date(r.not_after, s.time_zone);
    let month = r.first_blocked_billing_month.replace('-', "/");
    let expires = last_day.format("%Y/%m/%d");
    let consequence = format!(
        "{expires} までにインストールされないと、端末 {host} から {month} 分の請求ができません。\n\
         If not installed by {expires}, claims for {month} cannot be submitted from PC {host}."
    );
    let state = r.tracking.state.as_str();
    let status = match r.status {
        PairStatus::Expired => "expired",
        PairStatus::Expiring => "expiring",
        PairStatus::Ok => "ok",
    };
    event(
        out,
        &format!("renew-by-{key}@certfleet"),
        stamp,
        r.renew_by,
        &format!("更新期限 / Renew by: {office} ({host})"),
        &format!("{consequence}\nstate: {state}, status: {status}"),
    );
    event(
        out,
        &format!("billing-{key}@certfleet"),
        stamp,
        last_day,
        &format!("証明書の期限 / Certificate expires: {office} ({host}), claims {month}"),
        &consequence,
    );
}

fn event(out: &mut String, uid: &str, stamp: &str, day: NaiveDate, summary: &str, desc: &str) {
    line(out, "BEGIN:VEVENT");
    line(out, &format!("UID:{}", text(uid)));
    line(out, &format!("DTSTAMP:{stamp}"));
    line(out, &format!("DTSTART;VALUE=DATE:{}", day.format("%Y%m%d")));
    let next = day + Duration::days(1);
    line(out, &format!("DTEND;VALUE=DATE:{}", next.format("%Y%m%d")));
    line(out, &format!("SUMMARY:{}", text(summary)));
    line(out, &format!("DESCRIPTION:{}", text(desc)));
    line(out, "TRANSP:TRANSPARENT");
    line(out, "END:VEVENT");
}

/// A TEXT value (RFC 5545 §3.3.11): backslash, semicolon and comma escaped, a newline as
/// `\n`, other control characters dropped (agent-supplied hostnames cannot add properties).
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends a content line folded at 75 octets (never inside a UTF-8 character), CRLF-ended.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    let _ = write!(out, "\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_lines_fold_on_characters() {
        assert_eq!(text("a,b;c\\d\ne\r\u{7}"), "a\\,b\\;c\\\\d\\ne");
        let mut out = String::new();
        line(&mut out, &format!("SUMMARY:{}", "更".repeat(40)));
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{l:?} is {} octets", l.len());
        }
        let unfolded = out.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, format!("SUMMARY:{}", "更".repeat(40)));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(token_hash(&a), ha);
        assert_ne!(ha, a);
    }
}
