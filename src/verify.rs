//! Deciding whether a presented token may make a request, and recording that it tried.
//!
//! The checks run in a fixed order: shape and checksum (no database access for a
//! malformed token), lookup by hash, revoked, expired, environment, allowed IPs, scope.
//! A revocation committed by another process denies the very next verification: see
//! [`CredentialCache`] for why the cache cannot outlive it. Any error (the database
//! missing, locked, corrupt) is returned as an error, which callers treat as a denial:
//! verification fails closed.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::scope::{Scope, ScopeSet, text_allows};
use crate::store::{Credential, OpenMode, Status, Store};
use crate::token::{self, TokenHash};
use crate::usage::{Outcome, Presented, UsageBuffer};

/// What is being asked: a token (raw bytes, as presented) and the request's context.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub token: &'a [u8],
    /// The scope the request needs; `None` checks the token alone.
    pub scope: Option<&'a Scope>,
    /// The client's address; a token with an allow list is denied without one.
    pub ip: Option<IpAddr>,
    /// The environment this server runs in; `None` accepts every environment.
    pub env: Option<&'a str>,
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("token", &"<redacted>")
            .field("scope", &self.scope)
            .field("ip", &self.ip)
            .field("env", &self.env)
            .finish()
    }
}

impl<'a> Request<'a> {
    /// A request carrying `token`, with no scope, IP or environment to check yet.
    pub fn new(token: &'a (impl AsRef<[u8]> + ?Sized)) -> Request<'a> {
        Request {
            token: token.as_ref(),
            scope: None,
            ip: None,
            env: None,
        }
    }
    pub fn scope(mut self, scope: &'a Scope) -> Self {
        self.scope = Some(scope);
        self
    }
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }
    pub fn env(mut self, env: &'a str) -> Self {
        self.env = Some(env);
        self
    }
}

/// Why a token was refused (SPEC §7's reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    Malformed,
    Unknown,
    Revoked,
    Expired,
    WrongEnv,
    IpNotAllowed,
    InsufficientScope,
}

impl DenyReason {
    pub const ALL: [DenyReason; 7] = [
        DenyReason::Malformed,
        DenyReason::Unknown,
        DenyReason::Revoked,
        DenyReason::Expired,
        DenyReason::WrongEnv,
        DenyReason::IpNotAllowed,
        DenyReason::InsufficientScope,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::Malformed => "malformed",
            DenyReason::Unknown => "unknown",
            DenyReason::Revoked => "revoked",
            DenyReason::Expired => "expired",
            DenyReason::WrongEnv => "wrong_env",
            DenyReason::IpNotAllowed => "ip_not_allowed",
            DenyReason::InsufficientScope => "insufficient_scope",
        }
    }

    /// Forbidden (HTTP 403, exit 4): a genuine token asked for something it may not do.
    /// Otherwise unauthenticated (HTTP 401, exit 3).
    pub fn is_forbidden(self) -> bool {
        matches!(
            self,
            DenyReason::WrongEnv | DenyReason::IpNotAllowed | DenyReason::InsufficientScope
        )
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An allowed request: which token, and what it may do.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub token_id: Arc<str>,
    pub name: Arc<str>,
    pub env: Arc<str>,
    /// The token's grants, canonical and space-separated (`cases:write documents:read`).
    pub scopes: Arc<str>,
}

impl Grant {
    /// The grants as a set, to check further scopes.
    pub fn scope_set(&self) -> ScopeSet {
        ScopeSet::parse_list(&self.scopes).unwrap_or_default()
    }
}

/// A refused request; the token's id and name when it was one of ours.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    pub reason: DenyReason,
    pub token_id: Option<Arc<str>>,
    pub name: Option<Arc<str>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Allowed(Grant),
    Denied(Denial),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }
}

/// Verifies tokens against one store connection and records each use into a buffer that
/// [`flush`](Verifier::flush) (or a server's flusher) commits.
///
/// ```
/// use tokenctl::{Request, Store, Verifier, Decision};
/// # fn main() -> anyhow::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("tokens.db");
/// # let mut store = tokenctl::Store::open(&path, tokenctl::OpenMode::Create)?;
/// # let made = tokenctl::token::generate("tok", "live")?;
/// # store.create_token(&tokenctl::store::NewToken {
/// #     hash: made.hash, hint: made.hint.clone(), name: "importer".into(), description: None,
/// #     env: "live".into(), scopes: tokenctl::ScopeSet::parse_list("cases:read")?,
/// #     allowed_ips: vec![], expires_at: None,
/// # }, "admin", chrono::Utc::now())?;
/// # let secret = made.secret.expose().to_string();
/// let mut verifier = Verifier::open(&path)?;
/// let scope = "cases:read".parse()?;
/// let ip = "203.0.113.7".parse()?;
/// let request = Request::new(&secret).scope(&scope).ip(ip).env("live");
/// match verifier.verify(&request)? {
///     Decision::Allowed(grant) => println!("hello, {}", grant.name),
///     Decision::Denied(denial) => println!("no: {}", denial.reason),
/// }
/// # assert!(verifier.verify(&request)?.is_allowed());
/// verifier.flush()?; // commit the recorded use
/// # Ok(()) }
/// ```
pub struct Verifier {
    store: Store,
    usage: Arc<UsageBuffer>,
    record: bool,
    cache: CredentialCache,
}

