//! The storage contract: what a backend (SQLite today) does for tokenctl, in the
//! product's words. [`Backend`] and the table families it requires ([`Tokens`],
//! [`UsageCounters`], [`EventLog`], [`Configuration`]) are implemented by each backend
//! under `store/<backend>/`; callers never see a backend, only [`super::Store`], the closed
//! enum of backends that dispatches to them. Generic methods (a snapshot that takes a
//! closure) stay possible that way, and the verification path stays static dispatch.
//!
//! # No revoked credential is ever served
//!
//! A verifier may keep the credentials it has read, but only for as long as the database
//! has not changed: before a lookup (or batch of lookups) it reads the [`Revision`], in
//! the same snapshot as the lookups, and forgets everything if the revision differs from
//! the one its cache was filled under; it skips that read only while a backend's change
//! signal (4.) proves that nothing changed. That is correct if every backend guarantees:
//!
//! 1. **A revision that moves with every credential.** Every transaction that creates,
//!    revokes, rotates, suspends or resumes a token, or changes its rate limit (anything
//!    a [`Credential`] holds), changes the revision, atomically with the change: whoever
//!    sees the change sees the new revision, and whoever sees the old revision sees none
//!    of the change. This holds whichever handle wrote, in this process or any other,
//!    this one included. It may change more often (a backend that cannot tell a usage
//!    commit from a revocation changes it on both); usage recording and reads through
//!    this handle leave it alone.
//! 2. **One snapshot for the revision and the lookups.** Inside
//!    [`Backend::in_one_snapshot`], every read sees the same committed state, which is at
//!    least as new as the moment the snapshot was taken. Outside one, each read sees the
//!    state committed before it began. A revocation that returned to its caller is thus
//!    seen by every revision read (and every lookup) that starts afterwards.
//! 3. **The same database, or none.** [`Backend::check_same_database`] fails when the
//!    database at the store's location is no longer the one this handle opened (deleted,
//!    replaced, restored behind its back), where revocations would no longer arrive.
//!    Whoever decides on requests denies while it fails.
//! 4. **A change signal, if any, that never claims too much.** A backend that offers one
//!    ([`Backend::change_signal`]) takes a ticket of it in every credential change it
//!    commits, as `store::signal` describes; the signal reads settled and unchanged only
//!    if no such change committed since. Changes it cannot see (other programs) must
//!    still move the revision, which verifiers read at least every
//!    [`CHECK_INTERVAL`](super::signal::CHECK_INTERVAL).
//!
//! Expiry needs nothing of this: it is computed from `expires_at` at request time.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::location::Location;
use super::records::{Copied, Sink, Source};
use super::signal::ChangeSignal;
use super::{
    AdminEvent, BackupReport, Credential, NewToken, OldTokenEnd, Pruned, PrunedTokens, Result,
    Revocation, SameName, TokenChange, TokenFilter, TokenRecord, WarningSink,
};
use crate::rate_limit::RateLimit;
use crate::settings::Settings;
use crate::token::TokenHash;
use crate::usage::{AnomalyFacts, Batch, DayUsage, IpUsage, Requests, StrangerUsage, WindowTotals};

/// Where the stored credentials stand, as [`Backend::revision`] reads it: two revisions
/// are equal, or something may have changed between them. Never ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision([i64; 2]);

impl Revision {
    /// A revision from the backend's counters: what the database says, and (for a
    /// backend whose database counter ignores the handle's own commits) the handle's own
    /// count of credential changes.
    pub(crate) fn new(database: i64, this_handle: i64) -> Revision {
        Revision([database, this_handle])
    }
}

/// A database tokenctl can keep its tokens in: the whole contract.
pub trait Backend: Tokens + UsageCounters + EventLog + Configuration {
    /// Where the database is, as given when it was opened.
    fn location(&self) -> &Location;

