//! Which path a request's original URI names, read so that `serve` decides on what the
//! upstream will route: the ambiguity check.
//!
//! nginx's `proxy_pass http://app;` and Caddy's `reverse_proxy` hand the upstream the
//! client's raw request target, and upstreams read it in different ways: Werkzeug and
//! nginx percent-decode and resolve `..`, Express routes the raw text case-insensitively,
//! Go's `path.Clean` merges `//` before resolving `..`, Tomcat and Spring drop `;params`,
//! IIS turns `\` into `/` and strips trailing dots, some frameworks NFKC-normalise. A path
//! that one reader routes to `cases` and another to `invoices` cannot be decided safely,
//! so by default ([`UriPolicy::Strict`]) every spelling where readers can disagree is
//! refused as an [`Ambiguity`]: dot segments in any spelling, encoded delimiters, path
//! parameters, empty segments, control bytes, needless or double encoding, overlong or
//! invalid UTF-8, characters NFKC changes, fragments and non-origin forms. What is left
//! reads the same to all of them. [`UriPolicy::Normalize`] is for a proxy that normalises
//! the path itself before the upstream sees it (nginx's `proxy_pass` with a URI part):
//! the path is then decided as nginx normalises it.
//!
//! This module decides nothing about scopes; of ours it imports only the [`Ambiguity`]
//! it reports, which a denial carries.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;
use unicode_normalization::UnicodeNormalization as _;

use crate::verify::Ambiguity;

/// How the original URI is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UriPolicy {
    /// Refuse every URI that two common readers could route differently (the default).
    #[default]
    Strict,
    /// The proxy normalises the path before the upstream: decode it, merge `//`, resolve
    /// `.` and `..` as nginx does, and refuse only what cannot be normalised.
    Normalize,
}

/// A request path as rules see it: starting with `/`, percent-decoded, without empty,
/// `.` or `..` segments; a trailing slash is kept. Borrows the request's text when it
/// needs no decoding (the usual case), so most requests allocate nothing for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath<'a>(Cow<'a, str>);

impl<'a> NormalPath<'a> {
    /// Reads the original URI of a request (a path, maybe with a query) under `policy`.
    pub fn from_uri(uri: &'a str, policy: UriPolicy) -> Result<NormalPath<'a>, Ambiguity> {
        match policy {
            UriPolicy::Strict => strict(uri),
            UriPolicy::Normalize => normalize(uri),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The non-empty segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// Whether the path is `prefix` or below it (`prefix` without trailing slash).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        match self.0.strip_prefix(prefix) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    /// The same path in lower case, when it has upper-case letters (JavaScript's
    /// case-insensitive regular expressions fold non-ASCII letters too).
    pub fn lowercase(&self) -> Option<NormalPath<'static>> {
        let s = &self.0;
        if s.is_ascii() {
            s.bytes()
                .any(|b| b.is_ascii_uppercase())
                .then(|| NormalPath(Cow::Owned(s.to_ascii_lowercase())))
        } else {
            s.chars()
                .any(char::is_uppercase)
                .then(|| NormalPath(Cow::Owned(s.to_lowercase())))
        }
    }
}

/// RFC 3986 `pchar` without `%` and `+`: what may stand in a path unencoded and mean the
/// same to every reader.
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*,=:@".contains(&b)
}

fn strict(uri: &str) -> Result<NormalPath<'_>, Ambiguity> {
    if !uri.starts_with('/') {
        return Err(Ambiguity::Form);
    }
    let (path, query) = match uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (uri, None),
    };
    // Readers agree that the path ends at the first `?`; the query is the upstream's, but
    // a fragment or a control byte in it is not something any client sends.
    if let Some(q) = query
        && let Some(b) = q.bytes().find(|&b| b == b'#' || b <= b' ' || b == 0x7f)
    {
        return Err(if b == b'#' {
            Ambiguity::Separator
        } else {
            Ambiguity::Control
        });
    }
    let (mut escaped, mut doubled) = (false, false);
    let mut previous = 0;
    for b in path.bytes() {
        match b {
            b'/' => doubled |= previous == b'/',
            b'%' => escaped = true,
            b'\\' | b';' | b'#' => return Err(Ambiguity::Separator),
            b'+' => return Err(Ambiguity::Encoding),
            0..=0x20 | 0x7f => return Err(Ambiguity::Control),
            b if is_plain(b) => {}
            // `"<>[]^`{|}` and raw non-ASCII: not valid in a path, read variously.
            _ => return Err(Ambiguity::Encoding),
        }
        previous = b;
    }
    if doubled {
        return Err(Ambiguity::Separator);
    }
    // Without an escape, the path is plain ASCII and is its own decoding.
    let decoded = if escaped {
        check_escapes(path)?;
        percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| Ambiguity::Encoding)?
    } else {
        Cow::Borrowed(path)
    };
    for segment in decoded[1..].split('/') {
        // `.`, `..`, `...` and `cases.`: dot segments, and names Windows readers strip
        // (as they strip a trailing space).
        if segment.ends_with('.') {
            return Err(Ambiguity::DotSegment);
        }
        if segment.ends_with(' ') {
            return Err(Ambiguity::Encoding);
        }
    }
    check_text(&decoded)?;
    Ok(NormalPath(decoded))
}

