//! SPEC §5 report semantics as pure functions: effective certificate of a pair, status,
//! days left, renew-by date, first blocked billing month and staleness. Every report, the
//! metrics and the alerts go through these, so the rules live in exactly one place.

use std::cmp::Ordering;

use certfleet_config::tracking::TrackingSettings;
use certfleet_model::{PairStatus, TrackingState, TrackingView};
use certfleet_store::tracking::{StoredState, TrackingEntry};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

/// What the effective-certificate rule looks at in one holding of a (terminal, office) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertKey<'a> {
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub has_private_key: Option<bool>,
    /// Only breaks exact ties, so the choice does not depend on database row order.
    pub sha256: &'a str,
}

impl CertKey<'_> {
    /// Ordering where "greater" is "more effective": holdings not known to lack a private key
    /// first (a certificate without its key cannot log in), then latest `not_after`, then
    /// latest `not_before`.
    fn rank_cmp(&self, other: &Self) -> Ordering {
        let usable = |k: &Self| k.has_private_key != Some(false);
        usable(self)
            .cmp(&usable(other))
            .then(self.not_after.cmp(&other.not_after))
            .then(self.not_before.cmp(&other.not_before))
            .then_with(|| other.sha256.cmp(self.sha256))
    }
}

/// Index of the effective certificate among the holdings of one pair; `None` when empty.
/// Every other holding of the pair is superseded.
pub fn effective_index<T>(items: &[T], key: impl Fn(&T) -> CertKey<'_>) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, item) in items.iter().enumerate() {
        best = match best {
            Some(b) if key(&items[b]).rank_cmp(&key(item)) != Ordering::Less => Some(b),
            _ => Some(i),
        };
    }
    best
}

/// Status at `as_of` with a window of `window_days` (both boundaries inclusive).
pub fn status(not_after: DateTime<Utc>, as_of: DateTime<Utc>, window_days: u32) -> PairStatus {
    if not_after <= as_of {
        PairStatus::Expired
    } else if not_after <= as_of + Duration::days(i64::from(window_days)) {
        PairStatus::Expiring
    } else {
        PairStatus::Ok
    }
}

