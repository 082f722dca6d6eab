#![no_main]
//! Scope grammar: parsing never panics, what parses prints back the same, and a set read
//! back from its stored text decides exactly like the set.

use libfuzzer_sys::fuzz_target;
use tokenctl::scope::{Scope, ScopeSet};

fuzz_target!(|data: (&str, &str)| {
    let (list, required) = data;
    if let Ok(scope) = list.parse::<Scope>() {
        assert_eq!(scope.to_string(), list);
    }
    let (Ok(set), Ok(required)) = (ScopeSet::parse_list(list), required.parse::<Scope>()) else {
        return;
    };
    let stored = ScopeSet::parse_list(&set.to_string()).unwrap();
    assert_eq!(stored, set);
    assert_eq!(stored.allows(&required), set.allows(&required));
});
