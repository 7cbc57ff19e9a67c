//! The alert digest: one message per run and recipient, grouped by office, most urgent first,
//! with expiry and renew-by dates, the billing month at risk and the renewal steps (manual §2).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::settings::Language;

/// What one decided alert says, frozen when it was decided (stored with the alert).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertItem {
    /// `60d` … `1d`, `expired`, `stale` or `uncovered`.
    pub threshold: String,
    /// Smaller is more urgent.
    pub urgency: i64,
    pub office_number: Option<String>,
    pub office_name: Option<String>,
    pub terminal_id: Option<i64>,
    pub hostname: Option<String>,
    pub not_after: Option<DateTime<Utc>>,
    pub days_left: Option<i64>,
    pub renew_by: Option<NaiveDate>,
    pub billing_month: Option<String>,
    pub last_report_at: Option<DateTime<Utc>>,
}

/// A composed message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    pub subject: String,
    pub text: String,
    /// The structured form for JSON webhooks.
    pub items: Vec<AlertItem>,
    pub generated_at: DateTime<Utc>,
}

fn date(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%Y/%m/%d").to_string()
}

/// `30d` and the like (not `expired`, which also ends in "d").
fn is_days_threshold(t: &str) -> bool {
    t.strip_suffix('d')
        .is_some_and(|n| n.parse::<u32>().is_ok())
}

fn threshold_text(t: &str, lang: Language) -> String {
    match (t, lang) {
        ("expired", Language::Ja) => "期限切れ".into(),
        ("expired", Language::En) => "expired".into(),
        ("stale", Language::Ja) => "報告途絶".into(),
        ("stale", Language::En) => "not reporting".into(),
        ("uncovered", Language::Ja) => "有効な証明書なし".into(),
        ("uncovered", Language::En) => "no valid certificate".into(),
        (d, Language::Ja) => format!("{}日前通知", d.trim_end_matches('d')),
        (d, Language::En) => format!("{}-day notice", d.trim_end_matches('d')),
    }
}

const STEPS_JA: &str = "\
更新手順（事業所ごと・端末ごとに必要です）:
  1. 対象の端末で Edge（IE モード）から国保連の証明書発行サイト（/certsrv/）を開き、証明書発行用 ID とパスワードでログインして証明書を申請します。
  2. 国保連の承認を待ちます（数日かかることがあります）。パスワードを紛失した場合の再発行は郵送で約1週間かかります。
  3. 承認後、同じ端末で証明書をインストールします。古い証明書は期限まで残り、どちらでもログインできます。
  4. 複数の事業所の証明書がある端末では、事業所ごとに繰り返します。
請求の受付は毎月1日〜10日です。9日以降の申請はその月の請求に間に合わないことがあります。
";

const STEPS_EN: &str = "\
How to renew (needed per office and per terminal):
  1. On the terminal, open the federation's certificate enrollment site (/certsrv/) in Edge (IE mode), log in with the certificate-issuance ID and password, and request the certificate.
  2. Wait for the federation's approval (this can take several days). A lost password is reissued by post in about a week.
  3. After approval, install the certificate on the same terminal. The old certificate stays usable until it expires.
  4. On a terminal holding several offices' certificates, repeat for each office.
Claims are accepted from the 1st to the 10th of each month; a request after the 9th may miss that month's billing.
";

