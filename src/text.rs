//! Text-level helpers that every layer needs: making user-supplied text safe to show on a
//! terminal, telling which characters a reader cannot see, writing times as RFC 3339, and
//! making words agree with numbers.
//!
//! A leaf module: it imports nothing of tokenctl's, so that parsers, the store and the
//! renderer can all use it without reaching into one another.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};

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

/// RFC 3339 UTC with a `Z`, to the second, as every JSON time is written.
pub fn rfc3339_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// [`rfc3339_text`] written into `out` without allocating, for the years 0 to 9999 (any
/// time tokenctl records); `None` for the others (and a leap second), which chrono
/// writes. JSON writes several times per token, thousands of tokens at once.
fn rfc3339_fixed(t: DateTime<Utc>, out: &mut [u8; 20]) -> Option<&str> {
    use chrono::{Datelike, Timelike};
    // The naive time once: each accessor of a `DateTime` would add the offset again.
    let n = t.naive_utc();
    let year = u32::try_from(n.year()).ok().filter(|y| *y <= 9999)?;
    if n.nanosecond() >= 1_000_000_000 {
        return None;
    }
    let fields = [
        (0, 4, year),
        (5, 2, n.month()),
        (8, 2, n.day()),
        (11, 2, n.hour()),
        (14, 2, n.minute()),
        (17, 2, n.second()),
    ];
    *out = *b"0000-00-00T00:00:00Z";
    for (at, width, mut value) in fields {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    std::str::from_utf8(out).ok()
}

fn serialize_time<S: serde::Serializer>(t: DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut text = [0u8; 20];
    match rfc3339_fixed(t, &mut text) {
        Some(text) => s.serialize_str(text),
        None => s.serialize_str(&rfc3339_text(t)),
    }
}

/// `#[serde(with = "crate::text::rfc3339")]` for `DateTime<Utc>`.
pub mod rfc3339 {
    use chrono::{DateTime, Utc};
    pub fn serialize<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        super::serialize_time(*t, s)
    }
}

/// `#[serde(with = "crate::text::rfc3339_opt")]` for `Option<DateTime<Utc>>`.
pub mod rfc3339_opt {
    use chrono::{DateTime, Utc};
    pub fn serialize<S: serde::Serializer>(
        t: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize_time(*t, s),
            None => s.serialize_none(),
        }
    }
}

/// A count and its noun, agreeing: "1 file", "3 files" (`plural` is the plural form).
pub fn count(n: u64, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
    }
}

/// How often, in words: "once", "twice", "3 times".
pub fn times(n: u64) -> String {
    match n {
        1 => "once".into(),
        2 => "twice".into(),
        n => format!("{n} times"),
    }
}

/// Quoted for a POSIX shell when needed, so that a printed command can be pasted.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.,:/@%+=".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed writer gives chrono's text to the byte, and leaves other years to it.
    #[test]
    fn rfc3339_without_chrono_is_chrono() {
        let mut text = [0u8; 20];
        let mut seconds: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
        let last = 253_402_300_799; // 9999-12-31T23:59:59Z
        while seconds <= last {
            for nanos in [0, 999_999_999] {
                let t = DateTime::from_timestamp(seconds, nanos).unwrap();
                assert_eq!(
                    rfc3339_fixed(t, &mut text),
                    Some(&*rfc3339_text(t)),
                    "{seconds}"
                );
            }
            seconds += 86_399 * 97 + 3_601;
        }
        for outside in [-62_167_219_201, last + 1] {
            let t = DateTime::from_timestamp(outside, 0).unwrap();
            assert_eq!(rfc3339_fixed(t, &mut text), None);
        }
        #[derive(serde::Serialize)]
        struct At(#[serde(with = "rfc3339")] DateTime<Utc>);
        for seconds in [0, last + 1] {
            let t = DateTime::from_timestamp(seconds, 0).unwrap();
            let json = serde_json::to_string(&At(t)).unwrap();
            assert_eq!(json, format!("\"{}\"", rfc3339_text(t)));
        }
    }

    #[test]
    fn words_agree_with_numbers() {
        assert_eq!(count(1, "source IP", "source IPs"), "1 source IP");
        assert_eq!(count(0, "source IP", "source IPs"), "0 source IPs");
        assert_eq!(times(1), "once");
        assert_eq!(times(2), "twice");
        assert_eq!(times(7), "7 times");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("contacts:write"), "contacts:write");
        assert_eq!(shell_quote("*:read"), "'*:read'");
        assert_eq!(shell_quote("Mailchimp sync"), "'Mailchimp sync'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

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
