//! Scopes: `<module>:<access>` grants and the rule that decides whether a grant covers a
//! required scope.
//!
//! Access is ordered `read` < `write` < `delete`; a higher access includes the lower ones.
//! The module `*` stands for every module. Nothing here knows about storage or requests.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::text::escape;

/// Longest module name, after the first letter (`[a-z][a-z0-9_-]{0,31}`).
const MODULE_MAX_LEN: usize = 32;

/// The most grants one token may hold. `serve` hands a token's grants to the proxy in one
/// `X-Token-Scopes` header, and nginx answers 500 when an auth response's head does not
/// fit its `proxy_buffer_size`, one memory page (4 KiB) by default. 50 grants with the
/// longest module name (39 characters each, as `<32 letters>:delete`) take 2,000 bytes,
/// which leaves room for the other headers and the longest name (100 characters,
/// percent-encoded: at most 1,200 bytes). A token that needs more should get wider grants.
pub const MAX_GRANTS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    Read,
    Write,
    Delete,
}

impl Access {
    pub const ALL: [Access; 3] = [Access::Read, Access::Write, Access::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Delete => "delete",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Access {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        Access::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| ScopeError::UnknownAccess(s.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Module {
    /// `*`: every module.
    All,
    Named(String),
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Module::All => f.write_str("*"),
            Module::Named(n) => f.write_str(n),
        }
    }
}

/// The module of tokenctl's own endpoints (`serve`'s `/introspect` needs
/// `tokenctl:read`): always accepted whatever the modules catalogue says, never in it,
/// never mapped to an API's request, and not covered by `*`, so that a token may ask
/// tokenctl about other tokens only when it was issued for that by name.
pub const RESERVED_MODULE: &str = "tokenctl";

impl Module {
    /// Whether this is [`RESERVED_MODULE`].
    pub fn is_reserved(&self) -> bool {
        matches!(self, Module::Named(n) if n == RESERVED_MODULE)
    }
}

/// Whether `s` is a well-formed module name (`[a-z][a-z0-9_-]{0,31}`); `*` is not.
pub fn is_valid_module(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MODULE_MAX_LEN
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

impl FromStr for Module {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        if s == "*" {
            Ok(Module::All)
        } else if is_valid_module(s) {
            Ok(Module::Named(s.to_string()))
        } else {
            Err(ScopeError::BadModule(s.to_string()))
        }
    }
}

/// One grant or requirement: a module and an access level.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    pub module: Module,
    pub access: Access,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("scope '{}' is not of the form <module>:<access> (for example cases:read)", escape(.0))]
    Shape(String),
    #[error(
        "module '{}' is not valid: use lowercase letters, digits, '_' or '-', starting with a letter (at most 32), or '*'",
        escape(.0)
    )]
    BadModule(String),
    #[error("access '{}' is not one of read, write, delete", escape(.0))]
    UnknownAccess(String),
}

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        let (module, access) = s
            .split_once(':')
            .ok_or_else(|| ScopeError::Shape(s.to_string()))?;
        Ok(Scope {
            module: module.parse()?,
            access: access.parse()?,
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.module, self.access)
    }
}

impl Serialize for Scope {
    /// The same text as `Display`, put together on the stack: `list --json` writes one
    /// per grant of every token, and the formatting machinery cost more than the rest.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let module = match &self.module {
            Module::All => "*",
            Module::Named(n) => n.as_str(),
        };
        let access = self.access.as_str();
        let mut text = [0u8; MODULE_MAX_LEN + ":delete".len()];
        let len = module.len() + 1 + access.len();
        if len > text.len() {
            // Only a module built by hand, not parsed, can be that long.
            return s.collect_str(self);
        }
        text[..module.len()].copy_from_slice(module.as_bytes());
        text[module.len()] = b':';
        text[module.len() + 1..len].copy_from_slice(access.as_bytes());
        s.serialize_str(std::str::from_utf8(&text[..len]).map_err(serde::ser::Error::custom)?)
    }
}

