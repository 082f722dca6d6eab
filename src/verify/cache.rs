//! The credentials a process has read, by token hash, shared by its verifiers (a
//! server's verifier threads, and its runtime through a [`CachedDecider`]), and the proof
//! that none of them is stale.
//!
//! # Why a cached credential is never one that was revoked before the request arrived
//!
//! The cache is only trusted while it is known to reflect every credential change
//! committed so far. Two things prove it:
//!
//! - **The revision** ([`Revision`]), read from the database by `CredentialCache::refresh`: the
//!   storage contract changes it in the same transaction as any credential change,
//!   whoever commits it. A refresh reads it in the same snapshot as the lookups that
//!   follow, and empties the cache when it differs from the one the entries were read
//!   under. This is exact, and costs a query.
//! - **The change signal** ([`ChangeSignal`], on SQLite): counters in shared memory that
//!   every credential change tokenctl makes moves, under the write lock, before it
//!   commits, and settles after. A refresh reads the signal *before* the revision and
//!   keeps its value as the stamp. Afterwards, as long as the signal still reads the
//!   stamp, no ticket was taken since, so no tokenctl change can have committed since
//!   the revision was read: a request can be decided from the cache with two memory
//!   reads and no query (`CredentialCache::fast`). Any other reading (a change in
//!   progress, a writer that died half-way, a later change) sends the request to a
//!   refresh.
//!
//! What the signal cannot see (a change written by another program, such as the sqlite3
//! shell; the signal file deleted or replaced; a writer that could not open it), the
//! revision catches: the fast path is only taken within [`CHECK_INTERVAL`] of the last
//! refresh, which also checks that the database and the signal file are still the ones
//! opened. Such a change is thus seen within that interval; every change made through
//! tokenctl by the very next request.
//!
//! Entries are read outside the lock, so each insertion carries the generation it was
//! read under: a refresh that empties the cache or moves the stamp starts a new
//! generation, and an entry read under an older one is dropped instead of kept. A batch
//! decided in a snapshot uses the cached entries only while the generation is still the
//! one its own refresh validated against that snapshot.
//!
//! [`CachedDecider`]: super::CachedDecider

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use crate::store::signal::{CHECK_INTERVAL, ChangeSignal};
use crate::store::{Credential, Revision, Store};
use crate::token::TokenHash;

/// What the cache can say about a hash without the database.
pub(super) enum Fast {
    /// Nothing changed since the entry was read: decide from it.
    Hit(Arc<Credential>),
    /// Nothing changed, but the hash is not cached: look it up, then
    /// [`keep`](CredentialCache::keep) it under this generation.
    Miss(u64),
    /// The cache must be refreshed first.
    Stale,
}

#[derive(Default)]
pub struct CredentialCache {
    state: RwLock<State>,
    /// The fast path decided something since the last [`warm`](CredentialCache::warm).
    used: AtomicBool,
}

#[derive(Default)]
struct State {
    /// The revision the entries were read under.
    revision: Option<Revision>,
    /// The database's change signal, and what it read just before `revision` was read
    /// (`None`: unsettled, or no signal).
    signal: Option<Arc<ChangeSignal>>,
    stamp: Option<u64>,
    /// When the database and the signal file were last found to be the ones opened, and
    /// when the latest refresh that found `revision` began (a refresh that began before
    /// a change may finish after one that saw it): the fast path is taken only within
    /// [`CHECK_INTERVAL`] of both.
    file_checked: Option<Instant>,
    revision_read: Option<Instant>,
    generation: u64,
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
    pub const MAX_ENTRIES: usize = 10_000;

    /// Only memory is touched: locks are held for a read or an insertion, never across
    /// the database; a poisoned lock (a panic elsewhere) leaves the data consistent.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The fast path: decides from memory whether the cache may be used for `hash`
    /// without reading the database (see the module's documentation).
    pub(super) fn fast(&self, hash: &TokenHash) -> Fast {
        let state = self.read();
        let (Some(signal), Some(stamp), Some(file), Some(revision)) = (
            &state.signal,
            state.stamp,
            state.file_checked,
            state.revision_read,
        ) else {
            return Fast::Stale;
        };
        if signal.read() != Some(stamp) || file.min(revision).elapsed() >= CHECK_INTERVAL {
            return Fast::Stale;
        }
        match state.entries.get(hash) {
            Some(found) => {
                // Read first: a store on every request would bounce the cache line.
                if !self.used.load(Ordering::Relaxed) {
                    self.used.store(true, Ordering::Relaxed);
                }
                Fast::Hit(Arc::clone(found))
            }
            None => Fast::Miss(state.generation),
        }
    }

