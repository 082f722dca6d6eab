//! Text-level helpers that every layer needs: making user-supplied text safe to show on a
//! terminal, and telling which characters a reader cannot see.
//!
//! A leaf module: it imports nothing of tokenctl's, so that parsers, the store and the
//! renderer can all use it without reaching into one another.

use std::borrow::Cow;

/// Whether `c` leaves no visible mark of its own: a Default_Ignorable_Code_Point of
/// Unicode (zero-width spaces and joiners, bidirectional marks and overrides, variation
/// selectors, the byte-order mark, tag characters, Hangul fillers, ...). Two names that
/// differ only in such characters look the same to the admin reading them.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{034f}'
            | '\u{061c}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fff8}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
    )
}

/// Whether `c` is white space that a reader cannot tell from a plain space (a no-break
/// space, an em space, an ideographic space, a line separator, ...).
pub fn is_unusual_space(c: char) -> bool {
    c.is_whitespace() && c != ' ' && !c.is_control()
}

/// Text a user supplied (names, descriptions, reasons), safe for a terminal: control
/// characters, bidirectional overrides, invisible characters and spaces other than the
/// plain one are written as escapes (`\u{200b}`), so a name can neither move the cursor,
/// clear the screen or reorder what the admin reads, nor pass for another name.
pub fn escape(s: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control() || is_invisible(c) || is_unusual_space(c)
    }
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_act_on_or_hide() {
        assert_eq!(escape("Mailchimp sync"), "Mailchimp sync");
        assert_eq!(escape("naïve – ok"), "naïve – ok");
        assert_eq!(escape("a\x1b[2Jb\nc"), "a\\u{1b}[2Jb\\nc");
        assert_eq!(escape("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(escape("\u{7f}\u{85}"), "\\u{7f}\\u{85}");
        assert_eq!(escape("zero\u{200b}width"), "zero\\u{200b}width");
        assert_eq!(escape("no\u{a0}break"), "no\\u{a0}break");
        assert_eq!(escape("tag\u{e0041}"), "tag\\u{e0041}");
    }

    #[test]
    fn invisible_characters() {
        for c in [
            '\u{200b}', '\u{200d}', '\u{2066}', '\u{feff}', '\u{fe0f}', '\u{ad}',
        ] {
            assert!(is_invisible(c), "{:?}", c);
        }
        for c in ['a', ' ', 'é', '–', '東'] {
            assert!(!is_invisible(c), "{c}");
        }
        assert!(is_unusual_space('\u{3000}'));
        assert!(!is_unusual_space(' '));
        assert!(!is_unusual_space('\n'));
    }
}
