//! Which scope a request needs: the default convention (`/api/<module>/…`, method →
//! access) or a rules file, applied to the request's normalised path. A request that
//! nothing maps needs a scope no token has, so it is denied.
//!
//! The path is normalised the way nginx normalises `$uri` (percent-decoded, `//` merged,
//! `.` and `..` resolved) before any rule sees it, so `/api/cases/../invoices/1` needs an
//! `invoices` scope, as the upstream that resolves it would serve invoices. A path that
//! cannot be read unambiguously (bad percent-encoding, a backslash, a control character,
//! `..` above the root) maps to nothing: it is denied, never guessed at.
//!
//! The rules file is TOML; every error in it is reported with its line and reason before
//! the server listens:
//!
//! ```toml
//! # The first rule that matches decides; a request no rule matches is denied,
//! # unless fallback = "convention" (then /api/<module>/... as without a rules file).
//! fallback = "deny"
//!
//! [[rule]]
//! methods = ["GET", "HEAD"]            # optional: any method when left out
//! path = "/api/cases/*/documents/**"   # glob: * within one segment, ** any segments
//! scope = "documents:read"
//!
//! [[rule]]
//! methods = ["POST"]
//! prefix = "/api/import"               # /api/import and everything under it
//! scope = "cases:write"
//! ```

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::scope::{Access, Module, Scope, is_valid_module};

/// The largest rules file read; a real one is a few kilobytes.
const MAX_FILE_LEN: usize = 1024 * 1024;

/// How a request's required scope is found.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    rules: Vec<Rule>,
    fallback: Fallback,
}

/// What applies when no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The request is unmapped: denied.
    Deny,
    /// `/api/<module>/…` with the method's access.
    Convention,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    /// Upper-case method names; `None` matches every method.
    methods: Option<Vec<String>>,
    path: PathPattern,
    scope: Scope,
}

#[derive(Debug, Clone, PartialEq)]
enum PathPattern {
    /// A normalised path without trailing slash (`""` for the root): matches itself and
    /// everything below it, at segment boundaries.
    Prefix(String),
    Glob(Glob),
}

/// A path glob: segments separated by `/`; `**` as a whole segment matches any number
/// of segments (also none), `*` any characters within a segment, `?` one character.
#[derive(Debug, Clone, PartialEq)]
struct Glob {
    segments: Vec<GlobSegment>,
}

#[derive(Debug, Clone, PartialEq)]
enum GlobSegment {
    AnySegments,
    Text(Vec<char>),
}

/// A mistake in a rules file, where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for RulesError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesToml {
    fallback: Option<Spanned<String>>,
    #[serde(default, rename = "rule")]
    rules: Vec<Spanned<RuleToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleToml {
    methods: Option<Spanned<Vec<Spanned<String>>>>,
    prefix: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    scope: Spanned<String>,
}

impl Rules {
    /// No rules file: `/api/<module>/…` and the method decide.
    pub fn convention() -> Rules {
        Rules {
            rules: Vec::new(),
            fallback: Fallback::Convention,
        }
    }