/// Credentials read since the database last changed, by token hash.
///
/// Why this can never serve a revoked token: before every lookup the verifier reads
/// `PRAGMA data_version`, which SQLite changes whenever any other connection — another
/// process's `tokenctl revoke`, a rotation, a server's usage flusher — has committed since
/// this connection's previous read. Any change empties the cache. A revocation that
/// committed before a request arrived therefore reaches that request through a fresh
/// SELECT. Expiry needs no invalidation: it is computed from `expires_at` at request time.
/// Only this verifier's own connection could write without changing the number, and it
/// only writes usage counters, never a credential.
#[derive(Default)]
struct CredentialCache {
    version: Option<i64>,
    entries: HashMap<TokenHash, Arc<Credential>, BuildHasherDefault<DigestHasher>>,
}

/// Keys of the cache are SHA-256 digests of tokens that exist, already uniformly
/// distributed and not chosen by an attacker: their first bytes are the hash.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl CredentialCache {
    /// Bounds memory: a flood of distinct valid tokens only empties the cache more often.
    const MAX_ENTRIES: usize = 10_000;

    fn get(&mut self, store: &Store, hash: &TokenHash) -> Result<Option<Arc<Credential>>> {
        let version = store.data_version()?;
        if self.version != Some(version) {
            self.entries.clear();
            self.version = Some(version);
        }
        if let Some(c) = self.entries.get(hash) {
            return Ok(Some(Arc::clone(c)));
        }
        let Some(found) = store.credential_by_hash(hash)? else {
            return Ok(None);
        };
        if self.entries.len() >= Self::MAX_ENTRIES {
            self.entries.clear();
        }
        let found = Arc::new(found);
        self.entries.insert(*hash, Arc::clone(&found));
        Ok(Some(found))
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("store", &self.store)
            .field("record", &self.record)
            .finish()
    }
}

impl Verifier {
    /// Opens an existing database (never creates one: a missing database denies).
    pub fn open(path: &Path) -> Result<Verifier> {
        Ok(Verifier::new(Store::open(path, OpenMode::Existing)?))
    }

    pub fn new(store: Store) -> Verifier {
        Verifier::with_buffer(store, Arc::new(UsageBuffer::new()))
    }

    /// A verifier that records into a buffer shared with other verifiers (one per thread
    /// of a server) and flushed by someone else.
    pub fn with_buffer(store: Store, usage: Arc<UsageBuffer>) -> Verifier {
        Verifier {
            store,
            usage,
            record: true,
            cache: CredentialCache::default(),
        }
    }

    /// Turns recording off (`verify --no-record`).
    pub fn without_recording(mut self) -> Verifier {
        self.record = false;
        self
    }

    pub fn usage(&self) -> &Arc<UsageBuffer> {
        &self.usage
    }

    /// Verifies at the current time.
    pub fn verify(&mut self, request: &Request<'_>) -> Result<Decision> {
        self.verify_at(request, crate::clock::now())
    }

    /// Verifies as of `now`, and records the use.
    pub fn verify_at(&mut self, request: &Request<'_>, now: DateTime<Utc>) -> Result<Decision> {
        let (presented, decision) = self.decide(request, now)?;
        if self.record {
            let outcome = if decision.is_allowed() {
                Outcome::Allowed
            } else {
                Outcome::Denied
            };
            self.usage.record(presented, request.ip, outcome, now);
        }
        Ok(decision)
    }

    fn decide(
        &mut self,
        request: &Request<'_>,
        now: DateTime<Utc>,
    ) -> Result<(Presented, Decision)> {
        let deny = |presented, reason, token: Option<&Credential>| {
            Ok((
                presented,
                Decision::Denied(Denial {
                    reason,
                    token_id: token.map(|t| t.id.clone()),
                    name: token.map(|t| t.name.clone()),
                }),
            ))
        };
        let parsed = match std::str::from_utf8(request.token)
            .ok()
            .and_then(|t| token::parse(t).ok())
        {
            Some(p) => p,
            None => return deny(Presented::Malformed, DenyReason::Malformed, None),
        };
        let Some(t) = self.cache.get(&self.store, &parsed.hash())? else {
            return deny(Presented::Unknown, DenyReason::Unknown, None);
        };
        let presented = Presented::Token(t.key);
        let reason = match t.status(now) {
            Status::Revoked => Some(DenyReason::Revoked),
            Status::Expired => Some(DenyReason::Expired),
            Status::Active if request.env.is_some_and(|e| e != &*t.env) => {
                Some(DenyReason::WrongEnv)
            }
            Status::Active
                if !request
                    .ip
                    .map_or(t.allowed_ips.is_empty(), |ip| t.ip_allowed(ip)) =>
            {
                Some(DenyReason::IpNotAllowed)
            }
            Status::Active if request.scope.is_some_and(|s| !text_allows(&t.scopes, s)) => {
                Some(DenyReason::InsufficientScope)
            }
            Status::Active => None,
        };
        if let Some(reason) = reason {
            return deny(presented, reason, Some(&t));
        }
        Ok((
            presented,
            Decision::Allowed(Grant {
                token_id: Arc::clone(&t.id),
                name: Arc::clone(&t.name),
                env: Arc::clone(&t.env),
                scopes: Arc::clone(&t.scopes),
            }),
        ))
    }

