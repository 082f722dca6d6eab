//! Durations (`12h`, `30d`, `6w`, `1y`, `1d12h`), expiry dates, and the lifetime rules:
//! the default lifetime, the maximum, and `never`.
//!
//! Times are UTC throughout; a bare date means 00:00 UTC on that day.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::text::escape;

const UNITS: [(char, i64); 6] = [
    ('y', 365 * 86_400),
    ('w', 7 * 86_400),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];
/// Longer than any lifetime anyone means; keeps arithmetic far from overflow.
const MAX_SECONDS: i64 = 1_000 * 365 * 86_400;

/// A non-negative span of whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(i64);

impl Span {
    pub const ZERO: Span = Span(0);

    pub fn seconds(s: i64) -> Span {
        Span(s)
    }
    pub fn hours(h: i64) -> Span {
        Span(h * 3_600)
    }
    pub fn days(d: i64) -> Span {
        Span(d * 86_400)
    }
    pub fn as_secs(self) -> i64 {
        self.0
    }
    pub fn delta(self) -> TimeDelta {
        TimeDelta::seconds(self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{}' is not a duration: use a number and a unit (s, m, h, d, w, y), for example 12h, 30d, 6w, 1y or 1d12h",
    escape(.0)
)]
pub struct SpanError(String);

impl FromStr for Span {
    type Err = SpanError;
    fn from_str(s: &str) -> Result<Span, SpanError> {
        let err = || SpanError(s.to_string());
        if s == "0" {
            return Ok(Span::ZERO);
        }
        if s.is_empty() {
            return Err(err());
        }
        let mut total: i64 = 0;
        let mut rest = s;
        let mut last_unit = usize::MAX;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 12 {
                return Err(err());
            }
            let n: i64 = rest[..digits].parse().map_err(|_| err())?;
            let unit = rest[digits..].chars().next().ok_or_else(err)?;
            // Units must come from largest to smallest, each at most once: `1d12h`, not `12h1d`.
            let idx = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(err)?;
            if last_unit != usize::MAX && idx <= last_unit {
                return Err(err());
            }
            last_unit = idx;
            total = n
                .checked_mul(UNITS[idx].1)
                .and_then(|v| total.checked_add(v))
                .filter(|v| *v <= MAX_SECONDS)
                .ok_or_else(err)?;
            rest = &rest[digits + 1..];
        }
        Ok(Span(total))
    }
}

impl fmt::Display for Span {
    /// A canonical form: whole years or weeks when the span is exactly that (`1y`, `6w`),
    /// else days, hours, minutes and seconds (`90d`, `400d`, `1d12h`); `0` for zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0");
        }
        for (unit, secs) in &UNITS[..2] {
            if self.0 % secs == 0 {
                return write!(f, "{}{unit}", self.0 / secs);
            }
        }
        let mut rest = self.0;
        for (unit, secs) in &UNITS[2..] {
            if rest >= *secs {
                write!(f, "{}{unit}", rest / secs)?;
                rest %= secs;
            }
        }
        Ok(())
    }
}

/// A token's lifetime, from its creation to its expiry, in whole seconds and at least one;
/// `None` for a token that never expires. A rotation or a replacement keeps it.
pub fn lifetime(created: DateTime<Utc>, expires: Option<DateTime<Utc>>) -> Option<Span> {
    expires.map(|end| Span::seconds((end - created).num_seconds().max(1)))
}

/// What `--expires` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// Now plus a duration.
    In(Span),
    /// A moment: a date (00:00 UTC) or an RFC 3339 time.
    At(DateTime<Utc>),
    Never,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{}' is not an expiry: give a duration (12h, 30d, 6w, 1y), a date (2027-03-01), an RFC 3339 time (2027-03-01T12:00:00Z) or 'never'",
    escape(.0)
)]
pub struct ExpiryError(String);

impl FromStr for Expiry {
    type Err = ExpiryError;
    fn from_str(s: &str) -> Result<Expiry, ExpiryError> {
        if s == "never" {
            return Ok(Expiry::Never);
        }
        if let Ok(span) = s.parse::<Span>() {
            return Ok(Expiry::In(span));
        }
        if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
            && s.len() == 10
        {
            let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
            return Ok(Expiry::At(midnight.and_utc()));
        }
        DateTime::parse_from_rfc3339(s)
            .map(|t| Expiry::At(t.with_timezone(&Utc)))
            .map_err(|_| ExpiryError(s.to_string()))
    }
}

/// The lifetime limits of the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub default_lifetime: Span,
    /// `None`: no maximum, and `never` is allowed.
    pub max_lifetime: Option<Span>,
}

/// Why an expiry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifetimeError {
    #[error("expiry '{}' is not in the future", escape(.0))]
    NotInFuture(String),
    #[error(
        "expiry '{}' is beyond the maximum lifetime of {max} (setting max_lifetime)",
        escape(asked)
    )]
    TooLong { asked: String, max: Span },
    #[error("tokens that never expire are not allowed while max_lifetime is {0}")]
    NeverNotAllowed(Span),
}

impl LifetimeError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            LifetimeError::NeverNotAllowed(_) => {
                Some("set max_lifetime to 'none' first: tokenctl config set max_lifetime none")
            }
            _ => None,
        }
    }
}

