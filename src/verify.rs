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
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::scope::Scope;
use crate::store::{Credential, OpenMode, Revision, Status, Store};
use crate::token::{self, TokenHash};
use crate::usage::{Outcome, Presented, UsageBuffer};

/// What is being asked: a token (raw bytes, as presented) and the request's context.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub token: &'a [u8],
    /// The scope the request needs; `None` checks the token alone.
    pub scope: Option<&'a Scope>,
    /// The request maps to no scope at all (a server's rules do not cover it): even a
    /// genuine, active token is denied, as `insufficient_scope`, after the other checks.
    pub unmapped: bool,
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
            .field("unmapped", &self.unmapped)
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
            unmapped: false,
            ip: None,
            env: None,
        }
    }
    pub fn scope(mut self, scope: &'a Scope) -> Self {
        self.scope = Some(scope);
        self
    }
    /// Marks the request as needing a scope no token can have (see the `unmapped` field).
    pub fn unmapped(mut self) -> Self {
        self.unmapped = true;
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
    /// When the file at the database's path was last found to be the one open.
    file_checked: Option<Instant>,
}

/// How long a verifier trusts that the database at its path is still the one it has
/// open. Looking costs a `stat` on SQLite, a fifth of a verification's time; a database
/// replaced under a running verifier is an operator's mistake to catch soon, while
/// revocations, which must count from the next request, are seen through the store's
/// revision instead.
pub const FILE_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Credentials read since the database last changed, by token hash.
///
/// Why this can never serve a revoked token, given the storage contract
/// ([`crate::store::Backend`]): before every lookup, in the same snapshot as the lookups,
/// the verifier reads the store's [`Revision`], which changes in the same transaction as
/// any credential change, whoever committed it. Any change empties the cache. A
/// revocation that committed before a request arrived therefore reaches that request
/// through a fresh lookup. Expiry needs no invalidation: it is computed from `expires_at`
/// at request time. A database deleted or replaced at its path, which no revision would
/// reveal, is caught by [`Store::check_same_database`] (at most [`FILE_CHECK_INTERVAL`]
/// later), and denies.
#[derive(Default)]
struct CredentialCache {
    revision: Option<Revision>,
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

    /// Empties the cache if the store's revision changed since it was filled. Must run
    /// before [`lookup`](Self::lookup), in the same read snapshot when there is one.
    fn validate(&mut self, store: &Store) -> Result<()> {
        let revision = store.revision()?;
        if self.revision != Some(revision) {
            self.entries.clear();
            self.revision = Some(revision);
        }
        Ok(())
    }

    /// The credential with this hash, from the cache or the database. Unknown hashes are
    /// never cached: only tokens of this database take room.
    fn lookup(&mut self, store: &Store, hash: &TokenHash) -> Result<Option<Arc<Credential>>> {
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
            file_checked: None,
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
        let decided = match hash_of(request) {
            None => Ok(malformed()),
            Some(hash) => self
                .check_file()
                .and_then(|()| self.cache.validate(&self.store))
                .and_then(|()| self.cache.lookup(&self.store, &hash))
                .map(|found| judge(request, now, found.as_deref())),
        };
        self.record_use(request, now, decided)
    }

