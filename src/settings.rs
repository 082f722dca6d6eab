//! The per-database settings (README, "Settings"): their names, defaults, validation and
//! typed form.
//!
//! The store keeps each as a `key = value` text pair so every admin and process shares
//! them; this module is the only place that knows what a valid value is.

use serde::Serialize;

use crate::expiry::{Limits, Span};
use crate::scope::{RESERVED_MODULE, is_valid_module};
use crate::text::escape;
use crate::token::is_valid_prefix;

/// One setting: its name, default and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

pub const KEYS: &[Key] = &[
    Key {
        name: "token_prefix",
        default: "tok",
        help: "prefix of new tokens, 2-8 lowercase letters",
    },
    Key {
        name: "default_lifetime",
        default: "90d",
        help: "lifetime of a token created without --expires",
    },
    Key {
        name: "max_lifetime",
        default: "365d",
        help: "longest lifetime allowed, or 'none' (then 'never' is allowed)",
    },
    Key {
        name: "modules",
        default: "",
        help: "comma-separated module catalogue; empty accepts any well-formed module",
    },
    Key {
        name: "usage_retention",
        default: "400d",
        help: "usage older than this is deleted by 'tokenctl prune'",
    },
    Key {
        name: "token_retention",
        default: "400d",
        help: "tokens revoked or expired longer ago are deleted by 'tokenctl prune --tokens'",
    },
    Key {
        name: "spike_factor",
        default: "10",
        help: "SPIKE: last 24h above this many times the median daily count of the 30 days before",
    },
    Key {
        name: "spike_min_requests",
        default: "100",
        help: "SPIKE: and at least this many requests in the last 24h",
    },
    Key {
        name: "flood_threshold",
        default: "10000",
        help: "FLOOD: more than this many uses of unknown or malformed tokens in the last 24h",
    },
];

pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// Settings in typed form, defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    pub token_prefix: String,
    #[serde(serialize_with = "ser_span")]
    pub default_lifetime: Span,
    #[serde(serialize_with = "ser_opt_span")]
    pub max_lifetime: Option<Span>,
    pub modules: Vec<String>,
    #[serde(serialize_with = "ser_span")]
    pub usage_retention: Span,
    #[serde(serialize_with = "ser_span")]
    pub token_retention: Span,
    pub spike_factor: f64,
    pub spike_min_requests: u64,
    pub flood_threshold: u64,
}

fn ser_span<S: serde::Serializer>(s: &Span, ser: S) -> Result<S::Ok, S::Error> {
    ser.collect_str(s)
}

fn ser_opt_span<S: serde::Serializer>(s: &Option<Span>, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        Some(s) => ser.collect_str(s),
        None => ser.serialize_str("none"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error(
        "unknown setting '{}'; settings are: {}",
        escape(.0),
        KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
    )]
    UnknownKey(String),
    #[error("invalid value '{}' for {key}: {why}", escape(value))]
    BadValue {
        key: String,
        value: String,
        why: String,
    },
}

impl Default for Settings {
    fn default() -> Settings {
        Settings::from_pairs(std::iter::empty::<(&str, &str)>()).expect("defaults are valid")
    }
}