    /// Refreshes ahead of time, if the fast path was used since the last call: run every
    /// [`WARM_EVERY`](Self::WARM_EVERY) by a thread that may read the database, it keeps the
    /// fast path's window from lapsing under steady traffic, which would otherwise send
    /// every request to the database once per [`CHECK_INTERVAL`]. The window's rules are
    /// the same; only the refresh comes sooner. Returns whether it refreshed.
    pub(super) fn warm(&self, store: &Store) -> anyhow::Result<bool> {
        if !self.used.swap(false, Ordering::Relaxed) {
            return Ok(false);
        }
        self.refresh_checking(store, Self::WARM_EVERY)?;
        Ok(true)
    }

    /// How often [`warm`](Self::warm) is to run: half the window, so that each refresh
    /// (and file check) comes before the window it renews ends.
    pub const WARM_EVERY: Duration = CHECK_INTERVAL.checked_div(2).unwrap();

    /// Reads the revision (and, every [`CHECK_INTERVAL`], checks that the database and
    /// its signal are still the ones opened), empties the cache if anything changed, and
    /// returns the generation lookups made afterwards are kept under. Run it before the
    /// lookups, in the same snapshot when there is one: the signal is read before the
    /// snapshot's first read, so the stamp never claims more than the snapshot holds.
    pub(super) fn refresh(&self, store: &Store) -> anyhow::Result<u64> {
        self.refresh_checking(store, CHECK_INTERVAL)
    }

    /// [`refresh`](Self::refresh), checking the files if they were last checked at least
    /// `files_after` ago.
    fn refresh_checking(&self, store: &Store, files_after: Duration) -> anyhow::Result<u64> {
        // Taken before anything is read: the fast path's window then ends at most
        // CHECK_INTERVAL after the revision was read, which a writer that could not
        // signal relies on (see `Sqlite::signal_for_write`).
        let started = Instant::now();
        let due = self
            .read()
            .file_checked
            .is_none_or(|t| t.elapsed() >= files_after);
        let signal = if due {
            if let Err(e) = store.check_same_database() {
                self.write().file_checked = None;
                return Err(e.into());
            }
            store.change_signal()
        } else {
            self.read().signal.clone()
        };
        let stamp = signal.as_ref().and_then(|s| s.read());
        let revision = store.revision()?;
        // Without a signal (PostgreSQL) the fast path is never taken, so an unchanged
        // revision needs no write: every verification of such a backend comes here.
        if !due && signal.is_none() {
            let state = self.read();
            if state.revision == Some(revision) && state.stamp.is_none() {
                return Ok(state.generation);
            }
        }
        let mut state = self.write();
        if state.revision != Some(revision) || state.stamp != stamp {
            state.entries.clear();
            state.generation += 1;
            state.revision = Some(revision);
            state.stamp = stamp;
            state.revision_read = Some(started);
        } else {
            state.revision_read = state.revision_read.max(Some(started));
        }
        if due {
            state.signal = signal;
            state.file_checked = Some(started);
        }
        Ok(state.generation)
    }

    /// The cached credential with this hash, if the cache is still as the refresh of
    /// `generation` left it (else the caller reads the database).
    pub(super) fn get(&self, hash: &TokenHash, generation: u64) -> Option<Arc<Credential>> {
        let state = self.read();
        if state.generation != generation {
            return None;
        }
        state.entries.get(hash).map(Arc::clone)
    }

    /// Keeps a credential read from the database under `generation`, unless the cache has
    /// moved on since (then it may be older than what the cache now stands for).
    pub(super) fn keep(&self, hash: TokenHash, found: &Arc<Credential>, generation: u64) {
        let mut state = self.write();
        if state.generation != generation {
            return;
        }
        if state.entries.len() >= Self::MAX_ENTRIES {
            state.entries.clear();
        }
        state.entries.insert(hash, Arc::clone(found));
    }

    /// Looks `hash` up: from the cache while the refresh of `generation` still holds,
    /// else from the database (in the caller's snapshot), kept for later. Unknown hashes
    /// are never cached: only tokens of this database take room.
    pub(super) fn lookup(
        &self,
        store: &Store,
        hash: &TokenHash,
        generation: u64,
    ) -> anyhow::Result<Option<Arc<Credential>>> {
        if let Some(found) = self.get(hash, generation) {
            return Ok(Some(found));
        }
        let Some(found) = store.credential_by_hash(hash)? else {
            return Ok(None);
        };
        let found = Arc::new(found);
        self.keep(*hash, &found, generation);
        Ok(Some(found))
    }
}
