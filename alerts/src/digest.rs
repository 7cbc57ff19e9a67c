//! The alert digest: one message per run and recipient, grouped by office, most urgent first,
//! with expiry and renew-by dates, the billing month at risk and the renewal steps (manual §2).
//!
//! Every value that comes from an agent or the registry (hostname, office number, office name)
//! is interpolated through [`Markup::field`] of the channel it is written for: one line, no
//! control or bidi character, and, in Slack mrkdwn and Teams Markdown, an inline code span with
//! `&`, `<` and `>` escaped for Slack, so a hostname can never become a link, a mention
//! (`<!channel>`), emphasis or a second line of a genuine certfleet alert.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use certfleet_model::{Catalog, Lang, text};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

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
    /// Counts only: no agent text.
    pub subject: String,
    /// The plain text (e-mail, and the `text` of the JSON webhook).
    pub text: String,
    /// The same text in Slack mrkdwn.
    pub slack_text: String,
    /// The same text in Teams (Markdown).
    pub teams_text: String,
    /// The structured form for JSON webhooks: the values as stored (JSON-escaped by the
    /// encoder), for receivers that render them with their own escaping.
    pub items: Vec<AlertItem>,
    pub generated_at: DateTime<Utc>,
}

/// How a channel's text is interpreted, and so how an interpolated value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    /// Plain text (e-mail).
    Plain,
    /// Slack mrkdwn: `&`, `<`, `>` are control characters, `*_~` and backticks format.
    Slack,
    /// Markdown as Teams renders it.
    Teams,
}

impl Markup {
    /// `value` as this markup shows it literally, on one line. Forbidden characters
    /// (controls, newlines, bidi) become `?`; in Slack and Teams the value is an inline code
    /// span, inside which nothing formats or links, with its backticks replaced (no escape
    /// exists for them there) and, for Slack, `&<>` written as entities as Slack requires
    /// everywhere. An empty value stays empty.
    pub fn field(self, value: &str) -> String {
        let plain = text::printable(value);
        if self == Markup::Plain || plain.is_empty() {
            return plain.into_owned();
        }
        let mut out = String::with_capacity(plain.len() + 2);
        out.push('`');
        for c in plain.chars() {
            match (self, c) {
                (_, '`') => out.push('\''),
                (Markup::Slack, '&') => out.push_str("&amp;"),
                (Markup::Slack, '<') => out.push_str("&lt;"),
                (Markup::Slack, '>') => out.push_str("&gt;"),
                _ => out.push(c),
            }
        }
        out.push('`');
        out
    }
}

fn date(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%Y/%m/%d").to_string()
}

/// `30d` and the like (not `expired`, which also ends in "d").
fn is_days_threshold(t: &str) -> bool {
    t.strip_suffix('d')
        .is_some_and(|n| n.parse::<u32>().is_ok())
}

fn threshold_text(t: &str, texts: &DigestTexts) -> String {
    match t {
        "expired" => texts.expired.to_owned(),
        "stale" => texts.stale.to_owned(),
        "uncovered" => texts.uncovered.to_owned(),
        d => (texts.days_notice)(d.trim_end_matches('d')),
    }
}

/// One pair's line of a digest, in display form.
pub struct PairLine<'a> {
    pub host: &'a str,
    pub expiry: &'a str,
    pub days_left: i64,
    pub renew_by: &'a str,
    pub billing_month: &'a str,
    pub label: &'a str,
}

