#![no_main]
//! The form of `/introspect` and `/revoke` (`serve::form::parse`): never panics; a form
//! it accepts has a token that is not empty, and a token it returns, encoded again byte
//! by byte, parses back to itself.

use libfuzzer_sys::fuzz_target;
use tokenctl::serve::form::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(form) = parse(data) else {
        return;
    };
    assert!(!form.token.is_empty());
    let encoded: String = form.token.iter().map(|b| format!("%{b:02X}")).collect();
    let again = parse(format!("token={encoded}").as_bytes()).expect("an encoded token parses");
    assert_eq!(again.token, form.token);
});
