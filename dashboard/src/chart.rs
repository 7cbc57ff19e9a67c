//! The overview's expiry timeline: a stacked bar chart drawn as inline SVG on the server (no
//! JavaScript, no chart library). Colours come from classes in the external stylesheet
//! because the CSP forbids inline styles; every bar carries a `<title>` for screen readers
//! and hover, and the page also offers the same numbers as a table.

use std::fmt::Write as _;

use certfleet_model::TimelineBucket;

use crate::escape::E;
use crate::i18n::Tr;

const LEFT: u32 = 44;
const TOP: u32 = 12;
const STEP: u32 = 20;
const BAR: u32 = 14;
const PLOT_H: u32 = 180;
const BOTTOM: u32 = 28;

/// 1, 2, 5 × 10^k at or above `n` (at least 1), so the axis has round ticks.
fn nice_max(n: u32) -> u32 {
    let mut scale = 1u32;
    loop {
        for m in [1u32, 2, 5] {
            let v = m.saturating_mul(scale);
            if v >= n.max(1) {
                return v;
            }
        }
        scale = scale.saturating_mul(10);
    }
}

fn month_label(m: &str) -> String {
    m.replacen('-', "/", 1)
}

/// Appends the chart's `<svg>` element to `out`.
pub fn timeline_svg(out: &mut String, buckets: &[TimelineBucket], tr: &Tr) {
    let n = buckets.len().max(1) as u32;
    let width = LEFT + n * STEP + 8;
    let height = TOP + PLOT_H + BOTTOM;
    let max = nice_max(
        buckets
            .iter()
            .map(|b| b.expired.saturating_add(b.expiring).saturating_add(b.ok))
            .max()
            .unwrap_or(0),
    );
    let base = TOP + PLOT_H;
    let _ = write!(
        out,
        r#"<svg class="timeline" data-testid="timeline-chart" role="img" aria-labelledby="tl-title tl-desc" viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title id="tl-title">{}</title><desc id="tl-desc">{}</desc>"#,
        E(tr.timeline_title),
        E(tr.timeline_desc)
    );
    // Grid lines and y-axis labels at 0, ½ and the maximum.
    for (value, y) in [(0, base), (max / 2, base - PLOT_H / 2), (max, TOP)] {
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" y1="{y}" x2="{}" y2="{y}"/><text class="axis" x="{}" y="{}" text-anchor="end">{value}</text>"#,
            width - 4,
            LEFT - 6,
            y + 4
        );
    }
    let january_soon = buckets
        .iter()
        .take(4)
        .skip(1)
        .any(|b| b.month.ends_with("-01"));
    let scale = |v: u32| -> u32 { ((u64::from(v) * u64::from(PLOT_H)) / u64::from(max)) as u32 };
    for (i, b) in buckets.iter().enumerate() {
        let x = LEFT + i as u32 * STEP + (STEP - BAR) / 2;
        let _ = write!(
            out,
            r#"<g class="bar"><title>{}: {} {}, {} {}, {} {}</title>"#,
            E(&month_label(&b.month)),
            E(tr.expired),
            b.expired,
            E(tr.expiring),
            b.expiring,
            E(tr.ok),
            b.ok
        );
        let mut top = base;
        for (class, v) in [
            ("seg-expired", b.expired),
            ("seg-expiring", b.expiring),
            ("seg-ok", b.ok),
        ] {
            let h = scale(v);
            if v > 0 {
                // A non-zero count stays visible as at least one pixel.
                let h = h.max(1);
                top = top.saturating_sub(h);
                let _ = write!(
                    out,
                    r#"<rect class="{class}" x="{x}" y="{top}" width="{BAR}" height="{h}"/>"#
                );
            }
        }
        out.push_str("</g>");
        // Label each January, and the first month unless a January follows too closely.
        if (i == 0 && !january_soon) || b.month.ends_with("-01") {
            let _ = write!(
                out,
                r#"<text class="axis" x="{}" y="{}" text-anchor="start">{}</text>"#,
                x,
                base + 16,
                E(&month_label(&b.month))
            );
        }
    }
    let _ = write!(
        out,
        r#"<line class="axis-line" x1="{LEFT}" y1="{base}" x2="{}" y2="{base}"/></svg>"#,
        width - 4
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::JA;

    #[test]
    fn nice_max_rounds_up() {
        assert_eq!(
            [0, 1, 3, 7, 10, 11, 120, 5000].map(nice_max),
            [1, 1, 5, 10, 10, 20, 200, 5000]
        );
    }

    #[test]
    fn bars_are_stacked_and_labelled() {
        let buckets = vec![
            TimelineBucket {
                month: "2026-12".into(),
                expired: 2,
                expiring: 3,
                ok: 0,
            },
            TimelineBucket {
                month: "2027-01".into(),
                expired: 0,
                expiring: 0,
                ok: 5,
            },
        ];
        let mut s = String::new();
        timeline_svg(&mut s, &buckets, &JA);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert_eq!(s.matches("<rect").count(), 3);
        assert!(s.contains("<title>2026/12: 期限切れ 2, 期限間近 3, 正常 0</title>"));
        assert!(s.contains(">2027/01</text>"));
        assert!(!s.contains("style="), "no inline styles under the CSP");
    }
}