/// Calendar date of an instant in the display time zone.
pub fn local_date(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// Whole days from `as_of` to `not_after` as calendar dates in the display time zone: what an
/// office worker reading a wall calendar expects (23:30 today → 00:30 tomorrow is 1 day).
pub fn days_left(not_after: DateTime<Utc>, as_of: DateTime<Utc>, tz: Tz) -> i64 {
    days_left_on(not_after, local_date(as_of, tz), tz)
}

/// [`days_left`] with `as_of`'s local date already known (loops over many pairs).
pub fn days_left_on(not_after: DateTime<Utc>, today: NaiveDate, tz: Tz) -> i64 {
    (local_date(not_after, tz) - today).num_days()
}

/// `not_after − lead_days` as a date in the display time zone.
pub fn renew_by(not_after: DateTime<Utc>, lead_days: u32, tz: Tz) -> NaiveDate {
    local_date(not_after - Duration::days(i64::from(lead_days)), tz)
}

/// True once `as_of`'s local date is after `renew_by` (renewing on that day still counts).
pub fn renew_now(renew_by: NaiveDate, as_of: DateTime<Utc>, tz: Tz) -> bool {
    renew_now_on(renew_by, local_date(as_of, tz))
}

/// [`renew_now`] with `as_of`'s local date already known (loops over many pairs).
pub fn renew_now_on(renew_by: NaiveDate, today: NaiveDate) -> bool {
    today > renew_by
}

/// The first month (`YYYY-MM`) whose billing window (days `start_day..=end_day`, local time)
/// the certificate does not fully cover: the month of `not_after` when it ends before that
/// month's window closes (day `end_day + 1`, 00:00 local), otherwise the next month.
pub fn first_blocked_billing_month(not_after: DateTime<Utc>, end_day: u32, tz: Tz) -> String {
    let local = not_after.with_timezone(&tz).naive_local();
    let (y, m) = (local.year(), local.month());
    // Compared as local wall-clock times, so a DST gap at midnight cannot make this fail.
    let window_closes = NaiveDate::from_ymd_opt(y, m, end_day + 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("billing window end day is validated to 1..=28");
    let (y, m) = if local < window_closes {
        (y, m)
    } else if m == 12 {
        (y + 1, 1)
    } else {
        (y, m + 1)
    };
    format!("{y:04}-{m:02}")
}

/// Calendar months from the month of `from` to the month of `t` in the display time zone
/// (0: same month, negative: earlier): the timeline bucket of `t` when it starts at `from`.
pub fn months_between(from: NaiveDate, t: DateTime<Utc>, tz: Tz) -> i64 {
    let d = local_date(t, tz);
    (i64::from(d.year()) - i64::from(from.year())) * 12 + i64::from(d.month())
        - i64::from(from.month())
}

/// The `n` months starting with the month of `as_of`, as `YYYY-MM`.
pub fn months_from(as_of: DateTime<Utc>, tz: Tz, n: usize) -> Vec<String> {
    let d = local_date(as_of, tz);
    let (mut y, mut m) = (d.year(), d.month());
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(format!("{y:04}-{m:02}"));
        if m == 12 {
            y += 1;
            m = 1;
        } else {
            m += 1;
        }
    }
    out
}

/// The instant before which a last report makes a terminal stale.
pub fn stale_cutoff(as_of: DateTime<Utc>, stale_after_days: u32) -> DateTime<Utc> {
    as_of - Duration::days(i64::from(stale_after_days))
}

/// A terminal is stale when it never reported or its last report is older than the threshold.
pub fn is_stale(
    last_report_at: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
    stale_after_days: u32,
) -> bool {
    last_report_at.is_none_or(|t| t < stale_cutoff(as_of, stale_after_days))
}

/// Urgency order of expiring rows: soonest `not_after`, then office number, then hostname.
pub fn urgency_cmp(
    a: (DateTime<Utc>, &str, &str, i64),
    b: (DateTime<Utc>, &str, &str, i64),
) -> Ordering {
    a.cmp(&b)
}

/// A pair's tracking as reports show it on `today` (local date), from its stored entry
/// (issue 17 §1): an open request past `stuck_after_days` (plus the reissue lead time for a
/// password reissue) is *stuck*; a hold past its day has lapsed (*not started*); a renewal is
/// shown while the new certificate is not itself due (`status` ok), after which the pair is
/// *not started* again; an open entry whose pair already ends later than its baseline is
/// *renewed* even before ingest closed it.
pub fn tracking_view(
    entry: Option<&TrackingEntry>,
    not_after: DateTime<Utc>,
    status: PairStatus,
    today: NaiveDate,
    tz: Tz,
    t: &TrackingSettings,
) -> TrackingView {
    let Some(e) = entry else {
        return TrackingView::not_started();
    };
    let mut view = TrackingView {
        requested_on: e.requested_on,
        note: e.note.clone(),
        changed_by: Some(e.changed_by.clone()),
        changed_at: Some(e.changed_at),
        ..TrackingView::not_started()
    };
    let renewed = |view: &mut TrackingView, at: DateTime<Utc>| {
        view.state = TrackingState::Renewed;
        view.renewed_at = Some(at);
        view.days_to_renew = e
            .requested_on
            .map(|on| (local_date(at, tz) - on).num_days());
    };
    match e.state {
        StoredState::Requested | StoredState::Reissue if not_after > e.baseline_not_after => {
            renewed(&mut view, e.changed_at);
        }
        StoredState::Requested | StoredState::Reissue => {
            let waiting = e.requested_on.map_or(0, |on| (today - on).num_days());
            let mut limit = i64::from(t.stuck_after_days);
            if e.state == StoredState::Reissue {
                limit += i64::from(t.password_reissue_lead_days);
            }
            view.days_waiting = Some(waiting);
            view.state = if waiting >= limit {
                TrackingState::Stuck
            } else if e.state == StoredState::Reissue {
                TrackingState::Reissue
            } else {
                TrackingState::Requested
            };
        }
        StoredState::OnHold => {
            view.hold_until = e.hold_until;
            if e.hold_until.is_some_and(|until| until > today) {
                view.state = TrackingState::OnHold;
            }
        }
        StoredState::Retired => view.state = TrackingState::Retired,
        StoredState::Renewed => {
            if status == PairStatus::Ok {
                renewed(&mut view, e.renewed_at.unwrap_or(e.changed_at));
            } else {
                return TrackingView::not_started();
            }
        }
    }
    view
}

/// The renew-by date of a pair in tracking state `state`: a password reissue by post needs
/// its lead time on top of the request's.
pub fn tracked_renew_by(
    not_after: DateTime<Utc>,
    lead_days: u32,
    state: TrackingState,
    entry_is_reissue: bool,
    t: &TrackingSettings,
    tz: Tz,
) -> NaiveDate {
    let extra = match state {
        TrackingState::Reissue => t.password_reissue_lead_days,
        TrackingState::Stuck if entry_is_reissue => t.password_reissue_lead_days,
        _ => 0,
    };
    renew_by(not_after, lead_days + extra, tz)
}

#[cfg(test)]
mod tests {

    #[test]
    fn months_between_counts_local_calendar_months() {
        let tz = chrono_tz::Asia::Tokyo;
        let as_of: DateTime<Utc> = "2026-11-26T00:00:00Z".parse().unwrap();
        let months = months_from(as_of, tz, 40);
        let today = local_date(as_of, tz);
        // 2026-12-31T15:00Z is already 2027-01-01 in Tokyo: the bucket follows local time.
        for (t, expected, label) in [
            ("2026-11-01T00:00:00Z", 0, "2026-11"),
            ("2026-12-31T14:59:59Z", 1, "2026-12"),
            ("2026-12-31T15:00:00Z", 2, "2027-01"),
            ("2029-10-15T00:00:00Z", 35, "2029-10"),
            ("2026-10-31T14:00:00Z", -1, ""),
        ] {
            let t: DateTime<Utc> = t.parse().unwrap();
            let i = months_between(today, t, tz);
            assert_eq!(i, expected, "{t}");
            if let Ok(i) = usize::try_from(i) {
                assert_eq!(months[i], label);
            }
        }
    }

    use super::*;
    use chrono::TimeZone;

    const TOKYO: Tz = chrono_tz::Asia::Tokyo;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn key(nb: DateTime<Utc>, na: DateTime<Utc>, pk: Option<bool>, sha: &str) -> CertKey<'_> {
        CertKey {
            not_before: nb,
            not_after: na,
            has_private_key: pk,
            sha256: sha,
        }
    }

    #[test]
    fn effective_is_latest_not_after_then_latest_not_before() {
        let a = utc(2023, 1, 1, 0, 0);
        let b = utc(2024, 1, 1, 0, 0);
        let items = [
            key(a, utc(2026, 1, 1, 0, 0), Some(true), "old"),
            key(a, utc(2029, 1, 1, 0, 0), Some(true), "new"),
            key(b, utc(2029, 1, 1, 0, 0), None, "newer-start"),
        ];
        assert_eq!(effective_index(&items, |k| *k), Some(2));
        assert_eq!(effective_index::<CertKey<'_>>(&[], |k| *k), None);
    }

    #[test]
    fn effective_prefers_certificates_not_known_to_lack_a_key() {
        let nb = utc(2023, 1, 1, 0, 0);
        let items = [
            key(nb, utc(2030, 1, 1, 0, 0), Some(false), "keyless-later"),
            key(nb, utc(2026, 1, 1, 0, 0), None, "unknown-earlier"),
        ];
        assert_eq!(effective_index(&items, |k| *k), Some(1));
        // Only keyless ones: the latest of them is still effective.
        let items = [
            key(nb, utc(2026, 1, 1, 0, 0), Some(false), "a"),
            key(nb, utc(2027, 1, 1, 0, 0), Some(false), "b"),
        ];
        assert_eq!(effective_index(&items, |k| *k), Some(1));
    }

    #[test]
    fn exact_ties_are_decided_by_sha256_not_row_order() {
        let nb = utc(2023, 1, 1, 0, 0);
        let na = utc(2026, 1, 1, 0, 0);
        let x = [key(nb, na, None, "bb"), key(nb, na, None, "aa")];
        let y = [key(nb, na, None, "aa"), key(nb, na, None, "bb")];
        assert_eq!(x[effective_index(&x, |k| *k).unwrap()].sha256, "aa");
        assert_eq!(y[effective_index(&y, |k| *k).unwrap()].sha256, "aa");
    }

    #[test]
    fn status_boundaries_are_inclusive() {
        let as_of = utc(2026, 11, 26, 0, 0);
        assert_eq!(status(as_of, as_of, 60), PairStatus::Expired);
        assert_eq!(
            status(as_of + Duration::seconds(1), as_of, 60),
            PairStatus::Expiring
        );
        assert_eq!(
            status(as_of + Duration::days(60), as_of, 60),
            PairStatus::Expiring
        );
        assert_eq!(
            status(as_of + Duration::days(60) + Duration::seconds(1), as_of, 60),
            PairStatus::Ok
        );
    }

    #[test]
    fn days_left_counts_calendar_days_in_the_display_zone() {
        // 23:30 JST → 00:30 JST the next day: one calendar day although only one hour.
        assert_eq!(
            days_left(utc(2026, 11, 26, 15, 30), utc(2026, 11, 26, 14, 30), TOKYO),
            1
        );
        // The same instants are the same UTC date: 0 days in UTC.
        assert_eq!(
            days_left(
                utc(2026, 11, 26, 15, 30),
                utc(2026, 11, 26, 14, 30),
                chrono_tz::UTC
            ),
            0
        );
        assert_eq!(
            days_left(utc(2026, 11, 20, 0, 0), utc(2026, 11, 26, 0, 0), TOKYO),
            -6
        );
    }

    #[test]
    fn renew_by_and_renew_now() {
        // not_after 2027-01-10 00:00 JST; 14 days before is 2026-12-27 JST.
        let na = utc(2027, 1, 9, 15, 0);
        let rb = renew_by(na, 14, TOKYO);
        assert_eq!(rb, NaiveDate::from_ymd_opt(2026, 12, 27).unwrap());
        assert!(!renew_now(rb, utc(2026, 12, 27, 14, 59), TOKYO)); // 23:59 JST on the day
        assert!(renew_now(rb, utc(2026, 12, 27, 15, 0), TOKYO)); // 00:00 JST the day after
    }

    #[test]
    fn billing_month_across_a_year_boundary() {
        // 2026-12-20 JST is after December's window (1–10): January 2027 is the first blocked.
        assert_eq!(
            first_blocked_billing_month(utc(2026, 12, 20, 3, 0), 10, TOKYO),
            "2027-01"
        );
        // 2026-12-05 JST: December's window is cut short.
        assert_eq!(
            first_blocked_billing_month(utc(2026, 12, 5, 3, 0), 10, TOKYO),
            "2026-12"
        );
        // Exactly when the window closes (11th 00:00 JST): the window was fully covered.
        assert_eq!(
            first_blocked_billing_month(utc(2026, 12, 10, 15, 0), 10, TOKYO),
            "2027-01"
        );
        // One second earlier: the 10th is not fully covered.
        assert_eq!(
            first_blocked_billing_month(utc(2026, 12, 10, 14, 59), 10, TOKYO),
            "2026-12"
        );
        // The local date decides: 2026-11-30T16:00Z is 2026-12-01 01:00 JST.
        assert_eq!(
            first_blocked_billing_month(utc(2026, 11, 30, 16, 0), 10, TOKYO),
            "2026-12"
        );
    }

    #[test]
    fn staleness() {
        let as_of = utc(2026, 11, 26, 0, 0);
        assert!(is_stale(None, as_of, 7));
        assert!(!is_stale(Some(as_of - Duration::days(7)), as_of, 7));
        assert!(is_stale(
            Some(as_of - Duration::days(7) - Duration::seconds(1)),
            as_of,
            7
        ));
    }

    #[test]
    fn months_wrap_years() {
        let m = months_from(utc(2026, 11, 30, 16, 0), TOKYO, 3);
        assert_eq!(m, ["2026-12", "2027-01", "2027-02"]);
        let today = local_date(utc(2026, 11, 30, 16, 0), TOKYO);
        assert_eq!(months_between(today, utc(2027, 1, 15, 0, 0), TOKYO), 1);
    }
}
