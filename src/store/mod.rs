//! What tokenctl keeps, in the product's words: tokens, settings, the admin event log and
//! usage counters. The types here are backend-neutral; the contract every backend keeps
//! is in `backend`, its errors in `error`. [`Store`] is the closed set of backends, and
//! the only way in: commands, the verifier and the server call its methods, which
//! dispatch to the backend (`dispatch`). The location of the database (`location`)
//! chooses the backend: `sqlite/` for a file, `postgres/` for a PostgreSQL URL; they are
//! the only modules that know SQL or name a driver.

mod backend;
mod dispatch;
mod error;
pub mod location;
mod postgres;
pub mod records;
pub mod signal;
mod sqlite;
#[cfg(test)]
pub(crate) mod tests;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::Serialize;

use crate::rate_limit::RateLimit;
use crate::scope::ScopeSet;
use crate::token::TokenHash;

pub use backend::{Backend, Configuration, EventLog, Import, Revision, Tokens, UsageCounters};
pub use error::{Error, Failure, Refusal, Result};
pub use location::Location;
pub use records::Copied;
pub use sqlite::allocator::{CAllocator, allocate_with as sqlite_allocates_with};
#[cfg(test)]
pub(crate) use sqlite::testing;

/// An open tokenctl database, of one of the backends.
pub enum Store {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Store::Sqlite(s) => s.fmt(f),
            Store::Postgres(p) => p.fmt(f),
        }
    }
}

/// How a command opens the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the database if it does not exist: the admin commands that write something
    /// worth keeping (`init`, `create`, `config set`).
    Create,
    /// The database must exist already, for an admin command: on a full disk it is opened
    /// for this command alone (so that a revocation can still be written), and the space
    /// reserve beside it is kept.
    Admin,
    /// The database must exist already: `verify` and `serve`, which must never conjure up
    /// an empty database and must fail closed when theirs is missing.
    Existing,
}

/// Where a store's warnings go as they arise ([`Backend::report_warnings_to`]).
pub type WarningSink = Box<dyn Fn(&str) + Send>;

/// The kind of a failure and the advice on it, from the backend whose driver raised it.
fn classify(err: &anyhow::Error) -> Option<(error::Kind, Option<&'static str>)> {
    sqlite::classify(err).or_else(|| postgres::classify(err))
}

/// What `prune` removed (or would remove).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Pruned {
    pub usage_rows: u64,
    pub stranger_rows: u64,
    pub uses: u64,
}

/// What `prune --tokens` deleted (or would delete): the tokens, by id, and the usage
/// counters that went with them. Their admin events are kept.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PrunedTokens {
    pub ids: Vec<String>,
    pub usage_rows: u64,
    pub uses: u64,
}

/// A token's lifecycle state, computed at read time from its timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    /// Rotated to a successor, and still working until its grace period ends.
    Rotating,
    /// Refused until resumed; its expiry runs on.
    Suspended,
    Expired,
    Revoked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Rotating => "rotating",
            Status::Suspended => "suspended",
            Status::Expired => "expired",
            Status::Revoked => "revoked",
        }
    }

    /// Whether a token of this status is accepted: active, or in its rotation grace.
    pub fn works(self) -> bool {
        matches!(self, Status::Active | Status::Rotating)
    }

    /// Neither revoked nor expired: working, or suspended and able to work again.
    pub fn is_live(self) -> bool {
        self.works() || self == Status::Suspended
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One token as stored: metadata only, never the secret.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    /// Internal row key, used by usage counters.
    pub(crate) key: i64,
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub env: String,
    pub scopes: ScopeSet,
    pub allowed_ips: Vec<IpNet>,
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
    pub rotated_from: Option<String>,
    pub rotated_to: Option<String>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    pub suspended_at: Option<DateTime<Utc>>,
    pub suspend_reason: Option<String>,
    pub rate_limit: Option<RateLimit>,
}

impl TokenRecord {
    /// Whether this token may be rotated (read under the rotation's write lock): a token
    /// is rotated once, and a revoked one not at all. Every backend asks this.
    pub(crate) fn check_rotatable(&self) -> Result<()> {
        if self.revoked_at.is_some() {
            return Err(Error::invalid(format!(
                "token {} is revoked; create a new token instead of rotating it",
                self.id
            )));
        }
        if self.suspended_at.is_some() {
            return Err(Error::invalid(format!(
                "token {} is suspended; resume it before rotating it (its successor would work)",
                self.id
            )));
        }
        if let Some(to) = &self.rotated_to {
            return Err(Error::invalid(format!(
                "token {} was already rotated to {to}; rotate {to} instead",
                self.id
            )));
        }
        Ok(())
    }