    /// Has anything changed since: a value that differs from every earlier one read
    /// through this handle once a credential has changed (guarantee 1 above). Read it in
    /// the same snapshot as the lookups it guards (guarantee 2).
    fn revision(&self) -> Result<Revision>;

    /// The change signal of the database, for a backend on this machine (see
    /// [`super::signal`]): counters that every credential change of tokenctl moves, and
    /// that tell without a query that no credential changed. Checks that the file is
    /// still the one mapped, so call it at the revision's pace, not per request. `None`:
    /// read the revision every time.
    fn change_signal(&self) -> Option<Arc<ChangeSignal>> {
        None
    }

    /// Reads a consistent snapshot: every read that `reads` makes through this store sees
    /// the same committed state, taken during this call (guarantee 2).
    fn in_one_snapshot<T>(&self, reads: impl FnOnce() -> T) -> Result<T>;

    /// Is the database still the one opened: fails ([`super::Error::Unavailable`]) once it
    /// was deleted or replaced at its location (guarantee 3). Cheap enough to call often.
    fn check_same_database(&self) -> Result<()>;

    /// Whether the database answers: still the one opened, reachable, its schema readable.
    fn health(&self) -> Result<()>;

    /// The schema version of the open database.
    fn schema_version(&self) -> Result<i64>;

    /// Problems found while opening that the user should hear about (permissions that
    /// were repaired, a full disk).
    fn take_warnings(&mut self) -> Vec<String>;

    /// Hands the warnings found so far to `sink`, and every later one as it arises (a
    /// revocation that used the space reserve on a full disk says so this way).
    fn report_warnings_to(&mut self, sink: WarningSink);

