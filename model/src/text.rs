//! Agent-supplied text on its way to people: which characters an agent may never send, and
//! [`printable`], the one way every text front end (CLI tables and lists, alert messages)
//! neutralises them in what is already stored.
//!
//! The forbidden characters are the C0 and C1 controls (NUL, newline, escape …, which move a
//! terminal's cursor, end a line in an alert or are refused by PostgreSQL), the bidirectional
//! formatting characters (they reorder how the text around them is displayed, so `exe.txt` can
//! show as `txt.exe`), and the Unicode line and paragraph separators (a newline to many
//! renderers). The collector refuses them at ingest; `printable` is the second line of defence
//! for rows stored before that rule, and for operator data such as registry names.

use std::borrow::Cow;

/// The Unicode bidirectional formatting characters: ALM, LRM, RLM, the embeddings and
/// overrides (U+202A–U+202E) and the isolates (U+2066–U+2069).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Whether `c` may not appear in any string an agent sends (see the module documentation).
pub fn is_forbidden(c: char) -> bool {
    c.is_control() || is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// The first forbidden character of `s`, for an error message that names it.
pub fn first_forbidden(s: &str) -> Option<char> {
    s.chars().find(|c| is_forbidden(*c))
}

/// What a forbidden character is, in words, for error messages: `U+0000 (a control
/// character)`.
pub fn describe_forbidden(c: char) -> String {
    let kind = if c.is_control() {
        "a control character"
    } else if is_bidi_control(c) {
        "a bidirectional formatting character"
    } else {
        "a line or paragraph separator"
    };
    format!("U+{:04X} ({kind})", u32::from(c))
}

/// `s` with every forbidden character replaced by `?`: safe to print on an operator's terminal
/// or to put on one line of a message. Borrowed when there is nothing to replace.
pub fn printable(s: &str) -> Cow<'_, str> {
    if first_forbidden(s).is_none() {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if is_forbidden(c) { '?' } else { c })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_bidi_and_separators_are_forbidden_and_replaced() {
        for c in [
            '\0', '\n', '\r', '\t', '\u{1b}', '\u{7f}', '\u{85}', '\u{202e}', '\u{2066}',
            '\u{200f}', '\u{061c}', '\u{2028}', '\u{2029}',
        ] {
            assert!(is_forbidden(c), "U+{:04X}", u32::from(c));
            let s = format!("pc{c}01");
            assert_eq!(printable(&s), "pc?01");
            assert_eq!(first_forbidden(&s), Some(c));
        }
        assert!(describe_forbidden('\0').contains("U+0000 (a control character)"));
        assert!(describe_forbidden('\u{202e}').contains("U+202E (a bidirectional"));
        assert!(describe_forbidden('\u{2028}').contains("line or paragraph"));
    }

    #[test]
    fn ordinary_text_is_untouched_and_borrowed() {
        for s in [
            "honbu-pc01",
            "事務所ＰＣ",
            "C:\\Users\\佐藤\\cert.cer",
            "a b.c_d",
        ] {
            assert!(matches!(printable(s), Cow::Borrowed(_)), "{s}");
            assert_eq!(first_forbidden(s), None);
        }
    }
}
