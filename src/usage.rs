//! Usage: every presentation of a token, counted per token, hour and source IP, and the
//! types the audit queries return.
//!
//! Recording is write-behind: [`UsageBuffer::record`] adds to counters in memory (a hash
//! map update, no I/O), and a flush commits the whole buffer in one transaction. Memory is
//! bounded: past [`UsageBuffer::MAX_KEYS`] distinct keys, new source IPs are counted under
//! [`OVERFLOW_IP`] instead of growing the map, so a flood of garbage tokens from many
//! addresses changes counts, never memory use. Storage is bounded too, where rows are
//! written: per hour, [`STRANGER_SOURCES_PER_HOUR`] sources of unknown and malformed
//! tokens and [`TOKEN_SOURCES_PER_HOUR`] source IPs per token get a row of their own, and
//! the rest are counted together under [`OVERFLOW_IP`]. An IPv6 client holds a /64 (2^64
//! addresses), so unknown and malformed tokens are counted per /64. Nothing here holds a secret: uses are keyed by the token's
//! internal row key, or by "unknown"/"malformed".

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, Utc};
use ipnet::Ipv6Net;
use serde::Serialize;

/// Source-IP label for uses counted after the buffer reached its key limit.
pub const OVERFLOW_IP: &str = "other";
/// Source-IP label for uses whose client address was not given (`verify` without `--ip`).
pub const NO_IP: &str = "";

/// Sources of unknown and malformed tokens (an IPv4 address, an IPv6 /64, or no address)
/// that get rows of their own in an hour, over both kinds; uses from any further source in
/// that hour are counted under [`OVERFLOW_IP`]. So whatever the number of addresses,
/// strangers add at most this many rows per hour, plus one `other` row per kind. Enforced
/// by the store inside the transaction that writes the rows, so it holds across flushes
/// and across processes sharing the database.
pub const STRANGER_SOURCES_PER_HOUR: u64 = 100;

/// Source IPs of one token that get rows of their own in an hour; uses from further IPs
/// in that hour are counted under [`OVERFLOW_IP`]. Bounds what a leaked token, revoked or
/// not, presented from many addresses can add. Enforced like
/// [`STRANGER_SOURCES_PER_HOUR`].
pub const TOKEN_SOURCES_PER_HOUR: u64 = 1_000;

/// Whether a use was let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
    /// Denied because the token had been revoked or had expired: what `DENIED_USE` counts.
    Ended,
    /// Denied because the token was over its rate limit: what `audit` counts apart.
    Limited,
}

/// Who presented what, as far as usage is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presented {
    /// A token of this database (its internal key).
    Token(i64),
    /// Well-formed, valid checksum, but not in this database.
    Unknown,
    /// Failed shape or checksum.
    Malformed,
}

impl Presented {
    pub fn stranger_label(self) -> &'static str {
        match self {
            Presented::Token(_) => "token",
            Presented::Unknown => "unknown",
            Presented::Malformed => "malformed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IpKey {
    Addr(IpAddr),
    /// The /64 of an IPv6 address, for unknown and malformed tokens.
    Net(Ipv6Net),
    None,
    Overflow,
}

impl IpKey {
    fn of(presented: Presented, ip: Option<IpAddr>) -> IpKey {
        match (presented, ip) {
            (_, None) => IpKey::None,
            (Presented::Token(_), Some(ip)) => IpKey::Addr(ip),
            (_, Some(IpAddr::V6(v6))) if v6.to_ipv4_mapped().is_none() => {
                IpKey::Net(Ipv6Net::new_assert(v6, 64).trunc())
            }
            (_, Some(ip)) => IpKey::Addr(ip.to_canonical()),
        }
    }

    fn label(self) -> String {
        match self {
            IpKey::Addr(ip) => ip.to_string(),
            IpKey::Net(net) => net.to_string(),
            IpKey::None => NO_IP.to_string(),
            IpKey::Overflow => OVERFLOW_IP.to_string(),
        }
    }
}

/// Counts for one key of the buffer, and of one row of the usage tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub allowed: u64,
    /// Every denial, those of [`Outcome::Ended`] included.
    pub denied: u64,
    /// Denials of a token that had been revoked or had expired.
    pub ended: u64,
    /// Denials of a token over its rate limit.
    pub limited: u64,
    pub first_seen: i64,
    pub last_seen: i64,
}

