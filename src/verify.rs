//! Deciding a [`Question`] (may the credential presented make this request?), and
//! recording, through one [`Recorder`], every use that presented something.
//!
//! The checks run in a fixed order (the README's "Verifying tokens from your API" lists
//! it): a credential at all, shape and checksum (no database access for a malformed
//! token), lookup by hash, revoked, expired, suspended, environment, allowed IPs, scope
//! (or the server's finding that no scope covers the request), and last the token's rate
//! limit ([`Limiter`]). The refusal's [`DenyReason`] decides everything that follows
//! from it.
//!
//! A revocation committed by another process denies the very next verification: see
//! [`cache`] for why the credentials a process keeps cannot outlive it. Any error (the database
//! missing, locked, corrupt) is returned as an error, which callers treat as a denial:
//! verification fails closed.

use std::fmt;
use std::sync::Arc;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::rate_limit::RateLimit;
use crate::store::{Credential, OpenMode, Status, Store};
use crate::token::{self, TokenHash};
use crate::usage::{Outcome, Presented, UsageBuffer};

pub mod cache;
mod limiter;
mod question;
mod reason;

pub use crate::store::signal::CHECK_INTERVAL;
pub use cache::CredentialCache;
use cache::Fast;
pub use limiter::{Limiter, Quota};
pub use question::{Authorization, Need, Question};
pub use reason::{Ambiguity, DenyReason, Unmapped};

/// An allowed request: which token, and what it may do.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub token_id: Arc<str>,
    pub name: Arc<str>,
    pub env: Arc<str>,
    /// The token's grants, canonical and space-separated (`cases:write documents:read`).
    pub scopes: Arc<str>,
    /// Where the token stands against its rate limit, if it has one.
    pub quota: Option<Quota>,
    /// When the token stops working (`None`: never), and when it was issued: what
    /// introspection tells (`exp`, `iat`).
    pub expires_at: Option<DateTime<Utc>>,
    pub issued_at: DateTime<Utc>,
}

/// A refused request; the token's id and name when it was one of ours.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    pub reason: DenyReason,
    pub token_id: Option<Arc<str>>,
    pub name: Option<Arc<str>>,
    /// For [`DenyReason::RateLimited`]: the limit, and when to retry.
    pub quota: Option<Quota>,
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

/// Decides questions against one store connection, for the environment it was made for,
/// and records each use into a buffer that [`commit_usage`](Verifier::commit_usage) (or
/// a server's flusher) commits.
///
/// ```
/// use tokenctl::{Decision, Question, Store, Verifier};
/// # fn main() -> anyhow::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("tokens.db");
/// # let mut store = tokenctl::Store::open(&path, tokenctl::OpenMode::Create)?;
/// # let made = tokenctl::token::generate("tok", "live")?;
/// # store.create_token(&tokenctl::store::NewToken {
/// #     hash: made.hash, hint: made.hint.clone(), name: "importer".into(), description: None,
/// #     env: "live".into(), scopes: tokenctl::ScopeSet::parse_list("cases:read")?,
/// #     allowed_ips: vec![], expires_at: None, rate_limit: None,
/// # }, "admin", chrono::Utc::now())?;
/// # let secret = made.secret.expose().to_string();
/// let mut verifier = Verifier::open(&path)?.for_env("live");
/// let ip = "203.0.113.7".parse()?;
/// let question = Question::new(&secret).scope("cases:read".parse()?).ip(ip);
/// match verifier.verify(&question)? {
///     Decision::Allowed(grant) => println!("hello, {}", grant.name),
///     Decision::Denied(denial) => println!("no: {}", denial.reason),
/// }
/// # assert!(verifier.verify(&question)?.is_allowed());
/// verifier.commit_usage()?; // commit the recorded uses
/// # Ok(()) }
/// ```
pub struct Verifier {
    store: Store,
    recorder: Recorder,
    /// The environment this verifier serves; `None` accepts every environment.
    env: Option<Box<str>>,
    /// The credentials read, possibly shared with the other verifiers of the process.
    cache: Arc<CredentialCache>,
    /// Every limited token's allowance, shared with the other verifiers of the process.
    limiter: Arc<Limiter>,
}

