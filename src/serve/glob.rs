//! Path globs of a rules file: segments separated by `/`; `**` as a whole segment
//! matches any number of segments (also none), `*` any characters within one segment,
//! `?` one character. Matching is linear in the path, whatever the pattern, so a rules
//! file cannot make a request slow.
//!
//! This module parses and matches patterns only; what a pattern may contain is checked
//! by the rules file's parser.

use super::uri::NormalPath;

#[derive(Debug, Clone, PartialEq)]
pub struct Glob {
    segments: Vec<GlobSegment>,
}

#[derive(Debug, Clone, PartialEq)]
enum GlobSegment {
    AnySegments,
    Text(Vec<char>),
}

impl Glob {
    /// Parses a pattern that starts with `/`; the only mistake left to find is `**`
    /// inside a segment.
    pub fn parse(pattern: &str) -> Result<Glob, String> {
        let body = pattern
            .strip_prefix('/')
            .map(|b| b.strip_suffix('/').unwrap_or(b))
            .unwrap_or(pattern);
        if body.is_empty() {
            return Ok(Glob {
                segments: Vec::new(),
            });
        }
        let mut segments = Vec::new();
        for segment in body.split('/') {
            if segment == "**" {
                segments.push(GlobSegment::AnySegments);
            } else if segment.contains("**") {
                return Err(format!(
                    "in '{}', '**' must be a whole segment (/**/), use '*' within a segment",
                    crate::render::escape(pattern)
                ));
            } else {
                segments.push(GlobSegment::Text(segment.chars().collect()));
            }
        }
        Ok(Glob { segments })
    }

    pub fn matches(&self, path: &NormalPath<'_>) -> bool {
        let segments: Vec<&str> = path.segments().collect();
        wildcard_match(
            &self.segments,
            &segments,
            |p| matches!(p, GlobSegment::AnySegments),
            |p, s| match p {
                GlobSegment::AnySegments => true,
                GlobSegment::Text(chars) => segment_matches(chars, s),
            },
        )
    }
}

fn segment_matches(pattern: &[char], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    wildcard_match(pattern, &text, |&p| p == '*', |&p, &c| p == '?' || p == c)
}

/// Matches `items` against `pattern`, where a star matches any run of items and every
/// other element matches exactly one. The classic linear-space algorithm: on a mismatch,
/// go back to the last star and let it take one more item. Remembering only the last
/// star is enough, because a later star can absorb whatever an earlier one would have.
fn wildcard_match<P, T>(
    pattern: &[P],
    items: &[T],
    is_star: impl Fn(&P) -> bool,
    one: impl Fn(&P, &T) -> bool,
) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while i < items.len() {
        if p < pattern.len() && is_star(&pattern[p]) {
            last_star = Some((p, i));
            p += 1;
        } else if p < pattern.len() && one(&pattern[p], &items[i]) {
            p += 1;
            i += 1;
        } else if let Some((star, taken_from)) = last_star {
            p = star + 1;
            i = taken_from + 1;
            last_star = Some((star, taken_from + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(is_star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::uri::UriPolicy;
    use proptest::prelude::*;

    fn path(s: &str) -> NormalPath<'_> {
        NormalPath::from_uri(s, UriPolicy::Strict).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// The obvious exponential matcher, to check the fast one against.
    fn reference(pattern: &[GlobSegment], path: &[&str]) -> bool {
        fn chars(p: &[char], t: &[char]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some(('*', rest)) => (0..=t.len()).any(|k| chars(rest, &t[k..])),
                Some((&c, rest)) => {
                    !t.is_empty() && (c == '?' || c == t[0]) && chars(rest, &t[1..])
                }
            }
        }
        match pattern.split_first() {
            None => path.is_empty(),
            Some((GlobSegment::AnySegments, rest)) => {
                (0..=path.len()).any(|k| reference(rest, &path[k..]))
            }
            Some((GlobSegment::Text(p), rest)) => {
                !path.is_empty()
                    && chars(p, &path[0].chars().collect::<Vec<_>>())
                    && reference(rest, &path[1..])
            }
        }
    }

    fn glob_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("**".to_string()),
                "[ab*?]{1,4}".prop_filter("no ** inside", |s| !s.contains("**")),
            ],
            0..5,
        )
        .prop_map(|segments| format!("/{}", segments.join("/")))
    }

    proptest! {
        #[test]
        fn glob_agrees_with_the_reference(
            pattern in glob_text(),
            segments in prop::collection::vec("[ab]{1,4}", 0..6),
        ) {
            let glob = Glob::parse(&pattern).unwrap();
            let uri = format!("/{}", segments.join("/"));
            let p = path(&uri);
            let items: Vec<&str> = p.segments().collect();
            prop_assert_eq!(glob.matches(&p), reference(&glob.segments, &items));
        }

        #[test]
        fn a_literal_glob_matches_exactly_its_path(
            a in prop::collection::vec("[a-z0-9_-]{1,6}", 1..5),
            b in prop::collection::vec("[a-z0-9_-]{1,6}", 1..5),
        ) {
            let pattern = format!("/{}", a.join("/"));
            let glob = Glob::parse(&pattern).unwrap();
            prop_assert!(glob.matches(&path(&pattern)));
            let other = format!("/{}", b.join("/"));
            prop_assert_eq!(glob.matches(&path(&other)), a == b);
        }
    }
}