    /// Verifies requests that have all arrived already (a server's batch) as of `now`,
    /// each as [`verify_at`](Verifier::verify_at) would, but against one snapshot of the
    /// database: one read transaction, and its locks, instead of one per request. The
    /// snapshot is taken during this call, after every one of them arrived, so it holds
    /// every revocation committed before any of them: none is decided on older data.
    pub fn verify_all_at(
        &mut self,
        requests: &[Request<'_>],
        now: DateTime<Utc>,
    ) -> Vec<Result<Decision>> {
        if requests.len() == 1 {
            return vec![self.verify_at(&requests[0], now)];
        }
        if let Err(e) = self.check_file() {
            return requests
                .iter()
                .map(|_| Err(anyhow::anyhow!("{e:#}")))
                .collect();
        }
        let Verifier { store, cache, .. } = self;
        let decided = store.in_one_snapshot(|| -> Result<Vec<Result<(Presented, Decision)>>> {
            cache.validate(store)?;
            Ok(requests
                .iter()
                .map(|r| match hash_of(r) {
                    None => Ok(malformed()),
                    Some(hash) => Ok(judge(r, now, cache.lookup(store, &hash)?.as_deref())),
                })
                .collect())
        });
        match decided.map_err(anyhow::Error::from).and_then(|d| d) {
            Ok(decided) => requests
                .iter()
                .zip(decided)
                .map(|(r, d)| self.record_use(r, now, d))
                .collect(),
            Err(e) => requests
                .iter()
                .map(|_| Err(anyhow::anyhow!("{e:#}")))
                .collect(),
        }
    }

    /// [`Store::check_same_database`], at most every [`FILE_CHECK_INTERVAL`]; once it failed, it
    /// fails for every request until the verifier is re-created.
    fn check_file(&mut self) -> Result<()> {
        if self
            .file_checked
            .is_some_and(|t| t.elapsed() < FILE_CHECK_INTERVAL)
        {
            return Ok(());
        }
        self.store.check_same_database()?;
        self.file_checked = Some(Instant::now());
        Ok(())
    }

    fn record_use(
        &self,
        request: &Request<'_>,
        now: DateTime<Utc>,
        decided: Result<(Presented, Decision)>,
    ) -> Result<Decision> {
        let (presented, decision) = decided?;
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

    /// Commits the recorded uses in one transaction. On failure the uses go back into the
    /// buffer for the next attempt. Returns how many uses were committed.
    pub fn flush(&mut self) -> Result<u64> {
        flush(&mut self.store, &self.usage)
    }
}

/// The hash to look up; `None` for a malformed token (shape or checksum), which is
/// refused without any database access.
fn hash_of(request: &Request<'_>) -> Option<TokenHash> {
    let text = std::str::from_utf8(request.token).ok()?;
    token::parse(text).ok().map(|p| p.hash())
}

fn malformed() -> (Presented, Decision) {
    deny(Presented::Malformed, DenyReason::Malformed, None)
}

fn deny(
    presented: Presented,
    reason: DenyReason,
    token: Option<&Credential>,
) -> (Presented, Decision) {
    (
        presented,
        Decision::Denied(Denial {
            reason,
            token_id: token.map(|t| Arc::clone(&t.id)),
            name: token.map(|t| Arc::clone(&t.name)),
        }),
    )
}

/// The checks after the lookup, in SPEC order: unknown, revoked, expired, environment,
/// allowed IPs, scope.
fn judge(
    request: &Request<'_>,
    now: DateTime<Utc>,
    found: Option<&Credential>,
) -> (Presented, Decision) {
    let Some(t) = found else {
        return deny(Presented::Unknown, DenyReason::Unknown, None);
    };
    let presented = Presented::Token(t.key);
    let reason = match t.status(now) {
        Status::Revoked => Some(DenyReason::Revoked),
        Status::Expired => Some(DenyReason::Expired),
        Status::Active if request.env.is_some_and(|e| e != &*t.env) => Some(DenyReason::WrongEnv),
        Status::Active
            if !request
                .ip
                .map_or(t.allowed_ips.is_empty(), |ip| t.ip_allowed(ip)) =>
        {
            Some(DenyReason::IpNotAllowed)
        }
        Status::Active
            if request.unmapped || request.scope.is_some_and(|s| !t.scope_set.allows(s)) =>
        {
            Some(DenyReason::InsufficientScope)
        }
        Status::Active => None,
    };
    if let Some(reason) = reason {
        return deny(presented, reason, Some(t));
    }
    (
        presented,
        Decision::Allowed(Grant {
            token_id: Arc::clone(&t.id),
            name: Arc::clone(&t.name),
            env: Arc::clone(&t.env),
            scopes: Arc::clone(&t.scopes),
        }),
    )
}

/// Commits `buffer` into `store` (the flusher of a server uses its own connection); never
/// into a database that is no longer at the store's path (see
/// [`Store::check_same_database`]).
pub fn flush(store: &mut Store, buffer: &UsageBuffer) -> Result<u64> {
    let batch = buffer.take();
    if batch.uses == 0 {
        return Ok(0);
    }
    match store
        .check_same_database()
        .and_then(|()| store.record_usage(&batch))
    {
        Ok(()) => Ok(batch.uses),
        Err(e) => {
            buffer.restore(batch);
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ScopeSet;
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

    /// SQLite would go on reading a deleted or replaced file through its descriptor; the
    /// verifier notices, and denies: it cannot safely switch to the new file (see
    /// [`Store::check_same_database`]), even one in which the token is revoked.
    #[test]
    fn a_replaced_or_deleted_database_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let now = crate::clock::now();
        let mut admin = Store::open(&path, OpenMode::Create).unwrap();
        let (id, secret) = issue(&mut admin, "cases:read", now);
        // A copy in which the token is revoked, as a restore from a later backup would be.
        let copy = dir.path().join("copy.db");
        admin.backup_to(&copy, false, "test", now).unwrap();
        drop(admin);
        let mut other = Store::open(&copy, OpenMode::Existing).unwrap();
        other.revoke_token(&id, None, "test", now).unwrap();
        drop(other);

        let mut v = Verifier::open(&path).unwrap();
        assert_eq!(reason(&mut v, &secret, now), None);
        let batch = [Request::new(&secret), Request::new(&secret)];
        let refuses = |v: &mut Verifier| {
            let err = v.verify_at(&Request::new(&secret), now).unwrap_err();
            assert!(
                format!("{err:#}").contains("deleted or replaced"),
                "{err:#}"
            );
            assert!(v.verify_all_at(&batch, now).iter().all(Result::is_err));
            // Nor is usage written into the old file: it waits in memory.
            let uses = v.usage().len();
            assert!(v.flush().is_err());
            assert_eq!(v.usage().len(), uses);
        };
        std::fs::rename(&copy, &path).unwrap();
        // A verifier looks at its path at most every FILE_CHECK_INTERVAL.
        std::thread::sleep(FILE_CHECK_INTERVAL);
        refuses(&mut v);
        // The old file's -wal and -shm were moved aside, not left for the new file.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        for side in ["t.db-wal", "t.db-shm"] {
            assert!(!names.iter().any(|n| n == side), "{names:?}");
            assert!(
                names
                    .iter()
                    .any(|n| n.starts_with(&format!("{side}.replaced-"))),
                "{names:?}"
            );
        }
        // Restarted: the file there now decides.
        drop(v);
        let mut v = Verifier::open(&path).unwrap();
        assert_eq!(reason(&mut v, &secret, now), Some(DenyReason::Revoked));
        std::fs::remove_file(&path).unwrap();
        std::thread::sleep(FILE_CHECK_INTERVAL);
        refuses(&mut v);
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
        crate::store::testing::drop_tokens_table(&admin);
        assert!(v.verify_at(&Request::new(&secret), now).is_err());
    }

    fn new_token(store: &mut Store, name: &str) -> (token::Generated, crate::store::TokenRecord) {
        let made = token::generate("tok", "live").unwrap();
        let record = store
            .create_token(
                &NewToken {
                    hash: made.hash,
                    hint: made.hint.clone(),
                    name: name.into(),
                    description: None,
                    env: "live".into(),
                    scopes: ScopeSet::parse_list("cases:read").unwrap(),
                    allowed_ips: vec![],
                    expires_at: None,
                },
                "admin",
                crate::clock::now(),
            )
            .unwrap();
        (made, record)
    }

    #[test]
    fn batches_see_every_commit_of_other_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.db");
        let mut admin = Store::open(&path, OpenMode::Create).unwrap();
        let (a, a_record) = new_token(&mut admin, "a");
        let (b, _) = new_token(&mut admin, "b");
        let mut verifier = Verifier::open(&path).unwrap();
        let scope: Scope = "cases:read".parse().unwrap();
        let now = crate::clock::now();
        let batch = [
            Request::new(a.secret.expose()).scope(&scope),
            Request::new(b.secret.expose()).scope(&scope),
        ];
        let allowed = |v: &mut Verifier| -> Vec<bool> {
            v.verify_all_at(&batch, now)
                .into_iter()
                .map(|d| d.unwrap().is_allowed())
                .collect()
        };
        // Twice: the second batch is answered from the cached rows.
        assert_eq!(allowed(&mut verifier), [true, true]);
        assert_eq!(allowed(&mut verifier), [true, true]);
        // Another connection revokes: the very next batch sees it.
        admin
            .revoke_token(&a_record.id, None, "admin", now)
            .unwrap();
        assert_eq!(allowed(&mut verifier), [false, true]);
        assert_eq!(allowed(&mut verifier), [false, true]);
        // And a token created meanwhile is found.
        let (c, _) = new_token(&mut admin, "c");
        let late = [
            Request::new(c.secret.expose()),
            Request::new(c.secret.expose()),
        ];
        let found: Vec<bool> = verifier
            .verify_all_at(&late, now)
            .into_iter()
            .map(|d| d.unwrap().is_allowed())
            .collect();
        assert_eq!(found, [true, true]);
    }

    #[test]
    fn unmapped_requests_deny_genuine_tokens_after_the_other_checks() {
        let mut store = Store::open_in_memory().unwrap();
        let made = token::generate("tok", "live").unwrap();
        let now = crate::clock::now();
        store
            .create_token(
                &NewToken {
                    hash: made.hash,
                    hint: made.hint.clone(),
                    name: "importer".into(),
                    description: None,
                    env: "live".into(),
                    scopes: ScopeSet::parse_list("*:write").unwrap(),
                    allowed_ips: vec![],
                    expires_at: None,
                },
                "admin",
                now,
            )
            .unwrap();
        let mut verifier = Verifier::new(store);
        let secret = made.secret.expose();
        let reason = |d: Decision| match d {
            Decision::Denied(d) => Some(d.reason),
            Decision::Allowed(_) => None,
        };
        let plain = Request::new(secret).env("live");
        assert_eq!(reason(verifier.verify_at(&plain, now).unwrap()), None);
        let unmapped = plain.unmapped();
        assert_eq!(
            reason(verifier.verify_at(&unmapped, now).unwrap()),
            Some(DenyReason::InsufficientScope)
        );
        assert_eq!(
            reason(verifier.verify_at(&unmapped.env("test"), now).unwrap()),
            Some(DenyReason::WrongEnv)
        );
        assert_eq!(
            reason(
                verifier
                    .verify_at(&Request::new("tok_live_nope").unmapped(), now)
                    .unwrap()
            ),
            Some(DenyReason::Malformed)
        );
        assert_eq!(verifier.usage().len(), 4);

        let scope: Scope = "cases:read".parse().unwrap();
        let batch = [
            plain,
            Request::new("tok_live_nope"),
            plain.scope(&scope).env("test"),
        ];
        let reasons: Vec<_> = verifier
            .verify_all_at(&batch, now)
            .into_iter()
            .map(|d| reason(d.unwrap()))
            .collect();
        assert_eq!(
            reasons,
            [
                None,
                Some(DenyReason::Malformed),
                Some(DenyReason::WrongEnv)
            ]
        );
        assert_eq!(verifier.usage().len(), 7);
    }
}
