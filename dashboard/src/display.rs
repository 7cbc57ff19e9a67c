//! How values are written for people, the same on the pages and in the CSV: dates in the
//! display time zone (`YYYY/MM/DD`, as the renewal manual writes them) and status labels.
//! Plain text only; the templates escape it like any other value.

use std::fmt;

use certfleet_model::PairStatus;
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;

use crate::i18n::Tr;

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

/// Label and CSS class of a pair's status; renew-now is its own state for display.
pub fn status_of(tr: &Tr, status: PairStatus, renew_now: bool) -> (&'static str, &'static str) {
    match status {
        PairStatus::Expired => (tr.expired, "st-expired"),
        PairStatus::Expiring | PairStatus::Ok if renew_now => (tr.renew_now, "st-renew"),
        PairStatus::Expiring => (tr.expiring, "st-expiring"),
        PairStatus::Ok => (tr.ok, "st-ok"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_are_written_in_the_display_zone() {
        // 2026-11-30 20:05 UTC is already December 1st in Tokyo.
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 20, 5, 0).unwrap();
        assert_eq!(Day(t, chrono_tz::Asia::Tokyo).to_string(), "2026/12/01");
        assert_eq!(
            Stamp(t, chrono_tz::Asia::Tokyo).to_string(),
            "2026/12/01 05:05"
        );
        assert_eq!(Day(t, chrono_tz::UTC).to_string(), "2026/11/30");
        let d = NaiveDate::from_ymd_opt(2027, 1, 9).unwrap();
        assert_eq!(Date(d).to_string(), "2027/01/09");
    }
}
