//! What a token's name may be. Admins pick tokens by name (`revoke 'Mailchimp sync'`) and
//! read names in tables, so two names that look the same are as bad as two that are the
//! same: a name is refused when it holds characters nobody sees (zero-width, bidirectional
//! controls, unusual spaces), mixes scripts the way spoofed names do (a Cyrillic `а` among
//! Latin letters), or looks like another token's name (see [`confusable_with`]).
//!
//! Names are stored in Unicode normal form C, so that `é` typed as one character or as
//! `e` and a combining accent is the same name.

use unicode_normalization::UnicodeNormalization;
use unicode_script::Script;
use unicode_security::mixed_script::AugmentedScriptSet;
use unicode_security::skeleton;

use crate::text::{escape, is_invisible, is_unusual_space};

/// Longest token name, in characters.
pub const MAX_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty; give --name a few words saying what the token is for")]
    Empty,
    #[error("the name '{}…' is longer than {MAX_CHARS} characters", escape(.0))]
    TooLong(String),
    #[error("the name '{}' contains control characters", escape(.0))]
    Control(String),
    #[error(
        "the name '{}' contains the invisible character U+{:04X}, which would make it look like another name; type it again without it",
        escape(.0), u32::from(*.1)
    )]
    Invisible(String, char),
    #[error(
        "the name '{}' contains U+{:04X}, a space that looks like a plain one; use plain spaces",
        escape(.0), u32::from(*.1)
    )]
    UnusualSpace(String, char),
    #[error("the name '{}' has several spaces in a row; use single spaces between words", escape(.0))]
    Spaces(String),
    #[error(
        "the name '{}' mixes letters of different scripts (such as a Cyrillic 'а' among Latin letters), which makes it look like another name; write it in one script",
        escape(.0)
    )]
    MixedScripts(String),
}

/// The name as it will be stored: trimmed and in normal form C, checked.
pub fn check(name: &str) -> Result<String, NameError> {
    let name: String = name.trim().nfc().collect();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_CHARS {
        return Err(NameError::TooLong(name.chars().take(20).collect()));
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control(name));
    }
    if let Some(c) = name.chars().find(|&c| is_invisible(c)) {
        return Err(NameError::Invisible(name, c));
    }
    if let Some(c) = name.chars().find(|&c| is_unusual_space(c)) {
        return Err(NameError::UnusualSpace(name, c));
    }
    if name.contains("  ") {
        return Err(NameError::Spaces(name));
    }
    if !single_script_family(&name) {
        return Err(NameError::MixedScripts(name));
    }
    Ok(name)
}

/// Unicode's "moderately restrictive" level (UTS #39, §5.2), applied to the letters of a
/// name (spaces, digits and punctuation belong to every script): one script; or Latin
/// with Han and the Japanese or Korean scripts; or Latin with one other recommended script
/// except Cyrillic and Greek, whose letters imitate Latin ones.
fn single_script_family(name: &str) -> bool {
    let mut all = AugmentedScriptSet::default();
    let mut except_latin = AugmentedScriptSet::default();
    for c in name.chars() {
        let set = AugmentedScriptSet::for_char(c);
        all.intersect_with(set);
        if !set.base.contains_script(Script::Latin) {
            except_latin.intersect_with(set);
        }
    }
    if !all.is_empty() {
        return true;
    }
    if except_latin.hanb || except_latin.jpan || except_latin.kore {
        return true;
    }
    let mut others = except_latin.base.iter();
    match (others.next(), others.next()) {
        (Some(script), None) => {
            script.is_recommended() && script != Script::Cyrillic && script != Script::Greek
        }
        _ => false,
    }
}

/// The first of `others` that `name` could be mistaken for without being it (`rn` for
/// `m`, `0` for `O`, `l` for `I`): the same confusable skeleton (UTS #39, §4).
pub fn confusable_with<'a>(
    name: &str,
    others: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mine: String = skeleton(name).collect();
    others
        .into_iter()
        .find(|other| *other != name && skeleton(other).eq(mine.chars()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass_trimmed_and_composed() {
        for ok in [
            "Mailchimp sync",
            "importer (nightly, v2)",
            "Zoë's app",
            "Ελληνικά",
            "Импорт",
            "東京 sync",
            "CI job #4711",
        ] {
            assert_eq!(check(ok).as_deref(), Ok(ok), "{ok}");
        }
        assert_eq!(check("  padded ").as_deref(), Ok("padded"));
        assert_eq!(check("Zoe\u{308}").as_deref(), Ok("Zo\u{eb}"));
    }

    #[test]
    fn names_that_hide_or_imitate_are_refused() {
        let refused = |s: &str| check(s).unwrap_err();
        assert_eq!(refused(""), NameError::Empty);
        assert_eq!(refused("   "), NameError::Empty);
        assert!(matches!(refused(&"x".repeat(101)), NameError::TooLong(_)));
        assert!(matches!(refused("a\tb"), NameError::Control(_)));
        assert!(matches!(
            refused("Mail\u{200b}chimp"),
            NameError::Invisible(_, '\u{200b}')
        ));
        assert!(matches!(
            refused("evil\u{202e}txt"),
            NameError::Invisible(..)
        ));
        assert!(matches!(refused("a\u{a0}b"), NameError::UnusualSpace(..)));
        assert!(matches!(refused("a  b"), NameError::Spaces(_)));
        // A Cyrillic а (U+0430) among Latin letters.
        assert!(matches!(
            refused("M\u{430}ilchimp"),
            NameError::MixedScripts(_)
        ));
        let message = refused("Mail\u{200b}chimp").to_string();
        assert!(message.contains("U+200B"), "{message}");
        assert!(!message.contains('\u{200b}'), "{message}");
    }

    #[test]
    fn confusable_names() {
        let existing = ["Mailchimp sync", "importer"];
        assert_eq!(
            confusable_with("Mai1chimp sync", existing),
            Some("Mailchimp sync")
        );
        assert_eq!(confusable_with("irnporter", existing), Some("importer"));
        assert_eq!(confusable_with("importer", existing), None);
        assert_eq!(confusable_with("exporter", existing), None);
    }
}
