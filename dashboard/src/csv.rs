//! CSV of the expiring table, for Excel with Japanese text: one header row in the page's
//! language, the same rows in the same order as the table (all pages). The quoting, the byte
//! order mark and the formula guard are `certfleet_model::csv`, the one CSV writer of certfleet
//! (hostnames and names are not trusted).

use certfleet_model::PairRow;
use certfleet_model::csv;
use chrono_tz::Tz;

use crate::i18n::Tr;
use crate::pages::{Date, Day, status_of};

pub fn expiring_csv(rows: &[PairRow], tr: &Tr, tz: Tz) -> String {
    let mut out = String::with_capacity(256 + rows.len() * 160);
    out.push_str(csv::BOM);
    let header = [
        tr.office_number,
        tr.office_name,
        tr.terminal,
        tr.status,
        tr.not_after,
        tr.days_left,
        tr.renew_by,
        tr.billing_month,
        tr.office_count,
        tr.stale,
    ];
    csv::push_record(&mut out, header);
    for r in rows {
        let not_after = Day(r.not_after, tz).to_string();
        let days_left = r.days_left.to_string();
        let renew_by = Date(r.renew_by).to_string();
        let office_count = r.terminal_office_count.to_string();
        csv::push_record(
            &mut out,
            [
                r.office_number.as_str(),
                r.office_name.as_deref().unwrap_or(""),
                &r.terminal.hostname,
                status_of(tr, r.status, r.renew_now).0,
                &not_after,
                &days_left,
                &renew_by,
                &r.first_blocked_billing_month,
                &office_count,
                if r.stale { tr.yes } else { "" },
            ],
        );
    }
    out
}