impl Counter {
    fn add(&mut self, outcome: Outcome, at: i64) {
        match outcome {
            Outcome::Allowed => self.allowed += 1,
            Outcome::Denied => self.denied += 1,
            Outcome::Ended => {
                self.denied += 1;
                self.ended += 1;
            }
            Outcome::Limited => {
                self.denied += 1;
                self.limited += 1;
            }
        }
        self.first_seen = self.first_seen.min(at);
        self.last_seen = self.last_seen.max(at);
    }
}

/// One row to add to the usage tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub presented: Presented,
    /// Hours since the epoch (UTC).
    pub hour: i64,
    pub ip: String,
    pub counts: Counter,
}

/// What a flush commits: the rows, how many uses they add up to, and the batch's
/// identity. A backend whose commit can succeed unseen (a connection lost before the
/// reply) records the identity with the rows, so that committing the batch again adds
/// nothing.
#[derive(Debug, Default)]
pub struct Batch {
    pub id: u128,
    pub rows: Vec<UsageRow>,
    pub uses: u64,
}

impl Batch {
    /// A batch of `rows` adding up to `uses`, with an identity of its own.
    pub fn new(rows: Vec<UsageRow>, uses: u64) -> Batch {
        Batch {
            id: rand::random(),
            rows,
            uses,
        }
    }
}

#[derive(Default)]
struct Pending {
    counters: HashMap<(Presented, i64, IpKey), Counter>,
    uses: u64,
}

/// The in-memory side of write-behind recording; shared by all verifying threads.
#[derive(Default)]
pub struct UsageBuffer {
    pending: Mutex<Pending>,
    /// Batches whose commit failed, oldest first, each kept whole (its identity too) for
    /// the next [`take`](Self::take): retried as it was, a batch is counted once even if
    /// its failed commit did happen. Never merged into `pending` or into one another,
    /// which would give counts already committed a new identity. One batch, unless
    /// several commits from this buffer failed at once (one per committer at most).
    unconfirmed: Mutex<VecDeque<Batch>>,
}

impl std::fmt::Debug for UsageBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageBuffer")
            .field("uses", &self.len())
            .finish()
    }
}

impl UsageBuffer {
    /// Distinct (token, hour, IP) keys held before new IPs fold into [`OVERFLOW_IP`]:
    /// about 100 bytes each, so at most ~10 MB.
    pub const MAX_KEYS: usize = 100_000;

    pub fn new() -> UsageBuffer {
        UsageBuffer::default()
    }

    /// Counts one use. Never fails, never blocks on I/O.
    pub fn record(
        &self,
        presented: Presented,
        ip: Option<IpAddr>,
        outcome: Outcome,
        at: DateTime<Utc>,
    ) {
        let secs = at.timestamp();
        let hour = secs.div_euclid(3600);
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = (presented, hour, IpKey::of(presented, ip));
        if p.counters.len() >= Self::MAX_KEYS && !p.counters.contains_key(&key) {
            key.2 = IpKey::Overflow;
        }
        p.counters
            .entry(key)
            .or_insert(Counter {
                allowed: 0,
                denied: 0,
                ended: 0,
                limited: 0,
                first_seen: secs,
                last_seen: secs,
            })
            .add(outcome, secs);
        p.uses += 1;
    }

    /// Uses recorded and not yet committed: since the last [`take`](Self::take), and
    /// those of a batch put back.
    pub fn len(&self) -> u64 {
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner()).uses;
        pending + self.unconfirmed().iter().map(|b| b.uses).sum::<u64>()
    }

    /// Rows a commit would write now: distinct keys recorded since the last
    /// [`take`](Self::take), and the rows of the batches put back.
    pub fn keys(&self) -> usize {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .counters
            .len();
        pending
            + self
                .unconfirmed()
                .iter()
                .map(|b| b.rows.len())
                .sum::<usize>()
    }

    fn unconfirmed(&self) -> MutexGuard<'_, VecDeque<Batch>> {
        self.unconfirmed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the next [`take`](Self::take) hands out a batch put back.
    pub fn has_unconfirmed(&self) -> bool {
        !self.unconfirmed().is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The oldest batch put back by [`restore`](Self::restore), as it was, if there is
    /// one; else empties the buffer into a new batch for the store.
    pub fn take(&self) -> Batch {
        if let Some(batch) = self.unconfirmed().pop_front() {
            return batch;
        }
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let rows = pending
            .counters
            .into_iter()
            .map(|((presented, hour, ip), counts)| UsageRow {
                presented,
                hour,
                ip: ip.label(),
                counts,
            })
            .collect();
        Batch::new(rows, pending.uses)
    }

    /// Puts a batch back after a failed flush, so that nothing is lost while the database
    /// is briefly unavailable: kept whole, with its identity, for a later
    /// [`take`](Self::take), after those put back before it.
    pub fn restore(&self, batch: Batch) {
        self.unconfirmed().push_back(batch);
    }
}