impl Scope {
    /// Whether this grant covers `required`.
    pub fn covers(&self, required: &Scope) -> bool {
        let module_ok = match (&self.module, &required.module) {
            (Module::All, required) => !required.is_reserved(),
            (Module::Named(_), Module::All) => false,
            (Module::Named(a), Module::Named(b)) => a == b,
        };
        module_ok && self.access >= required.access
    }

    /// `*:delete`: everything. Refused unless the admin says `--unrestricted`.
    pub fn is_unrestricted(&self) -> bool {
        self.module == Module::All && self.access == Access::Delete
    }
}

/// The grants of one token, in canonical form: sorted, and without a grant that another
/// one already covers (`cases:read cases:write` is `cases:write`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> ScopeSet {
        let mut all: Vec<Scope> = scopes.into_iter().collect();
        // Found first, then removed in place: no grant is copied, and a set read back
        // from the store (canonical already) allocates nothing more.
        let covered: Vec<usize> = (0..all.len())
            .filter(|&i| {
                all.iter()
                    .enumerate()
                    .any(|(j, o)| j != i && o.covers(&all[i]) && (*o != all[i] || j < i))
            })
            .collect();
        for i in covered.into_iter().rev() {
            all.remove(i);
        }
        all.sort();
        ScopeSet(all)
    }

    /// Parses the space-separated form the store keeps.
    pub fn parse_list(s: &str) -> Result<ScopeSet, ScopeError> {
        s.split_whitespace()
            .map(str::parse)
            .collect::<Result<Vec<Scope>, _>>()
            .map(ScopeSet::new)
    }

    /// How many grants, in canonical form.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn allows(&self, required: &Scope) -> bool {
        self.0.iter().any(|g| g.covers(required))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// Module names used by these grants (not `*`).
    pub fn modules(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|s| match &s.module {
            Module::Named(n) => Some(n.as_str()),
            Module::All => None,
        })
    }
}

impl fmt::Display for ScopeSet {
    /// Space-separated, as stored and as sent in `X-Token-Scopes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

/// The module catalogue (setting `modules`) refused a module; carries a suggestion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown module '{}'{}; known modules: {}",
    escape(&self.module),
    self.suggestion.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default(),
    self.known.join(", ")
)]
pub struct UnknownModule {
    pub module: String,
    pub suggestion: Option<String>,
    pub known: Vec<String>,
}

