//! Japanese (default) and English labels. Japanese terms follow the renewal manual
//! (事業所番号, 有効期限, 発行者, 発行先, 端末). A struct rather than a key lookup so a missing
//! translation is a compile error.

/// Display language of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// Picks ja or en from an `Accept-Language` header by quality (ties: header order);
    /// `None` when it names neither.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(Lang, f32)> = None;
        for part in header.split(',').take(32) {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let Some(lang) = Lang::parse(primary) else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(_, bq)| q > bq) {
                best = Some((lang, q));
            }
        }
        best.map(|(l, _)| l)
    }

    /// "Rows a–b of n" in this language.
    pub fn showing(self, from: usize, to: usize, total: usize) -> String {
        match (self, total) {
            (Lang::Ja, 0) => "0件".to_owned(),
            (Lang::En, 0) => "0 rows".to_owned(),
            (Lang::Ja, _) => format!("{total}件中 {from}–{to}件を表示"),
            (Lang::En, _) => format!("Showing {from}–{to} of {total}"),
        }
    }

    pub fn tr(self) -> &'static Tr {
        match self {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
    }
}

/// Every label of the dashboard in one language.
#[derive(Debug)]
pub struct Tr {
    pub app: &'static str,
    pub nav_overview: &'static str,
    pub nav_expiring: &'static str,
    pub nav_offices: &'static str,
    pub nav_multi: &'static str,
    pub nav_stale: &'static str,
    pub nav_alerts: &'static str,
    pub login: &'static str,
    pub logout: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub login_failed: &'static str,
    pub login_no_users: &'static str,
    pub expired: &'static str,
    pub renew_now: &'static str,
    pub expiring: &'static str,
    pub ok: &'static str,
    pub stale_terminals: &'static str,
    pub uncovered_offices: &'static str,
    pub pairs_note: &'static str,
    pub terminals_total: &'static str,
    pub offices_total: &'static str,
    pub timeline_title: &'static str,
    pub timeline_desc: &'static str,
    pub show_as_table: &'static str,
    pub month: &'static str,
    pub office_number: &'static str,
    pub office_name: &'static str,
    pub terminal: &'static str,
    pub status: &'static str,
    pub not_after: &'static str,
    pub days_left: &'static str,
    pub renew_by: &'static str,
    pub billing_month: &'static str,
    pub multi_office: &'static str,
    pub stale: &'static str,
    pub issuer: &'static str,
    pub subject: &'static str,
    pub serial: &'static str,
    pub not_before: &'static str,
    pub private_key: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub unknown: &'static str,
    pub friendly_name: &'static str,
    pub locations: &'static str,
    pub effective: &'static str,
    pub superseded: &'static str,
    pub superseded_certs: &'static str,
    pub first_seen: &'static str,
    pub last_seen: &'static str,
    pub last_report: &'static str,
    pub agent_version: &'static str,
    pub os: &'static str,
    pub machine_id: &'static str,
    pub offices_on_terminal: &'static str,
    pub certificates: &'static str,
    pub terminals_holding: &'static str,
    pub site: &'static str,
    pub owner_email: &'static str,
    pub uncovered: &'static str,
    pub apply: &'static str,
    pub reset: &'static str,
    pub within: &'static str,
    pub status_default: &'static str,
    pub status_all: &'static str,
    pub csv: &'static str,
    pub prev: &'static str,
    pub next: &'static str,
    pub no_rows: &'static str,
    pub office_count: &'static str,
    pub days_since: &'static str,
    pub older_than: &'static str,
    pub never: &'static str,
    pub decided_at: &'static str,
    pub delivered_at: &'static str,
    pub threshold: &'static str,
    pub recipient: &'static str,
    pub state: &'static str,
    pub attempts: &'static str,
    pub last_error: &'static str,
    pub as_of: &'static str,
    pub error_unavailable: &'static str,
    pub error_internal: &'static str,
    pub not_found: &'static str,
    pub soonest: &'static str,
    pub uncovered_only: &'static str,
    pub office_terminal_placeholder: &'static str,
}