/// Allowed and denied counts over the three standard windows.
///
/// Windows are whole hours: "24h" is the current hour and the 23 before it, "7d" 168
/// hours, "30d" 720 hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Requests {
    pub allowed_24h: u64,
    pub denied_24h: u64,
    pub allowed_7d: u64,
    pub denied_7d: u64,
    pub allowed_30d: u64,
    pub denied_30d: u64,
}

impl Requests {
    pub fn total_24h(&self) -> u64 {
        self.allowed_24h + self.denied_24h
    }
    pub fn total_7d(&self) -> u64 {
        self.allowed_7d + self.denied_7d
    }
    pub fn total_30d(&self) -> u64 {
        self.allowed_30d + self.denied_30d
    }
}

/// Usage of one token from one source IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpUsage {
    pub ip: String,
    pub allowed: u64,
    pub denied: u64,
    #[serde(with = "crate::render::rfc3339")]
    pub first_seen: DateTime<Utc>,
    #[serde(with = "crate::render::rfc3339")]
    pub last_seen: DateTime<Utc>,
}

/// Usage of one token (or all) on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayUsage {
    pub day: NaiveDate,
    pub allowed: u64,
    pub denied: u64,
    /// Of `denied`, those refused by the token's rate limit.
    pub rate_limited: u64,
}

/// Every day of `days` (numbered from the epoch), with the counts `found` has for it
/// (allowed, denied, rate-limited), or none.
pub fn days(
    days: std::ops::RangeInclusive<i64>,
    found: &std::collections::HashMap<i64, (u64, u64, u64)>,
) -> Vec<DayUsage> {
    days.map(|d| {
        let (allowed, denied, rate_limited) = found.get(&d).copied().unwrap_or_default();
        DayUsage {
            day: DateTime::from_timestamp(d.saturating_mul(86_400), 0)
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
                .date_naive(),
            allowed,
            denied,
            rate_limited,
        }
    })
    .collect()
}

/// Uses of tokens this database does not know, per source IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StrangerUsage {
    pub ip: String,
    /// "unknown" or "malformed".
    pub kind: String,
    pub count: u64,
    #[serde(with = "crate::render::rfc3339")]
    pub first_seen: DateTime<Utc>,
    #[serde(with = "crate::render::rfc3339")]
    pub last_seen: DateTime<Utc>,
}

/// One token's usage over an audit window, for the all-token summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowTotals {
    pub allowed: u64,
    pub denied: u64,
    /// Of the denied uses, those over the token's rate limit.
    pub limited: u64,
    pub distinct_ips: u64,
    pub last_seen: Option<DateTime<Utc>>,
}

/// Uses of unknown and malformed tokens over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StrangerTotals {
    pub uses: u64,
    /// Sources with rows of their own (IPv4 addresses, IPv6 /64s, "no address").
    pub sources: u64,
    /// Uses counted under [`OVERFLOW_IP`]: from sources past the hourly limit.
    pub overflow_uses: u64,
}

/// The raw facts the anomaly rules look at, all about the last 24 hours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnomalyFacts {
    /// Unknown and malformed tokens (gathered for the all-token audit only).
    pub strangers: StrangerTotals,
    /// (token key, ip, first seen) for IPs first seen in the last 24h by a token that was
    /// used from other IPs before.
    pub new_ips: Vec<(i64, String, DateTime<Utc>)>,
    /// Per token: uses on each of the 30 days before the last 24h (oldest first), then
    /// uses in the last 24h.
    pub daily: HashMap<i64, [u64; 31]>,
    /// (token key, denied uses) of revoked or expired tokens presented after their end.
    pub denied_after_end: Vec<(i64, u64)>,
    /// (token key, ip, uses) in the last 24h, for tokens that have an allow list.
    pub restricted_ips: Vec<(i64, String, u64)>,
}