/// Checks every named module against the catalogue; an empty catalogue accepts all, and
/// every catalogue accepts the [`RESERVED_MODULE`].
pub fn check_catalogue(scopes: &ScopeSet, catalogue: &[String]) -> Result<(), UnknownModule> {
    if catalogue.is_empty() {
        return Ok(());
    }
    for m in scopes.modules().filter(|m| *m != RESERVED_MODULE) {
        if !catalogue.iter().any(|k| k == m) {
            let suggestion = catalogue
                .iter()
                .map(|k| (strsim::jaro_winkler(m, k), k))
                .filter(|(score, _)| *score >= 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, k)| k.clone());
            return Err(UnknownModule {
                module: m.to_string(),
                suggestion,
                known: catalogue.to_vec(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(x: &str) -> Scope {
        x.parse().unwrap()
    }

    #[test]
    fn access_order() {
        assert!(Access::Read < Access::Write && Access::Write < Access::Delete);
        assert!(s("cases:delete").covers(&s("cases:read")));
        assert!(s("cases:write").covers(&s("cases:write")));
        assert!(!s("cases:read").covers(&s("cases:write")));
    }

    #[test]
    fn module_matching() {
        assert!(!s("cases:write").covers(&s("invoices:read")));
        assert!(s("*:read").covers(&s("invoices:read")));
        assert!(!s("*:read").covers(&s("invoices:write")));
        assert!(!s("cases:delete").covers(&s("*:read")));
        assert!(s("*:delete").is_unrestricted());
        assert!(!s("*:write").is_unrestricted());
    }

    /// Only a grant that names the reserved module covers it: `*` is every API module.
    #[test]
    fn the_reserved_module_is_granted_by_name_only() {
        assert!(s("tokenctl:read").covers(&s("tokenctl:read")));
        assert!(s("tokenctl:write").covers(&s("tokenctl:read")));
        assert!(!s("*:delete").covers(&s("tokenctl:read")));
        let set = ScopeSet::new([s("*:read"), s("tokenctl:read")]);
        assert_eq!(set.to_string(), "*:read tokenctl:read");
        let catalogue = vec!["cases".to_string()];
        assert!(check_catalogue(&ScopeSet::new([s("tokenctl:read")]), &catalogue).is_ok());
        assert!(check_catalogue(&ScopeSet::new([s("billing:read")]), &catalogue).is_err());
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            "cases".parse::<Scope>(),
            Err(ScopeError::Shape("cases".into()))
        );
        assert_eq!(
            "cases:admin".parse::<Scope>(),
            Err(ScopeError::UnknownAccess("admin".into()))
        );
        assert_eq!(
            "Cases:read".parse::<Scope>(),
            Err(ScopeError::BadModule("Cases".into()))
        );
        assert!(":read".parse::<Scope>().is_err());
        assert!("a:read:x".parse::<Scope>().is_err());
        assert!(format!("{}:read", "a".repeat(33)).parse::<Scope>().is_err());
        assert!(format!("{}:read", "a".repeat(32)).parse::<Scope>().is_ok());
    }

    #[test]
    fn canonical_set() {
        let set = ScopeSet::new([
            s("cases:read"),
            s("cases:write"),
            s("billing:read"),
            s("cases:write"),
        ]);
        assert_eq!(set.to_string(), "billing:read cases:write");
        let set = ScopeSet::new([s("cases:read"), s("*:read")]);
        assert_eq!(set.to_string(), "*:read");
        assert_eq!(
            ScopeSet::parse_list("b:read a:delete").unwrap().to_string(),
            "a:delete b:read"
        );
    }

    #[test]
    fn catalogue_suggests() {
        let cat: Vec<String> = ["cases", "invoices", "contacts"].map(String::from).to_vec();
        let set = ScopeSet::new([s("invoice:read")]);
        let err = check_catalogue(&set, &cat).unwrap_err();
        assert_eq!(err.suggestion.as_deref(), Some("invoices"));
        assert!(err.to_string().contains("did you mean 'invoices'"));
        assert!(check_catalogue(&ScopeSet::new([s("*:read"), s("cases:write")]), &cat).is_ok());
        assert!(check_catalogue(&set, &[]).is_ok());
        let err = check_catalogue(&ScopeSet::new([s("zzz:read")]), &cat).unwrap_err();
        assert_eq!(err.suggestion, None);
    }

    /// A module too long to parse, built by hand, is still written whole.
    #[test]
    fn json_of_a_long_module() {
        let long = Scope {
            module: Module::Named("m".repeat(40)),
            access: Access::Delete,
        };
        let json = serde_json::to_string(&long).unwrap();
        assert_eq!(json, format!("\"{}:delete\"", "m".repeat(40)));
    }

    proptest! {
        #[test]
        fn display_round_trips(m in "[a-z][a-z0-9_-]{0,31}|\\*", a in 0usize..3) {
            let text = format!("{m}:{}", Access::ALL[a]);
            let scope: Scope = text.parse().unwrap();
            prop_assert_eq!(scope.to_string(), text.clone());
            // JSON is the same text, written without `Display`.
            prop_assert_eq!(serde_json::to_string(&scope).unwrap(), format!("\"{text}\""));
        }

        #[test]
        fn canonical_set_allows_what_the_input_allowed(
            grants in proptest::collection::vec(("[ab*]", 0usize..3), 1..6),
            req in ("[ab]", 0usize..3),
        ) {
            let scopes: Vec<Scope> = grants.iter()
                .map(|(m, a)| format!("{m}:{}", Access::ALL[*a]).parse().unwrap())
                .collect();
            let required: Scope = format!("{}:{}", req.0, Access::ALL[req.1]).parse().unwrap();
            let before = scopes.iter().any(|g| g.covers(&required));
            prop_assert_eq!(ScopeSet::new(scopes).allows(&required), before);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,50}") {
            let _ = text.parse::<Scope>();
        }
    }
}
