//! Finding leaked tokens: in files, in git history, in a stream of bytes.
//!
//! This module owns the search and nothing else: it never opens the database and never
//! decides what a token's status is. What it hands out is a [`Sighting`]: where a token
//! was seen, and for each way to read it (see [`finder`]) its hash and display hint. The
//! token text itself never leaves the finder, so no caller can print it by mistake.

pub mod finder;
pub mod git;
pub mod gitleaks;
pub mod walk;

use std::borrow::Cow;

use serde::Serialize;

use crate::token::TokenHash;

/// How much a binary check looks at: the first 8,000 bytes, as git does. A NUL byte there
/// means binary.
const BINARY_PROBE: usize = 8_000;

/// One way to read what was seen as a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub hash: TokenHash,
    pub hint: String,
    /// 1-based column of this reading's first character (see [`finder::LineCounter`]).
    pub column: u64,
}

/// Where in the scanned material a token was seen.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// A file in the walked tree, as its path reads (escaped, tokens in it hidden).
    File(String),
    /// A blob of a git repository's history: the commit that added it (none for a blob
    /// that only a tag points to) and its path then, joined to the repository's path as
    /// given, so that a file and its history read alike.
    Blob {
        commit: Option<String>,
        path: String,
    },
    Stdin,
}

/// A token seen somewhere: where, and how it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub origin: Origin,
    pub line: u64,
    /// Never empty; the first keeps the most letters before the environment.
    pub readings: Vec<Reading>,
}

/// A token seen in a buffer, before it is told where the buffer came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spot {
    pub line: u64,
    pub readings: Vec<Reading>,
}

impl Spot {
    fn at(self, origin: &Origin) -> Sighting {
        Sighting {
            origin: origin.clone(),
            line: self.line,
            readings: self.readings,
        }
    }
}

/// What was left out, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// A NUL byte in the first 8,000 bytes.
    pub binary: u64,
    /// Above the size limit.
    pub too_large: u64,
    /// Could not be read (permissions, vanished while scanning, a directory loop).
    pub unreadable: u64,
}

impl Skipped {
    pub fn add(&mut self, other: Skipped) {
        self.binary += other.binary;
        self.too_large += other.too_large;
        self.unreadable += other.unreadable;
    }

    pub fn total(&self) -> u64 {
        self.binary + self.too_large + self.unreadable
    }
}

/// The outcome of a scan, before anything is looked up.
#[derive(Debug, Default)]
pub struct Scan {
    pub sightings: Vec<Sighting>,
    /// Files of the tree that were read and searched.
    pub files: u64,
    /// Blobs of git history that were read and searched.
    pub blobs: u64,
    pub bytes: u64,
    pub skipped: Skipped,
    /// Problems worth a warning (an unreadable directory, say); the counts say the rest.
    pub warnings: Vec<String>,
}

impl Scan {
    pub fn add(&mut self, other: Scan) {
        self.sightings.extend(other.sightings);
        self.files += other.files;
        self.blobs += other.blobs;
        self.bytes += other.bytes;
        self.skipped.add(other.skipped);
        self.warnings.extend(other.warnings);
    }
}

/// Whether content looks binary: a NUL byte near the start.
pub fn is_binary(head: &[u8]) -> bool {
    memchr::memchr(0, &head[..head.len().min(BINARY_PROBE)]).is_some()
}

/// Every token in `haystack`, with line and column.
pub fn spots(haystack: &[u8]) -> Vec<Spot> {
    let mut lines = finder::LineCounter::new(haystack);
    let mut out = Vec::new();
    for candidate in finder::candidates(haystack) {
        let (line, column) = lines.locate(candidate.start());
        let first = candidate.start();
        out.push(Spot {
            line,
            readings: candidate
                .readings
                .iter()
                .map(|r| Reading {
                    hash: r.token.hash(),
                    hint: r.token.hint(),
                    // The letters dropped by a shorter reading are ASCII: one column each.
                    column: column + (r.start - first) as u64,
                })
                .collect(),
        });
    }
    out
}

/// Every token in a buffer read from `origin`.
pub fn sightings(haystack: &[u8], origin: &Origin) -> Vec<Sighting> {
    spots(haystack).into_iter().map(|s| s.at(origin)).collect()
}

/// A path or other text for display: control characters escaped and any token in it
/// replaced by its hint (a file may be named after the token it holds).
pub fn display_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for c in finder::candidates(text.as_bytes()) {
        out.push_str(&text[copied..c.start()]);
        out.push_str(&c.readings[0].token.hint());
        copied = c.end;
    }
    out.push_str(&text[copied..]);
    match crate::text::escape(&out) {
        Cow::Borrowed(_) => out,
        Cow::Owned(escaped) => escaped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token;

    #[test]
    fn spots_carry_hash_hint_and_columns() {
        let g = token::generate("tok", "live").unwrap();
        let t = g.secret.expose();
        let text = format!("a\nkey = \"{t}\"\n");
        let found = spots(text.as_bytes());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 2);
        assert_eq!(
            found[0].readings[0],
            Reading {
                hash: g.hash,
                hint: g.hint.clone(),
                column: 8
            }
        );
        let glued = format!("\\n{t}");
        let found = spots(glued.as_bytes());
        let r = &found[0].readings;
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].column, r[1].column), (2, 3));
        assert_eq!(r[1].hash, g.hash);
        assert!(!format!("{found:?}").contains(t));
    }

    #[test]
    fn display_text_hides_tokens_and_escapes() {
        let g = token::generate("tok", "live").unwrap();
        let t = g.secret.expose();
        let shown = display_text(&format!("dir/{t}.txt"));
        assert_eq!(shown, format!("dir/{}.txt", g.hint));
        assert_eq!(display_text("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(display_text("plain/path.rs"), "plain/path.rs");
    }

    #[test]
    fn binary_probe() {
        assert!(is_binary(b"PK\x03\x04\0\0"));
        assert!(!is_binary(b"just text\n"));
        let mut late = vec![b'a'; BINARY_PROBE];
        late.push(0);
        assert!(!is_binary(&late));
    }
}
