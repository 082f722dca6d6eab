#![no_main]
//! Scope grammar: parsing never panics, what parses prints back the same, and the stored
//! text form decides exactly like the parsed set.

use libfuzzer_sys::fuzz_target;
use tokenctl::scope::{Scope, ScopeSet, text_allows};

fuzz_target!(|data: (&str, &str)| {
    let (list, required) = data;
    if let Ok(scope) = list.parse::<Scope>() {
        assert_eq!(scope.to_string(), list);
    }
    let (Ok(set), Ok(required)) = (ScopeSet::parse_list(list), required.parse::<Scope>()) else {
        return;
    };
    assert_eq!(ScopeSet::parse_list(&set.to_string()).unwrap(), set);
    assert_eq!(text_allows(&set.to_string(), &required), set.allows(&required));
});