/// The one path by which a decided use reaches the usage buffer: a verifier's decisions,
/// and those a server makes without one (no bearer token, see
/// [`decide_without_token`](Recorder::decide_without_token)).
#[derive(Debug, Clone)]
pub struct Recorder {
    usage: Arc<UsageBuffer>,
    on: bool,
}

impl Recorder {
    pub fn new(usage: Arc<UsageBuffer>) -> Recorder {
        Recorder { usage, on: true }
    }

    pub fn usage(&self) -> &Arc<UsageBuffer> {
        &self.usage
    }

    /// Decides a question that presents no bearer token (none, another scheme, an
    /// unreadable header), which needs no database, and records its use. `None` for a
    /// bearer token: that is a verifier's to decide.
    pub fn decide_without_token<T: AsRef<[u8]>>(
        &self,
        question: &Question<T>,
        now: DateTime<Utc>,
    ) -> Option<Decision> {
        if matches!(question.authorization, Authorization::Bearer(_)) {
            return None;
        }
        match read_credential(question) {
            Read::Decided(judged) => Some(self.record(question, judged, now)),
            Read::Lookup(_) => None,
        }
    }

    /// Counts the use, unless nothing was presented (or recording is off).
    fn record<T>(&self, question: &Question<T>, judged: Judged, now: DateTime<Utc>) -> Decision {
        if self.on
            && let Some(presented) = judged.presented
        {
            let outcome = match &judged.decision {
                Decision::Allowed(_) => Outcome::Allowed,
                Decision::Denied(d)
                    if matches!(d.reason, DenyReason::Revoked | DenyReason::Expired) =>
                {
                    Outcome::Ended
                }
                Decision::Denied(d) if d.reason == DenyReason::RateLimited => Outcome::Limited,
                Decision::Denied(_) => Outcome::Denied,
            };
            self.usage.record(presented, question.ip, outcome, now);
        }
        judged.decision
    }
}

/// Decides questions from a verifier's cache alone, on any thread and without its
/// database connection (a server's runtime, so that no request waits for a verifier
/// thread): when the change signal proves the cache current and holds the token, it
/// decides and records exactly as the verifier would (see [`cache`]). Otherwise it
/// declines, records nothing, and the question goes to a verifier.
#[derive(Clone)]
pub struct CachedDecider {
    cache: Arc<CredentialCache>,
    env: Option<Box<str>>,
    limiter: Arc<Limiter>,
    recorder: Recorder,
}

impl CachedDecider {
    /// `question`, and `then` only if `question` is allowed (as a server's verifier
    /// thread decides `/introspect`'s pair): both from the cache, or `None` and nothing
    /// decided or recorded.
    pub fn try_decide<T: AsRef<[u8]>>(
        &self,
        question: &Question<T>,
        then: Option<&Question<T>>,
        now: DateTime<Utc>,
    ) -> Option<(Decision, Option<Decision>)> {
        let first = self.judge(question, now)?;
        let second = match then {
            Some(then) if first.decision.is_allowed() => Some(self.judge(then, now)?),
            _ => None,
        };
        let first = self
            .recorder
            .record(question, limit(&self.limiter, first), now);
        let second = match (then, second) {
            (Some(then), Some(judged)) if first.is_allowed() => Some(self.recorder.record(
                then,
                limit(&self.limiter, judged),
                now,
            )),
            _ => None,
        };
        Some((first, second))
    }

    fn judge<T: AsRef<[u8]>>(&self, question: &Question<T>, now: DateTime<Utc>) -> Option<Judged> {
        match read_credential(question) {
            Read::Decided(judged) => Some(judged),
            Read::Lookup(hash) => match self.cache.fast(&hash) {
                Fast::Hit(found) => Some(judge(question, self.env.as_deref(), now, Some(&found))),
                Fast::Miss(_) | Fast::Stale => None,
            },
        }
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("store", &self.store)
            .field("recorder", &self.recorder)
            .field("env", &self.env)
            .finish()
    }
}