impl Limits {
    /// Turns `--expires` (or its absence) into the moment the token stops working.
    /// `Ok(None)` means never. `raw` is the text the user gave, for messages.
    pub fn resolve(
        &self,
        expiry: Option<&Expiry>,
        raw: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, LifetimeError> {
        let default = Expiry::In(self.default_lifetime);
        let expiry = expiry.unwrap_or(&default);
        let shown = raw.map(str::to_string).unwrap_or_else(|| match expiry {
            Expiry::In(s) => s.to_string(),
            _ => String::new(),
        });
        let at = match expiry {
            Expiry::Never => {
                return match self.max_lifetime {
                    None => Ok(None),
                    Some(max) => Err(LifetimeError::NeverNotAllowed(max)),
                };
            }
            Expiry::In(span) => now + span.delta(),
            Expiry::At(t) => *t,
        };
        if at <= now {
            return Err(LifetimeError::NotInFuture(shown));
        }
        if let Some(max) = self.max_lifetime
            && at > now + max.delta()
        {
            return Err(LifetimeError::TooLong { asked: shown, max });
        }
        Ok(Some(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn span(s: &str) -> Span {
        s.parse().unwrap()
    }

    #[test]
    fn durations() {
        assert_eq!(span("12h"), Span::hours(12));
        assert_eq!(span("30d"), Span::days(30));
        assert_eq!(span("6w"), Span::days(42));
        assert_eq!(span("1y"), Span::days(365));
        assert_eq!(span("1d12h"), Span::hours(36));
        assert_eq!(span("90s"), Span::seconds(90));
        assert_eq!(span("0"), Span::ZERO);
        for bad in [
            "",
            "d",
            "12",
            "-1d",
            "1.5d",
            "1 d",
            "12x",
            "1h1d",
            "1d1d",
            "99999999999999d",
            "1d ",
            "１d",
        ] {
            assert!(bad.parse::<Span>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(Span::days(90).to_string(), "90d");
        assert_eq!(Span::days(365).to_string(), "1y");
        assert_eq!(Span::days(42).to_string(), "6w");
        assert_eq!(Span::hours(36).to_string(), "1d12h");
        assert_eq!(Span::days(400).to_string(), "400d");
        assert_eq!(Span::days(366).to_string(), "366d");
        assert_eq!(Span::ZERO.to_string(), "0");
    }

    #[test]
    fn expiries() {
        assert_eq!("30d".parse::<Expiry>().unwrap(), Expiry::In(Span::days(30)));
        assert_eq!("never".parse::<Expiry>().unwrap(), Expiry::Never);
        let at = "2027-03-01".parse::<Expiry>().unwrap();
        assert_eq!(at, Expiry::At("2027-03-01T00:00:00Z".parse().unwrap()));
        let at = "2027-03-01T12:00:00+02:00".parse::<Expiry>().unwrap();
        assert_eq!(at, Expiry::At("2027-03-01T10:00:00Z".parse().unwrap()));
        for bad in ["2027-02-30", "2027-3-1", "tomorrow", "2027-03-01 12:00", ""] {
            assert!(bad.parse::<Expiry>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn limits() {
        let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let limits = Limits {
            default_lifetime: Span::days(90),
            max_lifetime: Some(Span::days(365)),
        };
        assert_eq!(
            limits.resolve(None, None, now).unwrap(),
            Some(now + TimeDelta::days(90))
        );
        let y2 = Expiry::In(Span::days(400));
        assert!(matches!(
            limits.resolve(Some(&y2), Some("400d"), now),
            Err(LifetimeError::TooLong { .. })
        ));
        assert!(
            limits
                .resolve(Some(&Expiry::In(Span::days(365))), None, now)
                .is_ok()
        );
        let past = Expiry::At("2025-12-31T00:00:00Z".parse().unwrap());
        assert!(matches!(
            limits.resolve(Some(&past), None, now),
            Err(LifetimeError::NotInFuture(_))
        ));
        assert!(matches!(
            limits.resolve(Some(&Expiry::In(Span::ZERO)), None, now),
            Err(LifetimeError::NotInFuture(_))
        ));
        assert!(matches!(
            limits.resolve(Some(&Expiry::Never), None, now),
            Err(LifetimeError::NeverNotAllowed(_))
        ));
        let open = Limits {
            max_lifetime: None,
            ..limits
        };
        assert_eq!(open.resolve(Some(&Expiry::Never), None, now).unwrap(), None);
    }

    proptest! {
        #[test]
        fn display_round_trips(secs in 0i64..MAX_SECONDS) {
            let s = Span::seconds(secs);
            prop_assert_eq!(s.to_string().parse::<Span>().unwrap(), s);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,30}") {
            let _ = text.parse::<Span>();
            let _ = text.parse::<Expiry>();
        }

        #[test]
        fn composed_durations_add_up(parts in proptest::collection::btree_map(0usize..6, 1i64..1000, 1..4)) {
            let text: String = parts.iter().map(|(i, n)| format!("{n}{}", UNITS[*i].0)).collect();
            let expect: i64 = parts.iter().map(|(i, n)| n * UNITS[*i].1).sum();
            // Up to 999 years and 999 weeks can exceed the 1000-year limit: refused then.
            let parsed = text.parse::<Span>().ok().map(|s| s.as_secs());
            prop_assert_eq!(parsed, (expect <= MAX_SECONDS).then_some(expect));
        }
    }
}