/// Hours since the epoch of a moment.
pub fn hour_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn aggregates_per_token_hour_and_ip() {
        let b = UsageBuffer::new();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        b.record(
            Presented::Token(1),
            Some(ip),
            Outcome::Allowed,
            t("2026-01-01T10:00:00Z"),
        );
        b.record(
            Presented::Token(1),
            Some(ip),
            Outcome::Denied,
            t("2026-01-01T10:59:59Z"),
        );
        b.record(
            Presented::Token(1),
            Some(ip),
            Outcome::Allowed,
            t("2026-01-01T11:00:00Z"),
        );
        b.record(
            Presented::Unknown,
            None,
            Outcome::Denied,
            t("2026-01-01T11:00:00Z"),
        );
        assert_eq!(b.len(), 4);
        assert_eq!(b.keys(), 3);
        let mut batch = b.take();
        assert!(b.is_empty());
        assert_eq!(b.keys(), 0);
        assert_eq!(batch.uses, 4);
        batch
            .rows
            .sort_by_key(|r| (r.hour, r.ip.clone(), r.presented.stranger_label()));
        assert_eq!(batch.rows.len(), 3);
        let first = &batch.rows[0];
        assert_eq!((first.counts.allowed, first.counts.denied), (1, 1));
        assert_eq!(first.counts.last_seen - first.counts.first_seen, 3599);
        assert_eq!(batch.rows[1].ip, NO_IP);
    }

    #[test]
    fn bounded_memory_keeps_counts() {
        let b = UsageBuffer::new();
        let at = t("2026-01-01T10:00:00Z");
        let n = UsageBuffer::MAX_KEYS as u32 + 500;
        for i in 0..n {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(i));
            b.record(Presented::Malformed, Some(ip), Outcome::Denied, at);
        }
        let batch = b.take();
        assert_eq!(batch.rows.len(), UsageBuffer::MAX_KEYS + 1);
        let total: u64 = batch.rows.iter().map(|r| r.counts.denied).sum();
        assert_eq!(total, n as u64);
        assert!(
            batch
                .rows
                .iter()
                .any(|r| r.ip == OVERFLOW_IP && r.counts.denied == 500)
        );
    }

    #[test]
    fn a_batch_put_back_is_taken_again_as_it_was() {
        let b = UsageBuffer::new();
        let at = t("2026-01-01T10:00:00Z");
        b.record(Presented::Token(7), None, Outcome::Allowed, at);
        let batch = b.take();
        let id = batch.id;
        b.record(Presented::Token(7), None, Outcome::Allowed, at);
        b.restore(batch);
        assert_eq!(b.len(), 2);
        // The same key pending and put back: two rows to write.
        assert_eq!(b.keys(), 2);
        let again = b.take();
        assert_eq!((again.id, again.uses), (id, 1));
        let next = b.take();
        assert_ne!(next.id, id, "the later uses are a batch of their own");
        assert_eq!(next.uses, 1);
        assert!(b.is_empty());
    }

    /// Two commits from one buffer failed at once: each batch is retried as it was, so a
    /// commit that happened unseen is recognised by its identity (merged, its counts
    /// would be committed again under a new one).
    #[test]
    fn batches_put_back_are_each_kept_whole() {
        let b = UsageBuffer::new();
        let at = t("2026-01-01T10:00:00Z");
        b.record(Presented::Token(7), None, Outcome::Allowed, at);
        let first = b.take();
        b.record(Presented::Token(7), None, Outcome::Allowed, at);
        b.record(Presented::Token(7), None, Outcome::Allowed, at);
        let second = b.take();
        b.record(Presented::Token(7), None, Outcome::Allowed, at);
        let ids = (first.id, second.id);
        b.restore(first);
        b.restore(second);
        assert_eq!(b.len(), 4);
        let again = b.take();
        assert_eq!((again.id, again.uses), (ids.0, 1));
        let again = b.take();
        assert_eq!((again.id, again.uses), (ids.1, 2));
        assert!(!b.has_unconfirmed());
        let pending = b.take();
        assert_ne!(pending.id, ids.0);
        assert_ne!(pending.id, ids.1);
        assert_eq!(pending.uses, 1);
        assert!(b.is_empty());
    }
}
