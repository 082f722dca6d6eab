#![no_main]
//! Rules files: parsing arbitrary text never panics and reports a line inside the file;
//! a parsed file answers `required()` for any method and path without panicking, the
//! same way every time, with a scope that prints back as it parses.
//!
//! Probes: a fixed list, plus one per `# probe METHOD URI` comment in the input (so seeds
//! can carry requests that reach their rules), plus each quoted "/…" string of the file
//! with its wildcards filled in.

use libfuzzer_sys::fuzz_target;
use tokenctl::scope::Scope;
use tokenctl::serve::rules::Rules;
use tokenctl::serve::uri::{NormalPath, UriPolicy};

const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "DELETE", "BREW", "get"];
const URIS: [&str; 8] = [
    "/",
    "/api/cases/1",
    "/api/cases/7/documents/2/raw",
    "/api/import",
    "/api/reports/2026.csv",
    "/api//cases/../x/%2e%2e/y",
    "http://h/api/a?b#c",
    "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let rules = match Rules::parse(text) {
        Ok(rules) => rules,
        Err(e) => {
            assert!(e.line >= 1 && e.line <= text.lines().count() + 1, "{e}");
            assert!(!e.reason.contains('\n'), "{e:?}");
            return;
        }
    };
    let mut probes: Vec<(String, String)> = Vec::new();
    for m in METHODS {
        for u in URIS {
            probes.push((m.to_string(), u.to_string()));
        }
    }
    for line in text.lines() {
        if let Some(probe) = line.trim().strip_prefix("# probe ") {
            let (m, u) = probe.split_once(' ').unwrap_or(("GET", probe));
            probes.push((m.to_string(), u.to_string()));
        }
    }
    for quoted in text.split('"').skip(1).step_by(2) {
        if quoted.starts_with('/') {
            let filled = quoted.replace("**", "x/y").replace(['*', '?'], "z");
            for m in ["GET", "POST"] {
                probes.push((m.to_string(), filled.clone()));
            }
        }
    }
    for (method, uri) in probes.iter().take(256) {
        for policy in [UriPolicy::Strict, UriPolicy::Normalize] {
            let Ok(path) = NormalPath::from_uri(uri, policy) else {
                continue;
            };
            let first = rules.required(method, &[], &path);
            assert_eq!(rules.required(method, &[], &path), first);
            if let Ok(scope) = &first {
                assert_eq!(scope.to_string().parse::<Scope>().unwrap(), *scope);
                // An override that asks for the method itself changes nothing.
                assert_eq!(rules.required(method, &[method.as_str()], &path), first);
            }
        }
    }
});
