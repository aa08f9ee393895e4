//! The one rule for user-chosen text that others are shown (display names, group names,
//! reactions): it must show something, and it must not reorder what is around it.
//!
//! Text made only of characters that draw nothing (zero-width spaces, byte-order marks, tag
//! characters, variation selectors, fillers) reads as an empty name; bidirectional override and
//! isolate controls make `"\u{202e}nimda"` display as "admin" and spill over the text that follows
//! it on the reader's screen. Joiners (U+200D) inside emoji sequences are fine: they only join
//! visible characters.

/// Bidirectional embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` draws nothing by itself: whitespace, control and format characters (Unicode's
/// `Cc` and `Cf`, among them U+200B–U+200F, U+2060–U+206F, U+FEFF and the tag characters
/// U+E0000–U+E007F), variation selectors, and characters that render as blanks.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E007F}'
                | '\u{E0100}'..='\u{E01EF}'
        )
}

/// Checks the rule; the error text follows the field's name ("display_name must …").
pub fn check_visible(text: &str) -> Result<(), String> {
    if text.chars().any(is_bidi_control) {
        return Err(
            "must not contain bidirectional override or isolate characters \
             (U+202A–U+202E, U+2066–U+2069)"
                .into(),
        );
    }
    if text.chars().all(is_invisible) {
        return Err("must contain at least one visible character".into());
    }
    Ok(())
}

/// Regex classes (ECMA 262 and Python alike) for OpenAPI schemas stating the rule: a character
/// that is not a bidi control, and one that is visible. Astral invisible characters (tags,
/// supplementary variation selectors) cannot be written in a class both engines read the same
/// way, so the schema lets them through and the server alone refuses text made only of them.
pub const NOT_BIDI: &str = r"[^\u202a-\u202e\u2066-\u2069]";
/// See [`NOT_BIDI`]: whitespace, controls and the BMP invisible characters excluded.
pub const VISIBLE: &str = r"[^\u0000-\u0020\u007f-\u00a0\u00ad\u034f\u061c\u115f\u1160\u1680\u17b4\u17b5\u180b-\u180f\u2000-\u200f\u2028-\u202f\u205f-\u206f\u2800\u3000\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_shows_something_passes() {
        for text in [
            "Al",
            "👍",
            "👩\u{200D}💻",
            "❤\u{FE0F}",
            "a\u{200B}b",
            "שלום",
            "🏴\u{E0067}\u{E0062}\u{E007F}",
        ] {
            assert_eq!(check_visible(text), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn invisible_only_and_bidi_controls_are_refused() {
        for text in [
            "\u{200B}",
            "\u{FEFF}\u{200B}",
            "\u{E0041}",
            "\u{200D}",
            "\u{2800}",
            "\u{202E}admin\u{202C}",
            "a\u{2066}b",
            "\u{202E}",
        ] {
            assert!(check_visible(text).is_err(), "{text:?}");
        }
    }
}