impl Verifier {
    /// Opens an existing database, a file or a PostgreSQL URL's (never creates one: a
    /// missing database denies).
    pub fn open(location: impl Into<crate::store::Location>) -> Result<Verifier> {
        Ok(Verifier::new(Store::open(location, OpenMode::Existing)?))
    }

    pub fn new(store: Store) -> Verifier {
        Verifier::with_buffer(store, Arc::new(UsageBuffer::new()))
    }

    /// A verifier that records into a buffer shared with other verifiers (one per thread
    /// of a server) and flushed by someone else.
    pub fn with_buffer(store: Store, usage: Arc<UsageBuffer>) -> Verifier {
        Verifier {
            store,
            recorder: Recorder::new(usage),
            env: None,
            cache: Arc::default(),
            limiter: Arc::new(Limiter::new()),
        }
    }

    /// Keeps credentials in `cache`, shared with the other verifiers of the process (a
    /// server's threads, and its [`CachedDecider`]): a token read by one is known to all.
    pub fn with_cache(mut self, cache: Arc<CredentialCache>) -> Verifier {
        self.cache = cache;
        self
    }

    /// Decides from this verifier's cache alone, on any thread, whenever the change
    /// signal proves it current; see [`CachedDecider`].
    pub fn cached_decider(&self) -> CachedDecider {
        CachedDecider {
            cache: Arc::clone(&self.cache),
            env: self.env.clone(),
            limiter: Arc::clone(&self.limiter),
            recorder: self.recorder.clone(),
        }
    }

    /// Refreshes the shared cache ahead of time if its fast path was used since the last
    /// call (and says whether it did); a server's verifier thread calls it every
    /// [`CredentialCache::WARM_EVERY`] while idle.
    pub fn warm_cache(&self) -> Result<bool> {
        self.cache.warm(&self.store)
    }

    /// Counts rate-limited tokens in `limiter`, shared with the other verifiers of the
    /// process, so that the process as a whole enforces each limit exactly (a server's
    /// threads share one).
    pub fn with_limiter(mut self, limiter: Arc<Limiter>) -> Verifier {
        self.limiter = limiter;
        self
    }

    /// Refuses tokens of every environment but `env` (`--env`), as `wrong_env`.
    pub fn for_env(mut self, env: &str) -> Verifier {
        self.env = Some(env.into());
        self
    }

    /// Turns recording off (`verify --no-record`).
    pub fn without_recording(mut self) -> Verifier {
        self.recorder.on = false;
        self
    }

    pub fn usage(&self) -> &Arc<UsageBuffer> {
        self.recorder.usage()
    }

    /// Decides at the current time.
    pub fn verify<T: AsRef<[u8]>>(&mut self, question: &Question<T>) -> Result<Decision> {
        self.verify_at(question, crate::clock::now())
    }

    /// Decides as of `now`, and records the use.
    pub fn verify_at<T: AsRef<[u8]>>(
        &mut self,
        question: &Question<T>,
        now: DateTime<Utc>,
    ) -> Result<Decision> {
        let decided = match read_credential(question) {
            Read::Decided(judged) => Ok(judged),
            Read::Lookup(hash) => self
                .credential(&hash)
                .map(|found| judge(question, self.env.as_deref(), now, found.as_deref())),
        };
        decided.map(|judged| {
            let judged = limit(&self.limiter, judged);
            self.recorder.record(question, judged, now)
        })
    }

    /// The credential with this hash: from the cache when the change signal proves it
    /// current, else after a refresh (see [`cache`]).
    fn credential(&self, hash: &TokenHash) -> Result<Option<Arc<Credential>>> {
        let generation = match self.cache.fast(hash) {
            Fast::Hit(found) => return Ok(Some(found)),
            Fast::Miss(generation) => generation,
            Fast::Stale => self.cache.refresh(&self.store)?,
        };
        self.cache.lookup(&self.store, hash, generation)
    }

