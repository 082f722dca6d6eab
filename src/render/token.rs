//! The JSON shape of a token, shared by every view that shows one (README, "JSON").

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::rate_limit::RateLimit;
use crate::store::{Status, TokenRecord};
use crate::text::{rfc3339, rfc3339_opt};
use crate::usage::Requests;

/// A token as every JSON output shows it, and what its human forms are drawn from.
#[derive(Debug, Serialize)]
pub struct TokenJson<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub env: &'a str,
    pub scopes: &'a crate::scope::ScopeSet,
    pub allowed_ips: Vec<String>,
    pub status: Status,
    pub hint: &'a str,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    pub created_by: &'a str,
    #[serde(with = "rfc3339_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339_opt")]
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<&'a str>,
    #[serde(with = "rfc3339_opt")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<&'a str>,
    pub requests_24h: u64,
    pub requests_7d: u64,
    pub requests_30d: u64,
    pub rotated_from: Option<&'a str>,
    pub rotated_to: Option<&'a str>,
    #[serde(with = "rfc3339_opt")]
    pub suspended_at: Option<DateTime<Utc>>,
    pub suspend_reason: Option<&'a str>,
    /// `{"requests": 100, "per": "minute"}`, or null for no limit.
    pub rate_limit: Option<RateLimit>,
}

impl<'a> TokenJson<'a> {
    pub fn new(t: &'a TokenRecord, requests: &Requests, now: DateTime<Utc>) -> TokenJson<'a> {
        TokenJson {
            id: &t.id,
            name: &t.name,
            description: t.description.as_deref(),
            env: &t.env,
            scopes: &t.scopes,
            allowed_ips: t.allowed_ips.iter().map(|n| n.to_string()).collect(),
            status: t.status(now),
            hint: &t.hint,
            created_at: t.created_at,
            created_by: &t.created_by,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            revoke_reason: t.revoke_reason.as_deref(),
            last_used_at: t.last_used_at,
            last_used_ip: t.last_used_ip.as_deref(),
            requests_24h: requests.total_24h(),
            requests_7d: requests.total_7d(),
            requests_30d: requests.total_30d(),
            rotated_from: t.rotated_from.as_deref(),
            rotated_to: t.rotated_to.as_deref(),
            suspended_at: t.suspended_at,
            suspend_reason: t.suspend_reason.as_deref(),
            rate_limit: t.rate_limit,
        }
    }
}
