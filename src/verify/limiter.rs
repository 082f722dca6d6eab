//! Per-token rate limits as one process enforces them, shared by every verifier of the
//! process (a server's threads hold one [`Limiter`]): the generic cell rate algorithm
//! (GCRA), exact in integers. A token limited to N per period holds a bucket of N
//! requests that refills by one every period/N: a burst of N + k requests gets exactly k
//! refusals, a steady client gets N per period, and never more than N pass in one
//! instant (a fixed window lets 2N through around its boundary); any one period sees at
//! most 2N − 1 (a full bucket, then its refills).
//!
//! Only requests that would otherwise be allowed count against the limit; a refused one
//! (over the limit, or for any other reason) costs nothing. The state lives in memory:
//! a restarted process starts every token with its full allowance, and several
//! processes each enforce the full limit (README, "Rate limits").

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::rate_limit::RateLimit;

/// Where a token stands against its limit after one request was decided, for the
/// `RateLimit` and `Retry-After` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: RateLimit,
    /// Requests that would be allowed right now.
    pub remaining: u32,
    /// Seconds (rounded up) until the whole allowance is back.
    pub reset_secs: u64,
    /// Seconds (rounded up, at least 1) until a request may be allowed again; 0 when
    /// this one was allowed.
    pub retry_after_secs: u64,
}

/// One token's state: its theoretical arrival time, in nanoseconds times the limit's
/// request count since the limiter's start (so that every step is an integer).
#[derive(Debug, Clone, Copy)]
struct Cell {
    limit: RateLimit,
    tat: u128,
}

/// The allowance of every limited token this process has seen, by token key.
#[derive(Debug)]
pub struct Limiter {
    start: Instant,
    cells: Mutex<Cells>,
}

#[derive(Debug, Default)]
struct Cells {
    by_key: HashMap<i64, Cell>,
    /// Forget the cells with their whole allowance back once there are more than this:
    /// twice what was left after the last time, so that tidying stays rare.
    tidy_above: usize,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::new()
    }
}

impl Limiter {
    /// Beyond this many tokens, those with their whole allowance back are forgotten
    /// (which changes nothing for them); memory stays bounded by the limited tokens
    /// in use.
    const TIDY_ABOVE: usize = 10_000;

    pub fn new() -> Limiter {
        Limiter {
            start: Instant::now(),
            cells: Mutex::new(Cells {
                by_key: HashMap::new(),
                tidy_above: Self::TIDY_ABOVE,
            }),
        }
    }

    /// Counts one request of token `key` against `limit` now: `Ok` with what is left if
    /// it is allowed, `Err` with when to retry if it is over the limit.
    pub fn admit(&self, key: i64, limit: RateLimit) -> Result<Quota, Quota> {
        self.admit_at(key, limit, self.start.elapsed())
    }