    /// Verifies requests that have all arrived already (a server's batch) as of `now`,
    /// each as [`verify_at`](Verifier::verify_at) would, but against one snapshot of the
    /// database: one read transaction, and its locks, instead of one per request. The
    /// snapshot is taken during this call, after every one of them arrived, so it holds
    /// every revocation committed before any of them: none is decided on older data.
    pub fn verify_all_at<T: AsRef<[u8]>>(
        &mut self,
        questions: &[Question<T>],
        now: DateTime<Utc>,
    ) -> Vec<Result<Decision>> {
        if questions.len() == 1 {
            return vec![self.verify_at(&questions[0], now)];
        }
        let decided = match self.decide_from_cache(questions, now) {
            Some(decided) => Ok(decided),
            None => self.decide_in_one_snapshot(questions, now),
        };
        match decided {
            Ok(decided) => questions
                .iter()
                .zip(decided)
                .map(|(q, judged)| Ok(self.recorder.record(q, limit(&self.limiter, judged), now)))
                .collect(),
            Err(e) => questions
                .iter()
                .map(|_| Err(anyhow::anyhow!("{e:#}")))
                .collect(),
        }
    }

    /// The whole batch from the cache, if the change signal proves every credential it
    /// needs current and cached; `None` sends it to the database.
    fn decide_from_cache<T: AsRef<[u8]>>(
        &self,
        questions: &[Question<T>],
        now: DateTime<Utc>,
    ) -> Option<Vec<Judged>> {
        questions
            .iter()
            .map(|q| match read_credential(q) {
                Read::Decided(judged) => Some(judged),
                Read::Lookup(hash) => match self.cache.fast(&hash) {
                    Fast::Hit(found) => Some(judge(q, self.env.as_deref(), now, Some(&found))),
                    Fast::Miss(_) | Fast::Stale => None,
                },
            })
            .collect()
    }

    /// The batch in one read snapshot: the cache refreshed in it, then every lookup.
    fn decide_in_one_snapshot<T: AsRef<[u8]>>(
        &self,
        questions: &[Question<T>],
        now: DateTime<Utc>,
    ) -> Result<Vec<Judged>> {
        let Verifier {
            store, cache, env, ..
        } = self;
        let decided = store.in_one_snapshot(|| -> Result<Vec<Judged>> {
            let generation = cache.refresh(store)?;
            questions
                .iter()
                .map(|q| match read_credential(q) {
                    Read::Decided(judged) => Ok(judged),
                    Read::Lookup(hash) => {
                        let found = cache.lookup(store, &hash, generation)?;
                        Ok(judge(q, env.as_deref(), now, found.as_deref()))
                    }
                })
                .collect()
        });
        decided.map_err(anyhow::Error::from).and_then(|d| d)
    }

    /// Commits the recorded uses in one transaction. On failure the uses go back into the
    /// buffer for the next attempt. Returns how many uses were committed.
    pub fn commit_usage(&mut self) -> Result<u64> {
        commit_buffered(&mut self.store, self.recorder.usage())
    }
}

/// A decided question, and the use it records (`None`: nothing was presented).
struct Judged {
    presented: Option<Presented>,
    decision: Decision,
    /// The rate limit of a token that passed every other check.
    limit: Option<RateLimit>,
}

/// The last check, once the snapshot is done with: a grant of a rate-limited token
/// counts against its allowance, and over it is refused as `rate_limited`. Only here,
/// so that a request refused for any other reason costs nothing.
fn limit(limiter: &Limiter, judged: Judged) -> Judged {
    let (Some(limit), Some(Presented::Token(key)), Decision::Allowed(grant)) =
        (judged.limit, judged.presented, &judged.decision)
    else {
        return judged;
    };
    let decision = match limiter.admit(key, limit) {
        Ok(quota) => Decision::Allowed(Grant {
            quota: Some(quota),
            ..grant.clone()
        }),
        Err(quota) => Decision::Denied(Denial {
            reason: DenyReason::RateLimited,
            token_id: Some(Arc::clone(&grant.token_id)),
            name: Some(Arc::clone(&grant.name)),
            quota: Some(quota),
        }),
    };
    Judged { decision, ..judged }
}

/// What the credential alone tells: a decision already, or the hash to look up.
enum Read {
    Decided(Judged),
    Lookup(TokenHash),
}