/// Composes the digest of `items` for one recipient.
pub fn compose(
    items: &[AlertItem],
    lang: Language,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Digest {
    let mut items = items.to_vec();
    items.sort_by(|a, b| {
        (a.urgency, a.not_after, &a.office_number, &a.hostname).cmp(&(
            b.urgency,
            b.not_after,
            &b.office_number,
            &b.hostname,
        ))
    });
    // Offices ordered by their most urgent item; the stable sort above makes the first
    // appearance of each office its most urgent one.
    let mut office_order: Vec<String> = Vec::new();
    let mut by_office: BTreeMap<String, Vec<&AlertItem>> = BTreeMap::new();
    let mut stale: Vec<&AlertItem> = Vec::new();
    for item in &items {
        match &item.office_number {
            Some(office) => {
                if !by_office.contains_key(office) {
                    office_order.push(office.clone());
                }
                by_office.entry(office.clone()).or_default().push(item);
            }
            None => stale.push(item),
        }
    }
    let expired = items.iter().filter(|i| i.threshold == "expired").count();
    let expiring = items
        .iter()
        .filter(|i| is_days_threshold(&i.threshold))
        .count();
    let other = items.len() - expired - expiring;
    let subject = match lang {
        Language::Ja => format!(
            "【certfleet】クライアント証明書の期限通知（期限切れ {expired}件・期限間近 {expiring}件・その他 {other}件）"
        ),
        Language::En => format!(
            "[certfleet] Client certificate expiry: {expired} expired, {expiring} expiring, {other} other"
        ),
    };
    let mut text = String::new();
    let tz_name = tz.name();
    match lang {
        Language::Ja => {
            let _ = writeln!(
                text,
                "更新が必要なクライアント証明書があります（{} {} 時点）。\n",
                date(now, tz),
                tz_name
            );
        }
        Language::En => {
            let _ = writeln!(
                text,
                "Client certificates need renewal (as of {} {}).\n",
                date(now, tz),
                tz_name
            );
        }
    }
    for office in &office_order {
        let group = &by_office[office];
        let name = group
            .iter()
            .find_map(|i| i.office_name.clone())
            .map(|n| format!("（{n}）"))
            .unwrap_or_default();
        match lang {
            Language::Ja => {
                let _ = writeln!(text, "■ 事業所番号 {office}{name}");
            }
            Language::En => {
                let _ = writeln!(
                    text,
                    "* Office {office}{}",
                    name.replace('（', " (").replace('）', ")")
                );
            }
        }
        for i in group {
            let host = i.hostname.as_deref().unwrap_or("-");
            let label = threshold_text(&i.threshold, lang);
            if i.threshold == "uncovered" {
                let line = match lang {
                    Language::Ja => "  - どの端末にも有効な証明書がありません".to_owned(),
                    Language::En => "  - no terminal holds a valid certificate".to_owned(),
                };
                let _ = writeln!(text, "{line} [{label}]");
                continue;
            }
            let expiry = i.not_after.map(|t| date(t, tz)).unwrap_or_default();
            let renew = i
                .renew_by
                .map(|d| d.format("%Y/%m/%d").to_string())
                .unwrap_or_default();
            let month = i.billing_month.clone().unwrap_or_default();
            let days = i.days_left.unwrap_or_default();
            let _ = match lang {
                Language::Ja => writeln!(
                    text,
                    "  - 端末 {host}: 有効期限 {expiry}（残り {days} 日）／更新期限 {renew}／影響する請求月 {month} [{label}]"
                ),
                Language::En => writeln!(
                    text,
                    "  - terminal {host}: expires {expiry} ({days} days left), renew by {renew}, billing month at risk {month} [{label}]"
                ),
            };
        }
        text.push('\n');
    }
    if !stale.is_empty() {
        let _ = match lang {
            Language::Ja => writeln!(text, "■ 報告が途絶えている端末"),
            Language::En => writeln!(text, "* Terminals that stopped reporting"),
        };
        for i in &stale {
            let host = i.hostname.as_deref().unwrap_or("-");
            let last = i
                .last_report_at
                .map(|t| date(t, tz))
                .unwrap_or_else(|| "-".into());
            let _ = match lang {
                Language::Ja => writeln!(text, "  - 端末 {host}: 最終報告 {last}"),
                Language::En => writeln!(text, "  - terminal {host}: last report {last}"),
            };
        }
        text.push('\n');
    }
    text.push_str(match lang {
        Language::Ja => STEPS_JA,
        Language::En => STEPS_EN,
    });
    Digest {
        subject,
        text,
        items,
        generated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(office: &str, host: &str, threshold: &str, urgency: i64, not_after: &str) -> AlertItem {
        AlertItem {
            threshold: threshold.into(),
            urgency,
            office_number: Some(office.into()),
            office_name: Some(format!("事業所{office}")),
            terminal_id: Some(1),
            hostname: Some(host.into()),
            not_after: Some(not_after.parse().unwrap()),
            days_left: Some(urgency.max(0)),
            renew_by: Some(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()),
            billing_month: Some("2027-01".into()),
            last_report_at: None,
        }
    }

    #[test]
    fn groups_by_office_most_urgent_first_with_dates_in_display_zone() {
        let items = vec![
            item("2222222222", "pc-b", "30d", 30, "2026-12-20T15:30:00Z"),
            item("1111111111", "pc-a", "7d", 7, "2026-12-02T00:00:00Z"),
            item("2222222222", "pc-c", "expired", -1, "2026-11-20T00:00:00Z"),
        ];
        let now: DateTime<Utc> = "2026-11-26T00:00:00Z".parse().unwrap();
        let d = compose(&items, Language::Ja, chrono_tz::Asia::Tokyo, now);
        assert!(d.subject.contains("期限切れ 1件"), "{}", d.subject);
        let first = d.text.find("2222222222").unwrap();
        let second = d.text.find("1111111111").unwrap();
        assert!(
            first < second,
            "office with the expired pair first:\n{}",
            d.text
        );
        // 2026-12-20T15:30Z is 2026-12-21 00:30 in Tokyo.
        assert!(d.text.contains("有効期限 2026/12/21"), "{}", d.text);
        assert!(d.text.contains("/certsrv/"));
        let en = compose(&items, Language::En, chrono_tz::Asia::Tokyo, now);
        assert!(en.text.contains("renew by 2026/12/01"), "{}", en.text);
        assert!(en.subject.starts_with("[certfleet]"));
    }
}