impl Settings {
    /// Builds settings from stored pairs; keys not given take their default. Unknown keys
    /// are ignored so that an older tokenctl can read a database a newer one configured.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Settings, SettingError> {
        let mut s = Settings {
            token_prefix: String::new(),
            default_lifetime: Span::ZERO,
            max_lifetime: None,
            modules: Vec::new(),
            usage_retention: Span::ZERO,
            token_retention: Span::ZERO,
            spike_factor: 0.0,
            spike_min_requests: 0,
            flood_threshold: 0,
        };
        let pairs: Vec<(K, V)> = pairs.into_iter().collect();
        for k in KEYS {
            let value = pairs
                .iter()
                .find(|(name, _)| name.as_ref() == k.name)
                .map(|(_, v)| v.as_ref())
                .unwrap_or(k.default);
            s.apply(k.name, value)?;
        }
        s.check_consistency()?;
        Ok(s)
    }

    /// Validates `value` for `name` and returns the normalized text to store.
    pub fn with(&self, name: &str, value: &str) -> Result<(Settings, String), SettingError> {
        let mut next = self.clone();
        let normalized = next.apply(name, value)?;
        next.check_consistency()?;
        Ok((next, normalized))
    }

    /// The limits `create` and `rotate` apply.
    pub fn limits(&self) -> Limits {
        Limits {
            default_lifetime: self.default_lifetime,
            max_lifetime: self.max_lifetime,
        }
    }

    /// The normalized text of one setting, as `config get` prints it.
    pub fn value_of(&self, name: &str) -> Option<String> {
        Some(match name {
            "token_prefix" => self.token_prefix.clone(),
            "default_lifetime" => self.default_lifetime.to_string(),
            "max_lifetime" => self
                .max_lifetime
                .map(|s| s.to_string())
                .unwrap_or_else(|| "none".into()),
            "modules" => self.modules.join(","),
            "usage_retention" => self.usage_retention.to_string(),
            "token_retention" => self.token_retention.to_string(),
            "spike_factor" => self.spike_factor.to_string(),
            "spike_min_requests" => self.spike_min_requests.to_string(),
            "flood_threshold" => self.flood_threshold.to_string(),
            _ => return None,
        })
    }

    fn apply(&mut self, name: &str, value: &str) -> Result<String, SettingError> {
        let bad = |why: &str| SettingError::BadValue {
            key: name.to_string(),
            value: value.to_string(),
            why: why.to_string(),
        };
        let span = |v: &str| -> Result<Span, SettingError> {
            v.parse::<Span>()
                .map_err(|_| bad("use a duration such as 12h, 30d, 6w or 1y"))
        };
        match name {
            "token_prefix" => {
                if !is_valid_prefix(value) {
                    return Err(bad("use 2 to 8 lowercase letters"));
                }
                self.token_prefix = value.to_string();
            }
            "default_lifetime" => {
                let s = span(value)?;
                if s == Span::ZERO {
                    return Err(bad("must be longer than 0"));
                }
                self.default_lifetime = s;
            }
            "max_lifetime" => {
                self.max_lifetime = if value == "none" {
                    None
                } else {
                    let s = span(value)?;
                    if s == Span::ZERO {
                        return Err(bad("must be longer than 0, or 'none'"));
                    }
                    Some(s)
                };
            }
            "modules" => {
                let mut list: Vec<String> = value
                    .split([',', ' '])
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect();
                if let Some(m) = list.iter().find(|m| !is_valid_module(m)) {
                    return Err(bad(&format!(
                        "module '{}' is not [a-z][a-z0-9_-]{{0,31}}",
                        escape(m)
                    )));
                }
                if list.iter().any(|m| m == RESERVED_MODULE) {
                    return Err(bad(&format!(
                        "module '{RESERVED_MODULE}' is reserved for tokenctl's own endpoints (it is always accepted): leave it out"
                    )));
                }
                list.sort();
                list.dedup();
                self.modules = list;
            }
            "usage_retention" => {
                let s = span(value)?;
                if s < Span::days(1) {
                    return Err(bad("must be at least 1d"));
                }
                self.usage_retention = s;
            }
            "token_retention" => {
                let s = span(value)?;
                if s < Span::days(1) {
                    return Err(bad("must be at least 1d"));
                }
                self.token_retention = s;
            }
            "spike_factor" => {
                let f: f64 = value
                    .parse()
                    .ok()
                    .filter(|f: &f64| f.is_finite() && *f >= 1.0)
                    .ok_or_else(|| bad("use a number of at least 1, such as 10"))?;
                self.spike_factor = f;
            }
            "spike_min_requests" => {
                self.spike_min_requests = value
                    .parse()
                    .map_err(|_| bad("use a whole number, such as 100"))?;
            }
            "flood_threshold" => {
                self.flood_threshold = value
                    .parse()
                    .map_err(|_| bad("use a whole number, such as 10000"))?;
            }
            _ => return Err(SettingError::UnknownKey(name.to_string())),
        }
        Ok(self.value_of(name).expect("known key"))
    }

    fn check_consistency(&self) -> Result<(), SettingError> {
        if let Some(max) = self.max_lifetime
            && self.default_lifetime > max
        {
            return Err(SettingError::BadValue {
                key: "default_lifetime".into(),
                value: self.default_lifetime.to_string(),
                why: format!("longer than max_lifetime ({max}); change one of them first"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let s = Settings::default();
        assert_eq!(s.token_prefix, "tok");
        assert_eq!(s.default_lifetime, Span::days(90));
        assert_eq!(s.max_lifetime, Some(Span::days(365)));
        assert!(s.modules.is_empty());
        assert_eq!(s.usage_retention, Span::days(400));
        assert_eq!(s.token_retention, Span::days(400));
        for k in KEYS {
            assert_eq!(s.value_of(k.name).unwrap(), k.default.replace("365d", "1y"));
        }
    }

    #[test]
    fn validation() {
        let s = Settings::default();
        assert!(s.with("token_prefix", "T0K").is_err());
        assert!(s.with("nope", "1").is_err());
        assert!(s.with("default_lifetime", "400d").is_err());
        assert!(s.with("max_lifetime", "30d").is_err(), "below default 90d");
        assert_eq!(s.with("max_lifetime", "none").unwrap().1, "none");
        let (next, v) = s.with("modules", "invoices, cases,,cases").unwrap();
        assert_eq!(v, "cases,invoices");
        assert_eq!(next.modules, vec!["cases", "invoices"]);
        assert!(s.with("modules", "Cases").is_err());
        assert!(s.with("modules", "cases,tokenctl").is_err());
        assert_eq!(s.with("modules", "").unwrap().1, "");
        assert!(s.with("spike_factor", "NaN").is_err());
        assert!(s.with("spike_min_requests", "-1").is_err());
        assert!(s.with("usage_retention", "1h").is_err());
        assert!(s.with("token_retention", "1h").is_err());
        assert!(s.with("flood_threshold", "many").is_err());
        assert_eq!(
            s.with("flood_threshold", "500").unwrap().0.flood_threshold,
            500
        );
    }
}