/// Reads the credential: no bearer token, or a malformed one (shape or checksum), is
/// refused without any database access.
fn read_credential<T: AsRef<[u8]>>(question: &Question<T>) -> Read {
    let unreadable = || {
        Read::Decided(deny(
            Some(Presented::Malformed),
            DenyReason::Malformed,
            None,
        ))
    };
    match &question.authorization {
        Authorization::Missing => Read::Decided(deny(None, DenyReason::Missing, None)),
        // Something was presented, if not a bearer token: counted as a malformed use.
        Authorization::OtherScheme => {
            Read::Decided(deny(Some(Presented::Malformed), DenyReason::Missing, None))
        }
        Authorization::Malformed => unreadable(),
        Authorization::Bearer(token) => std::str::from_utf8(token.as_ref())
            .ok()
            .and_then(|text| token::parse(text).ok())
            .map_or_else(unreadable, |parsed| Read::Lookup(parsed.hash())),
    }
}

fn deny(presented: Option<Presented>, reason: DenyReason, token: Option<&Credential>) -> Judged {
    Judged {
        presented,
        decision: Decision::Denied(Denial {
            reason,
            token_id: token.map(|t| Arc::clone(&t.id)),
            name: token.map(|t| Arc::clone(&t.name)),
            quota: None,
        }),
        limit: None,
    }
}

/// The checks after the lookup, in their fixed order (see the module's documentation):
/// unknown, revoked, expired, suspended, environment, allowed IPs, what the request needs.
fn judge<T>(
    question: &Question<T>,
    env: Option<&str>,
    now: DateTime<Utc>,
    found: Option<&Credential>,
) -> Judged {
    let Some(t) = found else {
        return deny(Some(Presented::Unknown), DenyReason::Unknown, None);
    };
    let presented = Some(Presented::Token(t.key));
    let reason = match t.status(now) {
        Status::Revoked => Some(DenyReason::Revoked),
        Status::Expired => Some(DenyReason::Expired),
        Status::Suspended => Some(DenyReason::Suspended),
        Status::Active | Status::Rotating if env.is_some_and(|e| e != &*t.env) => {
            Some(DenyReason::WrongEnv)
        }
        Status::Active | Status::Rotating
            if !question
                .ip
                .map_or(t.allowed_ips.is_empty(), |ip| t.ip_allowed(ip)) =>
        {
            Some(DenyReason::IpNotAllowed)
        }
        Status::Active | Status::Rotating => question.need.refused(&t.scope_set),
    };
    if let Some(reason) = reason {
        return deny(presented, reason, Some(t));
    }
    Judged {
        presented,
        decision: Decision::Allowed(Grant {
            token_id: Arc::clone(&t.id),
            name: Arc::clone(&t.name),
            env: Arc::clone(&t.env),
            scopes: Arc::clone(&t.scopes),
            quota: None,
            expires_at: t.expires_at,
            issued_at: t.created_at,
        }),
        limit: t.rate_limit,
    }
}

/// Takes what `buffer` holds and commits it into `store` (the flusher of a server uses
/// its own connection), or puts it back on failure; never into a database that is no
/// longer the one at the store's location (see [`Store::check_same_database`]). Batches
/// put back are committed again as they were (oldest first), then the uses recorded since.
pub fn commit_buffered(store: &mut Store, buffer: &UsageBuffer) -> Result<u64> {
    let mut committed = 0;
    loop {
        let retry = buffer.has_unconfirmed();
        let batch = buffer.take();
        if batch.uses == 0 {
            return Ok(committed);
        }
        if let Err(e) = store
            .check_same_database()
            .and_then(|()| store.record_usage(&batch))
        {
            buffer.restore(batch);
            return Err(e.into());
        }
        committed += batch.uses;
        if !retry {
            return Ok(committed);
        }
    }
}

