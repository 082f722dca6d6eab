//! The token finder: where in a buffer of bytes a token sits, and on which line and column.
//! Pure: no files, no database, no allocation per byte.
//!
//! A token is made only of word characters (`[A-Za-z0-9_]`), so a token in text is a whole
//! maximal run of them: nothing of `[A-Za-z0-9_]` directly before or after. The finder only
//! looks at such runs, which gives the boundaries for free, and only at runs long enough
//! to be a token, which makes it fast: it samples one byte in every [`MIN_LEN`], and only a
//! word byte there leads it to the run around it.
//!
//! One exception to the boundary before: the checksum covers only the body, so nothing
//! tells where the prefix starts when letters are glued to it, as in `\ntok_live_…` (an
//! escaped newline in JSON or a log). A run `<letters>_<env>_<36 base62>` therefore yields
//! one [`Reading`] for every 2 to 8 last letters; the caller keeps the one its database
//! knows. When the letters are 2 to 8, the first reading is the whole run, exactly the
//! token pattern.

use crate::token::{self, BODY_LEN, CHECK_LEN, Parsed};

/// The shortest token: a 2-letter prefix, a 2-character environment, two underscores,
/// body and check.
pub const MIN_LEN: usize = 2 + 1 + 2 + 1 + BODY_LEN + CHECK_LEN;
/// Longest prefix (and so the most letters a reading keeps).
const PREFIX_MAX: usize = 8;
/// The body and its check: the fixed-length end of every token.
const TAIL_LEN: usize = BODY_LEN + CHECK_LEN;

const fn word_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_';
        b += 1;
    }
    t
}

/// Whether a byte is a word character, `[A-Za-z0-9_]`.
static WORD: [bool; 256] = word_table();

/// One way of reading a run as a token, with a valid checksum.
#[derive(Debug, Clone, Copy)]
pub struct Reading<'a> {
    /// Byte offset of the token's first character in the buffer.
    pub start: usize,
    pub token: Parsed<'a>,
}

/// A run of word characters that reads as a token. `readings[0]` keeps the most letters
/// (the whole run when it matches the token pattern exactly); the others drop glued
/// letters one at a time.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub readings: Vec<Reading<'a>>,
    /// Byte offset just past the run, where every reading ends.
    pub end: usize,
}

impl Candidate<'_> {
    /// Offset of the first reading, the longest.
    pub fn start(&self) -> usize {
        self.readings[0].start
    }
}

/// Every candidate in `haystack`, in order.
pub fn candidates(haystack: &[u8]) -> Candidates<'_> {
    Candidates {
        haystack,
        sample: MIN_LEN - 1,
    }
}

/// Iterator of [`candidates`].
pub struct Candidates<'a> {
    haystack: &'a [u8],
    /// The next byte to look at. Every run of `MIN_LEN` word bytes that starts after the
    /// last byte looked at contains it.
    sample: usize,
}

impl<'a> Iterator for Candidates<'a> {
    type Item = Candidate<'a>;

    fn next(&mut self) -> Option<Candidate<'a>> {
        let hay = self.haystack;
        while self.sample < hay.len() {
            let p = self.sample;
            if !WORD[hay[p] as usize] {
                // A long enough run after `p` starts at `p + 1` at the earliest, so it
                // covers `p + MIN_LEN`.
                self.sample = p + MIN_LEN;
                continue;
            }
            let mut start = p;
            while start > 0 && WORD[hay[start - 1] as usize] {
                start -= 1;
            }
            let mut end = p + 1;
            while end < hay.len() && WORD[hay[end] as usize] {
                end += 1;
            }
            // `end` is a non-word byte (or the end): the same reasoning as above.
            self.sample = end + MIN_LEN;
            if end - start >= MIN_LEN
                && let Some(c) = read_run(hay, start, end)
            {
                return Some(c);
            }
        }
        None
    }
}

/// Reads the run `hay[start..end]` as `<letters>_<env>_<body><check>`, from the right.
fn read_run(hay: &[u8], start: usize, end: usize) -> Option<Candidate<'_>> {
    let run = &hay[start..end];
    let env_end = run.len() - TAIL_LEN - 1;
    if run[env_end] != b'_' || run[env_end + 1..].contains(&b'_') {
        return None;
    }
    let letters = memchr::memrchr(b'_', &run[..env_end])?;
    if letters < 2 || !run[..letters].iter().all(u8::is_ascii_lowercase) {
        return None;
    }
    // The run is ASCII, so any sub-slice is a str.
    let text = std::str::from_utf8(run).ok()?;
    let mut readings = Vec::new();
    for keep in (2..=letters.min(PREFIX_MAX)).rev() {
        let skip = letters - keep;
        match token::parse(&text[skip..]) {
            Ok(token) => readings.push(Reading {
                start: start + skip,
                token,
            }),
            // Shape and checksum do not depend on how many letters are kept: if the
            // longest reading fails, they all do.
            Err(_) => return None,
        }
    }
    Some(Candidate { readings, end })
}