/// Every `%` starts a two-digit escape, and what it encodes reads the same everywhere.
fn check_escapes(path: &str) -> Result<(), Ambiguity> {
    let bytes = path.as_bytes();
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|&b| b == b'%') {
        let start = i + at;
        let escape = path
            .get(start..start + 3)
            .filter(|e| e.bytes().skip(1).all(|b| b.is_ascii_hexdigit()))
            .ok_or(Ambiguity::Encoding)?;
        // `%` and two hex digits: exactly one byte.
        let byte = percent_decode_str(escape)
            .next()
            .ok_or(Ambiguity::Encoding)?;
        match byte {
            b'.' => return Err(Ambiguity::DotSegment),
            b'/' | b'\\' | b';' | b'?' | b'#' | b'%' => return Err(Ambiguity::EncodedSeparator),
            0..=0x1f | 0x7f => return Err(Ambiguity::Control),
            // An unreserved character needs no escape: readers that do not decode see
            // another name than those that do.
            b if b.is_ascii_alphanumeric() || b"-_~".contains(&b) => {
                return Err(Ambiguity::Encoding);
            }
            _ => {}
        }
        i = start + 3;
    }
    Ok(())
}

/// Decoded text: no control characters, no non-ASCII space, and nothing NFKC changes
/// (`．．` is `..` to a reader that normalises, `／` is `/`).
fn check_text(decoded: &str) -> Result<(), Ambiguity> {
    if decoded.is_ascii() {
        return Ok(());
    }
    if decoded.chars().any(char::is_control) {
        return Err(Ambiguity::Control);
    }
    if decoded.chars().any(|c| !c.is_ascii() && c.is_whitespace())
        || !decoded.nfkc().eq(decoded.chars())
    {
        return Err(Ambiguity::Encoding);
    }
    Ok(())
}

