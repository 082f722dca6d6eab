//! Which scope a request needs: the default convention (`/api/<module>/…`, method →
//! access) or the rules of a rules file ([`rules`](super::rules)), applied to the path
//! [`uri`](super::uri) has read. A request that nothing maps needs a scope no token has,
//! so it is denied: the [`Unmapped`] found here travels in the question to the verifier.
//!
//! Rules match case-sensitively, but Express, ASP.NET and Spring route case-insensitively,
//! so a path that maps to another scope once its letters are lower-cased is ambiguous and
//! denied (rule patterns must therefore be lower case). A method override
//! (`X-HTTP-Method-Override` and its kin) that needs more than the method is denied too.

use super::rules::{Fallback, PathPattern, Rule, Rules};
use super::uri::NormalPath;
use crate::scope::{Access, Module, RESERVED_MODULE, Scope, is_valid_module};
use crate::verify::{Ambiguity, Unmapped};

impl Rules {
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
    // The reserved module names tokenctl's own endpoints, never an API's.
    let module = segments
        .next()
        .filter(|m| is_valid_module(m) && *m != RESERVED_MODULE)?;
    Some(Scope {
        module: Module::Named(module.to_string()),
        access,
    })
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
            ("GET", "/api/tokenctl/tokens", None),
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