#[cfg(test)]
mod signal_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::{Scope, ScopeSet};
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
                    rate_limit: None,
                },
                "test",
                now,
            )
            .unwrap();
        (rec.id, g.secret.expose().to_string())
    }

    fn reason(v: &mut Verifier, secret: &str, now: DateTime<Utc>) -> Option<DenyReason> {
        match v.verify_at(&Question::new(secret), now).unwrap() {
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
        v.commit_usage().unwrap();
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
                rate_limit: None,
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
        let batch = [Question::new(&secret), Question::new(&secret)];
        let refuses = |v: &mut Verifier| {
            let err = v.verify_at(&Question::new(&secret), now).unwrap_err();
            assert!(
                format!("{err:#}").contains("deleted or replaced"),
                "{err:#}"
            );
            assert!(v.verify_all_at(&batch, now).iter().all(Result::is_err));
            // Nor is usage written into the old file: it waits in memory.
            let uses = v.usage().len();
            assert!(v.commit_usage().is_err());
            assert_eq!(v.usage().len(), uses);
        };
        std::fs::rename(&copy, &path).unwrap();
        // A verifier looks at its path at most every CHECK_INTERVAL.
        std::thread::sleep(CHECK_INTERVAL);
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
        std::thread::sleep(CHECK_INTERVAL);
        refuses(&mut v);
    }

    #[test]
    fn debug_output_holds_no_token() {
        let g = token::generate("tok", "live").unwrap();
        let secret = g.secret.expose();
        let scope: Scope = "cases:read".parse().unwrap();
        let question = Question::new(secret).scope(scope);
        let shown = format!("{question:?} {g:?} {:?}", token::parse(secret).unwrap());
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
        // Damage done behind tokenctl's back, which the change signal cannot see: found
        // by the next check of the revision, within CHECK_INTERVAL.
        crate::store::testing::drop_tokens_table(&admin);
        std::thread::sleep(CHECK_INTERVAL);
        assert!(v.verify_at(&Question::new(&secret), now).is_err());
    }

    pub(super) fn new_token(
        store: &mut Store,
        name: &str,
    ) -> (token::Generated, crate::store::TokenRecord) {
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
                    rate_limit: None,
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
            Question::new(a.secret.expose()).scope(scope.clone()),
            Question::new(b.secret.expose()).scope(scope),
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
            Question::new(c.secret.expose()),
            Question::new(c.secret.expose()),
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
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let now = crate::clock::now();
        let mut admin = Store::open(&path, OpenMode::Create).unwrap();
        let (_, secret) = issue(&mut admin, "*:write", now);
        let mut live = Verifier::open(&path).unwrap().for_env("live");
        let mut test = Verifier::open(&path).unwrap().for_env("test");
        let reason = |d: Decision| match d {
            Decision::Denied(d) => Some(d.reason),
            Decision::Allowed(_) => None,
        };
        let plain = Question::new(secret.as_str());
        assert_eq!(reason(live.verify_at(&plain, now).unwrap()), None);
        let no_rule = plain.clone().unmapped(Unmapped::NoRule);
        let ambiguous = plain
            .clone()
            .unmapped(Unmapped::Ambiguous(Ambiguity::DotSegment));
        for (question, want) in [
            (&no_rule, DenyReason::Unmapped),
            (&ambiguous, DenyReason::Ambiguous),
        ] {
            assert_eq!(reason(live.verify_at(question, now).unwrap()), Some(want));
            assert_eq!(
                reason(test.verify_at(question, now).unwrap()),
                Some(DenyReason::WrongEnv)
            );
        }
        let garbage = Question::new("tok_live_nope").unmapped(Unmapped::NoRule);
        assert_eq!(
            reason(live.verify_at(&garbage, now).unwrap()),
            Some(DenyReason::Malformed)
        );
        assert_eq!(live.usage().len(), 4);

        let scope: Scope = "cases:read".parse().unwrap();
        let batch = [
            plain.clone(),
            Question::new("tok_live_nope"),
            plain.clone().scope(scope),
            no_rule,
        ];
        let reasons: Vec<_> = test
            .verify_all_at(&batch, now)
            .into_iter()
            .map(|d| reason(d.unwrap()))
            .collect();
        let wrong_env = Some(DenyReason::WrongEnv);
        assert_eq!(
            reasons,
            [wrong_env, Some(DenyReason::Malformed), wrong_env, wrong_env]
        );
        assert_eq!(test.usage().len(), 2 + 4);
    }

    /// The library enforces a token's rate limit like the server: exactly the limit, then
    /// `rate_limited` with when to retry, recorded apart; a suspended token is refused
    /// before its allowance is touched; verifiers sharing a limiter share the allowance.
    #[test]
    fn rate_limits_and_suspension_are_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let now = crate::clock::now();
        let mut admin = Store::open(&path, OpenMode::Create).unwrap();
        let (id, secret) = issue(&mut admin, "cases:read", now);
        let limit = "3/h".parse().unwrap();
        admin.set_rate_limit(&id, Some(limit), "test", now).unwrap();
        let limiter = Arc::new(Limiter::new());
        let mut a = Verifier::open(&path)
            .unwrap()
            .with_limiter(Arc::clone(&limiter));
        let mut b = Verifier::open(&path).unwrap().with_limiter(limiter);
        admin.suspend_token(&id, None, "test", now).unwrap();
        assert_eq!(reason(&mut a, &secret, now), Some(DenyReason::Suspended));
        admin.resume_token(&id, "test", now).unwrap();
        let decided: Vec<Decision> = (0..4)
            .map(|i| {
                let v = if i % 2 == 0 { &mut a } else { &mut b };
                v.verify_at(&Question::new(&secret), now).unwrap()
            })
            .collect();
        let remaining: Vec<u32> = decided[..3]
            .iter()
            .map(|d| match d {
                Decision::Allowed(g) => g.quota.unwrap().remaining,
                Decision::Denied(d) => panic!("{d:?}"),
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let Decision::Denied(over) = &decided[3] else {
            panic!("{:?}", decided[3])
        };
        assert_eq!(over.reason, DenyReason::RateLimited);
        assert_eq!(over.token_id.as_deref(), Some(id.as_str()));
        assert_eq!(over.quota.unwrap().retry_after_secs, 1_200);
        a.commit_usage().unwrap();
        b.commit_usage().unwrap();
        let totals = admin.window_totals(now - TimeDelta::hours(1)).unwrap();
        let t = totals.values().next().unwrap();
        assert_eq!((t.allowed, t.denied, t.limited), (3, 2, 1));
    }

    /// A credential that is not a bearer token is decided without the database, by a
    /// verifier or by a server's recorder alike, and recorded the same way: as a
    /// malformed use when something was presented, not at all when nothing was.
    #[test]
    fn every_presented_credential_is_recorded_through_one_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        Store::open(&path, OpenMode::Create).unwrap();
        let mut verifier = Verifier::open(&path).unwrap();
        let recorder = Recorder::new(Arc::new(UsageBuffer::new()));
        let now = crate::clock::now();
        let ask = |authorization| Question::<&str> {
            authorization,
            need: Need::Nothing,
            ip: Some("203.0.113.7".parse().unwrap()),
        };
        for (authorization, reason, recorded) in [
            (Authorization::Missing, DenyReason::Missing, 0),
            (Authorization::OtherScheme, DenyReason::Missing, 1),
            (Authorization::Malformed, DenyReason::Malformed, 1),
        ] {
            let question = ask(authorization);
            let before = (verifier.usage().len(), recorder.usage().len());
            let by_verifier = verifier.verify_at(&question, now).unwrap();
            let by_recorder = recorder.decide_without_token(&question, now).unwrap();
            assert_eq!(by_verifier, by_recorder);
            assert!(matches!(by_verifier, Decision::Denied(d) if d.reason == reason));
            assert_eq!(verifier.usage().len(), before.0 + recorded);
            assert_eq!(recorder.usage().len(), before.1 + recorded);
        }
        let batch = verifier.usage().take();
        assert!(
            batch
                .rows
                .iter()
                .all(|r| r.presented == Presented::Malformed)
        );
        assert!(
            recorder
                .decide_without_token(&Question::new("tok_live_nope"), now)
                .is_none(),
            "a bearer token is a verifier's to decide"
        );
    }
}
