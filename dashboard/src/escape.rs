//! The one HTML escaping function. Every string that reaches a page (and the SVG chart) goes
//! through it: subjects, hostnames and paths come from agents and are attacker-controlled.

use std::borrow::Cow;
use std::fmt;

/// Escapes `&`, `<`, `>`, `"` and `'`, so the result is safe both as element text and inside
/// a double- or single-quoted attribute value.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    // Writing into a String cannot fail.
    let _ = escape_to(&mut out, s);
    Cow::Owned(out)
}

fn needs_escape(b: u8) -> bool {
    matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'')
}

/// Streams `s` escaped into `out` (what [`escape`] and [`E`] use).
fn escape_to<W: fmt::Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.write_str(&s[last..i])?;
        out.write_str(rep)?;
        last = i + 1;
    }
    out.write_str(&s[last..])
}

/// `write!(out, "{}", E(s))` writes `s` escaped, without an intermediate String.
#[derive(Debug, Clone, Copy)]
pub struct E<'a>(pub &'a str);

impl fmt::Display for E<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape_to(f, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(
            E("a<b>&c").to_string(),
            escape("a<b>&c"),
            "the Display wrapper is the same function"
        );
    }

    #[test]
    fn leaves_plain_and_multibyte_text_alone() {
        assert!(matches!(escape("事業所 9999999999"), Cow::Borrowed(_)));
        assert_eq!(escape("端末<1>"), "端末&lt;1&gt;");
        assert_eq!(escape(""), "");
    }
}
