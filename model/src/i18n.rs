//! The display languages (Japanese by default, English) and the one way texts are translated:
//! a [`Catalog`] is a struct with one field per text and one static instance per language, so
//! a missing translation is a compile error. The dashboard's labels and the alert digests are
//! both catalogs; configuration (`alerts.language`) and requests (`?lang=`, cookies,
//! `Accept-Language`) name a [`Lang`].

/// A display language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// Japanese: the terms of the federation's renewal manual.
    #[default]
    Ja,
    En,
}

/// Texts in every [`Lang`]: one static instance per language.
pub trait Catalog: Sync + 'static {
    /// The instance for `lang`.
    fn get(lang: Lang) -> &'static Self;
}

impl Lang {
    /// Every language, the default first.
    pub const ALL: [Lang; 2] = [Lang::Ja, Lang::En];

    /// The ISO 639-1 code (`ja`, `en`), as configuration and URLs write it.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// The language named by a code, ignoring case and surrounding space.
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

    /// The catalog `C` in this language.
    pub fn tr<C: Catalog>(self) -> &'static C {
        C::get(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_accept_language_picks_by_quality() {
        for lang in Lang::ALL {
            assert_eq!(Lang::parse(lang.code()), Some(lang));
        }
        assert_eq!(Lang::parse(" EN "), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(
            Lang::from_accept_language("fr, en-US;q=0.8, ja;q=0.9"),
            Some(Lang::Ja)
        );
        assert_eq!(Lang::from_accept_language("en-GB, ja"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("ja;q=0, de"), None);
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(
            Lang::from_accept_language("en;q=0.5, ja;q=0.8"),
            Some(Lang::Ja)
        );
        assert_eq!(Lang::from_accept_language("fr, de;q=0.5"), None);
        assert_eq!(Lang::from_accept_language("ja-JP"), Some(Lang::Ja));
        assert_eq!(Lang::from_accept_language("en;q=0"), None);
    }

    struct Greeting {
        hello: &'static str,
    }
    static JA: Greeting = Greeting {
        hello: "こんにちは",
    };
    static EN: Greeting = Greeting { hello: "hello" };
    impl Catalog for Greeting {
        fn get(lang: Lang) -> &'static Self {
            match lang {
                Lang::Ja => &JA,
                Lang::En => &EN,
            }
        }
    }

    #[test]
    fn catalogs_are_picked_by_language() {
        assert_eq!(Lang::En.tr::<Greeting>().hello, "hello");
        assert_eq!(Lang::default().tr::<Greeting>().hello, "こんにちは");
    }
}