    /// Parses a rules file's text; the first error is reported with its line.
    pub fn parse(text: &str) -> Result<Rules, RulesError> {
        let at = |span: Range<usize>, reason: String| RulesError {
            line: line_of(text, span.start),
            reason,
        };
        if text.len() > MAX_FILE_LEN {
            return Err(RulesError {
                line: 1,
                reason: format!("the file is larger than {MAX_FILE_LEN} bytes"),
            });
        }
        let file: RulesToml = toml::from_str(text).map_err(|e| {
            at(
                e.span().unwrap_or(0..0),
                e.message().trim_end().replace('\n', " "),
            )
        })?;
        let fallback = match &file.fallback {
            None => Fallback::Deny,
            Some(f) => match f.get_ref().as_str() {
                "deny" => Fallback::Deny,
                "convention" => Fallback::Convention,
                other => {
                    return Err(at(
                        f.span(),
                        format!(
                            "fallback '{}' is not \"deny\" or \"convention\"",
                            crate::render::escape(other)
                        ),
                    ));
                }
            },
        };
        if file.rules.is_empty() && fallback == Fallback::Deny {
            return Err(at(
                0..0,
                "no [[rule]]: every request would be denied (add rules, or set fallback = \"convention\")".into(),
            ));
        }
        let mut rules = Vec::with_capacity(file.rules.len());
        for spanned in file.rules {
            let rule_span = spanned.span();
            let raw = spanned.into_inner();
            let path = match (raw.prefix, raw.path) {
                (Some(p), None) => {
                    PathPattern::Prefix(parse_prefix(p.get_ref()).map_err(|r| at(p.span(), r))?)
                }
                (None, Some(g)) => {
                    PathPattern::Glob(Glob::parse(g.get_ref()).map_err(|r| at(g.span(), r))?)
                }
                (Some(_), Some(g)) => {
                    return Err(at(
                        g.span(),
                        "a rule has either 'prefix' or 'path', not both".into(),
                    ));
                }
                (None, None) => {
                    return Err(at(
                        rule_span,
                        "a rule needs 'prefix' (\"/api/cases\") or 'path' (a glob such as \"/api/cases/*/notes/**\")".into(),
                    ));
                }
            };
            let scope = raw
                .scope
                .get_ref()
                .parse::<Scope>()
                .map_err(|e| at(raw.scope.span(), e.to_string()))?;
            let methods = match raw.methods {
                None => None,
                Some(list) => Some(parse_methods(list, &at)?),
            };
            rules.push(Rule {
                methods,
                path,
                scope,
            });
        }
        Ok(Rules { rules, fallback })
    }