    /// [`admit`](Self::admit) at `elapsed` since the limiter's start (never earlier than
    /// an earlier call's).
    pub fn admit_at(&self, key: i64, limit: RateLimit, elapsed: Duration) -> Result<Quota, Quota> {
        let n = u128::from(limit.requests);
        let period = u128::from(limit.per.seconds()) * 1_000_000_000;
        let now = elapsed.as_nanos() * n;
        // A poisoned lock only means a thread panicked between two plain assignments.
        let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        if cells.by_key.len() > cells.tidy_above {
            let at = elapsed.as_nanos();
            cells
                .by_key
                .retain(|_, c| c.tat > at * u128::from(c.limit.requests));
            cells.tidy_above = Self::TIDY_ABOVE.max(2 * cells.by_key.len());
        }
        let cell = cells.by_key.entry(key).or_insert(Cell { limit, tat: now });
        // A new limit starts with its whole allowance.
        if cell.limit != limit {
            *cell = Cell { limit, tat: now };
        }
        // Each request takes `period` units; at most `n * period` may be outstanding.
        let next = cell.tat.max(now) + period;
        let secs = |units: u128| {
            u64::try_from(units.div_ceil(n).div_ceil(1_000_000_000)).unwrap_or(u64::MAX)
        };
        if next - now > n * period {
            let behind = cell.tat.max(now) - now;
            return Err(Quota {
                limit,
                remaining: 0,
                reset_secs: secs(behind),
                retry_after_secs: secs(next - now - n * period).max(1),
            });
        }
        cell.tat = next;
        let remaining = (now + n * period - next) / period;
        Ok(Quota {
            limit,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_secs: secs(next - now),
            retry_after_secs: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn a_burst_gets_exactly_the_limit_then_one_per_interval() {
        let limiter = Limiter::new();
        let limit: RateLimit = "5/min".parse().unwrap();
        let answers: Vec<_> = (0..8)
            .map(|_| limiter.admit_at(1, limit, at(1_000)))
            .collect();
        let remaining: Vec<u32> = answers[..5].iter().map(|a| a.unwrap().remaining).collect();
        assert_eq!(remaining, [4, 3, 2, 1, 0]);
        for refused in &answers[5..] {
            let q = refused.unwrap_err();
            assert_eq!((q.remaining, q.retry_after_secs, q.reset_secs), (0, 12, 60));
        }
        // One request back every 12 seconds, not before.
        assert!(limiter.admit_at(1, limit, at(12_999)).is_err());
        let q = limiter.admit_at(1, limit, at(13_000)).unwrap();
        assert_eq!((q.remaining, q.reset_secs), (0, 60));
        assert!(limiter.admit_at(1, limit, at(13_000)).is_err());
        // Other tokens are not touched; a full period later, the whole allowance is back.
        assert_eq!(limiter.admit_at(2, limit, at(13_000)).unwrap().remaining, 4);
        let back = limiter.admit_at(1, limit, at(73_000)).unwrap();
        assert_eq!((back.remaining, back.reset_secs), (4, 12));
    }

    /// Tokens with their whole allowance back are forgotten once there are many, which
    /// changes nothing for them; the others keep their state.
    #[test]
    fn memory_is_bounded_by_the_tokens_in_use() {
        let limiter = Limiter::new();
        let limit: RateLimit = "1/h".parse().unwrap();
        assert!(limiter.admit_at(-1, limit, at(0)).is_ok());
        let per_second: RateLimit = "1/s".parse().unwrap();
        for key in 0..Limiter::TIDY_ABOVE as i64 {
            limiter.admit_at(key, per_second, at(0)).unwrap();
        }
        assert!(limiter.admit_at(0, per_second, at(10_000)).is_ok());
        let cells = limiter.cells.lock().unwrap();
        assert_eq!(
            cells.by_key.len(),
            2,
            "the busy token and the one just used"
        );
        drop(cells);
        assert!(limiter.admit_at(-1, limit, at(10_000)).is_err());
    }

    #[test]
    fn a_changed_limit_starts_afresh() {
        let limiter = Limiter::new();
        let one: RateLimit = "1/h".parse().unwrap();
        assert!(limiter.admit_at(7, one, at(0)).is_ok());
        let refused = limiter.admit_at(7, one, at(1)).unwrap_err();
        assert_eq!(refused.retry_after_secs, 3_600);
        let two: RateLimit = "2/h".parse().unwrap();
        assert_eq!(limiter.admit_at(7, two, at(2)).unwrap().remaining, 1);
    }

    proptest! {
        /// However requests are spread, the limiter lets through at most what a bucket
        /// of N, refilled with N per period, holds: never more than N + N·t/period by
        /// time t, so never more than 2N − 1 within one period; and a token it refuses
        /// is one whose bucket is empty.
        #[test]
        fn never_more_than_the_bucket_holds(
            n in 1u32..20,
            gaps in proptest::collection::vec(0u64..1_000_000, 1..300),
        ) {
            let limit = RateLimit { requests: n, per: crate::rate_limit::Per::Second };
            let limiter = Limiter::new();
            let mut t: u64 = 0;
            let mut allowed: Vec<u64> = Vec::new();
            for gap in gaps {
                t += gap; // up to a millisecond apart, in ns
                let admitted = limiter.admit_at(1, limit, Duration::from_nanos(t));
                let refill = u64::from(n) * t / 1_000_000_000;
                if admitted.is_ok() {
                    allowed.push(t);
                    prop_assert!(allowed.len() as u64 <= u64::from(n) + refill);
                } else {
                    // Refused only when N (the burst) or more went through since the
                    // bucket last could have been full.
                    prop_assert!(allowed.len() as u64 >= u64::from(n));
                }
            }
            for (i, &first) in allowed.iter().enumerate() {
                let second = first + 1_000_000_000;
                let within = allowed[i..].iter().take_while(|&&x| x < second).count();
                prop_assert!(within < 2 * n as usize, "{within} within a second of {first}");
            }
        }
    }
}