    /// Whether this token may be suspended, resumed or given a rate limit now (read under
    /// the change's write lock): not once it is revoked or expired, when nothing about it
    /// can matter again. Every backend asks this.
    pub(crate) fn check_live(&self, change: &str, now: DateTime<Utc>) -> Result<()> {
        match self.status(now) {
            Status::Revoked | Status::Expired => Err(Error::invalid(format!(
                "token {} is {}; it cannot {change}",
                self.id,
                self.status(now)
            ))),
            _ => Ok(()),
        }
    }

    /// The internal row key that usage counters refer to ([`crate::usage::Presented`]).
    pub fn key(&self) -> i64 {
        self.key
    }

    pub fn status(&self, now: DateTime<Utc>) -> Status {
        match status_at(
            self.revoked_at,
            self.expires_at,
            self.suspended_at.is_some(),
            now,
        ) {
            Status::Active if self.rotated_to.is_some() => Status::Rotating,
            status => status,
        }
    }

    /// Whether `ip` may use this token (an empty allow list allows every address).
    pub fn ip_allowed(&self, ip: std::net::IpAddr) -> bool {
        crate::allowlist::allows(&self.allowed_ips, ip)
    }
}

/// Revoked wins over expired, expired over suspended (a suspension does not stop the
/// clock); a token is expired from exactly `expires_at` on.
fn status_at(
    revoked_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    suspended: bool,
    now: DateTime<Utc>,
) -> Status {
    if revoked_at.is_some() {
        Status::Revoked
    } else if expires_at.is_some_and(|e| now >= e) {
        Status::Expired
    } else if suspended {
        Status::Suspended
    } else {
        Status::Active
    }
}

/// What verification reads of a token: only the fields its checks need, parsed once when
/// read (verifiers cache it), so that each request compares and does not parse.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub(crate) key: i64,
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub env: Arc<str>,
    /// Canonical space-separated grants, as in `X-Token-Scopes`.
    pub scopes: Arc<str>,
    /// The same grants, parsed.
    pub scope_set: ScopeSet,
    /// Empty allows every address.
    pub allowed_ips: Vec<IpNet>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub suspended: bool,
    pub rate_limit: Option<RateLimit>,
    /// When the token was issued (introspection's `iat`).
    pub created_at: DateTime<Utc>,
}

impl Credential {
    /// Never [`Status::Rotating`]: verification treats a token in its grace period as
    /// any working one, and does not read its rotation.
    pub fn status(&self, now: DateTime<Utc>) -> Status {
        status_at(self.revoked_at, self.expires_at, self.suspended, now)
    }

    pub fn ip_allowed(&self, ip: std::net::IpAddr) -> bool {
        crate::allowlist::allows(&self.allowed_ips, ip)
    }
}

/// Everything needed to insert a token; the secret itself is not among it.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub hash: TokenHash,
    pub hint: String,
    pub name: String,
    pub description: Option<String>,
    pub env: String,
    pub scopes: ScopeSet,
    pub allowed_ips: Vec<IpNet>,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit: Option<RateLimit>,
}

impl NewToken {
    /// The details its `create` event keeps, the same on every backend: the rate limit
    /// only when it has one (as `--rate-limit` takes it: `100/min`).
    pub(crate) fn create_details(&self) -> serde_json::Value {
        let mut details = serde_json::json!({
            "name": self.name,
            "env": self.env,
            "scopes": self.scopes,
            "expires_at": self.expires_at.map(crate::render::rfc3339_text),
        });
        if let Some(limit) = self.rate_limit {
            details["rate_limit"] = serde_json::Value::String(limit.to_string());
        }
        details
    }
}

/// The active tokens that share a name: how many, and the ids of the newest few (some
/// whenever the count is not 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SameName {
    pub count: u64,
    /// At most the number asked for, oldest first.
    pub newest: Vec<String>,
}

/// Which tokens `list` shows.
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    /// `None`: every status.
    pub status: Option<Status>,
    pub env: Option<String>,
    /// Only tokens that expire before this moment.
    pub expiring_before: Option<DateTime<Utc>>,
    /// Only tokens not presented since this moment (never-used ones count from creation).
    pub unused_since: Option<DateTime<Utc>>,
}

/// What `revoke` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Revocation {
    Revoked(TokenRecord),
    AlreadyRevoked(TokenRecord),
}

/// What a suspension, a resumption or a new rate limit did: the token as it is
/// afterwards, and whether anything changed (suspending a suspended token does not).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenChange {
    pub token: TokenRecord,
    pub changed: bool,
}

/// How the old token ends when it is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldTokenEnd {
    /// It keeps working until this moment (never later than its own expiry).
    ExpiresAt(DateTime<Utc>),
    /// `--grace 0`: revoked at once.
    RevokedNow,
}

/// One entry of the admin event log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdminEvent {
    pub seq: i64,
    #[serde(with = "crate::render::rfc3339")]
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub token_id: Option<String>,
    pub details: serde_json::Value,
}

/// What `backup` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupReport {
    /// The copy's full path.
    pub path: std::path::PathBuf,
    pub bytes: u64,
    /// Tokens in the copy, of every status.
    pub tokens: u64,
}
