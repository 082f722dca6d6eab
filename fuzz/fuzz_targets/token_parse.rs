#![no_main]
//! The token parser: never panics, never accepts what the grammar rejects, and accepts
//! exactly the strings whose checksum holds.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = tokenctl::token::parse(text) {
        assert!(text.len() <= tokenctl::token::MAX_LEN);
        assert!(tokenctl::token::is_valid_prefix(parsed.prefix()));
        assert!(tokenctl::token::is_valid_env(parsed.env()));
        let tail = &text[text.len() - 36..];
        assert_eq!(tokenctl::token::checksum(&tail.as_bytes()[..30]), tail[30..]);
        assert!(!format!("{parsed:?}").contains(&tail[..30]));
    }
});
