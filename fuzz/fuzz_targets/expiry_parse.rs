#![no_main]
//! Durations, dates and RFC 3339 times: never panic; a duration prints in a form that
//! parses back to itself; resolving against the lifetime limits never panics.

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use tokenctl::expiry::{Expiry, Limits, Span};

fuzz_target!(|text: &str| {
    if let Ok(span) = text.parse::<Span>() {
        assert_eq!(span.to_string().parse::<Span>().unwrap(), span);
    }
    if let Ok(expiry) = text.parse::<Expiry>() {
        let now: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
        let limits = Limits {
            default_lifetime: Span::days(90),
            max_lifetime: Some(Span::days(365)),
        };
        if let Ok(Some(at)) = limits.resolve(Some(&expiry), Some(text), now) {
            assert!(at > now && at <= now + Span::days(365).delta());
        }
    }
});
