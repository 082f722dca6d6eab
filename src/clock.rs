//! The current time. Debug builds (the integration tests) may pin it with
//! `TOKENCTL_TEST_NOW=<RFC 3339>`; release builds always read the system clock, so the
//! variable cannot be used to extend a token's life in production.

use chrono::{DateTime, SubsecRound, Utc};

/// Now, in whole seconds: the resolution of every stored time, so that a token created
/// "for 30d" expires exactly 30 days after its `created_at`.
pub fn now() -> DateTime<Utc> {
    #[cfg(debug_assertions)]
    if let Some(t) = std::env::var("TOKENCTL_TEST_NOW")
        .ok()
        .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
    {
        return t.with_timezone(&Utc);
    }
    Utc::now().trunc_subsecs(0)
}