    /// Commits the recorded uses in one transaction. On failure the uses go back into the
    /// buffer for the next attempt. Returns how many uses were committed.
    pub fn flush(&mut self) -> Result<u64> {
        flush(&mut self.store, &self.usage)
    }
}

/// Commits `buffer` into `store` (the flusher of a server uses its own connection).
pub fn flush(store: &mut Store, buffer: &UsageBuffer) -> Result<u64> {
    let batch = buffer.take();
    if batch.uses == 0 {
        return Ok(0);
    }
    match store.record_usage(&batch) {
        Ok(()) => Ok(batch.uses),
        Err(e) => {
            buffer.restore(batch);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewToken;
    use chrono::TimeDelta;

    fn issue(store: &mut Store, scopes: &str, now: DateTime<Utc>) -> (String, String) {
        let g = token::generate("tok", "live").unwrap();
        let rec = store
            .create_token(
                &NewToken {
                    hash: g.hash,
                    hint: g.hint,
                    name: "t".into(),
                    description: None,
                    env: "live".into(),
                    scopes: ScopeSet::parse_list(scopes).unwrap(),
                    allowed_ips: vec![],
                    expires_at: Some(now + TimeDelta::days(1)),
                },
                "test",
                now,
            )
            .unwrap();
        (rec.id, g.secret.expose().to_string())
    }

    fn reason(v: &mut Verifier, secret: &str, now: DateTime<Utc>) -> Option<DenyReason> {
        match v.verify_at(&Request::new(secret), now).unwrap() {
            Decision::Allowed(_) => None,
            Decision::Denied(d) => Some(d.reason),
        }
    }

    /// The cache of a long-lived verifier never outlives a change made by another
    /// connection: revocation, rotation, and its own flushes in between.
    #[test]
    fn cached_credentials_follow_other_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let now = crate::clock::now();
        let mut admin = Store::open(&path, OpenMode::Create).unwrap();
        let (id, secret) = issue(&mut admin, "cases:read", now);
        let (other_id, other) = issue(&mut admin, "cases:read", now);
        let mut v = Verifier::open(&path).unwrap();
        for _ in 0..3 {
            assert_eq!(reason(&mut v, &secret, now), None);
        }
        v.flush().unwrap();
        assert_eq!(reason(&mut v, &secret, now), None);
        admin.revoke_token(&id, None, "test", now).unwrap();
        assert_eq!(reason(&mut v, &secret, now), Some(DenyReason::Revoked));
        // A rotation's grace period shortens the old token's life: seen at once too.
        assert_eq!(reason(&mut v, &other, now), None);
        let (next, _) = {
            let g = token::generate("tok", "live").unwrap();
            let n = NewToken {
                hash: g.hash,
                hint: g.hint,
                name: "t".into(),
                description: None,
                env: "live".into(),
                scopes: ScopeSet::parse_list("cases:read").unwrap(),
                allowed_ips: vec![],
                expires_at: None,
            };
            (n, g.secret)
        };
        let end = now + TimeDelta::minutes(5);
        admin
            .rotate_token(
                &other_id,
                &next,
                crate::store::OldTokenEnd::ExpiresAt(end),
                "test",
                now,
            )
            .unwrap();
        assert_eq!(reason(&mut v, &other, now), None);
        assert_eq!(reason(&mut v, &other, end), Some(DenyReason::Expired));
    }

    #[test]
    fn debug_output_holds_no_token() {
        let g = token::generate("tok", "live").unwrap();
        let secret = g.secret.expose();
        let scope: Scope = "cases:read".parse().unwrap();
        let request = Request::new(secret).scope(&scope).env("live");
        let shown = format!("{request:?} {g:?} {:?}", token::parse(secret).unwrap());
        assert!(!shown.contains(&secret[9..39]), "{shown}");
    }

    #[test]
    fn storage_errors_are_errors_not_decisions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let now = crate::clock::now();
        let mut admin = Store::open(&path, OpenMode::Create).unwrap();
        let (_, secret) = issue(&mut admin, "cases:read", now);
        let mut v = Verifier::open(&path).unwrap();
        assert_eq!(reason(&mut v, &secret, now), None);
        admin
            .conn_for_tests()
            .execute_batch("PRAGMA foreign_keys = OFF; DROP TABLE tokens;")
            .unwrap();
        assert!(v.verify_at(&Request::new(&secret), now).is_err());
    }
}
