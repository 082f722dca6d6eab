//! The anomaly rules (README, "Cron: mail abnormal use"): which facts about the last 24
//! hours make a flag.
//!
//! - `NEW_IP`: a source IP first seen in the last 24h, for a token used from other IPs
//!   before.
//! - `SPIKE`: uses in the last 24h above `spike_factor` times the median daily count of
//!   the 30 days before, and at least `spike_min_requests`.
//! - `DENIED_USE`: a revoked or expired token presented after its end, in the last 24h.
//! - `IP_BLOCKED`: uses in the last 24h from outside the token's allow list.
//! - `FLOOD` (about the database, not a token): more than `flood_threshold` uses of
//!   unknown or malformed tokens in the last 24h, someone trying tokens or filling the
//!   usage tables.
//!
//! Pure functions over [`AnomalyFacts`]; the store gathers the facts.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;

use crate::settings::Settings;
use crate::store::TokenRecord;
use crate::usage::{AnomalyFacts, NO_IP, OVERFLOW_IP};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Flag {
    NewIp,
    Spike,
    DeniedUse,
    IpBlocked,
    Flood,
}

impl Flag {
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::NewIp => "NEW_IP",
            Flag::Spike => "SPIKE",
            Flag::DeniedUse => "DENIED_USE",
            Flag::IpBlocked => "IP_BLOCKED",
            Flag::Flood => "FLOOD",
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A flag raised for one token, with what raised it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub flag: Flag,
    pub detail: String,
}

/// The median of the daily counts (the mean of the two middle ones for an even count).
pub fn median(days: &[u64]) -> f64 {
    let mut v = days.to_vec();
    v.sort_unstable();
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2] as f64,
        n => (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0,
    }
}

/// `FLOOD`: the flag about unknown and malformed tokens, if they cross the threshold.
pub fn flood(facts: &AnomalyFacts, settings: &Settings) -> Option<Finding> {
    let s = facts.strangers;
    (s.uses > settings.flood_threshold).then(|| {
        let overflow = if s.overflow_uses > 0 {
            format!(
                ", and {} uses from further sources counted together (more sources in an hour than are stored one by one)",
                s.overflow_uses
            )
        } else {
            String::new()
        };
        Finding {
            flag: Flag::Flood,
            detail: format!(
                "{} uses of unknown or malformed tokens in the last 24h (threshold {}) from {} sources{overflow}",
                s.uses, settings.flood_threshold, s.sources
            ),
        }
    })
}

/// Applies every per-token rule; findings by token key, in flag order.
pub fn detect(
    facts: &AnomalyFacts,
    tokens: &HashMap<i64, &TokenRecord>,
    settings: &Settings,
) -> BTreeMap<i64, Vec<Finding>> {
    let mut out: BTreeMap<i64, Vec<Finding>> = BTreeMap::new();
    let mut add = |key: i64, flag: Flag, detail: String| {
        out.entry(key).or_default().push(Finding { flag, detail });
    };

    let mut new_ips: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for (key, ip, _) in &facts.new_ips {
        new_ips.entry(*key).or_default().push(ip);
    }
    for (key, ips) in new_ips {
        add(
            key,
            Flag::NewIp,
            format!("first seen in the last 24h: {}", ips.join(", ")),
        );
    }

    let mut spikes: Vec<(&i64, &[u64; 31])> = facts.daily.iter().collect();
    spikes.sort_by_key(|(k, _)| **k);
    for (key, days) in spikes {
        let last = days[30];
        let med = median(&days[..30]);
        if last >= settings.spike_min_requests && last as f64 > settings.spike_factor * med {
            add(
                *key,
                Flag::Spike,
                format!(
                    "{} in the last 24h; median of the 30 days before: {med}/day",
                    crate::text::count(last, "request", "requests")
                ),
            );
        }
    }

    for (key, denied) in &facts.denied_after_end {
        add(
            *key,
            Flag::DeniedUse,
            format!(
                "presented {} in the last 24h after it was revoked or expired",
                crate::text::times(*denied)
            ),
        );
    }

    let mut blocked: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (key, ip, uses) in &facts.restricted_ips {
        let Some(token) = tokens.get(key) else {
            continue;
        };
        let outside = match ip.as_str() {
            // Counted in bulk when the server's buffer was full: cannot tell.
            OVERFLOW_IP => false,
            // No address was given, and a restricted token is denied without one.
            NO_IP => true,
            text => text.parse().is_ok_and(|ip| !token.ip_allowed(ip)),
        };
        if outside {
            let shown = if ip.is_empty() {
                "(no IP)"
            } else {
                ip.as_str()
            };
            blocked
                .entry(*key)
                .or_default()
                .push(format!("{shown} ×{uses}"));
        }
    }
    for (key, ips) in blocked {
        add(
            key,
            Flag::IpBlocked,
            format!("outside the allow list: {}", ips.join(", ")),
        );
    }

    for findings in out.values_mut() {
        findings.sort_by_key(|f| f.flag);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3, 1, 2]), 2.0);
        assert_eq!(median(&[4, 1, 2, 3]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn flood_needs_more_than_the_threshold() {
        let settings = Settings::default();
        let mut facts = AnomalyFacts::default();
        facts.strangers.uses = settings.flood_threshold;
        assert_eq!(flood(&facts, &settings), None);
        facts.strangers.uses += 1;
        facts.strangers.overflow_uses = 7;
        let found = flood(&facts, &settings).unwrap();
        assert_eq!(found.flag, Flag::Flood);
        assert!(
            found.detail.contains("7 uses from further sources"),
            "{}",
            found.detail
        );
    }

    #[test]
    fn spike_needs_factor_and_minimum() {
        let settings = Settings::default();
        let tokens = HashMap::new();
        let mut facts = AnomalyFacts::default();
        let mut days = [10u64; 31];
        days[30] = 101; // above 10 × 10, at least 100
        facts.daily.insert(1, days);
        days[30] = 100; // not above 10 × median
        facts.daily.insert(2, days);
        let mut quiet = [0u64; 31];
        quiet[30] = 99; // above 10 × 0, but under the minimum
        facts.daily.insert(3, quiet);
        let found = detect(&facts, &tokens, &settings);
        assert_eq!(found.keys().copied().collect::<Vec<_>>(), vec![1]);
        assert_eq!(found[&1][0].flag, Flag::Spike);
    }
}