fn normalize(uri: &str) -> Result<NormalPath<'_>, Ambiguity> {
    let path = strip_origin(uri);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return Err(Ambiguity::Form);
    }
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(Ambiguity::Control);
    }
    if path.contains('\\') {
        return Err(Ambiguity::Separator);
    }
    if path.contains('%') {
        check_escape_syntax(path)?;
    }
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| Ambiguity::Encoding)?;
    if decoded.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err(Ambiguity::Control);
    }
    if decoded.contains(['\\', '%']) {
        return Err(Ambiguity::EncodedSeparator);
    }
    // nginx keeps `;` as text, Tomcat and Spring cut the segment there (`..;` is `..`).
    if decoded.contains(';') {
        return Err(Ambiguity::Separator);
    }
    check_text(&decoded)?;
    let plain = !decoded.contains("//") && decoded[1..].split('/').all(|s| s != "." && s != "..");
    if plain {
        return Ok(NormalPath(decoded));
    }
    let mut out: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in decoded[1..].split('/') {
        trailing_slash = true;
        match segment {
            "" | "." => {}
            ".." => {
                out.pop().ok_or(Ambiguity::DotSegment)?;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut normal = String::with_capacity(decoded.len());
    for s in &out {
        normal.push('/');
        normal.push_str(s);
    }
    if trailing_slash || out.is_empty() {
        normal.push('/');
    }
    Ok(NormalPath(Cow::Owned(normal)))
}

/// Every `%` is followed by two hex digits (`percent_decode` would keep a bad one as
/// text, which another reader may reject or read otherwise).
fn check_escape_syntax(path: &str) -> Result<(), Ambiguity> {
    let bytes = path.as_bytes();
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|&b| b == b'%') {
        let start = i + at;
        match bytes.get(start + 1..start + 3) {
            Some(h) if h.iter().all(u8::is_ascii_hexdigit) => i = start + 3,
            _ => return Err(Ambiguity::Encoding),
        }
    }
    Ok(())
}

/// `http://host:port/path` → `/path`; a path stays as it is.
fn strip_origin(uri: &str) -> &str {
    let Some(scheme_end) = uri.find("://") else {
        return uri;
    };
    if !uri[..scheme_end]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return uri;
    }
    let after = &uri[scheme_end + 3..];
    match after.find(['/', '?', '#']) {
        Some(i) => &after[i..],
        None => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use Ambiguity::*;

    /// Each vector is a way two readers can route one request target differently; the
    /// token in mind may read `cases` and nothing else.
    const AMBIGUOUS: &[(&str, Ambiguity)] = &[
        ("/api/invoices/../cases/1", DotSegment),
        ("/api/cases/../invoices/1", DotSegment),
        ("/api/./cases/1", DotSegment),
        ("/api/cases/1/.", DotSegment),
        ("/api/invoices/%2e%2e/cases/1", DotSegment),
        ("/api/invoices/%2E%2E/cases/1", DotSegment),
        ("/api/invoices/.%2e/cases/1", DotSegment),
        ("/api/invoices/%2e./cases/1", DotSegment),
        ("/api/cases/.../invoices/1", DotSegment),
        ("/api/cases./1", DotSegment),
        ("/api/invoices%2F..%2Fcases/1", EncodedSeparator),
        ("/api/invoices%2f..%2fcases/1", EncodedSeparator),
        ("/api/invoices/%252e%252e/cases/1", EncodedSeparator),
        ("/api/invoices%5c..%5ccases/1", EncodedSeparator),
        ("/api/cases%3b/../invoices/1", EncodedSeparator),
        ("/api/cases%3F/../../invoices/1", EncodedSeparator),
        ("/api/cases%23/../../invoices/1", EncodedSeparator),
        ("/api/invoices\\..\\cases/1", Separator),
        ("/api/cases/..;/invoices/1", Separator),
        ("/api/cases;jsessionid=1/1", Separator),
        ("/api/cases/1#/../../invoices/1", Separator),
        ("/api/cases//../invoices/1", Separator),
        ("//api/cases/1", Separator),
        ("/api/cases/1%00/../../invoices/1", Control),
        ("/api/cases/1%0a", Control),
        ("/api/cases/1\t", Control),
        ("/api/cases /1", Control),
        ("/api/cases/1?x=\x01", Control),
        ("/api/invoices/%c0%ae%c0%ae/cases/1", Encoding),
        ("/api/invoices/%e0%80%ae%e0%80%ae/cases/1", Encoding),
        ("/api/invoices/%u002e%u002e/cases/1", Encoding),
        ("/api/invoices/%ef%bc%8e%ef%bc%8e/cases/1", Encoding),
        ("/api/cases%ef%bc%8f..%ef%bc%8finvoices/1", Encoding),
        ("/api/%63ases/1", Encoding),
        ("/%61pi/cases/1", Encoding),
        ("/api/cases+/1", Encoding),
        ("/api/cases/%ff", Encoding),
        ("/api/cases/%2", Encoding),
        ("/api/cases/%zz", Encoding),
        ("/api/cases/{x}", Encoding),
        ("/api/cases/1%e2%80%a8", Encoding),
        ("/api/cases%20/1", Encoding),
        ("http://evil.example/api/cases/1", Form),
        ("*", Form),
        ("api/cases/1", Form),
        ("", Form),
    ];

    #[test]
    fn ambiguous_spellings_are_refused() {
        assert!(AMBIGUOUS.len() >= 30);
        for (uri, kind) in AMBIGUOUS {
            assert_eq!(
                NormalPath::from_uri(uri, UriPolicy::Strict).map(|p| p.as_str().to_string()),
                Err(*kind),
                "{uri:?}"
            );
        }
    }

    #[test]
    fn plain_paths_pass_as_they_are() {
        for (uri, want) in [
            ("/api/cases/12", "/api/cases/12"),
            ("/api/cases/12/", "/api/cases/12/"),
            ("/api/cases/12?page=2", "/api/cases/12"),
            ("/api/cases/1?x=/../../invoices/1", "/api/cases/1"),
            ("/api/cases/AbC-1_2~3", "/api/cases/AbC-1_2~3"),
            ("/api/contacts/zo%C3%AB", "/api/contacts/zoë"),
            ("/api/contacts/a%20b", "/api/contacts/a b"),
            ("/api/contacts/a%2Bb", "/api/contacts/a+b"),
            ("/api/cases/1.json", "/api/cases/1.json"),
            ("/", "/"),
        ] {
            let p = NormalPath::from_uri(uri, UriPolicy::Strict).expect(uri);
            assert_eq!(p.as_str(), want, "{uri}");
            assert_eq!(matches!(p.0, Cow::Borrowed(_)), !uri.contains('%'));
        }
    }

    #[test]
    fn normalize_reads_as_nginx_does() {
        let cases = [
            ("/api/cases/../invoices/1", Ok("/api/invoices/1")),
            ("/api//cases///1", Ok("/api/cases/1")),
            ("/api/./cases/1/.", Ok("/api/cases/1/")),
            ("/api/%63ases/1", Ok("/api/cases/1")),
            ("/api/cases%2F..%2Finvoices", Ok("/api/invoices")),
            ("/api/cases/?q=/../x", Ok("/api/cases/")),
            ("/api/cases/..;/invoices/1", Err(Separator)),
            ("http://example.com:8080/api/cases?x", Ok("/api/cases")),
            ("https://example.com", Ok("/")),
            ("/", Ok("/")),
            ("/..", Err(DotSegment)),
            ("/api/../../etc", Err(DotSegment)),
            ("/api/%2", Err(Encoding)),
            ("/api/%zz/", Err(Encoding)),
            ("/api/%ff", Err(Encoding)),
            ("/api/%c0%ae", Err(Encoding)),
            ("/api/%ef%bc%8e%ef%bc%8e", Err(Encoding)),
            ("/api/%00", Err(Control)),
            ("/api/%5c", Err(EncodedSeparator)),
            ("/api/%252e", Err(EncodedSeparator)),
            ("/api\\cases", Err(Separator)),
            ("api/cases", Err(Form)),
            ("", Err(Form)),
            ("*", Err(Form)),
        ];
        for (uri, want) in cases {
            assert_eq!(
                NormalPath::from_uri(uri, UriPolicy::Normalize)
                    .as_ref()
                    .map(NormalPath::as_str),
                want.as_ref().map(|s| *s),
                "{uri}"
            );
        }
    }

    /// A decoded path written back as a URI path: every byte that may not appear as it
    /// is (`"`, a space, non-ASCII) escaped again.
    fn as_uri(path: &str) -> String {
        path.bytes()
            .map(|b| {
                if b == b'/' || is_plain(b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    /// A character a path may only carry escaped is read decoded, and written back
    /// escaped (proptest found `/%22`: read as `/"`, which is no URI path as it is).
    #[test]
    fn an_escaped_quote_is_read_decoded() {
        for policy in [UriPolicy::Strict, UriPolicy::Normalize] {
            let n = NormalPath::from_uri("/cases/%22q%22", policy).unwrap();
            assert_eq!(n.as_str(), "/cases/\"q\"", "{policy:?}");
            assert_eq!(as_uri(n.as_str()), "/cases/%22q%22");
            assert!(NormalPath::from_uri("/cases/\"q\"", UriPolicy::Strict).is_err());
        }
    }

    proptest! {
        /// Whatever passes either policy is clean, and reads the same a second time,
        /// written back as a URI (`/%22` is `/"`, which a request carries as `/%22`).
        #[test]
        fn a_passing_path_is_clean_and_stable(uri in "[/a.%2Ef;\\\\cC+0\"]{0,16}") {
            for policy in [UriPolicy::Strict, UriPolicy::Normalize] {
                if let Ok(n) = NormalPath::from_uri(&uri, policy) {
                    let s = n.as_str();
                    prop_assert!(s.starts_with('/'));
                    prop_assert!(!s.contains("//"), "{}", s);
                    prop_assert!(!s.contains('\\'), "{}", s);
                    prop_assert!(n.segments().all(|seg| seg != "." && seg != ".."), "{}", s);
                    if policy == UriPolicy::Strict {
                        prop_assert!(n.segments().all(|seg| !seg.ends_with('.')), "{}", s);
                        prop_assert!(!s.contains(';') && !s.contains('+'), "{}", s);
                    }
                    let again = as_uri(s);
                    prop_assert_eq!(NormalPath::from_uri(&again, policy), Ok(n.clone()));
                }
            }
        }
    }
}
