//! The rules file (`serve --rules`): its TOML read into [`Rules`], or the convention
//! when there is none. Every mistake in it is reported with its line and reason before
//! the server listens; applying the rules to a request is [`mapping`](super::mapping)'s.
//! Patterns are written as the paths they match are read (decoded, lower case, no dot or
//! empty segments, see [`uri`](super::uri)); globs are [`glob`](super::glob)'s.
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

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::glob::Glob;
use crate::scope::{RESERVED_MODULE, Scope};

/// The largest rules file read; a real one is a few kilobytes.
const MAX_FILE_LEN: usize = 1024 * 1024;

/// How a request's required scope is found: the rules in the file's order, then the
/// fallback.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub(super) rules: Vec<Rule>,
    pub(super) fallback: Fallback,
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
pub(super) struct Rule {
    /// Upper-case method names; `None` matches every method.
    pub(super) methods: Option<Vec<String>>,
    pub(super) path: PathPattern,
    pub(super) scope: Scope,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum PathPattern {
    /// A normalised path without trailing slash (`""` for the root): matches itself and
    /// everything below it, at segment boundaries.
    Prefix(String),
    Glob(Glob),
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
        let fallback = parse_fallback(file.fallback.as_ref(), &at)?;
        if file.rules.is_empty() && fallback == Fallback::Deny {
            return Err(at(
                0..0,
                "no [[rule]]: every request would be denied (add rules, or set fallback = \"convention\")".into(),
            ));
        }
        let rules = file
            .rules
            .into_iter()
            .map(|rule| parse_rule(rule, &at))
            .collect::<Result<_, _>>()?;
        Ok(Rules { rules, fallback })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn parse_fallback(
    fallback: Option<&Spanned<String>>,
    at: &impl Fn(Range<usize>, String) -> RulesError,
) -> Result<Fallback, RulesError> {
    let Some(f) = fallback else {
        return Ok(Fallback::Deny);
    };
    match f.get_ref().as_str() {
        "deny" => Ok(Fallback::Deny),
        "convention" => Ok(Fallback::Convention),
        other => Err(at(
            f.span(),
            format!(
                "fallback '{}' is not \"deny\" or \"convention\"",
                crate::render::escape(other)
            ),
        )),
    }
}

fn parse_rule(
    spanned: Spanned<RuleToml>,
    at: &impl Fn(Range<usize>, String) -> RulesError,
) -> Result<Rule, RulesError> {
    let rule_span = spanned.span();
    let raw = spanned.into_inner();
    let path = match (raw.prefix, raw.path) {
        (Some(p), None) => {
            PathPattern::Prefix(parse_prefix(p.get_ref()).map_err(|r| at(p.span(), r))?)
        }
        (None, Some(g)) => PathPattern::Glob(parse_glob(g.get_ref()).map_err(|r| at(g.span(), r))?),
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
    if scope.module.is_reserved() {
        return Err(at(
            raw.scope.span(),
            format!(
                "the module '{RESERVED_MODULE}' is reserved for tokenctl's own endpoints; an API's requests cannot need it"
            ),
        ));
    }
    let methods = match raw.methods {
        None => None,
        Some(list) => Some(parse_methods(list, at)?),
    };
    Ok(Rule {
        methods,
        path,
        scope,
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
        .find(|&c| c.is_control() || c == '\\' || c == '%' || c == ';' || c == '+')
    {
        return Err(format!(
            "'{}' contains {:?}: write paths decoded, as they are matched (no percent-encoding, backslashes, ';' or '+')",
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
    if pattern.chars().any(char::is_uppercase) {
        return Err(format!(
            "'{}' has upper-case letters: write patterns in lower case (a request that maps otherwise when lower-cased, as case-insensitive routers read it, is denied)",
            crate::render::escape(pattern)
        ));
    }
    Ok(())
}

fn parse_glob(pattern: &str) -> Result<Glob, String> {
    check_pattern_text(pattern)?;
    Glob::parse(pattern)
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

#[cfg(test)]
mod tests {
    use super::*;

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
                "[[rule]]\nprefix = \"/a\"\nscope = \"tokenctl:read\"\n",
                3,
                "reserved",
            ),
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
                "[[rule]]\npath = \"/api/Reports/*\"\nscope = \"a:read\"\n",
                2,
                "lower case",
            ),
            (
                "[[rule]]\nprefix = \"/api/a;b\"\nscope = \"a:read\"\n",
                2,
                "';'",
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
}
