//! Length limits that the agent and the collector must agree on, in one place.
//!
//! The agent cuts what it sends to these limits and the collector cuts what it stores to the
//! same ones, so a long value never makes the collector refuse a certificate the agent found:
//! it arrives shortened, with a visible marker, and the certificate is kept.

use std::borrow::Cow;

/// Longest friendly name kept, in bytes of UTF-8. Windows lets a user type a name of any
/// length; 510 bytes hold 170 Japanese or 510 ASCII characters, far more than any real one.
pub const MAX_FRIENDLY_NAME_BYTES: usize = 510;

/// Longest user label of a certificate location (`DOMAIN\name (SID)`), in bytes of UTF-8.
pub const MAX_LOCATION_USER_BYTES: usize = 255;

/// Ends a value that was cut to its limit.
pub const TRUNCATION_MARKER: &str = "…";

/// `value` cut to at most `max_bytes` bytes at a character boundary, ending with
/// [`TRUNCATION_MARKER`] when anything was cut. Borrowed when nothing was cut.
pub fn truncate_with_marker(value: &str, max_bytes: usize) -> Cow<'_, str> {
    if value.len() <= max_bytes {
        return Cow::Borrowed(value);
    }
    let mut end = max_bytes.saturating_sub(TRUNCATION_MARKER.len());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{TRUNCATION_MARKER}", &value[..end]))
}

/// A friendly name within [`MAX_FRIENDLY_NAME_BYTES`].
pub fn truncate_friendly_name(name: &str) -> Cow<'_, str> {
    truncate_with_marker(name, MAX_FRIENDLY_NAME_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_untouched() {
        assert!(matches!(
            truncate_friendly_name("国保連"),
            Cow::Borrowed("国保連")
        ));
        let exact = "a".repeat(MAX_FRIENDLY_NAME_BYTES);
        assert_eq!(truncate_friendly_name(&exact), exact);
    }

    #[test]
    fn long_values_are_cut_at_a_character_boundary_with_the_marker() {
        // 3-byte characters: the cut must not split one.
        let long = "証".repeat(400);
        let cut = truncate_friendly_name(&long);
        assert!(cut.len() <= MAX_FRIENDLY_NAME_BYTES, "{}", cut.len());
        assert!(cut.ends_with(TRUNCATION_MARKER));
        assert!(long.starts_with(cut.trim_end_matches(TRUNCATION_MARKER)));
        assert_eq!(cut.chars().count(), 169 + 1);
        let ascii = "x".repeat(1000);
        let cut = truncate_with_marker(&ascii, 10);
        assert_eq!(cut, "xxxxxxx…");
        assert_eq!(cut.len(), 10);
    }
}