/// Every text of a digest in one language (a [`Catalog`], like the dashboard's labels).
pub struct DigestTexts {
    /// Subject line from the counts of expired, expiring and other alerts.
    pub subject: fn(usize, usize, usize) -> String,
    /// First line, from the date and the time zone's name.
    pub intro: fn(&str, &str) -> String,
    /// Heading of an office's group, from its number and registry name.
    pub office: fn(&str, Option<&str>) -> String,
    /// The line of an uncovered office (before its label).
    pub no_valid_certificate: &'static str,
    pub pair: fn(&PairLine<'_>) -> String,
    pub stale_heading: &'static str,
    /// A stale terminal's line, from its hostname and last report date.
    pub stale_terminal: fn(&str, &str) -> String,
    /// The renewal steps of the manual, ending the message.
    pub steps: &'static str,
    /// Threshold labels.
    pub expired: &'static str,
    pub stale: &'static str,
    pub uncovered: &'static str,
    pub days_notice: fn(&str) -> String,
}

pub static JA: DigestTexts = DigestTexts {
    subject: |expired, expiring, other| {
        format!(
            "【certfleet】クライアント証明書の期限通知（期限切れ {expired}件・期限間近 {expiring}件・その他 {other}件）"
        )
    },
    intro: |date, zone| {
        format!("更新が必要なクライアント証明書があります（{date} {zone} 時点）。\n")
    },
    office: |office, name| {
        let name = name.map(|n| format!("（{n}）")).unwrap_or_default();
        format!("■ 事業所番号 {office}{name}")
    },
    no_valid_certificate: "  - どの端末にも有効な証明書がありません",
    pair: |p| {
        format!(
            "  - 端末 {}: 有効期限 {}（残り {} 日）／更新期限 {}／影響する請求月 {} [{}]",
            p.host, p.expiry, p.days_left, p.renew_by, p.billing_month, p.label
        )
    },
    stale_heading: "■ 報告が途絶えている端末",
    stale_terminal: |host, last| format!("  - 端末 {host}: 最終報告 {last}"),
    steps: STEPS_JA,
    expired: "期限切れ",
    stale: "報告途絶",
    uncovered: "有効な証明書なし",
    days_notice: |days| format!("{days}日前通知"),
};

pub static EN: DigestTexts = DigestTexts {
    subject: |expired, expiring, other| {
        format!(
            "[certfleet] Client certificate expiry: {expired} expired, {expiring} expiring, {other} other"
        )
    },
    intro: |date, zone| format!("Client certificates need renewal (as of {date} {zone}).\n"),
    office: |office, name| {
        // Full-width parentheses, also inside the name, become ASCII ones with a space.
        let name = name
            .map(|n| format!("（{n}）"))
            .unwrap_or_default()
            .replace('（', " (")
            .replace('）', ")");
        format!("* Office {office}{name}")
    },
    no_valid_certificate: "  - no terminal holds a valid certificate",
    pair: |p| {
        format!(
            "  - terminal {}: expires {} ({} days left), renew by {}, billing month at risk {} [{}]",
            p.host, p.expiry, p.days_left, p.renew_by, p.billing_month, p.label
        )
    },
    stale_heading: "* Terminals that stopped reporting",
    stale_terminal: |host, last| format!("  - terminal {host}: last report {last}"),
    steps: STEPS_EN,
    expired: "expired",
    stale: "not reporting",
    uncovered: "no valid certificate",
    days_notice: |days| format!("{days}-day notice"),
};

impl Catalog for DigestTexts {
    fn get(lang: Lang) -> &'static Self {
        match lang {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
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

/// Composes the digest of `items` for one recipient, in every markup.
pub fn compose(items: &[AlertItem], lang: Lang, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Digest {
    let texts: &DigestTexts = lang.tr();
    let mut items = items.to_vec();
    items.sort_by(|a, b| {
        (a.urgency, a.not_after, &a.office_number, &a.hostname).cmp(&(
            b.urgency,
            b.not_after,
            &b.office_number,
            &b.hostname,
        ))
    });
    let expired = items.iter().filter(|i| i.threshold == "expired").count();
    let expiring = items
        .iter()
        .filter(|i| is_days_threshold(&i.threshold))
        .count();
    let other = items.len() - expired - expiring;
    let subject = (texts.subject)(expired, expiring, other);
    let text = render(&items, texts, tz, now, Markup::Plain);
    let slack_text = render(&items, texts, tz, now, Markup::Slack);
    let teams_text = render(&items, texts, tz, now, Markup::Teams);
    Digest {
        subject,
        text,
        slack_text,
        teams_text,
        items,
        generated_at: now,
    }
}

/// The body of a digest over `items` (already sorted most urgent first) in `markup`.
fn render(
    items: &[AlertItem],
    texts: &DigestTexts,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
    markup: Markup,
) -> String {
    // Offices ordered by their most urgent item; the stable sort of the items makes the first
    // appearance of each office its most urgent one.
    let mut office_order: Vec<&str> = Vec::new();
    let mut by_office: BTreeMap<&str, Vec<&AlertItem>> = BTreeMap::new();
    let mut stale: Vec<&AlertItem> = Vec::new();
    for item in items {
        match &item.office_number {
            Some(office) => {
                if !by_office.contains_key(office.as_str()) {
                    office_order.push(office);
                }
                by_office.entry(office).or_default().push(item);
            }
            None => stale.push(item),
        }
    }
    let mut text = String::new();
    let _ = writeln!(text, "{}", (texts.intro)(&date(now, tz), tz.name()));
    for office in &office_order {
        let group = &by_office[office];
        let name = group
            .iter()
            .find_map(|i| i.office_name.as_deref())
            .map(|n| markup.field(n));
        let _ = writeln!(
            text,
            "{}",
            (texts.office)(&markup.field(office), name.as_deref())
        );
        for i in group {
            let host = markup.field(i.hostname.as_deref().unwrap_or("-"));
            let label = threshold_text(&i.threshold, texts);
            if i.threshold == "uncovered" {
                let _ = writeln!(text, "{} [{label}]", texts.no_valid_certificate);
                continue;
            }
            let expiry = i.not_after.map(|t| date(t, tz)).unwrap_or_default();
            let renew = i
                .renew_by
                .map(|d| d.format("%Y/%m/%d").to_string())
                .unwrap_or_default();
            // Computed by the collector ("2027-01"), never agent text; kept on one line anyway.
            let month = Markup::Plain.field(i.billing_month.as_deref().unwrap_or_default());
            let line = PairLine {
                host: &host,
                expiry: &expiry,
                days_left: i.days_left.unwrap_or_default(),
                renew_by: &renew,
                billing_month: &month,
                label: &label,
            };
            let _ = writeln!(text, "{}", (texts.pair)(&line));
        }
        text.push('\n');
    }
    if !stale.is_empty() {
        let _ = writeln!(text, "{}", texts.stale_heading);
        for i in &stale {
            let host = markup.field(i.hostname.as_deref().unwrap_or("-"));
            let last = i
                .last_report_at
                .map(|t| date(t, tz))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(text, "{}", (texts.stale_terminal)(&host, &last));
        }
        text.push('\n');
    }
    text.push_str(texts.steps);
    text
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
        let d = compose(&items, Lang::Ja, chrono_tz::Asia::Tokyo, now);
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
        let en = compose(&items, Lang::En, chrono_tz::Asia::Tokyo, now);
        assert!(en.text.contains("renew by 2026/12/01"), "{}", en.text);
        assert!(en.subject.starts_with("[certfleet]"));
    }
}

#[cfg(test)]
mod markup_tests {
    //! A hostile hostname, office number and registry name in every channel's text.
    use super::*;
    use pulldown_cmark::{Event, Parser, Tag};

    const HOST: &str = "<!channel> <https://evil.example/renew|更新はこちら> *至急*\nFAKE";
    const NAME: &str = "[renew](https://evil.example) `x` <b>bold</b> _i_\u{202e}\r\nFAKE";
    const OFFICE: &str = "1410000001\n<!here>";

    fn items(host: &str, name: &str, office: &str) -> Vec<AlertItem> {
        vec![
            AlertItem {
                threshold: "7d".into(),
                urgency: 7,
                office_number: Some(office.into()),
                office_name: Some(name.into()),
                terminal_id: Some(1),
                hostname: Some(host.into()),
                not_after: Some("2026-12-02T00:00:00Z".parse().unwrap()),
                days_left: Some(6),
                renew_by: Some(NaiveDate::from_ymd_opt(2026, 11, 18).unwrap()),
                billing_month: Some("2026-12".into()),
                last_report_at: None,
            },
            AlertItem {
                threshold: "stale".into(),
                urgency: 100,
                office_number: None,
                office_name: None,
                terminal_id: Some(2),
                hostname: Some(host.into()),
                not_after: None,
                days_left: None,
                renew_by: None,
                billing_month: None,
                last_report_at: Some("2026-11-01T00:00:00Z".parse().unwrap()),
            },
        ]
    }

    fn digest(host: &str, name: &str, office: &str, lang: Lang) -> Digest {
        let now = "2026-11-26T00:00:00Z".parse().unwrap();
        compose(
            &items(host, name, office),
            lang,
            chrono_tz::Asia::Tokyo,
            now,
        )
    }

    #[test]
    fn hostile_values_add_no_line_in_any_channel() {
        for lang in [Lang::Ja, Lang::En] {
            let benign = digest("pc-01", "事業所", "1410000001", lang);
            let hostile = digest(HOST, NAME, OFFICE, lang);
            for (b, h) in [
                (&benign.text, &hostile.text),
                (&benign.slack_text, &hostile.slack_text),
                (&benign.teams_text, &hostile.teams_text),
            ] {
                assert_eq!(b.lines().count(), h.lines().count(), "{h}");
                assert!(h.lines().all(|l| text::first_forbidden(l).is_none()), "{h}");
            }
            assert!(hostile.text.contains(&text::printable(HOST).into_owned()));
        }
    }

    #[test]
    fn slack_text_has_no_mention_link_or_formatting_from_values() {
        let d = digest(HOST, NAME, OFFICE, Lang::Ja);
        // The templates use no angle brackets: every one left would be a Slack control sequence.
        assert!(!d.slack_text.contains(['<', '>']), "{}", d.slack_text);
        assert!(
            d.slack_text.contains(
                "`&lt;!channel&gt; &lt;https://evil.example/renew|更新はこちら&gt; *至急*?FAKE`"
            ),
            "{}",
            d.slack_text
        );
        assert!(d.slack_text.contains("`1410000001?&lt;!here&gt;`"));
        // The registry name's backticks cannot end its code span early.
        assert!(
            d.slack_text
                .contains("`[renew](https://evil.example) 'x' &lt;b&gt;bold&lt;/b&gt; _i_???FAKE`"),
            "{}",
            d.slack_text
        );
    }

    #[test]
    fn teams_markdown_renders_values_as_code_only() {
        for lang in [Lang::Ja, Lang::En] {
            let d = digest(HOST, NAME, OFFICE, lang);
            let mut code = Vec::new();
            for event in Parser::new(&d.teams_text) {
                match event {
                    Event::Start(Tag::Link { .. } | Tag::Image { .. }) => {
                        panic!("a link in {}", d.teams_text)
                    }
                    Event::Start(Tag::Emphasis | Tag::Strong | Tag::Strikethrough) => {
                        panic!("emphasis in {}", d.teams_text)
                    }
                    Event::Html(h) | Event::InlineHtml(h) => {
                        panic!("HTML {h:?} in {}", d.teams_text)
                    }
                    Event::Code(c) => code.push(c.into_string()),
                    _ => {}
                }
            }
            let printable = |s: &str| text::printable(s).replace('`', "'");
            for value in [HOST, NAME, OFFICE] {
                assert!(
                    code.contains(&printable(value)),
                    "{value:?} is one code span: {code:?}"
                );
            }
        }
    }

    #[test]
    fn plain_fields_only_lose_forbidden_characters() {
        assert_eq!(Markup::Plain.field("a*b<c>`d`\ne"), "a*b<c>`d`?e");
        assert_eq!(Markup::Slack.field(""), "");
        assert_eq!(Markup::Teams.field("pc-01"), "`pc-01`");
        assert_eq!(Markup::Slack.field("a&b"), "`a&amp;b`");
    }
}