/// Turns byte offsets (in increasing order) into 1-based lines and columns.
///
/// Lines end at `\n` (so CRLF files count like LF files; a lone `\r` ends nothing). The
/// column counts characters: 1 + the number of Unicode characters before the offset on its
/// line, as an editor shows it; on a line that is not valid UTF-8 (Latin-1 text), every
/// byte counts as one character. A UTF-8 byte order mark at the start is not counted.
pub struct LineCounter<'a> {
    haystack: &'a [u8],
    line: u64,
    line_start: usize,
    counted_to: usize,
}

impl<'a> LineCounter<'a> {
    pub fn new(haystack: &'a [u8]) -> LineCounter<'a> {
        let bom = if haystack.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        LineCounter {
            haystack,
            line: 1,
            line_start: bom,
            counted_to: bom,
        }
    }

    /// The line and column of `offset`, which must not be before the previous one.
    pub fn locate(&mut self, offset: usize) -> (u64, u64) {
        debug_assert!(offset >= self.counted_to);
        let between = &self.haystack[self.counted_to..offset];
        if let Some(last) = memchr::memrchr(b'\n', between) {
            self.line += memchr::memchr_iter(b'\n', between).count() as u64;
            self.line_start = self.counted_to + last + 1;
        }
        self.counted_to = offset;
        let before = &self.haystack[self.line_start..offset];
        let column = match std::str::from_utf8(before) {
            Ok(s) => s.chars().count(),
            Err(_) => before.len(),
        };
        (self.line, column as u64 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn token(prefix: &str, env: &str) -> String {
        token::generate(prefix, env)
            .unwrap()
            .secret
            .expose()
            .to_string()
    }

    /// (start, end) of each candidate's first reading.
    fn spans(text: &str) -> Vec<(usize, usize)> {
        candidates(text.as_bytes())
            .map(|c| (c.start(), c.end))
            .collect()
    }

    fn positions(text: &str) -> Vec<(u64, u64)> {
        let mut lines = LineCounter::new(text.as_bytes());
        candidates(text.as_bytes())
            .map(|c| lines.locate(c.start()))
            .collect()
    }

    #[test]
    fn whole_buffer_start_and_end() {
        let t = token("tok", "live");
        assert_eq!(spans(&t), vec![(0, t.len())]);
        let shortest = token("ab", "cd");
        assert_eq!(shortest.len(), MIN_LEN);
        assert_eq!(spans(&shortest), vec![(0, MIN_LEN)]);
        let text = format!("x {t}");
        assert_eq!(spans(&text), vec![(2, text.len())]);
    }

    #[test]
    fn boundaries() {
        let t = token("tok", "live");
        for glued in [
            format!("a1{t}"),
            format!("A{t}"),
            format!("9{t}"),
            format!("_{t}"),
            format!("{t}a"),
            format!("{t}_"),
            format!("{t}0"),
            format!("key_{t}"),
        ] {
            assert!(spans(&glued).is_empty(), "{glued}");
        }
        for sep in [
            " ", "\"", "'", "=", ":", "-", ".", "/", "\t", "é", "\\", "%", "\0",
        ] {
            let text = format!("{sep}{t}{sep}");
            assert_eq!(
                spans(&text),
                vec![(sep.len(), sep.len() + t.len())],
                "{sep:?}"
            );
        }
    }

    #[test]
    fn adjacent_tokens() {
        let (a, b) = (token("tok", "live"), token("tok", "test"));
        assert_eq!(spans(&format!("{a}{b}")), vec![]);
        assert_eq!(
            spans(&format!("{a},{b}")),
            vec![(0, a.len()), (a.len() + 1, a.len() + 1 + b.len())]
        );
        assert_eq!(spans(&format!("{a}\n{b}\n")).len(), 2);
    }

    #[test]
    fn glued_letters_give_shorter_readings() {
        let t = token("tok", "live");
        let text = format!(r#"{{"keys":"first\n{t}"}}"#);
        let c: Vec<_> = candidates(text.as_bytes()).collect();
        assert_eq!(c.len(), 1);
        let prefixes: Vec<&str> = c[0].readings.iter().map(|r| r.token.prefix()).collect();
        assert_eq!(prefixes, ["ntok", "tok", "ok"]);
        let at = text.find(&t).unwrap();
        assert_eq!(c[0].readings[1].start, at);
        // Nine or more letters: readings keep 8 at most.
        let long = format!("xyzabcdefgh{}", &token("abcdefgh", "live")[8..]);
        let c: Vec<_> = candidates(long.as_bytes()).collect();
        assert_eq!(c[0].readings[0].token.prefix(), "abcdefgh");
        assert_eq!(c[0].readings.len(), 7);
        // Digits or capitals glued on are a word boundary violation, not letters.
        assert!(spans(&format!("3D{t}")).is_empty());
    }

    #[test]
    fn wrong_shapes() {
        let t = token("tok", "live");
        let body = &t[9..];
        for text in [
            format!("tok_live_{}", &body[1..]),
            format!("tok_live_{body}Z"),
            format!("tok_live__{body}"),
            format!("t_live_{body}"),
            format!("tok_l_{body}"),
            format!("tok_9ive_{body}"),
            format!("tok_Live_{body}"),
            format!("tok_livelivel_{body}"),
            format!("Tok_live_{body}"),
            format!("tok_li_ve_{body}"),
            format!("tok_{body}"),
        ] {
            assert!(spans(&text).is_empty(), "{text}");
        }
    }

    #[test]
    fn checksum_must_match() {
        let t = token("tok", "live");
        let mut bad = t.clone().into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'a' { b'b' } else { b'a' };
        assert!(candidates(&bad).next().is_none());
    }

    #[test]
    fn lines_and_columns() {
        let t = token("tok", "live");
        assert_eq!(positions(&t), vec![(1, 1)]);
        assert_eq!(positions(&format!("a\r\nb\r\n  {t}\r\n")), vec![(3, 3)]);
        assert_eq!(positions(&format!("\n\n\n{t}")), vec![(4, 1)]);
        // Characters, not bytes: é is 2 bytes, 😀 is 4, both one column.
        assert_eq!(positions(&format!("é😀 {t}")), vec![(1, 4)]);
        assert_eq!(positions(&format!("\u{FEFF}{t}")), vec![(1, 1)]);
        // A lone CR is not a line break.
        assert_eq!(positions(&format!("a\rb {t}")), vec![(1, 5)]);
        // Two on a line, then one on the next.
        assert_eq!(
            positions(&format!("x={t};y={t}\n {t}")),
            vec![(1, 3), (1, 51), (2, 2)]
        );
        // Latin-1: one byte, one column.
        let mut latin1 = b"caf\xe9 ".to_vec();
        latin1.extend_from_slice(t.as_bytes());
        let mut lines = LineCounter::new(&latin1);
        let c = candidates(&latin1).next().unwrap();
        assert_eq!(lines.locate(c.start()), (1, 6));
    }

    #[test]
    fn long_runs_and_empty_input() {
        assert!(spans("").is_empty());
        assert!(spans(&"a".repeat(10_000)).is_empty());
        let t = token("tok", "live");
        let text = format!("{} {t} {}", "_".repeat(5_000), "Z".repeat(3));
        assert_eq!(spans(&text).len(), 1);
    }

    /// Tiny deterministic generator, so the test needs no seed file.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn base62(&mut self, n: usize) -> String {
            const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
            (0..n)
                .map(|_| A[(self.next() % 62) as usize] as char)
                .collect()
        }
    }

    #[test]
    fn no_false_positives_among_ten_thousand_wrong_checksums() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut text = String::new();
        for i in 0..10_000 {
            let body = rng.base62(BODY_LEN);
            let mut check = rng.base62(CHECK_LEN);
            if check == token::checksum(body.as_bytes()) {
                check = rng.base62(CHECK_LEN);
            }
            assert_ne!(check, token::checksum(body.as_bytes()));
            let sep = ["\n", " ", "\"", ",", "\\n"][i % 5];
            text.push_str(&format!("tok_live_{body}{check}{sep}"));
        }
        assert_eq!(spans(&text), vec![]);
    }

    /// The token pattern with word boundaries, then the checksum: what the finder must
    /// agree with (glued letters allowed before the prefix, see the module comment).
    fn oracle(text: &str) -> Vec<(usize, usize)> {
        let re = regex::Regex::new(
            r"(?-u:\b)([a-z]{2,})_[a-z][a-z0-9]{1,7}_([0-9A-Za-z]{30})([0-9A-Za-z]{6})(?-u:\b)",
        )
        .unwrap();
        re.captures_iter(text)
            .filter(|c| token::checksum(c[2].as_bytes()) == c[3])
            .map(|c| {
                let m = c.get(0).unwrap();
                let glued = c[1].len().saturating_sub(PREFIX_MAX);
                (m.start() + glued, m.end())
            })
            .collect()
    }

    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => ("[a-z]{2,8}", "[a-z][a-z0-9]{1,7}").prop_map(|(p, e)| token(&p, &e)),
            1 => ("[a-z]{2,8}", "[a-z][a-z0-9]{1,7}", "[0-9A-Za-z]{36}")
                .prop_map(|(p, e, b)| format!("{p}_{e}_{b}")),
            3 => prop::sample::select(vec![
                " ", "\n", "\r\n", "_", "a", "Z", "7", "é", "😀", "\\n", "=", "\"", ",", "-", "\0",
            ])
            .prop_map(str::to_string),
            1 => "[a-zA-Z0-9_ ]{0,60}",
        ]
    }

    proptest! {
        #[test]
        fn agrees_with_the_pattern(parts in prop::collection::vec(fragment(), 0..12)) {
            let text = parts.concat();
            prop_assert_eq!(spans(&text), oracle(&text));
        }

        #[test]
        fn never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut lines = LineCounter::new(&bytes);
            for c in candidates(&bytes) {
                lines.locate(c.start());
            }
        }
    }
}
