//! What a token's name may be. Admins pick tokens by name (`revoke 'Mailchimp sync'`) and
//! read names in tables, so two names that look the same are as bad as two that are the
//! same: a name is refused when it holds characters nobody sees (zero-width, bidirectional
//! controls, unusual spaces), mixes scripts the way spoofed names do (a Cyrillic `а` among
//! Latin letters), or looks like another token's name (see [`confusable_with`]).
//!
//! Names are stored in Unicode normal form C, so that `é` typed as one character or as
//! `e` and a combining accent is the same name.

use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{UnicodeNormalization, is_nfd};
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
/// `m`, `0` for `O`, `l` for `I`): see [`LookAlike`].
pub fn confusable_with<'a>(
    name: &str,
    others: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let look_alike = LookAlike::new(name);
    others.into_iter().find(|other| look_alike.of(other))
}

/// A name and its confusable skeleton (UTS #39, §4): two names with the same skeleton
/// can be mistaken for each other.
pub struct LookAlike {
    name: String,
    skeleton: String,
}

impl LookAlike {
    pub fn new(name: &str) -> LookAlike {
        LookAlike {
            name: name.to_string(),
            skeleton: skeleton(name).collect(),
        }
    }

    /// The ASCII characters a name that could be mistaken for this one may begin with
    /// (`r` and `m` for `rn`): the rest cannot. Names that begin with any other character
    /// may, and are always to be asked about.
    pub fn ascii_starts(&self) -> Vec<u8> {
        let first = self.skeleton.chars().next();
        (0..128u8)
            .filter(|&b| match ascii_prototypes() {
                // An empty skeleton would let the next character decide: ask then too.
                Some(table) => {
                    let prototype = &table[usize::from(b)];
                    prototype.is_empty() || prototype.chars().next() == first
                }
                None => true,
            })
            .collect()
    }

    /// Whether `other` is another name that could be mistaken for this one. `create`
    /// asks this of every name in use, so an ASCII name (most are) is compared through a
    /// table, without the normalisation and allocations of a full skeleton.
    pub fn of(&self, other: &str) -> bool {
        if other == self.name {
            return false;
        }
        match ascii_prototypes() {
            Some(table) if other.is_ascii() => {
                let mut rest = self.skeleton.as_bytes();
                for b in other.bytes() {
                    match rest.strip_prefix(table[usize::from(b)].as_bytes()) {
                        Some(after) => rest = after,
                        None => return false,
                    }
                }
                rest.is_empty()
            }
            _ => skeleton(other).eq(self.skeleton.chars()),
        }
    }
}

/// The skeleton of each ASCII character. The skeleton of an ASCII string is then theirs
/// put together: normalisation leaves ASCII as it is, and leaves their concatenation as it
/// is while each is in normal form D without combining marks (`%` becomes `°/₀`, which
/// is). The table is not used (`None`) if the data ever says otherwise.
fn ascii_prototypes() -> Option<&'static [String; 128]> {
    static TABLE: std::sync::OnceLock<Option<[String; 128]>> = std::sync::OnceLock::new();
    TABLE
        .get_or_init(|| {
            let table: [String; 128] = std::array::from_fn(|b| {
                let c = char::from(u8::try_from(b).expect("below 128"));
                skeleton(c.encode_utf8(&mut [0; 4])).collect()
            });
            let stable =
                |p: &String| is_nfd(p) && p.chars().all(|c| canonical_combining_class(c) == 0);
            table.iter().all(stable).then_some(table)
        })
        .as_ref()
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

    #[test]
    fn the_ascii_table_is_used() {
        // Otherwise the table would be unused, and `create` slower, without any test failing.
        assert!(ascii_prototypes().is_some());
        let table = ascii_prototypes().unwrap();
        assert_eq!(table[usize::from(b'm')], "rn");
        assert_eq!(table[usize::from(b'%')], "°/₀");
    }

    /// Names from a few characters that look alike, so that pairs often share a skeleton;
    /// ASCII (through the table) and not (`а`, `ο`, `І`, `°`, `₀`: the full skeleton).
    const LOOK_ALIKE_NAMES: &str = "[rnmlI1|O0o% ]{1,6}|[a-zA-Z0-9 !()._-]{1,8}|[rnmlIo\\u{430}\\u{3bf}\\u{406}\\u{b0}\\u{2080}/]{1,4}";

    proptest::proptest! {
        /// The table gives the skeletons' answer.
        #[test]
        fn look_alikes_as_the_skeletons_say(
            name in LOOK_ALIKE_NAMES,
            other in LOOK_ALIKE_NAMES,
        ) {
            let expected = other != name && skeleton(&other).eq(skeleton(&name));
            proptest::prop_assert_eq!(LookAlike::new(&name).of(&other), expected);
        }
    }

    proptest::proptest! {
        /// A look-alike begins with one of `ascii_starts` or with a character that is not
        /// ASCII, so `create` need not ask about the others.
        #[test]
        fn look_alikes_begin_as_ascii_starts_says(
            name in LOOK_ALIKE_NAMES,
            other in LOOK_ALIKE_NAMES,
        ) {
            let look_alike = LookAlike::new(&name);
            let first = other.as_bytes()[0];
            if look_alike.of(&other) {
                proptest::prop_assert!(!first.is_ascii() || look_alike.ascii_starts().contains(&first));
            }
        }
    }

    #[test]
    fn ascii_starts_of_look_alikes() {
        assert_eq!(LookAlike::new("rn").ascii_starts(), b"mr");
        assert_eq!(LookAlike::new("Il").ascii_starts(), b"1Il|");
        assert_eq!(LookAlike::new("\u{43e}k").ascii_starts(), b"o");
    }

    #[test]
    fn ascii_look_alikes_found_through_the_table() {
        for (name, other) in [("rn", "m"), ("O0", "0O"), ("Il1", "lll"), ("a%", "a°/₀")] {
            assert!(LookAlike::new(name).of(other), "{name} {other}");
            assert!(LookAlike::new(other).of(name), "{other} {name}");
        }
        assert!(!LookAlike::new("rn").of("rm"));
        assert!(!LookAlike::new("m").of("m"));
        assert!(!LookAlike::new("mx").of("m"));
        assert!(!LookAlike::new("m").of("mx"));
    }
}