    /// The scope a request with this method and (raw) path needs, or `None`: unmapped.
    pub fn required(&self, method: &str, path: &NormalPath<'_>) -> Option<Scope> {
        self.rules
            .iter()
            .find(|r| r.matches(method, path))
            .map(|r| r.scope.clone())
            .or_else(|| match self.fallback {
                Fallback::Convention => convention(method, path),
                Fallback::Deny => None,
            })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

impl Rule {
    fn matches(&self, method: &str, path: &NormalPath<'_>) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == method))
            && match &self.path {
                PathPattern::Prefix(p) => path.has_prefix(p),
                PathPattern::Glob(g) => g.matches(path),
            }
    }
}

/// The default convention: `/api/<module>/…`; GET, HEAD, OPTIONS read; POST, PUT, PATCH
/// write; DELETE delete. Anything else is unmapped.
pub fn convention(method: &str, path: &NormalPath<'_>) -> Option<Scope> {
    let access = match method {
        "GET" | "HEAD" | "OPTIONS" => Access::Read,
        "POST" | "PUT" | "PATCH" => Access::Write,
        "DELETE" => Access::Delete,
        _ => return None,
    };
    let mut segments = path.segments();
    if segments.next() != Some("api") {
        return None;
    }
    let module = segments.next().filter(|m| is_valid_module(m))?;
    Some(Scope {
        module: Module::Named(module.to_string()),
        access,
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn parse_methods(
    list: Spanned<Vec<Spanned<String>>>,
    at: &impl Fn(Range<usize>, String) -> RulesError,
) -> Result<Vec<String>, RulesError> {
    if list.get_ref().is_empty() {
        return Err(at(
            list.span(),
            "'methods' is empty: leave it out to match every method".into(),
        ));
    }
    let mut methods = Vec::new();
    for m in list.into_inner() {
        let name = m.get_ref();
        // RFC 9110 token characters; methods are case-sensitive, and all standard ones
        // are upper case, so "get" is almost certainly a typo.
        let is_token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !is_token {
            return Err(at(
                m.span(),
                format!("'{}' is not an HTTP method", crate::render::escape(name)),
            ));
        }
        if name.bytes().any(|b| b.is_ascii_lowercase()) {
            return Err(at(
                m.span(),
                format!(
                    "HTTP methods are case-sensitive: write '{}'",
                    name.to_ascii_uppercase()
                ),
            ));
        }
        methods.push(name.clone());
    }
    Ok(methods)
}

/// Characters a pattern may not hold: what a normalised path never contains.
fn check_pattern_text(pattern: &str) -> Result<(), String> {
    if !pattern.starts_with('/') {
        return Err(format!(
            "'{}' does not start with '/'",
            crate::render::escape(pattern)
        ));
    }
    if let Some(c) = pattern
        .chars()
        .find(|&c| c.is_control() || c == '\\' || c == '%')
    {
        return Err(format!(
            "'{}' contains {:?}: write paths decoded, as they are matched (no percent-encoding, no backslashes)",
            crate::render::escape(pattern),
            c
        ));
    }
    if pattern.contains("//") {
        return Err(format!(
            "'{}' has an empty segment ('//')",
            crate::render::escape(pattern)
        ));
    }
    for segment in pattern[1..].split('/') {
        if segment == "." || segment == ".." {
            return Err(format!(
                "'{}' has a '{segment}' segment, which a normalised path never has",
                crate::render::escape(pattern)
            ));
        }
    }
    Ok(())
}

fn parse_prefix(prefix: &str) -> Result<String, String> {
    check_pattern_text(prefix)?;
    if prefix.contains('*') || prefix.contains('?') {
        return Err(format!(
            "prefix '{}' has a wildcard: use 'path' for globs",
            crate::render::escape(prefix)
        ));
    }
    Ok(prefix.trim_end_matches('/').to_string())
}

impl Glob {
    fn parse(pattern: &str) -> Result<Glob, String> {
        check_pattern_text(pattern)?;
        let body = pattern[1..].strip_suffix('/').unwrap_or(&pattern[1..]);
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

    fn matches(&self, path: &NormalPath<'_>) -> bool {
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

/// A request path as rules see it: percent-decoded, `//` merged, `.` and `..` resolved,
/// starting with `/`; a trailing slash is kept. Borrows the request's text when it is
/// normal already (the usual case), so most requests allocate nothing for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath<'a>(Cow<'a, str>);

impl<'a> NormalPath<'a> {
    /// Normalises the original URI of a request (a path, maybe with a query, or an
    /// absolute URI). `None` when it cannot be read unambiguously.
    pub fn from_uri(uri: &'a str) -> Option<NormalPath<'a>> {
        let path = strip_origin(uri);
        let path = path.split(['?', '#']).next().unwrap_or_default();
        if !path.starts_with('/') {
            return None;
        }
        let plain = !path.contains("//")
            && !path
                .chars()
                .any(|c| c.is_control() || c == '\\' || c == '%')
            && path.split('/').all(|s| s != "." && s != "..");
        if plain {
            return Some(NormalPath(Cow::Borrowed(path)));
        }
        let decoded = percent_decode(path)?;
        if decoded.chars().any(|c| c.is_control() || c == '\\') {
            return None;
        }
        let mut out: Vec<&str> = Vec::new();
        let mut trailing_slash = false;
        for segment in decoded[1..].split('/') {
            trailing_slash = true;
            match segment {
                "" | "." => {}
                ".." => {
                    out.pop()?;
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
        Some(NormalPath(Cow::Owned(normal)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The non-empty segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// Whether the path is `prefix` or below it (`prefix` without trailing slash).
    fn has_prefix(&self, prefix: &str) -> bool {
        match self.0.strip_prefix(prefix) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
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

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn path(s: &str) -> NormalPath<'_> {
        NormalPath::from_uri(s).unwrap_or_else(|| panic!("{s} does not normalise"))
    }

    fn required(rules: &Rules, method: &str, uri: &str) -> Option<String> {
        rules.required(method, &path(uri)).map(|s| s.to_string())
    }

    #[test]
    fn convention_maps_module_and_method() {
        let r = Rules::convention();
        let cases = [
            ("GET", "/api/cases/12", Some("cases:read")),
            ("HEAD", "/api/cases", Some("cases:read")),
            ("OPTIONS", "/api/cases/", Some("cases:read")),
            ("POST", "/api/cases", Some("cases:write")),
            ("PUT", "/api/cases/1?x=1", Some("cases:write")),
            ("PATCH", "/api/cases/1", Some("cases:write")),
            ("DELETE", "/api/cases/1", Some("cases:delete")),
            ("TRACE", "/api/cases/1", None),
            ("get", "/api/cases/1", None),
            ("GET", "/api", None),
            ("GET", "/api/", None),
            ("GET", "/other/cases", None),
            ("GET", "/api/Cases/1", None),
            ("GET", "/api/*/1", None),
            ("GET", "/", None),
        ];
        for (method, uri, want) in cases {
            assert_eq!(required(&r, method, uri).as_deref(), want, "{method} {uri}");
        }
    }

    #[test]
    fn normalises_like_nginx() {
        let cases = [
            ("/api/cases/../invoices/1", Some("/api/invoices/1")),
            ("/api//cases///1", Some("/api/cases/1")),
            ("/api/./cases/1/.", Some("/api/cases/1/")),
            ("/api/%63ases/1", Some("/api/cases/1")),
            ("/api/cases%2F..%2Finvoices", Some("/api/invoices")),
            ("/api/cases/?q=/../x", Some("/api/cases/")),
            ("http://example.com:8080/api/cases?x", Some("/api/cases")),
            ("https://example.com", Some("/")),
            ("/", Some("/")),
            ("/..", None),
            ("/api/../../etc", None),
            ("/api/%2", None),
            ("/api/%zz/", None),
            ("/api/%ff", None),
            ("/api/%00", None),
            ("/api\\cases", None),
            ("api/cases", None),
            ("", None),
            ("*", None),
        ];
        for (uri, want) in cases {
            assert_eq!(
                NormalPath::from_uri(uri).as_ref().map(NormalPath::as_str),
                want,
                "{uri}"
            );
        }
    }

    const EXAMPLE: &str = r#"
# documents of a case are their own module
[[rule]]
methods = ["GET", "HEAD"]
path = "/api/cases/*/documents/**"
scope = "documents:read"

[[rule]]
methods = ["POST"]
prefix = "/api/import/"
scope = "cases:write"

[[rule]]
path = "/api/reports/*.csv"
scope = "reports:read"
"#;

    #[test]
    fn rules_first_match_wins() {
        let r = Rules::parse(EXAMPLE).unwrap();
        assert_eq!(r.len(), 3);
        let cases = [
            ("GET", "/api/cases/7/documents", Some("documents:read")),
            (
                "HEAD",
                "/api/cases/7/documents/3/raw",
                Some("documents:read"),
            ),
            ("POST", "/api/cases/7/documents", None),
            ("GET", "/api/cases/7", None),
            ("POST", "/api/import", Some("cases:write")),
            ("POST", "/api/import/", Some("cases:write")),
            ("POST", "/api/import/batch/2", Some("cases:write")),
            ("POST", "/api/imports", None),
            ("GET", "/api/import", None),
            ("DELETE", "/api/reports/2026.csv", Some("reports:read")),
            ("GET", "/api/reports/a/b.csv", None),
        ];
        for (method, uri, want) in cases {
            assert_eq!(required(&r, method, uri).as_deref(), want, "{method} {uri}");
        }
        let with_fallback = Rules::parse(&format!("fallback = \"convention\"\n{EXAMPLE}")).unwrap();
        assert_eq!(
            required(&with_fallback, "GET", "/api/cases/7").as_deref(),
            Some("cases:read")
        );
        assert_eq!(
            required(&with_fallback, "GET", "/api/cases/7/documents/1").as_deref(),
            Some("documents:read")
        );
    }

    #[test]
    fn errors_name_the_line_and_reason() {
        let cases = [
            (
                "[[rule]]\npath = \"/a\"\nscope = \"cases:reed\"\n",
                3,
                "access 'reed'",
            ),
            ("[[rule]]\nscope = \"cases:read\"\n", 1, "needs 'prefix'"),
            (
                "[[rule]]\nprefix = \"/a\"\npath = \"/b\"\nscope = \"a:read\"\n",
                3,
                "not both",
            ),
            ("\n\n[[rule]]\npath = \"/a\"\n", 3, "scope"),
            (
                "[[rule]]\npath = \"/a\"\nscope = \"a:read\"\ncolour = 1\n",
                4,
                "colour",
            ),
            (
                "[[rule]]\npath = \"a/**\"\nscope = \"a:read\"\n",
                2,
                "start with '/'",
            ),
            (
                "[[rule]]\npath = \"/a/x**\"\nscope = \"a:read\"\n",
                2,
                "whole segment",
            ),
            (
                "[[rule]]\npath = \"/a/../b\"\nscope = \"a:read\"\n",
                2,
                "'..' segment",
            ),
            (
                "[[rule]]\npath = \"/a//b\"\nscope = \"a:read\"\n",
                2,
                "empty segment",
            ),
            (
                "[[rule]]\npath = \"/a%2Fb\"\nscope = \"a:read\"\n",
                2,
                "percent",
            ),
            (
                "[[rule]]\nprefix = \"/a/*\"\nscope = \"a:read\"\n",
                2,
                "wildcard",
            ),
            (
                "[[rule]]\nmethods = [\"get\"]\npath = \"/a\"\nscope = \"a:read\"\n",
                2,
                "write 'GET'",
            ),
            (
                "[[rule]]\nmethods = []\npath = \"/a\"\nscope = \"a:read\"\n",
                2,
                "empty",
            ),
            (
                "[[rule]]\nmethods = [\"GET POST\"]\npath = \"/a\"\nscope = \"a:read\"\n",
                2,
                "not an HTTP method",
            ),
            ("fallback = \"allow\"\n", 1, "not \"deny\""),
            ("# nothing\n", 1, "no [[rule]]"),
            ("[[rule]\npath = \"/a\"\n", 1, ""),
            ("[[rule]]\npath = \"/a\"\nscope = 'a:read\n", 3, ""),
            ("[[rule]]\npath = 3\nscope = \"a:read\"\n", 2, "string"),
        ];
        for (text, line, reason) in cases {
            let err = Rules::parse(text).expect_err(text);
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.reason.contains(reason), "{text:?}: {err}");
            assert!(!err.reason.contains('\n'), "{text:?}: {err}");
        }
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

        #[test]
        fn normalising_is_idempotent_and_clean(uri in "[/a.%2Ff]{0,16}") {
            if let Some(n) = NormalPath::from_uri(&uri) {
                let s = n.as_str();
                prop_assert!(s.starts_with('/'));
                prop_assert!(!s.contains("//"), "{}", s);
                prop_assert!(n.segments().all(|seg| seg != "." && seg != ".."), "{}", s);
                prop_assert_eq!(NormalPath::from_uri(s), Some(n.clone()));
            }
        }

        #[test]
        fn the_first_matching_rule_decides(
            prefixes in prop::collection::vec(prop::sample::select(vec!["/", "/api", "/api/a", "/api/b", "/api/a/x"]), 1..6),
            uri in prop::sample::select(vec!["/", "/api", "/api/a", "/api/a/x/1", "/api/b/2", "/other"]),
        ) {
            let text: String = prefixes
                .iter()
                .enumerate()
                .map(|(i, p)| format!("[[rule]]\nprefix = \"{p}\"\nscope = \"m{i}:read\"\n"))
                .collect();
            let rules = Rules::parse(&text).unwrap();
            let want = prefixes
                .iter()
                .position(|p| *p == "/" || uri == *p || uri.starts_with(&format!("{p}/")))
                .map(|i| format!("m{i}:read"));
            prop_assert_eq!(required(&rules, "GET", uri), want);
        }
    }
}