    /// Hands every record of the database to `sink` (see `store::records`), all read in
    /// one snapshot: the tables in order, the rows of each by its key, hashes as stored.
    /// Writes nothing, not even an event: a role that may only read can be copied from.
    fn export(&self, sink: Sink<'_>) -> Result<()>;

    /// Copies the database to the file `dest` (0600) in one snapshot, logging a `backup`
    /// event. Refuses an existing `dest` unless `replace`; never follows a link there.
    fn backup_to(
        &mut self,
        dest: &Path,
        replace: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<BackupReport>;
}

/// Making a new database of a backend from any database's records (`tokenctl copy`).
pub trait Import {
    /// Where such a database is: a file, a PostgreSQL URL.
    type Place: ?Sized;

    /// Writes every record `source` hands over ([`Backend::export`] of another database)
    /// into the database at `place`, with a `copy` event naming `copied.from` after them,
    /// in one transaction: a failure at any point, in the source too, leaves `place` as
    /// it was. `place` must hold no tokenctl data (a new file, or a PostgreSQL database
    /// without tokenctl's schema or with an empty one); anything else is refused
    /// ([`super::Error::Invalid`], or `Refused` for a database tokenctl may not use) and
    /// left untouched. Summaries the backend keeps are computed from the records written.
    /// Returns `copied` with the rows counted.
    fn import_into_empty(
        place: &Self::Place,
        source: Source<'_>,
        copied: Copied,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Copied>;
}

/// Tokens: their creation, lookup, revocation and rotation. Every write is one
/// transaction, all or nothing, with its admin events; revocations and rotations that
/// end a token at once are written even on a full disk when the backend can.
pub trait Tokens {
    /// Inserts a new token and logs a `create` event.
    fn create_token(
        &mut self,
        new: &NewToken,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenRecord>;

    /// Inserts several tokens in one transaction (all or none), each with its `create`
    /// event: for imports and for seeding test and benchmark databases.
    fn create_tokens(
        &mut self,
        new: &[NewToken],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenRecord>>;

    /// What verification needs of the token with this hash: the lookup of every request.
    fn credential_by_hash(&self, hash: &TokenHash) -> Result<Option<Credential>>;

    /// The token with this hash, with all its metadata.
    fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>>;

    /// The token with this public id.
    fn token(&self, id: &str) -> Result<Option<TokenRecord>>;

    /// Resolves `ID|NAME`: an id, or a name; a name shared by several tokens narrows to
    /// the active ones, then to the newest of a rotation chain, and is
    /// [`super::Error::Ambiguous`] if that still leaves several.
    fn resolve(&self, reference: &str, now: DateTime<Utc>) -> Result<TokenRecord>;

    /// The first name in use that `wanted` accepts, among those that begin with one of
    /// the ASCII characters `ascii_starts` or with a character that is not ASCII; each
    /// offered once, in no particular order. (`create` checks every name that could look
    /// like a new one: a scan, without a list, over as few as can.)
    fn find_name(
        &self,
        ascii_starts: &[u8],
        wanted: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Option<String>>;

    /// Active tokens with this exact name, oldest first.
    fn active_named(&self, name: &str, now: DateTime<Utc>) -> Result<Vec<TokenRecord>>;

    /// How many tokens `active_named` would give, and the ids of the newest `newest` of
    /// them, without reading the rest: a CI job that creates a token named after itself
    /// on every run may leave thousands.
    fn active_ids_named(&self, name: &str, now: DateTime<Utc>, newest: u32) -> Result<SameName>;

    /// Tokens matching `filter`, oldest first.
    fn list_tokens(&self, filter: &TokenFilter, now: DateTime<Utc>) -> Result<Vec<TokenRecord>> {
        let mut found = Vec::new();
        self.each_token(filter, now, &mut |t| {
            found.push(t);
            Ok(())
        })?;
        Ok(found)
    }

    /// [`list_tokens`](Self::list_tokens) one token at a time, as read where the backend
    /// can (so that `list --json` holds one token, not thousands); stops at `each`'s first
    /// error and returns it.
    fn each_token(
        &self,
        filter: &TokenFilter,
        now: DateTime<Utc>,
        each: &mut dyn FnMut(TokenRecord) -> Result<()>,
    ) -> Result<()>;

    /// Revokes now; revoking a revoked token changes nothing and logs nothing.
    fn revoke_token(
        &mut self,
        id: &str,
        reason: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Revocation> {
        let mut done = self.revoke_tokens(&[id], reason, actor, now)?;
        Ok(done.pop().expect("one token in, one out"))
    }

    /// Revokes several tokens in one transaction: all of them or none. Each is reported as
    /// revoked or already revoked, in the order given.
    fn revoke_tokens(
        &mut self,
        ids: &[&str],
        reason: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Revocation>>;

    /// Deletes every token revoked before `before`, or expired (and never revoked) before
    /// it, with all of its usage counters, in one transaction (with `dry_run`, only says
    /// what it would delete). The admin events naming a deleted token are kept, and each
    /// gets a `prune` event with its counts. A token whose predecessor or successor is
    /// deleted keeps no link to it. Changes the [`Revision`]: a deleted token is unknown
    /// from then on, no longer revoked or expired.
    fn prune_tokens(
        &mut self,
        before: DateTime<Utc>,
        dry_run: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<PrunedTokens>;

    /// Every token of `id`'s rotation chain, oldest first, `id` itself included.
    fn rotation_chain(&self, id: &str) -> Result<Vec<TokenRecord>>;

    /// Issues `new` as the successor of `old_id` and ends the old token as `end` says, in
    /// one transaction: a token is rotated once. Returns the new token and the old one.
    fn rotate_token(
        &mut self,
        old_id: &str,
        new: &NewToken,
        end: OldTokenEnd,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(TokenRecord, TokenRecord)>;

    /// Suspends the token now, logging a `suspend` event with the reason: it is refused
    /// until resumed, and its expiry runs on. A revoked or expired token is refused
    /// ([`super::Error::Invalid`]); suspending a suspended one changes nothing and logs
    /// nothing. A credential change: moves the [`Revision`].
    fn suspend_token(
        &mut self,
        id: &str,
        reason: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenChange> {
        let mut done = self.suspend_tokens(&[id], reason, actor, now)?;
        Ok(done.pop().expect("one token in, one out"))
    }

    /// [`suspend_token`](Self::suspend_token) for several tokens in one transaction: all
    /// of them, or (when one is refused, or on any error) none. Each is reported in the
    /// order given.
    fn suspend_tokens(
        &mut self,
        ids: &[&str],
        reason: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenChange>>;

    /// Ends the token's suspension, logging a `resume` event. A revoked or expired token
    /// is refused; resuming one that is not suspended changes nothing and logs nothing.
    /// A credential change: moves the [`Revision`].
    fn resume_token(&mut self, id: &str, actor: &str, now: DateTime<Utc>) -> Result<TokenChange> {
        let mut done = self.resume_tokens(&[id], actor, now)?;
        Ok(done.pop().expect("one token in, one out"))
    }

    /// [`resume_token`](Self::resume_token) for several tokens in one transaction: all of
    /// them or none, each reported in the order given.
    fn resume_tokens(
        &mut self,
        ids: &[&str],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenChange>>;

    /// Sets (or with `None` removes) the token's rate limit, logging a `rate_limit` event.
    /// A revoked or expired token is refused; the limit it has already changes nothing.
    /// A credential change: moves the [`Revision`].
    fn set_rate_limit(
        &mut self,
        id: &str,
        limit: Option<RateLimit>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenChange>;
}

/// Usage counters, per token, hour and address, and of strangers (unknown and malformed
/// tokens). Recording never changes a credential, so it leaves the [`Revision`] read
/// through the same handle alone.
pub trait UsageCounters {
    /// Adds a batch of counters in one transaction (no increment lost or counted twice)
    /// and moves each token's last use forward; counts of tokens not held are dropped. A
    /// backend whose commit can succeed without the caller learning it (a connection lost
    /// before the reply) records the batch's `id` with its counters: the same batch
    /// committed again adds nothing.
    fn record_usage(&mut self, batch: &Batch) -> Result<()>;

    /// Request windows of every token used in the last 30 days, by token key.
    fn all_requests(&self, now: DateTime<Utc>) -> Result<HashMap<i64, Requests>>;

    /// One token's request windows.
    fn token_requests(&self, key: i64, now: DateTime<Utc>) -> Result<Requests>;

    /// The addresses a token was used from since `since` (with `seen_only`, only those
    /// with an allowed use).
    fn token_ips(&self, key: i64, since: DateTime<Utc>, seen_only: bool) -> Result<Vec<IpUsage>>;

    /// Uses per day since `since`, of one token or of all.
    fn daily_usage(
        &self,
        key: Option<i64>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<DayUsage>>;

    /// Each token's uses since `since`.
    fn window_totals(&self, since: DateTime<Utc>) -> Result<HashMap<i64, WindowTotals>>;

    /// Uses of unknown and malformed tokens since `since`.
    fn stranger_usage(&self, since: DateTime<Utc>) -> Result<Vec<StrangerUsage>>;

    /// What the anomaly rules look at, of one token or of all.
    fn anomaly_facts(&self, key: Option<i64>, now: DateTime<Utc>) -> Result<AnomalyFacts>;

    /// Deletes counters of hours that ended before `before` (only counts them with
    /// `dry_run`), logging a `prune` event.
    fn prune_usage(
        &mut self,
        before: DateTime<Utc>,
        dry_run: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Pruned>;
}

/// The admin event log: append-only, in commit order.
pub trait EventLog {
    /// Events since `since` (all if `None`), oldest first; for one token if `token_id`.
    fn events(
        &self,
        token_id: Option<&str>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<AdminEvent>>;
}

/// The settings, validated by `crate::settings`.
pub trait Configuration {
    /// The settings, defaults filled in.
    fn settings(&self) -> Result<Settings>;

    /// Validates and stores one setting against the settings as they are under the write
    /// lock, logging a `config_set` event. Returns the normalized value.
    fn set_setting(
        &mut self,
        key: &str,
        value: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<String>;
}