pub static JA: Tr = Tr {
    app: "certfleet 証明書有効期限",
    nav_overview: "概要",
    nav_expiring: "有効期限一覧",
    nav_offices: "事業所一覧",
    nav_multi: "複数事業所の端末",
    nav_stale: "未報告の端末",
    nav_alerts: "通知履歴",
    login: "ログイン",
    logout: "ログアウト",
    username: "ユーザー名",
    password: "パスワード",
    login_failed: "ユーザー名またはパスワードが正しくありません。",
    login_no_users: "ログインできるユーザーが設定されていません。",
    expired: "期限切れ",
    renew_now: "今すぐ更新",
    expiring: "期限間近",
    ok: "正常",
    stale_terminals: "未報告の端末",
    uncovered_offices: "証明書のない事業所",
    pairs_note: "件数は（端末, 事業所）の組ごとの有効な証明書です。",
    terminals_total: "端末数",
    offices_total: "事業所数",
    timeline_title: "月別の有効期限（今後36か月）",
    timeline_desc: "各月に有効期限を迎える（端末, 事業所）の組の数を状態別に積み上げた棒グラフ。",
    show_as_table: "表で表示",
    month: "月",
    office_number: "事業所番号",
    office_name: "事業所名",
    terminal: "端末",
    status: "状態",
    not_after: "有効期限",
    days_left: "残り日数",
    renew_by: "更新申請期限",
    billing_month: "請求できなくなる月",
    multi_office: "複数事業所",
    stale: "未報告",
    issuer: "発行者",
    subject: "発行先",
    serial: "シリアル番号",
    not_before: "有効開始日",
    private_key: "秘密鍵",
    yes: "あり",
    no: "なし",
    unknown: "不明",
    friendly_name: "フレンドリ名",
    locations: "保存場所",
    effective: "使用中",
    superseded: "更新済み（旧）",
    superseded_certs: "旧証明書",
    first_seen: "初回検出",
    last_seen: "最終検出",
    last_report: "最終報告",
    agent_version: "エージェントのバージョン",
    os: "OS",
    machine_id: "マシンID",
    offices_on_terminal: "この端末の事業所",
    certificates: "証明書",
    terminals_holding: "この事業所の証明書がある端末",
    site: "拠点",
    owner_email: "担当者メール",
    uncovered: "有効な証明書なし",
    apply: "表示",
    reset: "解除",
    within: "期間（日）",
    status_default: "期限切れ・期限間近",
    status_all: "すべて",
    csv: "CSVダウンロード",
    prev: "前へ",
    next: "次へ",
    no_rows: "該当するものはありません。",
    office_count: "事業所数",
    days_since: "未報告の日数",
    older_than: "基準（日）",
    never: "なし",
    decided_at: "判定日時",
    delivered_at: "送信日時",
    threshold: "しきい値",
    recipient: "宛先",
    state: "送信状態",
    attempts: "試行回数",
    last_error: "最後のエラー",
    as_of: "基準日時",
    error_unavailable: "データを取得できません。しばらくしてから再度お試しください。",
    error_internal: "内部エラーが発生しました。",
    not_found: "見つかりません。",
    soonest: "最も早い有効期限",
    uncovered_only: "証明書のない事業所のみ",
    office_terminal_placeholder: "例: 9999999999",
};

pub static EN: Tr = Tr {
    app: "certfleet certificate expiry",
    nav_overview: "Overview",
    nav_expiring: "Expiring",
    nav_offices: "Offices",
    nav_multi: "Multi-office terminals",
    nav_stale: "Stale terminals",
    nav_alerts: "Alert history",
    login: "Log in",
    logout: "Log out",
    username: "Username",
    password: "Password",
    login_failed: "Wrong username or password.",
    login_no_users: "No users are configured for login.",
    expired: "Expired",
    renew_now: "Renew now",
    expiring: "Expiring",
    ok: "OK",
    stale_terminals: "Stale terminals",
    uncovered_offices: "Uncovered offices",
    pairs_note: "Counts are (terminal, office) pairs by their effective certificate.",
    terminals_total: "Terminals",
    offices_total: "Offices",
    timeline_title: "Expiries per month (next 36 months)",
    timeline_desc: "Stacked bars: (terminal, office) pairs whose certificate expires in each month, by status.",
    show_as_table: "Show as table",
    month: "Month",
    office_number: "Office number",
    office_name: "Office name",
    terminal: "Terminal",
    status: "Status",
    not_after: "Expires",
    days_left: "Days left",
    renew_by: "Renew by",
    billing_month: "First blocked billing month",
    multi_office: "Multi-office",
    stale: "Stale",
    issuer: "Issuer",
    subject: "Subject",
    serial: "Serial number",
    not_before: "Valid from",
    private_key: "Private key",
    yes: "yes",
    no: "no",
    unknown: "unknown",
    friendly_name: "Friendly name",
    locations: "Locations",
    effective: "Effective",
    superseded: "Superseded",
    superseded_certs: "Superseded certificates",
    first_seen: "First seen",
    last_seen: "Last seen",
    last_report: "Last report",
    agent_version: "Agent version",
    os: "OS",
    machine_id: "Machine ID",
    offices_on_terminal: "Offices on this terminal",
    certificates: "Certificates",
    terminals_holding: "Terminals holding this office",
    site: "Site",
    owner_email: "Owner e-mail",
    uncovered: "Uncovered",
    apply: "Apply",
    reset: "Reset",
    within: "Window (days)",
    status_default: "Expired and expiring",
    status_all: "All",
    csv: "Download CSV",
    prev: "Previous",
    next: "Next",
    no_rows: "Nothing to show.",
    office_count: "Offices",
    days_since: "Days since report",
    older_than: "Older than (days)",
    never: "never",
    decided_at: "Decided",
    delivered_at: "Delivered",
    threshold: "Threshold",
    recipient: "Recipient",
    state: "Delivery",
    attempts: "Attempts",
    last_error: "Last error",
    as_of: "As of",
    error_unavailable: "The data is unavailable right now; please try again shortly.",
    error_internal: "An internal error occurred.",
    not_found: "Not found.",
    soonest: "Soonest expiry",
    uncovered_only: "Uncovered offices only",
    office_terminal_placeholder: "e.g. 9999999999",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_prefers_highest_quality() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(
            Lang::from_accept_language("en;q=0.5, ja;q=0.8"),
            Some(Lang::Ja)
        );
        assert_eq!(Lang::from_accept_language("fr, de;q=0.5"), None);
        assert_eq!(Lang::from_accept_language("ja-JP"), Some(Lang::Ja));
        assert_eq!(Lang::from_accept_language("en;q=0"), None);
    }
}
