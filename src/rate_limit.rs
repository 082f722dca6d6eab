//! The grammar of a token's rate limit: `N/s`, `N/min` or `N/h` (`100/min`: at most
//! 100 requests in any minute). Only the value and its text; enforcing it is
//! `verify::limiter`'s, storing it the store's.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::text::escape;

/// The most requests a limit may allow per unit: beyond it, a limit limits nothing.
pub const MAX_REQUESTS: u32 = 1_000_000;

/// The unit of time a rate limit counts requests in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    Second,
    Minute,
    Hour,
}

impl Per {
    pub fn seconds(self) -> u32 {
        match self {
            Per::Second => 1,
            Per::Minute => 60,
            Per::Hour => 3_600,
        }
    }

    /// The unit of this many seconds, as stored.
    pub fn from_seconds(seconds: i64) -> Option<Per> {
        [Per::Second, Per::Minute, Per::Hour]
            .into_iter()
            .find(|p| i64::from(p.seconds()) == seconds)
    }

    /// The unit's short word, as written after the slash.
    pub fn short(self) -> &'static str {
        match self {
            Per::Second => "s",
            Per::Minute => "min",
            Per::Hour => "h",
        }
    }
}

/// At most `requests` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Per,
}

impl RateLimit {
    /// A limit from its stored columns; `None` when they are not one (a damaged row).
    pub fn from_stored(requests: i64, per_seconds: i64) -> Option<RateLimit> {
        let requests = u32::try_from(requests).ok()?;
        let per = Per::from_seconds(per_seconds)?;
        (1..=MAX_REQUESTS)
            .contains(&requests)
            .then_some(RateLimit { requests, per })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.requests, self.per.short())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{}' is not a rate limit: use a number of requests per s, min or h (1 to {MAX_REQUESTS}), for example 10/s, 100/min or 5000/h",
    escape(.0)
)]
pub struct RateLimitError(String);

impl FromStr for RateLimit {
    type Err = RateLimitError;

    fn from_str(s: &str) -> Result<RateLimit, RateLimitError> {
        let err = || RateLimitError(s.to_string());
        let (count, unit) = s.split_once('/').ok_or_else(err)?;
        // Digits only: no sign, no spaces, no `1e3`.
        if count.is_empty() || count.len() > 7 || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let requests: u32 = count.parse().map_err(|_| err())?;
        let per = match unit {
            "s" | "sec" | "second" => Per::Second,
            "min" | "minute" => Per::Minute,
            "h" | "hour" => Per::Hour,
            _ => return Err(err()),
        };
        if !(1..=MAX_REQUESTS).contains(&requests) {
            return Err(err());
        }
        Ok(RateLimit { requests, per })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        let limit = |s: &str| s.parse::<RateLimit>().map(|l| l.to_string());
        assert_eq!(limit("10/s").unwrap(), "10/s");
        assert_eq!(limit("100/min").unwrap(), "100/min");
        assert_eq!(limit("100/minute").unwrap(), "100/min");
        assert_eq!(limit("5000/h").unwrap(), "5000/h");
        assert_eq!(limit("1000000/hour").unwrap(), "1000000/h");
        for bad in [
            "",
            "10",
            "/s",
            "10/",
            "0/s",
            "-1/s",
            "+1/s",
            "1.5/s",
            "10/m",
            "10/d",
            "10 /s",
            "10/s ",
            "1e3/s",
            "1000001/s",
            "99999999/s",
            "10/S",
            "10//s",
            "10/s/s",
        ] {
            assert!(limit(bad).is_err(), "{bad:?} was accepted");
        }
        let shown = "\u{1b}[31m/s".parse::<RateLimit>().unwrap_err().to_string();
        assert!(!shown.contains('\u{1b}'), "{shown}");
    }

    fn unit() -> impl Strategy<Value = (&'static str, Per)> {
        prop_oneof![
            Just(("s", Per::Second)),
            Just(("sec", Per::Second)),
            Just(("second", Per::Second)),
            Just(("min", Per::Minute)),
            Just(("minute", Per::Minute)),
            Just(("h", Per::Hour)),
            Just(("hour", Per::Hour)),
        ]
    }

    proptest! {
        /// Every limit in range reads back as itself, from every spelling of its unit,
        /// and its canonical text reads back to the same limit.
        #[test]
        fn every_valid_limit_round_trips(n in 1..=MAX_REQUESTS, (word, per) in unit()) {
            let parsed: RateLimit = format!("{n}/{word}").parse().unwrap();
            prop_assert_eq!(parsed, RateLimit { requests: n, per });
            prop_assert_eq!(parsed.to_string().parse::<RateLimit>().unwrap(), parsed);
            let stored = RateLimit::from_stored(i64::from(n), i64::from(per.seconds()));
            prop_assert_eq!(stored, Some(parsed));
        }

        /// Counts out of range are refused, however they are written.
        #[test]
        fn out_of_range_counts_are_refused(n in (MAX_REQUESTS + 1)..u32::MAX, (word, _) in unit()) {
            let text = format!("{n}/{word}");
            prop_assert!(text.parse::<RateLimit>().is_err());
            prop_assert!("0/s".parse::<RateLimit>().is_err());
        }

        /// Arbitrary text never panics, and what is accepted is in the grammar.
        #[test]
        fn arbitrary_text_is_accepted_only_in_the_grammar(s in "\\PC{0,12}") {
            if let Ok(limit) = s.parse::<RateLimit>() {
                let (count, word) = s.split_once('/').unwrap();
                prop_assert_eq!(count.parse::<u32>().unwrap(), limit.requests);
                prop_assert!(["s", "sec", "second", "min", "minute", "h", "hour"].contains(&word));
            }
        }
    }
}
