//! The overview's expiry timeline: a stacked bar chart drawn as inline SVG on the server (no
//! JavaScript, no chart library). Colours come from classes in the external stylesheet
//! because the CSP forbids inline styles; every bar carries a `<title>` for screen readers
//! and hover, and the page also offers the same numbers as a table.

use certfleet_model::TimelineBucket;
use maud::{Markup, html};

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

/// One bar: its `x`, and its stacked segments as `(class, top y, height)` from the bottom up.
/// A non-zero count stays visible as at least one pixel.
fn segments(b: &TimelineBucket, scale: impl Fn(u32) -> u32) -> Vec<(&'static str, u32, u32)> {
    let mut top = TOP + PLOT_H;
    let mut out = Vec::with_capacity(3);
    for (class, v) in [
        ("seg-expired", b.expired),
        ("seg-expiring", b.expiring),
        ("seg-ok", b.ok),
    ] {
        if v > 0 {
            let h = scale(v).max(1);
            top = top.saturating_sub(h);
            out.push((class, top, h));
        }
    }
    out
}

/// The chart's `<svg>` element. SVG elements are written with explicit end tags (`<rect
/// …></rect>`): inside HTML, the parser treats them like the self-closing form.
pub fn timeline_svg(buckets: &[TimelineBucket], tr: &Tr) -> Markup {
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
    let scale = |v: u32| -> u32 { ((u64::from(v) * u64::from(PLOT_H)) / u64::from(max)) as u32 };
    // Label each January, and the first month unless a January follows too closely.
    let january_soon = buckets
        .iter()
        .take(4)
        .skip(1)
        .any(|b| b.month.ends_with("-01"));
    let labelled =
        |i: usize, b: &TimelineBucket| (i == 0 && !january_soon) || b.month.ends_with("-01");
    html! {
        svg class="timeline" data-testid="timeline-chart" role="img"
            aria-labelledby="tl-title tl-desc" viewBox={ "0 0 " (width) " " (height) }
            width=(width) height=(height) xmlns="http://www.w3.org/2000/svg"
        {
            title id="tl-title" { (tr.timeline_title) }
            desc id="tl-desc" { (tr.timeline_desc) }
            // Grid lines and y-axis labels at 0, ½ and the maximum.
            @for (value, y) in [(0, base), (max / 2, base - PLOT_H / 2), (max, TOP)] {
                line class="grid" x1=(LEFT) y1=(y) x2=(width - 4) y2=(y) {}
                text class="axis" x=(LEFT - 6) y=(y + 4) text-anchor="end" { (value) }
            }
            @for (i, b) in buckets.iter().enumerate() {
                @let x = LEFT + i as u32 * STEP + (STEP - BAR) / 2;
                g class="bar" {
                    title {
                        (month_label(&b.month)) ": "
                        (tr.expired) " " (b.expired) ", "
                        (tr.expiring) " " (b.expiring) ", "
                        (tr.ok) " " (b.ok)
                    }
                    @for (class, top, h) in segments(b, scale) {
                        rect class=(class) x=(x) y=(top) width=(BAR) height=(h) {}
                    }
                }
                @if labelled(i, b) {
                    text class="axis" x=(x) y=(base + 16) text-anchor="start" { (month_label(&b.month)) }
                }
            }
            line class="axis-line" x1=(LEFT) y1=(base) x2=(width - 4) y2=(base) {}
        }
    }
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
        let s = timeline_svg(&buckets, &JA).into_string();
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert_eq!(s.matches("<rect").count(), 3);
        assert!(s.contains("<title>2026/12: 期限切れ 2, 期限間近 3, 正常 0</title>"));
        assert!(s.contains(">2027/01</text>"));
        assert!(!s.contains("style="), "no inline styles under the CSP");
        assert!(
            s.contains(
                r#"<rect class="seg-expired" x="47" y="120" width="14" height="72"></rect>"#
            ),
            "2 of a 5 maximum is 72 of 180 pixels, at the bottom: {s}"
        );
    }
}
