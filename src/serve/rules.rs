//! Which scope a request needs: the default convention (`/api/<module>/…`, method →
//! access) or a rules file, applied to the path [`uri`](super::uri) has read. A request
//! that nothing maps needs a scope no token has, so it is denied.
//!
//! Rules match case-sensitively, but Express, ASP.NET and Spring route case-insensitively,
//! so a path that maps to another scope once its letters are lower-cased is ambiguous and
//! denied (rule patterns must therefore be lower case). A method override
//! (`X-HTTP-Method-Override` and its kin) that needs more than the method is denied too.
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

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::glob::Glob;
use super::uri::NormalPath;
use crate::scope::{Access, Module, Scope, is_valid_module};
use crate::verify::{Ambiguity, Unmapped};

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
                    PathPattern::Glob(parse_glob(g.get_ref()).map_err(|r| at(g.span(), r))?)
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

    /// The scope a request with this method, method overrides (already upper-cased) and
    /// path needs. Unmapped when no rule maps it; ambiguous when a router that ignores
    /// case would map it otherwise, or when an override needs more than the method.
    pub fn required(
        &self,
        method: &str,
        overrides: &[&str],
        path: &NormalPath<'_>,
    ) -> Result<Scope, Unmapped> {
        let scope = self.read_both_cases(method, path)?;
        for &other in overrides {
            // An override the method's scope already covers asks for nothing more.
            let asked = self.read_both_cases(other, path);
            if !asked.is_ok_and(|o| scope.covers(&o)) {
                return Err(Unmapped::Ambiguous(Ambiguity::MethodOverride));
            }
        }
        Ok(scope)
    }

    fn read_both_cases(&self, method: &str, path: &NormalPath<'_>) -> Result<Scope, Unmapped> {
        let scope = self.first_match(method, path);
        if let Some(lower) = path.lowercase()
            && self.first_match(method, &lower) != scope
        {
            return Err(Unmapped::Ambiguous(Ambiguity::Case));
        }
        scope.ok_or(Unmapped::NoRule)
    }

    fn first_match(&self, method: &str, path: &NormalPath<'_>) -> Option<Scope> {
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
    use crate::serve::uri::UriPolicy;
    use proptest::prelude::*;

    fn path(s: &str) -> NormalPath<'_> {
        NormalPath::from_uri(s, UriPolicy::Strict).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn required(rules: &Rules, method: &str, uri: &str) -> Option<String> {
        rules
            .required(method, &[], &path(uri))
            .ok()
            .map(|s| s.to_string())
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
    fn a_path_that_maps_otherwise_in_lower_case_is_ambiguous() {
        let r = Rules::convention();
        let ask = |uri: &str| r.required("GET", &[], &path(uri)).map(|s| s.to_string());
        assert_eq!(ask("/api/cases/AbC9"), Ok("cases:read".into()));
        assert_eq!(
            ask("/api/CASES/1"),
            Err(Unmapped::Ambiguous(Ambiguity::Case))
        );
        assert_eq!(
            ask("/API/cases/1"),
            Err(Unmapped::Ambiguous(Ambiguity::Case))
        );
        assert_eq!(
            ask("/api/Invoices/1"),
            Err(Unmapped::Ambiguous(Ambiguity::Case))
        );
        assert_eq!(ask("/other/X"), Err(Unmapped::NoRule));
        let accented =
            Rules::parse("[[rule]]\nprefix = \"/api/résumés\"\nscope = \"cv:read\"\n").unwrap();
        assert_eq!(
            accented.required("GET", &[], &path("/api/R%C3%89SUM%C3%89S/1")),
            Err(Unmapped::Ambiguous(Ambiguity::Case))
        );
        let rules = Rules::parse(
            "[[rule]]\nprefix = \"/api/admin\"\nscope = \"admin:delete\"\n[[rule]]\nprefix = \"/api\"\nscope = \"misc:read\"\n",
        )
        .unwrap();
        assert_eq!(
            rules.required("GET", &[], &path("/api/ADMIN/users")),
            Err(Unmapped::Ambiguous(Ambiguity::Case))
        );
        assert_eq!(
            rules
                .required("GET", &[], &path("/api/misc/X"))
                .map(|s| s.to_string()),
            Ok("misc:read".into())
        );
    }

    #[test]
    fn a_method_override_may_ask_for_less_never_more() {
        let r = Rules::convention();
        let ask = |method: &str, overrides: &[&str]| {
            r.required(method, overrides, &path("/api/cases/1"))
                .map(|s| s.to_string())
        };
        assert_eq!(ask("POST", &["GET"]), Ok("cases:write".into()));
        assert_eq!(ask("POST", &["PATCH", "PUT"]), Ok("cases:write".into()));
        assert_eq!(ask("DELETE", &["GET"]), Ok("cases:delete".into()));
        let more = Err(Unmapped::Ambiguous(Ambiguity::MethodOverride));
        assert_eq!(ask("GET", &["DELETE"]), more);
        assert_eq!(ask("POST", &["DELETE"]), more);
        assert_eq!(ask("GET", &["GET", "PUT"]), more);
        assert_eq!(ask("GET", &["BREW"]), more);
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

    proptest! {
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
